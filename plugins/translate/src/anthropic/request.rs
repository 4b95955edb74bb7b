//! Requests: hub → Anthropic (provider side) and Anthropic → hub (ingress).

use serde_json::{Map, Value, json};
use sluice_sdk::PluginError;
use sluice_sdk::error::bad_request;
use sluice_sdk::hub::{
    self, ChatRequest, ContentPart, FunctionCall, FunctionDef, StreamOptions, ToolCall,
};
use sluice_sdk::json::RawJson;
use sluice_sdk::log::debug;

use super::types::{Block, Content, Message, MessagesRequest, Tool, ToolChoice};
use crate::common::{self, Ctx, data_url, parse_data_url, raw_arguments, raw_arguments_to_string};
use crate::ext;

/// Keys of a hub request that Anthropic has no counterpart for: dropped with
/// a debug log.
const DROPPED: &[&str] = &[
    "logprobs",
    "top_logprobs",
    "logit_bias",
    "store",
    "metadata",
    "service_tier",
    "modalities",
    "audio",
    "prediction",
    "web_search_options",
    "verbosity",
    "prompt_cache_key",
    "safety_identifier",
];

// ---------------------------------------------------------------------------
// hub → Anthropic
// ---------------------------------------------------------------------------

/// Translates a hub request into an Anthropic Messages request.
///
/// `system`/`developer` messages become the top-level `system`; `tool`
/// messages become `tool_result` blocks in a user message (consecutive ones
/// merged, a following user message appended to it); assistant
/// `reasoning_content` + `reasoning_signature` becomes a `thinking` block
/// (dropped when there is no signature: Anthropic rejects unsigned thinking).
/// `max_tokens` is `max_completion_tokens`, else `max_tokens`, else
/// `ctx.default_max_tokens`. The hub's `thinking` extension is copied; the
/// `anthropic` extension's keys are merged into the top level.
pub fn hub_to_anthropic(hub: ChatRequest, ctx: &Ctx) -> Result<MessagesRequest, PluginError> {
    if hub.n.is_some_and(|n| n > 1) {
        return Err(bad_request(
            "`n` greater than 1 (several choices) is not supported by Anthropic models; send n=1 or omit it",
        ));
    }
    let mut out = MessagesRequest {
        model: if ctx.model.is_empty() {
            hub.model.clone()
        } else {
            ctx.model.clone()
        },
        max_tokens: Some(hub.max_output_tokens().unwrap_or(ctx.default_max_tokens)),
        ..Default::default()
    };

    // Messages and the system prompt.
    let mut system: Vec<Block> = Vec::new();
    let mut system_plain = true;
    let mut messages: Vec<Message> = Vec::new();
    // Whether the last message holds tool results (so the next tool result or
    // user turn is merged into it).
    let mut last_is_results = false;
    for (i, m) in hub.messages.into_iter().enumerate() {
        match m.role.as_str() {
            "system" | "developer" => {
                match m.content {
                    Some(hub::Content::Text(t)) => system.push(Block::text(t)),
                    Some(hub::Content::Parts(parts)) => {
                        for p in parts {
                            if let Some(b) = part_to_block(p, "system")? {
                                system_plain = false;
                                system.push(b);
                            }
                        }
                    }
                    None => {}
                }
                if i > 0 && !messages.is_empty() {
                    debug(&format!(
                        "message {i} ({}) moved into Anthropic's top-level `system`",
                        m.role
                    ));
                }
            }
            "user" => {
                let blocks = match m.content {
                    Some(hub::Content::Text(t)) if !last_is_results => {
                        messages.push(Message {
                            role: "user".into(),
                            content: Content::Text(t),
                            extra: Map::new(),
                        });
                        continue;
                    }
                    Some(c) => content_to_blocks(c, "user")?,
                    None => Vec::new(),
                };
                if last_is_results
                    && let Some(Content::Blocks(prev)) = messages.last_mut().map(|m| &mut m.content)
                {
                    prev.extend(blocks);
                } else {
                    messages.push(Message {
                        role: "user".into(),
                        content: Content::Blocks(blocks),
                        extra: Map::new(),
                    });
                }
                last_is_results = false;
                continue;
            }
            "assistant" => {
                let blocks = assistant_blocks(m)?;
                if blocks.is_empty() {
                    debug(&format!("message {i}: empty assistant message dropped"));
                    continue;
                }
                messages.push(Message {
                    role: "assistant".into(),
                    content: simplify(blocks),
                    extra: Map::new(),
                });
            }
            "tool" => {
                let block = tool_result_block(m)?;
                if last_is_results
                    && let Some(Content::Blocks(prev)) = messages.last_mut().map(|m| &mut m.content)
                {
                    prev.push(block);
                } else {
                    messages.push(Message {
                        role: "user".into(),
                        content: Content::Blocks(vec![block]),
                        extra: Map::new(),
                    });
                }
                last_is_results = true;
                continue;
            }
            "function" => {
                return Err(bad_request(
                    "messages with role `function` (the legacy function calling API) cannot be \
                     translated for Anthropic; use `tools` and `tool` messages",
                ));
            }
            other => {
                return Err(bad_request(format!(
                    "message {i} has role `{other}`; expected system, developer, user, assistant or tool"
                )));
            }
        }
        last_is_results = false;
    }
    out.messages = messages;
    if !system.is_empty() {
        out.system = Some(if system_plain && system.len() == 1 {
            Content::Text(system.remove(0).text.unwrap_or_default())
        } else {
            Content::Blocks(system)
        });
    }

    // Tools.
    let has_tools = hub.tools.as_ref().is_some_and(|t| !t.is_empty());
    if let Some(tools) = hub.tools {
        let mut list = Vec::with_capacity(tools.len());
        for t in tools {
            list.push(tool_to_anthropic(t)?);
        }
        if !list.is_empty() {
            out.tools = Some(list);
        }
    }
    let mut choice = match hub.tool_choice {
        Some(c) if has_tools => tool_choice_to_anthropic(&c),
        Some(_) => {
            debug("`tool_choice` dropped: the request has no tools");
            None
        }
        None => None,
    };
    if hub.parallel_tool_calls == Some(false) && has_tools {
        let c = choice.get_or_insert_with(|| ToolChoice {
            kind: "auto".into(),
            ..Default::default()
        });
        if c.kind != "none" {
            c.disable_parallel_tool_use = Some(true);
        }
    }
    out.tool_choice = choice;

    // Sampling and limits.
    out.temperature = hub.temperature.map(|t| {
        if t > 1.0 {
            debug(&format!(
                "temperature {t} clamped to 1.0 (Anthropic's range is 0 to 1)"
            ));
            1.0
        } else {
            t
        }
    });
    out.top_p = hub.top_p;
    let mut extra = hub.extra;
    out.top_k = extra.remove(ext::TOP_K).and_then(|v| v.as_u64());
    out.stop_sequences = match hub.stop {
        Some(Value::String(s)) => Some(vec![s]),
        Some(Value::Array(a)) => Some(
            a.into_iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
        ),
        _ => None,
    };
    if hub.stream == Some(true) {
        out.stream = Some(true);
    }
    if let Some(user) = hub.user {
        out.metadata = Some(json!({ "user_id": user }));
    }
    if hub.reasoning_effort.is_some() {
        debug("`reasoning_effort` dropped (translate it with the thinking-translator transform)");
    }
    for (key, set) in [
        ("presence_penalty", hub.presence_penalty.is_some()),
        ("frequency_penalty", hub.frequency_penalty.is_some()),
        ("seed", hub.seed.is_some()),
        ("response_format", hub.response_format.is_some()),
    ] {
        if set {
            debug(&format!("`{key}` dropped: Anthropic has no counterpart"));
        }
    }
    out.thinking = extra.remove(ext::THINKING);
    if let Some(Value::Object(bag)) = extra.remove(ext::ANTHROPIC) {
        out.extra.extend(bag);
    }
    for (key, _) in extra {
        if DROPPED.contains(&key.as_str()) {
            debug(&format!("`{key}` dropped: Anthropic has no counterpart"));
        } else {
            debug(&format!("unknown field `{key}` dropped for Anthropic"));
        }
    }
    Ok(out)
}

/// A single plain text block becomes a string.
fn simplify(mut blocks: Vec<Block>) -> Content {
    if blocks.len() == 1 && blocks[0].kind == "text" && blocks[0].extra.is_empty() {
        Content::Text(blocks.remove(0).text.unwrap_or_default())
    } else {
        Content::Blocks(blocks)
    }
}

fn content_to_blocks(c: hub::Content, place: &str) -> Result<Vec<Block>, PluginError> {
    match c {
        hub::Content::Text(t) if t.is_empty() => Ok(Vec::new()),
        hub::Content::Text(t) => Ok(vec![Block::text(t)]),
        hub::Content::Parts(parts) => {
            let mut out = Vec::with_capacity(parts.len());
            for p in parts {
                if let Some(b) = part_to_block(p, place)? {
                    out.push(b);
                }
            }
            Ok(out)
        }
    }
}

/// Extras of a hub part or tool that Anthropic understands.
fn copy_known(from: &Map<String, Value>, to: &mut Map<String, Value>, keys: &[&str]) {
    for k in keys {
        if let Some(v) = from.get(*k) {
            to.insert((*k).to_owned(), v.clone());
        }
    }
}

/// One hub content part as an Anthropic block (`None`: nothing to send).
fn part_to_block(p: ContentPart, place: &str) -> Result<Option<Block>, PluginError> {
    match p.kind.as_str() {
        "text" | "refusal" | "input_text" => {
            let text = p.text.unwrap_or_else(|| {
                p.extra
                    .get("refusal")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            });
            if text.is_empty() {
                return Ok(None);
            }
            let mut b = Block::text(text);
            copy_known(&p.extra, &mut b.extra, &["cache_control", "citations"]);
            Ok(Some(b))
        }
        "image_url" => {
            let url = match p.extra.get("image_url") {
                Some(Value::String(u)) => u.clone(),
                Some(Value::Object(o)) => o
                    .get("url")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                _ => String::new(),
            };
            if url.is_empty() {
                return Err(bad_request(format!(
                    "an `image_url` part in a {place} message has no url"
                )));
            }
            let source = match parse_data_url(&url) {
                Some((mime, data)) => {
                    json!({"type": "base64", "media_type": mime, "data": data})
                }
                None => json!({"type": "url", "url": url}),
            };
            let mut b = Block {
                kind: "image".into(),
                source: Some(source),
                ..Default::default()
            };
            copy_known(&p.extra, &mut b.extra, &["cache_control"]);
            Ok(Some(b))
        }
        "file" => {
            let file = p.extra.get("file").cloned().unwrap_or(Value::Null);
            let Some((mime, data)) = file
                .get("file_data")
                .and_then(Value::as_str)
                .and_then(parse_data_url)
            else {
                return Err(bad_request(
                    "a `file` part can be sent to Anthropic only with `file_data` as a base64 \
                     data: URL (OpenAI file ids mean nothing to Anthropic)",
                ));
            };
            let mut b = Block {
                kind: "document".into(),
                source: Some(json!({"type": "base64", "media_type": mime, "data": data})),
                ..Default::default()
            };
            if let Some(name) = file.get("filename").and_then(Value::as_str) {
                b.extra
                    .insert("title".into(), Value::String(name.to_owned()));
            }
            copy_known(&p.extra, &mut b.extra, &["cache_control"]);
            Ok(Some(b))
        }
        "input_audio" => Err(bad_request(
            "audio input (`input_audio` parts) is not supported by Anthropic models",
        )),
        ext::FILE_DATA_PART => Err(bad_request(
            "a Gemini `fileData` part (a file URI of the Gemini Files API) cannot be sent to \
             Anthropic; send the file inline",
        )),
        _ => {
            // An Anthropic block kept as-is by the anthropic ingress
            // (`document`, `search_result`, an image with a `file` source...).
            let kind = p.kind.clone();
            let v = serde_json::to_value(&p).unwrap_or(Value::Null);
            serde_json::from_value(v).map(Some).map_err(|e| {
                bad_request(format!("a `{kind}` part cannot be sent to Anthropic: {e}"))
            })
        }
    }
}

/// The blocks of a hub assistant message: thinking first, then text, then
/// tool calls.
fn assistant_blocks(m: hub::Message) -> Result<Vec<Block>, PluginError> {
    let mut blocks = Vec::new();
    let mut extra = m.extra;
    if let Some(Value::Array(list)) = extra.remove(ext::THINKING_BLOCKS) {
        for b in list {
            if let Ok(b) = serde_json::from_value::<Block>(b) {
                blocks.push(b);
            }
        }
    } else {
        let signature = extra
            .remove(ext::REASONING_SIGNATURE)
            .and_then(|v| v.as_str().map(str::to_owned))
            .filter(|s| !s.is_empty());
        if let Some(text) = m.reasoning_content.filter(|t| !t.is_empty()) {
            match signature {
                Some(sig) => blocks.push(Block {
                    kind: "thinking".into(),
                    thinking: Some(text),
                    signature: Some(sig),
                    ..Default::default()
                }),
                None => debug(
                    "assistant `reasoning_content` without `reasoning_signature` dropped: \
                     Anthropic only accepts signed thinking blocks",
                ),
            }
        }
        if let Some(Value::Array(list)) = extra.remove(ext::REDACTED_THINKING) {
            for d in list {
                if let Value::String(data) = d {
                    blocks.push(Block {
                        kind: "redacted_thinking".into(),
                        data: Some(data),
                        ..Default::default()
                    });
                }
            }
        }
    }
    if let Some(c) = m.content {
        blocks.extend(content_to_blocks(c, "assistant")?);
    }
    if let Some(Value::String(refusal)) = extra.get("refusal")
        && !refusal.is_empty()
        && !blocks.iter().any(|b| b.kind == "text")
    {
        blocks.push(Block::text(refusal.clone()));
    }
    for (i, call) in m.tool_calls.unwrap_or_default().into_iter().enumerate() {
        let f = call.function.unwrap_or_default();
        let args = f.arguments.unwrap_or_default();
        let input = raw_arguments(&args);
        if input.get().starts_with("{\"_raw\"") {
            debug(&format!(
                "tool call {i} has arguments that are not a JSON object; sent as {{\"_raw\": ...}}"
            ));
        }
        blocks.push(Block {
            kind: "tool_use".into(),
            id: Some(call.id.unwrap_or_else(|| format!("toolu_{i}"))),
            name: Some(f.name.unwrap_or_default()),
            input: Some(input),
            ..Default::default()
        });
    }
    Ok(blocks)
}

/// A hub `tool` message as a `tool_result` block.
fn tool_result_block(m: hub::Message) -> Result<Block, PluginError> {
    let content = match m.content {
        None => Value::String(String::new()),
        Some(hub::Content::Text(t)) => Value::String(t),
        Some(hub::Content::Parts(parts)) => {
            let mut blocks = Vec::new();
            for p in parts {
                if let Some(b) = part_to_block(p, "tool")? {
                    blocks.push(serde_json::to_value(b).unwrap_or(Value::Null));
                }
            }
            if blocks.is_empty() {
                Value::String(String::new())
            } else {
                Value::Array(blocks)
            }
        }
    };
    let is_error = m.extra.get(ext::IS_ERROR).and_then(Value::as_bool);
    let mut b = Block {
        kind: "tool_result".into(),
        tool_use_id: Some(m.tool_call_id.unwrap_or_default()),
        content: Some(content),
        is_error: is_error.filter(|e| *e),
        ..Default::default()
    };
    copy_known(&m.extra, &mut b.extra, &["cache_control"]);
    Ok(b)
}

fn tool_to_anthropic(t: hub::Tool) -> Result<Tool, PluginError> {
    if t.kind == "function" {
        let f = t
            .function
            .ok_or_else(|| bad_request("a tool of type `function` has no `function` object"))?;
        let mut tool = Tool {
            kind: None,
            name: f.name,
            description: f.description,
            input_schema: Some(
                f.parameters
                    .unwrap_or_else(|| RawJson::from(json!({"type": "object", "properties": {}}))),
            ),
            extra: Map::new(),
        };
        copy_known(&t.extra, &mut tool.extra, &["cache_control"]);
        copy_known(&f.extra, &mut tool.extra, &["cache_control"]);
        if f.strict.is_some() {
            debug(&format!(
                "tool `{}`: `strict` dropped for Anthropic",
                tool.name
            ));
        }
        Ok(tool)
    } else {
        // An Anthropic server tool kept by the anthropic ingress.
        let v = serde_json::to_value(&t).unwrap_or(Value::Null);
        serde_json::from_value(v).map_err(|e| {
            bad_request(format!(
                "tool of type `{}` cannot be sent to Anthropic: {e}",
                t.kind
            ))
        })
    }
}

fn tool_choice_to_anthropic(c: &Value) -> Option<ToolChoice> {
    let kind = |k: &str| {
        Some(ToolChoice {
            kind: k.into(),
            ..Default::default()
        })
    };
    match c {
        Value::String(s) => match s.as_str() {
            "auto" => kind("auto"),
            "none" => kind("none"),
            "required" => kind("any"),
            other => {
                debug(&format!("unknown tool_choice `{other}` dropped"));
                None
            }
        },
        Value::Object(o) => {
            let name = o
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str);
            match name {
                Some(name) => Some(ToolChoice {
                    kind: "tool".into(),
                    name: Some(name.to_owned()),
                    ..Default::default()
                }),
                None => {
                    debug("tool_choice object without a function name: using auto");
                    kind("auto")
                }
            }
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Anthropic → hub
// ---------------------------------------------------------------------------

/// Translates an Anthropic Messages request (from an Anthropic client) into
/// a hub request.
///
/// The top-level `system` becomes the first message; `tool_result` blocks
/// become `tool` messages placed before the rest of their user message;
/// `thinking` blocks become `reasoning_content` + `reasoning_signature`;
/// `thinking` (the request setting) is carried as the hub extension
/// `thinking`, `top_k` as `top_k`, unknown top-level fields in the
/// `anthropic` extension. For a plain OpenAI provider (`ctx.keeps_extensions()`
/// false) extensions are not written and `thinking` becomes
/// `reasoning_effort` instead.
pub fn anthropic_to_hub(req: MessagesRequest, ctx: &Ctx) -> Result<ChatRequest, PluginError> {
    let keep = ctx.keeps_extensions();
    let mut hub = ChatRequest {
        model: if req.model.is_empty() {
            ctx.client_model().to_owned()
        } else {
            req.model
        },
        ..Default::default()
    };
    if let Some(system) = req.system {
        match system {
            Content::Text(t) => hub.messages.push(hub::Message::system(t)),
            Content::Blocks(blocks) => {
                let parts = blocks
                    .into_iter()
                    .map(|b| block_to_part(b, keep))
                    .collect::<Result<Vec<_>, _>>()?
                    .into_iter()
                    .flatten()
                    .collect();
                hub.messages.push(hub::Message {
                    role: "system".into(),
                    content: Some(simplify_parts(parts)),
                    ..Default::default()
                });
            }
        }
    }
    for (i, m) in req.messages.into_iter().enumerate() {
        match m.role.as_str() {
            "user" => user_to_hub(m.content, keep, &mut hub.messages)?,
            "assistant" => hub
                .messages
                .push(assistant_to_hub(m.content.into_blocks(), keep)),
            other => {
                return Err(bad_request(format!(
                    "messages.{i}.role is `{other}`; Anthropic messages are `user` or `assistant`"
                )));
            }
        }
    }

    if let Some(tools) = req.tools {
        let mut list = Vec::with_capacity(tools.len());
        for t in tools {
            match t.kind.as_deref() {
                None | Some("custom") => {
                    let mut tool = hub::Tool {
                        kind: "function".into(),
                        function: Some(FunctionDef {
                            name: t.name,
                            description: t.description,
                            parameters: t.input_schema,
                            ..Default::default()
                        }),
                        extra: Map::new(),
                    };
                    if keep {
                        copy_known(&t.extra, &mut tool.extra, &["cache_control"]);
                    }
                    list.push(tool);
                }
                Some(kind) if keep => {
                    // A server tool (web search, code execution, ...): kept as
                    // is for an Anthropic provider.
                    let mut extra = t.extra.clone();
                    extra.insert("name".into(), Value::String(t.name.clone()));
                    list.push(hub::Tool {
                        kind: kind.to_owned(),
                        function: None,
                        extra,
                    });
                }
                Some(kind) => debug(&format!(
                    "Anthropic server tool `{}` ({kind}) dropped: the provider is not Anthropic",
                    t.name
                )),
            }
        }
        if !list.is_empty() {
            hub.tools = Some(list);
        }
    }
    if let Some(c) = req.tool_choice {
        hub.tool_choice = match c.kind.as_str() {
            "auto" => Some(json!("auto")),
            "any" => Some(json!("required")),
            "none" => Some(json!("none")),
            "tool" => {
                Some(json!({"type": "function", "function": {"name": c.name.unwrap_or_default()}}))
            }
            other => {
                debug(&format!("unknown tool_choice type `{other}` dropped"));
                None
            }
        };
        if c.disable_parallel_tool_use == Some(true) {
            hub.parallel_tool_calls = Some(false);
        }
    }

    hub.max_tokens = req.max_tokens;
    hub.temperature = req.temperature;
    hub.top_p = req.top_p;
    hub.stop = req
        .stop_sequences
        .filter(|s| !s.is_empty())
        .map(|s| Value::Array(s.into_iter().map(Value::String).collect()));
    if req.stream == Some(true) {
        hub.stream = Some(true);
        hub.stream_options = Some(StreamOptions {
            include_usage: Some(true),
            ..Default::default()
        });
    }
    if let Some(user) = req
        .metadata
        .as_ref()
        .and_then(|m| m.get("user_id"))
        .and_then(Value::as_str)
    {
        hub.user = Some(user.to_owned());
    }
    if keep {
        if let Some(k) = req.top_k {
            hub.extra.insert(ext::TOP_K.into(), json!(k));
        }
        if let Some(t) = req.thinking {
            hub.extra.insert(ext::THINKING.into(), t);
        }
        if !req.extra.is_empty() {
            hub.extra
                .insert(ext::ANTHROPIC.into(), Value::Object(req.extra));
        }
    } else {
        if let Some(t) = req.thinking {
            hub.reasoning_effort = crate::thinking::anthropic_to_effort(&t);
        }
        if req.top_k.is_some() {
            debug("`top_k` dropped: the provider speaks plain OpenAI");
        }
        for key in req.extra.keys() {
            debug(&format!(
                "Anthropic field `{key}` dropped: the provider speaks plain OpenAI"
            ));
        }
        common::strip_extensions(&mut hub);
    }
    Ok(hub)
}

/// Hub parts: one plain text part becomes a string.
fn simplify_parts(mut parts: Vec<ContentPart>) -> hub::Content {
    if parts.len() == 1 && parts[0].kind == "text" && parts[0].extra.is_empty() {
        hub::Content::Text(parts.remove(0).text.unwrap_or_default())
    } else {
        hub::Content::Parts(parts)
    }
}

/// One Anthropic block of user content as a hub part.
fn block_to_part(b: Block, keep: bool) -> Result<Option<ContentPart>, PluginError> {
    match b.kind.as_str() {
        "text" => {
            let mut p = ContentPart::text(b.text.unwrap_or_default());
            if keep {
                copy_known(&b.extra, &mut p.extra, &["cache_control", "citations"]);
            }
            Ok(Some(p))
        }
        "image" | "document" => {
            let source = b.source.clone().unwrap_or(Value::Null);
            let stype = source
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let mime = source
                .get("media_type")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let data = source
                .get("data")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let url = source.get("url").and_then(Value::as_str);
            let mut p = match (b.kind.as_str(), stype, url) {
                ("image", "base64", _) => ContentPart {
                    kind: "image_url".into(),
                    text: None,
                    extra: obj(json!({"image_url": {"url": data_url(mime, data)}})),
                },
                ("image", "url", Some(url)) => ContentPart {
                    kind: "image_url".into(),
                    text: None,
                    extra: obj(json!({"image_url": {"url": url}})),
                },
                ("document", "base64", _) => {
                    let mut file = json!({"file_data": data_url(mime, data)});
                    if let Some(title) = b.extra.get("title").and_then(Value::as_str) {
                        file["filename"] = Value::String(title.to_owned());
                    }
                    ContentPart {
                        kind: "file".into(),
                        text: None,
                        extra: obj(json!({ "file": file })),
                    }
                }
                ("document", "text", _) if !keep => ContentPart::text(data),
                _ if keep => return Ok(Some(passthrough_part(b))),
                _ => {
                    return Err(bad_request(format!(
                        "an Anthropic `{}` block with a `{stype}` source can only be sent to an \
                         Anthropic provider",
                        b.kind
                    )));
                }
            };
            if keep {
                copy_known(&b.extra, &mut p.extra, &["cache_control"]);
            }
            Ok(Some(p))
        }
        _ if keep => Ok(Some(passthrough_part(b))),
        other => Err(bad_request(format!(
            "Anthropic `{other}` content blocks can only be sent to an Anthropic provider"
        ))),
    }
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(o) => o,
        _ => Map::new(),
    }
}

/// An Anthropic block kept verbatim as a hub part of the same `type`.
fn passthrough_part(b: Block) -> ContentPart {
    let mut v = obj(serde_json::to_value(&b).unwrap_or(Value::Null));
    let kind = v
        .remove("type")
        .and_then(|t| t.as_str().map(str::to_owned))
        .unwrap_or_default();
    let text = v.remove("text").and_then(|t| t.as_str().map(str::to_owned));
    ContentPart {
        kind,
        text,
        extra: v,
    }
}

/// A user message: `tool_result` blocks become `tool` messages, the other
/// blocks a user message, in their order.
fn user_to_hub(
    content: Content,
    keep: bool,
    out: &mut Vec<hub::Message>,
) -> Result<(), PluginError> {
    let blocks = match content {
        Content::Text(t) => {
            out.push(hub::Message::user(t));
            return Ok(());
        }
        Content::Blocks(b) => b,
    };
    let mut parts: Vec<ContentPart> = Vec::new();
    let flush = |parts: &mut Vec<ContentPart>, out: &mut Vec<hub::Message>| {
        if !parts.is_empty() {
            out.push(hub::Message {
                role: "user".into(),
                content: Some(simplify_parts(std::mem::take(parts))),
                ..Default::default()
            });
        }
    };
    for b in blocks {
        if b.kind == "tool_result" {
            flush(&mut parts, out);
            out.push(tool_result_to_hub(b, keep)?);
        } else if let Some(p) = block_to_part(b, keep)? {
            parts.push(p);
        }
    }
    flush(&mut parts, out);
    Ok(())
}

fn tool_result_to_hub(b: Block, keep: bool) -> Result<hub::Message, PluginError> {
    let content = match b.content {
        None | Some(Value::Null) => hub::Content::Text(String::new()),
        Some(Value::String(s)) => hub::Content::Text(s),
        Some(Value::Array(items)) => {
            let mut parts = Vec::new();
            for item in items {
                match serde_json::from_value::<Block>(item) {
                    Ok(b) => {
                        if let Some(p) = block_to_part(b, keep)? {
                            parts.push(p);
                        }
                    }
                    Err(e) => {
                        return Err(bad_request(format!(
                            "invalid block in tool_result content: {e}"
                        )));
                    }
                }
            }
            if parts.is_empty() {
                hub::Content::Text(String::new())
            } else {
                simplify_parts(parts)
            }
        }
        Some(other) => hub::Content::Text(other.to_string()),
    };
    let mut m = hub::Message {
        role: "tool".into(),
        content: Some(content),
        tool_call_id: Some(b.tool_use_id.unwrap_or_default()),
        ..Default::default()
    };
    if keep {
        if b.is_error == Some(true) {
            m.extra.insert(ext::IS_ERROR.into(), Value::Bool(true));
        }
        copy_known(&b.extra, &mut m.extra, &["cache_control"]);
    }
    Ok(m)
}

/// Anthropic assistant blocks (a request message or a response's content) as
/// a hub assistant message.
pub fn assistant_to_hub(blocks: Vec<Block>, keep: bool) -> hub::Message {
    let mut texts: Vec<Block> = Vec::new();
    let mut thinking: Vec<Block> = Vec::new();
    let mut calls = Vec::new();
    for b in blocks {
        match b.kind.as_str() {
            "text" => texts.push(b),
            "thinking" | "redacted_thinking" => thinking.push(b),
            "tool_use" => {
                let arguments = b
                    .input
                    .as_ref()
                    .map_or_else(|| "{}".to_owned(), raw_arguments_to_string);
                calls.push(ToolCall {
                    index: None,
                    id: b.id,
                    kind: Some("function".into()),
                    function: Some(FunctionCall {
                        name: b.name,
                        arguments: Some(arguments),
                        extra: Map::new(),
                    }),
                    extra: Map::new(),
                });
            }
            other => debug(&format!(
                "assistant `{other}` block dropped: the hub has no counterpart"
            )),
        }
    }
    let mut m = hub::Message {
        role: "assistant".into(),
        ..Default::default()
    };
    let plain = texts.iter().all(|b| !keep || b.extra.is_empty());
    if plain {
        let text: String = texts.into_iter().filter_map(|b| b.text).collect();
        if !text.is_empty() || calls.is_empty() {
            m.content = Some(hub::Content::Text(text));
        }
    } else {
        m.content = Some(hub::Content::Parts(
            texts
                .into_iter()
                .map(|b| {
                    let mut p = ContentPart::text(b.text.unwrap_or_default());
                    copy_known(&b.extra, &mut p.extra, &["cache_control", "citations"]);
                    p
                })
                .collect(),
        ));
    }
    let reasoning: String = thinking
        .iter()
        .filter_map(|b| b.thinking.as_deref())
        .collect::<Vec<_>>()
        .join("\n\n");
    if !reasoning.is_empty() {
        m.reasoning_content = Some(reasoning);
    }
    if keep {
        if thinking.len() > 1 {
            m.extra.insert(
                ext::THINKING_BLOCKS.into(),
                serde_json::to_value(&thinking).unwrap_or(Value::Null),
            );
        } else if let Some(b) = thinking.pop() {
            if b.kind == "thinking" {
                if let Some(sig) = b.signature {
                    m.extra
                        .insert(ext::REASONING_SIGNATURE.into(), Value::String(sig));
                }
            } else if let Some(data) = b.data {
                m.extra.insert(ext::REDACTED_THINKING.into(), json!([data]));
            }
        }
    }
    if !calls.is_empty() {
        m.tool_calls = Some(calls);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_anthropic(v: Value) -> Value {
        let hub: ChatRequest = serde_json::from_value(v).unwrap();
        serde_json::to_value(hub_to_anthropic(hub, &Ctx::default()).unwrap()).unwrap()
    }

    #[test]
    fn tool_results_merge_and_follow_the_call() {
        let out = to_anthropic(json!({"model": "m", "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                {"id": "b", "type": "function", "function": {"name": "g", "arguments": "{\"x\":"}}]},
            {"role": "tool", "tool_call_id": "a", "content": "1"},
            {"role": "tool", "tool_call_id": "b", "content": "2"},
            {"role": "user", "content": "thanks"}
        ]}));
        assert_eq!(out["max_tokens"], 4096);
        let msgs = out["messages"].as_array().unwrap();
        assert_eq!(msgs.len(), 3);
        assert_eq!(msgs[1]["content"][1]["input"], json!({"_raw": "{\"x\":"}));
        assert_eq!(
            msgs[2]["content"],
            json!([
                {"type": "tool_result", "tool_use_id": "a", "content": "1"},
                {"type": "tool_result", "tool_use_id": "b", "content": "2"},
                {"type": "text", "text": "thanks"}
            ])
        );
    }

    #[test]
    fn refuses_what_cannot_map() {
        let hub: ChatRequest = serde_json::from_value(json!({"messages": [
            {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}}]}
        ]}))
        .unwrap();
        let e = hub_to_anthropic(hub, &Ctx::default()).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("audio"), "{}", e.message);
        let hub: ChatRequest =
            serde_json::from_value(json!({"n": 2, "messages": [{"role": "user", "content": "x"}]}))
                .unwrap();
        assert!(hub_to_anthropic(hub, &Ctx::default()).is_err());
    }
}
