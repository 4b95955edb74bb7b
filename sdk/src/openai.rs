//! Helpers for providers whose upstream speaks the OpenAI Chat Completions
//! API itself (OpenAI, vLLM, Ollama's `/v1`, DeepSeek, Groq, OpenRouter, ...).
//!
//! Because the hub format *is* that API, such a provider only has to point
//! the request at the upstream ([`chat_request`]) and pass the answer through
//! ([`pass_through_event`] for streams, the body as-is otherwise).

use serde::Deserialize;

use crate::{Event, PluginError, Request, Target, UpstreamRequest, error, header, json};

/// The path appended to the target's `base-url` (which includes the version
/// prefix, e.g. `https://api.openai.com/v1`).
pub const CHAT_COMPLETIONS_PATH: &str = "/chat/completions";

/// How the API key is sent upstream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum AuthHeader {
    /// `authorization: Bearer KEY` (OpenAI and almost everyone else).
    #[default]
    #[serde(rename = "authorization")]
    Authorization,
    /// `api-key: KEY` (Azure OpenAI).
    #[serde(rename = "api-key")]
    ApiKey,
}

/// Builds the upstream request for an OpenAI-compatible chat completions
/// endpoint.
///
/// * path: `path` (e.g. [`CHAT_COMPLETIONS_PATH`]), appended by the host to
///   `target.base-url`;
/// * body: the hub body with only the top-level `model` replaced by
///   `req.model` ([`json::rewrite_model`]; every other byte kept);
/// * headers: `content-type: application/json`, `accept` (`text/event-stream`
///   when streaming, else `application/json`), the API key as `auth` says
///   (omitted when the key is empty), then the target's configured headers;
/// * method `POST`.
///
/// Fails with 500 `provider_misconfigured` when the target has no `base-url`,
/// and 400 `invalid_request` when the body is not a JSON object.
pub fn chat_request(
    req: &Request,
    target: &Target,
    path: &str,
    auth: AuthHeader,
) -> Result<UpstreamRequest, PluginError> {
    if target.base_url.is_empty() {
        return Err(error::misconfigured(format!(
            "set `base-url` for provider `{}` (for example `https://api.openai.com/v1`, \
             `http://localhost:11434/v1`); `{path}` is appended to it",
            target.provider
        )));
    }
    let body = if req.model.is_empty() {
        req.body.clone()
    } else {
        json::rewrite_model(&req.body, &req.model)?
    };
    let mut headers = Vec::with_capacity(3 + target.headers.len());
    headers.push(header("content-type", "application/json"));
    headers.push(header(
        "accept",
        if req.stream {
            "text/event-stream"
        } else {
            "application/json"
        },
    ));
    if !target.api_key.is_empty() {
        headers.push(match auth {
            AuthHeader::Authorization => {
                // Not `format!`: its machinery and the string's regrowth
                // took about a tenth of this call's instructions.
                let mut value = String::with_capacity(7 + target.api_key.len());
                value.push_str("Bearer ");
                value.push_str(&target.api_key);
                header("authorization", value)
            }
            AuthHeader::ApiKey => header("api-key", target.api_key.clone()),
        });
    }
    headers.extend(target.headers.iter().cloned());
    Ok(UpstreamRequest {
        method: "POST".to_owned(),
        path: path.to_owned(),
        headers,
        body,
    })
}

/// Maps one event of an OpenAI-compatible upstream stream to hub events.
///
/// * `[DONE]` (and an event with empty data) maps to nothing: the host sends
///   `[DONE]` itself.
/// * An error event (data is a JSON object with a top-level `error`) is
///   passed through unchanged, event name included, for the host to handle.
/// * Anything else is passed through as one event, data unchanged, without
///   an event name.
pub fn pass_through_event(ev: Event) -> Vec<Event> {
    let data = ev.data.trim();
    if data.is_empty() || data == "[DONE]" {
        return Vec::new();
    }
    if ev.event.is_some() && json::has_top_level_key(data, "error") {
        return vec![ev];
    }
    vec![Event {
        event: None,
        data: ev.data,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(stream: bool) -> Request {
        Request {
            model: "gpt-4o".into(),
            requested_model: "fast".into(),
            stream,
            client_dialect: "openai".into(),
            body_dialect: "openai".into(),
            headers: vec![],
            body: br#"{"model":"fast","messages":[ {"role":"user","content":"hi"} ]}"#.to_vec(),
            metadata: vec![],
        }
    }

    fn target(key: &str) -> Target {
        Target {
            provider: "oai".into(),
            base_url: "https://api.openai.com/v1".into(),
            api_key: key.into(),
            headers: vec![header("openai-organization", "org-1")],
        }
    }

    fn names(r: &UpstreamRequest) -> Vec<(&str, &str)> {
        r.headers
            .iter()
            .map(|h| (h.name.as_str(), h.value.as_str()))
            .collect()
    }

    #[test]
    fn builds_request() {
        let r = chat_request(
            &request(true),
            &target("sk-1"),
            CHAT_COMPLETIONS_PATH,
            AuthHeader::default(),
        )
        .unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/chat/completions");
        assert_eq!(
            r.body,
            br#"{"model":"gpt-4o","messages":[ {"role":"user","content":"hi"} ]}"#
        );
        assert_eq!(
            names(&r),
            [
                ("content-type", "application/json"),
                ("accept", "text/event-stream"),
                ("authorization", "Bearer sk-1"),
                ("openai-organization", "org-1"),
            ]
        );
        let r = chat_request(&request(false), &target(""), "/x", AuthHeader::ApiKey).unwrap();
        assert_eq!(
            names(&r),
            [
                ("content-type", "application/json"),
                ("accept", "application/json"),
                ("openai-organization", "org-1"),
            ]
        );
        let r = chat_request(&request(false), &target("k"), "/x", AuthHeader::ApiKey).unwrap();
        assert!(names(&r).contains(&("api-key", "k")));
    }

    #[test]
    fn missing_base_url() {
        let mut t = target("k");
        t.base_url.clear();
        let e = chat_request(
            &request(false),
            &t,
            CHAT_COMPLETIONS_PATH,
            AuthHeader::default(),
        )
        .unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (500, "provider_misconfigured"));
        assert!(e.message.contains("`base-url`") && e.message.contains("`oai`"));
    }

    #[test]
    fn events() {
        let ev = |event: Option<&str>, data: &str| Event {
            event: event.map(Into::into),
            data: data.into(),
        };
        assert!(pass_through_event(ev(None, "[DONE]")).is_empty());
        assert!(pass_through_event(ev(None, " [DONE] ")).is_empty());
        assert!(pass_through_event(ev(None, "")).is_empty());
        assert_eq!(
            pass_through_event(ev(Some("message"), r#"{"id":"x"}"#)),
            [ev(None, r#"{"id":"x"}"#)]
        );
        let err = ev(Some("error"), r#"{"error":{"message":"overloaded"}}"#);
        assert_eq!(pass_through_event(err.clone()), [err]);
        let err = ev(None, r#"{"error":{"message":"overloaded"}}"#);
        assert_eq!(pass_through_event(err.clone()), [err]);
    }
}
