//! The Gemini `generateContent` dialect: types, conversions, and what the
//! `gemini` plugin does for each call of the `dialect` world.

pub mod request;
pub mod response;
pub mod schema;
pub mod stream;
pub mod types;

use sluice_sdk::{Event, PluginError, Request, Target, UpstreamRequest, error, header, json};

pub use request::{gemini_to_hub, hub_to_gemini};
pub use response::{response_from_hub, response_to_hub, usage_from_hub, usage_to_hub};
pub use stream::{GeminiToHub, HubToGemini};
pub use types::{GenerateContentRequest, GenerateContentResponse};

use crate::common::{self, Ctx, prompt_chars_of};
use crate::dialect::{GEMINI, OPENAI};

/// The upstream path for a model: `/models/{model}:generateContent`, or
/// `/models/{model}:streamGenerateContent?alt=sse` when streaming (the host
/// appends it to `base-url`, which includes `/v1beta`). A `models/` prefix
/// on the model name is removed.
pub fn path(model: &str, stream: bool) -> String {
    let model = model.strip_prefix("models/").unwrap_or(model);
    if stream {
        format!("/models/{model}:streamGenerateContent?alt=sse")
    } else {
        format!("/models/{model}:generateContent")
    }
}

/// Builds the upstream request (`adapter.prepare`).
///
/// * Body: when `body-dialect` is `gemini`, the client's body unchanged (the
///   model is in the URL); when it is the hub, the translation
///   ([`hub_to_gemini`], after the default thinking translation of
///   [`crate::thinking::hub_request_for`]).
/// * Headers: `x-goog-api-key` (when the key is set), then the target's
///   configured headers.
pub fn prepare(
    req: &Request,
    target: &Target,
    created: u64,
) -> Result<UpstreamRequest, PluginError> {
    if target.base_url.is_empty() {
        return Err(error::misconfigured(format!(
            "set `base-url` for provider `{}` (for example \
             `https://generativelanguage.googleapis.com/v1beta`); `/models/<model>:generateContent` \
             is appended to it",
            target.provider
        )));
    }
    let ctx = Ctx::from_request(req, created);
    if ctx.is_count_tokens() {
        return Err(error::bad_request(
            "the gemini plugin does not forward token counting; the gateway estimates it",
        ));
    }
    if req.model.is_empty() {
        return Err(error::bad_request("no model to send to Gemini"));
    }
    let body = match req.body_dialect.as_str() {
        GEMINI => req.body.clone(),
        OPENAI => {
            let hub = crate::thinking::hub_request_for(&req.body, GEMINI)?;
            json::to_vec(&hub_to_gemini(hub, &ctx)?)?
        }
        other => {
            return Err(error::bad_request(format!(
                "the gemini plugin cannot translate a `{other}` body; expected `openai` (the hub) or `gemini`"
            )));
        }
    };
    let mut headers = vec![
        header("content-type", "application/json"),
        header(
            "accept",
            if req.stream {
                "text/event-stream"
            } else {
                "application/json"
            },
        ),
    ];
    if !target.api_key.is_empty() {
        headers.push(header("x-goog-api-key", target.api_key.clone()));
    }
    headers.extend(target.headers.iter().cloned());
    Ok(UpstreamRequest {
        method: "POST".into(),
        path: path(&req.model, req.stream),
        headers,
        body,
    })
}

/// Maps a whole upstream answer (`adapter.map-response`): unchanged when the
/// body is passed through, else Gemini → hub.
pub fn map_response(req: &Request, body: &[u8], created: u64) -> Result<Vec<u8>, PluginError> {
    if req.body_dialect == GEMINI {
        return Ok(body.to_vec());
    }
    let ctx = Ctx::from_request(req, created);
    let resp: GenerateContentResponse = json::parse_upstream(body)?;
    let reported = resp
        .usage_metadata
        .as_ref()
        .is_some_and(|u| u.prompt_token_count.is_some() || u.candidates_token_count.is_some());
    let prompt_chars = common::prompt_chars_if(!reported, &req.body);
    json::to_vec(&response_to_hub(resp, &ctx, prompt_chars))
}

/// The provider-side stream state (`adapter.stream-mapper`).
#[derive(Debug)]
pub enum StreamMapper {
    /// The client speaks Gemini too: events pass unchanged.
    PassThrough,
    /// Gemini chunks → hub chunks.
    Translate(Box<GeminiToHub>),
}

impl StreamMapper {
    /// The mapper for `req` (the request as prepared).
    pub fn new(req: &Request, created: u64) -> Self {
        if req.body_dialect == GEMINI {
            return StreamMapper::PassThrough;
        }
        let ctx = Ctx::from_request(req, created);
        StreamMapper::Translate(Box::new(GeminiToHub::new(
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

/// Decodes a Gemini client's request into a hub body
/// (`ingress.decode-request`). The model comes from the request envelope
/// (the client put it in the URL); `stream` too.
pub fn decode_request(req: &Request) -> Result<Vec<u8>, PluginError> {
    let g: GenerateContentRequest = json::parse(&req.body)?;
    let ctx = Ctx::from_request(req, 0);
    json::to_vec(&gemini_to_hub(g, &ctx)?)
}

/// Encodes a hub response for a Gemini client (`ingress.encode-response`).
/// A body that is not a chat completion passes unchanged.
pub fn encode_response(req: &Request, body: &[u8], created: u64) -> Result<Vec<u8>, PluginError> {
    let Some(hub) = common::hub_answer(body)? else {
        return Ok(body.to_vec());
    };
    let ctx = Ctx::from_request(req, created);
    let prompt_chars = common::prompt_chars_if(hub.usage.is_none(), &req.body);
    json::to_vec(&response_from_hub(hub, &ctx, prompt_chars))
}

/// The ingress stream encoder for `req` (`ingress.stream-encoder`).
pub fn stream_encoder(req: &Request) -> HubToGemini {
    HubToGemini::new(&Ctx::from_request(req, 0), prompt_chars_of(&req.body))
}
