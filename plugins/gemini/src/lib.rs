//! `gemini`: the Gemini API (`generateContent`, `streamGenerateContent`) as
//! a provider (upstream `POST {base-url}/models/{model}:generateContent`)
//! and as a client dialect (ingress).
//!
//! A thin wrapper over [`translate::gemini`]; see `docs/dialects.md` for the
//! mapping. Config: `{}` only.

use std::cell::RefCell;

use sluice_sdk::config;
use sluice_sdk::hub::unix_time;
use sluice_sdk::prelude::*;
use translate::gemini;

/// The plugin.
struct Gemini;

impl Plugin for Gemini {
    fn describe() -> PluginInfo {
        sluice_sdk::reads_metadata(translate::common::CTX_METADATA);
        sluice_sdk::reads_headers(&[]);
        PluginInfo {
            name: "gemini".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PluginKind::Provider,
            description:
                "Gemini generateContent API: provider adapter and ingress for Gemini clients".into(),
            dialect: "gemini".into(),
            stream_format: StreamFormat::Sse,
        }
    }

    fn validate_config(config: String) -> Result<(), String> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct NoConfig {}
        config::parse::<NoConfig>(&config)
            .map(|_| ())
            .map_err(|e| format!("gemini: {e}; the plugin takes no settings (use `{{}}`)"))
    }
}

impl Adapter for Gemini {
    type StreamMapper = Mapper;

    fn prepare(req: Request, target: Target) -> Result<Prepared, PluginError> {
        gemini::prepare(&req, &target, unix_time()).map(Prepared::Forward)
    }

    fn map_response(req: Request, response: UpstreamResponse) -> Result<Vec<u8>, PluginError> {
        gemini::map_response(&req, &response.body, unix_time())
    }
}

/// Gemini chunks → hub chunks (or unchanged when passing through).
struct Mapper(RefCell<gemini::StreamMapper>);

impl StreamMapper for Mapper {
    fn new(req: Request) -> Self {
        Mapper(RefCell::new(gemini::StreamMapper::new(&req, unix_time())))
    }

    fn map_event(&self, ev: Event) -> Result<Vec<Event>, PluginError> {
        self.0.borrow_mut().push(ev)
    }

    fn finish(&self) -> Result<Vec<Event>, PluginError> {
        self.0.borrow_mut().finish()
    }
}

impl Ingress for Gemini {
    type StreamEncoder = Encoder;

    fn decode_request(req: Request) -> Result<Vec<u8>, PluginError> {
        gemini::decode_request(&req)
    }

    fn encode_response(req: Request, body: Vec<u8>) -> Result<Vec<u8>, PluginError> {
        gemini::encode_response(&req, &body, unix_time())
    }
}

/// Hub chunks → Gemini chunks.
struct Encoder(RefCell<gemini::HubToGemini>);

impl StreamEncoder for Encoder {
    fn new(req: Request) -> Self {
        Encoder(RefCell::new(gemini::stream_encoder(&req)))
    }

    fn encode_event(&self, ev: Event) -> Result<Vec<Event>, PluginError> {
        self.0.borrow_mut().push(&ev)
    }

    fn finish(&self) -> Result<Vec<Event>, PluginError> {
        self.0.borrow_mut().finish()
    }
}

sluice_sdk::export_dialect!(Gemini);
