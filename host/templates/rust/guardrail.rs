//! `@NAME@`: a sluice guardrail plugin (world `guardrail`), written with the
//! sluice Rust SDK.
//!
//! It allows everything except requests whose messages contain a word,
//! `forbidden` unless the config says otherwise (compared without regard
//! to case). Streamed text and whole answers are allowed unchanged; return
//! `Verdict::Rewrite` to change them.
//!
//! Config (`plugins.settings.@NAME@.config`): `{}` or `{"deny-word": "word"}`.

use serde::Deserialize;
use sluice_sdk::hub::ChatRequest;
use sluice_sdk::prelude::*;
use sluice_sdk::{config, json, log};

/// The plugin's config.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Config {
    /// Requests containing this word are denied (default `forbidden`).
    deny_word: Option<String>,
}

impl Config {
    fn word(&self) -> String {
        self.deny_word
            .as_deref()
            .unwrap_or("forbidden")
            .to_lowercase()
    }
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
            kind: PluginKind::Guardrail,
            description: DESCRIPTION.into(),
            dialect: String::new(),
            stream_format: StreamFormat::Sse,
        }
    }

    fn validate_config(config: String) -> Result<(), String> {
        let parsed = config::parse::<Config>(&config)
            .map_err(|e| format!("{NAME}: {e}; accepted: {{}} or {{\"deny-word\": \"word\"}}"))?;
        if parsed
            .deny_word
            .as_deref()
            .is_some_and(|w| w.trim().is_empty())
        {
            return Err(format!("{NAME}: `deny-word` must not be empty"));
        }
        Ok(())
    }
}

impl Guard for @TYPE@ {
    type StreamGuard = AllowAll;

    fn check_request(req: Request) -> Result<Verdict, PluginError> {
        if req.body_dialect != "openai" {
            return Ok(Verdict::Allow);
        }
        let config: Config = config::get()?;
        let word = config.word();
        let chat: ChatRequest = json::parse(&req.body)?;
        for (i, m) in chat.messages.iter().enumerate() {
            if m.text().to_lowercase().contains(&word) {
                log::info(&format!("denied: messages[{i}] contains the deny word"));
                return Ok(Verdict::Deny(format!(
                    "{NAME}: messages[{i}] contains the word {word:?}, which this gateway does \
                     not allow"
                )));
            }
        }
        Ok(Verdict::Allow)
    }

    fn check_response(_req: Request, _body: Vec<u8>) -> Result<Verdict, PluginError> {
        Ok(Verdict::Allow)
    }
}

/// Per-stream state: every piece of streamed text is allowed.
struct AllowAll;

impl StreamGuard for AllowAll {
    fn new(_req: Request) -> Self {
        AllowAll
    }

    fn check_text(&self, _text: String) -> Result<Verdict, PluginError> {
        Ok(Verdict::Allow)
    }

    fn finish(&self) -> Result<Verdict, PluginError> {
        Ok(Verdict::Allow)
    }
}

sluice_sdk::export_guardrail!(@TYPE@);
