//! Per-request plugin cost by language: a fresh instance per request
//! (`instances: fresh`) against a warm pooled one (`instances: reuse`).
//!
//! ```sh
//! scripts/build-examples.sh                   # the Python and JS example plugins
//! cargo bench -p sluice --bench languages
//! ```
//!
//! For each plugin it measures, through the host library exactly as the
//! gateway calls plugins:
//!
//! * `fresh`: lease (a new instance: instantiate the component, run nothing
//!   else) + one call + dropping the instance;
//! * `warm`: lease (a pooled instance) + one call + giving it back.
//!
//! The calls are the plugins' per-request work: `prepare` (hub request →
//! upstream request) for the providers, `check-request` (with a redaction,
//! so the rewrite path) for the guardrail. The built-in Rust `openai`
//! provider is the baseline. Before measuring, each plugin's first load
//! (compiling the component with Cranelift, cache bypassed) is timed once and
//! printed, with the component's size.
//!
//! `SLUICE_EXAMPLES_DIR` overrides where the example plugins are read from
//! (default: target/examples at the repository root).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use sluice::config::{InstanceMode, PluginSettings};
use sluice::plugin::bindings::types;
use sluice::plugin::version::{linker, load};
use sluice::plugin::{EngineSettings, PluginEngine, PluginVersion};

fn examples_dir() -> PathBuf {
    std::env::var_os("SLUICE_EXAMPLES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/examples"))
        })
}

fn example(name: &str) -> Vec<u8> {
    let path = examples_dir().join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; build the example plugins first with scripts/build-examples.sh",
            path.display()
        )
    })
}

fn builtin(name: &str) -> Vec<u8> {
    sluice::builtin::PLUGINS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, b)| b.to_vec())
        .unwrap_or_else(|| panic!("no built-in plugin {name}"))
}

fn request(body: &str) -> types::Request {
    types::Request {
        model: "llama3.2".into(),
        requested_model: "llama".into(),
        stream: false,
        client_dialect: "openai".into(),
        body_dialect: "openai".into(),
        headers: vec![types::Header {
            name: "content-type".into(),
            value: "application/json".into(),
        }],
        body: body.as_bytes().to_vec(),
        metadata: vec![
            ("request-id".into(), "req_bench".into()),
            ("provider".into(), "bench".into()),
        ],
    }
}

fn target() -> types::Target {
    types::Target {
        provider: "bench".into(),
        base_url: "http://127.0.0.1:11434".into(),
        api_key: String::new(),
        headers: vec![],
    }
}

/// A typical chat request: a system prompt, a few turns, sampling options.
const CHAT: &str = r#"{"model":"llama","messages":[
{"role":"system","content":"You are a concise assistant. Answer in one or two sentences."},
{"role":"user","content":"What is the capital of France?"},
{"role":"assistant","content":"Paris."},
{"role":"user","content":"And its population? My API key is sk-abcdefghijklmnopqrstuv, keep it secret."}],
"temperature":0.2,"top_p":0.9,"max_tokens":128,"stop":["\n\n"]}"#;

const REDACT_CONFIG: &str = r#"{"block":["ignore (all )?previous instructions"],"redact":["sk-[A-Za-z0-9]{16,}","\\b\\d{3}-\\d{2}-\\d{4}\\b"]}"#;

/// Loads `bytes` twice (once per instance strategy) on a shared engine.
struct Loaded {
    fresh: Arc<PluginVersion>,
    warm: Arc<PluginVersion>,
}

fn load_both(engine: &PluginEngine, name: &str, bytes: &[u8], config: &str) -> Loaded {
    let linker = linker(&engine.engine).expect("linker");
    let config: serde_json::Value = serde_json::from_str(config).unwrap();
    let settings = |mode: InstanceMode| {
        let config = config.clone();
        move |_: &str| PluginSettings {
            instances: mode,
            pool_size: 1,
            deadline: Duration::from_secs(10),
            config: config.clone(),
            ..PluginSettings::default()
        }
    };
    let fresh = load(engine, &linker, bytes, name, &settings(InstanceMode::Fresh))
        .unwrap_or_else(|e| panic!("loading {name}: {e}"));
    let warm = load(engine, &linker, bytes, name, &settings(InstanceMode::Reuse))
        .unwrap_or_else(|e| panic!("loading {name}: {e}"));
    Loaded { fresh, warm }
}

/// The first-load (compile) time with an empty cache, printed once.
fn report_first_load(name: &str, bytes: &[u8], config: &str) {
    let dir = std::env::temp_dir().join(format!("sluice-bench-cold-{}-{name}", std::process::id()));
    let engine = PluginEngine::new(&EngineSettings {
        max_instances: 16,
        max_memory: 256 << 20,
        cache_dir: dir.clone(),
    })
    .expect("engine");
    let linker = linker(&engine.engine).expect("linker");
    let config: serde_json::Value = serde_json::from_str(config).unwrap();
    let settings = move |_: &str| PluginSettings {
        instances: InstanceMode::Fresh,
        config: config.clone(),
        ..PluginSettings::default()
    };
    let started = Instant::now();
    load(&engine, &linker, bytes, name, &settings)
        .unwrap_or_else(|e| panic!("loading {name}: {e}"));
    let cold = started.elapsed();
    let started = Instant::now();
    load(&engine, &linker, bytes, name, &settings)
        .unwrap_or_else(|e| panic!("loading {name}: {e}"));
    let cached = started.elapsed();
    eprintln!(
        "{name}: component {:.1} MB; first load (compile) {:.2} s; load from the compile cache {:.0} ms",
        bytes.len() as f64 / 1e6,
        cold.as_secs_f64(),
        cached.as_secs_f64() * 1e3
    );
    let _ = std::fs::remove_dir_all(dir);
}

type Call = fn(&mut sluice::plugin::Lease);

fn prepare_call(lease: &mut sluice::plugin::Lease) {
    let mut req = request(CHAT);
    let out = lease.prepare(&mut req, &target()).expect("prepare");
    std::hint::black_box(out);
}

fn check_request_call(lease: &mut sluice::plugin::Lease) {
    let mut req = request(CHAT);
    let out = lease.check_request(&mut req).expect("check-request");
    assert!(
        matches!(out, types::Verdict::Rewrite(_)),
        "the request has a secret to redact"
    );
    std::hint::black_box(out);
}

fn bench_plugin(
    c: &mut Criterion,
    engine: &PluginEngine,
    label: &str,
    bytes: &[u8],
    config: &str,
    call: Call,
) {
    report_first_load(label, bytes, config);
    let loaded = load_both(engine, label, bytes, config);
    let mut group = c.benchmark_group(label);
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    group.bench_function("fresh: instantiate + call", |b| {
        b.iter_batched(
            || (),
            |()| {
                let mut lease = loaded.fresh.lease().expect("lease");
                call(&mut lease);
                drop(lease);
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("warm: pooled instance + call", |b| {
        b.iter(|| {
            let mut lease = loaded.warm.lease().expect("lease");
            call(&mut lease);
            drop(lease);
        })
    });
    group.finish();
}

fn languages(c: &mut Criterion) {
    let cache = std::env::temp_dir().join(format!("sluice-bench-cache-{}", std::process::id()));
    let engine = PluginEngine::new(&EngineSettings {
        max_instances: 64,
        max_memory: 256 << 20,
        cache_dir: cache.clone(),
    })
    .expect("engine");
    bench_plugin(
        c,
        &engine,
        "rust openai (built-in, baseline) prepare",
        &builtin("openai"),
        "{}",
        prepare_call,
    );
    bench_plugin(
        c,
        &engine,
        "python ollama-native prepare",
        &example("ollama-native"),
        "{}",
        prepare_call,
    );
    bench_plugin(
        c,
        &engine,
        "js redact-guardrail check-request",
        &example("redact-guardrail"),
        REDACT_CONFIG,
        check_request_call,
    );
    let _ = std::fs::remove_dir_all(cache);
}

criterion_group!(benches, languages);
criterion_main!(benches);
