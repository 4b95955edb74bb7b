//! Streams: Gemini chunks → hub chunks ([`GeminiToHub`], provider side) and
//! hub chunks → Gemini chunks ([`HubToGemini`], ingress).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use sluice_sdk::error::bad_upstream;
use sluice_sdk::hub::{self, ChatChunk, Delta, ToolCall};
use sluice_sdk::log::debug;
use sluice_sdk::{Event, PluginError};

use super::request::{extra_content, thought_signature};
use super::response::{response_call_id, usage_from_hub, usage_to_hub};
use super::types::{
    Candidate, Content, FunctionCall, GenerateContentResponse, Part, UsageMetadata,
};
use crate::common::{self, Ctx, gemini_finish_to_hub, hub_finish_to_gemini, parse_arguments};
use crate::ext;

/// Maps a Gemini stream (`streamGenerateContent?alt=sse`, one
/// `GenerateContentResponse` per event) to hub chunks.
///
/// * the first chunk → a chunk with `delta.role = "assistant"`;
/// * text parts → `delta.content`, thought parts → `delta.reasoning_content`;
/// * each `functionCall` part (Gemini sends them whole) → one
///   `delta.tool_calls` entry with `index`, a synthesized `id` (when the call
///   has none), `name` and the complete `arguments`;
/// * `finishReason` → a chunk with `finish_reason` (`tool_calls` when the
///   answer called functions);
/// * the last `usageMetadata` → the usage chunk at [`finish`](Self::finish),
///   when the request asked for it;
/// * `{"error": {...}}` → a hub error chunk.
///
/// Only the first candidate is streamed (`n` > 1 streams are not supported).
#[derive(Debug)]
pub struct GeminiToHub {
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
    prompt_chars: usize,
    out_chars: usize,
    started: bool,
    next_tool: u32,
    finish_sent: bool,
    usage: Option<UsageMetadata>,
    usage_sent: bool,
    errored: bool,
}

impl GeminiToHub {
    /// A mapper for one stream (see [`crate::anthropic::AnthropicToHub::new`]).
    pub fn new(ctx: &Ctx, include_usage: bool, prompt_chars: usize) -> Self {
        GeminiToHub {
            id: String::new(),
            model: ctx.model.clone(),
            created: ctx.created,
            include_usage,
            prompt_chars,
            out_chars: 0,
            started: false,
            next_tool: 0,
            finish_sent: false,
            usage: None,
            usage_sent: false,
            errored: false,
        }
    }

    fn emit(&self, out: &mut Vec<Event>, delta: Delta, finish: Option<&str>) {
        let c = ChatChunk::new(&self.id, self.created, &self.model, delta, finish);
        out.push(common::data_event(
            serde_json::to_string(&c).unwrap_or_default(),
        ));
    }

    /// An event that is not a plain response chunk: an error (written to
    /// `out` as a hub error chunk; `None`), text that is not JSON or not a
    /// chunk (an error naming what is wrong), or a chunk whose top-level
    /// `error` is not an object (the chunk).
    fn push_other(
        &mut self,
        data: &str,
        out: &mut Vec<Event>,
    ) -> Result<Option<GenerateContentResponse>, PluginError> {
        let value: Value = serde_json::from_str(data)
            .map_err(|e| bad_upstream(format!("Gemini stream chunk is not valid JSON: {e}")))?;
        if let Some(err) = common::hub_error(&value) {
            let msg = err
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("upstream error");
            let status = err
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or("INTERNAL");
            out.push(common::hub_error_chunk(
                msg,
                status,
                err.get("code").cloned(),
            ));
            self.errored = true;
            return Ok(None);
        }
        serde_json::from_value(value)
            .map(Some)
            .map_err(|e| bad_upstream(format!("invalid Gemini stream chunk: {e}")))
    }

    /// Maps one upstream event.
    pub fn push(&mut self, ev: &Event) -> Result<Vec<Event>, PluginError> {
        let data = ev.data.trim();
        if data.is_empty() || data == "[DONE]" {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        let Some(resp) = common::plain_chunk_or(
            data,
            |r: &GenerateContentResponse| &r.extra,
            |d| self.push_other(d, &mut out),
        )?
        else {
            return Ok(out);
        };
        if self.id.is_empty() {
            self.id = resp.response_id.clone().unwrap_or_else(|| {
                format!(
                    "chatcmpl-{:016x}",
                    common::fnv64(&[&self.model, &self.created.to_string()])
                )
            });
        }
        if let Some(m) = &resp.model_version {
            self.model = m.clone();
        }
        if !self.started {
            self.started = true;
            self.emit(&mut out, Delta::role("assistant"), None);
        }
        if let Some(u) = resp.usage_metadata {
            self.usage = Some(u);
        }
        let rid = resp.response_id.clone().unwrap_or_default();
        for (pos, cand) in resp.candidates.into_iter().enumerate() {
            if cand.index.unwrap_or(pos as u32) != 0 {
                debug("Gemini stream: candidate other than 0 ignored");
                continue;
            }
            for p in cand.content.map(|c| c.parts).unwrap_or_default() {
                if let Some(fc) = p.function_call {
                    let k = self.next_tool;
                    self.next_tool += 1;
                    let args =
                        common::arguments_to_string(&fc.args.clone().unwrap_or_else(|| json!({})));
                    self.out_chars += args.chars().count();
                    let mut call = ToolCall {
                        index: Some(k),
                        id: Some(
                            fc.id
                                .clone()
                                .unwrap_or_else(|| response_call_id(&rid, 0, k as usize, &fc)),
                        ),
                        kind: Some("function".into()),
                        function: Some(hub::FunctionCall {
                            name: Some(fc.name),
                            arguments: Some(args),
                            extra: Map::new(),
                        }),
                        extra: Map::new(),
                    };
                    if let Some(s) = p.thought_signature {
                        call.extra
                            .insert(ext::EXTRA_CONTENT.into(), extra_content(&s));
                    }
                    self.emit(
                        &mut out,
                        Delta {
                            tool_calls: Some(vec![call]),
                            ..Default::default()
                        },
                        None,
                    );
                    continue;
                }
                let Some(t) = p.text else { continue };
                let mut d = Delta::default();
                if p.thought == Some(true) {
                    if t.is_empty() {
                        continue;
                    }
                    self.out_chars += t.chars().count();
                    d.reasoning_content = Some(t);
                } else {
                    if let Some(s) = p.thought_signature {
                        d.extra.insert(ext::EXTRA_CONTENT.into(), extra_content(&s));
                    }
                    if t.is_empty() && d.extra.is_empty() {
                        continue;
                    }
                    self.out_chars += t.chars().count();
                    d.content = Some(t);
                }
                self.emit(&mut out, d, None);
            }
            if let Some(reason) = cand.finish_reason {
                let finish = gemini_finish_to_hub(&reason, self.next_tool > 0);
                self.finish_sent = true;
                self.emit(&mut out, Delta::default(), Some(finish));
            }
        }
        if !self.finish_sent
            && resp
                .prompt_feedback
                .as_ref()
                .and_then(|f| f.get("blockReason"))
                .is_some()
        {
            self.finish_sent = true;
            self.emit(&mut out, Delta::default(), Some("content_filter"));
        }
        Ok(out)
    }

    /// The upstream stream ended: sends the usage chunk when it is due.
    pub fn finish(&mut self) -> Result<Vec<Event>, PluginError> {
        let mut out = Vec::new();
        if self.include_usage && self.started && !self.usage_sent && !self.errored {
            self.usage_sent = true;
            let usage = match &self.usage {
                Some(u) if u.prompt_token_count.is_some() || u.candidates_token_count.is_some() => {
                    usage_to_hub(u)
                }
                _ => common::estimated_usage(self.prompt_chars, self.out_chars),
            };
            let c = ChatChunk::usage(&self.id, self.created, &self.model, usage);
            out.push(common::data_event(
                serde_json::to_string(&c).unwrap_or_default(),
            ));
        }
        Ok(out)
    }
}

/// A tool call being assembled by [`HubToGemini`].
#[derive(Debug, Default)]
struct PendingCall {
    id: Option<String>,
    name: String,
    args: String,
    signature: Option<String>,
}

/// Writes hub chunks as Gemini stream chunks (SSE `data:` without event
/// names).
///
/// Text and reasoning go out as they arrive (one chunk per hub chunk). Tool
/// calls are assembled and sent whole (Gemini clients expect complete
/// `functionCall` parts) in the final chunk, which also carries
/// `finishReason` and `usageMetadata` and is sent by
/// [`finish`](Self::finish). A hub error chunk becomes a Gemini error object
/// and ends the stream.
#[derive(Debug)]
pub struct HubToGemini {
    model: String,
    id: String,
    prompt_chars: usize,
    out_chars: usize,
    calls: BTreeMap<u32, PendingCall>,
    finish: Option<String>,
    usage: Option<hub::Usage>,
    errored: bool,
    done: bool,
}

impl HubToGemini {
    /// An encoder for one stream.
    pub fn new(ctx: &Ctx, prompt_chars: usize) -> Self {
        HubToGemini {
            model: ctx.client_model().to_owned(),
            id: String::new(),
            prompt_chars,
            out_chars: 0,
            calls: BTreeMap::new(),
            finish: None,
            usage: None,
            errored: false,
            done: false,
        }
    }

    fn chunk(&self, parts: Vec<Part>, finish: Option<&str>, usage: Option<UsageMetadata>) -> Event {
        let resp = GenerateContentResponse {
            candidates: vec![Candidate {
                content: Some(Content {
                    role: Some("model".into()),
                    parts,
                    extra: Map::new(),
                }),
                finish_reason: finish.map(str::to_owned),
                index: Some(0),
                extra: Map::new(),
            }],
            prompt_feedback: None,
            usage_metadata: usage,
            model_version: Some(self.model.clone()),
            response_id: Some(self.id.clone()),
            extra: Map::new(),
        };
        common::data_event(serde_json::to_string(&resp).unwrap_or_default())
    }

    /// An event that is not a plain chunk: a hub error chunk (written to
    /// `out` as the Gemini error event, which ends the stream; `None`), text
    /// that is not JSON or not a chunk (an error naming what is wrong), or a
    /// chunk whose top-level `error` is not an object (the chunk).
    fn push_other(
        &mut self,
        data: &str,
        out: &mut Vec<Event>,
    ) -> Result<Option<ChatChunk>, PluginError> {
        let value: Value = serde_json::from_str(data)
            .map_err(|e| bad_upstream(format!("hub stream chunk is not valid JSON: {e}")))?;
        if let Some(err) = common::hub_error(&value) {
            self.errored = true;
            let msg = err
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("upstream error");
            let code = common::error_status(err);
            let status = err
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or_else(|| common::gemini_error_status(code));
            out.push(common::data_event(
                json!({"error": {"code": code, "message": msg, "status": status}}).to_string(),
            ));
            return Ok(None);
        }
        serde_json::from_value(value)
            .map(Some)
            .map_err(|e| bad_upstream(format!("invalid hub stream chunk: {e}")))
    }

    /// Encodes one hub chunk.
    pub fn push(&mut self, ev: &Event) -> Result<Vec<Event>, PluginError> {
        let data = ev.data.trim();
        if data.is_empty() || data == "[DONE]" || self.errored || self.done {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        let Some(chunk) = common::plain_chunk_or(
            data,
            |c: &ChatChunk| &c.extra,
            |d| self.push_other(d, &mut out),
        )?
        else {
            return Ok(out);
        };
        if self.id.is_empty() {
            self.id = chunk.id.clone();
        }
        if !chunk.model.is_empty() {
            self.model = chunk.model.clone();
        }
        if let Some(u) = chunk.usage {
            self.usage = Some(u);
        }
        for choice in chunk.choices {
            if choice.index != 0 {
                debug("hub chunk for a choice other than 0 ignored");
                continue;
            }
            let d = choice.delta;
            let mut parts = Vec::new();
            if let Some(r) = d.reasoning_content.filter(|r| !r.is_empty()) {
                self.out_chars += r.chars().count();
                parts.push(Part {
                    text: Some(r),
                    thought: Some(true),
                    ..Default::default()
                });
            }
            let sig = thought_signature(&d.extra);
            if let Some(t) = d.content.filter(|t| !t.is_empty() || sig.is_some()) {
                self.out_chars += t.chars().count();
                parts.push(Part {
                    text: Some(t),
                    thought_signature: sig,
                    ..Default::default()
                });
            }
            if !parts.is_empty() {
                out.push(self.chunk(parts, None, None));
            }
            for (pos, call) in d.tool_calls.unwrap_or_default().into_iter().enumerate() {
                let k = call.index.unwrap_or(pos as u32);
                let entry = self.calls.entry(k).or_default();
                if call.id.is_some() {
                    entry.id = call.id.clone();
                }
                if let Some(s) = thought_signature(&call.extra) {
                    entry.signature = Some(s);
                }
                if let Some(f) = call.function {
                    if let Some(n) = f.name {
                        entry.name.push_str(&n);
                    }
                    if let Some(a) = f.arguments {
                        self.out_chars += a.chars().count();
                        entry.args.push_str(&a);
                    }
                }
            }
            if let Some(f) = choice.finish_reason {
                self.finish = Some(f);
            }
        }
        Ok(out)
    }

    /// The hub stream ended: sends the final chunk (function calls,
    /// `finishReason`, `usageMetadata`); nothing after an error.
    pub fn finish(&mut self) -> Result<Vec<Event>, PluginError> {
        if self.errored || self.done {
            return Ok(Vec::new());
        }
        self.done = true;
        let parts: Vec<Part> = std::mem::take(&mut self.calls)
            .into_values()
            .map(|c| Part {
                function_call: Some(FunctionCall {
                    id: c.id,
                    name: c.name,
                    args: Some(parse_arguments(&c.args)),
                    extra: Map::new(),
                }),
                thought_signature: c.signature,
                ..Default::default()
            })
            .collect();
        let usage = match &self.usage {
            Some(u) => usage_from_hub(u),
            None => usage_from_hub(&common::estimated_usage(self.prompt_chars, self.out_chars)),
        };
        let finish = hub_finish_to_gemini(self.finish.as_deref().unwrap_or("stop"));
        Ok(vec![self.chunk(parts, Some(finish), Some(usage))])
    }
}
