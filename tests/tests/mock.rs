//! The embedded default: the built-in mock provider answers locally, so the
//! gateway is useful with no config, no keys and no network.

use sluice_tests::*;

async fn default_gateway() -> TestGateway {
    let mut config = sluice::config::Config::embedded_default();
    config.plugins.cache_dir = shared_cache_dir();
    TestGateway::start_with(config, TempDir::new("mock")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_answers_non_streaming_with_usage() {
    let gw = default_gateway().await;
    let got = post(&gw.url("/v1/chat/completions"), None, &chat("mock", false)).await;
    assert_eq!(got.status, 200, "{}", got.text());
    let v = got.json();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "mock");
    let text = v["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(text.contains("Hello there"), "{text}");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    let u = &v["usage"];
    assert!(u["prompt_tokens"].as_u64().unwrap() > 0);
    assert!(u["completion_tokens"].as_u64().unwrap() > 0);
    assert_eq!(
        u["total_tokens"].as_u64().unwrap(),
        u["prompt_tokens"].as_u64().unwrap() + u["completion_tokens"].as_u64().unwrap()
    );
    // Deterministic: the same request gives the same answer.
    let again = post(&gw.url("/v1/chat/completions"), None, &chat("mock", false)).await;
    assert_eq!(again.json()["choices"], v["choices"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_streams_chunks_usage_and_done() {
    let gw = default_gateway().await;
    let mut body = chat("mock-fast", true);
    body["stream_options"] = json!({"include_usage": true});
    let got = post(&gw.url("/v1/chat/completions"), None, &body).await;
    assert_eq!(got.status, 200, "{}", got.text());
    let data = got.sse_data();
    assert_eq!(data.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(text.contains("Hello there"), "{text}");
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert!(usage["usage"]["total_tokens"].as_u64().unwrap() > 0);
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_models_and_health_without_keys() {
    let gw = default_gateway().await;
    let models = get(&gw.url("/v1/models"), None).await;
    assert_eq!(models.status, 200);
    let ids: Vec<String> = models.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, vec!["mock", "mock-fast", "mock-large"]);
    let health = get(&gw.url("/health"), None).await;
    assert_eq!(health.json()["ready"], true);
    assert_eq!(health.json()["client_auth"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_rejects_a_request_without_messages() {
    let gw = default_gateway().await;
    let got = post(
        &gw.url("/v1/chat/completions"),
        None,
        &json!({"model": "mock"}),
    )
    .await;
    assert_eq!(got.status, 400);
    assert!(
        got.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("messages")
    );
}
