//! Hot reload and the plugin lifecycle: replacing a plugin under load,
//! refusing bad plugins and configs, streams finishing on the version they
//! started with, trap accounting, and the management API.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use sluice_tests::*;

const KEY: Option<&str> = Some("sk-test");

fn config(upstream: &str, stamp: &str, extra: &str) -> String {
    format!(
        r#"
api-keys: ["sk-test"]
remote-management:
  secret-key: mgmt-secret
plugins:
  dir: {{plugins}}
  cache-dir: {{cache}}
  settings:
    faults:
      deadline: 300ms
      config: {{ stamp: "{stamp}" }}
{extra}
providers:
  - name: faulty
    plugin: faults
    base-url: {upstream}
    models:
      - {{ name: f-ok, upstream: ok }}
      - {{ name: f-forward, upstream: forward }}
      - {{ name: f-trap, upstream: trap }}
"#
    )
}

/// Write plugin variant `n` and a config stamped `v{n}` (atomically, as a
/// deploy tool would: write aside, then rename).
fn deploy(gw: &TestGateway, cfg_path: &std::path::Path, upstream: &str, n: usize) {
    let wasm = std::fs::read(plugin_path("faults")).unwrap();
    let dir = gw.plugin_dir();
    let tmp = dir.join("faults.wasm.tmp");
    std::fs::write(&tmp, variant_of(&wasm, &format!("v{n}"))).unwrap();
    std::fs::rename(&tmp, dir.join("faults.wasm")).unwrap();
    let text = fill(&config(upstream, &format!("v{n}"), ""), &dir);
    let ctmp = cfg_path.with_extension("tmp");
    std::fs::write(&ctmp, text).unwrap();
    std::fs::rename(&ctmp, cfg_path).unwrap();
}

fn ids_of(got: &Got) -> Vec<String> {
    got.sse_data()
        .iter()
        .filter(|d| d.as_str() != "[DONE]")
        .map(|d| {
            serde_json::from_str::<Value>(d).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replacing_a_plugin_20_times_under_load_fails_no_request() {
    let up = MockUpstream::start(|_| Reply::json(200, json!({}))).await;
    let (gw, cfg) = TestGateway::start_file(&config(&up.base_url(), "v0", ""), &["faults"]).await;
    let url = gw.url("/v1/chat/completions");
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for c in 0..4 {
        let (url, stop, served) = (url.clone(), stop.clone(), served.clone());
        clients.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let stream = c % 2 == 0;
                let got = post(&url, KEY, &chat("f-ok", stream)).await;
                if got.status != 200 {
                    failures.push(format!("{}: {}", got.status, got.text()));
                    continue;
                }
                // One version produced the whole response.
                let ids = if stream {
                    ids_of(&got)
                } else {
                    vec![got.json()["id"].as_str().unwrap().to_string()]
                };
                let first = ids[0].clone();
                if ids.iter().any(|i| *i != first) {
                    failures.push(format!("mixed versions in one response: {ids:?}"));
                }
                served.fetch_add(1, Ordering::Relaxed);
            }
            failures
        }));
    }
    for n in 1..=20 {
        deploy(&gw, &cfg, &up.base_url(), n);
        let report = gw.gateway.reload("test");
        assert!(report.applied && report.problems.is_empty(), "{report:?}");
        // New requests now get the new version.
        let got = post(&url, KEY, &chat("f-ok", false)).await;
        assert_eq!(got.json()["id"], format!("chatcmpl-faults-v{n}"));
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        let failures = c.await.unwrap();
        assert!(failures.is_empty(), "{failures:?}");
    }
    assert!(served.load(Ordering::Relaxed) > 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_plugins_and_configs_never_replace_a_good_one() {
    let up = MockUpstream::start(|_| Reply::json(200, json!({}))).await;
    let (gw, cfg) = TestGateway::start_file(&config(&up.base_url(), "good", ""), &["faults"]).await;
    let url = gw.url("/v1/chat/completions");
    let dir = gw.plugin_dir();
    let good = std::fs::read(dir.join("faults.wasm")).unwrap();
    let still_good = |got: Got| {
        assert_eq!(got.status, 200, "{}", got.text());
        assert_eq!(got.json()["id"], "chatcmpl-faults-good");
    };

    // 1. A truncated file (a copy cut short).
    std::fs::write(dir.join("faults.wasm"), &good[..good.len() / 2]).unwrap();
    let r = gw.gateway.reload("test");
    assert!(
        r.problems
            .iter()
            .any(|p| p.contains("faults.wasm") && p.contains("keeps serving")),
        "{r:?}"
    );
    still_good(post(&url, KEY, &chat("f-ok", false)).await);

    // 2. A component of no sluice world (an empty component).
    std::fs::write(dir.join("faults.wasm"), b"\0asm\x0d\x00\x01\x00").unwrap();
    let r = gw.gateway.reload("test");
    assert!(
        r.problems
            .iter()
            .any(|p| p.contains("sluice:plugin/plugin")),
        "{r:?}"
    );
    still_good(post(&url, KEY, &chat("f-ok", false)).await);

    // 3. A plugin whose validate-config rejects its config.
    std::fs::write(dir.join("faults.wasm"), variant_of(&good, "new")).unwrap();
    let text = fill(&config(&up.base_url(), "good", ""), &dir)
        .replace("config: { stamp: \"good\" }", "config: { reject: true }");
    std::fs::write(&cfg, text).unwrap();
    let r = gw.gateway.reload("test");
    assert!(
        r.problems.iter().any(|p| p.contains("config says reject")),
        "{r:?}"
    );
    still_good(post(&url, KEY, &chat("f-ok", false)).await);

    // 4. A config that does not validate.
    std::fs::write(&cfg, "providers: [ {name: x} ]\nbogus-key: 1\n").unwrap();
    let r = gw.gateway.reload("test");
    assert!(r.problems.iter().any(|p| p.contains("bogus-key")), "{r:?}");
    still_good(post(&url, KEY, &chat("f-ok", false)).await);

    // The management API reports the last failure.
    let got = send(
        "GET",
        &gw.url("/v0/management/plugins"),
        &[("authorization", "Bearer mgmt-secret")],
        Bytes::new(),
    )
    .await;
    assert_eq!(got.status, 200);
    let v = got.json();
    assert!(!v["last_reload"]["problems"].as_array().unwrap().is_empty());
    let faults = v["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "faults")
        .unwrap();
    assert_eq!(faults["state"], "active");
    assert_eq!(faults["sha256"].as_str().unwrap().len(), 64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_opened_before_a_swap_finishes_on_the_old_version() {
    let mut parts = Vec::new();
    for i in 0..10 {
        parts.push(sse_data(&chunk(&format!("t{i}"))));
        parts.push(Part::Sleep(Duration::from_millis(60)));
    }
    parts.push(sse_data("[DONE]"));
    let up = MockUpstream::start(move |_| Reply::sse(parts.clone())).await;
    let (gw, cfg) = TestGateway::start_file(&config(&up.base_url(), "old", ""), &["faults"]).await;
    let req = hyper::Request::post(gw.url("/v1/chat/completions"))
        .header("authorization", "Bearer sk-test")
        .body(Full::new(Bytes::from(chat("f-forward", true).to_string())))
        .unwrap();
    let resp = client().request(req).await.unwrap();
    let mut body = resp.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("chatcmpl-faults-old"));
    // Swap while the stream is open.
    deploy(&gw, &cfg, &up.base_url(), 1);
    let r = gw.gateway.reload("test");
    assert!(r.applied, "{r:?}");
    let rest = body.collect().await.unwrap().to_bytes();
    let all = Got {
        status: 200,
        headers: Default::default(),
        body: [first, rest].concat().into(),
    };
    let ids = ids_of(&all);
    assert_eq!(ids.len(), 10);
    assert!(ids.iter().all(|i| i == "chatcmpl-faults-old"), "{ids:?}");
    assert_eq!(all.sse_data().last().unwrap(), "[DONE]");
    // New streams use the new version.
    let new = post(
        &gw.url("/v1/chat/completions"),
        KEY,
        &chat("f-forward", true),
    )
    .await;
    assert!(ids_of(&new).iter().all(|i| i == "chatcmpl-faults-v1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_file_in_the_directory_is_picked_up_by_the_watcher() {
    let up = MockUpstream::start(|_| Reply::json(200, json!({}))).await;
    let (gw, cfg) = TestGateway::start_file(&config(&up.base_url(), "w0", ""), &["faults"]).await;
    sluice::reload::watch(gw.gateway.clone()).unwrap();
    deploy(&gw, &cfg, &up.base_url(), 7);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let got = post(&gw.url("/v1/chat/completions"), KEY, &chat("f-ok", false)).await;
        assert_eq!(got.status, 200, "{}", got.text());
        if got.json()["id"] == "chatcmpl-faults-v7" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the watcher did not load the new plugin"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(gw.gateway.last_reload().unwrap().trigger, "watch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_traps_take_a_version_out_and_roll_back_to_the_previous_one() {
    let up = MockUpstream::start(|_| Reply::json(200, json!({}))).await;
    let extra = "      max-traps: 3\n      trap-window: 1m";
    let (gw, cfg) =
        TestGateway::start_file(&config(&up.base_url(), "v0", extra), &["faults"]).await;
    let url = gw.url("/v1/chat/completions");
    // Version 1 replaces version 0 (which becomes the roll-back target).
    deploy(&gw, &cfg, &up.base_url(), 1);
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace(
            "config: { stamp: \"v1\" }",
            &format!("config: {{ stamp: \"v1\" }}\n{extra}"),
        ),
    )
    .unwrap();
    assert!(gw.gateway.reload("test").applied);
    assert_eq!(
        post(&url, KEY, &chat("f-ok", false)).await.json()["id"],
        "chatcmpl-faults-v1"
    );
    for _ in 0..3 {
        assert_eq!(post(&url, KEY, &chat("f-trap", false)).await.status, 502);
    }
    // v1 is out of service; v0 serves again.
    let got = post(&url, KEY, &chat("f-ok", false)).await;
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(got.json()["id"], "chatcmpl-faults-v0");
    let m = send(
        "GET",
        &gw.url("/v0/management/plugins"),
        &[("x-management-key", "mgmt-secret")],
        Bytes::new(),
    )
    .await;
    let faults = m.json()["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "faults")
        .cloned()
        .unwrap();
    assert_eq!(faults["state"], "disabled");
    assert!(faults["traps"].as_u64().unwrap() >= 3);
    // The same is in the metrics.
    let metrics = get(&gw.url("/metrics"), None).await.text();
    assert!(
        metrics.contains(
            r#"sluice_plugin_traps_total{plugin="faults",version="0.1.0",state="disabled"} 3"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"sluice_reloads_total{result="applied"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"sluice_requests_total{route="chat_completions",status="502"} 3"#),
        "{metrics}"
    );
}

async fn mgmt(
    gw: &TestGateway,
    method: &str,
    what: &str,
    key: Option<&str>,
    peer: &str,
) -> (u16, Value) {
    let mut b = hyper::Request::builder()
        .method(method)
        .uri(format!("/v0/management/{what}"));
    if let Some(k) = key {
        b = b.header("authorization", format!("Bearer {k}"));
    }
    let resp = gw
        .gateway
        .clone()
        .handle(
            b.body(Full::new(Bytes::new())).unwrap(),
            Some(peer.parse().unwrap()),
        )
        .await;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn management_api_needs_the_key_and_loopback_and_locks_out_guessers() {
    let up = MockUpstream::start(|_| Reply::json(200, json!({}))).await;
    let (gw, _cfg) = TestGateway::start_file(&config(&up.base_url(), "m", ""), &["faults"]).await;
    let local = "127.0.0.1:40000";
    assert_eq!(mgmt(&gw, "GET", "plugins", None, local).await.0, 401);
    let (s, v) = mgmt(&gw, "GET", "config", Some("mgmt-secret"), local).await;
    assert_eq!(s, 200);
    assert_eq!(v["api-keys"][0], "***redacted***");
    assert_eq!(v["remote-management"]["secret-key"], "***redacted***");
    let (s, v) = mgmt(&gw, "POST", "reload", Some("mgmt-secret"), local).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["applied"], true);
    // Remote callers are refused even with the key.
    let (s, v) = mgmt(&gw, "GET", "plugins", Some("mgmt-secret"), "192.0.2.7:5000").await;
    assert_eq!(s, 403, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("allow-remote")
    );
    // Five wrong keys lock the address out, even for the right key.
    let guesser = "127.0.0.9:41000";
    for _ in 0..5 {
        assert_eq!(
            mgmt(&gw, "GET", "plugins", Some("wrong"), guesser).await.0,
            401
        );
    }
    let (s, v) = mgmt(&gw, "GET", "plugins", Some("mgmt-secret"), guesser).await;
    assert_eq!(s, 429, "{v}");
    // Other addresses are not affected.
    assert_eq!(
        mgmt(&gw, "GET", "plugins", Some("mgmt-secret"), local)
            .await
            .0,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn management_api_is_404_without_a_secret_key() {
    let gw = TestGateway::start(
        "providers: [{name: m, plugin: mock, models: [{name: mock}]}]\nplugins: {cache-dir: {cache}}\n",
        &[],
    )
    .await;
    let got = send(
        "GET",
        &gw.url("/v0/management/plugins"),
        &[("authorization", "Bearer x")],
        Bytes::new(),
    )
    .await;
    assert_eq!(got.status, 404);
}
