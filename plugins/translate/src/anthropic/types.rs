//! Serde types for the Anthropic Messages API (`POST /v1/messages`).
//!
//! Content blocks are one flat struct ([`Block`]) with a `type` and optional
//! fields rather than an enum: new block types and new fields survive a
//! parse/serialize round trip in `extra`.

use serde::Serialize;
use serde_json::{Map, Value};
use sluice_sdk::json::RawJson;
use sluice_sdk::{deserialize_text_or_list, deserialize_with_extra};

/// Fields a type does not model, kept as they came.
pub type Extra = Map<String, Value>;

/// A Messages request.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MessagesRequest {
    /// The model.
    #[serde(default)]
    pub model: String,
    /// The conversation.
    #[serde(default)]
    pub messages: Vec<Message>,
    /// Output limit (required by the API for `/messages`, absent for
    /// `/messages/count_tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// System prompt: a string or text blocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<Content>,
    /// `{"user_id": ...}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// Custom stop sequences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
    /// Stream the answer as server-sent events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Sampling temperature (0 to 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Top-k sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u64>,
    /// Tools: custom tools (`name`, `description`, `input_schema`) and
    /// server tools (with a versioned `type`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    /// `auto`, `any`, `tool` (with `name`) or `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// Extended thinking: `{"type":"enabled","budget_tokens":N}`,
    /// `{"type":"adaptive"}` or `{"type":"disabled"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<Value>,
    /// Every other field (`service_tier`, `container`, `mcp_servers`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// One message of a conversation.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Message {
    /// `user` or `assistant`.
    pub role: String,
    /// A string or content blocks.
    pub content: Content,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Message content (or the `system` prompt): a string or blocks.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// Content blocks.
    Blocks(Vec<Block>),
}

// The request types are parsed on every translated request: one pass each,
// without serde's `flatten` and `untagged` buffering (see
// `sluice_sdk::deserialize_with_extra`).
deserialize_with_extra!(MessagesRequest, "an Anthropic Messages request object",
required {}
optional {
    model: "model", messages: "messages", max_tokens: "max_tokens", system: "system",
    metadata: "metadata", stop_sequences: "stop_sequences", stream: "stream",
    temperature: "temperature", top_p: "top_p", top_k: "top_k", tools: "tools",
    tool_choice: "tool_choice", thinking: "thinking",
});
deserialize_with_extra!(Message, "a message object",
    required { role: "role", content: "content" }
    optional {});
deserialize_with_extra!(Block, "a content block object",
required { kind: "type" }
optional {
    text: "text", source: "source", id: "id", name: "name", input: "input",
    tool_use_id: "tool_use_id", content: "content", is_error: "is_error",
    thinking: "thinking", signature: "signature", data: "data",
});
deserialize_with_extra!(Tool, "a tool object",
    required {}
    optional { kind: "type", name: "name", description: "description", input_schema: "input_schema" });
deserialize_with_extra!(ToolChoice, "a tool_choice object",
    required { kind: "type" }
    optional { name: "name", disable_parallel_tool_use: "disable_parallel_tool_use" });

deserialize_text_or_list!(
    Content,
    Text,
    Blocks,
    "a string or an array of content blocks"
);

impl Default for Content {
    fn default() -> Self {
        Content::Text(String::new())
    }
}

impl Content {
    /// The content as blocks (a non-empty string becomes one text block).
    pub fn into_blocks(self) -> Vec<Block> {
        match self {
            Content::Text(t) if t.is_empty() => Vec::new(),
            Content::Text(t) => vec![Block::text(t)],
            Content::Blocks(b) => b,
        }
    }
}

/// A content block of any type: `text`, `image`, `document`, `tool_use`,
/// `tool_result`, `thinking`, `redacted_thinking`, server tool blocks, ...
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Block {
    /// The block type.
    #[serde(rename = "type")]
    pub kind: String,
    /// `text`: the text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// `image`, `document`: `{"type":"base64","media_type","data"}`,
    /// `{"type":"url","url"}`, `{"type":"file","file_id"}`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Value>,
    /// `tool_use`: the call id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `tool_use`: the tool name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `tool_use`: the arguments object, passed on as its text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<RawJson>,
    /// `tool_result`: the call answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_use_id: Option<String>,
    /// `tool_result`: a string or blocks (may be missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Value>,
    /// `tool_result`: whether the result is an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_error: Option<bool>,
    /// `thinking`: the reasoning text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<String>,
    /// `thinking`: the signature to send back unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// `redacted_thinking`: the encrypted reasoning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// Every other field (`cache_control`, `citations`, `title`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

impl Block {
    /// A `text` block.
    pub fn text(text: impl Into<String>) -> Self {
        Block {
            kind: "text".into(),
            text: Some(text.into()),
            ..Default::default()
        }
    }
}

/// A tool definition.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Tool {
    /// Absent or `custom` for client tools; a versioned type for server
    /// tools (`web_search_20250305`, `bash_20250124`, ...).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The tool's name.
    #[serde(default)]
    pub name: String,
    /// What the tool does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the input (client tools), passed on as its text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<RawJson>,
    /// Every other field (`cache_control`, server tool settings, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// `tool_choice`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ToolChoice {
    /// `auto`, `any`, `tool` or `none`.
    #[serde(rename = "type")]
    pub kind: String,
    /// For `tool`: the tool to use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// At most one tool call per answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_parallel_tool_use: Option<bool>,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A whole Messages response.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MessagesResponse {
    /// `msg_...`.
    #[serde(default)]
    pub id: String,
    /// Always `message`.
    #[serde(rename = "type", default = "message_type")]
    pub kind: String,
    /// Always `assistant`.
    #[serde(default = "assistant")]
    pub role: String,
    /// The answer's blocks.
    #[serde(default)]
    pub content: Vec<Block>,
    /// The model that answered.
    #[serde(default)]
    pub model: String,
    /// `end_turn`, `max_tokens`, `stop_sequence`, `tool_use`, `pause_turn`,
    /// `refusal`, ...; null in `message_start`.
    #[serde(default)]
    pub stop_reason: Option<String>,
    /// The stop sequence that matched, if any.
    #[serde(default)]
    pub stop_sequence: Option<String>,
    /// Token counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Every other field (`container`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

deserialize_with_extra!(MessagesResponse, "an Anthropic message object",
new { MessagesResponse { kind: message_type(), role: assistant(), ..Default::default() } }
required {}
optional {
    id: "id", kind: "type", role: "role", content: "content", model: "model",
    stop_reason: "stop_reason", stop_sequence: "stop_sequence", usage: "usage",
});
deserialize_with_extra!(Usage, "an Anthropic usage object",
required {}
optional {
    input_tokens: "input_tokens", output_tokens: "output_tokens",
    cache_creation_input_tokens: "cache_creation_input_tokens",
    cache_read_input_tokens: "cache_read_input_tokens",
});
deserialize_with_extra!(StreamEvent, "an Anthropic stream event object",
required { kind: "type" }
optional {
    message: "message", index: "index", content_block: "content_block", delta: "delta",
    usage: "usage", error: "error",
});
deserialize_with_extra!(StreamDelta, "an Anthropic delta object",
required {}
optional {
    kind: "type", text: "text", partial_json: "partial_json", thinking: "thinking",
    signature: "signature", stop_reason: "stop_reason", stop_sequence: "stop_sequence",
});

fn message_type() -> String {
    "message".into()
}

fn assistant() -> String {
    "assistant".into()
}

/// Token counts. `input_tokens` excludes cached tokens (read or written).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Usage {
    /// Uncached prompt tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    /// Generated tokens (thinking included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    /// Prompt tokens written to the cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_input_tokens: Option<u64>,
    /// Prompt tokens read from the cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
    /// Every other field (`server_tool_use`, `service_tier`, `estimated`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// One stream event (`data:` of an SSE event; its `type` repeats the SSE
/// event name).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StreamEvent {
    /// `message_start`, `content_block_start`, `content_block_delta`,
    /// `content_block_stop`, `message_delta`, `message_stop`, `ping`, `error`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `message_start`: the message so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<MessagesResponse>,
    /// Block events: the block's position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// `content_block_start`: the block, empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_block: Option<Block>,
    /// `content_block_delta` and `message_delta`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<StreamDelta>,
    /// `message_delta`: cumulative token counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// `error`: `{"type": "overloaded_error", "message": "..."}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The `delta` of `content_block_delta` (`text_delta`, `input_json_delta`,
/// `thinking_delta`, `signature_delta`, `citations_delta`) or of
/// `message_delta` (`stop_reason`, `stop_sequence`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StreamDelta {
    /// The delta type (block deltas only).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `text_delta`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// `input_json_delta`: a fragment of the tool input JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial_json: Option<String>,
    /// `thinking_delta`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<String>,
    /// `signature_delta`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// `message_delta`: why the answer ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
    /// `message_delta`: the matched stop sequence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_sequence: Option<String>,
    /// Every other field (`citation`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}
