//! `@NAME@`: a sluice provider plugin (world `provider`), written with the
//! sluice Rust SDK.
//!
//! It answers every chat request itself, like a tiny mock, so it serves
//! requests without any upstream. To speak to a real API instead, return
//! `Prepared::Forward(UpstreamRequest { .. })` from `prepare` (for an
//! OpenAI-compatible upstream `sluice_sdk::openai::chat_request` builds it),
//! turn the answer into a hub response in `map_response`, and map each
//! upstream stream event in the `StreamMapper`.
//!
//! Config (`plugins.settings.@NAME@.config`): `{}` or `{"greeting": "text"}`.

use serde::Deserialize;
use sluice_sdk::hub::{ChatChunk, ChatRequest, ChatResponse, Delta, Usage};
use sluice_sdk::prelude::*;
use sluice_sdk::{config, error, json, log};

/// The plugin's config.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// The first words of every answer.
    greeting: Option<String>,
}

/// The name the gateway config refers to the plugin by.
const NAME: &str = "@NAME@";
/// One line for operators, shown by `sluice plugin inspect` and the management API.
const DESCRIPTION: &str = "@DESCRIPTION@";

struct @TYPE@;

impl Plugin for @TYPE@ {
    fn describe() -> PluginInfo {
        // This plugin reads none of a request's metadata and client headers,
        // so the host copies neither into every call (docs/plugins.md,
        // "Metadata and headers a plugin reads"). Name the keys and headers
        // here once the plugin reads some.
        sluice_sdk::reads_metadata(&[]);
        sluice_sdk::reads_headers(&[]);
        PluginInfo {
            name: NAME.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PluginKind::Provider,
            description: DESCRIPTION.into(),
            // The API the upstream speaks; this plugin answers in the hub format.
            dialect: "openai".into(),
            stream_format: StreamFormat::Sse,
        }
    }

    fn validate_config(config: String) -> Result<(), String> {
        config::parse::<Config>(&config)
            .map(|_| ())
            .map_err(|e| format!("{NAME}: {e}; accepted: {{}} or {{\"greeting\": \"text\"}}"))
    }
}

impl Adapter for @TYPE@ {
    type StreamMapper = PassThrough;

    fn prepare(req: Request, _target: Target) -> Result<Prepared, PluginError> {
        let config: Config = config::get()?;
        let chat: ChatRequest = json::parse(&req.body)?;
        let said = chat
            .messages
            .iter()
            .rev()
            .find(|m| m.role == "user")
            .map(|m| m.text())
            .unwrap_or_default();
        let greeting = config
            .greeting
            .as_deref()
            .unwrap_or("Hello from @NAME@!");
        let text = format!("{greeting} You said: {said}");
        log::debug(&format!("answering {} locally", req.requested_model));

        let id = "chatcmpl-@NAME@";
        let model = req.requested_model.as_str();
        let created = sluice_sdk::hub::unix_time();
        let usage = Usage::new(
            said.split_whitespace().count() as u64,
            text.split_whitespace().count() as u64,
        );
        let local = if req.stream {
            let mut chunks = vec![
                ChatChunk::new(id, created, model, Delta::role("assistant"), None),
                ChatChunk::new(id, created, model, Delta::content(text), None),
                ChatChunk::new(id, created, model, Delta::default(), Some("stop")),
            ];
            if chat.include_usage() {
                chunks.push(ChatChunk::usage(id, created, model, usage));
            }
            LocalResponse {
                status: 200,
                body: Vec::new(),
                events: chunks
                    .iter()
                    .map(ChatChunk::to_event)
                    .collect::<Result<_, _>>()?,
            }
        } else {
            let resp = ChatResponse::single(id, created, model, text, "stop", Some(usage));
            LocalResponse {
                status: 200,
                body: json::to_vec(&resp)?,
                events: Vec::new(),
            }
        };
        Ok(Prepared::Respond(local))
    }

    fn map_response(_req: Request, _response: UpstreamResponse) -> Result<Vec<u8>, PluginError> {
        Err(error::internal(format!(
            "{NAME} answers locally and never forwards upstream"
        )))
    }
}

/// Per-stream state for upstream events (unused while `prepare` answers
/// locally): events pass through unchanged.
struct PassThrough;

impl StreamMapper for PassThrough {
    fn new(_req: Request) -> Self {
        PassThrough
    }

    fn map_event(&self, ev: Event) -> Result<Vec<Event>, PluginError> {
        Ok(vec![ev])
    }

    fn finish(&self) -> Result<Vec<Event>, PluginError> {
        Ok(Vec::new())
    }
}

sluice_sdk::export_provider!(@TYPE@);
