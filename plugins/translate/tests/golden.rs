//! Golden tests: fixtures written from the public API documentation of each
//! dialect (requests, responses, streams), converted in every direction and
//! compared with the expected JSON in `fixtures/expected/`.
//!
//! Regenerate the expected files with `BLESS=1 cargo test -p translate`
//! (and review the diff).

mod common;

use common::{ctx, events_json, golden, json, sse};
use serde_json::Value;
use sluice_sdk::Event;
use sluice_sdk::hub::ChatResponse;
use translate::Ctx;
use translate::{anthropic, gemini};

fn hub_resp(path: &str) -> ChatResponse {
    serde_json::from_value(json(path)).unwrap()
}

fn v<T: serde::Serialize>(x: T) -> Value {
    serde_json::to_value(x).unwrap()
}

fn ctx_for(provider: &str) -> Ctx {
    Ctx {
        provider_dialect: Some(provider.into()),
        ..ctx()
    }
}

// ---- requests: hub → provider ----------------------------------------------

#[test]
fn openai_requests_to_anthropic() {
    for name in ["request_basic", "request_tools_history"] {
        let body = serde_json::to_vec(&json(&format!("openai/{name}.json"))).unwrap();
        let hub = translate::thinking::hub_request_for(&body, "anthropic").unwrap();
        let out = anthropic::hub_to_anthropic(hub, &ctx()).unwrap();
        golden(&format!("openai_{name}__anthropic"), &v(out));
    }
}

#[test]
fn openai_requests_to_gemini() {
    for name in ["request_basic", "request_tools_history"] {
        let body = serde_json::to_vec(&json(&format!("openai/{name}.json"))).unwrap();
        let hub = translate::thinking::hub_request_for(&body, "gemini").unwrap();
        let out = gemini::hub_to_gemini(hub, &ctx()).unwrap();
        golden(&format!("openai_{name}__gemini"), &v(out));
    }
}

// ---- requests: client dialect → hub ----------------------------------------

#[test]
fn anthropic_requests_to_hub() {
    for name in ["request_basic", "request_tool_loop"] {
        let req: anthropic::MessagesRequest =
            serde_json::from_value(json(&format!("anthropic/{name}.json"))).unwrap();
        // For an Anthropic-capable provider (extensions kept) and for a plain
        // OpenAI provider (extensions dropped).
        let out = anthropic::anthropic_to_hub(req.clone(), &ctx_for("gemini")).unwrap();
        golden(&format!("anthropic_{name}__hub"), &v(out));
        if name == "request_tool_loop" {
            let out = anthropic::anthropic_to_hub(req, &ctx_for("openai")).unwrap();
            golden(&format!("anthropic_{name}__hub_for_openai"), &v(out));
        }
    }
}

#[test]
fn gemini_requests_to_hub() {
    for name in ["request_basic", "request_function_history"] {
        let req: gemini::GenerateContentRequest =
            serde_json::from_value(json(&format!("gemini/{name}.json"))).unwrap();
        let out = gemini::gemini_to_hub(req, &ctx_for("anthropic")).unwrap();
        golden(&format!("gemini_{name}__hub"), &v(out));
    }
}

// ---- requests across dialects (client → hub → provider) ---------------------

#[test]
fn anthropic_requests_to_gemini() {
    let req: anthropic::MessagesRequest =
        serde_json::from_value(json("anthropic/request_tool_loop.json")).unwrap();
    let hub = anthropic::anthropic_to_hub(req, &ctx_for("gemini")).unwrap();
    let body = serde_json::to_vec(&hub).unwrap();
    let hub = translate::thinking::hub_request_for(&body, "gemini").unwrap();
    let out = gemini::hub_to_gemini(hub, &ctx()).unwrap();
    golden("anthropic_request_tool_loop__gemini", &v(out));
}

#[test]
fn gemini_requests_to_anthropic() {
    for name in ["request_basic", "request_function_history"] {
        let req: gemini::GenerateContentRequest =
            serde_json::from_value(json(&format!("gemini/{name}.json"))).unwrap();
        let hub = gemini::gemini_to_hub(req, &ctx_for("anthropic")).unwrap();
        let body = serde_json::to_vec(&hub).unwrap();
        let hub = translate::thinking::hub_request_for(&body, "anthropic").unwrap();
        let out = anthropic::hub_to_anthropic(hub, &ctx());
        match out {
            Ok(out) => golden(&format!("gemini_{name}__anthropic"), &v(out)),
            // The basic request has a Gemini file URI, which Anthropic cannot fetch.
            Err(e) => golden(
                &format!("gemini_{name}__anthropic"),
                &serde_json::json!({"error": e.message, "status": e.status}),
            ),
        }
    }
}

// ---- responses --------------------------------------------------------------

#[test]
fn anthropic_responses_to_hub_and_back() {
    for name in ["response_text", "response_tool_use"] {
        let resp: anthropic::MessagesResponse =
            serde_json::from_value(json(&format!("anthropic/{name}.json"))).unwrap();
        let hub = anthropic::response_to_hub(resp, &ctx(), 0);
        golden(&format!("anthropic_{name}__hub"), &v(&hub));
        // ... and on to a Gemini client.
        let g = gemini::response_from_hub(hub, &ctx(), 0);
        golden(&format!("anthropic_{name}__gemini"), &v(g));
    }
}

#[test]
fn gemini_responses_to_hub_and_on() {
    for name in ["response_text", "response_function_call"] {
        let resp: gemini::GenerateContentResponse =
            serde_json::from_value(json(&format!("gemini/{name}.json"))).unwrap();
        let hub = gemini::response_to_hub(resp, &ctx(), 0);
        golden(&format!("gemini_{name}__hub"), &v(&hub));
        let a = anthropic::response_from_hub(hub, &ctx(), 0);
        golden(&format!("gemini_{name}__anthropic"), &v(a));
    }
}

#[test]
fn openai_responses_to_clients() {
    for name in ["response_text", "response_tool_calls"] {
        let a = anthropic::response_from_hub(hub_resp(&format!("openai/{name}.json")), &ctx(), 0);
        golden(&format!("openai_{name}__anthropic"), &v(a));
        let g = gemini::response_from_hub(hub_resp(&format!("openai/{name}.json")), &ctx(), 0);
        golden(&format!("openai_{name}__gemini"), &v(g));
    }
}

// ---- streams ----------------------------------------------------------------

fn anthropic_to_hub(path: &str, include_usage: bool) -> Vec<Event> {
    let mut m = anthropic::AnthropicToHub::new(&ctx(), include_usage, 0);
    let evs = sse(path);
    let mut out = Vec::new();
    for e in &evs {
        out.extend(m.push(e).unwrap());
    }
    out.extend(m.finish().unwrap());
    out
}

fn gemini_to_hub(path: &str, include_usage: bool) -> Vec<Event> {
    let mut m = gemini::GeminiToHub::new(&ctx(), include_usage, 0);
    let evs = sse(path);
    let mut out = Vec::new();
    for e in &evs {
        out.extend(m.push(e).unwrap());
    }
    out.extend(m.finish().unwrap());
    out
}

fn hub_to_anthropic(evs: Vec<Event>) -> Vec<Event> {
    let mut enc = anthropic::HubToAnthropic::new(&ctx(), 0);
    let mut out: Vec<Event> = evs.iter().flat_map(|e| enc.push(e).unwrap()).collect();
    out.extend(enc.finish().unwrap());
    out
}

fn hub_to_gemini(evs: Vec<Event>) -> Vec<Event> {
    let mut enc = gemini::HubToGemini::new(&ctx(), 0);
    let mut out = Vec::new();
    for e in &evs {
        out.extend(enc.push(e).unwrap());
    }
    out.extend(enc.finish().unwrap());
    out
}

#[test]
fn anthropic_streams_to_hub_and_gemini() {
    for name in [
        "stream_text",
        "stream_tool_use",
        "stream_thinking",
        "stream_error",
    ] {
        let hub = anthropic_to_hub(&format!("anthropic/{name}.sse"), true);
        golden(&format!("anthropic_{name}__hub"), &events_json(&hub));
        golden(
            &format!("anthropic_{name}__gemini"),
            &events_json(&hub_to_gemini(hub)),
        );
    }
}

#[test]
fn gemini_streams_to_hub_and_anthropic() {
    for name in ["stream_text", "stream_function_call", "stream_error"] {
        let hub = gemini_to_hub(&format!("gemini/{name}.sse"), true);
        golden(&format!("gemini_{name}__hub"), &events_json(&hub));
        let a = hub_to_anthropic(hub);
        common::check_anthropic_stream(&a);
        golden(&format!("gemini_{name}__anthropic"), &events_json(&a));
    }
}

#[test]
fn openai_streams_to_clients() {
    for name in ["stream_text", "stream_tool_calls"] {
        let evs = sse(&format!("openai/{name}.sse"));
        let a = hub_to_anthropic(evs.clone());
        common::check_anthropic_stream(&a);
        golden(&format!("openai_{name}__anthropic"), &events_json(&a));
        golden(
            &format!("openai_{name}__gemini"),
            &events_json(&hub_to_gemini(evs)),
        );
    }
}

#[test]
fn stream_without_include_usage_has_no_usage_chunk() {
    let hub = anthropic_to_hub("anthropic/stream_text.sse", false);
    assert!(hub.iter().all(|e| !e.data.contains("\"usage\"")));
    let hub = gemini_to_hub("gemini/stream_text.sse", false);
    assert!(hub.iter().all(|e| !e.data.contains("\"usage\"")));
}
