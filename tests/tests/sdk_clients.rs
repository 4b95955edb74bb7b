//! The official `openai` and `anthropic` Python SDKs as clients, against
//! the gateway with mock upstreams of each dialect (OpenAI, Anthropic,
//! Gemini): two-turn conversations with a tool call and its result,
//! streaming and not, every client dialect × every provider dialect.
//!
//! Needs Python with `openai` and `anthropic` installed (`scripts/test`
//! puts them in `.venv`).

use std::path::Path;
use std::process::Command;

use bytes::Bytes;
use sluice_tests::*;

const RESULT: &str = "18C and sunny";

fn text(s: &str) -> Part {
    Part::Bytes(Bytes::from(s.to_string()))
}

/// OpenAI upstream: a tool call, or (once there is a tool result) text.
fn openai_upstream(r: &Received) -> Reply {
    let body = r.json();
    let msgs = body["messages"].as_array().unwrap();
    let answered = msgs.last().unwrap()["role"] == "tool";
    if answered {
        let call_id = msgs[msgs.len() - 2]["tool_calls"][0]["id"]
            .as_str()
            .unwrap();
        assert_eq!(msgs.last().unwrap()["tool_call_id"], call_id);
    }
    let usage = json!({"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30});
    if body["stream"] != true {
        let message = if answered {
            json!({"role": "assistant", "content": format!("It is {RESULT} in Paris.")})
        } else {
            json!({"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]})
        };
        let finish = if answered { "stop" } else { "tool_calls" };
        return Reply::json(
            200,
            json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1,
            "model": "oa", "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage}),
        );
    }
    let ch = |delta: Value, finish: Value| {
        sse_data(&json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "oa",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}).to_string())
    };
    let mut parts = vec![ch(json!({"role": "assistant", "content": ""}), Value::Null)];
    if answered {
        parts.push(ch(json!({"content": "It is "}), Value::Null));
        parts.push(ch(
            json!({"content": format!("{RESULT} in Paris.")}),
            Value::Null,
        ));
        parts.push(ch(json!({}), json!("stop")));
    } else {
        parts.push(ch(
            json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": ""}}]}),
            Value::Null,
        ));
        parts.push(ch(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\": "}}]}),
            Value::Null,
        ));
        parts.push(ch(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"Paris\"}"}}]}),
            Value::Null,
        ));
        parts.push(ch(json!({}), json!("tool_calls")));
    }
    if body["stream_options"]["include_usage"] == true {
        parts.push(sse_data(
            &json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
            "model": "oa", "choices": [], "usage": usage})
            .to_string(),
        ));
    }
    parts.push(sse_data("[DONE]"));
    Reply::sse(parts)
}

fn anthropic_event(name: &str, data: Value) -> Part {
    text(&format!("event: {name}\ndata: {data}\n\n"))
}

/// Anthropic upstream.
fn anthropic_upstream(r: &Received) -> Reply {
    assert_eq!(r.path, "/v1/messages");
    assert!(r.header("x-api-key").is_some(), "no x-api-key upstream");
    assert!(
        r.header("anthropic-version").is_some(),
        "no anthropic-version upstream"
    );
    let body = r.json();
    assert!(
        body["max_tokens"].as_u64().is_some(),
        "max_tokens is required: {body}"
    );
    if let Some(tools) = body["tools"].as_array() {
        assert!(tools[0]["input_schema"].is_object(), "{body}");
    }
    let msgs = body["messages"].as_array().unwrap();
    let last = msgs.last().unwrap();
    let answered = last["content"]
        .as_array()
        .is_some_and(|c| c.iter().any(|b| b["type"] == "tool_result"));
    if answered {
        // The result directly follows the call, with the call's id.
        let prev = &msgs[msgs.len() - 2];
        let use_id = prev["content"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["type"] == "tool_use")
            .unwrap()["id"]
            .clone();
        let result = last["content"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["type"] == "tool_result")
            .unwrap();
        assert_eq!(result["tool_use_id"], use_id, "{body}");
    }
    let usage = json!({"input_tokens": 20, "output_tokens": 10});
    if body["stream"] != true {
        let (content, stop) = if answered {
            (
                json!([{"type": "text", "text": format!("It is {RESULT} in Paris.")}]),
                "end_turn",
            )
        } else {
            (
                json!([{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]),
                "tool_use",
            )
        };
        return Reply::json(
            200,
            json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "an",
            "content": content, "stop_reason": stop, "stop_sequence": null, "usage": usage}),
        );
    }
    let mut parts = vec![
        anthropic_event(
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_1", "type": "message",
            "role": "assistant", "model": "an", "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 20, "output_tokens": 1}}}),
        ),
        anthropic_event("ping", json!({"type": "ping"})),
    ];
    let stop = if answered {
        parts.push(anthropic_event(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "text", "text": ""}}),
        ));
        for piece in ["It is ", RESULT, " in Paris."] {
            parts.push(anthropic_event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": piece}}),
            ));
        }
        "end_turn"
    } else {
        parts.push(anthropic_event("content_block_start", json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}})));
        for piece in ["{\"city\": ", "\"Paris\"}"] {
            parts.push(anthropic_event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": piece}}),
            ));
        }
        "tool_use"
    };
    parts.push(anthropic_event(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    ));
    parts.push(anthropic_event(
        "message_delta",
        json!({"type": "message_delta",
        "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": 10}}),
    ));
    parts.push(anthropic_event(
        "message_stop",
        json!({"type": "message_stop"}),
    ));
    Reply::sse(parts)
}

/// Gemini upstream.
fn gemini_upstream(r: &Received) -> Reply {
    assert!(
        r.header("x-goog-api-key").is_some(),
        "no x-goog-api-key upstream"
    );
    let stream = r.path.contains(":streamGenerateContent");
    assert!(stream || r.path.contains(":generateContent"), "{}", r.path);
    let body = r.json();
    let contents = body["contents"].as_array().unwrap();
    let answered = contents.last().unwrap()["parts"]
        .as_array()
        .is_some_and(|p| p.iter().any(|p| p.get("functionResponse").is_some()));
    let usage = json!({"promptTokenCount": 20, "candidatesTokenCount": 10, "totalTokenCount": 30});
    let candidate = |parts: Value, finish: Option<&str>| {
        let mut c = json!({"content": {"role": "model", "parts": parts}, "index": 0});
        if let Some(f) = finish {
            c["finishReason"] = json!(f);
        }
        c
    };
    if !stream {
        let parts = if answered {
            json!([{"text": format!("It is {RESULT} in Paris.")}])
        } else {
            json!([{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}])
        };
        return Reply::json(
            200,
            json!({"candidates": [candidate(parts, Some("STOP"))], "usageMetadata": usage,
            "modelVersion": "ge"}),
        );
    }
    let mut parts = Vec::new();
    if answered {
        parts.push(sse_data(
            &json!({"candidates": [candidate(json!([{"text": "It is "}]), None)]}).to_string(),
        ));
        parts.push(sse_data(&json!({"candidates": [candidate(json!([{"text": format!("{RESULT} in Paris.")}]), Some("STOP"))],
            "usageMetadata": usage}).to_string()));
    } else {
        parts.push(sse_data(
            &json!({"candidates": [candidate(json!([{"functionCall": {"name": "get_weather",
            "args": {"city": "Paris"}}}]), Some("STOP"))], "usageMetadata": usage})
            .to_string(),
        ));
    }
    Reply::sse(parts)
}

fn python() -> String {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    if venv.exists() {
        venv.display().to_string()
    } else {
        "python3".into()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_sdks_hold_tool_conversations_with_every_provider_dialect() {
    let oa = MockUpstream::start(openai_upstream).await;
    let an = MockUpstream::start(anthropic_upstream).await;
    let ge = MockUpstream::start(gemini_upstream).await;
    let yaml = format!(
        r#"
api-keys: ["sk-test"]
plugins: {{ cache-dir: "{{cache}}" }}
providers:
  - {{ name: oa, plugin: openai, base-url: "http://{}/v1", api-keys: [k1], models: [{{name: oa-model}}] }}
  - {{ name: an, plugin: anthropic, base-url: "http://{}/v1", api-keys: [k2], models: [{{name: an-model}}] }}
  - {{ name: ge, plugin: gemini, base-url: "http://{}/v1beta", api-keys: [k3], models: [{{name: ge-model}}] }}
"#,
        oa.addr, an.addr, ge.addr
    );
    let gw = TestGateway::start(&yaml, &[]).await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("sdk/clients.py");
    let base = format!("http://{}", gw.addr);
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python())
            .arg(script)
            .arg(base)
            .args(["oa-model", "an-model", "ge-model"])
            .output()
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| {
        panic!("could not run python ({e}); run scripts/test, which sets up .venv")
    });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named"),
        "the openai/anthropic SDKs are missing: run scripts/test (it installs them into .venv)\n{stderr}"
    );
    assert!(
        out.status.success(),
        "SDK clients failed:\n{stdout}\n{stderr}"
    );
    assert_eq!(stdout.matches("ok   ").count(), 6, "{stdout}");
}
