//! The direct paths (`anthropic::direct`) against the typed ones: wherever
//! a direct path answers, its JSON is the typed path's byte for byte, and
//! the common requests and answers take it.

mod common;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use serde_json::{Value, json};
use translate::Ctx;
use translate::anthropic::{self, direct};

/// An Anthropic client in front of a plain OpenAI provider.
fn ctx() -> Ctx {
    Ctx {
        provider_dialect: Some("openai".into()),
        model: "upstream-model".into(),
        requested_model: "client-model".into(),
        ..Default::default()
    }
}

/// What the typed path makes of `body`: the hub JSON, or its error.
fn typed(body: &[u8], ctx: &Ctx) -> Result<Vec<u8>, String> {
    let a: anthropic::MessagesRequest = sluice_sdk::json::parse(body).map_err(|e| e.message)?;
    let hub = anthropic::anthropic_to_hub(a, ctx).map_err(|e| e.message)?;
    Ok(sluice_sdk::json::to_vec(&hub).expect("hub JSON"))
}

/// Whether the direct path answered for `body`; panics when its answer is
/// not the typed path's.
fn agree(body: &[u8], ctx: &Ctx) -> bool {
    let Some(fast) = direct::anthropic_to_hub_bytes(body, ctx) else {
        return false;
    };
    let show = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match typed(body, ctx) {
        Ok(slow) => assert_eq!(
            show(&fast),
            show(&slow),
            "direct and typed paths differ for {}",
            show(body)
        ),
        Err(e) => panic!(
            "the direct path answered {} where the typed one refused ({e}) for {}",
            show(&fast),
            show(body)
        ),
    }
    true
}

fn compact(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

/// The request of the gateway's benchmark, and the other shapes the
/// direct path is for.
fn covered() -> Vec<Value> {
    vec![
        json!({"max_tokens":2048,"messages":[
            {"content":"I am planning a trip.","role":"user"},
            {"content":[{"text":"Let me check the weather first.","type":"text"},
                {"id":"toolu_bench01","input":{"city":"Lisbon"},"name":"get_weather","type":"tool_use"}],"role":"assistant"},
            {"content":[{"content":[{"text":"Sunny, 24 C.","type":"text"}],"tool_use_id":"toolu_bench01","type":"tool_result"}],"role":"user"}],
            "model":"bench","system":"You are a helpful travel assistant.",
            "thinking":{"budget_tokens":1024,"type":"enabled"},
            "tools":[{"description":"The weather forecast for a city","input_schema":{"properties":{"city":{"type":"string"}},"required":["city"],"type":"object"},"name":"get_weather"}]}),
        // Escapes, empty texts, several text blocks, a system of blocks,
        // every top-level field the hub has a place for.
        json!({"model": "", "max_tokens": 10, "stream": true, "temperature": 1, "top_p": 0.25, "top_k": 5,
        "stop_sequences": ["\n\nHuman:", "caf\u{e9} \"q\""], "metadata": {"user_id": "u-1", "x": [1]},
        "system": [{"type": "text", "text": "a\tb"}, {"type": "text", "text": "c", "cache_control": {"type": "ephemeral"}}],
        "tool_choice": {"type": "tool", "name": "f", "disable_parallel_tool_use": true},
        "tools": [{"name": "f", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}},
                  {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
                  {"type": "custom", "name": "g", "description": null}],
        "thinking": {"type": "disabled"}, "service_tier": "auto", "container": null,
        "messages": [
            {"role": "user", "content": ""},
            {"role": "user", "content": []},
            {"role": "user", "content": [{"type": "text", "text": "\u{1f642} \\ \u{0}"}, {"type": "text"}, {"type": "text", "text": null}]},
            {"role": "assistant", "content": ""},
            {"role": "assistant", "content": "plain"},
            {"role": "assistant", "content": [{"type": "text", "text": "a\n"}, {"type": "text", "text": ""}, {"type": "text", "text": "\"b\""}]},
            {"role": "assistant", "content": [{"type": "text", "text": ""}, {"type": "tool_use", "id": "x", "name": "f", "input": {"a": "\"1\"", "b": [1, 2.5e3]}}]},
            {"role": "assistant", "content": [{"type": "tool_use", "input": null}, {"type": "tool_use", "name": "g"}]},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": "s"}, {"type": "redacted_thinking", "data": "d"},
                {"type": "server_tool_use", "id": "s1", "name": "web_search", "input": {}}, {"type": "text", "text": "after"}]},
            {"role": "user", "content": [
                {"type": "text", "text": "before"},
                {"type": "tool_result", "tool_use_id": "x", "content": "ok", "is_error": false},
                {"type": "tool_result", "tool_use_id": "y"},
                {"type": "tool_result", "content": null},
                {"type": "tool_result", "tool_use_id": "z", "content": []},
                {"type": "tool_result", "tool_use_id": "z", "content": [{"type": "text", "text": "1"}, {"type": "text", "text": "2"}]},
                {"type": "tool_result", "tool_use_id": "z", "content": 42},
                {"type": "tool_result", "tool_use_id": "z", "content": {"b": 1, "a": [true, null]}},
                {"type": "text", "text": "after", "citations": []}]}
        ]}),
        json!({"model": "m", "messages": [{"role": "user", "content": "hi", "extra": 1}],
            "tool_choice": {"type": "auto"}, "stream": false}),
        json!({"model": "m", "messages": [], "tool_choice": {"type": "any"}, "tools": [],
            "system": "", "stop_sequences": [], "metadata": {"user_id": 7}}),
        json!({"model": "m", "messages": [], "tool_choice": {"type": "none"}, "system": [],
            "thinking": {"type": "enabled", "budget_tokens": 30000}}),
        json!({"model": "m", "messages": [], "tool_choice": {"type": "somehow"}, "metadata": null}),
        json!({"model": "m", "messages": [], "tool_choice": {"type": "tool"}}),
        json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}]}),
    ]
}

#[test]
fn the_common_requests_go_direct_and_come_out_as_the_typed_path_writes_them() {
    for v in covered() {
        for body in [compact(&v), serde_json::to_vec_pretty(&v).unwrap()] {
            assert!(
                agree(&body, &ctx()),
                "the direct path did not answer for {}",
                String::from_utf8_lossy(&body)
            );
        }
    }
    // The benchmark's body, as sent.
    let bench = br#"{"max_tokens":2048,"messages":[{"content":"Hi. ","role":"user"}],"model":"bench","system":"S."}"#;
    assert!(agree(bench, &ctx()));
}

#[test]
fn escaped_strings_are_written_as_the_writer_writes_them() {
    let body = br#"{"model":"m\u00e9","messages":[{"role":"user","content":"caf\u00e9 \/ \"q\" \ud83d\ude42"}],"system":"a\u0001"}"#;
    assert!(agree(body, &ctx()));
    let out = direct::anthropic_to_hub_bytes(body, &ctx()).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("\"caf\u{e9} / \\\"q\\\" \u{1f642}\""),
        "{text}"
    );
    assert!(text.contains("\"a\\u0001\""), "{text}");
}

#[test]
fn everything_else_is_left_to_the_typed_path() {
    let base = |extra: Value| {
        let mut v = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        compact(&v)
    };
    let left: Vec<Vec<u8>> = vec![
        // Content the direct path does not translate.
        base(
            json!({"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}]}]}),
        ),
        base(
            json!({"messages": [{"role": "user", "content": [{"type": "tool_result", "content": [{"type": "image", "source": {}}]}]}]}),
        ),
        base(
            json!({"messages": [{"role": "assistant", "content": [{"type": "tool_use", "input": "text"}]}]}),
        ),
        base(
            json!({"messages": [{"role": "assistant", "content": [{"type": "tool_use", "input": {"_raw": "x"}}]}]}),
        ),
        base(json!({"system": [{"type": "document", "source": {}}]})),
        // What the typed path refuses.
        base(json!({"messages": [{"role": "system", "content": "x"}]})),
        base(json!({"messages": [{"role": "user"}]})),
        base(json!({"messages": [{"role": "user", "content": null}]})),
        base(json!({"messages": [{"role": "user", "content": [{"text": "no type"}]}]})),
        base(json!({"messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]})),
        base(
            json!({"messages": [{"role": "user", "content": [{"type": "tool_result", "is_error": "yes"}]}]}),
        ),
        base(json!({"messages": null})),
        base(json!({"model": null})),
        base(json!({"max_tokens": -1})),
        base(json!({"temperature": "1"})),
        base(json!({"stream": "yes"})),
        base(json!({"stop_sequences": [1]})),
        base(json!({"tools": [{"name": null}]})),
        base(json!({"tools": [{"type": 5, "name": "f"}]})),
        base(json!({"tool_choice": {"name": "f"}})),
        base(json!({"tool_choice": {"type": "auto", "disable_parallel_tool_use": 1}})),
        base(json!({"top_k": 1.5})),
        br#"{"model":"m","messages":[]}  x"#.to_vec(),
        b"[]".to_vec(),
        br#"{"model":"m"}"#.to_vec(),
        // Repeated and escaped keys.
        br#"{"model":"m","model":"n","messages":[]}"#.to_vec(),
        br#"{"model":"m","messages":[],"x":1,"x":2}"#.to_vec(),
        br#"{"model":"m","messages":[{"role":"user","role":"user","content":"a"}]}"#.to_vec(),
        br#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","type":"text"}]}]}"#
            .to_vec(),
        br#"{"m\u006fdel":"m","messages":[]}"#.to_vec(),
        br#"{"model":"m","messages":[{"r\u006fle":"user","content":"a"}]}"#.to_vec(),
        br#"{"model":"m","messages":[{"role":"us\u0065r","content":"a"}]}"#.to_vec(),
        b"{\"model\":\"\xff\",\"messages\":[]}".to_vec(),
    ];
    for body in left {
        assert!(
            direct::anthropic_to_hub_bytes(&body, &ctx()).is_none(),
            "the direct path answered for {}",
            String::from_utf8_lossy(&body)
        );
    }
    // Providers that keep hub extensions (Anthropic, Gemini) get the typed
    // translation.
    for dialect in [None, Some("anthropic"), Some("gemini")] {
        let ctx = Ctx {
            provider_dialect: dialect.map(Into::into),
            ..ctx()
        };
        assert!(direct::anthropic_to_hub_bytes(&base(json!({})), &ctx).is_none());
    }
}

#[test]
fn one_byte_edits_of_a_request_are_translated_as_the_typed_path_does() {
    // Every edit that is still JSON (the gateway refuses the others before
    // a plugin sees them): whatever the direct path answers, it answers as
    // the typed path.
    let body = compact(&json!({"model": "m", "max_tokens": 9, "stream": true,
        "system": [{"type": "text", "text": "s"}],
        "messages": [
            {"role": "user", "content": "u"},
            {"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "tool_use", "id": "i", "name": "f", "input": {"k": 1}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "i", "content": [{"type": "text", "text": "r"}]}]}],
        "tools": [{"name": "f", "input_schema": {}}], "tool_choice": {"type": "tool", "name": "f"},
        "metadata": {"user_id": "u"}, "temperature": 0.5, "top_k": 3,
        "thinking": {"type": "enabled", "budget_tokens": 5000}}));
    let edits = one_byte_edits(&body);
    let direct = edits.iter().filter(|v| agree(v, &ctx())).count();
    // Most edits that stay JSON change a string or a number: still a
    // request the direct path takes.
    assert!(
        edits.len() > 1000 && direct * 2 > edits.len(),
        "{direct} of {}",
        edits.len()
    );
}

/// Every one-byte edit of `body` (a byte inserted, replaced or removed)
/// that is still JSON: the gateway refuses the others before a plugin sees
/// them.
fn one_byte_edits(body: &[u8]) -> Vec<Vec<u8>> {
    let alphabet = b"\"{}[],:01-.ntfx\\ ";
    let mut edits = Vec::new();
    for i in 0..=body.len() {
        for &b in alphabet {
            let mut v = body.to_vec();
            v.insert(i, b);
            edits.push(v);
            if i < body.len() {
                let mut v = body.to_vec();
                v[i] = b;
                edits.push(v);
            }
        }
        if i < body.len() {
            let mut v = body.to_vec();
            v.remove(i);
            edits.push(v);
        }
    }
    edits.retain(|v| serde_json::from_slice::<serde::de::IgnoredAny>(v).is_ok());
    edits
}

/// How many of 1,000 values of `strategy` `takes` (a direct path answers
/// for): otherwise the properties would hold without checking much.
fn taken(strategy: impl Strategy<Value = Value>, takes: fn(&[u8], &Ctx) -> bool) -> usize {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    (0..1000)
        .filter(|_| {
            let v = strategy.new_tree(&mut runner).unwrap().current();
            takes(&compact(&v), &ctx())
        })
        .count()
}

fn text() -> impl Strategy<Value = String> {
    "[a-z \"\\\\\n\u{e9}\u{1f642}]{0,8}"
}

fn text_block() -> impl Strategy<Value = Value> {
    prop_oneof![
        text().prop_map(|t| json!({"type": "text", "text": t})),
        text().prop_map(
            |t| json!({"type": "text", "text": t, "cache_control": {"type": "ephemeral"}})
        ),
        Just(json!({"type": "text"})),
    ]
}

fn block() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => text_block(),
        2 => (text(), text(), prop_oneof![
                Just(json!({})), Just(json!({"a": [1, {"b": null}]})), Just(Value::Null),
                Just(json!("s")), Just(json!({"_raw": "x"}))])
            .prop_map(|(id, name, input)| json!({"type": "tool_use", "id": id, "name": name, "input": input})),
        2 => (text(), prop_oneof![
                Just(Value::Null), text().prop_map(Value::String),
                proptest::collection::vec(text_block(), 0..3).prop_map(Value::Array),
                Just(json!(3)), Just(json!({"x": 1})), Just(json!([{"type": "image", "source": {}}]))])
            .prop_map(|(id, content)| json!({"type": "tool_result", "tool_use_id": id, "content": content})),
        1 => text().prop_map(|t| json!({"type": "thinking", "thinking": t, "signature": "sig"})),
        1 => Just(json!({"type": "redacted_thinking", "data": "d"})),
        1 => Just(json!({"type": "image", "source": {"type": "url", "url": "https://x/y.png"}})),
    ]
}

fn message() -> impl Strategy<Value = Value> {
    (
        prop_oneof![4 => Just("user"), 4 => Just("assistant"), 1 => Just("system")],
        prop_oneof![
            text().prop_map(Value::String),
            proptest::collection::vec(block(), 0..4).prop_map(Value::Array),
        ],
    )
        .prop_map(|(role, content)| json!({"role": role, "content": content}))
}

fn request() -> impl Strategy<Value = Value> {
    let optional = |v: BoxedStrategy<Value>| prop_oneof![2 => Just(None), 1 => v.prop_map(Some)];
    (
        (
            prop_oneof![Just("m".to_owned()), text()],
            proptest::collection::vec(message(), 0..5),
            optional(prop_oneof![text().prop_map(Value::String),
                proptest::collection::vec(text_block(), 0..3).prop_map(Value::Array)].boxed()),
            optional(prop_oneof![Just(json!(1024)), Just(json!(-1)), Just(Value::Null)].boxed()),
            optional(prop_oneof![Just(json!(true)), Just(json!(false)), Just(Value::Null)].boxed()),
            optional(prop_oneof![Just(json!(0.7)), Just(json!(1)), Just(json!("1"))].boxed()),
        ),
        (
            optional(proptest::collection::vec(text(), 0..3).prop_map(|v| json!(v)).boxed()),
            optional(prop_oneof![Just(json!({"user_id": "u"})), Just(json!({"user_id": 1})), Just(json!([]))].boxed()),
            optional(prop_oneof![
                Just(json!([{"name": "f", "description": "d", "input_schema": {"type": "object", "properties": {}}}])),
                Just(json!([{"type": "web_search_20250305", "name": "w"}, {"name": "g"}])),
                Just(json!([]))].boxed()),
            optional(prop_oneof![
                Just(json!({"type": "auto"})), Just(json!({"type": "any", "disable_parallel_tool_use": true})),
                Just(json!({"type": "tool", "name": "f"})), Just(json!({"type": "none"})), Just(json!({"type": 1}))].boxed()),
            optional(prop_oneof![
                (0u64..40_000).prop_map(|n| json!({"type": "enabled", "budget_tokens": n})),
                Just(json!({"type": "enabled", "budget_tokens": 1.5})), Just(json!({"type": "enabled", "budget_tokens": -1})),
                Just(json!({"type": "enabled", "budget_tokens": u64::MAX})), Just(json!({"type": "enabled"})),
                Just(json!({"type": "adaptive"})), Just(json!({"type": "disabled"})), Just(json!("x"))].boxed()),
            optional(prop_oneof![Just(json!(5)), Just(json!("auto")), Just(json!(null))].boxed()),
        ),
    )
        .prop_map(|((model, messages, system, max_tokens, stream, temperature),
                    (stop, metadata, tools, tool_choice, thinking, other))| {
            let mut v = json!({"model": model, "messages": messages});
            for (k, x) in [("system", system), ("max_tokens", max_tokens), ("stream", stream),
                ("temperature", temperature), ("stop_sequences", stop), ("metadata", metadata),
                ("tools", tools), ("tool_choice", tool_choice), ("thinking", thinking), ("top_k", other.clone()),
                ("service_tier", other)] {
                if let Some(x) = x {
                    v[k] = x;
                }
            }
            v
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_request_is_translated_as_the_typed_path_does(v in request(), pretty in any::<bool>()) {
        let body = if pretty { serde_json::to_vec_pretty(&v).unwrap() } else { compact(&v) };
        agree(&body, &ctx());
    }
}

#[test]
fn the_generated_requests_often_take_the_direct_path() {
    let answered = taken(request(), agree);
    assert!(answered > 200, "{answered} of 1000");
}

// ---------------------------------------------------------------------------
// Answers: hub → Anthropic
// ---------------------------------------------------------------------------

/// What the typed path makes of a hub answer: the Anthropic message, or its
/// error (`None`: not a chat completion).
fn typed_answer(body: &[u8], ctx: &Ctx) -> Result<Option<Vec<u8>>, String> {
    let Some(hub) = translate::common::hub_answer(body).map_err(|e| e.message)? else {
        return Ok(None);
    };
    let out = anthropic::response_from_hub(hub, ctx, 40);
    Ok(Some(
        sluice_sdk::json::to_vec(&out).expect("Anthropic JSON"),
    ))
}

/// Whether the direct path answered for the hub answer `body`; panics when
/// its answer is not the typed path's.
fn agree_answer(body: &[u8], ctx: &Ctx) -> bool {
    let Some(fast) = direct::response_from_hub_bytes(body, ctx) else {
        return false;
    };
    let show = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match typed_answer(body, ctx) {
        Ok(Some(slow)) => assert_eq!(
            show(&fast),
            show(&slow),
            "direct and typed paths differ for {}",
            show(body)
        ),
        other => panic!(
            "the direct path answered {} where the typed one gave {other:?} for {}",
            show(&fast),
            show(body)
        ),
    }
    true
}

fn answer(message: Value, usage: Value) -> Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": "gpt-4o",
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": "stop"}],
        "usage": usage, "system_fingerprint": "fp_1"})
}

#[test]
fn the_common_answers_go_direct_and_come_out_as_the_typed_path_writes_them() {
    let usage = json!({"prompt_tokens": 42, "completion_tokens": 64, "total_tokens": 106});
    let openai_usage = json!({"prompt_tokens": 42, "completion_tokens": 64, "total_tokens": 106,
        "prompt_tokens_details": {"cached_tokens": 10, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0}});
    let mut covered = vec![
        answer(
            json!({"role": "assistant", "content": "Sure. \"Quoted\", caf\u{e9}\n", "refusal": null, "annotations": []}),
            usage.clone(),
        ),
        answer(
            json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Lisbon\"}"}},
            {"type": "function", "function": {"name": "f", "arguments": ""}},
            {"id": "c3", "function": {"arguments": "not json"}},
            {"id": "c4", "function": {"name": "g", "arguments": "[1]"}},
            {"id": "c5", "index": 4, "function": null}]}),
            openai_usage.clone(),
        ),
        answer(
            json!({"role": "assistant", "content": "", "reasoning_content": "because"}),
            usage.clone(),
        ),
        answer(
            json!({"role": "assistant", "content": "x", "reasoning_content": ""}),
            json!({}),
        ),
    ];
    for (finish, id, model) in [
        ("length", "", ""),
        ("tool_calls", "msg_1", "m"),
        ("content_filter", "x", "m"),
        ("odd", "y", "m"),
    ] {
        let mut v = answer(
            json!({"role": "assistant", "content": "t"}),
            openai_usage.clone(),
        );
        v["choices"][0]["finish_reason"] = json!(finish);
        v["id"] = json!(id);
        v["model"] = json!(model);
        covered.push(v);
    }
    let mut v = answer(json!({"role": "assistant", "content": "t"}), usage.clone());
    v["choices"][0]["finish_reason"] = Value::Null;
    covered.push(v);
    for v in covered {
        for body in [compact(&v), serde_json::to_vec_pretty(&v).unwrap()] {
            assert!(
                agree_answer(&body, &ctx()),
                "the direct path did not answer for {}",
                String::from_utf8_lossy(&body)
            );
        }
    }
}

#[test]
fn other_answers_are_left_to_the_typed_path() {
    let usage = json!({"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3});
    let msg = json!({"role": "assistant", "content": "t"});
    let mut left = vec![
        // No usage (estimated), several or no choices, a count_tokens answer.
        answer(msg.clone(), Value::Null),
        json!({"id": "x", "choices": [{"index": 0, "message": msg}]}),
        json!({"id": "x", "choices": [], "usage": usage}),
        json!({"id": "x", "choices": [{"index": 0, "message": msg}, {"index": 1, "message": msg}], "usage": usage}),
        json!({"input_tokens": 12}),
        // Anthropic extensions, parts, refusals.
        answer(
            json!({"role": "assistant", "content": "t", "reasoning_signature": "s"}),
            usage.clone(),
        ),
        answer(
            json!({"role": "assistant", "content": "t", "thinking_blocks": []}),
            usage.clone(),
        ),
        answer(
            json!({"role": "assistant", "content": "", "refusal": "no"}),
            usage.clone(),
        ),
        answer(
            json!({"role": "assistant", "content": [{"type": "text", "text": "t"}]}),
            usage.clone(),
        ),
        answer(msg.clone(), json!({"prompt_tokens": 1, "estimated": true})),
        answer(
            msg.clone(),
            json!({"prompt_tokens": 1, "prompt_tokens_details": {"cache_creation_tokens": 1}}),
        ),
        // What the typed path refuses.
        answer(json!({"content": "t"}), usage.clone()),
        answer(json!({"role": "assistant", "content": 5}), usage.clone()),
        answer(msg.clone(), json!({"prompt_tokens": null})),
        answer(msg.clone(), json!({"prompt_tokens": -1})),
        answer(
            json!({"role": "assistant", "tool_calls": [{"id": 5}]}),
            usage.clone(),
        ),
        json!({"id": null, "choices": [{"index": 0, "message": msg}], "usage": usage}),
        json!({"id": "x", "created": 1.5, "choices": [{"index": 0, "message": msg}], "usage": usage}),
        json!({"id": "x", "choices": [{"index": -1, "message": msg}], "usage": usage}),
    ];
    let mut v = answer(msg.clone(), usage.clone());
    v["choices"][0]["stop_sequence"] = json!("END");
    left.push(v);
    for v in left {
        let body = compact(&v);
        assert!(
            direct::response_from_hub_bytes(&body, &ctx()).is_none(),
            "the direct path answered for {v}"
        );
    }
    for body in [
        &br#"{"id":"x","id":"y","choices":[],"usage":{}}"#[..],
        b"[]",
        b"{\"id\":\"\xff\"}",
    ] {
        assert!(direct::response_from_hub_bytes(body, &ctx()).is_none());
    }
}

#[test]
fn one_byte_edits_of_an_answer_are_translated_as_the_typed_path_does() {
    let body = compact(&answer(
        json!({"role": "assistant", "content": "hi", "reasoning_content": "r", "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]}),
        json!({"prompt_tokens": 5, "completion_tokens": 6, "total_tokens": 11,
            "prompt_tokens_details": {"cached_tokens": 2}}),
    ));
    let edits = one_byte_edits(&body);
    let direct = edits.iter().filter(|v| agree_answer(v, &ctx())).count();
    assert!(
        edits.len() > 1000 && direct * 2 > edits.len(),
        "{direct} of {}",
        edits.len()
    );
}

fn hub_answer() -> impl Strategy<Value = Value> {
    let call = (
        prop_oneof![Just(None), text().prop_map(Some)],
        prop_oneof![Just(None), text().prop_map(Some)],
        prop_oneof![
            Just(None),
            Just(Some("{\"a\": [1, \"x\"]}".to_owned())),
            Just(Some(String::new())),
            Just(Some(" {}".to_owned())),
            text().prop_map(Some)
        ],
    )
        .prop_map(|(id, name, arguments)| {
            let mut c = json!({"type": "function", "function": {}});
            if let Some(id) = id {
                c["id"] = json!(id);
            }
            if let Some(name) = name {
                c["function"]["name"] = json!(name);
            }
            if let Some(a) = arguments {
                c["function"]["arguments"] = json!(a);
            }
            c
        });
    let message = (
        prop_oneof![
            Just(Value::Null),
            text().prop_map(Value::String),
            Just(json!([{"type": "text", "text": "p"}]))
        ],
        proptest::collection::vec(call, 0..3),
        prop_oneof![3 => Just(None), 1 => text().prop_map(Some)],
        prop_oneof![3 => Just(Value::Null), 1 => Just(json!("refused"))],
    )
        .prop_map(|(content, calls, reasoning, refusal)| {
            let mut m = json!({"role": "assistant", "content": content, "refusal": refusal});
            if !calls.is_empty() {
                m["tool_calls"] = json!(calls);
            }
            if let Some(r) = reasoning {
                m["reasoning_content"] = json!(r);
            }
            m
        });
    let usage = prop_oneof![
        (0u64..1000, 0u64..1000).prop_map(
            |(p, c)| json!({"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c})
        ),
        (0u64..1000, 0u64..2000).prop_map(
            |(p, cached)| json!({"prompt_tokens": p, "completion_tokens": 1,
            "prompt_tokens_details": {"cached_tokens": cached}})
        ),
        Just(Value::Null),
    ];
    (
        text(),
        prop_oneof![Just("gpt".to_owned()), text()],
        message,
        prop_oneof![
            Just(json!("stop")),
            Just(json!("length")),
            Just(json!("tool_calls")),
            Just(Value::Null),
            text().prop_map(Value::String)
        ],
        usage,
    )
        .prop_map(|(id, model, message, finish, usage)| {
            answer(message, usage)
                .as_object()
                .cloned()
                .map(|mut o| {
                    o.insert("id".into(), json!(id));
                    o.insert("model".into(), json!(model));
                    o["choices"][0]["finish_reason"] = finish;
                    Value::Object(o)
                })
                .unwrap()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_answer_is_translated_as_the_typed_path_does(v in hub_answer(), pretty in any::<bool>()) {
        let body = if pretty { serde_json::to_vec_pretty(&v).unwrap() } else { compact(&v) };
        agree_answer(&body, &ctx());
    }
}

#[test]
fn the_generated_answers_often_take_the_direct_path() {
    let answered = taken(hub_answer(), agree_answer);
    assert!(answered > 200, "{answered} of 1000");
}
