//! The upstream HTTP client: `https://` upstreams through hyper-util's pooled
//! client (HTTP/1.1 and HTTP/2 by ALPN, TLS with rustls and the webpki
//! roots), `http://` upstreams through [`pool`] and [`h1`], HTTP/1.1 kept
//! alive; TCP_NODELAY, connect and first-byte timeouts for both.

mod h1;
mod pool;

use std::time::Duration;

use bytes::Bytes;
use http::uri::Scheme;
use http::{HeaderName, HeaderValue, Method, Request, Response, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::config::Timeouts;
use crate::error::GatewayError;
use crate::plugin::bindings::types;

pub use pool::Body as UpstreamBody;

/// How long an idle `https://` upstream connection is kept (hosted APIs keep
/// theirs open for minutes; a new one costs a TLS handshake).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// How long an idle `http://` upstream connection is kept. Local model
/// servers close idle connections after 5 s (uvicorn, as used by vLLM,
/// Node.js, llama.cpp's server); a request sent on a connection the server
/// is closing at that moment fails without an answer and cannot be sent
/// again (it may have been read). Letting go first avoids the race; a new
/// plain connection costs a TCP handshake.
const PLAIN_IDLE_TIMEOUT: Duration = Duration::from_secs(4);
const POOL_MAX_IDLE_PER_HOST: usize = 1024;

/// Shared client for every provider.
#[derive(Clone)]
pub struct Upstream {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    plain: pool::Pool,
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
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
            .build(https);
        Upstream {
            client,
            plain: pool::Pool::new(timeouts.connect, PLAIN_IDLE_TIMEOUT, POOL_MAX_IDLE_PER_HOST),
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
    ) -> Result<Response<UpstreamBody>, GatewayError> {
        let url = join_url(base_url, &req.path);
        let method = Method::from_bytes(req.method.as_bytes()).map_err(|_| {
            GatewayError::Internal(format!(
                "the provider plugin for {provider} asked for an invalid HTTP method {:?}",
                req.method
            ))
        })?;
        let uri = match Uri::try_from(url.as_str()) {
            Ok(uri) if uri.authority().is_some() => uri,
            Ok(_) => return Err(invalid_url(provider, url, "it has no host".into())),
            Err(e) => return Err(invalid_url(provider, url, e.to_string())),
        };
        let invalid_header = |name: &str| {
            GatewayError::Internal(format!(
                "the provider plugin for {provider} produced an invalid header {name:?}; \
                 check the provider's headers and api-keys in the config"
            ))
        };
        let sent = if uri.scheme() == Some(&Scheme::HTTP) {
            // Plain HTTP: the head is written straight from the plugin's
            // headers, for this pool's connections.
            let authority = host_and_port(&uri);
            let path = uri.path_and_query().map_or("/", |p| p.as_str());
            let head = h1::RequestHead::encode(
                method.as_str(),
                path,
                host_header(&uri, authority),
                &req.headers,
                req.body.len(),
            )
            .map_err(|e| match e {
                h1::HeadError::Header(name) => invalid_header(&name),
                h1::HeadError::Method(m) => GatewayError::Internal(format!(
                    "the provider plugin for {provider} asked for an invalid HTTP method {m:?}"
                )),
            })?;
            let body = req.body;
            futures_util::future::Either::Left(async move {
                self.plain
                    .send(authority, &head, &body)
                    .await
                    .map_err(|e| e.to_string())
            })
        } else {
            let mut request = Request::new(Full::new(Bytes::from(req.body)));
            *request.method_mut() = method;
            let headers = request.headers_mut();
            for h in req.headers {
                let (Ok(name), Ok(value)) = (
                    HeaderName::from_bytes(h.name.as_bytes()),
                    HeaderValue::from_str(&h.value),
                ) else {
                    return Err(invalid_header(&h.name));
                };
                headers.append(name, value);
            }
            *request.uri_mut() = uri;
            futures_util::future::Either::Right(async move {
                match self.client.request(request).await {
                    Ok(resp) => Ok(resp.map(UpstreamBody::from)),
                    Err(e) => Err(error_chain(&e)),
                }
            })
        };
        match tokio::time::timeout(self.timeouts.first_byte, sent).await {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(detail)) => Err(GatewayError::UpstreamUnreachable {
                provider: provider.to_string(),
                url,
                detail,
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
        body: UpstreamBody,
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

fn invalid_url(provider: &str, url: String, detail: String) -> GatewayError {
    GatewayError::UpstreamUnreachable {
        provider: provider.to_string(),
        url,
        detail: format!("invalid upstream URL: {detail}"),
    }
}

/// The authority of `uri` without user info: `host` or `host:port`.
fn host_and_port(uri: &Uri) -> &str {
    let authority = uri.authority().map_or("", |a| a.as_str());
    authority.rsplit_once('@').map_or(authority, |(_, hp)| hp)
}

/// The `Host` header for `uri`, as hyper-util writes it: the host, and the
/// port unless it is the scheme's default.
fn host_header<'a>(uri: &'a Uri, host_and_port: &'a str) -> &'a str {
    let default_port = match uri.scheme_str() {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    };
    match uri.port_u16() {
        Some(p) if Some(p) == default_port => uri.host().unwrap_or(host_and_port),
        _ => host_and_port,
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
    use super::{Uri, host_and_port, host_header, join_url};

    #[test]
    fn host_headers() {
        for (url, authority, host) in [
            (
                "http://127.0.0.1:18090/v1",
                "127.0.0.1:18090",
                "127.0.0.1:18090",
            ),
            ("http://h:80/x", "h:80", "h"),
            ("http://h/x", "h", "h"),
            ("https://h:443/x", "h:443", "h"),
            ("http://h:443/x", "h:443", "h:443"),
            ("http://user:pw@h:8080/x", "h:8080", "h:8080"),
            ("http://[::1]:9/x", "[::1]:9", "[::1]:9"),
            ("http://[::1]/x", "[::1]", "[::1]"),
        ] {
            let uri: Uri = url.parse().unwrap();
            assert_eq!(host_and_port(&uri), authority, "{url}");
            assert_eq!(host_header(&uri, authority), host, "{url}");
        }
    }

    #[test]
    fn joins() {
        assert_eq!(
            join_url("https://api.openai.com/v1", "/chat/completions"),
            "https://api.openai.com/v1/chat/completions"
        );
        assert_eq!(join_url("http://h:1/", "x"), "http://h:1/x");
    }
}
