//! Serde types for the Gemini API `generateContent` /
//! `streamGenerateContent` (v1beta).
//!
//! The API's JSON is camelCase; snake_case spellings (which the API also
//! accepts) are read too. Serialization is camelCase. Unknown fields are kept
//! in `extra`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sluice_sdk::deserialize_with_extra;

/// Fields a type does not model, kept as they came.
pub type Extra = Map<String, Value>;

/// A `generateContent` request body (the model is in the URL).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentRequest {
    /// The conversation.
    #[serde(default)]
    pub contents: Vec<Content>,
    /// The system prompt.
    #[serde(
        default,
        alias = "system_instruction",
        skip_serializing_if = "Option::is_none"
    )]
    pub system_instruction: Option<Content>,
    /// Tools: `functionDeclarations`, `googleSearch`, `codeExecution`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    /// `{"functionCallingConfig": {"mode": "AUTO"|"ANY"|"NONE"|"VALIDATED",
    /// "allowedFunctionNames": [...]}}`.
    #[serde(
        default,
        alias = "tool_config",
        skip_serializing_if = "Option::is_none"
    )]
    pub tool_config: Option<Value>,
    /// Sampling, limits, output format, thinking.
    #[serde(
        default,
        alias = "generation_config",
        skip_serializing_if = "Option::is_none"
    )]
    pub generation_config: Option<GenerationConfig>,
    /// Every other field (`safetySettings`, `cachedContent`, `labels`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// A turn of the conversation (or the system instruction).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Content {
    /// `user` or `model` (absent for the system instruction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The parts.
    #[serde(default)]
    pub parts: Vec<Part>,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One part: text (possibly a thought), inline data, a file reference, a
/// function call or a function response.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Part {
    /// Text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Whether the text is a thought summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thought: Option<bool>,
    /// Opaque signature of the model's reasoning, to send back unchanged.
    #[serde(
        default,
        alias = "thought_signature",
        skip_serializing_if = "Option::is_none"
    )]
    pub thought_signature: Option<String>,
    /// Base64 data with its media type.
    #[serde(
        default,
        alias = "inline_data",
        skip_serializing_if = "Option::is_none"
    )]
    pub inline_data: Option<Blob>,
    /// A file by URI.
    #[serde(default, alias = "file_data", skip_serializing_if = "Option::is_none")]
    pub file_data: Option<FileData>,
    /// A call the model makes.
    #[serde(
        default,
        alias = "function_call",
        skip_serializing_if = "Option::is_none"
    )]
    pub function_call: Option<FunctionCall>,
    /// The result of a call.
    #[serde(
        default,
        alias = "function_response",
        skip_serializing_if = "Option::is_none"
    )]
    pub function_response: Option<FunctionResponse>,
    /// Every other field (`executableCode`, `codeExecutionResult`,
    /// `videoMetadata`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

impl Part {
    /// A text part.
    pub fn text(text: impl Into<String>) -> Self {
        Part {
            text: Some(text.into()),
            ..Default::default()
        }
    }
}

/// Inline data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Blob {
    /// Media type, e.g. `image/png`.
    #[serde(default, alias = "mime_type")]
    pub mime_type: String,
    /// Base64 data.
    #[serde(default)]
    pub data: String,
}

/// A file by URI.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileData {
    /// Media type.
    #[serde(default, alias = "mime_type", skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// The URI.
    #[serde(default, alias = "file_uri")]
    pub file_uri: String,
}

/// A function call.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionCall {
    /// Call id (rarely set by the Gemini API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The function.
    #[serde(default)]
    pub name: String,
    /// The arguments object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Value>,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A function's result.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionResponse {
    /// The id of the call answered, when the call had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The function.
    #[serde(default)]
    pub name: String,
    /// The result object.
    #[serde(default)]
    pub response: Value,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A tool entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tool {
    /// Functions the model may call.
    #[serde(
        default,
        alias = "function_declarations",
        skip_serializing_if = "Option::is_none"
    )]
    pub function_declarations: Option<Vec<FunctionDeclaration>>,
    /// Every other field (`googleSearch`, `codeExecution`, `urlContext`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// A function the model may call.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionDeclaration {
    /// The name.
    #[serde(default)]
    pub name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// OpenAPI-subset schema of the arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    /// JSON Schema of the arguments (alternative to `parameters`).
    #[serde(
        default,
        alias = "parameters_json_schema",
        skip_serializing_if = "Option::is_none"
    )]
    pub parameters_json_schema: Option<Value>,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `generationConfig`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerationConfig {
    /// Sampling temperature (0 to 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default, alias = "top_p", skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Top-k sampling.
    #[serde(default, alias = "top_k", skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u64>,
    /// Number of candidates.
    #[serde(
        default,
        alias = "candidate_count",
        skip_serializing_if = "Option::is_none"
    )]
    pub candidate_count: Option<u32>,
    /// Output limit.
    #[serde(
        default,
        alias = "max_output_tokens",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_output_tokens: Option<u64>,
    /// Stop sequences.
    #[serde(
        default,
        alias = "stop_sequences",
        skip_serializing_if = "Option::is_none"
    )]
    pub stop_sequences: Option<Vec<String>>,
    /// Presence penalty.
    #[serde(
        default,
        alias = "presence_penalty",
        skip_serializing_if = "Option::is_none"
    )]
    pub presence_penalty: Option<f64>,
    /// Frequency penalty.
    #[serde(
        default,
        alias = "frequency_penalty",
        skip_serializing_if = "Option::is_none"
    )]
    pub frequency_penalty: Option<f64>,
    /// Seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// `text/plain`, `application/json`, `text/x.enum`.
    #[serde(
        default,
        alias = "response_mime_type",
        skip_serializing_if = "Option::is_none"
    )]
    pub response_mime_type: Option<String>,
    /// OpenAPI-subset schema of the output.
    #[serde(
        default,
        alias = "response_schema",
        skip_serializing_if = "Option::is_none"
    )]
    pub response_schema: Option<Value>,
    /// JSON Schema of the output.
    #[serde(
        default,
        alias = "response_json_schema",
        skip_serializing_if = "Option::is_none"
    )]
    pub response_json_schema: Option<Value>,
    /// `{"thinkingBudget", "thinkingLevel", "includeThoughts"}`.
    #[serde(
        default,
        alias = "thinking_config",
        skip_serializing_if = "Option::is_none"
    )]
    pub thinking_config: Option<Value>,
    /// Every other field (`responseModalities`, `speechConfig`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// A `generateContent` response, or one chunk of a stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentResponse {
    /// The answers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<Candidate>,
    /// Why the prompt was blocked, if it was.
    #[serde(
        default,
        alias = "prompt_feedback",
        skip_serializing_if = "Option::is_none"
    )]
    pub prompt_feedback: Option<Value>,
    /// Token counts.
    #[serde(
        default,
        alias = "usage_metadata",
        skip_serializing_if = "Option::is_none"
    )]
    pub usage_metadata: Option<UsageMetadata>,
    /// The model that answered.
    #[serde(
        default,
        alias = "model_version",
        skip_serializing_if = "Option::is_none"
    )]
    pub model_version: Option<String>,
    /// Response id.
    #[serde(
        default,
        alias = "response_id",
        skip_serializing_if = "Option::is_none"
    )]
    pub response_id: Option<String>,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    /// The answer's content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    /// `STOP`, `MAX_TOKENS`, `SAFETY`, `RECITATION`, `MALFORMED_FUNCTION_CALL`, ...
    #[serde(
        default,
        alias = "finish_reason",
        skip_serializing_if = "Option::is_none"
    )]
    pub finish_reason: Option<String>,
    /// Position among the candidates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// Every other field (`safetyRatings`, `citationMetadata`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// `usageMetadata`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageMetadata {
    /// Prompt tokens (cached ones included).
    #[serde(
        default,
        alias = "prompt_token_count",
        skip_serializing_if = "Option::is_none"
    )]
    pub prompt_token_count: Option<u64>,
    /// Answer tokens (thoughts excluded).
    #[serde(
        default,
        alias = "candidates_token_count",
        skip_serializing_if = "Option::is_none"
    )]
    pub candidates_token_count: Option<u64>,
    /// Total.
    #[serde(
        default,
        alias = "total_token_count",
        skip_serializing_if = "Option::is_none"
    )]
    pub total_token_count: Option<u64>,
    /// Prompt tokens served from the cache.
    #[serde(
        default,
        alias = "cached_content_token_count",
        skip_serializing_if = "Option::is_none"
    )]
    pub cached_content_token_count: Option<u64>,
    /// Reasoning tokens.
    #[serde(
        default,
        alias = "thoughts_token_count",
        skip_serializing_if = "Option::is_none"
    )]
    pub thoughts_token_count: Option<u64>,
    /// Tokens of tool-use prompts (e.g. search results).
    #[serde(
        default,
        alias = "tool_use_prompt_token_count",
        skip_serializing_if = "Option::is_none"
    )]
    pub tool_use_prompt_token_count: Option<u64>,
    /// Every other field (`promptTokensDetails`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

// One-pass parsing (see `sluice_sdk::deserialize_with_extra`); each field is
// read under its camelCase name and the snake_case alias Gemini also accepts.
deserialize_with_extra!(GenerateContentRequest, "a Gemini generateContent request object",
required {  }
optional {
    contents: "contents",
    system_instruction: "systemInstruction" | "system_instruction",
    tools: "tools",
    tool_config: "toolConfig" | "tool_config",
    generation_config: "generationConfig" | "generation_config",
});
deserialize_with_extra!(Content, "a Gemini content object",
required {  }
optional {
    role: "role",
    parts: "parts",
});
deserialize_with_extra!(Part, "a Gemini part object",
required {  }
optional {
    text: "text",
    thought: "thought",
    thought_signature: "thoughtSignature" | "thought_signature",
    inline_data: "inlineData" | "inline_data",
    file_data: "fileData" | "file_data",
    function_call: "functionCall" | "function_call",
    function_response: "functionResponse" | "function_response",
});
deserialize_with_extra!(FunctionCall, "a Gemini functionCall object",
required {  }
optional {
    id: "id",
    name: "name",
    args: "args",
});
deserialize_with_extra!(FunctionResponse, "a Gemini functionResponse object",
required {  }
optional {
    id: "id",
    name: "name",
    response: "response",
});
deserialize_with_extra!(Tool, "a Gemini tool object",
required {  }
optional {
    function_declarations: "functionDeclarations" | "function_declarations",
});
deserialize_with_extra!(FunctionDeclaration, "a Gemini function declaration object",
required {  }
optional {
    name: "name",
    description: "description",
    parameters: "parameters",
    parameters_json_schema: "parametersJsonSchema" | "parameters_json_schema",
});
deserialize_with_extra!(GenerationConfig, "a Gemini generationConfig object",
required {  }
optional {
    temperature: "temperature",
    top_p: "topP" | "top_p",
    top_k: "topK" | "top_k",
    candidate_count: "candidateCount" | "candidate_count",
    max_output_tokens: "maxOutputTokens" | "max_output_tokens",
    stop_sequences: "stopSequences" | "stop_sequences",
    presence_penalty: "presencePenalty" | "presence_penalty",
    frequency_penalty: "frequencyPenalty" | "frequency_penalty",
    seed: "seed",
    response_mime_type: "responseMimeType" | "response_mime_type",
    response_schema: "responseSchema" | "response_schema",
    response_json_schema: "responseJsonSchema" | "response_json_schema",
    thinking_config: "thinkingConfig" | "thinking_config",
});
deserialize_with_extra!(GenerateContentResponse, "a Gemini generateContent response object",
required {  }
optional {
    candidates: "candidates",
    prompt_feedback: "promptFeedback" | "prompt_feedback",
    usage_metadata: "usageMetadata" | "usage_metadata",
    model_version: "modelVersion" | "model_version",
    response_id: "responseId" | "response_id",
});
deserialize_with_extra!(Candidate, "a Gemini candidate object",
required {  }
optional {
    content: "content",
    finish_reason: "finishReason" | "finish_reason",
    index: "index",
});
deserialize_with_extra!(UsageMetadata, "a Gemini usageMetadata object",
required {  }
optional {
    prompt_token_count: "promptTokenCount" | "prompt_token_count",
    candidates_token_count: "candidatesTokenCount" | "candidates_token_count",
    total_token_count: "totalTokenCount" | "total_token_count",
    cached_content_token_count: "cachedContentTokenCount" | "cached_content_token_count",
    thoughts_token_count: "thoughtsTokenCount" | "thoughts_token_count",
    tool_use_prompt_token_count: "toolUsePromptTokenCount" | "tool_use_prompt_token_count",
});
