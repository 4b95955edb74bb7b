//! Anthropic ↔ hub for the common cases, written straight from the bytes:
//! the fast paths of [`decode_request`](super::decode_request) (an
//! Anthropic request → the hub) and [`encode_response`](super::encode_response)
//! (a hub answer → an Anthropic message).
//!
//! The typed paths parse the whole body into types, translate, and
//! serialize: every string is decoded, allocated, and escaped again. Here
//! the body is read once with a [`Cursor`] and the other dialect's JSON is
//! written as it goes: strings without escapes, tool inputs and tool
//! schemas are copied as they came. The output is the typed path's byte for
//! byte (the tests in `tests/direct.rs` compare the two).
//!
//! Each answers only for what it was written for, and returns `None` for
//! anything else, which the typed path then translates (or refuses, with
//! its error message):
//!
//! * requests ([`anthropic_to_hub_bytes`]): the provider is a plain
//!   OpenAI-compatible one (hub extensions are not kept: an Anthropic client
//!   in front of OpenAI, vLLM, Ollama, ...); content blocks are `text`,
//!   `tool_use`, `tool_result` (with text content), `thinking` and
//!   `redacted_thinking` (images and documents go the typed way); tool
//!   calls' inputs are JSON objects;
//! * answers ([`response_from_hub_bytes`]): one choice whose message has
//!   text content (or none), tool calls, and perhaps `reasoning_content`,
//!   with usage; no Anthropic extension fields (those come from an
//!   Anthropic upstream, whose answers an Anthropic client gets untranslated
//!   anyway);
//! * in both, no key is repeated and no key is written with escapes.
//!
//! Like the rest of the plugins' structural readers, they follow the JSON's
//! structure without checking the grammar of the values they skip: the
//! gateway has parsed every client body and upstream answer before a plugin
//! sees it.

use std::borrow::Cow;

use serde_json::Value;
use sluice_sdk::json::{self, Cursor, copy_str, raw_str, write_str};
use sluice_sdk::log::{self, Level};

use crate::common::{Ctx, finish_to_anthropic_stop, raw_arguments};
use crate::ext;

// ---------------------------------------------------------------------------
// Requests: Anthropic → hub
// ---------------------------------------------------------------------------

/// An Anthropic request as hub JSON, or `None` when it is not one of the
/// requests this path handles (see the module docs).
pub fn anthropic_to_hub_bytes(body: &[u8], ctx: &Ctx) -> Option<Vec<u8>> {
    if ctx.keeps_extensions() {
        return None;
    }
    let body = json::utf8(body)?.as_bytes();
    let mut w = Writer {
        msgs: Vec::with_capacity(body.len() + 256),
        system: Vec::new(),
        tools: Vec::new(),
        notes: log::enabled(Level::Debug).then(Vec::new),
    };
    let mut top = Top::default();
    let mut messages = false;
    let mut c = Cursor::new(body);
    object(&mut c, |key, c| {
        let (bit, slot) = match key {
            // Messages, the system prompt and tools are written as they
            // are read, each into its own buffer: the hub's order of fields
            // is not the body's.
            b"messages" => {
                if !c.enter_array() {
                    return None;
                }
                while c.next_element()? {
                    w.message(c)?;
                }
                messages = true;
                return Some(1 << 1);
            }
            b"system" | b"tools" if c.is_null() => {
                c.value()?;
                return Some(if key == b"system" { 1 << 3 } else { 1 << 10 });
            }
            b"system" => {
                w.system(c)?;
                return Some(1 << 3);
            }
            b"tools" => {
                w.tools(c)?;
                return Some(1 << 10);
            }
            b"model" => (1 << 0, &mut top.model),
            b"max_tokens" => (1 << 2, &mut top.max_tokens),
            b"metadata" => (1 << 4, &mut top.metadata),
            b"stop_sequences" => (1 << 5, &mut top.stop_sequences),
            b"stream" => (1 << 6, &mut top.stream),
            b"temperature" => (1 << 7, &mut top.temperature),
            b"top_p" => (1 << 8, &mut top.top_p),
            b"top_k" => (1 << 9, &mut top.top_k),
            b"tool_choice" => (1 << 11, &mut top.tool_choice),
            b"thinking" => (1 << 12, &mut top.thinking),
            _ => {
                let name = std::str::from_utf8(key).ok()?;
                if top.unknown.contains(&name) {
                    return None;
                }
                top.unknown.push(name);
                return skip(c);
            }
        };
        let v = c.value()?;
        // `null` is an absent optional field (the model is a string).
        if v != b"null" || bit == 1 {
            *slot = Some(v);
        }
        Some(bit)
    })?;
    if !c.at_end() || !messages {
        return None;
    }
    w.finish(top, ctx, body.len())
}

/// The top-level fields other than `messages`, as raw slices.
#[derive(Default)]
struct Top<'a> {
    model: Option<&'a [u8]>,
    max_tokens: Option<&'a [u8]>,
    metadata: Option<&'a [u8]>,
    stop_sequences: Option<&'a [u8]>,
    stream: Option<&'a [u8]>,
    temperature: Option<&'a [u8]>,
    top_p: Option<&'a [u8]>,
    top_k: Option<&'a [u8]>,
    tool_choice: Option<&'a [u8]>,
    thinking: Option<&'a [u8]>,
    /// Fields Anthropic has and the hub does not: dropped.
    unknown: Vec<&'a str>,
}

/// The parts of the hub request written so far, and the debug lines to
/// log when the whole request has been translated (none are logged for a
/// request handed back to the typed path, which logs its own).
struct Writer {
    /// The messages, comma-separated.
    msgs: Vec<u8>,
    /// The system message (empty when there is none).
    system: Vec<u8>,
    /// `,"tools":[...]` (empty when there are none).
    tools: Vec<u8>,
    notes: Option<Vec<String>>,
}

impl Writer {
    fn note(&mut self, text: impl FnOnce() -> String) {
        if let Some(notes) = &mut self.notes {
            notes.push(text());
        }
    }

    /// Starts a hub message: `{"role":"<role>","content":`, after a comma
    /// when it is not the first.
    fn open(&mut self, role: &str) {
        if !self.msgs.is_empty() {
            self.msgs.push(b',');
        }
        self.msgs.extend_from_slice(b"{\"role\":\"");
        self.msgs.extend_from_slice(role.as_bytes());
        self.msgs.extend_from_slice(b"\",\"content\":");
    }

    /// One Anthropic message (the cursor is on it).
    fn message(&mut self, c: &mut Cursor<'_>) -> Option<()> {
        if !c.enter_object() {
            return None;
        }
        let (mut role, mut content) = (None, None);
        while let Some(key) = c.next_key()? {
            match key {
                b"role" if role.is_none() => role = Some(c.value()?),
                b"content" if content.is_none() => content = Some(Content::read(c)?),
                b"role" | b"content" => return None,
                k if k.contains(&b'\\') => return None,
                _ => {
                    c.value()?;
                }
            }
        }
        match (role?, content?) {
            (br#""user""#, content) => self.user(content),
            (br#""assistant""#, content) => self.assistant(content),
            _ => None,
        }
    }

    /// A user message: text, or blocks of which `tool_result`s become
    /// `tool` messages and the text blocks between them user messages.
    fn user(&mut self, content: Content<'_>) -> Option<()> {
        let blocks = match content {
            Content::Raw(text) => {
                self.open("user");
                put_str(&mut self.msgs, text)?;
                self.msgs.push(b'}');
                return Some(());
            }
            Content::Blocks(blocks) => blocks,
        };
        let mut texts: Vec<Option<&[u8]>> = Vec::new();
        for b in &blocks {
            match b.kind {
                br#""text""# => texts.push(b.text),
                br#""tool_result""# => {
                    self.user_texts(&mut texts)?;
                    self.tool_result(b)?;
                }
                _ => return None,
            }
        }
        self.user_texts(&mut texts)
    }

    /// The text blocks gathered since the last tool result, as one user
    /// message (nothing when there are none).
    fn user_texts(&mut self, texts: &mut Vec<Option<&[u8]>>) -> Option<()> {
        if texts.is_empty() {
            return Some(());
        }
        self.open("user");
        parts(&mut self.msgs, texts)?;
        self.msgs.push(b'}');
        texts.clear();
        Some(())
    }

    /// A `tool_result` block as a `tool` message.
    fn tool_result(&mut self, b: &Block<'_>) -> Option<()> {
        self.open("tool");
        match &b.content {
            None => self.msgs.extend_from_slice(b"\"\""),
            Some(Content::Raw(raw)) if raw[0] == b'"' => put_str(&mut self.msgs, raw)?,
            // A number, boolean or object: its JSON text.
            Some(Content::Raw(raw)) => {
                let v: Value = json::from_bytes(raw).ok()?;
                write_str(&mut self.msgs, &v.to_string());
            }
            Some(Content::Blocks(items)) if items.is_empty() => {
                self.msgs.extend_from_slice(b"\"\"");
            }
            Some(Content::Blocks(items)) => {
                let mut texts = Vec::with_capacity(items.len());
                for item in items {
                    if item.kind != br#""text""# {
                        return None;
                    }
                    texts.push(item.text);
                }
                parts(&mut self.msgs, &texts)?;
            }
        }
        self.msgs.extend_from_slice(b",\"tool_call_id\":");
        match b.tool_use_id {
            Some(id) => put_str(&mut self.msgs, id)?,
            None => self.msgs.extend_from_slice(b"\"\""),
        }
        self.msgs.push(b'}');
        Some(())
    }

    /// An assistant message: its text blocks joined, its `tool_use` blocks
    /// as tool calls. Thinking is not sent to a plain OpenAI provider.
    fn assistant(&mut self, content: Content<'_>) -> Option<()> {
        let mut texts: Vec<&[u8]> = Vec::new();
        let mut calls: Vec<&Block<'_>> = Vec::new();
        let blocks = match content {
            Content::Raw(text) => {
                if text != b"\"\"" {
                    texts.push(text);
                }
                Vec::new()
            }
            Content::Blocks(blocks) => blocks,
        };
        for b in &blocks {
            match b.kind {
                // Texts are joined: empty ones add nothing.
                br#""text""# => texts.extend(b.text.filter(|t| *t != b"\"\"")),
                br#""tool_use""# => calls.push(b),
                br#""thinking""# | br#""redacted_thinking""# => {}
                other => {
                    let other = raw_str(other)?.into_owned();
                    self.note(|| {
                        format!("assistant `{other}` block dropped: the hub has no counterpart")
                    });
                }
            }
        }
        self.open("assistant");
        let out = &mut self.msgs;
        match texts.as_slice() {
            [] if !calls.is_empty() => {
                // No content: the `"content":` just written is taken back.
                out.truncate(out.len() - b",\"content\":".len());
            }
            [] => out.extend_from_slice(b"\"\""),
            [one] => put_str(out, one)?,
            many => {
                let mut text = String::new();
                for raw in many {
                    text.push_str(&raw_str(raw)?);
                }
                write_str(out, &text);
            }
        }
        if !calls.is_empty() {
            out.extend_from_slice(b",\"tool_calls\":[");
            for (i, call) in calls.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.push(b'{');
                if let Some(id) = call.id {
                    out.extend_from_slice(b"\"id\":");
                    put_str(out, id)?;
                    out.push(b',');
                }
                out.extend_from_slice(b"\"type\":\"function\",\"function\":{");
                if let Some(name) = call.name {
                    out.extend_from_slice(b"\"name\":");
                    put_str(out, name)?;
                    out.push(b',');
                }
                out.extend_from_slice(b"\"arguments\":");
                match call.input {
                    None => out.extend_from_slice(b"\"{}\""),
                    // An object is passed on as its text; `{"_raw": ...}`
                    // (arguments that were not an object) and other values
                    // go the typed way.
                    Some(input) => {
                        if input[0] != b'{' || memchr::memmem::find(input, b"\"_raw\"").is_some() {
                            return None;
                        }
                        write_str(out, std::str::from_utf8(input).ok()?);
                    }
                }
                out.extend_from_slice(b"}}");
            }
            out.push(b']');
        }
        out.push(b'}');
        Some(())
    }

    /// The whole hub request: the top-level fields around the messages.
    fn finish(mut self, top: Top<'_>, ctx: &Ctx, size: usize) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(size + self.msgs.len() / 8 + 256);
        out.extend_from_slice(b"{\"model\":");
        match top.model {
            Some(m) if m != b"\"\"" => put_str(&mut out, m)?,
            Some(_) | None => write_str(&mut out, ctx.client_model()),
        }
        out.extend_from_slice(b",\"messages\":[");
        out.extend_from_slice(&self.system);
        if !self.system.is_empty() && !self.msgs.is_empty() {
            out.push(b',');
        }
        out.extend_from_slice(&self.msgs);
        out.push(b']');

        let stream = match top.stream {
            None | Some(b"false") => false,
            Some(b"true") => true,
            Some(_) => return None,
        };
        if stream {
            out.extend_from_slice(b",\"stream\":true,\"stream_options\":{\"include_usage\":true}");
        }
        let mut parallel = None;
        out.extend_from_slice(&self.tools);
        if let Some(choice) = top.tool_choice {
            parallel = self.tool_choice(&mut out, choice)?;
        }
        if let Some(false) = parallel {
            out.extend_from_slice(b",\"parallel_tool_calls\":false");
        }
        for (key, raw) in [("temperature", top.temperature), ("top_p", top.top_p)] {
            if let Some(raw) = raw {
                let v: f64 = json::from_bytes(raw).ok()?;
                field(&mut out, key);
                json::to_writer(&mut out, &v).ok()?;
            }
        }
        if let Some(raw) = top.max_tokens {
            field(&mut out, "max_tokens");
            write_u64(&mut out, raw)?;
        }
        if let Some(raw) = top.stop_sequences {
            let list: Vec<Cow<'_, str>> = json::from_bytes(raw).ok()?;
            if !list.is_empty() {
                field(&mut out, "stop");
                json::to_writer(&mut out, &list).ok()?;
            }
        }
        if let Some(raw) = top.metadata {
            let [user] = fields_of(raw, [b"user_id"])?;
            if let Some(user) = user.filter(|u| u[0] == b'"') {
                field(&mut out, "user");
                put_str(&mut out, user)?;
            }
        }
        if let Some(raw) = top.thinking {
            // As `thinking::anthropic_to_effort` reads it: a budget when
            // enabled with one, else nothing.
            let [kind, budget] = fields_of(raw, [b"type", b"budget_tokens"])?;
            if kind.is_some_and(|k| k.contains(&b'\\')) {
                return None;
            }
            if kind == Some(br#""enabled""#)
                && let Some(n) = budget.and_then(u64_of)
            {
                field(&mut out, "reasoning_effort");
                write_str(&mut out, &crate::thinking::effort_for_budget(n));
            }
        }
        out.push(b'}');

        if let Some(raw) = top.top_k {
            let mut sink = Vec::new();
            write_u64(&mut sink, raw)?;
            self.note(|| "`top_k` dropped: the provider speaks plain OpenAI".into());
        }
        for key in &top.unknown {
            self.note(|| {
                format!("Anthropic field `{key}` dropped: the provider speaks plain OpenAI")
            });
        }
        for note in self.notes.iter().flatten() {
            log::debug(note);
        }
        Some(out)
    }

    /// The system prompt (the cursor is on it, and it is not `null`): text,
    /// or text blocks.
    fn system(&mut self, c: &mut Cursor<'_>) -> Option<()> {
        let out = &mut self.system;
        out.extend_from_slice(b"{\"role\":\"system\",\"content\":");
        match Content::read(c)? {
            Content::Raw(text) => put_str(out, text)?,
            Content::Blocks(blocks) => {
                let mut texts = Vec::with_capacity(blocks.len());
                for b in &blocks {
                    if b.kind != br#""text""# {
                        return None;
                    }
                    texts.push(b.text);
                }
                parts(out, &texts)?;
            }
        }
        out.push(b'}');
        Some(())
    }

    /// `tools` (the cursor is on them, and they are not `null`): custom
    /// tools as functions; server tools dropped.
    fn tools(&mut self, c: &mut Cursor<'_>) -> Option<()> {
        if !c.enter_array() {
            return None;
        }
        while c.next_element()? {
            let [kind, name, description, schema] =
                raw_fields(c, [b"type", b"name", b"description", b"input_schema"])?;
            let kind = optional(kind);
            let (description, schema) = (optional(description), optional(schema));
            // The name is a string (`null` is not one).
            let name = name.unwrap_or(b"\"\"");
            if name[0] != b'"' || description.is_some_and(|d| d[0] != b'"') {
                return None;
            }
            match kind {
                None | Some(br#""custom""#) => {}
                Some(k) if k[0] == b'"' => {
                    let (name, k) = (raw_str(name)?.into_owned(), raw_str(k)?.into_owned());
                    self.note(|| {
                        format!(
                            "Anthropic server tool `{name}` ({k}) dropped: the provider is not Anthropic"
                        )
                    });
                    continue;
                }
                Some(_) => return None,
            }
            let out = &mut self.tools;
            out.extend_from_slice(if out.is_empty() {
                b",\"tools\":["
            } else {
                b","
            });
            out.extend_from_slice(b"{\"type\":\"function\",\"function\":{\"name\":");
            put_str(out, name)?;
            if let Some(d) = description {
                out.extend_from_slice(b",\"description\":");
                put_str(out, d)?;
            }
            if let Some(s) = schema {
                out.extend_from_slice(b",\"parameters\":");
                out.extend_from_slice(s);
            }
            out.extend_from_slice(b"}}");
        }
        if !self.tools.is_empty() {
            self.tools.push(b']');
        }
        Some(())
    }

    /// `tool_choice`; returns whether parallel calls were turned off.
    fn tool_choice(&mut self, out: &mut Vec<u8>, raw: &[u8]) -> Option<Option<bool>> {
        let [kind, name, parallel] = raw_fields(
            &mut Cursor::new(raw),
            [b"type", b"name", b"disable_parallel_tool_use"],
        )?;
        let name = optional(name);
        if name.is_some_and(|n| n[0] != b'"') {
            return None;
        }
        let disable = match optional(parallel) {
            None | Some(b"false") => None,
            Some(b"true") => Some(false),
            Some(_) => return None,
        };
        let kind = kind?;
        match kind {
            br#""auto""# => out.extend_from_slice(b",\"tool_choice\":\"auto\""),
            br#""any""# => out.extend_from_slice(b",\"tool_choice\":\"required\""),
            br#""none""# => out.extend_from_slice(b",\"tool_choice\":\"none\""),
            br#""tool""# => {
                out.extend_from_slice(
                    b",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":",
                );
                match name {
                    Some(n) => put_str(out, n)?,
                    None => out.extend_from_slice(b"\"\""),
                }
                out.extend_from_slice(b"}}");
            }
            k if k[0] == b'"' => {
                let k = raw_str(k)?.into_owned();
                self.note(|| format!("unknown tool_choice type `{k}` dropped"));
            }
            _ => return None,
        }
        Some(disable)
    }
}

// ---------------------------------------------------------------------------
// Answers: hub → Anthropic
// ---------------------------------------------------------------------------

/// A hub answer (a whole chat completion) as an Anthropic message, or
/// `None` when it is not one of the answers this path handles (see the
/// module docs).
pub fn response_from_hub_bytes(body: &[u8], ctx: &Ctx) -> Option<Vec<u8>> {
    let body = json::utf8(body)?.as_bytes();
    let mut c = Cursor::new(body);
    let (mut id, mut model, mut choice, mut usage) = (None, None, None, None);
    object(&mut c, |key, c| match key {
        // Strings (`null` is not one).
        b"id" | b"model" | b"object" => {
            let v = c.value()?;
            match key {
                b"id" => id = Some(v),
                b"model" => model = Some(v),
                _ => {}
            }
            (v[0] == b'"').then_some(match key {
                b"id" => 1,
                b"model" => 2,
                _ => 4,
            })
        }
        b"created" => number(c, &mut None, false, 8),
        b"choices" => {
            // Exactly one choice (several go the typed way).
            if !c.enter_array() || !c.next_element()? {
                return None;
            }
            choice = Some(Answer::read(c)?);
            (!c.next_element()?).then_some(16)
        }
        b"usage" => {
            usage = Some(Tokens::read(c)?);
            Some(32)
        }
        _ => skip(c),
    })?;
    if !c.at_end() {
        return None;
    }
    let (choice, usage) = (choice?, usage?);

    let mut out = Vec::with_capacity(body.len() + 64);
    out.extend_from_slice(b"{\"id\":");
    let id = match id {
        Some(raw) => raw_str(raw)?,
        None => Cow::Borrowed(""),
    };
    write_str(&mut out, &super::response::message_id(&id));
    out.extend_from_slice(b",\"type\":\"message\",\"role\":\"assistant\",\"content\":[");
    let mut first = true;
    let mut block = |out: &mut Vec<u8>| {
        if !std::mem::take(&mut first) {
            out.push(b',');
        }
    };
    if let Some(r) = choice.reasoning.filter(|r| *r != b"\"\"") {
        block(&mut out);
        out.extend_from_slice(b"{\"type\":\"thinking\",\"thinking\":");
        put_str(&mut out, r)?;
        out.extend_from_slice(b",\"signature\":\"\"}");
    }
    if let Some(t) = choice.text.filter(|t| *t != b"\"\"") {
        block(&mut out);
        out.extend_from_slice(b"{\"type\":\"text\",\"text\":");
        put_str(&mut out, t)?;
        out.push(b'}');
    }
    for (i, call) in choice.calls.iter().enumerate() {
        block(&mut out);
        out.extend_from_slice(b"{\"type\":\"tool_use\",\"id\":");
        match call.id {
            Some(id) => put_str(&mut out, id)?,
            None => write_str(&mut out, &format!("toolu_{i}")),
        }
        out.extend_from_slice(b",\"name\":");
        match call.name {
            Some(name) => put_str(&mut out, name)?,
            None => out.extend_from_slice(b"\"\""),
        }
        out.extend_from_slice(b",\"input\":");
        let arguments = match call.arguments {
            Some(raw) => raw_str(raw)?,
            None => Cow::Borrowed(""),
        };
        out.extend_from_slice(raw_arguments(&arguments).get().as_bytes());
        out.push(b'}');
    }
    out.extend_from_slice(b"],\"model\":");
    match model {
        Some(m) if m != b"\"\"" => put_str(&mut out, m)?,
        _ => write_str(&mut out, ctx.client_model()),
    }
    out.extend_from_slice(b",\"stop_reason\":");
    let finish = match choice.finish {
        Some(f) => raw_str(f)?,
        None => Cow::Borrowed("stop"),
    };
    write_str(&mut out, finish_to_anthropic_stop(&finish, false));
    out.extend_from_slice(b",\"stop_sequence\":null,\"usage\":{\"input_tokens\":");
    let input = usage.prompt.saturating_sub(usage.cached.unwrap_or(0));
    json::to_writer(&mut out, &input).ok()?;
    out.extend_from_slice(b",\"output_tokens\":");
    json::to_writer(&mut out, &usage.completion).ok()?;
    if let Some(n) = usage.cached {
        out.extend_from_slice(b",\"cache_read_input_tokens\":");
        json::to_writer(&mut out, &n).ok()?;
    }
    out.extend_from_slice(b"}}");
    Some(out)
}

/// A `u64` field's value: plain digits, or another spelling of an integer.
fn u64_of(raw: &[u8]) -> Option<u64> {
    plain_u64(raw).or_else(|| json::from_bytes(raw).ok())
}

/// The parts of a hub choice this path writes, as raw slices.
#[derive(Default)]
struct Answer<'a> {
    text: Option<&'a [u8]>,
    reasoning: Option<&'a [u8]>,
    calls: Vec<Call<'a>>,
    finish: Option<&'a [u8]>,
}

/// A tool call's fields.
#[derive(Default)]
struct Call<'a> {
    id: Option<&'a [u8]>,
    name: Option<&'a [u8]>,
    arguments: Option<&'a [u8]>,
}

/// Reads an object's fields (the cursor is on it) with `field`, which gets
/// each key and the cursor on its value and reads or skips that value.
/// `None` when it is not an object, a key is written with escapes or
/// repeated (`field` returns a bit per key it knows, `None` to refuse).
fn object<'a>(
    c: &mut Cursor<'a>,
    mut field: impl FnMut(&'a [u8], &mut Cursor<'a>) -> Option<u32>,
) -> Option<()> {
    if !c.enter_object() {
        return None;
    }
    let mut seen = 0u32;
    while let Some(key) = c.next_key()? {
        if key.contains(&b'\\') {
            return None;
        }
        let bit = field(key, c)?;
        if bit != 0 {
            if seen & bit != 0 {
                return None;
            }
            seen |= bit;
        }
    }
    Some(())
}

/// Skips a value: the bit 0 of [`object`] (a field not read).
fn skip(c: &mut Cursor<'_>) -> Option<u32> {
    c.value().map(|_| 0)
}

/// A string (or `null`: absent) field's raw value.
fn string<'a>(c: &mut Cursor<'a>, slot: &mut Option<&'a [u8]>, bit: u32) -> Option<u32> {
    let v = c.value()?;
    if v != b"null" {
        if v[0] != b'"' {
            return None;
        }
        *slot = Some(v);
    }
    Some(bit)
}

/// A `u64` (or `null`: absent, when `optional`) field's value.
fn number(c: &mut Cursor<'_>, slot: &mut Option<u64>, optional: bool, bit: u32) -> Option<u32> {
    let v = c.value()?;
    if v == b"null" && optional {
        return Some(bit);
    }
    *slot = Some(u64_of(v)?);
    Some(bit)
}

impl<'a> Answer<'a> {
    /// A choice: `index`, `message` and `finish_reason`; other fields
    /// (`logprobs`, ...) are skipped, Anthropic's `stop_sequence` is left
    /// to the typed path.
    fn read(c: &mut Cursor<'a>) -> Option<Answer<'a>> {
        let mut a = Answer::default();
        let (mut message, mut index) = (false, None);
        object(c, |key, c| match key {
            b"index" => {
                number(c, &mut index, false, 1)?;
                u32::try_from(index?).ok().map(|_| 1)
            }
            b"finish_reason" => string(c, &mut a.finish, 2),
            b"message" => {
                message = true;
                a.message(c)?;
                Some(4)
            }
            k if k == ext::STOP_SEQUENCE.as_bytes() => (c.value()? == b"null").then_some(8),
            _ => skip(c),
        })?;
        message.then_some(a)
    }

    /// The message: `role`, text `content`, `tool_calls`,
    /// `reasoning_content`; `name` and `tool_call_id` checked; extension
    /// fields and `refusal` left to the typed path.
    fn message(&mut self, c: &mut Cursor<'a>) -> Option<()> {
        let (mut role, mut unused) = (None, None);
        object(c, |key, c| match key {
            b"role" => string(c, &mut role, 1),
            b"content" => {
                let bit = string(c, &mut self.text, 2)?;
                Some(bit)
            }
            b"reasoning_content" => string(c, &mut self.reasoning, 4),
            b"name" => string(c, &mut unused, 8),
            b"tool_call_id" => string(c, &mut unused, 16),
            b"tool_calls" => {
                if c.is_null() {
                    return skip(c).map(|_| 32);
                }
                if !c.enter_array() {
                    return None;
                }
                while c.next_element()? {
                    self.calls.push(Call::read(c)?);
                }
                Some(32)
            }
            b"refusal" | b"thinking_blocks" | b"reasoning_signature" | b"redacted_thinking" => {
                (c.value()? == b"null").then_some(0)
            }
            _ => skip(c),
        })?;
        role.map(|_| ())
    }
}

impl<'a> Call<'a> {
    fn read(c: &mut Cursor<'a>) -> Option<Call<'a>> {
        let mut call = Call::default();
        let (mut kind, mut index) = (None, None);
        object(c, |key, c| match key {
            b"id" => string(c, &mut call.id, 1),
            b"type" => string(c, &mut kind, 2),
            b"index" => {
                number(c, &mut index, true, 4)?;
                index.is_none_or(|i| u32::try_from(i).is_ok()).then_some(4)
            }
            b"function" => {
                if c.is_null() {
                    return skip(c).map(|_| 8);
                }
                let (mut name, mut arguments) = (None, None);
                object(c, |key, c| match key {
                    b"name" => string(c, &mut name, 1),
                    b"arguments" => string(c, &mut arguments, 2),
                    _ => skip(c),
                })?;
                (call.name, call.arguments) = (name, arguments);
                Some(8)
            }
            _ => skip(c),
        })?;
        Some(call)
    }
}

/// The usage counts this path writes.
#[derive(Default)]
struct Tokens {
    prompt: u64,
    completion: u64,
    cached: Option<u64>,
}

impl Tokens {
    fn read(c: &mut Cursor<'_>) -> Option<Tokens> {
        let mut t = Tokens::default();
        let (mut prompt, mut completion, mut total) = (None, None, None);
        object(c, |key, c| match key {
            b"prompt_tokens" => number(c, &mut prompt, false, 1),
            b"completion_tokens" => number(c, &mut completion, false, 2),
            b"total_tokens" => number(c, &mut total, false, 4),
            b"prompt_tokens_details" => {
                if c.is_null() {
                    return skip(c).map(|_| 8);
                }
                object(c, |key, c| match key {
                    b"cached_tokens" => number(c, &mut t.cached, true, 1),
                    k if k == ext::CACHE_CREATION_TOKENS.as_bytes() => None,
                    _ => skip(c),
                })?;
                Some(8)
            }
            b"completion_tokens_details" => {
                if c.is_null() {
                    return skip(c).map(|_| 16);
                }
                let mut reasoning = None;
                object(c, |key, c| match key {
                    b"reasoning_tokens" => number(c, &mut reasoning, true, 1),
                    _ => skip(c),
                })?;
                Some(16)
            }
            k if k == ext::ESTIMATED.as_bytes() => None,
            _ => skip(c),
        })?;
        t.prompt = prompt.unwrap_or(0);
        t.completion = completion.unwrap_or(0);
        Some(t)
    }
}

/// Message content, a system prompt or a tool result's content.
enum Content<'a> {
    /// A string (or, in a tool result, another value that is not an
    /// array), as its raw slice.
    Raw(&'a [u8]),
    /// Blocks, read in the same pass.
    Blocks(Vec<Block<'a>>),
}

impl<'a> Content<'a> {
    fn read(c: &mut Cursor<'a>) -> Option<Content<'a>> {
        if !c.enter_array() {
            return c.value().map(Content::Raw);
        }
        let mut blocks = Vec::new();
        while c.next_element()? {
            blocks.push(Block::read(c)?);
        }
        Some(Content::Blocks(blocks))
    }
}

/// The fields of a content block this path reads, as raw slices (`null`
/// fields are absent). A block of another shape (a field of the wrong
/// type, a repeated or escaped key) is `None`.
#[derive(Default)]
struct Block<'a> {
    /// The `type`, quotes included.
    kind: &'a [u8],
    text: Option<&'a [u8]>,
    id: Option<&'a [u8]>,
    name: Option<&'a [u8]>,
    input: Option<&'a [u8]>,
    tool_use_id: Option<&'a [u8]>,
    /// A tool result's content.
    content: Option<Content<'a>>,
}

impl<'a> Block<'a> {
    fn read(c: &mut Cursor<'a>) -> Option<Block<'a>> {
        if !c.enter_object() {
            return None;
        }
        let mut b = Block::default();
        let (mut kind, mut unused) = (None, None);
        let mut seen = 0u16;
        while let Some(key) = c.next_key()? {
            // The kind of value each field must hold, as the typed path
            // reads it: a string, a boolean, or anything.
            let (bit, slot, want) = match key {
                b"type" => (0, &mut kind, Want::Str),
                b"text" => (1, &mut b.text, Want::Str),
                b"id" => (2, &mut b.id, Want::Str),
                b"name" => (3, &mut b.name, Want::Str),
                b"input" => (4, &mut b.input, Want::Any),
                b"tool_use_id" => (5, &mut b.tool_use_id, Want::Str),
                b"content" => {
                    if seen & (1 << 6) != 0 {
                        return None;
                    }
                    seen |= 1 << 6;
                    if c.is_null() {
                        c.value()?;
                    } else {
                        b.content = Some(Content::read(c)?);
                    }
                    continue;
                }
                // Read by the typed path, not needed here: only checked.
                b"thinking" => (7, &mut unused, Want::Str),
                b"signature" => (8, &mut unused, Want::Str),
                b"data" => (9, &mut unused, Want::Str),
                b"is_error" => (10, &mut unused, Want::Bool),
                b"source" => (11, &mut unused, Want::Any),
                k if k.contains(&b'\\') => return None,
                _ => {
                    c.value()?;
                    continue;
                }
            };
            if seen & (1 << bit) != 0 {
                return None;
            }
            seen |= 1 << bit;
            let v = c.value()?;
            if v == b"null" {
                continue;
            }
            let ok = match want {
                Want::Str => v[0] == b'"',
                Want::Bool => v == b"true" || v == b"false",
                Want::Any => true,
            };
            if !ok {
                return None;
            }
            *slot = Some(v);
        }
        b.kind = kind?;
        Some(b)
    }
}

enum Want {
    Str,
    Bool,
    Any,
}

/// `None` for a missing field or `null`.
fn optional(v: Option<&[u8]>) -> Option<&[u8]> {
    v.filter(|v| *v != b"null")
}

/// The raw values of `keys` in the object the cursor is on (`null`
/// included), the other fields skipped. `None` when it is not an object,
/// or a key is repeated or written with escapes.
fn raw_fields<'a, const N: usize>(
    c: &mut Cursor<'a>,
    keys: [&[u8]; N],
) -> Option<[Option<&'a [u8]>; N]> {
    const { assert!(N <= 32, "a bit per key in `object`") };
    let mut found = [None; N];
    object(c, |key, c| {
        let value = c.value()?;
        Some(match keys.iter().position(|k| *k == key) {
            Some(i) => {
                found[i] = Some(value);
                1 << i
            }
            None => 0,
        })
    })?;
    Some(found)
}

/// The values of `keys` in the value `raw` (`null` ones absent); none at
/// all when `raw` is not an object. `None` as for [`raw_fields`].
fn fields_of<'a, const N: usize>(raw: &'a [u8], keys: [&[u8]; N]) -> Option<[Option<&'a [u8]>; N]> {
    if !raw.starts_with(b"{") {
        return Some([None; N]);
    }
    raw_fields(&mut Cursor::new(raw), keys).map(|found| found.map(optional))
}

/// A JSON number written as plain digits (at most 19, which always fit),
/// as a `u64`; `None` for any other number (negative, fraction, exponent,
/// 20 digits or more).
fn plain_u64(raw: &[u8]) -> Option<u64> {
    if raw.is_empty() || raw.len() > 19 || !raw.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // Not `checked_mul`: in WebAssembly its overflow check is a 128-bit
    // multiplication in a library call, for every digit.
    Some(raw.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

/// Writes the JSON number `raw` as a `u64` field is written: plain digits
/// as they are, another spelling (`1e3`) as it reads. `None` when it is
/// not a `u64`.
fn write_u64(out: &mut Vec<u8>, raw: &[u8]) -> Option<()> {
    if plain_u64(raw).is_some() {
        out.extend_from_slice(raw);
        return Some(());
    }
    json::to_writer(out, &u64_of(raw)?).ok()
}

/// Writes `,"key":`.
fn field(out: &mut Vec<u8>, key: &str) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

/// Copies a JSON string as the hub writer writes it.
fn put_str(out: &mut Vec<u8>, raw: &[u8]) -> Option<()> {
    copy_str(out, raw).then_some(())
}

/// Text blocks as hub content: one block is a string, several (or none)
/// an array of text parts. A block without text is an empty text.
fn parts(out: &mut Vec<u8>, texts: &[Option<&[u8]>]) -> Option<()> {
    if let [one] = texts {
        return match one {
            Some(t) => put_str(out, t),
            None => {
                out.extend_from_slice(b"\"\"");
                Some(())
            }
        };
    }
    out.push(b'[');
    for (i, t) in texts.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"type\":\"text\",\"text\":");
        match t {
            Some(t) => put_str(out, t)?,
            None => out.extend_from_slice(b"\"\""),
        }
        out.push(b'}');
    }
    out.push(b']');
    Some(())
}
