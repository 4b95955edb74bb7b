//! Round trips preserve meaning: hub → Anthropic → hub, Anthropic → hub →
//! Anthropic, Gemini → hub → Gemini, for requests, responses and streams.

mod common;

use common::{check_anthropic_stream, ctx, hub_text, hub_tool_calls, json, sse};
use serde_json::{Map, Value, json};
use sluice_sdk::Event;
use sluice_sdk::hub::ChatRequest;
use translate::{Ctx, anthropic, gemini};

/// Numbers as f64 so `1` and `1.0` compare equal.
fn norm_numbers(v: &Value) -> Value {
    match v {
        Value::Number(n) => json!(n.as_f64().unwrap()),
        Value::Array(a) => Value::Array(a.iter().map(norm_numbers).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), norm_numbers(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The meaning of a hub request: roles, texts, tool calls (arguments
/// parsed), results, reasoning, tools and the main settings.
fn meaning(req: &Value) -> Value {
    let text = |c: &Value| -> Value {
        match c {
            Value::String(s) => json!(s),
            Value::Array(parts) => {
                if parts.iter().all(|p| p["type"] == "text") {
                    json!(
                        parts
                            .iter()
                            .map(|p| p["text"].as_str().unwrap_or_default())
                            .collect::<Vec<_>>()
                            .join("\n")
                    )
                } else {
                    c.clone()
                }
            }
            Value::Null => json!(""),
            other => other.clone(),
        }
    };
    let messages: Vec<Value> = req["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let calls: Vec<Value> = m["tool_calls"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    let args = c["function"]["arguments"].as_str().unwrap_or_default();
                    json!({"id": c["id"], "name": c["function"]["name"],
                           "args": serde_json::from_str::<Value>(args).unwrap_or(json!(args))})
                })
                .collect();
            json!({
                "role": if m["role"] == "developer" { json!("system") } else { m["role"].clone() },
                "content": text(&m["content"]),
                "tool_calls": calls,
                "tool_call_id": m["tool_call_id"],
                "reasoning": m["reasoning_content"],
                "signature": m["reasoning_signature"],
                "is_error": m["is_error"].as_bool().unwrap_or(false),
            })
        })
        .collect();
    let tools: Vec<Value> = req["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            json!([
                t["function"]["name"],
                t["function"]["description"],
                t["function"]["parameters"]
            ])
        })
        .collect();
    let stop = match &req["stop"] {
        Value::String(s) => json!([s]),
        other => other.clone(),
    };
    norm_numbers(&json!({
        "messages": messages, "tools": tools, "tool_choice": req["tool_choice"],
        "temperature": req["temperature"], "top_p": req["top_p"], "stop": stop,
        "max": req.get("max_completion_tokens").or(req.get("max_tokens")),
        "user": req["user"], "stream": req["stream"],
    }))
}

#[test]
fn hub_to_anthropic_to_hub_requests_keep_their_meaning() {
    for name in ["request_basic", "request_tools_history"] {
        let mut original = json(&format!("openai/{name}.json"));
        // Settings Anthropic has no counterpart for are dropped on the way.
        for k in [
            "seed",
            "logprobs",
            "reasoning_effort",
            "stream_options",
            "parallel_tool_calls",
        ] {
            original.as_object_mut().unwrap().remove(k);
        }
        // Image `detail` has no Anthropic counterpart (dropped, documented).
        for m in original["messages"].as_array_mut().unwrap() {
            for p in m["content"].as_array_mut().into_iter().flatten() {
                if let Some(iu) = p.get_mut("image_url").and_then(Value::as_object_mut) {
                    iu.remove("detail");
                }
            }
        }
        let hub: ChatRequest = serde_json::from_value(original.clone()).unwrap();
        let a = anthropic::hub_to_anthropic(hub, &ctx()).unwrap();
        let back = anthropic::anthropic_to_hub(
            serde_json::from_value(serde_json::to_value(&a).unwrap()).unwrap(),
            &ctx(),
        )
        .unwrap();
        let back = serde_json::to_value(back).unwrap();
        let (mut m1, m2) = (meaning(&original), meaning(&back));
        // `strict` is dropped; the 'required' stays 'required'.
        m1["tools"] = m2["tools"].clone();
        assert_eq!(m1, m2, "{name}");
    }
}

/// A tool_result whose content is one plain text block comes back as a
/// string (same meaning).
fn flatten_single_text_results(v: &mut Value) {
    for m in v["messages"].as_array_mut().unwrap() {
        for b in m["content"].as_array_mut().into_iter().flatten() {
            if b["type"] == "tool_result"
                && let Some([only]) = b["content"].as_array().map(Vec::as_slice)
                && only["type"] == "text"
                && only.as_object().unwrap().len() == 2
            {
                b["content"] = only["text"].clone();
            }
        }
    }
}

#[test]
fn anthropic_to_hub_to_anthropic_requests_are_unchanged() {
    for name in ["request_basic", "request_tool_loop"] {
        let mut original = json(&format!("anthropic/{name}.json"));
        let req: anthropic::MessagesRequest = serde_json::from_value(original.clone()).unwrap();
        flatten_single_text_results(&mut original);
        let c = Ctx {
            model: "claude-sonnet-4-5".into(),
            ..ctx()
        };
        let hub = anthropic::anthropic_to_hub(req, &c).unwrap();
        let back = anthropic::hub_to_anthropic(hub, &c).unwrap();
        assert_eq!(
            norm_numbers(&serde_json::to_value(back).unwrap()),
            norm_numbers(&original),
            "{name}"
        );
    }
}

#[test]
fn gemini_to_hub_to_gemini_requests_keep_their_contents() {
    for name in ["request_basic", "request_function_history"] {
        let original: gemini::GenerateContentRequest =
            serde_json::from_value(json(&format!("gemini/{name}.json"))).unwrap();
        let hub = gemini::gemini_to_hub(original.clone(), &ctx()).unwrap();
        let back = gemini::hub_to_gemini(hub, &ctx()).unwrap();
        let (o, b) = (
            serde_json::to_value(&original).unwrap(),
            serde_json::to_value(&back).unwrap(),
        );
        for key in [
            "contents",
            "systemInstruction",
            "safetySettings",
            "toolConfig",
        ] {
            assert_eq!(
                norm_numbers(&o[key]),
                norm_numbers(&b[key]),
                "{name}: {key}"
            );
        }
        let (og, bg) = (&o["generationConfig"], &b["generationConfig"]);
        for key in [
            "temperature",
            "topP",
            "topK",
            "maxOutputTokens",
            "stopSequences",
            "responseModalities",
            "thinkingConfig",
            "responseMimeType",
        ] {
            assert_eq!(
                norm_numbers(&og[key]),
                norm_numbers(&bg[key]),
                "{name}: generationConfig.{key}"
            );
        }
        // Tool declarations: same names; the Google Search tool survives.
        let names = |v: &Value| -> Vec<Value> {
            v["tools"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|t| {
                    t["functionDeclarations"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                })
                .map(|d| d["name"].clone())
                .collect()
        };
        assert_eq!(names(&o), names(&b));
        assert_eq!(
            o["tools"]
                .as_array()
                .map(|t| t.iter().filter(|t| t.get("googleSearch").is_some()).count()),
            b["tools"]
                .as_array()
                .map(|t| t.iter().filter(|t| t.get("googleSearch").is_some()).count()),
        );
    }
}

#[test]
fn anthropic_responses_round_trip() {
    for name in ["response_text", "response_tool_use"] {
        let original = json(&format!("anthropic/{name}.json"));
        let resp: anthropic::MessagesResponse = serde_json::from_value(original.clone()).unwrap();
        let hub = anthropic::response_to_hub(resp, &ctx(), 0);
        let back = serde_json::to_value(anthropic::response_from_hub(hub, &ctx(), 0)).unwrap();
        for key in ["id", "content", "stop_reason", "stop_sequence", "model"] {
            assert_eq!(back[key], original[key], "{name}: {key}");
        }
        for key in [
            "input_tokens",
            "output_tokens",
            "cache_read_input_tokens",
            "cache_creation_input_tokens",
        ] {
            assert_eq!(
                back["usage"][key], original["usage"][key],
                "{name}: usage.{key}"
            );
        }
    }
}

#[test]
fn gemini_responses_round_trip() {
    for name in ["response_text", "response_function_call"] {
        let original: gemini::GenerateContentResponse =
            serde_json::from_value(json(&format!("gemini/{name}.json"))).unwrap();
        let o = serde_json::to_value(&original).unwrap();
        let hub = gemini::response_to_hub(original, &ctx(), 0);
        let mut back = serde_json::to_value(gemini::response_from_hub(hub, &ctx(), 0)).unwrap();
        // Synthesized call ids are added on the way; remove them to compare.
        for p in back["candidates"][0]["content"]["parts"]
            .as_array_mut()
            .unwrap()
        {
            if let Some(fc) = p.get_mut("functionCall").and_then(Value::as_object_mut) {
                fc.remove("id");
            }
        }
        assert_eq!(
            back["candidates"][0]["content"], o["candidates"][0]["content"],
            "{name}"
        );
        assert_eq!(
            back["candidates"][0]["finishReason"],
            o["candidates"][0]["finishReason"]
        );
        for key in [
            "promptTokenCount",
            "candidatesTokenCount",
            "totalTokenCount",
            "cachedContentTokenCount",
            "thoughtsTokenCount",
        ] {
            assert_eq!(
                back["usageMetadata"][key], o["usageMetadata"][key],
                "{name}: {key}"
            );
        }
        assert_eq!(back["responseId"], o["responseId"]);
    }
}

fn through<F: FnMut(&Event) -> Vec<Event>>(evs: &[Event], f: F) -> Vec<Event> {
    evs.iter().flat_map(f).collect()
}

fn signatures(evs: &[Event]) -> Vec<String> {
    evs.iter()
        .filter_map(|e| serde_json::from_str::<Value>(&e.data).ok())
        .filter_map(|v| v["delta"]["signature"].as_str().map(str::to_owned))
        .collect()
}

fn stop_and_usage(evs: &[Event]) -> (Value, Map<String, Value>) {
    let v: Value = evs
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(&e.data).ok())
        .find(|v| v["type"] == "message_delta")
        .unwrap();
    let mut usage = v["usage"].as_object().cloned().unwrap_or_default();
    usage.retain(|_, v| v != &json!(0));
    (v["delta"]["stop_reason"].clone(), usage)
}

#[test]
fn anthropic_streams_round_trip() {
    for name in ["stream_text", "stream_tool_use", "stream_thinking"] {
        let original = sse(&format!("anthropic/{name}.sse"));
        let mut m = anthropic::AnthropicToHub::new(&ctx(), true, 0);
        let mut hub = through(&original, |e| m.push(e).unwrap());
        hub.extend(m.finish().unwrap());
        let mut enc = anthropic::HubToAnthropic::new(&ctx(), 0);
        let mut back = through(&hub, |e| enc.push(e).unwrap());
        back.extend(enc.finish().unwrap());
        let blocks = check_anthropic_stream(&back);
        let original_blocks = check_anthropic_stream(&original);
        let strip =
            |b: &std::collections::BTreeMap<u64, (String, String)>| -> Vec<(String, String)> {
                b.values().cloned().collect()
            };
        assert_eq!(strip(&blocks), strip(&original_blocks), "{name}");
        assert_eq!(signatures(&back), signatures(&original), "{name}");
        let (s1, u1) = stop_and_usage(&original);
        let (s2, u2) = stop_and_usage(&back);
        assert_eq!(s1, s2, "{name}");
        assert_eq!(u1.get("output_tokens"), u2.get("output_tokens"), "{name}");
        assert_eq!(
            u1.get("cache_read_input_tokens"),
            u2.get("cache_read_input_tokens"),
            "{name}"
        );
    }
}

#[test]
fn gemini_streams_round_trip() {
    for name in ["stream_text", "stream_function_call"] {
        let original = sse(&format!("gemini/{name}.sse"));
        let mut m = gemini::GeminiToHub::new(&ctx(), true, 0);
        let mut hub = through(&original, |e| m.push(e).unwrap());
        hub.extend(m.finish().unwrap());
        let (text, reasoning) = hub_text(&hub);
        let mut enc = gemini::HubToGemini::new(&ctx(), 0);
        let mut back = through(&hub, |e| enc.push(e).unwrap());
        back.extend(enc.finish().unwrap());
        let collect = |evs: &[Event]| {
            let (mut t, mut r, mut calls, mut finish, mut usage) = (
                String::new(),
                String::new(),
                Vec::new(),
                Value::Null,
                Value::Null,
            );
            for e in evs {
                let v: Value = serde_json::from_str(&e.data).unwrap();
                let c = &v["candidates"][0];
                for p in c["content"]["parts"].as_array().into_iter().flatten() {
                    if let Some(fc) = p.get("functionCall") {
                        calls.push(json!([fc["name"], fc["args"]]));
                    } else if p["thought"] == true {
                        r.push_str(p["text"].as_str().unwrap());
                    } else if let Some(s) = p["text"].as_str() {
                        t.push_str(s);
                    }
                }
                if !c["finishReason"].is_null() {
                    finish = c["finishReason"].clone();
                }
                if !v["usageMetadata"].is_null() {
                    usage = json!([
                        v["usageMetadata"]["promptTokenCount"],
                        v["usageMetadata"]["totalTokenCount"]
                    ]);
                }
            }
            (t, r, calls, finish, usage)
        };
        let (o, b) = (collect(&original), collect(&back));
        assert_eq!(o, b, "{name}");
        assert_eq!((text, reasoning), (o.0.clone(), o.1.clone()));
        let calls = hub_tool_calls(&hub);
        assert_eq!(calls.len(), o.2.len());
    }
}
