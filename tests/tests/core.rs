//! The gateway core through its HTTP interface: OpenAI-compatible proxying
//! (streaming and not), auth, routing, errors, upstream failures,
//! cancellation, and plugin fault isolation.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use sluice_tests::*;

/// A config with an OpenAI-compatible provider at `upstream` and the
/// test-only `faults` provider.
fn config(upstream: &str) -> String {
    format!(
        r#"
listen: 127.0.0.1:0
api-keys: ["sk-test", "sk-other"]
limits:
  max-request-body: 16KiB
plugins:
  dir: {{plugins}}
  cache-dir: {{cache}}
  settings:
    faults:
      deadline: 300ms
      memory-limit: 48MiB
      recycle-memory: 16MiB
providers:
  - name: up
    plugin: openai
    base-url: {upstream}
    api-keys: ["sk-upstream"]
    headers:
      x-extra: yes-please
    models:
      - name: gpt-test
        alias: [fast, quick]
        upstream: gpt-upstream
  - name: faulty
    plugin: faults
    base-url: {upstream}
    models:
      - {{ name: f-ok, upstream: ok }}
      - {{ name: f-stdio, upstream: stdio }}
      - {{ name: f-trap, upstream: trap }}
      - {{ name: f-loop, upstream: loop }}
      - {{ name: f-hog, upstream: hog }}
      - {{ name: f-error, upstream: error }}
      - {{ name: f-stream-trap, upstream: stream-trap }}
"#
    )
}

async fn gateway(upstream: &MockUpstream) -> TestGateway {
    TestGateway::start(&config(&upstream.base_url()), &["faults"]).await
}

const KEY: Option<&str> = Some("sk-test");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_streaming_chat_is_proxied_with_model_and_auth_rewritten() {
    let up = MockUpstream::start(|_| Reply::json(200, completion("gpt-upstream", "Hi!"))).await;
    let gw = gateway(&up).await;
    let body = json!({"model": "fast", "messages": [{"role": "user", "content": "Hello"}],
        "temperature": 0.5, "some_new_field": {"nested": [1, 2, 3]}});
    let got = post(&gw.url("/v1/chat/completions"), KEY, &body).await;
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(got.json(), completion("gpt-upstream", "Hi!"));
    assert!(got.headers.get("x-request-id").is_some());

    let reqs = up.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/v1/chat/completions");
    assert_eq!(r.header("authorization"), Some("Bearer sk-upstream"));
    assert_eq!(r.header("x-extra"), Some("yes-please"));
    let sent = r.json();
    assert_eq!(sent["model"], "gpt-upstream");
    assert_eq!(sent["temperature"], 0.5);
    assert_eq!(sent["some_new_field"], json!({"nested": [1, 2, 3]}));
    assert_eq!(sent["messages"], body["messages"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_chat_relays_every_event_then_done() {
    let up = MockUpstream::start(|_| {
        Reply::sse(vec![
            sse_data(&chunk("Hel")),
            // An event split across writes, with CRLF line ends and a comment.
            Part::Bytes(Bytes::from(": keep-alive\r\n\r\ndata: ")),
            Part::Bytes(Bytes::from(format!("{}\r\n\r\n", chunk("lo")))),
            sse_data(&chunk("!")),
            sse_data("[DONE]"),
        ])
    })
    .await;
    let gw = gateway(&up).await;
    let got = post(
        &gw.url("/v1/chat/completions"),
        KEY,
        &chat("gpt-test", true),
    )
    .await;
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(
        got.headers.get("content-type").unwrap(),
        "text/event-stream"
    );
    let data = got.sse_data();
    assert_eq!(
        data,
        vec![chunk("Hel"), chunk("lo"), chunk("!"), "[DONE]".to_string()]
    );
    assert_eq!(up.requests()[0].json()["stream"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_chunk_is_relayed_when_requested() {
    let usage = json!({"id": "x", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}});
    let u2 = usage.clone();
    let up = MockUpstream::start(move |r| {
        assert_eq!(r.json()["stream_options"]["include_usage"], true);
        Reply::sse(vec![
            sse_data(&chunk("x")),
            sse_data(&u2.to_string()),
            sse_data("[DONE]"),
        ])
    })
    .await;
    let gw = gateway(&up).await;
    let mut body = chat("gpt-test", true);
    body["stream_options"] = json!({"include_usage": true});
    let got = post(&gw.url("/v1/chat/completions"), KEY, &body).await;
    let data = got.sse_data();
    assert_eq!(data.len(), 3);
    let last: Value = serde_json::from_str(&data[1]).unwrap();
    assert_eq!(last["usage"]["total_tokens"], 6);
    assert_eq!(data[2], "[DONE]");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_lists_names_and_aliases_for_authorised_callers() {
    let up = MockUpstream::start(|_| Reply::json(200, json!({}))).await;
    let gw = gateway(&up).await;
    assert_eq!(get(&gw.url("/v1/models"), None).await.status, 401);
    let got = get(&gw.url("/v1/models"), KEY).await;
    assert_eq!(got.status, 200);
    let v = got.json();
    assert_eq!(v["object"], "list");
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    for id in ["gpt-test", "fast", "quick", "f-ok"] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    let first = &v["data"][0];
    assert_eq!(first["object"], "model");
    assert_eq!(first["owned_by"], "up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_auth_accepts_bearer_and_x_api_key_and_never_echoes_the_key() {
    let up = MockUpstream::start(|_| Reply::json(200, completion("m", "ok"))).await;
    let gw = gateway(&up).await;
    let url = gw.url("/v1/chat/completions");
    let body = chat("gpt-test", false).to_string();

    let none = send("POST", &url, &[], body.clone()).await;
    assert_eq!(none.status, 401);
    let e = none.json();
    assert_eq!(e["error"]["type"], "authentication_error");
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("Authorization: Bearer") && msg.contains("x-api-key"),
        "{msg}"
    );

    let wrong = send(
        "POST",
        &url,
        &[("authorization", "Bearer sk-wrong-secret")],
        body.clone(),
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert!(!wrong.text().contains("sk-wrong-secret"));

    let bearer = send(
        "POST",
        &url,
        &[("authorization", "Bearer sk-other")],
        body.clone(),
    )
    .await;
    assert_eq!(bearer.status, 200, "{}", bearer.text());
    let xkey = send("POST", &url, &[("x-api-key", "sk-test")], body.clone()).await;
    assert_eq!(xkey.status, 200, "{}", xkey.text());
    // The client's key never reaches the upstream.
    for r in up.requests() {
        assert_eq!(r.header("authorization"), Some("Bearer sk-upstream"));
        assert_eq!(r.header("x-api-key"), None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_model_is_404_with_a_hint() {
    let up = MockUpstream::start(|_| Reply::json(200, json!({}))).await;
    let gw = gateway(&up).await;
    let got = post(
        &gw.url("/v1/chat/completions"),
        KEY,
        &chat("gpt-nope", false),
    )
    .await;
    assert_eq!(got.status, 404);
    let e = got.json();
    assert_eq!(e["error"]["code"], "model_not_found");
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("gpt-nope") && msg.contains("/v1/models"),
        "{msg}"
    );
    assert!(up.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_429_keeps_status_and_retry_after() {
    let up = MockUpstream::start(|_| {
        Reply::json(
            429,
            json!({"error": {"message": "Rate limit reached for requests", "type": "requests"}}),
        )
        .header("retry-after", "17")
    })
    .await;
    let gw = gateway(&up).await;
    let got = post(
        &gw.url("/v1/chat/completions"),
        KEY,
        &chat("gpt-test", false),
    )
    .await;
    assert_eq!(got.status, 429);
    assert_eq!(got.headers.get("retry-after").unwrap(), "17");
    let e = got.json();
    assert_eq!(e["error"]["type"], "rate_limit_error");
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(msg.contains("provider up"), "{msg}");
    assert!(msg.contains("gpt-upstream"), "{msg}");
    assert!(msg.contains("Rate limit reached"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_500_is_reported_with_provider_and_model() {
    let up = MockUpstream::start(|_| Reply::json(500, json!({"error": {"message": "boom"}}))).await;
    let gw = gateway(&up).await;
    for stream in [false, true] {
        let got = post(
            &gw.url("/v1/chat/completions"),
            KEY,
            &chat("gpt-test", stream),
        )
        .await;
        assert_eq!(got.status, 500);
        let msg = got.json()["error"]["message"].as_str().unwrap().to_string();
        assert!(msg.contains("provider up") && msg.contains("boom"), "{msg}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_upstream_is_a_502_naming_the_provider() {
    // Bind a port and close it so nothing listens there.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let gw = TestGateway::start(&config(&format!("http://127.0.0.1:{port}/v1")), &["faults"]).await;
    let got = post(
        &gw.url("/v1/chat/completions"),
        KEY,
        &chat("gpt-test", false),
    )
    .await;
    assert_eq!(got.status, 502);
    let e = got.json();
    assert_eq!(e["error"]["code"], "upstream_unreachable");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("provider up")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_connections_are_kept_alive_until_the_upstream_closes_them() {
    // Every third answer says `connection: close`: that connection must not
    // be used again, and every request is still answered.
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let up = MockUpstream::start(move |r| {
        let n = answered.fetch_add(1, Ordering::SeqCst) + 1;
        let reply = if r.json()["stream"] == true {
            Reply::sse(vec![sse_data(&chunk("Hi")), sse_data("[DONE]")])
        } else {
            Reply::json(200, completion("gpt-upstream", "Hi!"))
        };
        if n.is_multiple_of(3) {
            reply.header("connection", "close")
        } else {
            reply
        }
    })
    .await;
    let gw = gateway(&up).await;
    for i in 0..8 {
        let stream = i % 4 == 3;
        let got = post(&gw.url("/v1/chat/completions"), KEY, &chat("fast", stream)).await;
        assert_eq!(got.status, 200, "request {i}: {}", got.text());
    }
    // Answers 1-3 on the first connection, 4-6 on the second, 7-8 on a third.
    assert_eq!(up.connections.load(Ordering::SeqCst), 3);
    let host = up.addr.to_string();
    for r in up.requests() {
        assert_eq!(r.header("host"), Some(host.as_str()));
    }
}

/// `config` with short upstream timeouts.
fn config_with_timeouts(upstream: &str) -> String {
    config(upstream).replacen(
        "limits:",
        "timeouts: {first-byte: 300ms, idle: 300ms}\nlimits:",
        1,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_never_answers_is_a_504_naming_the_timeout() {
    // Accepts connections and reads, never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    let gw = TestGateway::start(
        &config_with_timeouts(&format!("http://{addr}/v1")),
        &["faults"],
    )
    .await;
    for stream in [false, true] {
        let got = tokio::time::timeout(
            Duration::from_secs(10),
            post(
                &gw.url("/v1/chat/completions"),
                KEY,
                &chat("gpt-test", stream),
            ),
        )
        .await
        .expect("no answer within 10 s: the first-byte timeout did not fire");
        assert_eq!(got.status, 504, "{}", got.text());
        let e = got.json();
        assert_eq!(e["error"]["code"], "upstream_timeout");
        let msg = e["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains("provider up") && msg.contains("timeouts.first-byte"),
            "{msg}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_stalling_mid_answer_is_a_504_naming_the_timeout() {
    let body = completion("gpt-upstream", "Hi!").to_string();
    let (head, tail) = body.split_at(10);
    let (head, tail) = (Bytes::from(head.to_string()), Bytes::from(tail.to_string()));
    let up = MockUpstream::start(move |_| Reply {
        status: 200,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("content-length".into(), body.len().to_string()),
        ],
        parts: vec![
            Part::Bytes(head.clone()),
            Part::Sleep(Duration::from_secs(3)),
            Part::Bytes(tail.clone()),
        ],
    })
    .await;
    let gw = TestGateway::start(&config_with_timeouts(&up.base_url()), &["faults"]).await;
    let got = post(
        &gw.url("/v1/chat/completions"),
        KEY,
        &chat("gpt-test", false),
    )
    .await;
    assert_eq!(got.status, 504, "{}", got.text());
    let e = got.json();
    assert_eq!(e["error"]["code"], "upstream_timeout");
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(msg.contains("timeouts.idle"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_dying_mid_stream_ends_with_an_error_event_not_done() {
    let up = MockUpstream::start(|_| {
        Reply::sse(vec![
            sse_data(&chunk("partial")),
            Part::Sleep(Duration::from_millis(100)),
            Part::Abort,
        ])
    })
    .await;
    let gw = gateway(&up).await;
    let got = post(
        &gw.url("/v1/chat/completions"),
        KEY,
        &chat("gpt-test", true),
    )
    .await;
    assert_eq!(got.status, 200);
    let data = got.sse_data();
    assert_eq!(data[0], chunk("partial"));
    assert!(!data.contains(&"[DONE]".to_string()), "{data:?}");
    let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
    let msg = last["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("provider up") && msg.contains("incomplete"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_disconnect_cancels_the_upstream_request() {
    let mut parts = vec![sse_data(&chunk("first"))];
    for _ in 0..200 {
        parts.push(Part::Sleep(Duration::from_millis(50)));
        parts.push(sse_data(&chunk("more")));
    }
    let up = MockUpstream::start(move |_| Reply::sse(parts.clone())).await;
    let gw = gateway(&up).await;
    let req = hyper::Request::post(gw.url("/v1/chat/completions"))
        .header("authorization", "Bearer sk-test")
        .body(http_body_util::Full::new(Bytes::from(
            chat("gpt-test", true).to_string(),
        )))
        .unwrap();
    let resp = client().request(req).await.unwrap();
    let mut body = resp.into_body();
    // Read the first event, then hang up.
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("first"));
    drop(body);
    let deadline = Instant::now() + Duration::from_secs(10);
    while up.cancelled.load(Ordering::SeqCst) == 0 {
        assert!(
            Instant::now() < deadline,
            "the upstream stream was not cancelled after the client left"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_and_methods_get_json_errors() {
    let up = MockUpstream::start(|_| Reply::json(200, json!({}))).await;
    let gw = gateway(&up).await;
    let nf = get(&gw.url("/v1/nothing-here"), KEY).await;
    assert_eq!(nf.status, 404);
    assert_eq!(nf.json()["error"]["code"], "not_found");
    let na = get(&gw.url("/v1/chat/completions"), KEY).await;
    assert_eq!(na.status, 405);
    assert_eq!(na.headers.get("allow").unwrap(), "POST");
    assert_eq!(na.json()["error"]["code"], "method_not_allowed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_are_400_and_413() {
    let up = MockUpstream::start(|_| Reply::json(200, json!({}))).await;
    let gw = gateway(&up).await;
    let url = gw.url("/v1/chat/completions");
    let h = [("authorization", "Bearer sk-test")];
    let bad = send("POST", &url, &h, "{not json").await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );
    let no_model = send("POST", &url, &h, r#"{"messages":[]}"#).await;
    assert_eq!(no_model.status, 400);
    // JSON, but not a request the gateway can route: said as such.
    for (body, says) in [
        (
            r#"{"model":"m","model":"m","messages":[]}"#,
            "duplicate field `model`",
        ),
        (r#"{"model":4,"messages":[]}"#, "invalid type: integer `4`"),
        (
            r#"{"model":"m","stream":"yes"}"#,
            "invalid type: string \"yes\", expected a boolean",
        ),
        (r#"["model"]"#, "expected a JSON object"),
    ] {
        let r = send("POST", &url, &h, body).await;
        assert_eq!(r.status, 400, "{body}");
        let msg = r.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(
            msg.contains("not a valid OpenAI request") && msg.contains(says),
            "{body}: {msg}"
        );
    }
    // Small enough to sit in the socket buffers, so the client finishes
    // sending before the early 413 closes the connection.
    let huge = vec![b' '; 64 << 10];
    let big = send("POST", &url, &h, huge).await;
    assert_eq!(big.status, 413);
    assert_eq!(big.json()["error"]["code"], "request_too_large");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_plugins_and_providers() {
    let up = MockUpstream::start(|_| Reply::json(200, json!({}))).await;
    let gw = gateway(&up).await;
    let got = get(&gw.url("/health"), None).await;
    assert_eq!(got.status, 200);
    let v = got.json();
    assert_eq!(v["ready"], true);
    let names: Vec<&str> = v["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"openai") && names.contains(&"mock") && names.contains(&"faults"));
    assert_eq!(v["providers"][0]["name"], "up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_reported_errors_keep_their_status_and_code() {
    let up = MockUpstream::start(|_| Reply::json(200, json!({}))).await;
    let gw = gateway(&up).await;
    let got = post(
        &gw.url("/v1/chat/completions"),
        KEY,
        &chat("f-error", false),
    )
    .await;
    assert_eq!(got.status, 400);
    let e = got.json();
    assert_eq!(e["error"]["code"], "faults_error");
    assert!(e["error"]["message"].as_str().unwrap().contains("faults"));
}

/// Each fault gives a 502 naming the plugin and the reason, within the
/// deadline, while good requests keep succeeding alongside.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trapping_looping_and_memory_hogging_plugins_fail_only_their_request() {
    let up = MockUpstream::start(|_| Reply::json(200, completion("gpt-upstream", "fine"))).await;
    let gw = gateway(&up).await;
    let url = gw.url("/v1/chat/completions");
    for (model, code, words) in [
        ("f-trap", "plugin_trap", "deliberate trap"),
        ("f-loop", "plugin_deadline_exceeded", "deadline"),
        ("f-hog", "plugin_memory_exceeded", "memory limit"),
    ] {
        let bad = {
            let url = url.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                let got = post(&url, KEY, &chat(model, false)).await;
                (got, started.elapsed())
            })
        };
        let mut good = Vec::new();
        for i in 0..10 {
            let url = url.clone();
            let m = if i % 2 == 0 { "gpt-test" } else { "f-ok" };
            good.push(tokio::spawn(async move {
                post(&url, KEY, &chat(m, false)).await
            }));
        }
        for g in good {
            let g = g.await.unwrap();
            assert_eq!(
                g.status,
                200,
                "a good request failed next to {model}: {}",
                g.text()
            );
        }
        let (got, took) = bad.await.unwrap();
        assert_eq!(got.status, 502, "{model}: {}", got.text());
        let e = got.json();
        assert_eq!(e["error"]["code"], code, "{model}: {e}");
        let msg = e["error"]["message"].as_str().unwrap();
        assert!(msg.contains("plugin faults"), "{msg}");
        if model != "f-trap" {
            assert!(msg.contains(words), "{model}: {msg}");
        }
        // Bounded by the 300 ms deadline plus scheduling; generous for CI.
        assert!(took < Duration::from_secs(10), "{model} took {took:?}");
        // The plugin keeps serving afterwards.
        let after = post(&url, KEY, &chat("f-ok", false)).await;
        assert_eq!(after.status, 200, "after {model}: {}", after.text());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_trap_mid_stream_ends_the_stream_with_an_error_event() {
    let up = MockUpstream::start(|_| {
        Reply::sse(vec![
            sse_data(&chunk("a")),
            sse_data(&chunk("b")),
            sse_data(&chunk("c")),
            sse_data(&chunk("d")),
            sse_data("[DONE]"),
        ])
    })
    .await;
    let gw = gateway(&up).await;
    let got = post(
        &gw.url("/v1/chat/completions"),
        KEY,
        &chat("f-stream-trap", true),
    )
    .await;
    assert_eq!(got.status, 200);
    let data = got.sse_data();
    assert_eq!(&data[..2], &[chunk("a"), chunk("b")]);
    assert!(!data.contains(&"[DONE]".to_string()));
    let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "plugin_trap");
    // The next stream on the same plugin works.
    let again = post(&gw.url("/v1/chat/completions"), KEY, &chat("f-ok", true)).await;
    assert_eq!(again.sse_data().last().unwrap(), "[DONE]");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_writing_to_stdout_and_stderr_is_served_normally() {
    let up = MockUpstream::start(|_| Reply::json(200, json!({}))).await;
    let gw = gateway(&up).await;
    for _ in 0..3 {
        let got = post(
            &gw.url("/v1/chat/completions"),
            KEY,
            &chat("f-stdio", false),
        )
        .await;
        assert_eq!(got.status, 200, "{}", got.text());
        assert_eq!(
            got.json()["choices"][0]["message"]["content"],
            "ok from faults"
        );
    }
}
