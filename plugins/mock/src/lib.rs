//! `mock`: sluice's built-in mock provider.
//!
//! It never forwards anything: `prepare` answers every chat request locally
//! with a deterministic reply, in the OpenAI format, streaming or not. It is
//! what `sluice serve` uses before a real provider is configured, and what
//! tests use when they need a provider without a network.
//!
//! Config: `{}` or `{"reply": "fixed text"}`.

mod answer;

use sluice_sdk::prelude::*;
use sluice_sdk::{config, error};

use answer::Config;

/// The plugin.
struct Mock;

impl Plugin for Mock {
    fn describe() -> PluginInfo {
        // Its answers depend on the body alone.
        sluice_sdk::reads_metadata(&[]);
        sluice_sdk::reads_headers(&[]);
        PluginInfo {
            name: "mock".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PluginKind::Provider,
            description: "Built-in mock provider: answers locally and deterministically, \
                          no upstream needed"
                .into(),
            dialect: "openai".into(),
            stream_format: StreamFormat::Sse,
        }
    }

    fn validate_config(config: String) -> Result<(), String> {
        answer::validate_config(&config)
    }
}

impl Adapter for Mock {
    type StreamMapper = PassThrough;

    fn prepare(req: Request, _target: Target) -> Result<Prepared, PluginError> {
        let config: Config = config::get()?;
        let created = sluice_sdk::hub::unix_time();
        answer::answer(&req, &config, created).map(Prepared::Respond)
    }

    fn map_response(_req: Request, _response: UpstreamResponse) -> Result<Vec<u8>, PluginError> {
        Err(error::internal(
            "mock never forwards requests upstream, so it has no upstream response to map",
        ))
    }
}

/// Stream mapper for completeness: mock never forwards, so there is no
/// upstream stream; events pass through unchanged.
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

sluice_sdk::export_provider!(Mock);
