//! Requests: hub → Gemini (provider side) and Gemini → hub (ingress).

use std::collections::HashMap;

use serde_json::{Map, Value, json};
use sluice_sdk::PluginError;
use sluice_sdk::error::bad_request;
use sluice_sdk::hub::{self, ChatRequest, ContentPart, FunctionDef, StreamOptions, ToolCall};
use sluice_sdk::json::RawJson;
use sluice_sdk::log::debug;

use super::schema;
use super::types::{
    Blob, Content, FileData, FunctionCall, FunctionDeclaration, FunctionResponse,
    GenerateContentRequest, GenerationConfig, Part, Tool,
};
use crate::common::{
    self, Ctx, arguments_to_string, data_url, guess_mime, parse_arguments, parse_data_url,
};
use crate::ext;

/// Keys of a hub request Gemini has no counterpart for: dropped with a debug
/// log.
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
    "anthropic",
    "thinking",
];

/// The Gemini thought signature in a hub `extra_content` extension.
pub fn thought_signature(extra: &Map<String, Value>) -> Option<String> {
    extra
        .get(ext::EXTRA_CONTENT)?
        .get("google")?
        .get("thought_signature")?
        .as_str()
        .map(str::to_owned)
}

/// `{"google": {"thought_signature": sig}}`.
pub fn extra_content(sig: &str) -> Value {
    json!({"google": {"thought_signature": sig}})
}

// ---------------------------------------------------------------------------
// hub → Gemini
// ---------------------------------------------------------------------------

/// Translates a hub request into a Gemini `generateContent` body.
///
/// `system`/`developer` messages → `systemInstruction`; `assistant` → role
/// `model` (`reasoning_content` is not sent back; Gemini thought signatures
/// from `extra_content` are); `tool` messages → `functionResponse` parts in a
/// user turn, the function name looked up from the call id; consecutive
/// turns of one role are merged. The hub extension `thinking_config` becomes
/// `generationConfig.thinkingConfig`; the `gemini` extension is merged in.
pub fn hub_to_gemini(hub: ChatRequest, _ctx: &Ctx) -> Result<GenerateContentRequest, PluginError> {
    let mut out = GenerateContentRequest::default();
    let mut system: Vec<Part> = Vec::new();
    let mut names: HashMap<String, String> = HashMap::new();
    for m in &hub.messages {
        for c in m.tool_calls.iter().flatten() {
            if let (Some(id), Some(name)) =
                (&c.id, c.function.as_ref().and_then(|f| f.name.clone()))
            {
                names.insert(id.clone(), name);
            }
        }
    }
    for (i, m) in hub.messages.into_iter().enumerate() {
        match m.role.as_str() {
            "system" | "developer" => {
                for p in content_to_parts(m.content, "system")? {
                    if p.text.is_some() {
                        system.push(p);
                    } else {
                        debug(
                            "non-text part of a system message dropped (Gemini's systemInstruction is text)",
                        );
                    }
                }
            }
            "user" => {
                let parts = content_to_parts(m.content, "user")?;
                push(&mut out.contents, "user", parts);
            }
            "assistant" => {
                let mut parts = Vec::new();
                if m.reasoning_content.is_some() {
                    debug(&format!(
                        "message {i}: reasoning_content not sent back to Gemini"
                    ));
                }
                let sig = thought_signature(&m.extra);
                for p in content_to_parts(m.content, "assistant")? {
                    parts.push(p);
                }
                if let Some(sig) = sig {
                    match parts.first_mut() {
                        Some(p) => p.thought_signature = Some(sig),
                        None => parts.push(Part {
                            text: Some(String::new()),
                            thought_signature: Some(sig),
                            ..Default::default()
                        }),
                    }
                }
                for c in m.tool_calls.unwrap_or_default() {
                    let f = c.function.clone().unwrap_or_default();
                    parts.push(Part {
                        function_call: Some(FunctionCall {
                            id: None,
                            name: f.name.unwrap_or_default(),
                            args: Some(parse_arguments(f.arguments.as_deref().unwrap_or(""))),
                            extra: Map::new(),
                        }),
                        thought_signature: thought_signature(&c.extra),
                        ..Default::default()
                    });
                }
                push(&mut out.contents, "model", parts);
            }
            "tool" => {
                let id = m.tool_call_id.clone().unwrap_or_default();
                let name = names.get(&id).cloned().unwrap_or_else(|| {
                    debug(&format!(
                        "tool result for unknown call `{id}`: the call id is used as the function name"
                    ));
                    id.clone()
                });
                let is_error = m.extra.get(ext::IS_ERROR).and_then(Value::as_bool) == Some(true);
                let text = m.text();
                let response = tool_response(&text, is_error);
                push(
                    &mut out.contents,
                    "user",
                    vec![Part {
                        function_response: Some(FunctionResponse {
                            id: None,
                            name,
                            response,
                            extra: Map::new(),
                        }),
                        ..Default::default()
                    }],
                );
            }
            "function" => {
                return Err(bad_request(
                    "messages with role `function` (the legacy function calling API) cannot be \
                     translated for Gemini; use `tools` and `tool` messages",
                ));
            }
            other => {
                return Err(bad_request(format!(
                    "message {i} has role `{other}`; expected system, developer, user, assistant or tool"
                )));
            }
        }
    }
    if !system.is_empty() {
        out.system_instruction = Some(Content {
            role: None,
            parts: system,
            extra: Map::new(),
        });
    }

    // Tools.
    let mut declarations = Vec::new();
    for t in hub.tools.unwrap_or_default() {
        if t.kind != "function" {
            debug(&format!(
                "tool of type `{}` dropped: Gemini has no counterpart",
                t.kind
            ));
            continue;
        }
        let Some(f) = t.function else { continue };
        let mut d = FunctionDeclaration {
            name: f.name,
            description: f.description,
            ..Default::default()
        };
        // Gemini wants its own schema dialect: the one place a tool schema
        // is parsed (it was checked to be JSON; this can fail only on
        // nesting deeper than 128 levels).
        if let Some(p) = f.parameters {
            let p = p.to_value().map_err(|e| {
                bad_request(format!(
                    "the parameters schema of tool `{}` cannot be translated for Gemini: {e}",
                    d.name
                ))
            })?;
            if schema::has_refs(&p) {
                d.parameters_json_schema = Some(p);
            } else if !schema::is_empty_object(&p) {
                d.parameters = Some(schema::to_gemini(&p));
            }
        }
        declarations.push(d);
    }
    let mut tools = Vec::new();
    if !declarations.is_empty() {
        tools.push(Tool {
            function_declarations: Some(declarations),
            extra: Map::new(),
        });
    }
    let mut tool_config: Option<Value> = hub.tool_choice.as_ref().and_then(|c| {
        let fcc = match c {
            Value::String(s) => match s.as_str() {
                "auto" => json!({"mode": "AUTO"}),
                "none" => json!({"mode": "NONE"}),
                "required" => json!({"mode": "ANY"}),
                other => {
                    debug(&format!("unknown tool_choice `{other}` dropped"));
                    return None;
                }
            },
            Value::Object(o) => match o
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
            {
                Some(name) => json!({"mode": "ANY", "allowedFunctionNames": [name]}),
                None => json!({"mode": "AUTO"}),
            },
            _ => return None,
        };
        Some(json!({ "functionCallingConfig": fcc }))
    });
    if hub.parallel_tool_calls.is_some() {
        debug("`parallel_tool_calls` dropped: Gemini has no counterpart");
    }

    // Generation config.
    let mut extra = hub.extra;
    let mut gc = GenerationConfig {
        temperature: hub.temperature,
        top_p: hub.top_p,
        top_k: extra.remove(ext::TOP_K).and_then(|v| v.as_u64()),
        candidate_count: hub.n.filter(|n| *n > 1),
        max_output_tokens: hub.max_completion_tokens.or(hub.max_tokens),
        stop_sequences: match hub.stop {
            Some(Value::String(s)) => Some(vec![s]),
            Some(Value::Array(a)) => Some(
                a.into_iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
            ),
            _ => None,
        },
        presence_penalty: hub.presence_penalty,
        frequency_penalty: hub.frequency_penalty,
        seed: hub.seed,
        thinking_config: extra.remove(ext::THINKING_CONFIG),
        ..Default::default()
    };
    if let Some(rf) = &hub.response_format {
        match rf.get("type").and_then(Value::as_str) {
            Some("json_object") => gc.response_mime_type = Some("application/json".into()),
            Some("json_schema") => {
                gc.response_mime_type = Some("application/json".into());
                if let Some(s) = rf.get("json_schema").and_then(|j| j.get("schema")) {
                    if schema::has_refs(s) {
                        gc.response_json_schema = Some(s.clone());
                    } else {
                        gc.response_schema = Some(schema::to_gemini(s));
                    }
                }
            }
            _ => {}
        }
    }
    if hub.reasoning_effort.is_some() {
        debug("`reasoning_effort` dropped (translate it with the thinking-translator transform)");
    }
    if let Some(Value::Object(bag)) = extra.remove(ext::GEMINI) {
        for (k, v) in bag {
            match (k.as_str(), v) {
                ("generationConfig", Value::Object(g)) => {
                    for (gk, gv) in g {
                        gc.extra.entry(gk).or_insert(gv);
                    }
                }
                ("tools", Value::Array(list)) => {
                    for t in list {
                        if let Ok(t) = serde_json::from_value::<Tool>(t) {
                            tools.push(t);
                        }
                    }
                }
                ("toolConfig", Value::Object(tc)) => {
                    let target = tool_config.get_or_insert_with(|| json!({}));
                    if let Value::Object(target) = target {
                        for (tk, tv) in tc {
                            target.entry(tk).or_insert(tv);
                        }
                    }
                }
                (_, v) => {
                    out.extra.insert(k, v);
                }
            }
        }
    }
    if gc != GenerationConfig::default() {
        out.generation_config = Some(gc);
    }
    if !tools.is_empty() {
        out.tools = Some(tools);
    }
    out.tool_config = tool_config;
    for (key, _) in extra {
        if DROPPED.contains(&key.as_str()) {
            debug(&format!("`{key}` dropped: Gemini has no counterpart"));
        } else {
            debug(&format!("unknown field `{key}` dropped for Gemini"));
        }
    }
    if hub.user.is_some() {
        debug("`user` dropped: Gemini has no counterpart");
    }
    Ok(out)
}

/// Appends parts as a turn of `role`, merged into the previous turn when it
/// has the same role. Nothing is added for no parts.
fn push(contents: &mut Vec<Content>, role: &str, parts: Vec<Part>) {
    if parts.is_empty() {
        return;
    }
    if let Some(last) = contents.last_mut()
        && last.role.as_deref() == Some(role)
    {
        last.parts.extend(parts);
        return;
    }
    contents.push(Content {
        role: Some(role.into()),
        parts,
        extra: Map::new(),
    });
}

/// A tool result as a `functionResponse.response` object: a JSON object
/// result as is, anything else as `{"result": text}` (`{"error": text}` for
/// an error result).
pub fn tool_response(text: &str, is_error: bool) -> Value {
    let parsed = serde_json::from_str::<Value>(text)
        .ok()
        .filter(Value::is_object);
    match (parsed, is_error) {
        (Some(obj), false) => obj,
        (Some(obj), true) => json!({ "error": obj }),
        (None, false) => json!({ "result": text }),
        (None, true) => json!({ "error": text }),
    }
}

fn content_to_parts(c: Option<hub::Content>, place: &str) -> Result<Vec<Part>, PluginError> {
    match c {
        None => Ok(Vec::new()),
        Some(hub::Content::Text(t)) if t.is_empty() => Ok(Vec::new()),
        Some(hub::Content::Text(t)) => Ok(vec![Part::text(t)]),
        Some(hub::Content::Parts(parts)) => {
            let mut out = Vec::with_capacity(parts.len());
            for p in parts {
                if let Some(p) = part_to_gemini(p, place)? {
                    out.push(p);
                }
            }
            Ok(out)
        }
    }
}

fn part_to_gemini(p: ContentPart, place: &str) -> Result<Option<Part>, PluginError> {
    let inline = |mime: String, data: String| Part {
        inline_data: Some(Blob {
            mime_type: mime,
            data,
        }),
        ..Default::default()
    };
    match p.kind.as_str() {
        "text" | "refusal" | "input_text" => Ok(p.text.filter(|t| !t.is_empty()).map(Part::text)),
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
            Ok(Some(match parse_data_url(&url) {
                Some((mime, data)) => inline(mime, data),
                None => Part {
                    file_data: Some(FileData {
                        mime_type: Some(guess_mime(&url).unwrap_or("image/jpeg").to_owned()),
                        file_uri: url,
                    }),
                    ..Default::default()
                },
            }))
        }
        "input_audio" => {
            let a = p.extra.get("input_audio").cloned().unwrap_or(Value::Null);
            let data = a.get("data").and_then(Value::as_str).unwrap_or_default();
            let format = a.get("format").and_then(Value::as_str).unwrap_or("wav");
            Ok(Some(inline(format!("audio/{format}"), data.to_owned())))
        }
        "file" => {
            let file = p.extra.get("file").cloned().unwrap_or(Value::Null);
            match file
                .get("file_data")
                .and_then(Value::as_str)
                .and_then(parse_data_url)
            {
                Some((mime, data)) => Ok(Some(inline(mime, data))),
                None => Err(bad_request(
                    "a `file` part can be sent to Gemini only with `file_data` as a base64 data: URL \
                     (OpenAI file ids mean nothing to Gemini)",
                )),
            }
        }
        ext::FILE_DATA_PART => {
            let fd: FileData = p
                .extra
                .get(ext::FILE_DATA_PART)
                .cloned()
                .and_then(|v| serde_json::from_value(v).ok())
                .unwrap_or_default();
            Ok(Some(Part {
                file_data: Some(fd),
                ..Default::default()
            }))
        }
        other => Err(bad_request(format!(
            "`{other}` content parts cannot be sent to Gemini"
        ))),
    }
}

// ---------------------------------------------------------------------------
// Gemini → hub
// ---------------------------------------------------------------------------

/// The id synthesized for the `part`-th part of the `content`-th turn of a
/// Gemini request when its `functionCall` has no id.
pub fn request_call_id(content: usize, part: usize) -> String {
    format!("call_{content}_{part}")
}

/// Translates a Gemini request (from a Gemini client) into a hub request.
///
/// Function calls without an id get `call_<turn>_<part>`; each
/// `functionResponse` is matched to the oldest unanswered call of the same
/// name (or by its `id`). Thought signatures go to `extra_content`;
/// `thinkingConfig` to the hub extension `thinking_config`; `topK` to
/// `top_k`; Gemini-only settings to the `gemini` extension. For a plain
/// OpenAI provider extensions are not written and `thinkingConfig` becomes
/// `reasoning_effort`.
pub fn gemini_to_hub(req: GenerateContentRequest, ctx: &Ctx) -> Result<ChatRequest, PluginError> {
    let keep = ctx.keeps_extensions();
    let mut hub = ChatRequest {
        model: ctx.client_model().to_owned(),
        ..Default::default()
    };
    if let Some(sys) = req.system_instruction {
        let texts: Vec<String> = sys.parts.into_iter().filter_map(|p| p.text).collect();
        if texts.len() == 1 {
            hub.messages.push(hub::Message::system(
                texts.into_iter().next().unwrap_or_default(),
            ));
        } else if !texts.is_empty() {
            hub.messages.push(hub::Message {
                role: "system".into(),
                content: Some(hub::Content::Parts(
                    texts.into_iter().map(ContentPart::text).collect(),
                )),
                ..Default::default()
            });
        }
    }
    // Calls not answered yet: (id, name).
    let mut pending: Vec<(String, String)> = Vec::new();
    let mut bag = Map::new();
    for (ci, content) in req.contents.into_iter().enumerate() {
        match content.role.as_deref() {
            Some("model") => {
                let m =
                    model_parts_to_message(content.parts, keep, |pi, _| request_call_id(ci, pi));
                for c in m.tool_calls.iter().flatten() {
                    pending.push((
                        c.id.clone().unwrap_or_default(),
                        c.function
                            .as_ref()
                            .and_then(|f| f.name.clone())
                            .unwrap_or_default(),
                    ));
                }
                hub.messages.push(m);
            }
            _ => {
                let mut parts: Vec<ContentPart> = Vec::new();
                for p in content.parts {
                    if let Some(fr) = p.function_response {
                        flush_user(&mut parts, &mut hub.messages);
                        let id = match fr.id {
                            Some(id) => {
                                pending.retain(|(pid, _)| *pid != id);
                                id
                            }
                            None => match pending.iter().position(|(_, n)| *n == fr.name) {
                                Some(k) => pending.remove(k).0,
                                None => format!("call_{}", fr.name),
                            },
                        };
                        let (text, is_error) = response_text(&fr.response);
                        let mut m = hub::Message {
                            role: "tool".into(),
                            content: Some(hub::Content::Text(text)),
                            tool_call_id: Some(id),
                            ..Default::default()
                        };
                        if is_error && keep {
                            m.extra.insert(ext::IS_ERROR.into(), Value::Bool(true));
                        }
                        hub.messages.push(m);
                    } else if let Some(part) = user_part_to_hub(p, keep)? {
                        parts.push(part);
                    }
                }
                flush_user(&mut parts, &mut hub.messages);
            }
        }
    }

    // Tools.
    let mut tools = Vec::new();
    let mut other_tools = Vec::new();
    for t in req.tools.unwrap_or_default() {
        for d in t.function_declarations.into_iter().flatten() {
            let parameters = d
                .parameters_json_schema
                .or(d.parameters.as_ref().map(schema::to_json_schema))
                .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
            tools.push(hub::Tool {
                kind: "function".into(),
                function: Some(FunctionDef {
                    name: d.name,
                    description: d.description,
                    parameters: Some(RawJson::from(parameters)),
                    ..Default::default()
                }),
                extra: Map::new(),
            });
        }
        if !t.extra.is_empty() {
            other_tools.push(Value::Object(t.extra));
        }
    }
    if !tools.is_empty() {
        hub.tools = Some(tools);
    }
    if !other_tools.is_empty() {
        if keep {
            bag.insert("tools".into(), Value::Array(other_tools));
        } else {
            debug(
                "Gemini built-in tools (googleSearch, codeExecution, ...) dropped: the provider speaks plain OpenAI",
            );
        }
    }
    if let Some(Value::Object(mut tc)) = req.tool_config {
        if let Some(fcc) = tc
            .remove("functionCallingConfig")
            .or_else(|| tc.remove("function_calling_config"))
        {
            let names: Vec<&str> = fcc
                .get("allowedFunctionNames")
                .or_else(|| fcc.get("allowed_function_names"))
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            hub.tool_choice = match fcc.get("mode").and_then(Value::as_str).unwrap_or("AUTO") {
                "NONE" => Some(json!("none")),
                "ANY" if names.len() == 1 => {
                    Some(json!({"type": "function", "function": {"name": names[0]}}))
                }
                "ANY" => Some(json!("required")),
                _ => Some(json!("auto")),
            };
        }
        if !tc.is_empty() {
            bag.insert("toolConfig".into(), Value::Object(tc));
        }
    }

    if let Some(gc) = req.generation_config {
        hub.temperature = gc.temperature;
        hub.top_p = gc.top_p;
        hub.n = gc.candidate_count.filter(|n| *n > 1);
        hub.max_tokens = gc.max_output_tokens;
        hub.stop = gc
            .stop_sequences
            .filter(|s| !s.is_empty())
            .map(|s| Value::Array(s.into_iter().map(Value::String).collect()));
        hub.presence_penalty = gc.presence_penalty;
        hub.frequency_penalty = gc.frequency_penalty;
        hub.seed = gc.seed;
        if gc.response_mime_type.as_deref() == Some("application/json") {
            hub.response_format = Some(
                match gc
                    .response_json_schema
                    .or(gc.response_schema.as_ref().map(schema::to_json_schema))
                {
                    Some(s) => {
                        json!({"type": "json_schema", "json_schema": {"name": "response", "schema": s}})
                    }
                    None => json!({"type": "json_object"}),
                },
            );
        }
        if let Some(k) = gc.top_k {
            if keep {
                hub.extra.insert(ext::TOP_K.into(), json!(k));
            } else {
                debug("`topK` dropped: the provider speaks plain OpenAI");
            }
        }
        if let Some(tc) = gc.thinking_config {
            if keep {
                hub.extra.insert(ext::THINKING_CONFIG.into(), tc);
            } else {
                hub.reasoning_effort = crate::thinking::gemini_to_effort(&tc);
            }
        }
        if !gc.extra.is_empty() {
            bag.insert("generationConfig".into(), Value::Object(gc.extra));
        }
    }
    bag.extend(req.extra);
    if !bag.is_empty() {
        if keep {
            hub.extra.insert(ext::GEMINI.into(), Value::Object(bag));
        } else {
            for k in bag.keys() {
                debug(&format!(
                    "Gemini field `{k}` dropped: the provider speaks plain OpenAI"
                ));
            }
        }
    }
    if ctx.stream {
        hub.stream = Some(true);
        hub.stream_options = Some(StreamOptions {
            include_usage: Some(true),
            ..Default::default()
        });
    }
    if !keep {
        common::strip_extensions(&mut hub);
    }
    Ok(hub)
}

fn flush_user(parts: &mut Vec<ContentPart>, out: &mut Vec<hub::Message>) {
    if parts.is_empty() {
        return;
    }
    let parts = std::mem::take(parts);
    let content = if parts.len() == 1 && parts[0].kind == "text" {
        hub::Content::Text(
            parts
                .into_iter()
                .next()
                .and_then(|p| p.text)
                .unwrap_or_default(),
        )
    } else {
        hub::Content::Parts(parts)
    };
    out.push(hub::Message {
        role: "user".into(),
        content: Some(content),
        ..Default::default()
    });
}

/// The hub text of a `functionResponse.response` and whether it is an error:
/// `{"result": "text"}` → `text`, `{"error": "text"}` → `text` (error),
/// anything else → its JSON text.
pub fn response_text(response: &Value) -> (String, bool) {
    if let Value::Object(o) = response
        && o.len() == 1
    {
        if let Some(Value::String(s)) = o.get("result") {
            return (s.clone(), false);
        }
        if let Some(Value::String(s)) = o.get("error") {
            return (s.clone(), true);
        }
    }
    (response.to_string(), false)
}

fn user_part_to_hub(p: Part, keep: bool) -> Result<Option<ContentPart>, PluginError> {
    if let Some(t) = p.text {
        if p.thought == Some(true) {
            return Ok(None);
        }
        return Ok(Some(ContentPart::text(t)));
    }
    let part = |kind: &str, v: Value| ContentPart {
        kind: kind.into(),
        text: None,
        extra: match json!({ kind: v }) {
            Value::Object(o) => o,
            _ => Map::new(),
        },
    };
    if let Some(b) = p.inline_data {
        let mime = b.mime_type.to_ascii_lowercase();
        return Ok(Some(if mime.starts_with("image/") {
            part("image_url", json!({"url": data_url(&b.mime_type, &b.data)}))
        } else if let Some(format) = match mime.as_str() {
            "audio/wav" | "audio/x-wav" => Some("wav"),
            "audio/mp3" | "audio/mpeg" => Some("mp3"),
            _ => None,
        } {
            part("input_audio", json!({"data": b.data, "format": format}))
        } else {
            part(
                "file",
                json!({"file_data": data_url(&b.mime_type, &b.data)}),
            )
        }));
    }
    if let Some(f) = p.file_data {
        let mime = f.mime_type.clone().unwrap_or_default();
        if mime.starts_with("image/") {
            return Ok(Some(part("image_url", json!({"url": f.file_uri}))));
        }
        if keep {
            return Ok(Some(part(
                ext::FILE_DATA_PART,
                serde_json::to_value(&f).unwrap_or(Value::Null),
            )));
        }
        return Err(bad_request(format!(
            "a Gemini fileData part ({mime}) can only be sent to a Gemini provider; send the file inline"
        )));
    }
    if p.function_call.is_some() {
        debug("functionCall part in a user turn dropped");
        return Ok(None);
    }
    for k in p.extra.keys() {
        debug(&format!(
            "Gemini `{k}` part dropped: the hub has no counterpart"
        ));
    }
    Ok(None)
}

/// The parts of a model turn (request history or response candidate) as a
/// hub assistant message. `call_id(part_index, call)` names calls that have
/// no id.
pub fn model_parts_to_message(
    parts: Vec<Part>,
    keep: bool,
    call_id: impl Fn(usize, &FunctionCall) -> String,
) -> hub::Message {
    let mut m = hub::Message {
        role: "assistant".into(),
        ..Default::default()
    };
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    let mut sig: Option<String> = None;
    for (pi, p) in parts.into_iter().enumerate() {
        if let Some(fc) = p.function_call {
            let id = fc.id.clone().unwrap_or_else(|| call_id(pi, &fc));
            let mut call = ToolCall {
                index: None,
                id: Some(id),
                kind: Some("function".into()),
                function: Some(hub::FunctionCall {
                    name: Some(fc.name),
                    arguments: Some(arguments_to_string(&fc.args.unwrap_or_else(|| json!({})))),
                    extra: Map::new(),
                }),
                extra: Map::new(),
            };
            if keep && let Some(s) = p.thought_signature {
                call.extra
                    .insert(ext::EXTRA_CONTENT.into(), extra_content(&s));
            }
            calls.push(call);
            continue;
        }
        if let Some(t) = p.text {
            if p.thought == Some(true) {
                reasoning.push_str(&t);
            } else {
                text.push_str(&t);
            }
        } else if !p.extra.is_empty() {
            for k in p.extra.keys() {
                debug(&format!(
                    "Gemini `{k}` part dropped: the hub has no counterpart"
                ));
            }
        }
        if sig.is_none() {
            sig = p.thought_signature;
        }
    }
    if !text.is_empty() || calls.is_empty() {
        m.content = Some(hub::Content::Text(text));
    }
    if !reasoning.is_empty() {
        m.reasoning_content = Some(reasoning);
    }
    if !calls.is_empty() {
        m.tool_calls = Some(calls);
    }
    if keep && let Some(s) = sig {
        m.extra.insert(ext::EXTRA_CONTENT.into(), extra_content(&s));
    }
    m
}
