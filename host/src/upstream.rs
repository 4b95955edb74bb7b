//! The pooled upstream HTTP client: HTTP/1.1 and HTTP/2 (ALPN), TLS with
//! rustls and the webpki roots, TCP_NODELAY, connect and first-byte timeouts.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request, Response};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::config::Timeouts;
use crate::error::GatewayError;
use crate::plugin::bindings::types;

/// Shared client for every provider.
#[derive(Clone)]
pub struct Upstream {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeouts: Timeouts,
}

impl Upstream {
    pub fn new(timeouts: &Timeouts) -> Self {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeouts.connect));
        http.set_keepalive(Some(Duration::from_secs(60)));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .expect("the ring crypto provider supports the default TLS versions")
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(1024)
            .build(https);
        Upstream {
            client,
            timeouts: timeouts.clone(),
        }
    }

    /// Send a prepared request to `base_url` + its path and wait for the
    /// response headers (bounded by the first-byte timeout).
    pub async fn send(
        &self,
        provider: &str,
        base_url: &str,
        req: types::UpstreamRequest,
    ) -> Result<Response<Incoming>, GatewayError> {
        let url = join_url(base_url, &req.path);
        let method = Method::from_bytes(req.method.as_bytes()).map_err(|_| {
            GatewayError::Internal(format!(
                "the provider plugin for {provider} asked for an invalid HTTP method {:?}",
                req.method
            ))
        })?;
        let mut builder = Request::builder().method(method).uri(&url);
        let headers = builder.headers_mut().expect("builder has no error yet");
        for h in req.headers {
            let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(h.name.as_bytes()),
                HeaderValue::from_str(&h.value),
            ) else {
                return Err(GatewayError::Internal(format!(
                    "the provider plugin for {provider} produced an invalid header {:?}; \
                     check the provider's headers and api-keys in the config",
                    h.name
                )));
            };
            headers.append(name, value);
        }
        let request = builder
            .body(Full::new(Bytes::from(req.body)))
            .map_err(|e| GatewayError::UpstreamUnreachable {
                provider: provider.to_string(),
                url: url.clone(),
                detail: format!("invalid upstream URL: {e}"),
            })?;
        match tokio::time::timeout(self.timeouts.first_byte, self.client.request(request)).await {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e)) => Err(GatewayError::UpstreamUnreachable {
                provider: provider.to_string(),
                url,
                detail: error_chain(&e),
            }),
            Err(_) => Err(GatewayError::UpstreamTimeout {
                provider: provider.to_string(),
                seconds: self.timeouts.first_byte.as_secs_f64(),
                setting: "timeouts.first-byte",
            }),
        }
    }

    /// The longest silence allowed between stream chunks.
    pub fn idle_timeout(&self) -> Duration {
        self.timeouts.idle
    }

    /// Read a whole (non-streaming) body, bounded in size and by the idle timeout.
    pub async fn read_body(
        &self,
        provider: &str,
        body: Incoming,
        limit: usize,
    ) -> Result<Bytes, GatewayError> {
        let collect = Limited::new(body, limit).collect();
        match tokio::time::timeout(self.timeouts.idle, collect).await {
            Ok(Ok(c)) => Ok(c.to_bytes()),
            Ok(Err(e)) => Err(GatewayError::UpstreamStream {
                provider: provider.to_string(),
                detail: format!("reading the response body failed: {e}"),
            }),
            Err(_) => Err(GatewayError::UpstreamTimeout {
                provider: provider.to_string(),
                seconds: self.timeouts.idle.as_secs_f64(),
                setting: "timeouts.idle",
            }),
        }
    }
}

/// `base` has no trailing slash (config strips it); `path` starts with `/`.
fn join_url(base: &str, path: &str) -> String {
    if path.starts_with("http://") || path.starts_with("https://") {
        return path.to_string();
    }
    let mut url = String::with_capacity(base.len() + path.len() + 1);
    url.push_str(base.trim_end_matches('/'));
    if !path.starts_with('/') && !path.is_empty() {
        url.push('/');
    }
    url.push_str(path);
    url
}

/// An error with its causes, e.g. "client error (Connect): tcp connect error: Connection refused".
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let cs = c.to_string();
        if !s.contains(&cs) {
            s.push_str(": ");
            s.push_str(&cs);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::join_url;

    #[test]
    fn joins() {
        assert_eq!(
            join_url("https://api.openai.com/v1", "/chat/completions"),
            "https://api.openai.com/v1/chat/completions"
        );
        assert_eq!(join_url("http://h:1/", "x"), "http://h:1/x");
    }
}
