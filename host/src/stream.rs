//! The streamed response body: upstream bytes → native framing (SSE or
//! NDJSON) → the provider's stream mapper, event by event → SSE to the client.
//!
//! The body is polled by hyper directly (no extra task, no channel), so each
//! event goes out as soon as it is mapped, backpressure is the client's
//! socket, and a client that disconnects drops this body, which drops the
//! upstream response and so cancels the upstream request.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use wasmtime::component::ResourceAny;

use crate::error::{Dialect, GatewayError};
use crate::plugin::bindings::types;
use crate::plugin::version::StreamStage;
use crate::plugin::{CallError, Lease};
use crate::sse::{self, Framer};

/// The `[DONE]` marker that ends an OpenAI stream.
const DONE: &[u8] = b"data: [DONE]\n\n";

/// A provider's stream mapper, alive for one stream.
pub struct Mapper {
    lease: Lease,
    handle: Option<ResourceAny>,
}

impl Mapper {
    pub fn new(mut lease: Lease, req: &types::Request) -> Result<Self, CallError> {
        let handle = lease.new_stream(StreamStage::Adapter, req)?;
        Ok(Mapper {
            lease,
            handle: Some(handle),
        })
    }

    fn map(&mut self, ev: sse::Event) -> Result<Vec<types::Event>, CallError> {
        let handle = self.handle.expect("mapper used after finish");
        self.lease.stream_event(
            StreamStage::Adapter,
            handle,
            &types::Event {
                event: ev.event,
                data: ev.data,
            },
        )
    }

    fn finish(&mut self) -> Result<Vec<types::Event>, CallError> {
        let handle = self.handle.take().expect("mapper finished twice");
        let out = self.lease.stream_finish(StreamStage::Adapter, handle);
        self.lease.drop_resource(handle);
        out
    }
}

impl Drop for Mapper {
    fn drop(&mut self) {
        // A stream cut short (client gone, upstream error): still run the
        // guest's destructor so a reused instance holds no stale state.
        if let Some(h) = self.handle.take() {
            self.lease.drop_resource(h);
        }
    }
}

/// The streamed body sent to the client.
pub struct EventStream {
    upstream: Option<Incoming>,
    framer: Framer,
    mapper: Mapper,
    provider: String,
    dialect: Dialect,
    idle: Duration,
    last_data: Instant,
    timer: Pin<Box<tokio::time::Sleep>>,
    events: Vec<sse::Event>,
    out: Vec<u8>,
    finished: bool,
}

impl EventStream {
    pub fn new(
        upstream: Incoming,
        framer: Framer,
        mapper: Mapper,
        provider: String,
        idle: Duration,
    ) -> Self {
        EventStream {
            upstream: Some(upstream),
            framer,
            mapper,
            provider,
            dialect: Dialect::OpenAi,
            idle,
            last_data: Instant::now(),
            timer: Box::pin(tokio::time::sleep(idle)),
            events: Vec::new(),
            out: Vec::with_capacity(512),
            finished: false,
        }
    }

    fn emit(&mut self, mapped: Vec<types::Event>) {
        for ev in mapped {
            sse::encode(ev.event.as_deref(), &ev.data, &mut self.out);
        }
    }

    /// Frame a chunk of upstream bytes and map every whole event.
    fn ingest(&mut self, chunk: &[u8]) -> Result<(), GatewayError> {
        self.framer
            .push(chunk, &mut self.events)
            .map_err(|e| self.frame_error(e))?;
        self.map_pending()
    }

    fn map_pending(&mut self) -> Result<(), GatewayError> {
        for ev in std::mem::take(&mut self.events) {
            let mapped = self.mapper.map(ev)?;
            self.emit(mapped);
        }
        Ok(())
    }

    /// The upstream ended cleanly: flush the framer and the mapper, then `[DONE]`.
    fn end(&mut self) -> Result<(), GatewayError> {
        self.framer
            .finish(&mut self.events)
            .map_err(|e| self.frame_error(e))?;
        self.map_pending()?;
        let tail = self.mapper.finish()?;
        self.emit(tail);
        self.out.extend_from_slice(DONE);
        Ok(())
    }

    fn frame_error(&self, e: sse::FrameError) -> GatewayError {
        GatewayError::UpstreamStream {
            provider: self.provider.clone(),
            detail: format!("its stream could not be read: {e}"),
        }
    }

    /// End the stream with a terminal error event (never a fake `[DONE]`).
    fn fail(&mut self, err: GatewayError) {
        tracing::warn!(provider = %self.provider, code = err.code(), "stream ended with an error: {err}");
        sse::encode(None, &err.stream_event(self.dialect), &mut self.out);
        self.finished = true;
        self.upstream = None;
    }
}

impl Body for EventStream {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        loop {
            if !this.out.is_empty() {
                let chunk = Bytes::from(std::mem::replace(&mut this.out, Vec::with_capacity(512)));
                return Poll::Ready(Some(Ok(Frame::data(chunk))));
            }
            if this.finished {
                return Poll::Ready(None);
            }
            let Some(upstream) = this.upstream.as_mut() else {
                this.finished = true;
                continue;
            };
            match Pin::new(upstream).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        this.last_data = Instant::now();
                        if let Err(e) = this.ingest(&data) {
                            this.fail(e);
                        }
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    let err = GatewayError::UpstreamStream {
                        provider: this.provider.clone(),
                        detail: format!(
                            "the stream broke before it finished ({}); the answer is incomplete",
                            crate::upstream::error_chain(&e)
                        ),
                    };
                    this.fail(err);
                }
                Poll::Ready(None) => {
                    this.upstream = None;
                    match this.end() {
                        Ok(()) => this.finished = true,
                        Err(e) => this.fail(e),
                    }
                }
                Poll::Pending => {
                    // The timer is only re-armed when it fires, not per chunk.
                    ready!(this.timer.as_mut().poll(cx));
                    let deadline = this.last_data + this.idle;
                    if Instant::now() >= deadline {
                        let err = GatewayError::UpstreamTimeout {
                            provider: this.provider.clone(),
                            seconds: this.idle.as_secs_f64(),
                            setting: "timeouts.idle",
                        };
                        this.fail(err);
                    } else {
                        this.timer.as_mut().reset(deadline.into());
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.finished && self.out.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// A whole stream produced locally (a provider that answers without an
/// upstream): the events as SSE, then `[DONE]`.
pub fn local_stream(events: Vec<types::Event>) -> Bytes {
    let mut out = Vec::with_capacity(events.iter().map(|e| e.data.len() + 16).sum::<usize>() + 16);
    for ev in events {
        sse::encode(ev.event.as_deref(), &ev.data, &mut out);
    }
    out.extend_from_slice(DONE);
    Bytes::from(out)
}
