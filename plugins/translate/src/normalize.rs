//! The tool-result normalizer: repairs the tool calls and tool results of a
//! conversation so that every call has exactly one result, placed directly
//! after the message that made the call.
//!
//! Works on hub bodies ([`normalize_hub`]) and Anthropic bodies
//! ([`normalize_anthropic`]). Repairs, each reported as a note:
//!
//! * missing result content: hub `tool` message without content or with
//!   `null` → `""`; Anthropic `tool_result` without `content` (or `null`) →
//!   `[]`;
//! * content of the wrong shape: an object becomes its JSON text (hub) or a
//!   one-block array (Anthropic); numbers and booleans become text; bare
//!   strings in an Anthropic block array become text blocks; empty text
//!   blocks are removed;
//! * duplicate results for one call → the last one is kept;
//! * a result whose call is missing (an *orphan*) → removed;
//! * a call whose result is missing → a placeholder result `"(no result)"`
//!   marked as an error (`is_error: true`; in a hub body only when the
//!   provider accepts the extension);
//! * results not directly after their call → moved there, in call order
//!   (Anthropic: at the start of the next user message, or a new user
//!   message).
//!
//! `is_error` is kept as it is.

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::{Value, json};
use sluice_sdk::json::Cursor;

use crate::ext;

/// The text of a placeholder result.
pub const NO_RESULT: &str = "(no result)";

fn str_of(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str)
}

/// The ids of an assistant message's calls (hub `tool_calls[].id`).
fn hub_call_ids(m: &Value) -> Vec<String> {
    if m.get("role").and_then(Value::as_str) != Some("assistant") {
        return Vec::new();
    }
    m.get("tool_calls")
        .and_then(Value::as_array)
        .map(|calls| {
            calls
                .iter()
                .filter_map(|c| str_of(c.get("id")).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The owner of a result: the nearest assistant message before `pos` that
/// made the call, else any later one.
fn owner(calls: &[(usize, Vec<String>)], pos: usize, id: &str) -> Option<usize> {
    calls
        .iter()
        .rev()
        .find(|(i, ids)| *i < pos && ids.iter().any(|c| c == id))
        .or_else(|| calls.iter().find(|(_, ids)| ids.iter().any(|c| c == id)))
        .map(|(i, _)| *i)
}

/// Repairs a hub (OpenAI Chat Completions) request body. `add_is_error`:
/// whether placeholders get the `is_error` extension. Returns what was done.
pub fn normalize_hub(body: &mut Value, add_is_error: bool) -> Vec<String> {
    let mut notes = Vec::new();
    let Some(Value::Array(messages)) = body.get_mut("messages") else {
        return notes;
    };
    let original = std::mem::take(messages);

    // Assistant messages with calls.
    let calls: Vec<(usize, Vec<String>)> = original
        .iter()
        .enumerate()
        .map(|(i, m)| (i, hub_call_ids(m)))
        .filter(|(_, ids)| !ids.is_empty())
        .collect();

    // Results, by owner and call id, in their order.
    let mut results: HashMap<(usize, String), Vec<(usize, Value)>> = HashMap::new();
    for (pos, m) in original.iter().enumerate() {
        if m.get("role").and_then(Value::as_str) != Some("tool") {
            continue;
        }
        let id = str_of(m.get("tool_call_id")).unwrap_or_default().to_owned();
        match owner(&calls, pos, &id) {
            Some(o) => {
                let mut m = m.clone();
                fix_hub_content(&mut m, &id, &mut notes);
                results.entry((o, id)).or_default().push((pos, m));
            }
            None => notes.push(format!(
                "removed the tool result at message {pos} for call `{id}`: no assistant message made that call"
            )),
        }
    }

    let mut out = Vec::with_capacity(original.len());
    for (i, m) in original.into_iter().enumerate() {
        if m.get("role").and_then(Value::as_str) == Some("tool") {
            continue;
        }
        let ids = hub_call_ids(&m);
        let n = ids.len();
        out.push(m);
        for id in ids {
            match results.remove(&(i, id.clone())) {
                Some(mut list) => {
                    if list.len() > 1 {
                        notes.push(format!(
                            "call `{id}` had {} results: kept the last",
                            list.len()
                        ));
                    }
                    let (pos, r) = list.pop().unwrap_or((0, Value::Null));
                    if pos <= i || pos > i + n {
                        notes.push(format!(
                            "moved the result for call `{id}` from message {pos} to right after its call (message {i})"
                        ));
                    }
                    out.push(r);
                }
                None => {
                    notes.push(format!(
                        "call `{id}` (message {i}) had no result: added \"{NO_RESULT}\" as an error"
                    ));
                    let mut p = json!({"role": "tool", "tool_call_id": id, "content": NO_RESULT});
                    if add_is_error {
                        p[ext::IS_ERROR] = Value::Bool(true);
                    }
                    out.push(p);
                }
            }
        }
    }
    if let Some(Value::Array(messages)) = body.get_mut("messages") {
        *messages = out;
    }
    notes
}

fn fix_hub_content(m: &mut Value, id: &str, notes: &mut Vec<String>) {
    let Value::Object(o) = m else { return };
    match o.get("content") {
        None | Some(Value::Null) => {
            notes.push(format!(
                "tool result for `{id}` had no content: set to \"\""
            ));
            o.insert("content".into(), Value::String(String::new()));
        }
        Some(Value::String(_)) => {}
        Some(Value::Array(parts)) => {
            // Strings inside the array become text parts.
            if parts.iter().any(|p| !p.is_object()) {
                let fixed: Vec<Value> = parts
                    .iter()
                    .map(|p| match p {
                        Value::Object(_) => p.clone(),
                        Value::String(s) => json!({"type": "text", "text": s}),
                        other => json!({"type": "text", "text": other.to_string()}),
                    })
                    .collect();
                notes.push(format!(
                    "tool result for `{id}`: non-object content parts turned into text parts"
                ));
                o.insert("content".into(), Value::Array(fixed));
            }
        }
        Some(other) => {
            let text = other.to_string();
            notes.push(format!(
                "tool result for `{id}` had {} content: turned into its JSON text",
                kind(other)
            ));
            o.insert("content".into(), Value::String(text));
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Object(_) => "object",
        Value::Array(_) => "array",
        Value::Number(_) => "number",
        Value::Bool(_) => "boolean",
        Value::Null => "null",
        Value::String(_) => "string",
    }
}

/// The `tool_use` ids of an Anthropic assistant message.
fn anthropic_call_ids(m: &Value) -> Vec<String> {
    if m.get("role").and_then(Value::as_str) != Some("assistant") {
        return Vec::new();
    }
    m.get("content")
        .and_then(Value::as_array)
        .map(|blocks| {
            blocks
                .iter()
                .filter(|b| str_of(b.get("type")) == Some("tool_use"))
                .filter_map(|b| str_of(b.get("id")).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn is_tool_result(b: &Value) -> bool {
    str_of(b.get("type")) == Some("tool_result")
}

/// Repairs an Anthropic Messages request body. Returns what was done.
pub fn normalize_anthropic(body: &mut Value) -> Vec<String> {
    let mut notes = Vec::new();
    let Some(Value::Array(messages)) = body.get_mut("messages") else {
        return notes;
    };
    let original = std::mem::take(messages);
    let calls: Vec<(usize, Vec<String>)> = original
        .iter()
        .enumerate()
        .map(|(i, m)| (i, anthropic_call_ids(m)))
        .filter(|(_, ids)| !ids.is_empty())
        .collect();

    // Take every tool_result out of the user messages.
    let mut results: HashMap<(usize, String), Vec<(usize, Value)>> = HashMap::new();
    let mut stripped: Vec<Value> = Vec::with_capacity(original.len());
    for (pos, mut m) in original.into_iter().enumerate() {
        let is_user = m.get("role").and_then(Value::as_str) == Some("user");
        if is_user && let Some(Value::Array(blocks)) = m.get_mut("content") {
            let mut kept = Vec::with_capacity(blocks.len());
            for mut b in std::mem::take(blocks) {
                if !is_tool_result(&b) {
                    kept.push(b);
                    continue;
                }
                let id = str_of(b.get("tool_use_id")).unwrap_or_default().to_owned();
                match owner(&calls, pos, &id) {
                    Some(o) => {
                        fix_anthropic_content(&mut b, &id, &mut notes);
                        results.entry((o, id)).or_default().push((pos, b));
                    }
                    None => notes.push(format!(
                        "removed the tool_result in message {pos} for `{id}`: no tool_use with that id"
                    )),
                }
            }
            *blocks = kept;
        }
        stripped.push(m);
    }

    let mut out: Vec<Value> = Vec::with_capacity(stripped.len() + 1);
    let mut pending: Option<Vec<Value>> = None;
    for (i, m) in stripped.into_iter().enumerate() {
        let is_user = m.get("role").and_then(Value::as_str) == Some("user");
        if let Some(res) = pending.take() {
            if is_user {
                out.push(prepend_results(m, res));
                continue;
            }
            out.push(json!({"role": "user", "content": res}));
        }
        if is_user && content_is_empty(&m) {
            continue;
        }
        let ids = anthropic_call_ids(&m);
        out.push(m);
        if ids.is_empty() {
            continue;
        }
        let mut res = Vec::with_capacity(ids.len());
        for id in ids {
            match results.remove(&(i, id.clone())) {
                Some(mut list) => {
                    if list.len() > 1 {
                        notes.push(format!(
                            "tool_use `{id}` had {} results: kept the last",
                            list.len()
                        ));
                    }
                    let (pos, r) = list.pop().unwrap_or((0, Value::Null));
                    if pos != i + 1 {
                        notes.push(format!(
                            "moved the tool_result for `{id}` from message {pos} to the message right after its tool_use (message {i})"
                        ));
                    }
                    res.push(r);
                }
                None => {
                    notes.push(format!(
                        "tool_use `{id}` (message {i}) had no tool_result: added \"{NO_RESULT}\" as an error"
                    ));
                    res.push(json!({"type": "tool_result", "tool_use_id": id,
                                    "content": NO_RESULT, "is_error": true}));
                }
            }
        }
        pending = Some(res);
    }
    if let Some(res) = pending {
        out.push(json!({"role": "user", "content": res}));
    }
    if let Some(Value::Array(messages)) = body.get_mut("messages") {
        *messages = out;
    }
    notes
}

fn content_is_empty(m: &Value) -> bool {
    matches!(m.get("content"), Some(Value::Array(a)) if a.is_empty())
}

fn prepend_results(mut m: Value, mut results: Vec<Value>) -> Value {
    let rest: Vec<Value> = match m.get_mut("content").map(Value::take) {
        Some(Value::Array(blocks)) => blocks,
        Some(Value::String(s)) if !s.is_empty() => vec![json!({"type": "text", "text": s})],
        _ => Vec::new(),
    };
    results.extend(rest);
    m["content"] = Value::Array(results);
    m
}

fn fix_anthropic_content(b: &mut Value, id: &str, notes: &mut Vec<String>) {
    let Value::Object(o) = b else { return };
    let fixed: Option<Value> = match o.get("content") {
        None | Some(Value::Null) => {
            notes.push(format!("tool_result for `{id}` had no content: set to []"));
            Some(Value::Array(Vec::new()))
        }
        Some(Value::String(_)) => None,
        Some(Value::Array(items)) => {
            let bad = items.iter().any(|x| match x {
                Value::Object(o) => {
                    o.get("type").and_then(Value::as_str) == Some("text")
                        && o.get("text")
                            .and_then(Value::as_str)
                            .is_none_or(str::is_empty)
                }
                _ => true,
            });
            bad.then(|| {
                notes.push(format!(
                    "tool_result for `{id}`: bare strings turned into text blocks, empty text blocks removed"
                ));
                Value::Array(
                    items
                        .iter()
                        .filter_map(|x| match x {
                            Value::String(s) if s.is_empty() => None,
                            Value::String(s) => Some(json!({"type": "text", "text": s})),
                            Value::Object(o)
                                if o.get("type").and_then(Value::as_str) == Some("text")
                                    && o.get("text").and_then(Value::as_str).is_none_or(str::is_empty) =>
                            {
                                None
                            }
                            Value::Object(_) => Some(x.clone()),
                            other => Some(json!({"type": "text", "text": other.to_string()})),
                        })
                        .collect(),
                )
            })
        }
        Some(Value::Object(block)) => {
            notes.push(format!(
                "tool_result for `{id}` had one block as content: wrapped in an array"
            ));
            Some(Value::Array(vec![Value::Object(block.clone())]))
        }
        Some(other) => {
            notes.push(format!(
                "tool_result for `{id}` had {} content: turned into text",
                kind(other)
            ));
            Some(Value::String(other.to_string()))
        }
    };
    if let Some(f) = fixed {
        o.insert("content".into(), f);
    }
}

/// Normalizes a request body of `body_dialect` (`openai` or `anthropic`;
/// anything else is left unchanged). `add_is_error`: see [`normalize_hub`].
pub fn normalize(body: &mut Value, body_dialect: &str, add_is_error: bool) -> Vec<String> {
    match body_dialect {
        crate::dialect::OPENAI => normalize_hub(body, add_is_error),
        crate::dialect::ANTHROPIC => normalize_anthropic(body),
        _ => Vec::new(),
    }
}

/// The parts of a hub message the normalizer looks at, borrowed from the
/// body; everything else is skipped over.
#[derive(Default)]
struct LightMessage<'a> {
    role: Option<Cow<'a, str>>,
    tool_calls: Vec<Cow<'a, str>>,
    tool_call_id: Option<Cow<'a, str>>,
    content: Option<&'a [u8]>,
}

/// A string or `null` (`Some(None)`); anything else is `None`.
fn light_str(raw: &[u8]) -> Option<Option<Cow<'_, str>>> {
    if raw == b"null" {
        return Some(None);
    }
    sluice_sdk::json::raw_str(raw).map(Some)
}

impl<'a> LightMessage<'a> {
    /// The fields of the message the cursor is on, read in one pass
    /// (`sluice_sdk::json::Cursor`). `None` for what a typed parse would
    /// refuse: a message that is not an object, a repeated field, a `role`
    /// or id that is not a string, a call that is not an object.
    fn read(c: &mut Cursor<'a>) -> Option<LightMessage<'a>> {
        let mut m = LightMessage::default();
        let mut seen = [false; 4];
        if !c.enter_object() {
            return None;
        }
        while let Some(key) = c.next_key()? {
            let k = match key {
                b"role" => 0,
                b"tool_calls" => 1,
                b"tool_call_id" => 2,
                b"content" => 3,
                // A key written with escapes is not one of these.
                _ if key.contains(&b'\\') => return None,
                _ => {
                    c.value()?;
                    continue;
                }
            };
            if std::mem::replace(&mut seen[k], true) {
                return None;
            }
            match k {
                0 => m.role = light_str(c.value()?)?,
                1 if c.is_null() => {
                    c.value()?;
                }
                1 => {
                    if !c.enter_array() {
                        return None;
                    }
                    while c.next_element()? {
                        if !c.enter_object() {
                            return None;
                        }
                        let mut id = None;
                        while let Some(key) = c.next_key()? {
                            let value = c.value()?;
                            if key == b"id" {
                                if id.is_some() {
                                    return None;
                                }
                                id = Some(light_str(value)?);
                            } else if key.contains(&b'\\') {
                                return None;
                            }
                        }
                        m.tool_calls.extend(id.flatten());
                    }
                }
                2 => m.tool_call_id = light_str(c.value()?)?,
                _ => m.content = Some(c.value()?),
            }
        }
        Some(m)
    }
}

/// Whether [`normalize_hub`] would leave this hub body as it is (no note),
/// decided by following the body's structure in one pass (no values are
/// built, long texts are skipped with SIMD). `None` when the body does not
/// fit the light shape (not an object, a `role` that is not a string, a key
/// written with escapes, ...): then only the full parse can say.
pub fn hub_is_well_formed(body: &[u8]) -> Option<bool> {
    let mut c = Cursor::new(body);
    if !c.enter_object() {
        return None;
    }
    let mut seen_messages = false;
    // Once the answer is known to be "no", the rest is still read: a body
    // of the wrong shape further on is `None`, as the full parse says.
    let mut well_formed = true;
    while let Some(key) = c.next_key()? {
        if key == b"messages" {
            if std::mem::replace(&mut seen_messages, true) {
                return None;
            }
            if c.is_null() {
                c.value()?;
            } else if c.enter_array() {
                // The calls of the last assistant message not answered yet.
                let mut pending: Vec<Cow<'_, str>> = Vec::new();
                while c.next_element()? {
                    let m = LightMessage::read(&mut c)?;
                    well_formed &= m.fits(&mut pending);
                }
                well_formed &= pending.is_empty();
            } else {
                return None;
            }
        } else if key.contains(&b'\\') {
            return None;
        } else {
            c.value()?;
        }
    }
    if !c.at_end() {
        return None;
    }
    Some(well_formed)
}

impl<'a> LightMessage<'a> {
    /// Whether this message fits a conversation [`normalize_hub`] leaves
    /// as it is, given the calls still `pending` (which it updates): every
    /// call's one result comes in the messages right after it, in any
    /// order, and nothing else does. (The normalizer's own conditions, in
    /// one pass: a result placed anywhere else is an orphan, a duplicate or
    /// out of place; a call left pending has no result.)
    fn fits(self, pending: &mut Vec<Cow<'a, str>>) -> bool {
        match self.role.as_deref() {
            Some("tool") => {
                let id = self.tool_call_id.unwrap_or_default();
                let Some(i) = pending.iter().position(|p| *p == id) else {
                    return false;
                };
                pending.swap_remove(i);
                match self.content {
                    Some([b'"', ..]) => true,
                    Some(parts @ [b'[', ..]) => sluice_sdk::json::split_array(parts)
                        .is_some_and(|parts| parts.iter().all(|p| p.starts_with(b"{"))),
                    _ => false,
                }
            }
            _ if !pending.is_empty() => false,
            Some("assistant") => {
                let calls = self.tool_calls;
                // One id called twice in a message gets two results, or
                // one for two calls: either way a repair.
                let distinct = calls
                    .iter()
                    .enumerate()
                    .all(|(i, id)| !calls[..i].contains(id));
                *pending = calls;
                distinct
            }
            _ => true,
        }
    }
}

/// What the `tool-result-normalizer` plugin does with a request
/// (`transformer.transform-request`): normalizes hub and Anthropic bodies,
/// logs each repair at debug level, and returns the body unchanged (the same
/// bytes) when there was nothing to repair or the dialect is another one.
pub fn transform_request(req: &sluice_sdk::Request) -> Result<Vec<u8>, sluice_sdk::PluginError> {
    let dialect = req.body_dialect.as_str();
    if dialect != crate::dialect::OPENAI && dialect != crate::dialect::ANTHROPIC {
        return Ok(req.body.clone());
    }
    // Every repair concerns a tool call or a tool result, and each of
    // those names a key or role starting with `"tool` (`tool_calls`,
    // `tool_call_id`, `"role":"tool"`, `tool_use`, `tool_result`): a body
    // without that text is passed on unparsed (one written with `\u`
    // escapes in those keys is too, and reaches the provider as sent).
    if !crate::common::mentions(&req.body, &crate::common::needles::TOOL) {
        return Ok(req.body.clone());
    }
    // A hub conversation that needs no repair (the usual case) is
    // recognised without building it.
    if dialect == crate::dialect::OPENAI && hub_is_well_formed(&req.body) == Some(true) {
        return Ok(req.body.clone());
    }
    let mut body: Value = sluice_sdk::json::parse(&req.body)?;
    let add_is_error =
        crate::common::keeps_extensions(crate::common::meta(req, "provider-dialect"));
    let notes = normalize(&mut body, dialect, add_is_error);
    if notes.is_empty() {
        return Ok(req.body.clone());
    }
    if sluice_sdk::log::enabled(sluice_sdk::log::Level::Debug) {
        for n in &notes {
            sluice_sdk::log::debug(&format!("tool-result-normalizer: {n}"));
        }
    }
    sluice_sdk::json::to_vec(&body)
}
