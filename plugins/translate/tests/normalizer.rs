//! The tool-result normalizer on hub and Anthropic bodies.

mod common;

use common::request;
use serde_json::{Value, json};
use translate::normalize::{NO_RESULT, normalize_anthropic, normalize_hub, transform_request};

fn call(id: &str) -> Value {
    json!({"id": id, "type": "function", "function": {"name": "f", "arguments": "{}"}})
}

#[test]
fn hub_missing_content_becomes_empty_string() {
    let mut body = json!({"messages": [
        {"role": "assistant", "tool_calls": [call("a"), call("b")]},
        {"role": "tool", "tool_call_id": "a"},
        {"role": "tool", "tool_call_id": "b", "content": null}
    ]});
    let notes = normalize_hub(&mut body, true);
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert_eq!(
        body["messages"][1],
        json!({"role": "tool", "tool_call_id": "a", "content": ""})
    );
    assert_eq!(
        body["messages"][2],
        json!({"role": "tool", "tool_call_id": "b", "content": ""})
    );
}

#[test]
fn hub_shapes_duplicates_orphans_missing_and_placement() {
    let mut body = json!({"messages": [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": null, "tool_calls": [call("a"), call("b"), call("c")]},
        {"role": "user", "content": "(interrupting)"},
        {"role": "tool", "tool_call_id": "b", "content": {"x": 1}},
        {"role": "tool", "tool_call_id": "a", "content": "first", "is_error": true},
        {"role": "tool", "tool_call_id": "a", "content": "second"},
        {"role": "tool", "tool_call_id": "zzz", "content": "orphan"},
        {"role": "tool", "tool_call_id": "c", "content": ["x", 2]}
    ]});
    let notes = normalize_hub(&mut body, true);
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": null, "tool_calls": [call("a"), call("b"), call("c")]},
            {"role": "tool", "tool_call_id": "a", "content": "second"},
            {"role": "tool", "tool_call_id": "b", "content": "{\"x\":1}"},
            {"role": "tool", "tool_call_id": "c", "content": [{"type": "text", "text": "x"}, {"type": "text", "text": "2"}]},
            {"role": "user", "content": "(interrupting)"}
        ])
    );
    let all = notes.join("\n");
    for needle in [
        "kept the last",
        "no assistant message made that call",
        "JSON text",
        "text parts",
        "moved",
    ] {
        assert!(all.contains(needle), "missing note {needle:?} in\n{all}");
    }
}

#[test]
fn hub_missing_result_gets_a_placeholder() {
    let mut body = json!({"messages": [
        {"role": "assistant", "tool_calls": [call("a"), call("b")]},
        {"role": "tool", "tool_call_id": "b", "content": "ok"},
        {"role": "user", "content": "next"}
    ]});
    normalize_hub(&mut body, true);
    assert_eq!(
        body["messages"][1],
        json!({"role": "tool", "tool_call_id": "a", "content": NO_RESULT, "is_error": true})
    );
    assert_eq!(body["messages"][2]["tool_call_id"], "b");
    // For a plain OpenAI provider the extension is left out.
    let mut body = json!({"messages": [{"role": "assistant", "tool_calls": [call("a")]}]});
    normalize_hub(&mut body, false);
    assert_eq!(
        body["messages"][1],
        json!({"role": "tool", "tool_call_id": "a", "content": NO_RESULT})
    );
}

#[test]
fn hub_results_bind_to_the_nearest_call_with_the_id() {
    // The same id in two turns (e.g. ids synthesized per response).
    let mut body = json!({"messages": [
        {"role": "assistant", "tool_calls": [call("call_0")]},
        {"role": "tool", "tool_call_id": "call_0", "content": "one"},
        {"role": "assistant", "tool_calls": [call("call_0")]},
        {"role": "tool", "tool_call_id": "call_0", "content": "two"}
    ]});
    let before = body.clone();
    assert!(normalize_hub(&mut body, true).is_empty());
    assert_eq!(body, before);
}

fn tool_use(id: &str) -> Value {
    json!({"type": "tool_use", "id": id, "name": "f", "input": {}})
}

#[test]
fn anthropic_missing_content_becomes_empty_array() {
    let mut body = json!({"model": "c", "max_tokens": 5, "messages": [
        {"role": "assistant", "content": [tool_use("a"), tool_use("b"), tool_use("c"), tool_use("d")]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "a"},
            {"type": "tool_result", "tool_use_id": "b", "content": {"type": "text", "text": "one block"}},
            {"type": "tool_result", "tool_use_id": "c", "content": ["s", {"type": "text", "text": ""}], "is_error": true},
            {"type": "tool_result", "tool_use_id": "d", "content": 42}
        ]}
    ]});
    normalize_anthropic(&mut body);
    assert_eq!(
        body["messages"][1]["content"],
        json!([
            {"type": "tool_result", "tool_use_id": "a", "content": []},
            {"type": "tool_result", "tool_use_id": "b", "content": [{"type": "text", "text": "one block"}]},
            {"type": "tool_result", "tool_use_id": "c", "content": [{"type": "text", "text": "s"}], "is_error": true},
            {"type": "tool_result", "tool_use_id": "d", "content": "42"}
        ])
    );
    assert_eq!(body["model"], "c");
}

#[test]
fn anthropic_placement_duplicates_orphans_and_missing() {
    let mut body = json!({"messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "text", "text": "calling"}, tool_use("a"), tool_use("b")]},
        {"role": "user", "content": [
            {"type": "text", "text": "wait"},
            {"type": "tool_result", "tool_use_id": "b", "content": "B1"},
            {"type": "tool_result", "tool_use_id": "ghost", "content": "?"}
        ]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "b", "content": "B2"}]},
        {"role": "assistant", "content": [tool_use("c")]},
        {"role": "assistant", "content": "more"},
        {"role": "assistant", "content": [tool_use("d")]}
    ]});
    let notes = normalize_anthropic(&mut body);
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [{"type": "text", "text": "calling"}, tool_use("a"), tool_use("b")]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "a", "content": NO_RESULT, "is_error": true},
                {"type": "tool_result", "tool_use_id": "b", "content": "B2"},
                {"type": "text", "text": "wait"}
            ]},
            {"role": "assistant", "content": [tool_use("c")]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "c", "content": NO_RESULT, "is_error": true}]},
            {"role": "assistant", "content": "more"},
            {"role": "assistant", "content": [tool_use("d")]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "d", "content": NO_RESULT, "is_error": true}]}
        ])
    );
    let all = notes.join("\n");
    for needle in [
        "no tool_use with that id",
        "kept the last",
        "had no tool_result",
        "moved",
    ] {
        assert!(all.contains(needle), "missing note {needle:?} in\n{all}");
    }
}

#[test]
fn transform_leaves_good_and_foreign_bodies_byte_for_byte() {
    let good = json!({"model": "m", "messages": [
        {"role": "assistant", "tool_calls": [call("a")]},
        {"role": "tool", "tool_call_id": "a", "content": "ok"}
    ]});
    let req = request(&good, "openai", "openai", &[("provider-dialect", "openai")]);
    assert_eq!(transform_request(&req).unwrap(), req.body);
    let gemini = json!({"contents": [{"role": "user", "parts": [{"text": "x"}]}]});
    let req = request(&gemini, "gemini", "gemini", &[]);
    assert_eq!(transform_request(&req).unwrap(), req.body);
    let bad = json!({"messages": [{"role": "tool", "tool_call_id": "x", "content": "orphan"}]});
    let req = request(&bad, "openai", "openai", &[]);
    let out: Value = serde_json::from_slice(&transform_request(&req).unwrap()).unwrap();
    assert_eq!(out["messages"], json!([]));
    let req = request(&bad, "anthropic", "anthropic", &[]);
    assert!(transform_request(&req).is_ok());
    // A body that names no tool is passed on without being parsed; one
    // that does must be JSON.
    let req = sluice_sdk::Request {
        body: b"not json, no tools".to_vec(),
        ..request(&bad, "openai", "openai", &[])
    };
    assert_eq!(transform_request(&req).unwrap(), req.body);
    let req = sluice_sdk::Request {
        body: br#"not json "tool_calls""#.to_vec(),
        ..request(&bad, "openai", "openai", &[])
    };
    assert_eq!(transform_request(&req).unwrap_err().status, 400);
}

/// The quick check that lets a well-formed hub conversation through
/// unparsed agrees with the full normalizer on every conversation of up to
/// four messages built from calls (one id called twice among them), results
/// of every content shape, orphans and duplicates.
#[test]
fn the_quick_check_agrees_with_the_normalizer_on_every_small_conversation() {
    use translate::normalize::hub_is_well_formed;
    let kinds = [
        json!({"role": "user", "content": "hi"}),
        json!({"role": "assistant", "content": "ok"}),
        json!({"role": "assistant", "content": null, "tool_calls": [call("a")]}),
        json!({"role": "assistant", "content": null, "tool_calls": [call("a"), call("b")]}),
        json!({"role": "assistant", "tool_calls": [call("b")]}),
        json!({"role": "assistant", "tool_calls": [call("a"), call("a")]}),
        json!({"role": "tool", "tool_call_id": "a", "content": "r"}),
        json!({"role": "tool", "tool_call_id": "b", "content": [{"type": "text", "text": "r"}]}),
        json!({"role": "tool", "tool_call_id": "a", "content": null}),
        json!({"role": "tool", "tool_call_id": "b", "content": {"x": 1}}),
        json!({"role": "tool", "tool_call_id": "a", "content": ["r"]}),
        json!({"role": "tool", "tool_call_id": "c", "content": "r"}),
        json!({"role": "tool", "content": "r"}),
    ];
    let mut seqs: Vec<Vec<usize>> = vec![vec![]];
    let mut checked = 0;
    let mut well_formed = 0;
    for _ in 0..4 {
        let mut next = Vec::new();
        for s in &seqs {
            for k in 0..kinds.len() {
                let mut s = s.clone();
                s.push(k);
                let mut body = json!({"model": "m",
                    "messages": s.iter().map(|&k| kinds[k].clone()).collect::<Vec<_>>()});
                let bytes = serde_json::to_vec(&body).unwrap();
                let quick = hub_is_well_formed(&bytes);
                // Whitespace between the tokens changes nothing.
                let pretty = serde_json::to_vec_pretty(&body).unwrap();
                assert_eq!(hub_is_well_formed(&pretty), quick, "{s:?}");
                let notes = normalize_hub(&mut body, true);
                assert_eq!(quick, Some(notes.is_empty()), "{s:?}: {notes:?}");
                checked += 1;
                well_formed += usize::from(notes.is_empty());
                next.push(s);
            }
        }
        seqs = next;
    }
    assert!(
        checked > 20_000 && well_formed > 50,
        "{checked} {well_formed}"
    );
    // Shapes the quick check does not read are left to the full parse.
    assert_eq!(hub_is_well_formed(br#"{"messages": [{"role": 1}]}"#), None);
    assert_eq!(hub_is_well_formed(b"not json"), None);
    assert_eq!(hub_is_well_formed(br#"{"model": "m"}"#), Some(true));
    assert_eq!(hub_is_well_formed(br#"{"messages": null}"#), Some(true));
    assert_eq!(hub_is_well_formed(br#"{"messages": "x"}"#), None);
    assert_eq!(
        hub_is_well_formed(br#"{"messages": [], "messages": []}"#),
        None
    );
    assert_eq!(
        hub_is_well_formed(br#"{"messages": [{"role": "user", "role": "user"}]}"#),
        None
    );
    assert_eq!(
        hub_is_well_formed(br#"{"messages": [{"role": "assistant", "tool_calls": [1]}]}"#),
        None
    );
    // A role written with an escape is decoded.
    assert_eq!(
        hub_is_well_formed(
            br#"{"messages": [{"role": "tool", "tool_call_id": "x", "content": "r"}]}"#
        ),
        Some(false)
    );
}
