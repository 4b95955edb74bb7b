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
//!   (`StreamSlot::event` with `StreamStage::Adapter`).
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
    let linker = linker(&engine.engine).expect("linker");
    let settings = move |_: &str| PluginSettings {
        instances: mode,
        ..PluginSettings::default()
    };
    load(
        engine,
        &linker,
        builtin("openai"),
        "builtin:openai",
        &settings,
    )
    .expect("load openai")
}

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
    let req_1k = request(chat_body(1024, false), false);
    let req_64k = request(chat_body(64 * 1024, false), false);
    let req_stream = request(chat_body(1024, true), true);
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
        lease.prepare(&req_1k, &target).expect("prepare"),
        types::Prepared::Forward(_)
    ));
    g.bench_function("prepare_1KiB", |b| {
        b.iter(|| black_box(lease.prepare(black_box(&req_1k), &target).expect("prepare")))
    });
    g.bench_function("prepare_64KiB", |b| {
        b.iter(|| {
            black_box(
                lease
                    .prepare(black_box(&req_64k), &target)
                    .expect("prepare"),
            )
        })
    });

    // One mapper per 4,096 events, so a mapper that keeps per-stream state
    // never grows without bound; the renewal is amortised away.
    let mut mapper = warm
        .open_stream(StreamStage::Adapter, &req_stream)
        .expect("stream mapper");
    let mut n = 0u32;
    g.bench_function("stream_event", |b| {
        b.iter(|| {
            n += 1;
            if n.is_multiple_of(4096) {
                mapper = warm
                    .open_stream(StreamStage::Adapter, &req_stream)
                    .expect("stream mapper");
            }
            black_box(mapper.event(black_box(&event)).expect("map event"))
        })
    });
    g.finish();
    drop(mapper);
    drop(lease);
    let _ = std::fs::remove_dir_all(cache);
}

criterion_group!(benches, plugins);
criterion_main!(benches);
