//! `thinking-translator`: turns the client's reasoning intent (the
//! `model(suffix)`, OpenAI `reasoning_effort`, Anthropic `thinking`, Gemini
//! `thinkingConfig`) into what the target provider accepts. See
//! [`translate::thinking`]. Responses and streams pass unchanged.
//!
//! Config (all optional): `{"levels": {"minimal": 512, "low": 1024,
//! "medium": 8192, "high": 24576}, "answer-tokens": 4096}`.

use sluice_sdk::config;
use sluice_sdk::error;
use sluice_sdk::prelude::*;
use translate::thinking::{self, Config};

/// The plugin.
struct ThinkingTranslator;

fn plugin_config() -> Result<Config, PluginError> {
    let raw = config::raw();
    if raw.trim() == "{}" {
        return Ok(Config::default());
    }
    Config::parse(&raw).map_err(|m| error::new(500, "plugin_misconfigured", m))
}

impl Plugin for ThinkingTranslator {
    fn describe() -> PluginInfo {
        // Only requests carry reasoning settings: answers and stream events go
        // on without a call into this plugin.
        sluice_sdk::pass_through(Hooks::RESPONSE | Hooks::STREAM);
        // The target dialect, and a `model(suffix)` budget or effort.
        sluice_sdk::reads_metadata(&["provider-dialect", "model-suffix"]);
        sluice_sdk::reads_headers(&[]);
        PluginInfo {
            name: "thinking-translator".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PluginKind::Transform,
            description:
                "Translates reasoning/thinking settings into what the target provider accepts"
                    .into(),
            dialect: String::new(),
            stream_format: StreamFormat::Sse,
        }
    }

    fn validate_config(config: String) -> Result<(), String> {
        Config::parse(&config).map(|_| ())
    }
}

impl Transformer for ThinkingTranslator {
    type StreamTransformer = PassThrough;

    fn transform_request(req: Request) -> Result<Vec<u8>, PluginError> {
        thinking::transform_request(&req, &plugin_config()?)
    }

    fn transform_response(_req: Request, body: Vec<u8>) -> Result<Vec<u8>, PluginError> {
        Ok(body)
    }
}

/// Stream events pass unchanged.
struct PassThrough;

impl StreamTransformer for PassThrough {
    fn new(_req: Request) -> Self {
        PassThrough
    }

    fn transform_event(&self, ev: Event) -> Result<Vec<Event>, PluginError> {
        Ok(vec![ev])
    }

    fn finish(&self) -> Result<Vec<Event>, PluginError> {
        Ok(Vec::new())
    }
}

sluice_sdk::export_transform!(ThinkingTranslator);
