//! Streamed responses: upstream bytes → native framing (SSE or NDJSON) →
//! the chain of per-stream plugin stages, event by event → SSE to the client.
//!
//! The chain, in order: the provider's stream mapper (upstream events → hub
//! chunks), each transform's stream transformer, each guardrail's stream
//! guard (on the streamed text), and the client dialect's stream encoder
//! (hub chunks → the client's events). Each stage is a WIT resource in a warm
//! instance shared with other open streams (see `plugin::streams`), dropped
//! at the stream's end.
//!
//! The body is polled by hyper directly (no extra task, no channel), so each
//! event goes out as soon as it is mapped, backpressure is the client's
//! socket, and a client that disconnects drops this body, which drops the
//! upstream response and so cancels the upstream request.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use crate::error::{Dialect, GatewayError};
use crate::plugin::bindings::types;
use crate::plugin::version::StreamStage;
use crate::plugin::{CallError, PluginVersion, StreamSlot};
use crate::sse::{self, Framer};
use crate::upstream::UpstreamBody;

/// The `[DONE]` marker that ends an OpenAI stream.
const DONE: &[u8] = b"data: [DONE]\n\n";

/// One per-stream plugin resource and the instance it lives in.
pub struct Stage {
    slot: StreamSlot,
    /// False once the stage finished, or dropped out after failing open.
    active: bool,
    kind: StreamStage,
    /// For guards: which dialect the streamed events are in.
    text_dialect: Dialect,
    /// Fail-open stages are skipped (with a log line) when they fail.
    fail_open: bool,
}

impl Stage {
    pub fn new(
        plugin: &Arc<PluginVersion>,
        kind: StreamStage,
        req: &mut types::Request,
        text_dialect: Dialect,
        fail_open: bool,
    ) -> Result<Self, CallError> {
        let slot = plugin.open_stream(kind, req)?;
        Ok(Stage {
            slot,
            active: true,
            kind,
            text_dialect,
            fail_open,
        })
    }

    fn apply(&mut self, ev: types::Event, out: &mut Vec<types::Event>) -> Result<(), GatewayError> {
        if !self.active {
            out.push(ev);
            return Ok(());
        }
        if self.kind == StreamStage::Guard {
            return self.guard(ev, out);
        }
        match self.slot.event(&ev) {
            Ok(evs) => {
                out.extend(evs);
                Ok(())
            }
            Err(e) => self.failed(e, Some(ev), out),
        }
    }

    fn guard(
        &mut self,
        mut ev: types::Event,
        out: &mut Vec<types::Event>,
    ) -> Result<(), GatewayError> {
        let Some(text) = stream_text(self.text_dialect, &ev.data) else {
            // The chunk that ends an OpenAI answer: the guard's last word
            // (text it held back) goes out before it, not after.
            if self.text_dialect == Dialect::OpenAi && is_finish_chunk(&ev.data) {
                self.finish_with(out, Some(&ev.data))?;
            }
            out.push(ev);
            return Ok(());
        };
        match self.slot.check_text(&text) {
            Ok(types::Verdict::Allow) => out.push(ev),
            Ok(types::Verdict::Deny(msg)) => {
                return Err(GatewayError::GuardrailDenied {
                    guardrail: self.slot.plugin().info.name.clone(),
                    message: msg,
                });
            }
            Ok(types::Verdict::Rewrite(new)) => {
                let new = String::from_utf8_lossy(&new);
                if let Some(data) = replace_stream_text(self.text_dialect, &ev.data, &new) {
                    ev.data = data;
                }
                out.push(ev);
            }
            Err(e) => return self.failed(e, Some(ev), out),
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<types::Event>) -> Result<(), GatewayError> {
        self.finish_with(out, None)
    }

    /// Flush the stage. A guard's closing text is written as a chunk like
    /// `template` (the stream's finish chunk) when there is one.
    fn finish_with(
        &mut self,
        out: &mut Vec<types::Event>,
        template: Option<&str>,
    ) -> Result<(), GatewayError> {
        if !self.active {
            return Ok(());
        }
        self.active = false;
        let r = if self.kind == StreamStage::Guard {
            match self.slot.check_finish() {
                Ok(types::Verdict::Allow) => Ok(()),
                Ok(types::Verdict::Deny(msg)) => Err(GatewayError::GuardrailDenied {
                    guardrail: self.slot.plugin().info.name.clone(),
                    message: msg,
                }),
                Ok(types::Verdict::Rewrite(text)) => {
                    out.push(types::Event {
                        event: None,
                        data: text_chunk(template, &String::from_utf8_lossy(&text)),
                    });
                    Ok(())
                }
                Err(e) => self.failed(e, None, out),
            }
        } else {
            match self.slot.finish() {
                Ok(evs) => {
                    out.extend(evs);
                    Ok(())
                }
                Err(e) => self.failed(e, None, out),
            }
        };
        self.slot.close();
        r
    }

    /// A stage failed: fail-open stages drop out of the chain (the event
    /// goes on unchanged); fail-closed ones end the stream.
    fn failed(
        &mut self,
        e: CallError,
        ev: Option<types::Event>,
        out: &mut Vec<types::Event>,
    ) -> Result<(), GatewayError> {
        if self.fail_open && self.kind != StreamStage::Adapter && self.kind != StreamStage::Ingress
        {
            tracing::warn!(plugin = %self.slot.plugin().info.name, error = %e,
                "a fail-open plugin failed mid-stream; it is skipped for the rest of this stream");
            self.active = false;
            out.extend(ev);
            return Ok(());
        }
        Err(GatewayError::Plugin(e))
    }
}

/// The per-stream stages in order.
#[derive(Default)]
pub struct Chain {
    /// The provider passes its stream through (its upstream sends hub
    /// chunks): the host does what its stream mapper would, see [`hub_event`].
    hub_events: bool,
    stages: Vec<Stage>,
}

impl Chain {
    pub fn push_stage(&mut self, stage: Stage) {
        self.stages.push(stage);
    }

    /// Take the upstream's events as hub chunks, in place of the provider's
    /// stream mapper.
    pub fn pass_hub_events(&mut self) {
        self.hub_events = true;
    }

    /// Run events through the stages from `start` on.
    fn run_from(
        &mut self,
        start: usize,
        mut cur: Vec<types::Event>,
        out: &mut Vec<types::Event>,
    ) -> Result<(), GatewayError> {
        for stage in &mut self.stages[start..] {
            if cur.is_empty() {
                return Ok(());
            }
            let mut next = Vec::with_capacity(cur.len());
            for ev in cur {
                stage.apply(ev, &mut next)?;
            }
            cur = next;
        }
        out.extend(cur);
        Ok(())
    }

    /// One event from the upstream through every stage.
    pub fn push(
        &mut self,
        ev: types::Event,
        out: &mut Vec<types::Event>,
    ) -> Result<(), GatewayError> {
        let Some(ev) = (if self.hub_events {
            hub_event(ev)
        } else {
            Some(ev)
        }) else {
            return Ok(());
        };
        self.run_from(0, vec![ev], out)
    }

    /// The end of the stream: each stage flushes, and what it flushes goes
    /// through the stages after it.
    pub fn finish(&mut self, out: &mut Vec<types::Event>) -> Result<(), GatewayError> {
        for i in 0..self.stages.len() {
            let mut tail = Vec::new();
            self.stages[i].finish(&mut tail)?;
            self.run_from(i + 1, tail, out)?;
        }
        Ok(())
    }
}

/// An upstream event of a hub-format stream (OpenAI chat completion
/// chunks), as the built-in `openai` stream mapper would pass it on:
/// `[DONE]` and empty events are dropped (the host ends the stream itself),
/// an error event (a JSON object with a top-level `error`) keeps its event
/// name, and any other event loses it.
fn hub_event(mut ev: types::Event) -> Option<types::Event> {
    let data = ev.data.trim();
    if data.is_empty() || data == "[DONE]" {
        return None;
    }
    if ev.event.is_some() && !is_error_object(data) {
        ev.event = None;
    }
    Some(ev)
}

fn is_error_object(data: &str) -> bool {
    data.starts_with('{')
        && serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(data)
            .is_ok_and(|m| m.contains_key("error"))
}

/// Where the events come from.
enum Source {
    /// An upstream response being framed as it arrives.
    Upstream(UpstreamBody),
    /// Events a provider produced locally (already whole).
    Local(std::vec::IntoIter<types::Event>),
    Done,
}

/// The streamed body sent to the client.
pub struct EventStream {
    source: Source,
    framer: Framer,
    chain: Chain,
    provider: String,
    client: Dialect,
    idle: Duration,
    last_data: Instant,
    timer: Pin<Box<tokio::time::Sleep>>,
    framed: Vec<sse::Event>,
    mapped: Vec<types::Event>,
    out: Vec<u8>,
    finished: bool,
}

impl EventStream {
    /// A stream fed by an upstream response.
    pub fn upstream(
        upstream: UpstreamBody,
        framer: Framer,
        chain: Chain,
        provider: String,
        client: Dialect,
        idle: Duration,
    ) -> Self {
        Self::new(
            Source::Upstream(upstream),
            framer,
            chain,
            provider,
            client,
            idle,
        )
    }

    /// A stream of events a provider produced locally.
    pub fn local(
        events: Vec<types::Event>,
        chain: Chain,
        provider: String,
        client: Dialect,
    ) -> Self {
        Self::new(
            Source::Local(events.into_iter()),
            Framer::sse(usize::MAX),
            chain,
            provider,
            client,
            Duration::from_secs(3600),
        )
    }

    fn new(
        source: Source,
        framer: Framer,
        chain: Chain,
        provider: String,
        client: Dialect,
        idle: Duration,
    ) -> Self {
        EventStream {
            source,
            framer,
            chain,
            provider,
            client,
            idle,
            last_data: Instant::now(),
            timer: Box::pin(tokio::time::sleep(idle)),
            framed: Vec::new(),
            mapped: Vec::new(),
            out: Vec::with_capacity(512),
            finished: false,
        }
    }

    fn emit_mapped(&mut self) {
        for ev in self.mapped.drain(..) {
            sse::encode(ev.event.as_deref(), &ev.data, &mut self.out);
        }
    }

    /// Frame a chunk of upstream bytes and map every whole event.
    fn ingest(&mut self, chunk: &[u8]) -> Result<(), GatewayError> {
        self.framer
            .push(chunk, &mut self.framed)
            .map_err(|e| self.frame_error(e))?;
        self.map_framed()
    }

    fn map_framed(&mut self) -> Result<(), GatewayError> {
        for ev in std::mem::take(&mut self.framed) {
            let ev = types::Event {
                event: ev.event,
                data: ev.data,
            };
            self.chain.push(ev, &mut self.mapped)?;
        }
        self.emit_mapped();
        Ok(())
    }

    /// The source ended cleanly: flush the framer and the chain, then the
    /// end marker the client's dialect uses.
    fn end(&mut self) -> Result<(), GatewayError> {
        self.framer
            .finish(&mut self.framed)
            .map_err(|e| self.frame_error(e))?;
        self.map_framed()?;
        self.chain.finish(&mut self.mapped)?;
        self.emit_mapped();
        if self.client == Dialect::OpenAi {
            self.out.extend_from_slice(DONE);
        }
        Ok(())
    }

    fn frame_error(&self, e: sse::FrameError) -> GatewayError {
        GatewayError::UpstreamStream {
            provider: self.provider.clone(),
            detail: format!("its stream could not be read: {e}"),
        }
    }

    /// End the stream with a terminal error event (never a fake end marker).
    fn fail(&mut self, err: GatewayError) {
        tracing::warn!(provider = %self.provider, code = err.code(), "stream ended with an error: {err}");
        let event = (self.client == Dialect::Anthropic).then_some("error");
        sse::encode(event, &err.stream_event(self.client), &mut self.out);
        self.finished = true;
        self.source = Source::Done;
    }

    fn step(&mut self, r: Result<(), GatewayError>) {
        if let Err(e) = r {
            self.fail(e);
        }
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
            match &mut this.source {
                Source::Done => this.finished = true,
                Source::Local(events) => match events.next() {
                    Some(ev) => {
                        let r = this
                            .chain
                            .push(ev, &mut this.mapped)
                            .map(|()| this.emit_mapped());
                        this.step(r);
                    }
                    None => {
                        this.source = Source::Done;
                        let r = this.end();
                        this.step(r);
                        this.finished = true;
                    }
                },
                Source::Upstream(upstream) => match Pin::new(upstream).poll_frame(cx) {
                    Poll::Ready(Some(Ok(frame))) => {
                        if let Ok(data) = frame.into_data() {
                            this.last_data = Instant::now();
                            let r = this.ingest(&data);
                            this.step(r);
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
                        this.source = Source::Done;
                        let r = this.end();
                        this.step(r);
                        this.finished = true;
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
                },
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

/// Whether an OpenAI chunk carries a `finish_reason`.
fn is_finish_chunk(data: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(data)
        .ok()
        .and_then(|v| v.pointer("/choices/0/finish_reason").map(|f| !f.is_null()))
        .unwrap_or(false)
}

/// An OpenAI content chunk with `text`, shaped like `template` (same id,
/// model, created) when one is given.
fn text_chunk(template: Option<&str>, text: &str) -> String {
    let mut v = template
        .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
        .filter(|v| v.pointer("/choices/0").is_some())
        .unwrap_or_else(
            || serde_json::json!({"object": "chat.completion.chunk", "choices": [{"index": 0}]}),
        );
    if let Some(obj) = v.as_object_mut() {
        obj.remove("usage");
    }
    v["choices"][0]["delta"] = serde_json::json!({"content": text});
    v["choices"][0]["finish_reason"] = serde_json::Value::Null;
    v.to_string()
}

/// The assistant text carried by one streamed event, by dialect.
fn stream_text(dialect: Dialect, data: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(data).ok()?;
    let text = match dialect {
        Dialect::OpenAi => v.pointer("/choices/0/delta/content")?,
        Dialect::Anthropic => {
            if v.pointer("/delta/type")? != "text_delta" {
                return None;
            }
            v.pointer("/delta/text")?
        }
        Dialect::Gemini => v.pointer("/candidates/0/content/parts/0/text")?,
    };
    text.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

/// The same event with its assistant text replaced.
fn replace_stream_text(dialect: Dialect, data: &str, new: &str) -> Option<String> {
    let mut v: serde_json::Value = serde_json::from_str(data).ok()?;
    let slot = match dialect {
        Dialect::OpenAi => v.pointer_mut("/choices/0/delta/content")?,
        Dialect::Anthropic => v.pointer_mut("/delta/text")?,
        Dialect::Gemini => v.pointer_mut("/candidates/0/content/parts/0/text")?,
    };
    *slot = serde_json::Value::String(new.to_owned());
    Some(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::{hub_event, types};

    type Seen = Option<(Option<String>, String)>;

    fn pass(event: Option<&str>, data: &str) -> Seen {
        hub_event(types::Event {
            event: event.map(str::to_owned),
            data: data.to_owned(),
        })
        .map(|e| (e.event, e.data))
    }

    fn seen(event: Option<&str>, data: &str) -> Seen {
        Some((event.map(str::to_owned), data.to_owned()))
    }

    #[test]
    fn hub_events_are_passed_on_as_the_openai_mapper_would() {
        assert_eq!(pass(None, "[DONE]"), None);
        assert_eq!(pass(None, " [DONE] "), None);
        assert_eq!(pass(None, ""), None);
        let chunk = r#"{"id":"x","choices":[]}"#;
        assert_eq!(pass(None, chunk), seen(None, chunk));
        // A named event that is not an error loses its name ...
        assert_eq!(pass(Some("message"), chunk), seen(None, chunk));
        // ... an error keeps it, with or without one.
        let err = r#"{"error":{"message":"overloaded","type":"server_error"}}"#;
        assert_eq!(pass(Some("error"), err), seen(Some("error"), err));
        assert_eq!(pass(None, err), seen(None, err));
        // Text that merely mentions an error is not one.
        let text = r#"{"choices":[{"delta":{"content":"error"}}]}"#;
        assert_eq!(pass(Some("x"), text), seen(None, text));
    }
}
