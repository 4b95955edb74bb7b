//! bench-upstream: a mock LLM upstream (hyper, HTTP/1.1 keep-alive, one
//! thread) for the benchmarks.
//!
//! ```text
//! bench-upstream --listen 127.0.0.1:PORT
//! ```
//!
//! Endpoints (any path prefix is accepted, so `/v1/...`, `/...` and a base
//! URL with a version prefix all work):
//! - `POST .../chat/completions`: OpenAI; JSON, or SSE chunks ending with
//!   `data: [DONE]` when the body has `"stream": true`;
//! - `POST .../messages`: Anthropic; JSON, or the SSE sequence
//!   `message_start`, `content_block_start`, `content_block_delta`×N,
//!   `content_block_stop`, `message_delta`, `message_stop`;
//! - `POST .../api/chat`: Ollama; JSON, or NDJSON (streams unless `"stream": false`);
//! - `GET .../health`: `ok`.
//!
//! Behaviour comes from the model name (see `sluice_bench::mode`):
//! `bench-d10` answers after 10 ms, `bench-n64-i10` streams 64 content
//! events 10 ms apart. Every content event carries `<ts=NANOS>` (the wall
//! clock when it was sent) so the load generator can measure delivery latency.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use sluice_bench::mode::{Mode, scan_bool, scan_str};
use tokio::time::{Instant, Sleep};

type Body = UnsyncBoxBody<Bytes, Infallible>;

const TEXT: &str = "Sure. Here is a short answer to your question, written so that the \
response body has a realistic size for a chat completion: a few sentences of plain text, \
some punctuation, and nothing that needs escaping. The quick brown fox jumps over the lazy \
dog; pack my box with five dozen liquor jugs. That is all there is to say about it.";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dialect {
    OpenAi,
    Anthropic,
    Ollama,
}

fn main() {
    let args = sluice_bench::Args::new(std::env::args().skip(1).collect());
    let listen = args.get("listen").unwrap_or_else(|| "127.0.0.1:0".into());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let listener = bind(&listen).expect("bind");
        println!("listening {}", listener.local_addr().expect("addr"));
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            tokio::task::spawn(async move {
                let _ = http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service_fn(handle))
                    .await;
            });
        }
    });
}

fn bind(addr: &str) -> std::io::Result<tokio::net::TcpListener> {
    let addr: std::net::SocketAddr = addr
        .parse()
        .map_err(|e| std::io::Error::other(format!("{addr}: {e}")))?;
    let sock = tokio::net::TcpSocket::new_v4()?;
    sock.set_reuseaddr(true)?;
    sock.bind(addr)?;
    sock.listen(8192)
}

async fn handle(req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_string();
    if path.ends_with("/health") {
        return Ok(text(StatusCode::OK, "ok"));
    }
    let dialect = if path.ends_with("/chat/completions") {
        Dialect::OpenAi
    } else if path.ends_with("/messages") {
        Dialect::Anthropic
    } else if path.ends_with("/api/chat") {
        Dialect::Ollama
    } else {
        return Ok(text(
            StatusCode::NOT_FOUND,
            "no such endpoint on the bench mock",
        ));
    };
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Ok(text(StatusCode::BAD_REQUEST, "could not read the body")),
    };
    let model = scan_str(&body, "model").unwrap_or("bench").to_string();
    let mode = Mode::from_model(&model);
    let stream = scan_bool(&body, "stream").unwrap_or(dialect == Dialect::Ollama);
    if stream {
        let usage = scan_bool(&body, "include_usage").unwrap_or(false);
        let body = Events {
            dialect,
            model,
            n: mode.events,
            i: 0,
            interval: mode.interval,
            start: Instant::now(),
            sleep: None,
            usage,
        };
        let ctype = if dialect == Dialect::Ollama {
            "application/x-ndjson"
        } else {
            "text/event-stream"
        };
        let mut resp = Response::new(body.boxed_unsync());
        resp.headers_mut()
            .insert("content-type", ctype.parse().expect("header"));
        resp.headers_mut()
            .insert("cache-control", "no-cache".parse().expect("header"));
        return Ok(resp);
    }
    if !mode.delay.is_zero() {
        tokio::time::sleep(mode.delay).await;
    }
    let json = match dialect {
        Dialect::OpenAi => format!(
            r#"{{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"{model}","choices":[{{"index":0,"message":{{"role":"assistant","content":"{TEXT}"}},"finish_reason":"stop"}}],"usage":{{"prompt_tokens":120,"completion_tokens":72,"total_tokens":192}}}}"#
        ),
        Dialect::Anthropic => format!(
            r#"{{"id":"msg_bench","type":"message","role":"assistant","model":"{model}","content":[{{"type":"text","text":"{TEXT}"}}],"stop_reason":"end_turn","stop_sequence":null,"usage":{{"input_tokens":120,"output_tokens":72}}}}"#
        ),
        Dialect::Ollama => format!(
            r#"{{"model":"{model}","created_at":"2024-01-01T00:00:00Z","message":{{"role":"assistant","content":"{TEXT}"}},"done_reason":"stop","done":true,"total_duration":1000,"load_duration":1,"prompt_eval_count":120,"prompt_eval_duration":1,"eval_count":72,"eval_duration":1}}"#
        ),
    };
    let mut resp = Response::new(Full::new(Bytes::from(json)).boxed_unsync());
    resp.headers_mut()
        .insert("content-type", "application/json".parse().expect("header"));
    Ok(resp)
}

fn text(status: StatusCode, s: &'static str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from_static(s.as_bytes())).boxed_unsync());
    *r.status_mut() = status;
    r
}

/// A streamed answer: content event `k` is sent at `start + k * interval`
/// (an absolute schedule, so gaps do not drift); the first one at once,
/// with the dialect's opening events, the last one with its closing events.
struct Events {
    dialect: Dialect,
    model: String,
    n: u32,
    i: u32,
    interval: Duration,
    start: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
    usage: bool,
}

impl Events {
    fn render(&self, k: u32) -> Bytes {
        let ts = sluice_bench::realtime_ns();
        let m = &self.model;
        let mut out = String::with_capacity(512);
        let text = format!("tok{k}<ts={ts}> ");
        match self.dialect {
            Dialect::OpenAi => {
                let role = if k == 0 { r#""role":"assistant","# } else { "" };
                out.push_str(&format!(
                    "data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"{m}\",\"choices\":[{{\"index\":0,\"delta\":{{{role}\"content\":\"{text}\"}},\"finish_reason\":null}}]}}\n\n"
                ));
                if k + 1 == self.n {
                    out.push_str(&format!(
                        "data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"{m}\",\"choices\":[{{\"index\":0,\"delta\":{{}},\"finish_reason\":\"stop\"}}]}}\n\n"
                    ));
                    if self.usage {
                        out.push_str(&format!(
                            "data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"{m}\",\"choices\":[],\"usage\":{{\"prompt_tokens\":120,\"completion_tokens\":{},\"total_tokens\":{}}}}}\n\n",
                            self.n,
                            120 + self.n
                        ));
                    }
                    out.push_str("data: [DONE]\n\n");
                }
            }
            Dialect::Anthropic => {
                if k == 0 {
                    out.push_str(&format!(
                        "event: message_start\ndata: {{\"type\":\"message_start\",\"message\":{{\"id\":\"msg_bench\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"{m}\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{{\"input_tokens\":120,\"output_tokens\":1}}}}}}\n\n\
                         event: content_block_start\ndata: {{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{{\"type\":\"text\",\"text\":\"\"}}}}\n\n"
                    ));
                }
                out.push_str(&format!(
                    "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"{text}\"}}}}\n\n"
                ));
                if k + 1 == self.n {
                    out.push_str(&format!(
                        "event: content_block_stop\ndata: {{\"type\":\"content_block_stop\",\"index\":0}}\n\n\
                         event: message_delta\ndata: {{\"type\":\"message_delta\",\"delta\":{{\"stop_reason\":\"end_turn\",\"stop_sequence\":null}},\"usage\":{{\"output_tokens\":{}}}}}\n\n\
                         event: message_stop\ndata: {{\"type\":\"message_stop\"}}\n\n",
                        self.n
                    ));
                }
            }
            Dialect::Ollama => {
                out.push_str(&format!(
                    "{{\"model\":\"{m}\",\"created_at\":\"2024-01-01T00:00:00Z\",\"message\":{{\"role\":\"assistant\",\"content\":\"{text}\"}},\"done\":false}}\n"
                ));
                if k + 1 == self.n {
                    out.push_str(&format!(
                        "{{\"model\":\"{m}\",\"created_at\":\"2024-01-01T00:00:00Z\",\"message\":{{\"role\":\"assistant\",\"content\":\"\"}},\"done_reason\":\"stop\",\"done\":true,\"total_duration\":1000,\"load_duration\":1,\"prompt_eval_count\":120,\"prompt_eval_duration\":1,\"eval_count\":{},\"eval_duration\":1}}\n",
                        self.n
                    ));
                }
            }
        }
        Bytes::from(out)
    }
}

impl hyper::body::Body for Events {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if this.i >= this.n {
            return Poll::Ready(None);
        }
        if this.i > 0 && !this.interval.is_zero() {
            let due = this.start + this.interval * this.i;
            if Instant::now() < due {
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
                if sleep.deadline() != due {
                    sleep.as_mut().reset(due);
                }
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
            }
        }
        let frame = this.render(this.i);
        this.i += 1;
        Poll::Ready(Some(Ok(Frame::data(frame))))
    }
}

use std::future::Future;
