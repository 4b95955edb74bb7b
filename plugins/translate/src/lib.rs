//! # translate: dialect translation for sluice plugins
//!
//! Everything the dialect plugins (`anthropic`, `gemini`) and the transforms
//! (`tool-result-normalizer`, `thinking-translator`) do, as plain functions
//! and structs that can be tested natively. The plugin crates are thin
//! wrappers around this library.
//!
//! The hub format between pipeline stages is OpenAI Chat Completions JSON
//! ([`sluice_sdk::hub`]). Fields the hub has no place for are carried in
//! *extension fields*; they are listed in [`ext`] and in `docs/dialects.md`.
//!
//! * [`anthropic`]: Anthropic Messages types; hub ↔ Anthropic requests,
//!   responses and streams; the provider side (`prepare`) and the ingress side.
//! * [`gemini`]: Gemini `generateContent` types; the same for Gemini.
//! * [`normalize`]: the tool-result normalizer (hub and Anthropic bodies).
//! * [`thinking`]: reading a client's reasoning intent and writing what a
//!   provider accepts.
//! * [`common`]: helpers shared by all of them (tool arguments, data URLs,
//!   token estimates, stop reasons).

pub mod anthropic;
pub mod common;
pub mod gemini;
pub mod normalize;
pub mod thinking;

/// Dialect names as they appear in `client-dialect`, `body-dialect` and the
/// `provider-dialect` metadata.
pub mod dialect {
    /// OpenAI Chat Completions, the hub.
    pub const OPENAI: &str = "openai";
    /// Anthropic Messages.
    pub const ANTHROPIC: &str = "anthropic";
    /// Gemini generateContent.
    pub const GEMINI: &str = "gemini";
}

/// The hub extension fields this library reads and writes (names as they
/// appear in the hub JSON). See `docs/dialects.md` for who writes and reads
/// each one.
pub mod ext {
    // Request, top level.
    /// Anthropic-shaped thinking request (`{"type":"enabled","budget_tokens":N}`,
    /// `{"type":"adaptive"}`, `{"type":"disabled"}`).
    pub const THINKING: &str = "thinking";
    /// Gemini-shaped `thinkingConfig` (`thinkingBudget`, `thinkingLevel`,
    /// `includeThoughts`).
    pub const THINKING_CONFIG: &str = "thinking_config";
    /// Top-k sampling (Anthropic `top_k`, Gemini `topK`).
    pub const TOP_K: &str = "top_k";
    /// Anthropic-only request fields, merged into the top level of an
    /// Anthropic request (e.g. `service_tier`, `container`, `mcp_servers`).
    pub const ANTHROPIC: &str = "anthropic";
    /// Gemini-only request fields, merged into a Gemini request
    /// (`safetySettings`, `cachedContent`, non-function `tools`, extra
    /// `generationConfig` and `toolConfig` keys, ...).
    pub const GEMINI: &str = "gemini";

    // Messages.
    /// Signature of the Anthropic thinking block behind `reasoning_content`
    /// (message and stream delta).
    pub const REASONING_SIGNATURE: &str = "reasoning_signature";
    /// Anthropic redacted thinking: an array of `data` strings on a message,
    /// one `data` string on a stream delta.
    pub const REDACTED_THINKING: &str = "redacted_thinking";
    /// Anthropic thinking and redacted_thinking blocks, verbatim and in order,
    /// when a message has more than one of them (takes precedence over
    /// `reasoning_content` + `reasoning_signature` + `redacted_thinking`).
    pub const THINKING_BLOCKS: &str = "thinking_blocks";
    /// `true` on a `tool` message whose result is an error (Anthropic
    /// `is_error`).
    pub const IS_ERROR: &str = "is_error";
    /// Google's extension on messages and tool calls:
    /// `{"google": {"thought_signature": "..."}}` (Gemini thought signatures).
    pub const EXTRA_CONTENT: &str = "extra_content";

    // Responses.
    /// On a choice: the stop sequence that ended the answer (Anthropic
    /// `stop_sequence`).
    pub const STOP_SEQUENCE: &str = "stop_sequence";
    /// In `usage`: `true` when the counts are estimates (the upstream sent none).
    pub const ESTIMATED: &str = "estimated";
    /// In `usage.prompt_tokens_details`: tokens written to the prompt cache
    /// (Anthropic `cache_creation_input_tokens`).
    pub const CACHE_CREATION_TOKENS: &str = "cache_creation_tokens";

    /// Content part type for a Gemini `fileData` that is not an image:
    /// `{"type":"file_data","file_data":{"mimeType":..,"fileUri":..}}`.
    pub const FILE_DATA_PART: &str = "file_data";

    /// Every extension a plain OpenAI-compatible upstream does not accept;
    /// removed from request bodies headed for an `openai` provider.
    pub const REQUEST_TOP_LEVEL: &[&str] = &[THINKING, THINKING_CONFIG, TOP_K, ANTHROPIC, GEMINI];
    /// Message-level extensions removed for `openai` providers.
    pub const MESSAGE_LEVEL: &[&str] = &[
        REASONING_SIGNATURE,
        REDACTED_THINKING,
        THINKING_BLOCKS,
        IS_ERROR,
        EXTRA_CONTENT,
    ];
}

pub use common::Ctx;
