//! Open streams share warm instances: many concurrent streams fit in a few
//! instances, and a trap in a shared instance ends the streams whose state
//! lived in it with an error event, never a hang or a fake `[DONE]`.

use std::time::Duration;

use sluice_tests::*;

const KEY: Option<&str> = Some("sk-test");

/// `max-instances` is far below one instance per stream and stage, so
/// these streams only fit when they share instances.
fn config(upstream: &str) -> String {
    format!(
        r#"
listen: 127.0.0.1:0
api-keys: ["sk-test"]
plugins:
  dir: {{plugins}}
  cache-dir: {{cache}}
  max-instances: 40
  defaults:
    pool-size: 1
    streams-per-instance: 50
providers:
  - name: up
    plugin: openai
    base-url: {upstream}
    models:
      - name: gpt-test
  - name: faulty
    plugin: faults
    base-url: {upstream}
    models:
      - {{ name: f-forward, upstream: forward }}
      - {{ name: f-stream-trap, upstream: stream-trap }}
"#
    )
}

/// The value of a gauge for one plugin in `/metrics`.
fn gauge(metrics: &str, name: &str, plugin: &str) -> Option<u64> {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && l.contains(&format!("plugin=\"{plugin}\"")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .reduce(|a, b| a + b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_open_streams_share_a_few_instances() {
    const STREAMS: usize = 300;
    let up = MockUpstream::start(|_| {
        Reply::sse(vec![
            sse_data(&chunk("first")),
            Part::Sleep(Duration::from_millis(600)),
            sse_data(&chunk("second")),
            sse_data("[DONE]"),
        ])
    })
    .await;
    let gw = TestGateway::start(&config(&up.base_url()), &["faults"]).await;
    let url = gw.url("/v1/chat/completions");
    let tasks: Vec<_> = (0..STREAMS)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { post(&url, KEY, &chat("f-forward", true)).await })
        })
        .collect();

    // While every stream is open (the upstream holds each for 600 ms), the
    // adapter's stream mapper (the `faults` forwarder: the built-in `openai`
    // adapter passes its streams through and opens none) holds the streams'
    // state in a handful of instances, not one per stream.
    let mut peak = 0;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(25)).await;
        let m = get(&gw.url("/metrics"), None).await.text();
        peak = peak.max(gauge(&m, "sluice_plugin_stream_instances", "faults").unwrap_or(0));
    }

    let mut done = 0;
    for t in tasks {
        let got = t.await.unwrap();
        assert_eq!(got.status, 200, "{}", got.text());
        let data = got.sse_data();
        assert_eq!(
            data,
            vec![chunk("first"), chunk("second"), "[DONE]".to_string()],
            "every stream gets every event"
        );
        done += 1;
    }
    assert_eq!(done, STREAMS);
    // 300 / 50 = 6 instances, plus a few when streams opening at the same
    // moment on both workers each start one; one per stream would be 300.
    assert!(
        (1..=2 * STREAMS.div_ceil(50)).contains(&(peak as usize)),
        "faults held {STREAMS} open streams in {peak} instances"
    );

    // Once the streams ended their instances went back to the warm pool.
    let m = get(&gw.url("/metrics"), None).await.text();
    assert_eq!(
        gauge(&m, "sluice_plugin_stream_instances", "faults"),
        Some(0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_in_a_shared_instance_ends_the_streams_in_it_with_an_error() {
    // `forward` streams slowly; `stream-trap` makes the shared mapper trap
    // on its third event while the slow stream is still open.
    let up = MockUpstream::start(|r| {
        if r.json()["model"] == "forward" {
            Reply::sse(vec![
                sse_data(&chunk("slow-1")),
                Part::Sleep(Duration::from_millis(800)),
                sse_data(&chunk("slow-2")),
                sse_data("[DONE]"),
            ])
        } else {
            Reply::sse(vec![
                sse_data(&chunk("a")),
                sse_data(&chunk("b")),
                sse_data(&chunk("c")),
                sse_data("[DONE]"),
            ])
        }
    })
    .await;
    let gw = TestGateway::start(&config(&up.base_url()), &["faults"]).await;
    let url = gw.url("/v1/chat/completions");
    let slow = {
        let url = url.clone();
        tokio::spawn(async move { post(&url, KEY, &chat("f-forward", true)).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let trapped = post(&url, KEY, &chat("f-stream-trap", true)).await;
    let data = trapped.sse_data();
    let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "plugin_trap", "{data:?}");

    // The slow stream shared the instance: it ends with an error event that
    // says why, not with a hang or a `[DONE]`.
    let got = tokio::time::timeout(Duration::from_secs(10), slow)
        .await
        .expect("the slow stream ended")
        .unwrap();
    let data = got.sse_data();
    assert_eq!(data[0], chunk("slow-1"));
    assert!(!data.contains(&"[DONE]".to_string()), "{data:?}");
    let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "plugin_trap", "{data:?}");
    let message = last["error"]["message"].as_str().unwrap();
    assert!(message.contains("faults"), "{message}");
    assert!(message.contains("sharing the instance"), "{message}");

    // Streams opened afterwards get a healthy instance.
    let again = post(&url, KEY, &chat("f-forward", true)).await;
    let data = again.sse_data();
    assert_eq!(
        data,
        vec![chunk("slow-1"), chunk("slow-2"), "[DONE]".to_string()]
    );
}
