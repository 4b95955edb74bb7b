//! Streams: Anthropic events → hub chunks ([`AnthropicToHub`], provider
//! side) and hub chunks → Anthropic events ([`HubToAnthropic`], ingress).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{Map, Value, json};
use sluice_sdk::error::bad_upstream;
use sluice_sdk::hub::{self, ChatChunk, Delta, FunctionCall, ToolCall};
use sluice_sdk::log::{debug, warn};
use sluice_sdk::{Event, PluginError};

use super::response::{message_id, usage_from_hub, usage_to_hub};
use super::types::{StreamEvent, Usage};
use crate::common::{self, Ctx, anthropic_stop_to_finish, finish_to_anthropic_stop};
use crate::ext;

/// What an Anthropic content block is, as the stream mapper tracks it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Upstream {
    Text,
    Thinking,
    /// A tool_use block and its hub tool call index.
    Tool(u32),
    Other,
}

/// Maps an Anthropic event stream to hub chunks, one event at a time.
///
/// * `message_start` → a chunk with `delta.role = "assistant"`;
/// * text / thinking / signature deltas → `delta.content` /
///   `delta.reasoning_content` / `delta.reasoning_signature`;
///   `redacted_thinking` blocks → `delta.redacted_thinking`;
/// * `tool_use` start → `delta.tool_calls[{index, id, type, function: {name,
///   arguments: ""}}]`, `input_json_delta` → `function.arguments` fragments;
/// * `message_delta` → a chunk with `finish_reason` (and the choice
///   extension `stop_sequence`);
/// * `message_stop` → the usage chunk (`choices: []`) when the request asked
///   for `stream_options.include_usage`;
/// * `error` → a hub error chunk `{"error": {...}}`; `ping` → nothing.
#[derive(Debug)]
pub struct AnthropicToHub {
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
    prompt_chars: usize,
    out_chars: usize,
    started: bool,
    blocks: BTreeMap<u32, Upstream>,
    next_tool: u32,
    usage: Usage,
    have_usage: bool,
    finished: bool,
    usage_sent: bool,
}

impl AnthropicToHub {
    /// A mapper for one stream. `include_usage`: whether to send the final
    /// usage chunk; `prompt_chars`: the prompt's size, for a usage estimate
    /// when the upstream sends no usage.
    pub fn new(ctx: &Ctx, include_usage: bool, prompt_chars: usize) -> Self {
        AnthropicToHub {
            id: String::new(),
            model: ctx.model.clone(),
            created: ctx.created,
            include_usage,
            prompt_chars,
            out_chars: 0,
            started: false,
            blocks: BTreeMap::new(),
            next_tool: 0,
            usage: Usage::default(),
            have_usage: false,
            finished: false,
            usage_sent: false,
        }
    }

    fn chunk(&self, delta: Delta, finish: Option<&str>) -> ChatChunk {
        ChatChunk::new(&self.id, self.created, &self.model, delta, finish)
    }

    fn emit(&self, out: &mut Vec<Event>, chunk: ChatChunk) {
        out.push(common::data_event(
            serde_json::to_string(&chunk).unwrap_or_default(),
        ));
    }

    fn ensure_started(&mut self, out: &mut Vec<Event>) {
        if !self.started {
            self.started = true;
            self.emit(out, self.chunk(Delta::role("assistant"), None));
        }
    }

    fn merge_usage(&mut self, u: &Usage) {
        let target = &mut self.usage;
        if u.input_tokens.is_some() {
            target.input_tokens = u.input_tokens;
        }
        if u.output_tokens.is_some() {
            target.output_tokens = u.output_tokens;
        }
        if u.cache_creation_input_tokens.is_some() {
            target.cache_creation_input_tokens = u.cache_creation_input_tokens;
        }
        if u.cache_read_input_tokens.is_some() {
            target.cache_read_input_tokens = u.cache_read_input_tokens;
        }
        self.have_usage |= u.input_tokens.is_some() || u.output_tokens.is_some();
    }

    /// The hub usage so far (estimated when the upstream sent none).
    pub fn hub_usage(&self) -> hub::Usage {
        if self.have_usage {
            let mut u = usage_to_hub(&self.usage);
            if self.usage.output_tokens.is_none() {
                u.completion_tokens = common::estimate_tokens(self.out_chars);
                u.total_tokens = u.prompt_tokens + u.completion_tokens;
                u.extra.insert(ext::ESTIMATED.into(), Value::Bool(true));
            }
            u
        } else {
            common::estimated_usage(self.prompt_chars, self.out_chars)
        }
    }

    fn usage_chunk(&mut self, out: &mut Vec<Event>) {
        if self.include_usage && !self.usage_sent {
            self.usage_sent = true;
            let c = ChatChunk::usage(&self.id, self.created, &self.model, self.hub_usage());
            self.emit(out, c);
        }
    }

    /// Maps one upstream event.
    pub fn push(&mut self, ev: &Event) -> Result<Vec<Event>, PluginError> {
        let data = ev.data.trim();
        if data.is_empty() {
            return Ok(Vec::new());
        }
        let sev: StreamEvent = sluice_sdk::json::from_bytes(data.as_bytes()).map_err(|e| {
            bad_upstream(format!(
                "Anthropic stream event {:?} is not valid: {e}",
                ev.event.as_deref().unwrap_or("")
            ))
        })?;
        let mut out = Vec::new();
        match sev.kind.as_str() {
            "message_start" => {
                if let Some(m) = &sev.message {
                    if !m.id.is_empty() {
                        self.id = m.id.clone();
                    }
                    if !m.model.is_empty() {
                        self.model = m.model.clone();
                    }
                    if let Some(u) = &m.usage {
                        self.merge_usage(u);
                    }
                }
                self.ensure_started(&mut out);
            }
            "content_block_start" => {
                self.ensure_started(&mut out);
                let index = sev.index.unwrap_or(self.blocks.len() as u32);
                let b = sev.content_block.unwrap_or_default();
                match b.kind.as_str() {
                    "text" => {
                        self.blocks.insert(index, Upstream::Text);
                        if let Some(t) = b.text.filter(|t| !t.is_empty()) {
                            self.out_chars += t.chars().count();
                            self.emit(&mut out, self.chunk(Delta::content(t), None));
                        }
                    }
                    "thinking" => {
                        self.blocks.insert(index, Upstream::Thinking);
                        if let Some(t) = b.thinking.filter(|t| !t.is_empty()) {
                            self.out_chars += t.chars().count();
                            self.emit(&mut out, self.chunk(reasoning(t), None));
                        }
                        if let Some(s) = b.signature.filter(|s| !s.is_empty()) {
                            self.emit(&mut out, self.chunk(signature(s), None));
                        }
                    }
                    "redacted_thinking" => {
                        self.blocks.insert(index, Upstream::Other);
                        let mut d = Delta::default();
                        d.extra.insert(
                            ext::REDACTED_THINKING.into(),
                            Value::String(b.data.unwrap_or_default()),
                        );
                        self.emit(&mut out, self.chunk(d, None));
                    }
                    "tool_use" => {
                        let k = self.next_tool;
                        self.next_tool += 1;
                        self.blocks.insert(index, Upstream::Tool(k));
                        let input = b.input.as_ref().and_then(|i| i.to_value().ok());
                        let args = match &input {
                            Some(Value::Object(o)) if !o.is_empty() => {
                                serde_json::to_string(o).unwrap_or_default()
                            }
                            _ => String::new(),
                        };
                        self.out_chars += args.chars().count();
                        let call = ToolCall {
                            index: Some(k),
                            id: b.id,
                            kind: Some("function".into()),
                            function: Some(FunctionCall {
                                name: b.name,
                                arguments: Some(args),
                                extra: Map::new(),
                            }),
                            extra: Map::new(),
                        };
                        self.emit(&mut out, self.chunk(tool_delta(call), None));
                    }
                    other => {
                        self.blocks.insert(index, Upstream::Other);
                        debug(&format!(
                            "Anthropic `{other}` block not mapped to the hub stream"
                        ));
                    }
                }
            }
            "content_block_delta" => {
                self.ensure_started(&mut out);
                let index = sev.index.unwrap_or(0);
                let block = self.blocks.get(&index).copied();
                let d = sev.delta.unwrap_or_default();
                match d.kind.as_deref().unwrap_or_default() {
                    "text_delta" => {
                        let t = d.text.unwrap_or_default();
                        if !t.is_empty() {
                            self.out_chars += t.chars().count();
                            self.emit(&mut out, self.chunk(Delta::content(t), None));
                        }
                    }
                    "thinking_delta" => {
                        let t = d.thinking.unwrap_or_default();
                        if !t.is_empty() {
                            self.out_chars += t.chars().count();
                            self.emit(&mut out, self.chunk(reasoning(t), None));
                        }
                    }
                    "signature_delta" => {
                        if let Some(s) = d.signature.filter(|s| !s.is_empty()) {
                            self.emit(&mut out, self.chunk(signature(s), None));
                        }
                    }
                    "input_json_delta" => {
                        let frag = d.partial_json.unwrap_or_default();
                        match block {
                            Some(Upstream::Tool(k)) if !frag.is_empty() => {
                                self.out_chars += frag.chars().count();
                                let call = ToolCall {
                                    index: Some(k),
                                    function: Some(FunctionCall {
                                        arguments: Some(frag),
                                        ..Default::default()
                                    }),
                                    ..Default::default()
                                };
                                self.emit(&mut out, self.chunk(tool_delta(call), None));
                            }
                            Some(Upstream::Tool(_)) => {}
                            _ => debug(
                                "input_json_delta for a block that is not a tool_use: ignored",
                            ),
                        }
                    }
                    other => debug(&format!("Anthropic `{other}` delta not mapped")),
                }
            }
            "content_block_stop" | "ping" => {}
            "message_delta" => {
                self.ensure_started(&mut out);
                if let Some(u) = &sev.usage {
                    self.merge_usage(u);
                }
                let d = sev.delta.unwrap_or_default();
                let finish =
                    anthropic_stop_to_finish(d.stop_reason.as_deref().unwrap_or("end_turn"));
                let mut c = self.chunk(Delta::default(), Some(finish));
                if let Some(seq) = d.stop_sequence {
                    c.choices[0]
                        .extra
                        .insert(ext::STOP_SEQUENCE.into(), Value::String(seq));
                }
                self.finished = true;
                self.emit(&mut out, c);
            }
            "message_stop" => {
                if self.finished {
                    self.usage_chunk(&mut out);
                }
            }
            "error" => {
                let err = sev.error.unwrap_or(Value::Null);
                let msg = err
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("upstream stream error");
                let kind = err
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("api_error");
                out.push(common::hub_error_chunk(
                    msg,
                    kind,
                    Some(Value::String(kind.to_owned())),
                ));
            }
            other => debug(&format!("Anthropic `{other}` event ignored")),
        }
        Ok(out)
    }

    /// The upstream stream ended: sends the usage chunk if it is still due.
    pub fn finish(&mut self) -> Result<Vec<Event>, PluginError> {
        let mut out = Vec::new();
        if self.finished {
            self.usage_chunk(&mut out);
        }
        Ok(out)
    }
}

fn reasoning(t: String) -> Delta {
    Delta {
        reasoning_content: Some(t),
        ..Default::default()
    }
}

fn signature(s: String) -> Delta {
    let mut d = Delta::default();
    d.extra
        .insert(ext::REASONING_SIGNATURE.into(), Value::String(s));
    d
}

fn tool_delta(call: ToolCall) -> Delta {
    Delta {
        tool_calls: Some(vec![call]),
        ..Default::default()
    }
}

/// The `delta` of a `content_block_delta` event [`HubToAnthropic`] writes.
#[derive(Serialize)]
#[serde(tag = "type")]
enum BlockDelta<'a> {
    #[serde(rename = "text_delta")]
    Text { text: &'a str },
    #[serde(rename = "thinking_delta")]
    Thinking { thinking: &'a str },
    #[serde(rename = "signature_delta")]
    Signature { signature: &'a str },
    #[serde(rename = "input_json_delta")]
    InputJson { partial_json: &'a str },
}

/// The start of a thinking block.
fn thinking_block() -> Value {
    json!({"type": "thinking", "thinking": ""})
}

/// The Anthropic block open in [`HubToAnthropic`].
#[derive(Debug, Clone, Copy, PartialEq)]
enum Open {
    Text,
    Thinking,
    /// A tool_use block for this hub tool call index.
    Tool(u32),
}

/// Writes hub chunks as Anthropic events, one chunk at a time.
///
/// Blocks are opened as content of a new kind arrives and closed when the
/// next one starts, at `finish_reason`, before an error, or at
/// [`finish`](Self::finish): every `content_block_start` gets exactly one
/// `content_block_stop`. `message_delta` (stop reason and usage) and
/// `message_stop` are sent by `finish`, after the usage chunk has had its
/// chance to arrive. A hub error chunk becomes `event: error` and ends the
/// message (nothing more is sent).
#[derive(Debug)]
pub struct HubToAnthropic {
    model: String,
    id: Option<String>,
    prompt_chars: usize,
    out_chars: usize,
    started: bool,
    next_block: u32,
    open: Option<(u32, Open)>,
    tools_seen: BTreeSet<u32>,
    finish: Option<String>,
    stop_sequence: Option<String>,
    usage: Option<hub::Usage>,
    errored: bool,
    done: bool,
}

impl HubToAnthropic {
    /// An encoder for one stream; `prompt_chars` is the prompt's size, for a
    /// usage estimate when the hub stream carries no usage.
    pub fn new(ctx: &Ctx, prompt_chars: usize) -> Self {
        HubToAnthropic {
            model: ctx.client_model().to_owned(),
            id: None,
            prompt_chars,
            out_chars: 0,
            started: false,
            next_block: 0,
            open: None,
            tools_seen: BTreeSet::new(),
            finish: None,
            stop_sequence: None,
            usage: None,
            errored: false,
            done: false,
        }
    }

    fn event(kind: &str, data: Value) -> Event {
        Event {
            event: Some(kind.to_owned()),
            data: data.to_string(),
        }
    }

    fn start(&mut self, chunk_id: &str, chunk_model: &str, out: &mut Vec<Event>) {
        if self.started {
            return;
        }
        self.started = true;
        if !chunk_model.is_empty() {
            self.model = chunk_model.to_owned();
        }
        let id = message_id(self.id.as_deref().unwrap_or(chunk_id));
        self.id = Some(id.clone());
        out.push(Self::event(
            "message_start",
            json!({"type": "message_start", "message": {
                "id": id, "type": "message", "role": "assistant", "model": self.model,
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": 0, "output_tokens": 0}
            }}),
        ));
    }

    fn close(&mut self, out: &mut Vec<Event>) {
        if let Some((index, _)) = self.open.take() {
            out.push(Self::event(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": index}),
            ));
        }
    }

    /// Opens a block of `kind` unless it is the open one; returns its index.
    /// `block` builds the `content_block` of its start event.
    fn ensure(&mut self, kind: Open, block: impl FnOnce() -> Value, out: &mut Vec<Event>) -> u32 {
        if let Some((index, open)) = self.open
            && open == kind
        {
            return index;
        }
        self.close(out);
        let index = self.next_block;
        self.next_block += 1;
        self.open = Some((index, kind));
        out.push(Self::event(
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": block()}),
        ));
        index
    }

    /// A `content_block_delta` event. Written from borrowed text, without
    /// building a `Value`: a stream sends one for nearly every chunk.
    fn delta(index: u32, delta: BlockDelta<'_>) -> Event {
        #[derive(Serialize)]
        struct Data<'a> {
            #[serde(rename = "type")]
            kind: &'static str,
            index: u32,
            delta: BlockDelta<'a>,
        }
        let data = Data {
            kind: "content_block_delta",
            index,
            delta,
        };
        Event {
            event: Some("content_block_delta".to_owned()),
            data: serde_json::to_string(&data).unwrap_or_default(),
        }
    }

    /// An event that is not a plain chunk: a hub error chunk (written to
    /// `out` as `event: error`, which ends the message; `None`), text that is
    /// not JSON or not a chunk (an error naming what is wrong), or a chunk
    /// whose top-level `error` is not an object (the chunk).
    fn push_other(
        &mut self,
        data: &str,
        out: &mut Vec<Event>,
    ) -> Result<Option<ChatChunk>, PluginError> {
        let value: Value = serde_json::from_str(data)
            .map_err(|e| bad_upstream(format!("hub stream chunk is not valid JSON: {e}")))?;
        if let Some(err) = common::hub_error(&value) {
            self.close(out);
            let msg = err
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("upstream error");
            let kind = err
                .get("type")
                .and_then(Value::as_str)
                .filter(|t| {
                    t.ends_with("_error") && t.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                })
                .unwrap_or_else(|| common::anthropic_error_type(common::error_status(err)));
            out.push(Self::event(
                "error",
                json!({"type": "error", "error": {"type": kind, "message": msg}}),
            ));
            self.errored = true;
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
        self.start(&chunk.id, &chunk.model, &mut out);
        if let Some(u) = chunk.usage {
            self.usage = Some(u);
        }
        for choice in chunk.choices {
            if choice.index != 0 {
                debug("hub chunk for a choice other than 0 ignored (Anthropic has one)");
                continue;
            }
            let d = choice.delta;
            if let Some(r) = d.reasoning_content.filter(|r| !r.is_empty()) {
                self.out_chars += r.chars().count();
                let i = self.ensure(Open::Thinking, thinking_block, &mut out);
                out.push(Self::delta(i, BlockDelta::Thinking { thinking: &r }));
            }
            if let Some(Value::String(s)) = d.extra.get(ext::REASONING_SIGNATURE)
                && !s.is_empty()
            {
                let i = self.ensure(Open::Thinking, thinking_block, &mut out);
                out.push(Self::delta(i, BlockDelta::Signature { signature: s }));
            }
            if let Some(Value::String(data)) = d.extra.get(ext::REDACTED_THINKING) {
                self.close(&mut out);
                let index = self.next_block;
                self.next_block += 1;
                out.push(Self::event(
                    "content_block_start",
                    json!({"type": "content_block_start", "index": index,
                           "content_block": {"type": "redacted_thinking", "data": data}}),
                ));
                out.push(Self::event(
                    "content_block_stop",
                    json!({"type": "content_block_stop", "index": index}),
                ));
            }
            let text = d.content.filter(|t| !t.is_empty()).or_else(|| {
                d.extra
                    .get("refusal")
                    .and_then(Value::as_str)
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned)
            });
            if let Some(t) = text {
                self.out_chars += t.chars().count();
                let i = self.ensure(Open::Text, || json!({"type": "text", "text": ""}), &mut out);
                out.push(Self::delta(i, BlockDelta::Text { text: &t }));
            }
            for (pos, call) in d.tool_calls.unwrap_or_default().into_iter().enumerate() {
                let k = call.index.unwrap_or(pos as u32);
                let f = call.function.unwrap_or_default();
                let is_open = matches!(self.open, Some((_, Open::Tool(j))) if j == k);
                if !is_open {
                    if self.tools_seen.contains(&k) {
                        warn(&format!(
                            "fragment for tool call {k} after another block started: dropped"
                        ));
                        continue;
                    }
                    self.tools_seen.insert(k);
                    let id = call.id.clone().unwrap_or_else(|| format!("toolu_{k}"));
                    let name = f.name.clone().unwrap_or_default();
                    self.ensure(
                        Open::Tool(k),
                        || json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
                        &mut out,
                    );
                }
                if let Some(args) = f.arguments.filter(|a| !a.is_empty()) {
                    self.out_chars += args.chars().count();
                    let i = self.open.map_or(0, |o| o.0);
                    out.push(Self::delta(
                        i,
                        BlockDelta::InputJson {
                            partial_json: &args,
                        },
                    ));
                }
            }
            if let Some(Value::String(seq)) = choice.extra.get(ext::STOP_SEQUENCE) {
                self.stop_sequence = Some(seq.clone());
            }
            if let Some(f) = choice.finish_reason {
                self.finish = Some(f);
                self.close(&mut out);
            }
        }
        Ok(out)
    }

    /// The hub stream ended: closes the open block and sends `message_delta`
    /// and `message_stop` (nothing after an error).
    pub fn finish(&mut self) -> Result<Vec<Event>, PluginError> {
        let mut out = Vec::new();
        if self.errored || self.done {
            return Ok(out);
        }
        self.done = true;
        self.start("", "", &mut out);
        self.close(&mut out);
        let stop = finish_to_anthropic_stop(
            self.finish.as_deref().unwrap_or("stop"),
            self.stop_sequence.is_some(),
        );
        let usage = match &self.usage {
            Some(u) => usage_from_hub(u),
            None => usage_from_hub(&common::estimated_usage(self.prompt_chars, self.out_chars)),
        };
        let stop_sequence = if stop == "stop_sequence" {
            self.stop_sequence.clone()
        } else {
            None
        };
        out.push(Self::event(
            "message_delta",
            json!({"type": "message_delta",
                   "delta": {"stop_reason": stop, "stop_sequence": stop_sequence},
                   "usage": usage}),
        ));
        out.push(Self::event("message_stop", json!({"type": "message_stop"})));
        Ok(out)
    }
}
