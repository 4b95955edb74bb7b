//! Errors a client can see, and the one place they become a response.
//!
//! Every error says what went wrong and what to check, in the shape the
//! client's API expects (OpenAI error JSON, or Anthropic's on Anthropic
//! routes), with a stable `type` and `code`.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use serde_json::json;

use crate::plugin::CallError;

/// The API shape an error is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    OpenAi,
    Anthropic,
    Gemini,
}

impl Dialect {
    /// The dialect's name as plugins describe it.
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::OpenAi => "openai",
            Dialect::Anthropic => "anthropic",
            Dialect::Gemini => "gemini",
        }
    }

    /// The API's name in messages to people.
    pub fn title(self) -> &'static str {
        match self {
            Dialect::OpenAi => "OpenAI",
            Dialect::Anthropic => "Anthropic",
            Dialect::Gemini => "Gemini",
        }
    }
}

/// Everything that can go wrong with a request, by layer.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("{0}")]
    BadRequest(String),
    #[error(
        "missing or invalid API key; send it as `Authorization: Bearer KEY` or `x-api-key: KEY` (keys are set in api-keys in the gateway config)"
    )]
    Unauthorized,
    #[error(
        "model {model:?} is not served by this gateway; GET /v1/models lists the models this key may use"
    )]
    ModelNotFound { model: String },
    #[error(
        "no route for {method} {path}; this gateway serves POST /v1/chat/completions, GET /v1/models and GET /health"
    )]
    NotFound { method: String, path: String },
    #[error("{method} is not allowed on {path}; use {allowed}")]
    MethodNotAllowed {
        method: String,
        path: String,
        allowed: &'static str,
    },
    #[error("request body is larger than {limit} bytes (limits.max-request-body)")]
    PayloadTooLarge { limit: usize },
    #[error(
        "provider {provider} uses plugin {plugin}, which is not loaded; check plugins.dir and the gateway log for why it failed to load"
    )]
    PluginMissing { provider: String, plugin: String },
    #[error(
        "plugin {plugin} was taken out of service after repeated traps and has no earlier good version; fix it and replace its file (the gateway log has the traps)"
    )]
    PluginOutOfService { plugin: String },
    #[error("{0}")]
    Plugin(#[from] CallError),
    /// A guardrail refused the request or the answer.
    #[error("refused by guardrail {guardrail}: {message}")]
    GuardrailDenied { guardrail: String, message: String },
    /// A plugin the config names is not loaded, or is of the wrong kind.
    #[error("{0}")]
    Misconfigured(String),
    /// The upstream answered with an error status.
    #[error("provider {provider} returned HTTP {status} for model {model}: {message}")]
    Upstream {
        provider: String,
        model: String,
        status: u16,
        message: String,
        retry_after: Option<HeaderValue>,
    },
    /// The upstream could not be reached or broke before answering.
    #[error(
        "provider {provider} could not be reached at {url}: {detail}; check base-url and that the upstream is up"
    )]
    UpstreamUnreachable {
        provider: String,
        url: String,
        detail: String,
    },
    /// The upstream's stream broke or could not be read after it started.
    #[error("provider {provider}: {detail}")]
    UpstreamStream { provider: String, detail: String },
    #[error(
        "provider {provider} did not answer within {seconds} s ({setting}); the upstream is slow or stuck"
    )]
    UpstreamTimeout {
        provider: String,
        seconds: f64,
        setting: &'static str,
    },
    #[error("{0}")]
    Internal(String),
}

impl GatewayError {
    pub fn status(&self) -> StatusCode {
        use GatewayError::*;
        match self {
            BadRequest(_) => StatusCode::BAD_REQUEST,
            Unauthorized => StatusCode::UNAUTHORIZED,
            ModelNotFound { .. } | NotFound { .. } => StatusCode::NOT_FOUND,
            MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            PluginMissing { .. } | PluginOutOfService { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Plugin(CallError::Reported { status, .. }) => {
                StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY)
            }
            Plugin(CallError::Instantiate { .. }) => StatusCode::SERVICE_UNAVAILABLE,
            Plugin(_) => StatusCode::BAD_GATEWAY,
            GuardrailDenied { .. } => StatusCode::BAD_REQUEST,
            Misconfigured(_) => StatusCode::SERVICE_UNAVAILABLE,
            Upstream { status, .. } => {
                StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY)
            }
            UpstreamUnreachable { .. } | UpstreamStream { .. } => StatusCode::BAD_GATEWAY,
            UpstreamTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Stable machine-readable code.
    pub fn code(&self) -> &str {
        use GatewayError::*;
        match self {
            BadRequest(_) => "invalid_request",
            Unauthorized => "invalid_api_key",
            ModelNotFound { .. } => "model_not_found",
            NotFound { .. } => "not_found",
            MethodNotAllowed { .. } => "method_not_allowed",
            PayloadTooLarge { .. } => "request_too_large",
            PluginMissing { .. } => "plugin_not_loaded",
            PluginOutOfService { .. } => "plugin_out_of_service",
            Plugin(e) => e.code(),
            GuardrailDenied { .. } => "guardrail_denied",
            Misconfigured(_) => "gateway_misconfigured",
            Upstream { status: 429, .. } => "upstream_rate_limited",
            Upstream { .. } => "upstream_error",
            UpstreamUnreachable { .. } => "upstream_unreachable",
            UpstreamStream { .. } => "upstream_stream_error",
            UpstreamTimeout { .. } => "upstream_timeout",
            Internal(_) => "internal_error",
        }
    }

    /// The OpenAI `type` field.
    fn openai_type(&self) -> &'static str {
        match self.status().as_u16() {
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            429 => "rate_limit_error",
            400 | 405 | 409 | 413 | 422 => "invalid_request_error",
            _ => "api_error",
        }
    }

    /// The Anthropic `error.type` field.
    fn anthropic_type(&self) -> &'static str {
        match self.status().as_u16() {
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            413 => "request_too_large",
            429 => "rate_limit_error",
            529 => "overloaded_error",
            400 | 405 | 409 | 422 => "invalid_request_error",
            _ => "api_error",
        }
    }

    /// The Google API `error.status` field.
    fn google_status(&self) -> &'static str {
        match self.status().as_u16() {
            400 | 405 | 413 => "INVALID_ARGUMENT",
            401 => "UNAUTHENTICATED",
            403 => "PERMISSION_DENIED",
            404 => "NOT_FOUND",
            429 => "RESOURCE_EXHAUSTED",
            503 => "UNAVAILABLE",
            504 => "DEADLINE_EXCEEDED",
            _ => "INTERNAL",
        }
    }

    /// The JSON error body in the client's shape.
    pub fn body(&self, dialect: Dialect) -> serde_json::Value {
        let message = self.to_string();
        match dialect {
            Dialect::OpenAi => json!({"error": {
                "message": message,
                "type": self.openai_type(),
                "param": null,
                "code": self.code(),
            }}),
            Dialect::Anthropic => json!({"type": "error", "error": {
                "type": self.anthropic_type(),
                "message": message,
            }}),
            Dialect::Gemini => json!({"error": {
                "code": self.status().as_u16(),
                "message": message,
                "status": self.google_status(),
            }}),
        }
    }

    /// The whole HTTP response. The one place errors become responses.
    pub fn into_response(self, dialect: Dialect) -> Response<Bytes> {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), code = self.code(), "{self}");
        } else {
            tracing::debug!(status = status.as_u16(), code = self.code(), "{self}");
        }
        let body = serde_json::to_vec(&self.body(dialect)).unwrap_or_default();
        let mut resp = Response::new(Bytes::from(body));
        *resp.status_mut() = status;
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        match self {
            GatewayError::Upstream {
                retry_after: Some(v),
                ..
            } => {
                h.insert(header::RETRY_AFTER, v);
            }
            GatewayError::Unauthorized => {
                h.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"sluice\""),
                );
            }
            GatewayError::MethodNotAllowed { allowed, .. } => {
                h.insert(header::ALLOW, HeaderValue::from_static(allowed));
            }
            _ => {}
        }
        resp
    }

    /// The error as one SSE `data:` event for a stream that already started
    /// (OpenAI streams carry errors as `data: {"error": ...}`).
    pub fn stream_event(&self, dialect: Dialect) -> String {
        self.body(dialect).to_string()
    }
}

/// Pull a human-readable message out of an upstream error body
/// (OpenAI `error.message`, Anthropic `error.message`, Gemini `error.message`,
/// or a plain string), truncated so a huge HTML page does not flood the client.
pub fn upstream_message(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        let m = v
            .pointer("/error/message")
            .or_else(|| v.pointer("/message"))
            .or_else(|| v.pointer("/error"))
            .or_else(|| v.pointer("/detail"));
        if let Some(m) = m {
            return truncate(&match m {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            });
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        "(empty body)".into()
    } else {
        truncate(text)
    }
}

fn truncate(s: &str) -> String {
    const MAX: usize = 500;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
