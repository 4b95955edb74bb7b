//! `anthropic`: the Anthropic Messages API as a provider (upstream
//! `POST {base-url}/messages`) and as a client dialect (ingress for
//! `/v1/messages`).
//!
//! A thin wrapper over [`translate::anthropic`]; see `docs/dialects.md` for
//! the mapping.
//!
//! Config: `{}` or `{"default-max-tokens": N}` — the `max_tokens` sent when a
//! hub request sets none (Anthropic requires it; default 4096).

use std::cell::RefCell;

use sluice_sdk::hub::unix_time;
use sluice_sdk::prelude::*;
use sluice_sdk::{config, error};
use translate::anthropic;

/// The plugin.
struct Anthropic;

fn plugin_config() -> Result<anthropic::Config, PluginError> {
    let raw = config::raw();
    if raw.trim() == "{}" {
        return Ok(anthropic::Config::default());
    }
    anthropic::parse_config(&raw).map_err(|m| error::new(500, "plugin_misconfigured", m))
}

impl Plugin for Anthropic {
    fn describe() -> PluginInfo {
        sluice_sdk::reads_metadata(translate::common::CTX_METADATA);
        sluice_sdk::reads_headers(translate::anthropic::CLIENT_HEADERS);
        PluginInfo {
            name: "anthropic".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PluginKind::Provider,
            description:
                "Anthropic Messages API: provider adapter and ingress for Anthropic clients".into(),
            dialect: "anthropic".into(),
            stream_format: StreamFormat::Sse,
        }
    }

    fn validate_config(config: String) -> Result<(), String> {
        anthropic::parse_config(&config).map(|_| ())
    }
}

impl Adapter for Anthropic {
    type StreamMapper = Mapper;

    fn prepare(req: Request, target: Target) -> Result<Prepared, PluginError> {
        anthropic::prepare(&req, &target, &plugin_config()?, unix_time()).map(Prepared::Forward)
    }

    fn map_response(req: Request, response: UpstreamResponse) -> Result<Vec<u8>, PluginError> {
        anthropic::map_response(&req, &response.body, unix_time())
    }
}

/// Anthropic events → hub chunks (or unchanged when passing through).
struct Mapper(RefCell<anthropic::StreamMapper>);

impl StreamMapper for Mapper {
    fn new(req: Request) -> Self {
        Mapper(RefCell::new(anthropic::StreamMapper::new(
            &req,
            unix_time(),
        )))
    }

    fn map_event(&self, ev: Event) -> Result<Vec<Event>, PluginError> {
        self.0.borrow_mut().push(ev)
    }

    fn finish(&self) -> Result<Vec<Event>, PluginError> {
        self.0.borrow_mut().finish()
    }
}

impl Ingress for Anthropic {
    type StreamEncoder = Encoder;

    fn decode_request(req: Request) -> Result<Vec<u8>, PluginError> {
        anthropic::decode_request(&req)
    }

    fn encode_response(req: Request, body: Vec<u8>) -> Result<Vec<u8>, PluginError> {
        anthropic::encode_response(&req, &body, unix_time())
    }
}

/// Hub chunks → Anthropic events.
struct Encoder(RefCell<anthropic::HubToAnthropic>);

impl StreamEncoder for Encoder {
    fn new(req: Request) -> Self {
        Encoder(RefCell::new(anthropic::stream_encoder(&req)))
    }

    fn encode_event(&self, ev: Event) -> Result<Vec<Event>, PluginError> {
        self.0.borrow_mut().push(&ev)
    }

    fn finish(&self) -> Result<Vec<Event>, PluginError> {
        self.0.borrow_mut().finish()
    }
}

sluice_sdk::export_dialect!(Anthropic);
