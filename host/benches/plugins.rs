//! Plugin runtime microbenchmarks, through the host library exactly as the
//! gateway calls plugins, on the built-in plugins' .wasm (embedded in the
//! library: `sluice::builtin::PLUGINS`).
//!
//! ```sh
//! cargo bench -p sluice --bench plugins
//! ```
//!
//! - `fresh_instance`: a lease on the `openai` plugin configured
//!   `instances: fresh`, i.e. a new instance from its `InstancePre` (store,
//!   instantiation, export lookup), dropped at once;
//! - `lease_reuse`: a lease from the warm pool and its return;
//! - `prepare_1KiB`, `prepare_64KiB`: `adapter.prepare` of the `openai`
//!   plugin on a warm instance with a 1 KiB and a 64 KiB chat request;
//! - `stream_event`: one upstream chunk through the `openai` stream mapper
//!   (`StreamSlot::event` with `StreamStage::Adapter`);
//! - `chain/*`: the translation chain's calls one by one on warm instances
//!   (an Anthropic request of ~1.1 KiB with `thinking` and a
//!   tool_use/tool_result turn: `anthropic` decode, `tool-result-normalizer`,
//!   `thinking-translator`, `openai` prepare, `anthropic` encode of a
//!   0.6 KiB answer), `transform_noop_1KiB` (a transform call that returns at
//!   once: the floor of a call), and `all_stages` (the five calls in a row,
//!   as one request makes them).
//! - `agent/*`: the same chain's request with 24 more tools (~85 KiB, the
//!   size coding agents send: mostly tool schemas): the `anthropic` decode,
//!   the four request-side calls in a row (`request_stages`), and the hub
//!   request translated for an Anthropic provider (`anthropic_prepare`).
//!
//! bench/run.sh runs this and puts the figures in docs/benchmarks.md.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use sluice::config::{InstanceMode, PluginSettings};
use sluice::plugin::bindings::types;
use sluice::plugin::version::{StreamStage, linker, load};
use sluice::plugin::{EngineSettings, PluginEngine, PluginVersion};

fn builtin(name: &str) -> &'static [u8] {
    sluice::builtin::PLUGINS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, b)| *b)
        .unwrap_or_else(|| panic!("no built-in plugin {name}"))
}

/// An OpenAI chat request body of about `size` bytes.
fn chat_body(size: usize, stream: bool) -> Vec<u8> {
    let sentence = "Please summarise the following notes and list the open questions. ";
    let mut messages = vec![serde_json::json!({
        "role": "system",
        "content": "You are a helpful assistant. Answer concisely.",
    })];
    loop {
        let v = serde_json::json!({
            "model": "gpt-4o-mini",
            "messages": messages,
            "temperature": 0.2,
            "max_tokens": 512,
            "stream": stream,
        });
        let body = serde_json::to_vec(&v).expect("json");
        if body.len() >= size {
            return body;
        }
        let room = size - body.len();
        let role = if messages.len() % 2 == 1 {
            "user"
        } else {
            "assistant"
        };
        // ~30 bytes of message overhead; fill the rest with text.
        let text: String = sentence
            .repeat(room / sentence.len() + 1)
            .chars()
            .take(room.saturating_sub(30).clamp(1, 2000))
            .collect();
        messages.push(serde_json::json!({"role": role, "content": text}));
    }
}

fn request(body: Vec<u8>, stream: bool) -> types::Request {
    types::Request {
        model: "gpt-4o-mini".into(),
        requested_model: "fast".into(),
        stream,
        client_dialect: "openai".into(),
        body_dialect: "openai".into(),
        headers: vec![
            types::Header {
                name: "content-type".into(),
                value: "application/json".into(),
            },
            types::Header {
                name: "user-agent".into(),
                value: "bench/1.0".into(),
            },
        ],
        body,
        metadata: vec![
            ("request-id".into(), "req_bench0001".into()),
            ("provider".into(), "openai".into()),
        ],
    }
}

fn target() -> types::Target {
    types::Target {
        provider: "openai".into(),
        base_url: "http://127.0.0.1:9/v1".into(),
        api_key: "sk-bench-upstream-key".into(),
        headers: vec![],
    }
}

const CHUNK: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":" token"},"finish_reason":null}]}"#;

fn load_openai(engine: &PluginEngine, mode: InstanceMode) -> Arc<PluginVersion> {
    load_builtin(engine, "openai", mode)
}

fn load_builtin(engine: &PluginEngine, name: &str, mode: InstanceMode) -> Arc<PluginVersion> {
    let linker = linker(&engine.engine).expect("linker");
    let settings = move |_: &str| PluginSettings {
        instances: mode,
        ..PluginSettings::default()
    };
    load(
        engine,
        &linker,
        builtin(name),
        &format!("builtin:{name}"),
        &settings,
    )
    .unwrap_or_else(|e| panic!("load {name}: {e}"))
}

/// The Anthropic request of the benchmark's translation chain (~1.1 KiB:
/// a system prompt, `thinking`, a tool, a tool_use/tool_result turn), as
/// `bench-run` sends it: compact JSON.
fn anthropic_request() -> types::Request {
    let fixture: serde_json::Value =
        serde_json::from_str(include_str!("../../bench/bodies/anthropic-chain.json"))
            .expect("bench/bodies/anthropic-chain.json is JSON");
    let body = serde_json::to_vec(&fixture).expect("json");
    let mut req = request(body, false);
    req.client_dialect = "anthropic".into();
    req.body_dialect = "anthropic".into();
    req.metadata
        .push(("provider-dialect".into(), "openai".into()));
    req.metadata.push(("operation".into(), "chat".into()));
    req
}

/// The chain's request with 24 more tools of 12 parameters each (~85 KiB):
/// the shape of a coding agent's request, whose bulk is tool schemas.
fn agent_request() -> types::Request {
    let mut req = anthropic_request();
    let mut body: serde_json::Value = serde_json::from_slice(&req.body).expect("json");
    let tools = body["tools"].as_array_mut().expect("the fixture has tools");
    for i in 0..24 {
        let mut properties = serde_json::Map::new();
        for j in 0..12 {
            let kind = ["string", "integer", "array"][j % 3];
            properties.insert(
                format!("param_{i}_{j}"),
                serde_json::json!({
                    "type": kind,
                    "description": format!(
                        "Parameter {j} of tool {i}: the value the tool uses to decide what to do; \
                         must be set when the mode needs it and ignored otherwise."
                    ),
                    "items": {"type": "string", "enum": ["alpha", "beta", "gamma", "delta"]},
                    "minimum": 0,
                    "maximum": 1000,
                }),
            );
        }
        tools.push(serde_json::json!({
            "name": format!("tool_{i}"),
            "description": format!(
                "Tool number {i}, which does a thing in the workspace and returns its output as text."
            ),
            "input_schema": {
                "type": "object",
                "properties": properties,
                "required": [format!("param_{i}_0"), format!("param_{i}_1")],
                "additionalProperties": false,
                "$schema": "http://json-schema.org/draft-07/schema#",
            },
        }));
    }
    req.body = serde_json::to_vec(&body).expect("json");
    req
}

/// A hub (OpenAI) answer of about 0.6 KiB.
const ANSWER: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Sure. Here is a short answer to your question, written so that the response body has a realistic size for a chat completion: a few sentences of plain text, some punctuation, and nothing that needs escaping. The quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs. That is all."},"finish_reason":"stop"}],"usage":{"prompt_tokens":42,"completion_tokens":64,"total_tokens":106}}"#;

fn plugins(c: &mut Criterion) {
    let cache = std::env::temp_dir().join(format!("sluice-bench-plugins-{}", std::process::id()));
    let engine = PluginEngine::new(&EngineSettings {
        max_instances: 64,
        max_memory: 256 << 20,
        cache_dir: cache.clone(),
    })
    .expect("engine");
    let fresh = load_openai(&engine, InstanceMode::Fresh);
    let warm = load_openai(&engine, InstanceMode::Reuse);
    let target = target();
    let mut req_1k = request(chat_body(1024, false), false);
    let mut req_64k = request(chat_body(64 * 1024, false), false);
    let mut req_stream = request(chat_body(1024, true), true);
    let event = types::Event {
        event: None,
        data: CHUNK.into(),
    };

    let mut g = c.benchmark_group("plugins");
    g.warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(5));

    g.bench_function("fresh_instance", |b| {
        b.iter(|| {
            let lease = fresh.lease().expect("lease");
            black_box(&lease);
            drop(lease);
        })
    });

    g.bench_function("lease_reuse", |b| {
        b.iter(|| {
            let lease = warm.lease().expect("lease");
            black_box(&lease);
            drop(lease);
        })
    });

    // A warm instance held for the whole measurement, as one request holds it.
    let mut lease = warm.lease().expect("lease");
    assert!(matches!(
        lease.prepare(&mut req_1k, &target).expect("prepare"),
        types::Prepared::Forward(_)
    ));
    g.bench_function("prepare_1KiB", |b| {
        b.iter(|| {
            black_box(
                lease
                    .prepare(black_box(&mut req_1k), &target)
                    .expect("prepare"),
            )
        })
    });
    g.bench_function("prepare_64KiB", |b| {
        b.iter(|| {
            black_box(
                lease
                    .prepare(black_box(&mut req_64k), &target)
                    .expect("prepare"),
            )
        })
    });

    // One mapper per 4,096 events, so a mapper that keeps per-stream state
    // never grows without bound; the renewal is amortised away.
    let mut mapper = warm
        .open_stream(StreamStage::Adapter, &mut req_stream)
        .expect("stream mapper");
    let mut n = 0u32;
    g.bench_function("stream_event", |b| {
        b.iter(|| {
            n += 1;
            if n.is_multiple_of(4096) {
                mapper = warm
                    .open_stream(StreamStage::Adapter, &mut req_stream)
                    .expect("stream mapper");
            }
            black_box(mapper.event(black_box(&event)).expect("map event"))
        })
    });
    g.finish();
    drop(mapper);
    drop(lease);
    chain(c, &engine);
    agent(c, &engine);
    let _ = std::fs::remove_dir_all(cache);
}

/// The translation chain's plugins, warm: `anthropic`,
/// `tool_result_normalizer`, `thinking_translator`, `openai`.
fn chain_plugins(engine: &PluginEngine) -> [Arc<PluginVersion>; 4] {
    [
        load_builtin(engine, "anthropic", InstanceMode::Reuse),
        load_builtin(engine, "tool_result_normalizer", InstanceMode::Reuse),
        load_builtin(engine, "thinking_translator", InstanceMode::Reuse),
        load_openai(engine, InstanceMode::Reuse),
    ]
}

/// The stages of the translation chain one by one, on warm instances, with
/// the bodies each stage sees in the gateway: an Anthropic client's request
/// decoded to the hub, the two default transforms, the `openai` adapter, and
/// the hub answer encoded for the Anthropic client.
fn chain(c: &mut Criterion, engine: &PluginEngine) {
    let [anthropic, normalizer, thinking, openai] = chain_plugins(engine);
    let target = target();
    let mut req = anthropic_request();
    let (mut dec, mut norm, mut think, mut adapter) = (
        anthropic.lease().expect("lease"),
        normalizer.lease().expect("lease"),
        thinking.lease().expect("lease"),
        openai.lease().expect("lease"),
    );
    let mut anthropic_req = req.clone();
    req.body = dec.decode_request(&mut anthropic_req).expect("decode");
    req.body_dialect = "openai".into();
    let mut hub_req = req.clone();
    req.body = norm.transform_request(&mut hub_req).expect("normalize");
    req.body = think.transform_request(&mut req).expect("thinking");
    let answer = ANSWER.as_bytes().to_vec();

    let mut g = c.benchmark_group("chain");
    g.warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(4));
    g.bench_function("anthropic_decode_request", |b| {
        b.iter(|| {
            black_box(
                dec.decode_request(black_box(&mut anthropic_req))
                    .expect("decode"),
            )
        })
    });
    g.bench_function("tool_result_normalizer", |b| {
        b.iter(|| {
            black_box(
                norm.transform_request(black_box(&mut hub_req))
                    .expect("normalize"),
            )
        })
    });
    // A transform that returns at once (no tool call in the body): the
    // floor of any call with a 1 KiB request, the envelope in and out.
    let mut plain = request(chat_body(1024, false), false);
    g.bench_function("transform_noop_1KiB", |b| {
        b.iter(|| {
            black_box(
                norm.transform_request(black_box(&mut plain))
                    .expect("normalize"),
            )
        })
    });
    g.bench_function("thinking_translator", |b| {
        b.iter(|| {
            black_box(
                think
                    .transform_request(black_box(&mut hub_req))
                    .expect("thinking"),
            )
        })
    });
    g.bench_function("openai_prepare", |b| {
        b.iter(|| {
            black_box(
                adapter
                    .prepare(black_box(&mut req), &target)
                    .expect("prepare"),
            )
        })
    });
    g.bench_function("anthropic_encode_response", |b| {
        b.iter(|| {
            black_box(
                dec.encode_response(black_box(&mut req), black_box(&answer))
                    .expect("encode"),
            )
        })
    });
    // One hub chunk of a streamed answer encoded for the Anthropic client
    // (a text delta: a `content_block_delta` event), the per-event cost of
    // the chain; the openai adapter and both transforms pass events through.
    let mut stream_req = anthropic_req.clone();
    stream_req.stream = true;
    let chunk = types::Event {
        event: None,
        data: CHUNK.into(),
    };
    let mut open_encoder = || {
        let mut encoder = anthropic
            .open_stream(StreamStage::Ingress, &mut stream_req)
            .expect("stream encoder");
        // The first chunk opens the message and its text block.
        encoder.event(&chunk).expect("encode event");
        encoder
    };
    let mut encoder = open_encoder();
    let mut n = 0u32;
    g.bench_function("anthropic_encode_event", |b| {
        b.iter(|| {
            n += 1;
            if n.is_multiple_of(4096) {
                encoder = open_encoder();
            }
            black_box(encoder.event(black_box(&chunk)).expect("encode event"))
        })
    });
    drop(encoder);
    // The five calls in a row, as one request makes them: compare with the
    // sum of the stages above to see what alternating plugins costs (each
    // call touches another instance's memory and another plugin's code).
    g.bench_function("all_stages", |b| {
        b.iter(|| {
            black_box(
                dec.decode_request(black_box(&mut anthropic_req))
                    .expect("decode"),
            );
            black_box(
                norm.transform_request(black_box(&mut hub_req))
                    .expect("normalize"),
            );
            black_box(
                think
                    .transform_request(black_box(&mut hub_req))
                    .expect("thinking"),
            );
            black_box(
                adapter
                    .prepare(black_box(&mut req), &target)
                    .expect("prepare"),
            );
            black_box(
                dec.encode_response(black_box(&mut req), black_box(&answer))
                    .expect("encode"),
            )
        })
    });
    g.finish();
}

/// The request side of the chain with an agent-size request (~85 KiB), and
/// the same request translated for an Anthropic provider.
fn agent(c: &mut Criterion, engine: &PluginEngine) {
    let [anthropic, normalizer, thinking, openai] = chain_plugins(engine);
    let target = target();
    let (mut dec, mut norm, mut think, mut adapter, mut to_anthropic) = (
        anthropic.lease().expect("lease"),
        normalizer.lease().expect("lease"),
        thinking.lease().expect("lease"),
        openai.lease().expect("lease"),
        anthropic.lease().expect("lease"),
    );
    let mut agent_req = agent_request();
    let mut hub_req = agent_req.clone();
    hub_req.body = dec.decode_request(&mut agent_req).expect("decode");
    hub_req.body_dialect = "openai".into();
    // As an OpenAI client's request to an Anthropic provider.
    let mut for_anthropic = hub_req.clone();
    for_anthropic.client_dialect = "openai".into();
    assert!(matches!(
        to_anthropic
            .prepare(&mut for_anthropic, &target)
            .expect("prepare"),
        types::Prepared::Forward(_)
    ));

    let mut g = c.benchmark_group("agent");
    g.warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(4));
    g.bench_function("anthropic_decode_request", |b| {
        b.iter(|| {
            black_box(
                dec.decode_request(black_box(&mut agent_req))
                    .expect("decode"),
            )
        })
    });
    g.bench_function("request_stages", |b| {
        b.iter(|| {
            let mut req = hub_req.clone();
            req.body = dec
                .decode_request(black_box(&mut agent_req))
                .expect("decode");
            req.body = norm.transform_request(&mut req).expect("normalize");
            req.body = think.transform_request(&mut req).expect("thinking");
            black_box(adapter.prepare(&mut req, &target).expect("prepare"))
        })
    });
    g.bench_function("anthropic_prepare", |b| {
        b.iter(|| {
            black_box(
                to_anthropic
                    .prepare(black_box(&mut for_anthropic), &target)
                    .expect("prepare"),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, plugins);
criterion_main!(benches);
