//! What the plugins do for each call of the `dialect` world: paths, headers,
//! passthrough, translation, count_tokens.

mod common;

use common::{json, request, sse};
use serde_json::{Value, json};
use sluice_sdk::{Event, Header, Request, Target, UpstreamRequest};
use translate::{anthropic, gemini};

fn target(base: &str, key: &str) -> Target {
    Target {
        provider: "p".into(),
        base_url: base.into(),
        api_key: key.into(),
        headers: vec![Header {
            name: "x-extra".into(),
            value: "1".into(),
        }],
    }
}

fn headers(r: &UpstreamRequest) -> Vec<(String, String)> {
    r.headers
        .iter()
        .map(|h| (h.name.clone(), h.value.clone()))
        .collect()
}

fn h(n: &str, v: &str) -> (String, String) {
    (n.to_owned(), v.to_owned())
}

#[test]
fn anthropic_passthrough_rewrites_only_the_model() {
    let raw = br#"{ "model" : "claude-x",  "max_tokens": 10, "messages":[ {"role":"user","content":"h\u00e9"} ], "stream": true}"#;
    let req = Request {
        body: raw.to_vec(),
        stream: true,
        ..request(&json!({}), "anthropic", "anthropic", &[])
    };
    let up = anthropic::prepare(
        &req,
        &target("https://api.anthropic.com/v1", "sk-ant"),
        &Default::default(),
        1,
    )
    .unwrap();
    assert_eq!(up.path, "/messages");
    assert_eq!(up.method, "POST");
    assert_eq!(
        String::from_utf8(up.body.clone()).unwrap(),
        r#"{"model":"upstream-model","max_tokens":10,"messages":[ {"role":"user","content":"h\u00e9"} ],"stream":true}"#
    );
    assert_eq!(
        headers(&up),
        [
            h("content-type", "application/json"),
            h("accept", "text/event-stream"),
            h("x-api-key", "sk-ant"),
            h("anthropic-version", "2023-06-01"),
            h("anthropic-beta", "interleaved-thinking-2025-05-14"),
            h("x-extra", "1"),
        ]
    );
}

#[test]
fn anthropic_version_from_the_client_and_no_key() {
    let mut req = request(
        &json!({"model": "m", "messages": []}),
        "anthropic",
        "anthropic",
        &[],
    );
    req.headers = vec![Header {
        name: "anthropic-version".into(),
        value: "2024-01-01".into(),
    }];
    let up = anthropic::prepare(&req, &target("https://a/v1", ""), &Default::default(), 1).unwrap();
    let hs = headers(&up);
    assert!(hs.contains(&h("anthropic-version", "2024-01-01")));
    assert!(
        !hs.iter()
            .any(|(n, _)| n == "x-api-key" || n == "anthropic-beta")
    );
}

#[test]
fn anthropic_translates_hub_bodies_with_the_configured_default() {
    let hub = json!({"model": "gpt", "messages": [{"role": "user", "content": "hi"}], "reasoning_effort": "medium"});
    let req = request(
        &hub,
        "openai",
        "openai",
        &[("provider-dialect", "anthropic")],
    );
    let cfg = anthropic::parse_config(r#"{"default-max-tokens": 512}"#).unwrap();
    let up = anthropic::prepare(&req, &target("https://a/v1", "k"), &cfg, 1).unwrap();
    let body: Value = serde_json::from_slice(&up.body).unwrap();
    assert_eq!(body["model"], "upstream-model");
    assert_eq!(
        body["thinking"],
        json!({"type": "enabled", "budget_tokens": 8192})
    );
    assert_eq!(body["max_tokens"], 8192 + 4096);
    let hub = json!({"model": "gpt", "messages": [{"role": "user", "content": "hi"}]});
    let req = request(&hub, "openai", "openai", &[]);
    let up = anthropic::prepare(&req, &target("https://a/v1", "k"), &cfg, 1).unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&up.body).unwrap()["max_tokens"],
        512
    );
}

#[test]
fn anthropic_count_tokens() {
    let body = json!({"model": "claude", "messages": [{"role": "user", "content": "hi"}]});
    let req = request(
        &body,
        "anthropic",
        "anthropic",
        &[("operation", "count-tokens")],
    );
    let up =
        anthropic::prepare(&req, &target("https://a/v1", "k"), &Default::default(), 1).unwrap();
    assert_eq!(up.path, "/messages/count_tokens");
    let hub = json!({"model": "gpt", "messages": [{"role": "user", "content": "hi"}], "stream": true, "temperature": 0.3});
    let req = request(
        &hub,
        "openai",
        "anthropic",
        &[("operation", "count-tokens")],
    );
    let up =
        anthropic::prepare(&req, &target("https://a/v1", "k"), &Default::default(), 1).unwrap();
    let out: Value = serde_json::from_slice(&up.body).unwrap();
    assert_eq!(
        out,
        json!({"model": "upstream-model", "messages": [{"role": "user", "content": "hi"}]})
    );
    assert!(headers(&up).contains(&h("accept", "application/json")));
    // The answer passes unchanged.
    let answer = br#"{"input_tokens": 7}"#;
    assert_eq!(anthropic::map_response(&req, answer, 1).unwrap(), answer);
    assert_eq!(anthropic::encode_response(&req, answer, 1).unwrap(), answer);
}

#[test]
fn anthropic_errors() {
    let req = request(&json!({"messages": []}), "anthropic", "anthropic", &[]);
    let e = anthropic::prepare(&req, &target("", "k"), &Default::default(), 1).unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (500, "provider_misconfigured"));
    let req = request(&json!({"contents": []}), "gemini", "gemini", &[]);
    assert_eq!(
        anthropic::prepare(&req, &target("https://a", "k"), &Default::default(), 1)
            .unwrap_err()
            .status,
        400
    );
    assert!(anthropic::parse_config(r#"{"default-max-tokens": 0}"#).is_err());
    assert!(
        anthropic::parse_config(r#"{"max-tokens": 5}"#)
            .unwrap_err()
            .contains("default-max-tokens")
    );
    assert_eq!(
        anthropic::parse_config("{}").unwrap().default_max_tokens,
        4096
    );
    // An upstream answer that is not a message.
    let req = request(&json!({"messages": []}), "openai", "openai", &[]);
    assert_eq!(
        anthropic::map_response(&req, b"<html>", 1)
            .unwrap_err()
            .status,
        502
    );
}

/// A malformed Anthropic request is a 400 naming the field and what it
/// should be; unknown fields survive the decode.
#[test]
fn anthropic_decode_errors_name_the_field() {
    let cases = [
        (
            json!({"messages": [{"content": "hi"}]}),
            "missing field `role`",
        ),
        (
            json!({"messages": [{"role": "user"}]}),
            "missing field `content`",
        ),
        (
            json!({"messages": [{"role": "user", "content": 5}]}),
            "expected a string or an array of content blocks",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"text": "x"}]}]}),
            "missing field `type`",
        ),
        (json!({"messages": "hi"}), "expected a sequence"),
        (
            json!({"max_tokens": "many", "messages": []}),
            "expected u64",
        ),
        (
            json!({"tool_choice": {"name": "t"}, "messages": []}),
            "missing field `type`",
        ),
        (
            json!([1, 2]),
            "expected an Anthropic Messages request object",
        ),
    ];
    for (body, want) in cases {
        let req = request(&body, "anthropic", "anthropic", &[]);
        let e = anthropic::decode_request(&req).unwrap_err();
        assert_eq!(e.status, 400, "{body}");
        assert!(e.message.contains(want), "{body}: {}", e.message);
    }
    let body = json!({
        "model": "m", "max_tokens": 5, "service_tier": "auto",
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}
        ]}]
    });
    let req = request(&body, "anthropic", "anthropic", &[]);
    let hub: Value = serde_json::from_slice(&anthropic::decode_request(&req).unwrap()).unwrap();
    assert_eq!(hub["messages"][0]["content"][0]["text"], "hi", "{hub}");
}

/// Tool schemas are passed on as the client wrote them (number spellings,
/// escapes, key order), from Anthropic to the hub and from the hub to
/// Anthropic; Gemini, which rewrites them, parses them.
#[test]
fn tool_schemas_pass_through_as_written() {
    let schema = r#"{"type":"object", "required":["b"],"properties":{"b":{"type":"number","maximum":1e3,"description":"caf\u00e9"}}}"#;
    // A tool call's input is passed on as text too (as the hub's
    // `arguments` string).
    let input = r#"{"b": 1e3, "c": "caf\u00e9"}"#;
    let body = format!(
        r#"{{"model":"m","max_tokens":5,"messages":[{{"role":"user","content":"hi"}},{{"role":"assistant","content":[{{"type":"tool_use","id":"toolu_1","name":"t","input":{input}}}]}},{{"role":"user","content":[{{"type":"tool_result","tool_use_id":"toolu_1","content":"ok"}}]}}],"tools":[{{"name":"t","input_schema":{schema}}}]}}"#
    );
    let mut req = request(&json!({}), "anthropic", "anthropic", &[]);
    req.body = body.into_bytes();
    let hub = anthropic::decode_request(&req).unwrap();
    let text = String::from_utf8(hub.clone()).unwrap();
    assert!(
        text.contains(&format!(r#""parameters":{schema}"#)),
        "{text}"
    );
    let hub_value: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        hub_value["messages"][1]["tool_calls"][0]["function"]["arguments"], input,
        "{text}"
    );

    // For an Anthropic provider, as a message and as a token count.
    for operation in ["chat", "count-tokens"] {
        let mut hub_req = request(&json!({}), "openai", "openai", &[("operation", operation)]);
        hub_req.body = hub.clone();
        let up = anthropic::prepare(
            &hub_req,
            &target("https://a/v1", "k"),
            &Default::default(),
            1,
        )
        .unwrap();
        let text = String::from_utf8(up.body).unwrap();
        assert!(
            text.contains(&format!(r#""input_schema":{schema}"#))
                && text.contains(&format!(r#""input":{input}"#)),
            "{operation}: {text}"
        );
        assert_eq!(
            text.contains("max_tokens"),
            operation == "chat",
            "{operation}: {text}"
        );
    }

    let mut gemini_req = request(&json!({}), "openai", "openai", &[]);
    gemini_req.body = hub;
    let up = gemini::prepare(&gemini_req, &target("https://g/v1beta", "k"), 1).unwrap();
    let body: Value = serde_json::from_slice(&up.body).unwrap();
    let params = &body["tools"][0]["functionDeclarations"][0]["parameters"];
    assert_eq!(params["properties"]["b"]["description"], "café", "{body}");
    assert_eq!(params["properties"]["b"]["maximum"], 1000.0, "{body}");

    // A schema too deep to build as a tree is an error for Gemini, not a
    // tool without parameters.
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    gemini_req.body = format!(
        r#"{{"messages":[{{"role":"user","content":"hi"}}],"tools":[{{"type":"function","function":{{"name":"t","parameters":{deep}}}}}]}}"#
    )
    .into_bytes();
    let e = gemini::prepare(&gemini_req, &target("https://g/v1beta", "k"), 1).unwrap_err();
    assert_eq!(e.status, 400);
    assert!(
        e.message.contains("parameters schema of tool `t`"),
        "{}",
        e.message
    );
}

#[test]
fn anthropic_map_response_passthrough_and_translation() {
    let resp = serde_json::to_vec(&json("anthropic/response_tool_use.json")).unwrap();
    let req = request(&json!({"messages": []}), "anthropic", "anthropic", &[]);
    assert_eq!(anthropic::map_response(&req, &resp, 1).unwrap(), resp);
    let req = request(&json!({"messages": []}), "openai", "openai", &[]);
    let hub: Value =
        serde_json::from_slice(&anthropic::map_response(&req, &resp, 1).unwrap()).unwrap();
    assert_eq!(hub["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(hub["created"], 1);
}

#[test]
fn anthropic_stream_mapper_modes() {
    let evs = sse("anthropic/stream_text.sse");
    let req = request(&json!({"messages": []}), "anthropic", "anthropic", &[]);
    let mut m = anthropic::StreamMapper::new(&req, 1);
    let out: Vec<Event> = evs
        .iter()
        .flat_map(|e| m.push(e.clone()).unwrap())
        .collect();
    assert_eq!(out, evs, "passthrough keeps events and their names");
    assert!(m.finish().unwrap().is_empty());
    let req = request(
        &json!({"messages": [], "stream": true, "stream_options": {"include_usage": true}}),
        "openai",
        "openai",
        &[],
    );
    let mut m = anthropic::StreamMapper::new(&req, 1);
    let mut out: Vec<Event> = evs
        .iter()
        .flat_map(|e| m.push(e.clone()).unwrap())
        .collect();
    out.extend(m.finish().unwrap());
    assert!(out.iter().all(|e| e.event.is_none() && e.data != "[DONE]"));
    assert!(out.last().unwrap().data.contains("\"usage\""));
}

#[test]
fn anthropic_ingress() {
    let body = json("anthropic/request_tool_loop.json");
    let req = request(
        &body,
        "anthropic",
        "anthropic",
        &[("provider-dialect", "gemini")],
    );
    let hub: Value = serde_json::from_slice(&anthropic::decode_request(&req).unwrap()).unwrap();
    assert_eq!(
        hub["messages"][0],
        json!({"role": "system", "content": "You are a weather bot."})
    );
    let bad = Request {
        body: b"{\"messages\": 3}".to_vec(),
        ..req.clone()
    };
    assert_eq!(anthropic::decode_request(&bad).unwrap_err().status, 400);
    let resp = serde_json::to_vec(&json("openai/response_text.json")).unwrap();
    let out: Value =
        serde_json::from_slice(&anthropic::encode_response(&req, &resp, 1).unwrap()).unwrap();
    assert_eq!(out["type"], "message");
    let mut enc = anthropic::stream_encoder(&req);
    let mut evs: Vec<Event> = sse("openai/stream_text.sse")
        .iter()
        .flat_map(|e| enc.push(e).unwrap())
        .collect();
    evs.extend(enc.finish().unwrap());
    common::check_anthropic_stream(&evs);
    // A hub error chunk becomes `event: error`.
    let mut enc = anthropic::stream_encoder(&req);
    let out = enc
        .push(&Event {
            event: None,
            data: json!({"error": {"message": "quota", "type": "insufficient_quota", "code": 429}})
                .to_string(),
        })
        .unwrap();
    assert_eq!(out.last().unwrap().event.as_deref(), Some("error"));
    assert_eq!(
        serde_json::from_str::<Value>(&out.last().unwrap().data).unwrap(),
        json!({"type": "error", "error": {"type": "rate_limit_error", "message": "quota"}})
    );
    assert!(enc.finish().unwrap().is_empty());
}

#[test]
fn gemini_paths_headers_and_passthrough() {
    assert_eq!(
        gemini::path("gemini-2.5-flash", false),
        "/models/gemini-2.5-flash:generateContent"
    );
    assert_eq!(
        gemini::path("models/gemini-2.5-flash", true),
        "/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
    let raw = br#"{"contents": [{"parts": [{"text": "x"}]}]}"#;
    let req = Request {
        body: raw.to_vec(),
        stream: true,
        ..request(&json!({}), "gemini", "gemini", &[])
    };
    let up = gemini::prepare(
        &req,
        &target("https://generativelanguage.googleapis.com/v1beta", "AIza"),
        1,
    )
    .unwrap();
    assert_eq!(
        up.body, raw,
        "a Gemini body passes byte for byte (the model is in the URL)"
    );
    assert_eq!(
        up.path,
        "/models/upstream-model:streamGenerateContent?alt=sse"
    );
    assert_eq!(
        headers(&up),
        [
            h("content-type", "application/json"),
            h("accept", "text/event-stream"),
            h("x-goog-api-key", "AIza"),
            h("x-extra", "1")
        ]
    );
    let e = gemini::prepare(&req, &target("", "k"), 1).unwrap_err();
    assert_eq!(e.status, 500);
    let req = request(
        &json!({"messages": []}),
        "openai",
        "openai",
        &[("operation", "count-tokens")],
    );
    assert_eq!(
        gemini::prepare(&req, &target("https://g", "k"), 1)
            .unwrap_err()
            .status,
        400
    );
}

#[test]
fn gemini_translates_hub_bodies() {
    let hub = json!({"model": "gpt", "messages": [{"role": "user", "content": "hi"}], "reasoning_effort": "low"});
    let req = request(&hub, "openai", "openai", &[("provider-dialect", "gemini")]);
    let up = gemini::prepare(&req, &target("https://g/v1beta", "k"), 1).unwrap();
    assert_eq!(up.path, "/models/upstream-model:generateContent");
    let body: Value = serde_json::from_slice(&up.body).unwrap();
    assert_eq!(
        body,
        json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
               "generationConfig": {"thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": true}}})
    );
    let resp = serde_json::to_vec(&json("gemini/response_text.json")).unwrap();
    let out: Value =
        serde_json::from_slice(&gemini::map_response(&req, &resp, 1).unwrap()).unwrap();
    assert_eq!(
        out["usage"]["completion_tokens_details"]["reasoning_tokens"],
        100
    );
    let req = request(&json!({}), "gemini", "gemini", &[]);
    assert_eq!(gemini::map_response(&req, &resp, 1).unwrap(), resp);
}

#[test]
fn gemini_stream_mapper_and_ingress() {
    let evs = sse("gemini/stream_text.sse");
    let req = request(&json!({}), "gemini", "gemini", &[]);
    let mut m = gemini::StreamMapper::new(&req, 1);
    let out: Vec<Event> = evs
        .iter()
        .flat_map(|e| m.push(e.clone()).unwrap())
        .collect();
    assert_eq!(out, evs);
    let body = json("gemini/request_function_history.json");
    let mut req = request(&body, "gemini", "gemini", &[("provider-dialect", "openai")]);
    req.stream = true;
    let hub: Value = serde_json::from_slice(&gemini::decode_request(&req).unwrap()).unwrap();
    assert_eq!(hub["model"], "client-model");
    assert_eq!(hub["stream_options"], json!({"include_usage": true}));
    // For a plain OpenAI provider no extension is left.
    let text = hub.to_string();
    assert!(
        !text.contains("extra_content") && !text.contains("thinking_config"),
        "{text}"
    );
    let resp = serde_json::to_vec(&json("openai/response_tool_calls.json")).unwrap();
    let out: Value =
        serde_json::from_slice(&gemini::encode_response(&req, &resp, 1).unwrap()).unwrap();
    assert_eq!(
        out["candidates"][0]["content"]["parts"][0]["functionCall"]["name"],
        "get_current_weather"
    );
    let mut enc = gemini::stream_encoder(&req);
    let mut g: Vec<Event> = sse("openai/stream_text.sse")
        .iter()
        .flat_map(|e| enc.push(e).unwrap())
        .collect();
    g.extend(enc.finish().unwrap());
    assert_eq!(g.len(), 3);
    assert!(g.iter().all(|e| e.event.is_none()));
}

/// The usage estimate's prompt size reads the same from raw bytes (counted
/// while parsing, as stream encoders do) as from a parsed body.
#[test]
fn prompt_chars_of_bytes_matches_the_parsed_body() {
    use translate::common::{prompt_chars, prompt_chars_of};
    let mut bodies: Vec<String> = Vec::new();
    for dialect in ["openai", "anthropic", "gemini"] {
        for entry in std::fs::read_dir(common::dir().join(dialect)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                bodies.push(std::fs::read_to_string(path).unwrap());
            }
        }
    }
    bodies.extend(
        [
            r#"{"messages": [{"role": "user", "content": "h\u00e9llo \"x\""}], "model": "m"}"#,
            r#"{"system": ["a", {"type": "text", "text": "bc", "cache_control": {"type": "x"}}]}"#,
            r#"{"contents": [{"parts": [{"inlineData": {"mimeType": "image/png", "data": "AAAA"}}, {"text": "four"}]}]}"#,
            r#"{"tools": [{"function": {"name": "f", "parameters": {"type": "object", "description": "dd"}}}], "other": "not counted"}"#,
            r#"{"messages": 5, "system": null, "tools": [1, true, null, 2.5]}"#,
            r#"["not", "an object"]"#,
            r#""text""#,
            r#"{}"#,
        ]
        .map(String::from),
    );
    assert!(bodies.len() > 15, "{} bodies", bodies.len());
    for body in &bodies {
        let v: Value = serde_json::from_str(body).unwrap();
        assert_eq!(prompt_chars_of(body.as_bytes()), prompt_chars(&v), "{body}");
    }
    assert!(prompt_chars_of(br#"{"messages": [{"content": "abc"}]}"#) == 3);
    // Not JSON, or not UTF-8: no estimate.
    for bad in [
        &b"{\"messages\": [\"abc\""[..],
        b"{} x",
        b"{\"system\": \"\xff\"}",
    ] {
        assert_eq!(prompt_chars_of(bad), 0);
    }
}
