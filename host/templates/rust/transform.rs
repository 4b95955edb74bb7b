//! `@NAME@`: a sluice transform plugin (world `transform`), written with the
//! sluice Rust SDK.
//!
//! It passes requests, responses and stream events through unchanged and
//! logs each request. Rewrite the hub (OpenAI chat) JSON in
//! `transform_request` / `transform_response` / `transform_event` to make it
//! do something.
//!
//! Config (`plugins.settings.@NAME@.config`): `{}`.

use serde::Deserialize;
use sluice_sdk::prelude::*;
use sluice_sdk::{config, log};

/// The plugin's config (no keys yet).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {}

/// The name the gateway config refers to the plugin by.
const NAME: &str = "@NAME@";
/// One line for operators, shown by `sluice plugin inspect` and the management API.
const DESCRIPTION: &str = "@DESCRIPTION@";

struct @TYPE@;

impl Plugin for @TYPE@ {
    fn describe() -> PluginInfo {
        // A transform that leaves answers or streams alone can say so, and
        // the host skips those calls, e.g.
        // `sluice_sdk::pass_through(Hooks::RESPONSE | Hooks::STREAM);`
        // (docs/plugins.md, "Hooks a plugin leaves alone").

        // This plugin reads none of a request's metadata and client headers,
        // so the host copies neither into every call (docs/plugins.md,
        // "Metadata and headers a plugin reads"). Name the keys and headers
        // here once the plugin reads some.
        sluice_sdk::reads_metadata(&[]);
        sluice_sdk::reads_headers(&[]);
        PluginInfo {
            name: NAME.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PluginKind::Transform,
            description: DESCRIPTION.into(),
            dialect: String::new(),
            stream_format: StreamFormat::Sse,
        }
    }

    fn validate_config(config: String) -> Result<(), String> {
        config::parse::<Config>(&config)
            .map(|_| ())
            .map_err(|e| format!("{NAME}: {e}; accepted: {{}}"))
    }
}

impl Transformer for @TYPE@ {
    type StreamTransformer = PassThrough;

    fn transform_request(req: Request) -> Result<Vec<u8>, PluginError> {
        log::info(&format!(
            "request for model {} ({} bytes, stream: {})",
            req.requested_model,
            req.body.len(),
            req.stream
        ));
        Ok(req.body)
    }

    fn transform_response(_req: Request, body: Vec<u8>) -> Result<Vec<u8>, PluginError> {
        Ok(body)
    }
}

/// Per-stream state: events pass through unchanged.
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

sluice_sdk::export_transform!(@TYPE@);
