//! Test support: the real gateway on port 0, tiny mock upstreams on port 0,
//! and an HTTP client. Everything is loopback and per test, so tests run in
//! parallel.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

pub use serde_json::{Value, json};

/// Where the test build put the plugins built from `plugins/`.
pub fn plugin_path(name: &str) -> PathBuf {
    Path::new(env!("SLUICE_TEST_PLUGIN_DIR")).join(format!("{name}.wasm"))
}

/// A fresh temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sluice-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The compiled-plugin cache shared by every test of this run.
pub fn shared_cache_dir() -> PathBuf {
    PathBuf::from(env!("SLUICE_TEST_CACHE_DIR"))
}

/// `{plugins}` and `{cache}` in a test config.
pub fn fill(yaml: &str, plugin_dir: &Path) -> String {
    yaml.replace("{plugins}", &plugin_dir.display().to_string())
        .replace("{cache}", &shared_cache_dir().display().to_string())
}

/// The same component with a custom section appended: a different file
/// (different sha256) that behaves the same.
pub fn variant_of(wasm: &[u8], tag: &str) -> Vec<u8> {
    let name = b"sluice-test";
    let payload = tag.as_bytes();
    let mut body = Vec::new();
    leb128(&mut body, name.len() as u64);
    body.extend_from_slice(name);
    body.extend_from_slice(payload);
    let mut out = wasm.to_vec();
    out.push(0); // custom section
    leb128(&mut out, body.len() as u64);
    out.extend_from_slice(&body);
    out
}

fn leb128(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// A gateway running in this process on a loopback port.
pub struct TestGateway {
    pub addr: SocketAddr,
    pub gateway: Arc<sluice::pipeline::Gateway>,
    pub dir: TempDir,
    stop: Option<oneshot::Sender<()>>,
}

impl TestGateway {
    /// Start a gateway from YAML. `{plugins}` in the text is replaced by a
    /// temporary plugin directory (with the plugins named in `plugins`
    /// copied in) and `{cache}` by the shared compile cache.
    pub async fn start(yaml: &str, plugins: &[&str]) -> TestGateway {
        let dir = TempDir::new("gw");
        let pdir = dir.path().join("plugins");
        std::fs::create_dir_all(&pdir).unwrap();
        for p in plugins {
            std::fs::copy(plugin_path(p), pdir.join(format!("{p}.wasm"))).unwrap();
        }
        let text = fill(yaml, &pdir);
        let config = sluice::config::Config::parse(&text, "test.yaml", dir.path(), &|_| None)
            .unwrap_or_else(|e| panic!("test config is invalid: {e}"));
        Self::start_with(config, dir).await
    }

    /// Like [`start`](Self::start), but the config is written to
    /// `config.yaml` in the gateway's directory and loaded from there, so
    /// reloads re-read it. Returns the gateway and the config file's path.
    pub async fn start_file(yaml: &str, plugins: &[&str]) -> (TestGateway, PathBuf) {
        let dir = TempDir::new("gwf");
        let pdir = dir.path().join("plugins");
        std::fs::create_dir_all(&pdir).unwrap();
        for p in plugins {
            std::fs::copy(plugin_path(p), pdir.join(format!("{p}.wasm"))).unwrap();
        }
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, fill(yaml, &pdir)).unwrap();
        let config = sluice::config::Config::load(&path)
            .unwrap_or_else(|e| panic!("test config is invalid: {e}"));
        (Self::start_with(config, dir).await, path)
    }

    /// The plugin directory of a gateway started with `start`/`start_file`.
    pub fn plugin_dir(&self) -> PathBuf {
        self.dir.path().join("plugins")
    }

    pub async fn start_with(config: sluice::config::Config, dir: TempDir) -> TestGateway {
        let gateway = tokio::task::spawn_blocking(move || sluice::pipeline::Gateway::start(config))
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("gateway did not start: {e}"));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel();
        let gw = gateway.clone();
        tokio::spawn(async move {
            sluice::server::serve(listener, gw, async {
                let _ = rx.await;
            })
            .await;
        });
        TestGateway {
            addr,
            gateway,
            dir,
            stop: Some(tx),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// A request the mock upstream received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// One part of a scripted upstream response body.
#[derive(Debug, Clone)]
pub enum Part {
    /// Send these bytes.
    Bytes(Bytes),
    /// Wait.
    Sleep(Duration),
    /// Abort the connection (the body errors mid-way).
    Abort,
}

/// A scripted upstream answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub parts: Vec<Part>,
}

impl Reply {
    pub fn json(status: u16, v: Value) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            parts: vec![Part::Bytes(Bytes::from(v.to_string()))],
        }
    }
    pub fn sse(parts: Vec<Part>) -> Reply {
        Reply {
            status: 200,
            headers: vec![("content-type".into(), "text/event-stream".into())],
            parts,
        }
    }
    pub fn header(mut self, n: &str, v: &str) -> Reply {
        self.headers.push((n.into(), v.into()));
        self
    }
}

/// SSE bytes for `data: X\n\n`.
pub fn sse_data(data: &str) -> Part {
    Part::Bytes(Bytes::from(format!("data: {data}\n\n")))
}

type Handler = Arc<dyn Fn(&Received) -> Reply + Send + Sync>;

/// A tiny hyper server standing in for a provider.
pub struct MockUpstream {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Received>>>,
    /// Counts response bodies that were dropped before they were fully sent
    /// (the gateway went away: cancellation reached the upstream).
    pub cancelled: Arc<AtomicUsize>,
    /// Counts the connections the upstream accepted.
    pub connections: Arc<AtomicUsize>,
    stop: Option<oneshot::Sender<()>>,
}

impl MockUpstream {
    pub async fn start(
        handler: impl Fn(&Received) -> Reply + Send + Sync + 'static,
    ) -> MockUpstream {
        let handler: Handler = Arc::new(handler);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let cancelled = Arc::new(AtomicUsize::new(0));
        let connections = Arc::new(AtomicUsize::new(0));
        let (tx, mut rx) = oneshot::channel::<()>();
        let rec = received.clone();
        let can = cancelled.clone();
        let conns = connections.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    a = listener.accept() => match a { Ok(a) => a, Err(_) => continue },
                    _ = &mut rx => return,
                };
                let _ = stream.set_nodelay(true);
                conns.fetch_add(1, Ordering::SeqCst);
                let handler = handler.clone();
                let rec = rec.clone();
                let can = can.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let handler = handler.clone();
                        let rec = rec.clone();
                        let can = can.clone();
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|c| c.to_bytes())
                                .unwrap_or_default();
                            let r = Received {
                                method: parts.method.to_string(),
                                path: parts
                                    .uri
                                    .path_and_query()
                                    .map(|p| p.to_string())
                                    .unwrap_or_default(),
                                headers: parts
                                    .headers
                                    .iter()
                                    .map(|(n, v)| {
                                        (n.to_string(), v.to_str().unwrap_or("").to_string())
                                    })
                                    .collect(),
                                body,
                            };
                            let reply = handler(&r);
                            rec.lock().unwrap().push(r);
                            Ok::<_, Infallible>(scripted(reply, can))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        MockUpstream {
            addr,
            received,
            cancelled,
            connections,
            stop: Some(tx),
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn requests(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for MockUpstream {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Marks a cancellation when the body is dropped before its script ran out.
struct CancelGuard {
    done: bool,
    counter: Arc<AtomicUsize>,
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if !self.done {
            self.counter.fetch_add(1, Ordering::SeqCst);
        }
    }
}

fn scripted(reply: Reply, cancelled: Arc<AtomicUsize>) -> Response<BoxBody<Bytes, std::io::Error>> {
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(4);
    let parts = reply.parts.clone();
    tokio::spawn(async move {
        let mut guard = CancelGuard {
            done: false,
            counter: cancelled,
        };
        for p in parts {
            match p {
                Part::Bytes(b) => {
                    if tx.send(Ok(Frame::data(b))).await.is_err() {
                        return;
                    }
                }
                Part::Sleep(d) => {
                    tokio::select! {
                        _ = tokio::time::sleep(d) => {}
                        _ = tx.closed() => return,
                    }
                }
                Part::Abort => {
                    guard.done = true;
                    let _ = tx.send(Err(std::io::Error::other("aborted by test"))).await;
                    return;
                }
            }
        }
        guard.done = true;
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let mut resp = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    *resp.status_mut() = hyper::StatusCode::from_u16(reply.status).unwrap();
    for (n, v) in reply.headers {
        resp.headers_mut().append(
            hyper::header::HeaderName::from_bytes(n.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    resp
}

/// A plain HTTP client for talking to the gateway.
pub fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

/// A whole response.
#[derive(Debug)]
pub struct Got {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Got {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "response is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// The `data:` payloads of an SSE body, in order.
    pub fn sse_data(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut d = sluice::sse::SseDecoder::new(1 << 24);
        let mut evs = Vec::new();
        d.push(&self.body, &mut evs).unwrap();
        d.finish(&mut evs).unwrap();
        for e in evs {
            out.push(e.data);
        }
        out
    }
}

/// Send a request and read the whole answer.
pub async fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Got {
    let mut b = Request::builder().method(method).uri(url);
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    let resp = client()
        .request(b.body(Full::new(body.into())).unwrap())
        .await
        .unwrap();
    let (parts, body) = resp.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    Got {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body,
    }
}

/// POST JSON with an optional bearer key.
pub async fn post(url: &str, key: Option<&str>, body: &Value) -> Got {
    let auth = key.map(|k| format!("Bearer {k}"));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(a) = &auth {
        headers.push(("authorization", a.as_str()));
    }
    send("POST", url, &headers, body.to_string()).await
}

pub async fn get(url: &str, key: Option<&str>) -> Got {
    let auth = key.map(|k| format!("Bearer {k}"));
    let mut headers = vec![];
    if let Some(a) = &auth {
        headers.push(("authorization", a.as_str()));
    }
    send("GET", url, &headers, Bytes::new()).await
}

/// A chat request body.
pub fn chat(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "stream": stream,
        "messages": [{"role": "user", "content": "Hello there"}],
    })
}

/// An OpenAI chat.completion answer.
pub fn completion(model: &str, text: &str) -> Value {
    json!({
        "id": "chatcmpl-up",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    })
}

/// An OpenAI stream chunk with a content delta.
pub fn chunk(text: &str) -> String {
    json!({
        "id": "chatcmpl-up", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}],
    })
    .to_string()
}

// ---------------------------------------------------------------------------
// Plugins written in other languages (tests/tests/languages.rs)
// ---------------------------------------------------------------------------

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the repository")
        .to_path_buf()
}

/// Where `scripts/build-examples.sh` writes the example plugins:
/// `$SLUICE_EXAMPLES_DIR`, else `target/examples` at the repository root.
pub fn examples_dir() -> PathBuf {
    std::env::var_os("SLUICE_EXAMPLES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/examples"))
}

/// An example plugin built by `scripts/build-examples.sh`, e.g.
/// `example_plugin("ollama-native")`. Panics, saying to run the script, when
/// it is missing or older than its sources (the script keeps a stamp per
/// example, touched on every run).
pub fn example_plugin(name: &str) -> PathBuf {
    let wasm = examples_dir().join(format!("{name}.wasm"));
    let stamp = examples_dir().join(format!(".{name}.stamp"));
    let fix = "run scripts/build-examples.sh (it needs python3 and node/npm; it installs \
               componentize-py into .venv and jco with npm ci), then run the tests again";
    if !wasm.is_file() {
        panic!("the example plugin {} is not built: {fix}", wasm.display());
    }
    let source = match name {
        "ollama-native" => "examples/python/ollama",
        "redact-guardrail" => "examples/javascript/redact-guardrail",
        _ => return wasm,
    };
    let built = std::fs::metadata(&stamp).and_then(|m| m.modified()).ok();
    let newest = newest_source(&repo_root().join(source));
    if let (Some(built), Some((newest, file))) = (built, newest)
        && newest > built
    {
        panic!(
            "the example plugin {} is older than its source {}: {fix}",
            wasm.display(),
            file.display()
        );
    }
    wasm
}

/// The newest plugin source file (.py, .js, package*.json, build.sh) in `dir`.
fn newest_source(dir: &Path) -> Option<(std::time::SystemTime, PathBuf)> {
    let mut newest: Option<(std::time::SystemTime, PathBuf)> = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let name = path.file_name()?.to_string_lossy().into_owned();
        let relevant = name.ends_with(".py")
            || name.ends_with(".js")
            || name == "package.json"
            || name == "package-lock.json"
            || name == "build.sh";
        if !relevant || !path.is_file() {
            continue;
        }
        let modified = entry.metadata().and_then(|m| m.modified()).ok()?;
        if newest.as_ref().is_none_or(|(t, _)| modified > *t) {
            newest = Some((modified, path));
        }
    }
    newest
}

/// Like [`TestGateway::start`], plus `.wasm` files from anywhere (copied
/// into the gateway's plugin directory under their file names).
pub async fn start_with_plugin_files(
    yaml: &str,
    builtin: &[&str],
    files: &[PathBuf],
) -> TestGateway {
    let dir = TempDir::new("gwx");
    let pdir = dir.path().join("plugins");
    std::fs::create_dir_all(&pdir).unwrap();
    for p in builtin {
        std::fs::copy(plugin_path(p), pdir.join(format!("{p}.wasm"))).unwrap();
    }
    for f in files {
        let to = pdir.join(f.file_name().expect("a .wasm file"));
        std::fs::copy(f, &to).unwrap_or_else(|e| panic!("copying {}: {e}", f.display()));
    }
    let config =
        sluice::config::Config::parse(&fill(yaml, &pdir), "test.yaml", dir.path(), &|_| None)
            .unwrap_or_else(|e| panic!("test config is invalid: {e}"));
    TestGateway::start_with(config, dir).await
}

/// NDJSON bytes for one JSON line.
pub fn ndjson_line(v: &Value) -> Part {
    Part::Bytes(Bytes::from(format!("{v}\n")))
}

/// A scripted NDJSON (Ollama-style) stream answer.
pub fn ndjson(parts: Vec<Part>) -> Reply {
    Reply {
        status: 200,
        headers: vec![("content-type".into(), "application/x-ndjson".into())],
        parts,
    }
}
