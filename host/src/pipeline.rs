//! The gateway: what is live (config, plugins, routes), and `handle`, which
//! takes one client request through every stage in order:
//!
//! 1. **limits** — the request body is read up to `limits.max-request-body`.
//! 2. **auth** — `Authorization: Bearer` / `x-api-key` against `api-keys`.
//! 3. **route** — the model name or alias → provider, upstream model, credential.
//! 4. **provider adapter** — the provider plugin's `prepare` builds the
//!    upstream request (path, headers, auth, body) or answers locally.
//! 5. **upstream** — the native pooled client sends it (timeouts apply).
//! 6. **response** — non-streaming: the adapter's `map-response`; streaming:
//!    native framing, then the adapter's stream mapper per event, then SSE
//!    to the client as each event is mapped.
//!
//! Errors at any stage become a response in one place ([`GatewayError`]).
//! Everything live is one [`Snapshot`], swapped whole on reload; a request
//! keeps the snapshot (and so the plugin versions) it started with.

use std::borrow::Cow;
use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::json;
use wasmtime::component::Linker;

use crate::auth::Auth;
use crate::config::Config;
use crate::error::{Dialect, GatewayError, upstream_message};
use crate::plugin::bindings::types;
use crate::plugin::state::StoreState;
use crate::plugin::{EngineSettings, Kind, PluginEngine, PluginError, Registry, StreamFormat};
use crate::route::{Route, Routes};
use crate::sse::Framer;
use crate::stream::{EventStream, Mapper, local_stream};
use crate::upstream::Upstream;

/// The response body type of every route.
pub type Body = UnsyncBoxBody<Bytes, Infallible>;

/// Largest upstream (non-streaming) response body read into memory.
const MAX_UPSTREAM_BODY: usize = 64 << 20;

fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).boxed_unsync()
}

/// Everything that is live at one moment. Immutable; replaced whole.
pub struct Snapshot {
    pub config: Arc<Config>,
    pub registry: Registry,
    pub routes: Routes,
    pub auth: Auth,
}

/// A plugin that failed to load, and why.
#[derive(Debug, Clone)]
pub struct LoadFailure {
    pub origin: String,
    pub reason: String,
}

/// The running gateway.
pub struct Gateway {
    live: ArcSwap<Snapshot>,
    pub engine: Arc<PluginEngine>,
    linker: Linker<StoreState>,
    upstream: Upstream,
    request_ids: AtomicU64,
    id_prefix: String,
}

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
#[error("{}", .problems.join("\n"))]
pub struct StartError {
    pub problems: Vec<String>,
}

impl Gateway {
    /// Build the engine, load every plugin, check that each provider's
    /// plugin is there, and make it all live.
    pub fn start(config: Config) -> Result<Arc<Gateway>, StartError> {
        let engine = PluginEngine::new(&engine_settings(&config)).map_err(|e| StartError {
            problems: vec![e.to_string()],
        })?;
        let linker = crate::plugin::version::linker(&engine.engine).map_err(|e| StartError {
            problems: vec![e.to_string()],
        })?;
        let (registry, failures) = load_plugins(&config, &engine, &linker);
        let mut problems: Vec<String> = failures
            .iter()
            .map(|f| format!("plugin {}: {}", f.origin, f.reason))
            .collect();
        problems.extend(check_providers(&config, &registry));
        if !problems.is_empty() {
            return Err(StartError { problems });
        }
        let upstream = Upstream::new(&config.timeouts);
        let snapshot = Snapshot {
            routes: Routes::new(&config),
            auth: Auth::new(&config.api_keys),
            config: Arc::new(config),
            registry,
        };
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        Ok(Arc::new(Gateway {
            live: ArcSwap::from_pointee(snapshot),
            engine,
            linker,
            upstream,
            request_ids: AtomicU64::new(0),
            id_prefix: format!("{:x}", (nanos as u64) & 0xffff_ffff),
        }))
    }

    /// What is live now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.live.load_full()
    }

    /// The linker plugins are instantiated with (for reloads).
    pub fn linker(&self) -> &Linker<StoreState> {
        &self.linker
    }

    fn next_request_id(&self) -> String {
        let n = self.request_ids.fetch_add(1, Ordering::Relaxed);
        format!("req_{}{:08x}", self.id_prefix, n)
    }

    /// Handle one client request. Never fails: errors become responses.
    pub async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<Body> {
        let started = Instant::now();
        let request_id = self.next_request_id();
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let snap = self.snapshot();
        let result = match (method.clone(), path.as_str()) {
            (Method::POST, "/v1/chat/completions" | "/chat/completions") => {
                self.chat(&snap, req, &request_id).await
            }
            (Method::GET, "/v1/models" | "/models") => self.models(&snap, req.headers()),
            (Method::GET | Method::HEAD, "/health" | "/healthz") => Ok(self.health(&snap)),
            (_, "/v1/chat/completions" | "/chat/completions") => {
                Err(GatewayError::MethodNotAllowed {
                    method: method.to_string(),
                    path: path.clone(),
                    allowed: "POST",
                })
            }
            (_, "/v1/models" | "/models" | "/health" | "/healthz") => {
                Err(GatewayError::MethodNotAllowed {
                    method: method.to_string(),
                    path: path.clone(),
                    allowed: "GET",
                })
            }
            _ => Err(GatewayError::NotFound {
                method: method.to_string(),
                path: path.clone(),
            }),
        };
        let mut resp = match result {
            Ok(r) => r,
            Err(e) => e.into_response(Dialect::OpenAi).map(full),
        };
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            resp.headers_mut().insert("x-request-id", v);
        }
        tracing::debug!(%method, %path, status = resp.status().as_u16(), request_id,
            micros = started.elapsed().as_micros() as u64, "request");
        resp
    }

    /// `POST /v1/chat/completions`.
    async fn chat(
        &self,
        snap: &Snapshot,
        req: Request<Incoming>,
        request_id: &str,
    ) -> Result<Response<Body>, GatewayError> {
        if snap.auth.check(req.headers()).is_none() {
            return Err(GatewayError::Unauthorized);
        }
        let (parts, body) = req.into_parts();
        let body = read_body(body, &parts.headers, snap.config.limits.max_request_body).await?;
        let peek: Peek = serde_json::from_slice(&body).map_err(|e| {
            GatewayError::BadRequest(format!(
                "request body is not valid JSON ({e}); send an OpenAI chat completions request"
            ))
        })?;
        let Some(model) = peek.model else {
            return Err(GatewayError::BadRequest(
                "the request has no \"model\"; say which model to use (GET /v1/models lists them)"
                    .into(),
            ));
        };
        let route = snap
            .routes
            .get(&model)
            .ok_or_else(|| GatewayError::ModelNotFound {
                model: model.to_string(),
            })?;
        let stream = peek.stream.unwrap_or(false);
        let envelope = types::Request {
            model: route.upstream_model.to_string(),
            requested_model: model.to_string(),
            stream,
            client_dialect: "openai".into(),
            body_dialect: "openai".into(),
            headers: plugin_headers(&parts.headers),
            body: body.to_vec(),
            metadata: vec![
                ("request-id".into(), request_id.to_string()),
                ("provider".into(), route.provider.name.clone()),
            ],
        };
        self.provider_call(snap, route, envelope).await
    }

    /// Stages 4–6 for one routed request.
    async fn provider_call(
        &self,
        snap: &Snapshot,
        route: &Route,
        req: types::Request,
    ) -> Result<Response<Body>, GatewayError> {
        let provider = &route.provider;
        let plugin = snap.registry.provider(&provider.plugin).ok_or_else(|| {
            GatewayError::PluginMissing {
                provider: provider.name.clone(),
                plugin: provider.plugin.clone(),
            }
        })?;
        let mut lease = plugin.lease()?;
        let prepared = lease.prepare(&req, &provider.target())?;
        let up = match prepared {
            types::Prepared::Respond(local) => {
                return Ok(local_response(local, req.stream));
            }
            types::Prepared::Forward(up) => up,
        };
        let resp = self
            .upstream
            .send(&provider.name, &provider.base_url, up)
            .await?;
        let (parts, body) = resp.into_parts();
        if !parts.status.is_success() {
            let bytes = self
                .upstream
                .read_body(&provider.name, body, MAX_UPSTREAM_BODY)
                .await
                .unwrap_or_default();
            return Err(GatewayError::Upstream {
                provider: provider.name.clone(),
                model: route.upstream_model.to_string(),
                status: parts.status.as_u16(),
                message: upstream_message(&bytes),
                retry_after: parts.headers.get(header::RETRY_AFTER).cloned(),
            });
        }
        if req.stream {
            let max = snap.config.limits.max_event_size;
            let framer = match plugin.info.stream_format {
                StreamFormat::Sse => Framer::sse(max),
                StreamFormat::Ndjson => Framer::ndjson(max),
            };
            let mapper = Mapper::new(lease, &req)?;
            let body = EventStream::new(
                body,
                framer,
                mapper,
                provider.name.clone(),
                self.upstream.idle_timeout(),
            );
            let mut resp = Response::new(body.boxed_unsync());
            let h = resp.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            return Ok(resp);
        }
        let bytes = self
            .upstream
            .read_body(&provider.name, body, MAX_UPSTREAM_BODY)
            .await?;
        let upstream_resp = types::UpstreamResponse {
            status: parts.status.as_u16(),
            headers: plugin_headers(&parts.headers),
            body: bytes.to_vec(),
        };
        let out = lease.map_response(&req, &upstream_resp)?;
        Ok(json_response(StatusCode::OK, out))
    }

    /// `GET /v1/models`: every model name and alias, OpenAI list shape.
    fn models(&self, snap: &Snapshot, headers: &HeaderMap) -> Result<Response<Body>, GatewayError> {
        if snap.auth.check(headers).is_none() {
            return Err(GatewayError::Unauthorized);
        }
        let data: Vec<_> = snap
            .routes
            .listing()
            .iter()
            .map(
                |(id, owner)| json!({"id": id, "object": "model", "created": 0, "owned_by": owner}),
            )
            .collect();
        Ok(json_response(
            StatusCode::OK,
            serde_json::to_vec(&json!({"object": "list", "data": data})).unwrap_or_default(),
        ))
    }

    /// `GET /health`: liveness plus readiness.
    fn health(&self, snap: &Snapshot) -> Response<Body> {
        let providers: Vec<_> = snap
            .routes
            .providers()
            .iter()
            .map(|p| {
                json!({
                    "name": p.name,
                    "plugin": p.plugin,
                    "ready": snap.registry.provider(&p.plugin).is_some(),
                })
            })
            .collect();
        let plugins: Vec<_> = snap
            .registry
            .iter()
            .map(|p| {
                json!({
                    "name": p.info.name,
                    "version": p.info.version,
                    "kind": p.info.kind.as_str(),
                })
            })
            .collect();
        let ready = providers.iter().all(|p| p["ready"] == true);
        let body = json!({
            "status": if ready { "ok" } else { "degraded" },
            "ready": ready,
            "plugins": plugins,
            "providers": providers,
            "client_auth": snap.auth.enabled(),
        });
        let status = if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        json_response(status, serde_json::to_vec(&body).unwrap_or_default())
    }
}

/// The two fields the host reads itself; the rest is the plugins' business.
#[derive(Deserialize)]
struct Peek<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    stream: Option<bool>,
}

async fn read_body(
    body: Incoming,
    headers: &HeaderMap,
    limit: usize,
) -> Result<Bytes, GatewayError> {
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > limit as u64
    {
        return Err(GatewayError::PayloadTooLarge { limit });
    }
    match Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            Err(GatewayError::PayloadTooLarge { limit })
        }
        Err(e) => Err(GatewayError::BadRequest(format!(
            "could not read the request body: {e}"
        ))),
    }
}

/// Client headers a plugin may see: everything but credentials and
/// hop-by-hop headers.
fn plugin_headers(headers: &HeaderMap) -> Vec<types::Header> {
    headers
        .iter()
        .filter(|(name, _)| {
            !matches!(
                name.as_str(),
                "authorization"
                    | "x-api-key"
                    | "proxy-authorization"
                    | "cookie"
                    | "host"
                    | "content-length"
                    | "connection"
                    | "keep-alive"
                    | "te"
                    | "transfer-encoding"
                    | "upgrade"
                    | "x-goog-api-key"
            )
        })
        .filter_map(|(name, value)| {
            Some(types::Header {
                name: name.as_str().to_string(),
                value: value.to_str().ok()?.to_string(),
            })
        })
        .collect()
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response<Body> {
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn local_response(local: types::LocalResponse, stream: bool) -> Response<Body> {
    let status = StatusCode::from_u16(local.status).unwrap_or(StatusCode::OK);
    if stream && status.is_success() {
        let mut resp = Response::new(full(local_stream(local.events)));
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        resp
    } else {
        json_response(status, local.body)
    }
}

/// Engine settings from the config: the pool must fit the largest memory
/// limit of any plugin.
pub fn engine_settings(config: &Config) -> EngineSettings {
    let max_memory = config
        .plugins
        .overrides
        .keys()
        .map(|name| config.plugins.settings_for(name).memory_limit)
        .chain(std::iter::once(config.plugins.defaults.memory_limit))
        .max()
        .unwrap_or(config.plugins.defaults.memory_limit);
    EngineSettings {
        max_instances: config.plugins.max_instances,
        max_memory,
        cache_dir: config.plugins.cache_dir.clone(),
    }
}

/// Load the built-in plugins, then every `.wasm` in `plugins.dir` (a file
/// overrides a built-in of the same name). Failures are returned, not fatal
/// here: the caller decides.
pub fn load_plugins(
    config: &Config,
    engine: &PluginEngine,
    linker: &Linker<StoreState>,
) -> (Registry, Vec<LoadFailure>) {
    let mut registry = Registry::default();
    let mut failures = Vec::new();
    let settings_for = |name: &str| config.plugins.settings_for(name);
    for (name, bytes) in crate::builtin::PLUGINS {
        let origin = format!("builtin:{name}");
        match crate::plugin::version::load(engine, linker, bytes, &origin, &settings_for) {
            Ok(p) => {
                registry.insert(p);
            }
            Err(e) => failures.push(LoadFailure {
                origin,
                reason: e.to_string(),
            }),
        }
    }
    if let Some(dir) = &config.plugins.dir {
        match plugin_files(dir) {
            Ok(files) => {
                for path in files {
                    let origin = path.display().to_string();
                    let loaded = std::fs::read(&path)
                        .map_err(|e| PluginError::Invalid(format!("could not read the file: {e}")))
                        .and_then(|bytes| {
                            crate::plugin::version::load(engine, linker, &bytes, &origin, &settings_for)
                        });
                    match loaded {
                        Ok(p) => {
                            tracing::info!(plugin = %p.info.name, version = %p.info.version,
                                kind = p.info.kind.as_str(), file = %origin, "loaded plugin");
                            if let Some(old) = registry.insert(p) {
                                tracing::info!(plugin = %old.info.name, replaced = %old.info.origin,
                                    "a plugin file overrides the plugin of the same name");
                            }
                        }
                        Err(e) => failures.push(LoadFailure {
                            origin,
                            reason: e.to_string(),
                        }),
                    }
                }
            }
            Err(e) => failures.push(LoadFailure {
                origin: dir.display().to_string(),
                reason: format!(
                    "could not read the plugin directory (plugins.dir): {e}; create it or fix the path"
                ),
            }),
        }
    }
    (registry, failures)
}

/// `.wasm` files directly in `dir`, sorted by name.
pub fn plugin_files(dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wasm") && p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// Every provider must name a loaded provider plugin.
pub fn check_providers(config: &Config, registry: &Registry) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, p) in config.providers.iter().enumerate() {
        match registry.get(&p.plugin) {
            None => {
                let known: Vec<_> = registry
                    .iter()
                    .filter(|x| x.info.kind == Kind::Provider)
                    .map(|x| x.info.name.as_str())
                    .collect();
                problems.push(format!(
                    "providers[{i}].plugin: no provider plugin named {:?} is loaded (loaded: {}); \
                     put its .wasm in plugins.dir or fix the name",
                    p.plugin,
                    known.join(", ")
                ));
            }
            Some(x) if x.info.kind != Kind::Provider => problems.push(format!(
                "providers[{i}].plugin: plugin {:?} is a {} plugin, not a provider",
                p.plugin,
                x.info.kind.as_str()
            )),
            Some(_) => {}
        }
    }
    problems
}
