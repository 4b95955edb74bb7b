//! Shared test helpers: fixtures, golden files, SSE parsing, stream checks.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::{Value, json};
use sluice_sdk::{Event, Header, Request};
use translate::Ctx;

/// The fixtures directory.
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A fixture's text.
pub fn text(path: &str) -> String {
    std::fs::read_to_string(dir().join(path)).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

/// A JSON fixture.
pub fn json(path: &str) -> Value {
    serde_json::from_str(&text(path)).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

/// Parses server-sent events (`event:` and `data:` lines, blank-line separated).
pub fn parse_sse(text: &str) -> Vec<Event> {
    let mut out = Vec::new();
    let mut event = None;
    let mut data: Vec<&str> = Vec::new();
    for line in text.lines().chain(std::iter::once("")) {
        if line.is_empty() {
            if !data.is_empty() {
                out.push(Event {
                    event: event.take(),
                    data: data.join("\n"),
                });
            }
            event = None;
            data.clear();
        } else if let Some(v) = line.strip_prefix("event:") {
            event = Some(v.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push(v.strip_prefix(' ').unwrap_or(v));
        }
    }
    out
}

/// An SSE fixture.
pub fn sse(path: &str) -> Vec<Event> {
    parse_sse(&text(path))
}

/// Events as JSON for golden files: `{"event": name?, "data": parsed data}`.
pub fn events_json(evs: &[Event]) -> Value {
    Value::Array(
        evs.iter()
            .map(|e| {
                let data =
                    serde_json::from_str::<Value>(&e.data).unwrap_or(Value::String(e.data.clone()));
                match &e.event {
                    Some(name) => json!({"event": name, "data": data}),
                    None => json!({"data": data}),
                }
            })
            .collect(),
    )
}

/// Compares `actual` with `fixtures/expected/<name>.json`. With
/// `BLESS=1` in the environment, writes the file instead.
pub fn golden(name: &str, actual: &Value) {
    let path = dir().join("expected").join(format!("{name}.json"));
    let pretty = serde_json::to_string_pretty(actual).unwrap() + "\n";
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, pretty).unwrap();
        return;
    }
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "golden file {}: {e} (run with BLESS=1 to create it)",
                path.display()
            )
        }))
        .unwrap();
    assert!(
        &expected == actual,
        "golden {name} differs\n--- expected\n{}\n--- actual\n{pretty}",
        serde_json::to_string_pretty(&expected).unwrap()
    );
}

/// The context used by the golden tests (fixed time, models).
pub fn ctx() -> Ctx {
    Ctx {
        created: 1_700_000_000,
        model: "upstream-model".into(),
        requested_model: "client-model".into(),
        ..Ctx::default()
    }
}

/// A request envelope.
pub fn request(body: &Value, body_dialect: &str, client: &str, meta: &[(&str, &str)]) -> Request {
    Request {
        model: "upstream-model".into(),
        requested_model: "client-model".into(),
        stream: body.get("stream") == Some(&Value::Bool(true)),
        client_dialect: client.into(),
        body_dialect: body_dialect.into(),
        headers: vec![Header {
            name: "anthropic-beta".into(),
            value: "interleaved-thinking-2025-05-14".into(),
        }],
        body: serde_json::to_vec(body).unwrap(),
        metadata: meta
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

/// Checks the structure of an Anthropic event stream: `message_start` first,
/// every started block stopped exactly once, deltas only inside open blocks,
/// increasing indices, and (unless it ends with `error`) `message_delta`
/// then `message_stop` last. Returns the blocks' contents by index
/// (text, thinking, or tool input JSON text) and their types.
pub fn check_anthropic_stream(evs: &[Event]) -> BTreeMap<u64, (String, String)> {
    let mut open: BTreeSet<u64> = BTreeSet::new();
    let mut stopped: BTreeSet<u64> = BTreeSet::new();
    let mut blocks: BTreeMap<u64, (String, String)> = BTreeMap::new();
    let mut last_index: Option<u64> = None;
    assert!(!evs.is_empty(), "empty stream");
    let first: Value = serde_json::from_str(&evs[0].data).unwrap();
    assert_eq!(
        first["type"], "message_start",
        "first event: {}",
        evs[0].data
    );
    let mut saw_delta = false;
    let mut ended = false;
    for (i, e) in evs.iter().enumerate() {
        assert!(!ended, "event after the end: {}", e.data);
        let v: Value = serde_json::from_str(&e.data).unwrap();
        let kind = v["type"].as_str().unwrap().to_owned();
        assert_eq!(
            e.event.as_deref(),
            Some(kind.as_str()),
            "event name = data type"
        );
        match kind.as_str() {
            "message_start" => assert_eq!(i, 0, "message_start twice"),
            "content_block_start" => {
                let idx = v["index"].as_u64().unwrap();
                assert!(
                    !open.contains(&idx) && !stopped.contains(&idx),
                    "block {idx} started twice"
                );
                if let Some(l) = last_index {
                    assert!(idx > l, "block indices must increase");
                }
                assert!(open.is_empty(), "block {idx} started while {open:?} open");
                last_index = Some(idx);
                open.insert(idx);
                let b = &v["content_block"];
                let initial = b["text"]
                    .as_str()
                    .or(b["thinking"].as_str())
                    .unwrap_or_default();
                blocks.insert(
                    idx,
                    (b["type"].as_str().unwrap().to_owned(), initial.to_owned()),
                );
            }
            "content_block_delta" => {
                let idx = v["index"].as_u64().unwrap();
                assert!(
                    open.contains(&idx),
                    "delta for block {idx} that is not open"
                );
                let d = &v["delta"];
                let piece = d["text"]
                    .as_str()
                    .or(d["thinking"].as_str())
                    .or(d["partial_json"].as_str())
                    .unwrap_or_default();
                blocks.get_mut(&idx).unwrap().1.push_str(piece);
            }
            "content_block_stop" => {
                let idx = v["index"].as_u64().unwrap();
                assert!(open.remove(&idx), "stop for block {idx} that is not open");
                assert!(stopped.insert(idx), "block {idx} stopped twice");
            }
            "message_delta" => {
                assert!(open.is_empty(), "message_delta with open blocks");
                assert!(v["delta"]["stop_reason"].is_string());
                saw_delta = true;
            }
            "message_stop" => {
                assert!(saw_delta, "message_stop without message_delta");
                ended = true;
            }
            "error" => {
                assert!(open.is_empty(), "error with open blocks");
                ended = true;
            }
            "ping" => {}
            other => panic!("unexpected event {other}"),
        }
    }
    assert!(ended, "stream does not end with message_stop or error");
    assert!(open.is_empty());
    blocks
}

/// Concatenated `function.arguments` per tool call index in hub chunks, and
/// each call's id and name.
pub fn hub_tool_calls(evs: &[Event]) -> BTreeMap<u64, (String, String, String)> {
    let mut calls: BTreeMap<u64, (String, String, String)> = BTreeMap::new();
    for e in evs {
        let v: Value = serde_json::from_str(&e.data).unwrap();
        for c in v["choices"].as_array().into_iter().flatten() {
            for tc in c["delta"]["tool_calls"].as_array().into_iter().flatten() {
                let entry = calls.entry(tc["index"].as_u64().unwrap()).or_default();
                if let Some(id) = tc["id"].as_str() {
                    entry.0 = id.to_owned();
                }
                if let Some(n) = tc["function"]["name"].as_str() {
                    entry.1.push_str(n);
                }
                if let Some(a) = tc["function"]["arguments"].as_str() {
                    entry.2.push_str(a);
                }
            }
        }
    }
    calls
}

/// Concatenated `delta.content` and `delta.reasoning_content` of hub chunks.
pub fn hub_text(evs: &[Event]) -> (String, String) {
    let mut text = String::new();
    let mut reasoning = String::new();
    for e in evs {
        let v: Value = serde_json::from_str(&e.data).unwrap();
        for c in v["choices"].as_array().into_iter().flatten() {
            text.push_str(c["delta"]["content"].as_str().unwrap_or_default());
            reasoning.push_str(c["delta"]["reasoning_content"].as_str().unwrap_or_default());
        }
    }
    (text, reasoning)
}
