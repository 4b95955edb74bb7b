//! Client dialects end to end through the gateway: Anthropic passthrough
//! byte for byte, Anthropic error shapes, token counting, `model(level)`
//! thinking suffixes, and a Gemini client.

use bytes::Bytes;
use sluice_tests::*;

fn config(oa: &MockUpstream, an: &MockUpstream) -> String {
    format!(
        r#"
api-keys: ["sk-test"]
plugins: {{ cache-dir: "{{cache}}" }}
providers:
  - {{ name: oa, plugin: openai, base-url: "http://{}/v1", api-keys: [k1], models: [{{name: gpt-x, upstream: gpt-up}}] }}
  - {{ name: an, plugin: anthropic, base-url: "http://{}/v1", api-keys: [k2], models: [{{name: claude-x, upstream: claude-up}}] }}
"#,
        oa.addr, an.addr
    )
}

fn anthropic_message(text: &str) -> Value {
    json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-up",
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": 12, "output_tokens": 3}})
}

async fn post_anthropic(gw: &TestGateway, path: &str, body: &str, key: Option<&str>) -> Got {
    let mut h = vec![
        ("content-type", "application/json"),
        ("anthropic-version", "2023-06-01"),
    ];
    if let Some(k) = key {
        h.push(("x-api-key", k));
    }
    send("POST", &gw.url(path), &h, body.to_string()).await
}

/// `POST /v1/messages` with the key `sk-test` and the client headers
/// `headers`, in that order.
async fn post_messages_with(gw: &TestGateway, body: String, headers: &[(&str, &str)]) -> Got {
    let mut h = vec![
        ("content-type", "application/json"),
        ("x-api-key", "sk-test"),
    ];
    h.extend_from_slice(headers);
    send("POST", &gw.url("/v1/messages"), &h, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_to_anthropic_passes_the_body_through_byte_for_byte() {
    let oa = MockUpstream::start(|_| Reply::json(200, json!({}))).await;
    let an = MockUpstream::start(|_| Reply::json(200, anthropic_message("hi"))).await;
    let gw = TestGateway::start(&config(&oa, &an), &[]).await;
    // A thinking block with its signature, cache_control and a field no API
    // has yet, with odd spacing inside: every value reaches the upstream
    // byte for byte (only the top-level `model` is rewritten).
    let messages = r#"[{"role":"user", "content":[{"type":"text","text":"Hi","cache_control":{"type":"ephemeral"}}]},{"role":"assistant","content":[{"type":"thinking","thinking":"hmm","signature":"c2lnbmF0dXJl"},{"type":"text","text":"Yes?"}]},{"role":"user","content":"More"}]"#;
    let future = r#"{"x": [1, 2.50, "\u00e9"]}"#;
    let body = format!(
        r#"{{"model": "claude-x", "max_tokens": 1024,  "messages": {messages}, "future_field": {future}}}"#
    );
    let got = post_messages_with(
        &gw,
        body,
        &[
            ("user-agent", "sdk/1.0"),
            ("anthropic-version", "2023-06-01"),
            ("anthropic-beta", "interleaved-thinking-2025-05-14"),
        ],
    )
    .await;
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(got.json(), anthropic_message("hi"));
    let r = &an.requests()[0];
    let sent = String::from_utf8_lossy(&r.body);
    assert!(
        sent.contains(messages),
        "messages changed on the way:\n{sent}"
    );
    assert!(
        sent.contains(future),
        "future_field changed on the way:\n{sent}"
    );
    assert_eq!(r.json()["model"], "claude-up");
    assert_eq!(r.header("x-api-key"), Some("k2"));
    assert_eq!(r.header("anthropic-version"), Some("2023-06-01"));
    // The two client headers the `anthropic` adapter declared it reads
    // reach it and go on upstream.
    assert_eq!(
        r.header("anthropic-beta"),
        Some("interleaved-thinking-2025-05-14")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_errors_use_the_anthropic_shape() {
    let oa = MockUpstream::start(|_| Reply::json(200, json!({}))).await;
    let an = MockUpstream::start(|_| {
        Reply::json(
            429,
            json!({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}),
        )
        .header("retry-after", "9")
    })
    .await;
    let gw = TestGateway::start(&config(&oa, &an), &[]).await;
    let body =
        r#"{"model":"claude-x","max_tokens":10,"messages":[{"role":"user","content":"Hi"}]}"#;
    let unauth = post_anthropic(&gw, "/v1/messages", body, None).await;
    assert_eq!(unauth.status, 401);
    assert_eq!(unauth.json()["type"], "error");
    assert_eq!(unauth.json()["error"]["type"], "authentication_error");
    let unknown = post_anthropic(
        &gw,
        "/v1/messages",
        &body.replace("claude-x", "nope"),
        Some("sk-test"),
    )
    .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["error"]["type"], "not_found_error");
    let limited = post_anthropic(&gw, "/v1/messages", body, Some("sk-test")).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.headers.get("retry-after").unwrap(), "9");
    assert_eq!(limited.json()["error"]["type"], "rate_limit_error");
    assert!(
        limited.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("slow down")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_tokens_is_forwarded_to_anthropic_and_estimated_otherwise() {
    let oa = MockUpstream::start(|_| Reply::json(200, json!({}))).await;
    let an = MockUpstream::start(|r| {
        assert_eq!(r.path, "/v1/messages/count_tokens");
        Reply::json(200, json!({"input_tokens": 42}))
    })
    .await;
    let gw = TestGateway::start(&config(&oa, &an), &[]).await;
    let body = r#"{"model":"claude-x","messages":[{"role":"user","content":"abcdefghijklmnop"}]}"#;
    let got = post_anthropic(&gw, "/v1/messages/count_tokens", body, Some("sk-test")).await;
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(got.json()["input_tokens"], 42);
    // An OpenAI provider has no counting endpoint: a quarter of the characters.
    let est = post_anthropic(
        &gw,
        "/v1/messages/count_tokens",
        &body.replace("claude-x", "gpt-x"),
        Some("sk-test"),
    )
    .await;
    assert_eq!(est.status, 200, "{}", est.text());
    // "user" + "abcdefghijklmnop" = 20 characters → 5 tokens.
    assert_eq!(est.json()["input_tokens"], 5);
    assert!(oa.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_suffix_sets_the_thinking_budget_for_anthropic() {
    let oa = MockUpstream::start(|_| Reply::json(200, json!({}))).await;
    let an = MockUpstream::start(|_| Reply::json(200, anthropic_message("thought"))).await;
    let gw = TestGateway::start(&config(&oa, &an), &[]).await;
    let got = post(
        &gw.url("/v1/chat/completions"),
        Some("sk-test"),
        &json!({"model": "claude-x(8192)", "max_tokens": 100, "messages": [{"role": "user", "content": "Think"}]}),
    )
    .await;
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(got.json()["choices"][0]["message"]["content"], "thought");
    let sent = an.requests()[0].json();
    assert_eq!(sent["model"], "claude-up");
    assert_eq!(sent["thinking"]["type"], "enabled");
    assert_eq!(sent["thinking"]["budget_tokens"], 8192);
    assert!(sent["max_tokens"].as_u64().unwrap() > 8192, "{sent}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gemini_client_is_served_by_an_openai_provider() {
    let oa = MockUpstream::start(|_| Reply::json(200, completion("gpt-up", "Bonjour"))).await;
    let an = MockUpstream::start(|_| Reply::json(200, json!({}))).await;
    let gw = TestGateway::start(&config(&oa, &an), &[]).await;
    let body = json!({"systemInstruction": {"parts": [{"text": "Be brief"}]},
        "contents": [{"role": "user", "parts": [{"text": "Hello"}]}]});
    let got = send(
        "POST",
        &gw.url("/v1beta/models/gpt-x:generateContent"),
        &[
            ("x-goog-api-key", "sk-test"),
            ("content-type", "application/json"),
        ],
        Bytes::from(body.to_string()),
    )
    .await;
    assert_eq!(got.status, 200, "{}", got.text());
    let v = got.json();
    assert_eq!(v["candidates"][0]["content"]["parts"][0]["text"], "Bonjour");
    let sent = oa.requests()[0].json();
    assert_eq!(sent["model"], "gpt-up");
    assert_eq!(sent["messages"][0]["role"], "system");
    assert_eq!(sent["messages"][1]["content"], "Hello");
    // Streaming, with the key in the query as Gemini clients send it.
    let oa2 = MockUpstream::start(|_| {
        Reply::sse(vec![
            sse_data(&chunk("Bon")),
            sse_data(&chunk("jour")),
            sse_data("[DONE]"),
        ])
    })
    .await;
    let gw2 = TestGateway::start(&config(&oa2, &an), &[]).await;
    let got = send(
        "POST",
        &gw2.url("/v1beta/models/gpt-x:streamGenerateContent?alt=sse&key=sk-test"),
        &[("content-type", "application/json")],
        Bytes::from(body.to_string()),
    )
    .await;
    assert_eq!(got.status, 200, "{}", got.text());
    let text: String = got
        .sse_data()
        .iter()
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| {
            v["candidates"][0]["content"]["parts"][0]["text"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(text, "Bonjour");
    assert!(!got.text().contains("[DONE]"));
}

/// Each plugin's entry in the management API, by name (the gateway's
/// management key is `mgmt`).
async fn plugin_listing(gw: &TestGateway) -> std::collections::HashMap<String, Value> {
    let got = send(
        "GET",
        &gw.url("/v0/management/plugins"),
        &[("authorization", "Bearer mgmt")],
        Bytes::new(),
    )
    .await;
    assert_eq!(got.status, 200, "{}", got.text());
    got.json()["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap().to_string(), p.clone()))
        .collect()
}

/// The `calls` counter and `pass_through` of each plugin.
async fn plugin_calls(gw: &TestGateway) -> std::collections::HashMap<String, (u64, Value)> {
    plugin_listing(gw)
        .await
        .into_iter()
        .map(|(name, p)| {
            (
                name,
                (p["calls"].as_u64().unwrap(), p["pass_through"].clone()),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_a_plugin_passes_through_are_not_called() {
    let oa = MockUpstream::start(|r| {
        if r.json()["stream"] == true {
            Reply::sse(vec![
                sse_data(&chunk("Bon")),
                sse_data(&chunk("jour")),
                sse_data("[DONE]"),
            ])
        } else {
            Reply::json(200, completion("gpt-up", "Bonjour"))
        }
    })
    .await;
    let an = MockUpstream::start(|_| Reply::json(200, json!({}))).await;
    let yaml = config(&oa, &an) + "remote-management: { secret-key: mgmt }\n";
    let gw = TestGateway::start(&yaml, &[]).await;

    let declared = plugin_calls(&gw).await;
    assert_eq!(declared["openai"].1, json!(["response", "stream"]));
    assert_eq!(
        declared["thinking-translator"].1,
        json!(["response", "stream"])
    );
    assert_eq!(
        declared["tool-result-normalizer"].1,
        json!(["response", "stream"])
    );
    assert_eq!(declared["anthropic"].1, json!([]));

    // An Anthropic client with a tool result and a thinking level, to an
    // OpenAI upstream: the request hooks of both transforms still run.
    let request = |stream: bool| {
        json!({"model": "gpt-x(high)", "max_tokens": 64, "stream": stream, "messages": [
            {"role": "user", "content": "What is the weather?"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "weather", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1",
                "content": [{"type": "text", "text": "sunny"}]}]}
        ]})
        .to_string()
    };
    let got = post_anthropic(&gw, "/v1/messages", &request(false), Some("sk-test")).await;
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(got.json()["content"][0]["text"], "Bonjour");
    let sent = oa.requests()[0].json();
    assert_eq!(sent["reasoning_effort"], "high", "{sent}");
    let tool = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .unwrap_or_else(|| panic!("no tool message upstream: {sent}"));
    assert_eq!(tool["content"], "sunny", "{sent}");

    // One call each: `prepare` for the adapter (no `map-response`), the
    // request hook for each transform (no `transform-response`).
    let calls = plugin_calls(&gw).await;
    assert_eq!(calls["openai"].0 - declared["openai"].0, 1);
    assert_eq!(
        calls["tool-result-normalizer"].0 - declared["tool-result-normalizer"].0,
        1
    );
    assert_eq!(
        calls["thinking-translator"].0 - declared["thinking-translator"].0,
        1
    );

    // Streaming: the transforms open no stream state and see no events.
    let got = post_anthropic(&gw, "/v1/messages", &request(true), Some("sk-test")).await;
    assert_eq!(got.status, 200, "{}", got.text());
    let text: String = got
        .sse_data()
        .iter()
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| v["delta"]["text"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(text, "Bonjour");
    assert!(got.text().contains("message_stop"), "{}", got.text());
    let after = plugin_calls(&gw).await;
    assert_eq!(
        after["tool-result-normalizer"].0 - calls["tool-result-normalizer"].0,
        1
    );
    assert_eq!(
        after["thinking-translator"].0 - calls["thinking-translator"].0,
        1
    );
    // The `openai` adapter passes its stream through too: `prepare` is its
    // only call, and the host dropped the upstream's `[DONE]` in its place
    // (the Anthropic client got `message_stop`, not a hub `[DONE]`). The
    // client's encoder still runs per event.
    assert_eq!(after["openai"].0 - calls["openai"].0, 1);
    assert!(!got.text().contains("[DONE]"), "{}", got.text());
    assert!(after["anthropic"].0 - calls["anthropic"].0 > 3);
}

/// Each plugin gets the `metadata` pairs and client headers it declared
/// with `reads-metadata` / `reads-headers` (the rest cost a guest allocation
/// per string and are not sent); a plugin that declared nothing still gets
/// all of them, in order, after stages that saw only some.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_get_the_metadata_and_headers_they_read_and_later_stages_still_get_all_of_it() {
    let yaml = r#"
api-keys: ["sk-test"]
plugins: { dir: "{plugins}", cache-dir: "{cache}" }
remote-management: { secret-key: mgmt }
providers:
  - { name: faulty, plugin: faults, base-url: "http://127.0.0.1:9/v1", models: [{name: meta-x, upstream: metadata}] }
"#;
    let gw = TestGateway::start(yaml, &["faults"]).await;

    let declared: std::collections::HashMap<String, Value> = plugin_listing(&gw)
        .await
        .into_iter()
        .map(|(name, p)| (name, json!([p["reads_metadata"], p["reads_headers"]])))
        .collect();
    assert_eq!(declared["openai"], json!([[], []]));
    assert_eq!(declared["mock"], json!([[], []]));
    assert_eq!(
        declared["anthropic"],
        json!([
            ["provider-dialect", "operation"],
            ["anthropic-version", "anthropic-beta"]
        ])
    );
    assert_eq!(
        declared["gemini"],
        json!([["provider-dialect", "operation"], []])
    );
    assert_eq!(
        declared["tool-result-normalizer"],
        json!([["provider-dialect"], []])
    );
    assert_eq!(
        declared["thinking-translator"],
        json!([["provider-dialect", "model-suffix"], []])
    );
    assert_eq!(
        declared["faults"],
        json!([null, null]),
        "faults declares nothing: it is sent everything"
    );

    // An Anthropic client (the `anthropic` decoder and both transforms run
    // first, each seeing only what it reads) to the `faults` provider, which
    // answers with every pair and header it got.
    for stream in [false, true] {
        let body = json!({"model": "meta-x(high)", "max_tokens": 64, "stream": stream,
            "messages": [{"role": "user", "content": "Hi"}]})
        .to_string();
        let got = post_messages_with(
            &gw,
            body,
            &[
                ("user-agent", "sdk/1.0"),
                ("anthropic-version", "2023-06-01"),
                ("anthropic-beta", "tools-2024"),
                ("x-trace", "t1"),
            ],
        )
        .await;
        assert_eq!(got.status, 200, "{}", got.text());
        let text = if stream {
            got.sse_data()
                .iter()
                .filter_map(|d| serde_json::from_str::<Value>(d).ok())
                .filter_map(|v| v["delta"]["text"].as_str().map(str::to_owned))
                .collect::<String>()
        } else {
            got.json()["content"][0]["text"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        let (pairs, headers) = text
            .split_once(" | ")
            .unwrap_or_else(|| panic!("stream={stream}: {text}"));
        let pairs: Vec<&str> = pairs.split("; ").collect();
        assert_eq!(pairs.len(), 5, "stream={stream}: {text}");
        assert!(
            pairs[0].starts_with("request-id=req_"),
            "stream={stream}: {text}"
        );
        assert_eq!(
            pairs[1..],
            [
                "provider=faulty",
                "provider-dialect=openai",
                "operation=chat",
                "model-suffix=high"
            ],
            "stream={stream}: {text}"
        );
        // The client's headers a plugin may see, in the order sent (the
        // credential and content-type are never sent to plugins).
        assert_eq!(
            headers,
            "user-agent: sdk/1.0; anthropic-version: 2023-06-01; \
             anthropic-beta: tools-2024; x-trace: t1",
            "stream={stream}"
        );
    }
}
