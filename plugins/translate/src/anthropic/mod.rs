//! The Anthropic Messages dialect: types, conversions, and what the
//! `anthropic` plugin does for each call of the `dialect` world.

pub mod direct;
pub mod request;
pub mod response;
pub mod stream;
pub mod types;

use serde::Deserialize;
use serde_json::{Map, Value};
use sluice_sdk::{Event, PluginError, Request, Target, UpstreamRequest, error, header, json};

pub use request::{anthropic_to_hub, hub_to_anthropic};
pub use response::{response_from_hub, response_to_hub, usage_from_hub, usage_to_hub};
pub use stream::{AnthropicToHub, HubToAnthropic};
pub use types::{MessagesRequest, MessagesResponse};

use crate::common::{self, Ctx, DEFAULT_MAX_TOKENS, prompt_chars_of};
use crate::dialect::{ANTHROPIC, OPENAI};

/// The `anthropic-version` sent when the client sent none.
pub const DEFAULT_VERSION: &str = "2023-06-01";

/// The client headers the adapter passes on to an Anthropic upstream: what
/// the `anthropic` plugin declares with `sluice_sdk::reads_headers`.
pub const CLIENT_HEADERS: &[&str] = &["anthropic-version", "anthropic-beta"];

/// The `anthropic` plugin's config.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// `max_tokens` for hub requests that set none (Anthropic requires it).
    #[serde(default = "default_max_tokens")]
    pub default_max_tokens: u64,
}

fn default_max_tokens() -> u64 {
    DEFAULT_MAX_TOKENS
}

impl Default for Config {
    fn default() -> Self {
        Config {
            default_max_tokens: DEFAULT_MAX_TOKENS,
        }
    }
}

/// Parses and checks the plugin config.
pub fn parse_config(raw: &str) -> Result<Config, String> {
    let c: Config = sluice_sdk::config::parse(raw)
        .map_err(|e| format!("anthropic: {e}; accepted keys: `default-max-tokens` (a positive integer, default {DEFAULT_MAX_TOKENS})"))?;
    if c.default_max_tokens == 0 {
        return Err("anthropic: `default-max-tokens` must be at least 1".into());
    }
    Ok(c)
}

/// Fields `/v1/messages/count_tokens` does not accept.
const NOT_FOR_COUNT_TOKENS: &[&str] = &[
    "max_tokens",
    "stream",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "metadata",
    "service_tier",
];

/// Builds the upstream request (`adapter.prepare`).
///
/// * Path `/messages`, or `/messages/count_tokens` when the metadata
///   `operation` is `count-tokens` (the host appends it to `base-url`, which
///   includes `/v1`).
/// * Body: when `body-dialect` is `anthropic`, the client's body with only
///   the top-level `model` rewritten; when it is the hub, the translation
///   ([`hub_to_anthropic`], after the default thinking translation of
///   [`crate::thinking::hub_request_for`]).
/// * Headers: `x-api-key` (when the key is set), `anthropic-version` (the
///   client's, else [`DEFAULT_VERSION`]), the client's `anthropic-beta`, then
///   the target's configured headers.
pub fn prepare(
    req: &Request,
    target: &Target,
    config: &Config,
    created: u64,
) -> Result<UpstreamRequest, PluginError> {
    if target.base_url.is_empty() {
        return Err(error::misconfigured(format!(
            "set `base-url` for provider `{}` (for example `https://api.anthropic.com/v1`); \
             `/messages` is appended to it",
            target.provider
        )));
    }
    let mut ctx = Ctx::from_request(req, created);
    ctx.default_max_tokens = config.default_max_tokens;
    let count = ctx.is_count_tokens();
    let body = match req.body_dialect.as_str() {
        ANTHROPIC => {
            if req.model.is_empty() {
                req.body.clone()
            } else {
                json::rewrite_model(&req.body, &req.model)?
            }
        }
        OPENAI => {
            let hub = crate::thinking::hub_request_for(&req.body, ANTHROPIC)?;
            let out = hub_to_anthropic(hub, &ctx)?;
            let body = json::to_vec(&out)?;
            if count {
                // Dropped from the serialized body: the tool schemas stay text.
                json::edit_top_level(&body, NOT_FOR_COUNT_TOKENS, |fields| {
                    *fields = Value::Object(Map::new());
                    true
                })?
                .unwrap_or(body)
            } else {
                body
            }
        }
        other => {
            return Err(error::bad_request(format!(
                "the anthropic plugin cannot translate a `{other}` body; expected `openai` (the hub) or `anthropic`"
            )));
        }
    };
    let mut headers = vec![
        header("content-type", "application/json"),
        header(
            "accept",
            if req.stream && !count {
                "text/event-stream"
            } else {
                "application/json"
            },
        ),
    ];
    if !target.api_key.is_empty() {
        headers.push(header("x-api-key", target.api_key.clone()));
    }
    // The client headers read here are those in `CLIENT_HEADERS`.
    headers.push(header(
        "anthropic-version",
        common::header(req, "anthropic-version").unwrap_or(DEFAULT_VERSION),
    ));
    if let Some(beta) = common::header(req, "anthropic-beta") {
        headers.push(header("anthropic-beta", beta));
    }
    headers.extend(target.headers.iter().cloned());
    Ok(UpstreamRequest {
        method: "POST".into(),
        path: if count {
            "/messages/count_tokens".into()
        } else {
            "/messages".into()
        },
        headers,
        body,
    })
}

/// Maps a whole upstream answer (`adapter.map-response`): unchanged when the
/// body is passed through (or for count_tokens), else Anthropic → hub.
pub fn map_response(req: &Request, body: &[u8], created: u64) -> Result<Vec<u8>, PluginError> {
    let ctx = Ctx::from_request(req, created);
    if req.body_dialect == ANTHROPIC || ctx.is_count_tokens() {
        return Ok(body.to_vec());
    }
    let resp: MessagesResponse = json::parse_upstream(body)?;
    let reported = resp
        .usage
        .as_ref()
        .is_some_and(|u| u.input_tokens.is_some() || u.output_tokens.is_some());
    let prompt_chars = common::prompt_chars_if(!reported, &req.body);
    json::to_vec(&response_to_hub(resp, &ctx, prompt_chars))
}

/// The provider-side stream state (`adapter.stream-mapper`).
#[derive(Debug)]
pub enum StreamMapper {
    /// The client speaks Anthropic too: events pass unchanged.
    PassThrough,
    /// Anthropic events → hub chunks.
    Translate(Box<AnthropicToHub>),
}

impl StreamMapper {
    /// The mapper for `req` (the request as prepared).
    pub fn new(req: &Request, created: u64) -> Self {
        if req.body_dialect == ANTHROPIC {
            return StreamMapper::PassThrough;
        }
        let ctx = Ctx::from_request(req, created);
        StreamMapper::Translate(Box::new(AnthropicToHub::new(
            &ctx,
            common::include_usage_of(&req.body),
            prompt_chars_of(&req.body),
        )))
    }

    /// Maps one upstream event.
    pub fn push(&mut self, ev: Event) -> Result<Vec<Event>, PluginError> {
        match self {
            StreamMapper::PassThrough => Ok(vec![ev]),
            StreamMapper::Translate(m) => m.push(&ev),
        }
    }

    /// The upstream stream ended.
    pub fn finish(&mut self) -> Result<Vec<Event>, PluginError> {
        match self {
            StreamMapper::PassThrough => Ok(Vec::new()),
            StreamMapper::Translate(m) => m.finish(),
        }
    }
}

/// Decodes an Anthropic client's request into a hub body
/// (`ingress.decode-request`).
pub fn decode_request(req: &Request) -> Result<Vec<u8>, PluginError> {
    let ctx = Ctx::from_request(req, 0);
    // The common requests are translated from the bytes (the same output,
    // in about a third of the time); the others through the types.
    if let Some(hub) = direct::anthropic_to_hub_bytes(&req.body, &ctx) {
        return Ok(hub);
    }
    let a: MessagesRequest = json::parse(&req.body)?;
    json::to_vec(&anthropic_to_hub(a, &ctx)?)
}

/// Encodes a hub response for an Anthropic client
/// (`ingress.encode-response`). A body that is not a chat completion (e.g.
/// a count_tokens answer) passes unchanged.
pub fn encode_response(req: &Request, body: &[u8], created: u64) -> Result<Vec<u8>, PluginError> {
    let ctx = Ctx::from_request(req, created);
    // The common answers are written from the bytes; the others through
    // the types.
    if let Some(out) = direct::response_from_hub_bytes(body, &ctx) {
        return Ok(out);
    }
    let Some(hub) = common::hub_answer(body)? else {
        return Ok(body.to_vec());
    };
    let prompt_chars = common::prompt_chars_if(hub.usage.is_none(), &req.body);
    json::to_vec(&response_from_hub(hub, &ctx, prompt_chars))
}

/// The ingress stream encoder for `req` (`ingress.stream-encoder`).
pub fn stream_encoder(req: &Request) -> HubToAnthropic {
    HubToAnthropic::new(&Ctx::from_request(req, 0), prompt_chars_of(&req.body))
}
