//! Stream properties: every started Anthropic block stops exactly once,
//! tool call argument deltas reassemble to the original JSON, invalid
//! arguments do not crash, in randomly generated streams (a small
//! deterministic generator, no extra dependencies) and edge cases.

mod common;

use common::{check_anthropic_stream, ctx, hub_text, hub_tool_calls};
use serde_json::{Value, json};
use sluice_sdk::Event;
use translate::{anthropic, gemini};

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545F4914F6CDD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn word(&mut self) -> String {
        const WORDS: &[&str] = &[
            "alpha", "β", "gamma ", "\"q\"", "\\", "\n", "日本", "{", "}", "[1,2]", " ", "é",
        ];
        (0..=self.below(3))
            .map(|_| WORDS[self.below(WORDS.len() as u64) as usize])
            .collect()
    }
    /// A random JSON object of tool arguments.
    fn args(&mut self) -> Value {
        let mut o = serde_json::Map::new();
        for i in 0..self.below(4) {
            let v = match self.below(4) {
                0 => json!(self.word()),
                1 => json!(self.below(1000)),
                2 => json!([self.word(), self.below(5) == 0]),
                _ => json!({"nested": self.word(), "n": null}),
            };
            o.insert(format!("k{i}_{}", self.word()), v);
        }
        Value::Object(o)
    }
    /// `s` split into random fragments (on char boundaries).
    fn split(&mut self, s: &str) -> Vec<String> {
        let chars: Vec<char> = s.chars().collect();
        let mut out = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let n = 1 + self.below(6) as usize;
            out.push(chars[i..(i + n).min(chars.len())].iter().collect());
            i += n;
        }
        out
    }
}

fn chunk(delta: Value, finish: Option<&str>) -> Event {
    Event {
        event: None,
        data: json!({"id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 1, "model": "m",
                     "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        .to_string(),
    }
}

/// What a generated hub stream says.
#[derive(Default, Debug)]
struct Expect {
    text: String,
    reasoning: String,
    calls: Vec<(String, String, Value)>,
    error: bool,
}

/// A random hub stream: reasoning, text and tool calls (arguments split in
/// random fragments) in random order, a finish reason, maybe a usage chunk,
/// maybe an error in the middle.
fn random_hub_stream(rng: &mut Rng) -> (Vec<Event>, Expect) {
    let mut evs = vec![chunk(json!({"role": "assistant", "content": ""}), None)];
    let mut ex = Expect::default();
    let mut tool = 0;
    let segments = rng.below(7);
    let error_at = if rng.below(6) == 0 {
        Some(rng.below(segments + 1))
    } else {
        None
    };
    for seg in 0..segments {
        if error_at == Some(seg) {
            evs.push(Event {
                event: None,
                data: json!({"error": {"message": "boom", "type": "server_error"}}).to_string(),
            });
            ex.error = true;
            return (evs, ex);
        }
        match rng.below(4) {
            0 => {
                for _ in 0..=rng.below(3) {
                    let w = rng.word();
                    ex.reasoning.push_str(&w);
                    evs.push(chunk(json!({"reasoning_content": w}), None));
                }
                if rng.below(2) == 0 {
                    evs.push(chunk(json!({"reasoning_signature": "sig"}), None));
                }
            }
            1 | 2 => {
                for _ in 0..=rng.below(3) {
                    let w = rng.word();
                    ex.text.push_str(&w);
                    evs.push(chunk(json!({"content": w}), None));
                }
            }
            _ => {
                let args = rng.args();
                let text = args.to_string();
                let id = format!("call_{tool}");
                let name = format!("tool_{}", rng.below(3));
                // The first fragment may come with the id and name or after them.
                let frags = rng.split(&text);
                evs.push(chunk(json!({"tool_calls": [{"index": tool, "id": id, "type": "function",
                                                      "function": {"name": name, "arguments": ""}}]}), None));
                for f in frags {
                    evs.push(chunk(
                        json!({"tool_calls": [{"index": tool, "function": {"arguments": f}}]}),
                        None,
                    ));
                }
                ex.calls.push((id, name, args));
                tool += 1;
            }
        }
    }
    let finish = if tool > 0 {
        "tool_calls"
    } else {
        ["stop", "length", "content_filter"][rng.below(3) as usize]
    };
    evs.push(chunk(json!({}), Some(finish)));
    if rng.below(2) == 0 {
        evs.push(Event {
            event: None,
            data: json!({"id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 1, "model": "m",
                         "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}})
            .to_string(),
        });
    }
    (evs, ex)
}

fn encode_anthropic(evs: &[Event]) -> Vec<Event> {
    let mut enc = anthropic::HubToAnthropic::new(&ctx(), 100);
    let mut out: Vec<Event> = evs.iter().flat_map(|e| enc.push(e).unwrap()).collect();
    out.extend(enc.finish().unwrap());
    // A second finish adds nothing.
    assert!(enc.finish().unwrap().is_empty());
    out
}

#[test]
fn random_hub_streams_make_well_formed_anthropic_streams() {
    let mut rng = Rng(0x9E3779B97F4A7C15);
    for case in 0..500 {
        let (evs, ex) = random_hub_stream(&mut rng);
        let out = encode_anthropic(&evs);
        let blocks = check_anthropic_stream(&out);
        let text: String = blocks
            .values()
            .filter(|(t, _)| t == "text")
            .map(|(_, s)| s.as_str())
            .collect();
        let thinking: String = blocks
            .values()
            .filter(|(t, _)| t == "thinking")
            .map(|(_, s)| s.as_str())
            .collect();
        assert_eq!(text, ex.text, "case {case}");
        assert_eq!(thinking, ex.reasoning, "case {case}");
        let tools: Vec<Value> = blocks
            .values()
            .filter(|(t, _)| t == "tool_use")
            .map(|(_, s)| {
                serde_json::from_str(s).unwrap_or_else(|e| panic!("case {case}: {s}: {e}"))
            })
            .collect();
        let expected: Vec<Value> = ex.calls.iter().map(|c| c.2.clone()).collect();
        assert_eq!(tools, expected, "case {case}: tool inputs reassemble");
        let last: Value = serde_json::from_str(&out.last().unwrap().data).unwrap();
        assert_eq!(
            last["type"],
            if ex.error { "error" } else { "message_stop" },
            "case {case}"
        );
    }
}

#[test]
fn random_hub_streams_make_complete_gemini_calls() {
    let mut rng = Rng(12345);
    for case in 0..300 {
        let (evs, ex) = random_hub_stream(&mut rng);
        let mut enc = gemini::HubToGemini::new(&ctx(), 0);
        let mut out: Vec<Event> = evs.iter().flat_map(|e| enc.push(e).unwrap()).collect();
        out.extend(enc.finish().unwrap());
        let (mut text, mut thoughts, mut calls, mut finishes) =
            (String::new(), String::new(), Vec::new(), 0);
        for e in &out {
            assert!(e.event.is_none());
            let v: Value = serde_json::from_str(&e.data).unwrap();
            if v.get("error").is_some() {
                assert!(ex.error);
                assert_eq!(
                    e.data,
                    out.last().unwrap().data,
                    "case {case}: error is last"
                );
                continue;
            }
            let c = &v["candidates"][0];
            for p in c["content"]["parts"].as_array().into_iter().flatten() {
                if let Some(fc) = p.get("functionCall") {
                    calls.push((
                        fc["id"].as_str().unwrap().to_owned(),
                        fc["name"].as_str().unwrap().to_owned(),
                        fc["args"].clone(),
                    ));
                } else if p["thought"] == true {
                    thoughts.push_str(p["text"].as_str().unwrap());
                } else {
                    text.push_str(p["text"].as_str().unwrap());
                }
            }
            if c["finishReason"].is_string() {
                finishes += 1;
                assert!(
                    v["usageMetadata"].is_object(),
                    "case {case}: final chunk has usage"
                );
            }
        }
        assert_eq!(text, ex.text, "case {case}");
        assert_eq!(thoughts, ex.reasoning, "case {case}");
        if !ex.error {
            assert_eq!(finishes, 1, "case {case}");
            assert_eq!(calls, ex.calls, "case {case}");
        }
    }
}

/// A random, well-formed Anthropic stream and what it contains.
fn random_anthropic_stream(rng: &mut Rng) -> (Vec<Event>, String, Vec<Value>) {
    let ev = |name: &str, data: Value| Event {
        event: Some(name.into()),
        data: data.to_string(),
    };
    let mut evs = vec![ev(
        "message_start",
        json!({"type": "message_start", "message": {
        "id": "msg_r", "type": "message", "role": "assistant", "content": [], "model": "claude",
        "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 3, "output_tokens": 1}}}),
    )];
    let (mut text, mut inputs) = (String::new(), Vec::new());
    for index in 0..rng.below(6) {
        if rng.below(3) == 0 {
            evs.push(ev("ping", json!({"type": "ping"})));
        }
        match rng.below(3) {
            0 => {
                evs.push(ev("content_block_start", json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}})));
                for _ in 0..=rng.below(3) {
                    let w = rng.word();
                    text.push_str(&w);
                    evs.push(ev("content_block_delta", json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": w}})));
                }
            }
            1 => {
                evs.push(ev("content_block_start", json!({"type": "content_block_start", "index": index, "content_block": {"type": "thinking", "thinking": ""}})));
                evs.push(ev("content_block_delta", json!({"type": "content_block_delta", "index": index, "delta": {"type": "thinking_delta", "thinking": rng.word()}})));
                evs.push(ev("content_block_delta", json!({"type": "content_block_delta", "index": index, "delta": {"type": "signature_delta", "signature": "s"}})));
            }
            _ => {
                let args = rng.args();
                evs.push(ev("content_block_start", json!({"type": "content_block_start", "index": index, "content_block": {"type": "tool_use", "id": format!("toolu_{index}"), "name": "t", "input": {}}})));
                for f in std::iter::once(String::new()).chain(rng.split(&args.to_string())) {
                    evs.push(ev("content_block_delta", json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": f}})));
                }
                inputs.push(args);
            }
        }
        evs.push(ev(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        ));
    }
    let stop = if inputs.is_empty() {
        "end_turn"
    } else {
        "tool_use"
    };
    evs.push(ev("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": 9}})));
    evs.push(ev("message_stop", json!({"type": "message_stop"})));
    (evs, text, inputs)
}

#[test]
fn random_anthropic_streams_reassemble_through_the_hub() {
    let mut rng = Rng(777);
    for case in 0..300 {
        let (evs, text, inputs) = random_anthropic_stream(&mut rng);
        check_anthropic_stream(&evs);
        let mut m = anthropic::AnthropicToHub::new(&ctx(), true, 0);
        let mut hub: Vec<Event> = evs.iter().flat_map(|e| m.push(e).unwrap()).collect();
        hub.extend(m.finish().unwrap());
        assert_eq!(hub_text(&hub).0, text, "case {case}");
        let calls = hub_tool_calls(&hub);
        let args: Vec<Value> = calls
            .values()
            .map(|c| serde_json::from_str(&c.2).unwrap())
            .collect();
        assert_eq!(args, inputs, "case {case}: arguments reassemble");
        // Exactly one finish chunk and one usage chunk, in that order, last.
        let finishes: Vec<usize> = hub
            .iter()
            .enumerate()
            .filter(|(_, e)| e.data.contains("\"finish_reason\":\""))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(finishes.len(), 1, "case {case}");
        assert!(
            hub.last().unwrap().data.contains("\"choices\":[]"),
            "case {case}"
        );
        // And back to Anthropic: same structure.
        let back = encode_anthropic(&hub);
        let blocks = check_anthropic_stream(&back);
        let back_inputs: Vec<Value> = blocks
            .values()
            .filter(|(t, _)| t == "tool_use")
            .map(|(_, s)| serde_json::from_str(s).unwrap())
            .collect();
        assert_eq!(back_inputs, inputs, "case {case}");
    }
}

#[test]
fn invalid_tool_arguments_do_not_crash() {
    let bad = "{\"city\": \"Par";
    let evs = vec![
        chunk(
            json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": bad}}]}),
            None,
        ),
        chunk(json!({}), Some("tool_calls")),
    ];
    // Anthropic: the fragment goes through as is (the client's parser decides).
    let out = encode_anthropic(&evs);
    let blocks = check_anthropic_stream(&out);
    assert_eq!(blocks[&0], ("tool_use".to_owned(), bad.to_owned()));
    // Gemini: the call is sent whole, its arguments kept as {"_raw": ...}.
    let mut enc = gemini::HubToGemini::new(&ctx(), 0);
    let mut g: Vec<Event> = evs.iter().flat_map(|e| enc.push(e).unwrap()).collect();
    g.extend(enc.finish().unwrap());
    let last: Value = serde_json::from_str(&g.last().unwrap().data).unwrap();
    assert_eq!(
        last["candidates"][0]["content"]["parts"][0]["functionCall"]["args"],
        json!({"_raw": bad})
    );
    // Whole responses and requests too.
    let resp = json!({"id": "x", "object": "chat.completion", "created": 1, "model": "m", "choices": [{"index": 0,
        "message": {"role": "assistant", "content": null, "tool_calls": [{"id": "c", "type": "function",
        "function": {"name": "f", "arguments": bad}}]}, "finish_reason": "tool_calls"}]});
    let a = anthropic::response_from_hub(serde_json::from_value(resp.clone()).unwrap(), &ctx(), 0);
    assert_eq!(a.content[0].input, Some(json!({"_raw": bad}).into()));
    let gr = gemini::response_from_hub(serde_json::from_value(resp).unwrap(), &ctx(), 0);
    assert_eq!(
        gr.candidates[0].content.as_ref().unwrap().parts[0]
            .function_call
            .as_ref()
            .unwrap()
            .args,
        Some(json!({"_raw": bad}))
    );
    // ... and the raw text comes back unchanged through the hub.
    let back = anthropic::response_to_hub(a, &ctx(), 0);
    assert_eq!(
        back.choices[0].message.tool_calls.as_ref().unwrap()[0]
            .function
            .as_ref()
            .unwrap()
            .arguments
            .as_deref(),
        Some(bad)
    );
}

#[test]
fn upstream_garbage_is_an_error_not_a_panic() {
    let mut m = anthropic::AnthropicToHub::new(&ctx(), false, 0);
    let e = m
        .push(&Event {
            event: Some("content_block_delta".into()),
            data: "{not json".into(),
        })
        .unwrap_err();
    assert_eq!(e.status, 502);
    let mut g = gemini::GeminiToHub::new(&ctx(), false, 0);
    assert_eq!(
        g.push(&Event {
            event: None,
            data: "[".into()
        })
        .unwrap_err()
        .status,
        502
    );
    // Deltas for blocks that never started, unknown events: ignored.
    let ok = m
        .push(&Event {
            event: None,
            data: json!({"type": "content_block_delta", "index": 7,
        "delta": {"type": "input_json_delta", "partial_json": "{"}})
            .to_string(),
        })
        .unwrap();
    assert!(ok.iter().all(|e| !e.data.contains("tool_calls")));
    assert!(
        m.push(&Event {
            event: None,
            data: json!({"type": "brand_new_event"}).to_string()
        })
        .is_ok()
    );
}

#[test]
fn hub_events_that_are_not_plain_chunks_are_encoded_for_anthropic_clients() {
    let data = |d: &str| Event {
        event: None,
        data: d.into(),
    };
    // Text that is not JSON, and JSON that is not a chunk: errors naming it.
    let mut enc = anthropic::HubToAnthropic::new(&ctx(), 0);
    let e = enc.push(&data("{not json")).unwrap_err();
    assert_eq!(e.status, 502);
    assert!(
        e.message.contains("hub stream chunk is not valid JSON"),
        "{}",
        e.message
    );
    let e = enc.push(&data(r#"{"choices": 5}"#)).unwrap_err();
    assert!(
        e.message.contains("invalid hub stream chunk"),
        "{}",
        e.message
    );

    // A chunk whose `error` is not an object is a chunk.
    let mut enc = anthropic::HubToAnthropic::new(&ctx(), 0);
    let out = enc
        .push(&data(
            &json!({"error": "ignored", "choices": [{"index": 0, "delta": {"content": "hi \"there\""}}]})
                .to_string(),
        ))
        .unwrap();
    let names: Vec<_> = out.iter().map(|e| e.event.as_deref().unwrap()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta"
        ]
    );
    let delta: Value = serde_json::from_str(&out[2].data).unwrap();
    assert_eq!(
        delta,
        json!({"type": "content_block_delta", "index": 0,
               "delta": {"type": "text_delta", "text": "hi \"there\""}})
    );

    // An error chunk closes the open block, becomes `event: error` and ends
    // the message: nothing is sent after it.
    let out = enc
        .push(&data(
            &json!({"error": {"message": "overloaded", "type": "overloaded_error"}}).to_string(),
        ))
        .unwrap();
    let names: Vec<_> = out.iter().map(|e| e.event.as_deref().unwrap()).collect();
    assert_eq!(names, ["content_block_stop", "error"]);
    let err: Value = serde_json::from_str(&out[1].data).unwrap();
    assert_eq!(
        err,
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "overloaded"}})
    );
    assert!(
        enc.push(&data(
            &json!({"choices": [{"index": 0, "delta": {"content": "late"}}]}).to_string()
        ))
        .unwrap()
        .is_empty()
    );
    assert!(enc.finish().unwrap().is_empty());
}

#[test]
fn empty_hub_stream_still_makes_a_whole_anthropic_message() {
    let out = encode_anthropic(&[]);
    check_anthropic_stream(&out);
    let names: Vec<_> = out.iter().map(|e| e.event.clone().unwrap()).collect();
    assert_eq!(names, ["message_start", "message_delta", "message_stop"]);
}

#[test]
fn late_fragments_of_a_closed_tool_call_are_dropped_not_misplaced() {
    let evs = vec![
        chunk(
            json!({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f", "arguments": "{\"x\":"}}]}),
            None,
        ),
        chunk(
            json!({"tool_calls": [{"index": 1, "id": "b", "function": {"name": "g", "arguments": "{}"}}]}),
            None,
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}),
            None,
        ),
        chunk(json!({}), Some("tool_calls")),
    ];
    let out = encode_anthropic(&evs);
    let blocks = check_anthropic_stream(&out);
    assert_eq!(blocks.len(), 2);
}

#[test]
fn missing_usage_is_estimated_and_marked() {
    let evs = [
        chunk(json!({"content": "12345678"}), None),
        chunk(json!({}), Some("stop")),
    ];
    let mut enc = anthropic::HubToAnthropic::new(&ctx(), 40);
    let mut out: Vec<Event> = evs.iter().flat_map(|e| enc.push(e).unwrap()).collect();
    out.extend(enc.finish().unwrap());
    let delta: Value = serde_json::from_str(&out[out.len() - 2].data).unwrap();
    assert_eq!(
        delta["usage"],
        json!({"input_tokens": 10, "output_tokens": 2, "estimated": true})
    );

    // An Anthropic upstream that sends no usage: the hub usage chunk is estimated.
    let mut m = anthropic::AnthropicToHub::new(&ctx(), true, 12);
    let a = |d: Value| Event {
        event: None,
        data: d.to_string(),
    };
    let mut hub = Vec::new();
    for d in [
        json!({"type": "message_start", "message": {"id": "m", "type": "message", "role": "assistant", "content": [], "model": "c"}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hello"}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}}),
    ] {
        hub.extend(m.push(&a(d)).unwrap());
    }
    hub.extend(m.finish().unwrap());
    let usage: Value = serde_json::from_str(&hub.last().unwrap().data).unwrap();
    assert_eq!(
        usage["usage"],
        json!({"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5, "estimated": true})
    );
}
