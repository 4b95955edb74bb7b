//! `tool-result-normalizer`: repairs tool calls and tool results in hub and
//! Anthropic request bodies (missing content, duplicates, orphans, missing
//! results, placement). See [`translate::normalize`] for every repair.
//! Bodies of other dialects, responses and streams pass unchanged.
//!
//! Config: `{}` only.

use sluice_sdk::config;
use sluice_sdk::prelude::*;

/// The plugin.
struct Normalizer;

impl Plugin for Normalizer {
    fn describe() -> PluginInfo {
        // Only requests carry tool results: answers and stream events go on
        // without a call into this plugin.
        sluice_sdk::pass_through(Hooks::RESPONSE | Hooks::STREAM);
        // Whether hub extensions may stay depends on the provider's dialect.
        sluice_sdk::reads_metadata(&["provider-dialect"]);
        sluice_sdk::reads_headers(&[]);
        PluginInfo {
            name: "tool-result-normalizer".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PluginKind::Transform,
            description:
                "Repairs tool calls and tool results so every call has one result, right after it"
                    .into(),
            dialect: String::new(),
            stream_format: StreamFormat::Sse,
        }
    }

    fn validate_config(config: String) -> Result<(), String> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct NoConfig {}
        config::parse::<NoConfig>(&config).map(|_| ()).map_err(|e| {
            format!("tool-result-normalizer: {e}; the plugin takes no settings (use `{{}}`)")
        })
    }
}

impl Transformer for Normalizer {
    type StreamTransformer = PassThrough;

    fn transform_request(req: Request) -> Result<Vec<u8>, PluginError> {
        translate::normalize::transform_request(&req)
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

sluice_sdk::export_transform!(Normalizer);
