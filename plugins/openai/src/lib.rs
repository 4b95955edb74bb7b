//! `openai`: a provider for any OpenAI-compatible upstream (OpenAI, vLLM,
//! Ollama's `/v1`, DeepSeek, Groq, OpenRouter, Azure OpenAI, ...).
//!
//! The hub format is the OpenAI Chat Completions API, so this is the fast
//! path: the request body is forwarded with only its top-level `model`
//! replaced (no parse of the messages), the response body is returned as it
//! came, and stream events pass through (`[DONE]` is dropped because the
//! host sends it itself).
//!
//! The provider's `base-url` includes the version prefix, e.g.
//! `https://api.openai.com/v1` or `http://localhost:11434/v1`; the plugin
//! appends `/chat/completions`.
//!
//! Config (all optional):
//! * `chat-path`: the path appended to `base-url` (default
//!   `/chat/completions`); must start with `/`.
//! * `auth-header`: `authorization` (default, `authorization: Bearer KEY`) or
//!   `api-key` (Azure-style `api-key: KEY`).

use serde::Deserialize;
use sluice_sdk::config;
use sluice_sdk::openai::{self, AuthHeader, CHAT_COMPLETIONS_PATH};
use sluice_sdk::prelude::*;

/// The plugin's config.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Config {
    /// Path appended to `base-url`.
    chat_path: Option<String>,
    /// Where the API key goes.
    auth_header: Option<AuthHeader>,
}

impl Config {
    fn check(self) -> Result<Self, String> {
        if let Some(path) = &self.chat_path
            && !path.starts_with('/')
        {
            return Err(format!(
                "`chat-path` must start with '/', like \"{CHAT_COMPLETIONS_PATH}\"; got {path:?}"
            ));
        }
        Ok(self)
    }
}

fn validate(config: &str) -> Result<Config, String> {
    config::parse::<Config>(config)
        .and_then(Config::check)
        .map_err(|e| {
            format!(
                "openai: {e}; accepted keys: `chat-path` (e.g. \"{CHAT_COMPLETIONS_PATH}\") and \
                 `auth-header` (\"authorization\" or \"api-key\")"
            )
        })
}

/// The plugin.
struct OpenAi;

impl Plugin for OpenAi {
    fn describe() -> PluginInfo {
        // An OpenAI-compatible upstream answers and streams in the hub
        // format: the host passes its whole answers on without calling
        // `map_response`, and its stream events without the mapper below
        // (doing itself what the mapper does: dropping `[DONE]`).
        sluice_sdk::pass_through(Hooks::RESPONSE | Hooks::STREAM);
        // It forwards the body with the model and auth rewritten: no
        // metadata or client header is needed.
        sluice_sdk::reads_metadata(&[]);
        sluice_sdk::reads_headers(&[]);
        PluginInfo {
            name: "openai".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PluginKind::Provider,
            description: "Any OpenAI-compatible upstream (OpenAI, vLLM, Ollama, DeepSeek, \
                          Groq, OpenRouter, ...)"
                .into(),
            dialect: "openai".into(),
            stream_format: StreamFormat::Sse,
        }
    }

    fn validate_config(config: String) -> Result<(), String> {
        validate(&config).map(|_| ())
    }
}

impl Adapter for OpenAi {
    type StreamMapper = PassThrough;

    fn prepare(req: Request, target: Target) -> Result<Prepared, PluginError> {
        let raw = config::raw();
        // The common case (no config) skips parsing.
        let config = if raw.trim() == "{}" {
            Config::default()
        } else {
            validate(&raw)
                .map_err(|msg| sluice_sdk::error::new(500, "plugin_misconfigured", msg))?
        };
        let path = config.chat_path.as_deref().unwrap_or(CHAT_COMPLETIONS_PATH);
        let auth = config.auth_header.unwrap_or_default();
        openai::chat_request(&req, &target, path, auth).map(Prepared::Forward)
    }

    fn map_response(_req: Request, response: UpstreamResponse) -> Result<Vec<u8>, PluginError> {
        Ok(response.body)
    }
}

/// Passes upstream events through; see
/// [`sluice_sdk::openai::pass_through_event`]. A host that honours the
/// `stream` pass-through declared in `describe` does the same itself and
/// never opens it.
struct PassThrough;

impl StreamMapper for PassThrough {
    fn new(_req: Request) -> Self {
        PassThrough
    }

    fn map_event(&self, ev: Event) -> Result<Vec<Event>, PluginError> {
        Ok(openai::pass_through_event(ev))
    }

    fn finish(&self) -> Result<Vec<Event>, PluginError> {
        Ok(Vec::new())
    }
}

sluice_sdk::export_provider!(OpenAi);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_validation() {
        assert!(validate("{}").is_ok());
        let c = validate(r#"{"chat-path": "/v1/chat", "auth-header": "api-key"}"#).unwrap();
        assert_eq!(c.chat_path.as_deref(), Some("/v1/chat"));
        assert_eq!(c.auth_header, Some(AuthHeader::ApiKey));
        let c = validate(r#"{"auth-header": "authorization"}"#).unwrap();
        assert_eq!(c.auth_header, Some(AuthHeader::Authorization));

        let e = validate(r#"{"chat-path": "chat"}"#).unwrap_err();
        assert!(e.contains("must start with '/'"), "{e}");
        let e = validate(r#"{"auth-header": "x-api-key"}"#).unwrap_err();
        assert!(e.contains("unknown variant `x-api-key`"), "{e}");
        let e = validate(r#"{"base-url": "http://x"}"#).unwrap_err();
        assert!(e.contains("unknown field `base-url`"), "{e}");
        assert!(validate("[]").is_err());
    }
}
