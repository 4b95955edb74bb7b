//! Serde types for the hub format: OpenAI Chat Completions JSON.
//!
//! Between pipeline stages sluice speaks OpenAI Chat Completions: requests
//! ([`ChatRequest`]), whole responses ([`ChatResponse`]) and stream chunks
//! ([`ChatChunk`]). Every struct keeps the fields it does not know in an
//! `extra` map, so parsing and re-serializing loses nothing. (`Deserialize`
//! is implemented with [`deserialize_with_extra!`](crate::deserialize_with_extra),
//! which parses in one pass; `#[serde(flatten)]` would buffer every object
//! first.) `None` fields are not serialized, except `finish_reason`, which
//! is written as `null` like OpenAI does.
//!
//! Parsing a whole request is not free; a provider that only needs to change
//! the model should use [`json::rewrite_model`](crate::json::rewrite_model).

use std::borrow::Cow;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::json::RawJson;
use crate::{Event, PluginError, deserialize_text_or_list, deserialize_with_extra};

/// Fields a type does not model, kept as they came.
pub type Extra = Map<String, Value>;

/// `object` of a whole response.
pub const CHAT_COMPLETION: &str = "chat.completion";
/// `object` of a stream chunk.
pub const CHAT_COMPLETION_CHUNK: &str = "chat.completion.chunk";

/// A chat completion request (`POST /v1/chat/completions` body).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ChatRequest {
    /// The model to use.
    #[serde(default)]
    pub model: String,
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// Whether to stream the answer as chunks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Stream options (`include_usage`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// Tools the model may call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    /// `"none"`, `"auto"`, `"required"` or a specific tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    /// Whether the model may call several tools at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Maximum tokens to generate (older name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// Maximum tokens to generate, reasoning included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u64>,
    /// Stop sequence(s): a string or an array of strings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Value>,
    /// Number of choices to generate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// Presence penalty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    /// Frequency penalty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    /// Seed for best-effort determinism.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// End-user identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `{"type": "json_object"}`, `{"type": "json_schema", ...}`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<Value>,
    /// Reasoning effort for reasoning models (`low`, `medium`, `high`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<String>,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Extra,
}

impl ChatRequest {
    /// Whether the request asks for a usage chunk at the end of a stream
    /// (`stream_options.include_usage == true`).
    pub fn include_usage(&self) -> bool {
        self.stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false)
    }

    /// The effective output limit: `max_completion_tokens`, else `max_tokens`.
    pub fn max_output_tokens(&self) -> Option<u64> {
        self.max_completion_tokens.or(self.max_tokens)
    }
}

/// `stream_options` of a request.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StreamOptions {
    /// Send a last chunk with `usage` and no choices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_usage: Option<bool>,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A tool the model may call.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Tool {
    /// Usually `"function"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The function, for `"function"` tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionDef>,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A function the model may call.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FunctionDef {
    /// The function's name.
    pub name: String,
    /// What the function does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments, kept as its JSON text: most plugins
    /// pass it on unread (see [`RawJson`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<RawJson>,
    /// Strict schema adherence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One message of a conversation (request) or a choice's answer (response).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Message {
    /// `system`, `developer`, `user`, `assistant` or `tool`.
    pub role: String,
    /// The text, or an array of content parts. `None` for an assistant
    /// message that only calls tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    /// Participant name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Tool calls of an assistant message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// For `tool` messages: the call this answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// Reasoning text (DeepSeek, vLLM and others).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// Every other field (`refusal`, `audio`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

impl Message {
    /// A message with a role and text content.
    pub fn new(role: impl Into<String>, text: impl Into<String>) -> Self {
        Message {
            role: role.into(),
            content: Some(Content::Text(text.into())),
            ..Default::default()
        }
    }

    /// A `system` message.
    pub fn system(text: impl Into<String>) -> Self {
        Self::new("system", text)
    }

    /// A `user` message.
    pub fn user(text: impl Into<String>) -> Self {
        Self::new("user", text)
    }

    /// An `assistant` message.
    pub fn assistant(text: impl Into<String>) -> Self {
        Self::new("assistant", text)
    }

    /// The message's text: the content string, or the text parts joined by
    /// newlines; empty without content.
    pub fn text(&self) -> String {
        self.content
            .as_ref()
            .map(|c| c.text().into_owned())
            .unwrap_or_default()
    }
}

/// Message content: a string or an array of parts.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// Content parts (`text`, `image_url`, `input_audio`, ...).
    Parts(Vec<ContentPart>),
}

impl Content {
    /// The text: the string itself, or the `text` of every part that has
    /// one, joined by newlines.
    pub fn text(&self) -> Cow<'_, str> {
        match self {
            Content::Text(t) => Cow::Borrowed(t),
            Content::Parts(parts) => {
                let mut texts = parts.iter().filter_map(|p| p.text.as_deref());
                match (texts.next(), texts.next()) {
                    (None, _) => Cow::Borrowed(""),
                    (Some(one), None) => Cow::Borrowed(one),
                    (Some(a), Some(b)) => {
                        let mut s = format!("{a}\n{b}");
                        for t in texts {
                            s.push('\n');
                            s.push_str(t);
                        }
                        Cow::Owned(s)
                    }
                }
            }
        }
    }
}

impl From<String> for Content {
    fn from(text: String) -> Self {
        Content::Text(text)
    }
}

impl From<&str> for Content {
    fn from(text: &str) -> Self {
        Content::Text(text.to_owned())
    }
}

/// One part of an array content.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ContentPart {
    /// `text`, `image_url`, `input_audio`, `file`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// The text of a `text` part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Every other field (`image_url`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

impl ContentPart {
    /// A `text` part.
    pub fn text(text: impl Into<String>) -> Self {
        ContentPart {
            kind: "text".into(),
            text: Some(text.into()),
            extra: Extra::new(),
        }
    }
}

/// A tool call in an assistant message, or a piece of one in a stream delta
/// (where `index` is set and the other fields may be partial).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ToolCall {
    /// Position of the call (stream deltas only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// Call id, e.g. `call_abc123`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Usually `"function"`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The function called.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionCall>,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The function part of a [`ToolCall`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FunctionCall {
    /// Function name (absent in later stream deltas).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Arguments as a JSON text (a fragment of it in stream deltas).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A whole (non-streaming) chat completion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatResponse {
    /// Completion id, e.g. `chatcmpl-...`.
    #[serde(default)]
    pub id: String,
    /// Always `chat.completion`.
    #[serde(default = "chat_completion")]
    pub object: String,
    /// Unix time in seconds.
    #[serde(default)]
    pub created: u64,
    /// The model that answered.
    #[serde(default)]
    pub model: String,
    /// The answers.
    #[serde(default)]
    pub choices: Vec<Choice>,
    /// Token counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Every other field (`system_fingerprint`, `service_tier`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

fn chat_completion() -> String {
    CHAT_COMPLETION.to_owned()
}

fn chat_completion_chunk() -> String {
    CHAT_COMPLETION_CHUNK.to_owned()
}

impl ChatResponse {
    /// A response with one assistant choice.
    pub fn single(
        id: impl Into<String>,
        created: u64,
        model: impl Into<String>,
        content: impl Into<String>,
        finish_reason: impl Into<String>,
        usage: Option<Usage>,
    ) -> Self {
        ChatResponse {
            id: id.into(),
            object: chat_completion(),
            created,
            model: model.into(),
            choices: vec![Choice {
                index: 0,
                message: Message::assistant(content),
                finish_reason: Some(finish_reason.into()),
                extra: Extra::new(),
            }],
            usage,
            extra: Extra::new(),
        }
    }
}

/// One answer of a [`ChatResponse`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Choice {
    /// Position among the choices.
    #[serde(default)]
    pub index: u32,
    /// The assistant's message.
    pub message: Message,
    /// `stop`, `length`, `tool_calls`, `content_filter`; written as `null`
    /// when `None`.
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// Every other field (`logprobs`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// One stream chunk (`data:` of an SSE event).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatChunk {
    /// Completion id, the same in every chunk of a stream.
    #[serde(default)]
    pub id: String,
    /// Always `chat.completion.chunk`.
    #[serde(default = "chat_completion_chunk")]
    pub object: String,
    /// Unix time in seconds.
    #[serde(default)]
    pub created: u64,
    /// The model that answers.
    #[serde(default)]
    pub model: String,
    /// The deltas (empty in the final usage chunk).
    #[serde(default)]
    pub choices: Vec<ChunkChoice>,
    /// Token counts (final usage chunk only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Extra,
}

impl ChatChunk {
    /// A chunk with one choice (index 0).
    pub fn new(
        id: impl Into<String>,
        created: u64,
        model: impl Into<String>,
        delta: Delta,
        finish_reason: Option<&str>,
    ) -> Self {
        ChatChunk {
            id: id.into(),
            object: chat_completion_chunk(),
            created,
            model: model.into(),
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason: finish_reason.map(str::to_owned),
                extra: Extra::new(),
            }],
            usage: None,
            extra: Extra::new(),
        }
    }

    /// The final usage chunk OpenAI sends for `stream_options.include_usage`:
    /// no choices, only `usage`.
    pub fn usage(
        id: impl Into<String>,
        created: u64,
        model: impl Into<String>,
        usage: Usage,
    ) -> Self {
        ChatChunk {
            id: id.into(),
            object: chat_completion_chunk(),
            created,
            model: model.into(),
            choices: Vec::new(),
            usage: Some(usage),
            extra: Extra::new(),
        }
    }

    /// The chunk as a stream [`Event`] (no event name, JSON data).
    pub fn to_event(&self) -> Result<Event, PluginError> {
        Ok(Event {
            event: None,
            data: crate::json::to_string(self)?,
        })
    }
}

/// One choice of a [`ChatChunk`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ChunkChoice {
    /// Position among the choices.
    #[serde(default)]
    pub index: u32,
    /// What this chunk adds.
    #[serde(default)]
    pub delta: Delta,
    /// Set in the choice's last chunk; written as `null` when `None`.
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// Every other field (`logprobs`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// The part of a message a chunk adds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Delta {
    /// Set in the first chunk (`assistant`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// More text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// More reasoning text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// Pieces of tool calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// Every other field (`refusal`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

impl Delta {
    /// A delta that only sets the role; OpenAI also sends `content: ""`
    /// with it, and so does this.
    pub fn role(role: impl Into<String>) -> Self {
        Delta {
            role: Some(role.into()),
            content: Some(String::new()),
            ..Default::default()
        }
    }

    /// A delta with more text.
    pub fn content(text: impl Into<String>) -> Self {
        Delta {
            content: Some(text.into()),
            ..Default::default()
        }
    }
}

/// Token counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Usage {
    /// Tokens in the prompt.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Tokens generated.
    #[serde(default)]
    pub completion_tokens: u64,
    /// Their sum.
    #[serde(default)]
    pub total_tokens: u64,
    /// Details of the prompt tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    /// Details of the generated tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Usage {
    /// Usage with the given counts and their total.
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
            ..Default::default()
        }
    }
}

/// `usage.prompt_tokens_details`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PromptTokensDetails {
    /// Prompt tokens served from the provider's cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<u64>,
    /// Every other field (`audio_tokens`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// `usage.completion_tokens_details`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CompletionTokensDetails {
    /// Tokens spent on reasoning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Extra,
}

deserialize_with_extra!(ChatRequest, "a chat completion request object",
required { messages: "messages" }
optional {
    model: "model", stream: "stream", stream_options: "stream_options", tools: "tools",
    tool_choice: "tool_choice", parallel_tool_calls: "parallel_tool_calls",
    temperature: "temperature", top_p: "top_p", max_tokens: "max_tokens",
    max_completion_tokens: "max_completion_tokens", stop: "stop", n: "n",
    presence_penalty: "presence_penalty", frequency_penalty: "frequency_penalty",
    seed: "seed", user: "user", response_format: "response_format",
    reasoning_effort: "reasoning_effort",
});
deserialize_with_extra!(StreamOptions, "a stream_options object",
    required {} optional { include_usage: "include_usage" });
deserialize_with_extra!(Tool, "a tool object",
    required { kind: "type" } optional { function: "function" });
deserialize_with_extra!(FunctionDef, "a function definition object",
    required { name: "name" }
    optional { description: "description", parameters: "parameters", strict: "strict" });
deserialize_with_extra!(Message, "a message object",
required { role: "role" }
optional {
    content: "content", name: "name", tool_calls: "tool_calls",
    tool_call_id: "tool_call_id", reasoning_content: "reasoning_content",
});
deserialize_text_or_list!(
    Content,
    Text,
    Parts,
    "a string or an array of content parts"
);
deserialize_with_extra!(ContentPart, "a content part object",
    required { kind: "type" } optional { text: "text" });
deserialize_with_extra!(ToolCall, "a tool call object",
    required {} optional { index: "index", id: "id", kind: "type", function: "function" });
deserialize_with_extra!(FunctionCall, "a function call object",
    required {} optional { name: "name", arguments: "arguments" });
deserialize_with_extra!(ChatResponse, "a chat completion object",
new {
    ChatResponse {
        id: String::new(), object: chat_completion(), created: 0, model: String::new(),
        choices: Vec::new(), usage: None, extra: Extra::new(),
    }
}
required {}
optional {
    id: "id", object: "object", created: "created", model: "model",
    choices: "choices", usage: "usage",
});
deserialize_with_extra!(Choice, "a choice object",
    required { message: "message" }
    optional { index: "index", finish_reason: "finish_reason" });
deserialize_with_extra!(ChatChunk, "a chat completion chunk object",
new {
    ChatChunk {
        id: String::new(), object: chat_completion_chunk(), created: 0, model: String::new(),
        choices: Vec::new(), usage: None, extra: Extra::new(),
    }
}
required {}
optional {
    id: "id", object: "object", created: "created", model: "model",
    choices: "choices", usage: "usage",
});
deserialize_with_extra!(ChunkChoice, "a chunk choice object",
    required {} optional { index: "index", delta: "delta", finish_reason: "finish_reason" });
deserialize_with_extra!(Delta, "a delta object",
required {}
optional {
    role: "role", content: "content", reasoning_content: "reasoning_content",
    tool_calls: "tool_calls",
});
deserialize_with_extra!(Usage, "a usage object",
required {}
optional {
    prompt_tokens: "prompt_tokens", completion_tokens: "completion_tokens",
    total_tokens: "total_tokens", prompt_tokens_details: "prompt_tokens_details",
    completion_tokens_details: "completion_tokens_details",
});
deserialize_with_extra!(PromptTokensDetails, "a prompt_tokens_details object",
    required {} optional { cached_tokens: "cached_tokens" });
deserialize_with_extra!(CompletionTokensDetails, "a completion_tokens_details object",
    required {} optional { reasoning_tokens: "reasoning_tokens" });

/// The current Unix time in seconds (for `created`); 0 if the clock is
/// unavailable.
pub fn unix_time() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip<T: Serialize + serde::de::DeserializeOwned>(v: &Value) -> (T, Value) {
        let parsed: T = serde_json::from_value(v.clone()).unwrap();
        let back = serde_json::to_value(&parsed).unwrap();
        (parsed, back)
    }

    /// Absent fields take the serde defaults; missing required fields and
    /// wrong types are errors that name the field or what was expected.
    #[test]
    fn parse_defaults_and_errors() {
        let r: ChatResponse = serde_json::from_str(r#"{"choices":[]}"#).unwrap();
        assert_eq!((r.object.as_str(), r.created), (CHAT_COMPLETION, 0));
        let c: ChatChunk = serde_json::from_str("{}").unwrap();
        assert_eq!(c.object, CHAT_COMPLETION_CHUNK);
        let u: Usage = serde_json::from_str(r#"{"prompt_tokens":3,"x":null}"#).unwrap();
        assert_eq!(
            (u.prompt_tokens, u.total_tokens, &u.extra["x"]),
            (3, 0, &Value::Null)
        );
        let m: Message = serde_json::from_str(r#"{"role":"user","content":null}"#).unwrap();
        assert_eq!(m.content, None);
        for (json, want) in [
            (r#"{"model":"m"}"#, "missing field `messages`"),
            (r#"{"messages":[{"content":"x"}]}"#, "missing field `role`"),
            (
                r#"{"messages":[{"role":"user","content":7}]}"#,
                "expected a string or an array of content parts",
            ),
            (
                r#"{"messages":[],"tools":[{"function":{}}]}"#,
                "missing field `name`",
            ),
            (
                r#"{"messages":[],"tools":[{"function":{"name":"f"}}]}"#,
                "missing field `type`",
            ),
            (r#"{"messages":[],"n":"two"}"#, "expected u32"),
            (r#"[]"#, "expected a chat completion request object"),
        ] {
            let e = serde_json::from_str::<ChatRequest>(json)
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{json}: {e}");
        }
        let e = serde_json::from_str::<ChatResponse>(r#"{"choices":[{"index":0}]}"#).unwrap_err();
        assert!(e.to_string().contains("missing field `message`"), "{e}");
    }

    #[test]
    fn request_round_trip_keeps_unknown_fields() {
        let req = json!({
            "model": "gpt-4o",
            "messages": [
                {"role": "system", "content": "be brief", "x-sys": 1},
                {"role": "user", "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": "data:x", "detail": "low"}},
                    {"type": "text", "text": "here"}
                ]},
                {"role": "assistant", "tool_calls": [
                    {"id": "call_1", "type": "function",
                     "function": {"name": "f", "arguments": "{\"a\":1}"}, "x-tc": true}
                ], "refusal": null},
                {"role": "tool", "tool_call_id": "call_1", "content": "42"}
            ],
            "stream": true,
            "stream_options": {"include_usage": true, "x-so": "y"},
            "tools": [{"type": "function", "function": {
                "name": "f", "description": "d", "parameters": {"type": "object"}, "x-fd": 2},
                "x-tool": 3}],
            "tool_choice": "auto",
            "temperature": 0.5,
            "max_tokens": 7,
            "stop": ["\n"],
            "metadata": {"k": "v"},
            "logit_bias": {"50256": -100},
            "x-vendor": {"deep": [1, 2, {"z": null}]}
        });
        let (parsed, back) = round_trip::<ChatRequest>(&req);
        assert_eq!(back, req);
        assert!(parsed.include_usage());
        assert_eq!(parsed.max_output_tokens(), Some(7));
        assert_eq!(parsed.messages[1].text(), "look\nhere");
        assert_eq!(parsed.messages[0].extra["x-sys"], 1);
        assert_eq!(parsed.extra["x-vendor"]["deep"][1], 2);
        assert!(parsed.extra.contains_key("metadata"));
        // Key order of the unknown fields is kept (preserve_order).
        let keys: Vec<_> = parsed.extra.keys().map(String::as_str).collect();
        assert_eq!(keys, ["metadata", "logit_bias", "x-vendor"]);
    }

    #[test]
    fn response_round_trip_keeps_unknown_fields() {
        let resp = json!({
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1700000000,
            "model": "gpt-4o",
            "system_fingerprint": "fp_1",
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": "hi",
                            "reasoning_content": "think", "refusal": null},
                "logprobs": null,
                "finish_reason": "stop"
            }],
            "usage": {
                "prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4,
                "prompt_tokens_details": {"cached_tokens": 2, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 1, "accepted_prediction_tokens": 0},
                "cost": 0.001
            }
        });
        let (parsed, back) = round_trip::<ChatResponse>(&resp);
        assert_eq!(back, resp);
        let usage = parsed.usage.unwrap();
        assert_eq!(usage.prompt_tokens_details.unwrap().cached_tokens, Some(2));
        assert_eq!(
            usage.completion_tokens_details.unwrap().reasoning_tokens,
            Some(1)
        );
        assert_eq!(usage.extra["cost"], 0.001);
    }

    #[test]
    fn chunk_round_trip_keeps_unknown_fields() {
        let chunk = json!({
            "id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "service_tier": "default",
            "choices": [{"index": 0, "delta": {"tool_calls": [
                {"index": 0, "function": {"arguments": "{\"a"}}]}, "finish_reason": null,
                "logprobs": null}]
        });
        let (_, back) = round_trip::<ChatChunk>(&chunk);
        assert_eq!(back, chunk);
        let usage_chunk = json!({
            "id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [],
            "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
        });
        let (_, back) = round_trip::<ChatChunk>(&usage_chunk);
        assert_eq!(back, usage_chunk);
    }

    #[test]
    fn builders_serialize_like_openai() {
        let c = ChatChunk::new("id", 5, "m", Delta::role("assistant"), None);
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            json!({"id": "id", "object": "chat.completion.chunk", "created": 5, "model": "m",
                   "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                "finish_reason": null}]})
        );
        let ev = ChatChunk::usage("id", 5, "m", Usage::new(2, 3))
            .to_event()
            .unwrap();
        assert_eq!(ev.event, None);
        assert_eq!(
            serde_json::from_str::<Value>(&ev.data).unwrap(),
            json!({"id": "id", "object": "chat.completion.chunk", "created": 5, "model": "m",
                   "choices": [],
                   "usage": {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}})
        );
        let r = ChatResponse::single("id", 5, "m", "hello", "stop", None);
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"id": "id", "object": "chat.completion", "created": 5, "model": "m",
                   "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"},
                                "finish_reason": "stop"}]})
        );
    }

    #[test]
    fn missing_messages_is_an_error() {
        assert!(serde_json::from_str::<ChatRequest>(r#"{"model":"m"}"#).is_err());
        let r: ChatRequest = serde_json::from_str(r#"{"messages":[]}"#).unwrap();
        assert_eq!(r.model, "");
    }
}
