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
use serde_json::json;
use wasmtime::component::Linker;

use crate::auth::Auth;
use crate::config::Config;
use crate::config::FailMode;
use crate::error::{Dialect, GatewayError, upstream_message};
use crate::plugin::bindings::types;
use crate::plugin::state::StoreState;
use crate::plugin::version::StreamStage;
use crate::plugin::{EngineSettings, Kind, PluginEngine, PluginError, Registry, StreamFormat};
use crate::plugin::{Lease, PluginVersion};
use crate::route::{Route, Routes};
use crate::sse::Framer;
use crate::stream::{Chain, EventStream, Stage};
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
    /// Whether any transform or guardrail reads metadata, client headers.
    stages_read: Reads,
}

impl Snapshot {
    fn new(config: Config, registry: Registry) -> Snapshot {
        let mut stages_read = Reads::default();
        for name in config.transforms.iter().chain(&config.guardrails) {
            // The version kept for roll-back serves if the current one is
            // taken out of service, within this snapshot.
            for version in registry.versions(name) {
                stages_read = stages_read.or(&version.info);
            }
        }
        Snapshot {
            routes: Routes::new(&config),
            auth: Auth::new(&config.api_keys),
            config: Arc::new(config),
            registry,
            stages_read,
        }
    }
}

/// Whether the plugins on a request's path read any metadata, any client
/// header. A request whose plugins all declared they read none is built
/// without them: no pairs and headers made only to be held back from
/// every call.
#[derive(Debug, Default, Clone, Copy)]
struct Reads {
    metadata: bool,
    headers: bool,
}

impl Reads {
    fn or(self, info: &crate::plugin::PluginInfo) -> Reads {
        Reads {
            metadata: self.metadata || info.reads_any_metadata(),
            headers: self.headers || info.reads_any_header(),
        }
    }
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
    /// The config file, when the config came from one (reloads re-read it).
    config_source: Option<std::path::PathBuf>,
    /// Reloads run one at a time.
    pub(crate) reload_lock: std::sync::Mutex<()>,
    last_reload: std::sync::Mutex<Option<crate::reload::ReloadReport>>,
    pub(crate) lockouts: crate::management::Lockouts,
    /// Request and reload counters for `GET /metrics`.
    pub metrics: crate::metrics::Metrics,
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
        // A plugin file that fails to load is reported but does not stop the
        // gateway, unless something the config uses is missing because of it.
        let failed: Vec<String> = failures
            .iter()
            .map(|f| format!("plugin {}: {}", f.origin, f.reason))
            .collect();
        for f in &failed {
            tracing::error!("{f}; it is not loaded (`sluice check` lists every problem)");
        }
        let mut problems = check_providers(&config, &registry);
        problems.extend(check_stages(&config, &registry));
        if !problems.is_empty() {
            problems.extend(failed);
            return Err(StartError { problems });
        }
        let upstream = Upstream::new(&config.timeouts);
        let snapshot = Snapshot::new(config, registry);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        Ok(Arc::new(Gateway {
            config_source: snapshot.config.source.clone(),
            reload_lock: Default::default(),
            last_reload: Default::default(),
            lockouts: Default::default(),
            metrics: Default::default(),
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

    /// The config file this gateway reloads from.
    pub fn config_source(&self) -> Option<&Path> {
        self.config_source.as_deref()
    }

    /// Make a new config and plugin set live. Requests already running keep
    /// the snapshot they hold.
    pub(crate) fn install(&self, config: Config, registry: Registry) {
        self.live.store(Arc::new(Snapshot::new(config, registry)));
    }

    pub(crate) fn record_reload(&self, report: crate::reload::ReloadReport) {
        let load_failures = report
            .problems
            .iter()
            .filter(|p| p.starts_with("plugin "))
            .count();
        self.metrics
            .reload(report.applied, report.problems.len(), load_failures);
        *self.last_reload.lock().unwrap_or_else(|p| p.into_inner()) = Some(report);
    }

    /// The report of the last reload, if any.
    pub fn last_reload(&self) -> Option<crate::reload::ReloadReport> {
        self.last_reload
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The linker plugins are instantiated with (for reloads).
    pub fn linker(&self) -> &Linker<StoreState> {
        &self.linker
    }

    fn next_request_id(&self) -> String {
        let n = self.request_ids.fetch_add(1, Ordering::Relaxed);
        request_id(&self.id_prefix, n)
    }

    /// Handle one client request. Never fails: errors become responses.
    ///
    /// Generic over the request body so the gateway can also be driven
    /// in-process (tests, embedding); the server passes hyper's `Incoming`.
    pub async fn handle<B>(
        self: Arc<Self>,
        req: Request<B>,
        peer: Option<std::net::SocketAddr>,
    ) -> Response<Body>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let started = Instant::now();
        let request_id = self.next_request_id();
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let snap = self.snapshot();
        let dialect = error_dialect(&path);
        let result = match (&method, path.as_str()) {
            (&Method::POST, "/v1/chat/completions" | "/chat/completions") => {
                self.dispatch(&snap, req, Ingress::openai(), &request_id)
                    .await
            }
            (&Method::POST, "/v1/messages") => {
                self.dispatch(&snap, req, Ingress::anthropic(Operation::Chat), &request_id)
                    .await
            }
            (&Method::POST, "/v1/messages/count_tokens") => {
                self.dispatch(
                    &snap,
                    req,
                    Ingress::anthropic(Operation::CountTokens),
                    &request_id,
                )
                .await
            }
            (&Method::POST, p) if p.starts_with("/v1beta/models/") => match gemini_route(p) {
                Some(ingress) => self.dispatch(&snap, req, ingress, &request_id).await,
                None => Err(GatewayError::NotFound {
                    method: method.to_string(),
                    path: path.clone(),
                }),
            },
            (&Method::GET, "/v1/models" | "/models") => self.models(&snap, req.headers()),
            (&Method::GET | &Method::HEAD, "/health" | "/healthz") => Ok(self.health(&snap)),
            (&Method::GET, "/metrics") => {
                let mut r = Response::new(full(self.metrics.render(&snap.registry)));
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    ),
                );
                Ok(r)
            }
            (_, "/v1/chat/completions" | "/chat/completions" | "/v1/messages") => {
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
            (_, p) if p.starts_with("/v0/management/") => self.management(&snap, req, peer).await,
            _ => Err(GatewayError::NotFound {
                method: method.to_string(),
                path: path.clone(),
            }),
        };
        let mut resp = match result {
            Ok(r) => r,
            Err(e) => e.into_response(dialect).map(full),
        };
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            resp.headers_mut().insert("x-request-id", v);
        }
        let elapsed = started.elapsed();
        self.metrics.request(
            route_label(&path),
            resp.status().as_u16(),
            elapsed.as_secs_f64(),
        );
        tracing::debug!(%method, %path, status = resp.status().as_u16(), request_id,
            micros = elapsed.as_micros() as u64, "request");
        resp
    }

    /// A model request in any client dialect, through every stage.
    async fn dispatch<B>(
        &self,
        snap: &Snapshot,
        req: Request<B>,
        ingress: Ingress,
        request_id: &str,
    ) -> Result<Response<Body>, GatewayError>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let client = ingress.dialect;
        if snap.auth.check(req.headers()).is_none()
            && !(client == Dialect::Gemini && snap.auth.check_query(req.uri().query()).is_some())
        {
            return Err(GatewayError::Unauthorized);
        }
        // Token counting carries no conversation to transform or check.
        let (transforms, guardrails): (&[String], &[String]) =
            if ingress.operation == Operation::CountTokens {
                (&[], &[])
            } else {
                (&snap.config.transforms, &snap.config.guardrails)
            };
        let (parts, body) = req.into_parts();
        let body = read_body(body, &parts.headers, snap.config.limits.max_request_body).await?;
        let (model, stream) = match &ingress.model {
            Some(m) => (m.clone(), ingress.stream),
            None => {
                let peek = crate::peek::peek(&body).map_err(|e| {
                    GatewayError::BadRequest(match e.classify() {
                        // JSON, but `model` or `stream` of the wrong type or repeated.
                        serde_json::error::Category::Data => format!(
                            "the request body is not a valid {} request ({e}); it must be a JSON \
                             object with `model` a string and `stream`, if given, true or false, \
                             each given once",
                            client.title()
                        ),
                        _ => format!(
                            "request body is not valid JSON ({e}); send the {} request as one JSON object",
                            client.title()
                        ),
                    })
                })?;
                let Some(model) = peek.model else {
                    return Err(GatewayError::BadRequest(
                        "the request has no \"model\"; say which model to use (GET /v1/models lists them)"
                            .into(),
                    ));
                };
                (model.into_owned(), peek.stream.unwrap_or(false))
            }
        };
        let (route, suffix) = resolve_model(&snap.routes, &model)?;
        let provider = &route.provider;
        let plugin = snap.registry.provider(&provider.plugin).ok_or_else(|| {
            if snap.registry.is_out_of_service(&provider.plugin) {
                GatewayError::PluginOutOfService {
                    plugin: provider.plugin.clone(),
                }
            } else {
                GatewayError::PluginMissing {
                    provider: provider.name.clone(),
                    plugin: provider.plugin.clone(),
                }
            }
        })?;
        let provider_dialect = plugin.info.dialect.as_str();
        let passthrough = provider_dialect == client.as_str();

        if ingress.operation == Operation::CountTokens && provider_dialect != "anthropic" {
            return Ok(json_response(
                StatusCode::OK,
                serde_json::to_vec(&json!({"input_tokens": estimate_tokens(&body)}))
                    .unwrap_or_default(),
            ));
        }

        // Ingress: the client's dialect → the hub, unless passing through.
        let decoder = if client != Dialect::OpenAi && !passthrough {
            let ing = snap.registry.ingress(client.as_str()).ok_or_else(|| {
                GatewayError::Misconfigured(format!(
                    "no plugin serves {} clients (a `dialect` plugin describing dialect {:?}); \
                     check that the built-in {} plugin loaded",
                    client.as_str(),
                    client.as_str(),
                    client.as_str()
                ))
            })?;
            Some(ing.clone())
        } else {
            None
        };
        let mut reads = if transforms.is_empty() && guardrails.is_empty() {
            Reads::default()
        } else {
            snap.stages_read
        }
        .or(&plugin.info);
        if let Some(d) = &decoder {
            reads = reads.or(&d.info);
        }
        let mut metadata = Vec::new();
        if reads.metadata {
            metadata = vec![
                ("request-id".to_string(), request_id.to_string()),
                ("provider".to_string(), provider.name.clone()),
                ("provider-dialect".to_string(), provider_dialect.to_string()),
                (
                    "operation".to_string(),
                    ingress.operation.as_str().to_string(),
                ),
            ];
            if let Some(s) = suffix {
                metadata.push(("model-suffix".to_string(), s));
            }
        }
        let mut req = types::Request {
            model: route.upstream_model.to_string(),
            requested_model: model,
            stream,
            client_dialect: client.as_str().to_string(),
            body_dialect: client.as_str().to_string(),
            headers: if reads.headers {
                plugin_headers(&parts.headers)
            } else {
                Vec::new()
            },
            body: body.to_vec(),
            metadata,
        };
        if let Some(ing) = &decoder {
            let mut lease = ing.lease()?;
            req.body = lease.decode_request(&mut req)?;
            req.body_dialect = "openai".into();
        }

        // Transforms, then guardrails, on the request.
        for name in transforms {
            if let Some(b) = run_stage(snap, Kind::Transform, name, Hook::Request, |l| {
                l.transform_request(&mut req)
            })? {
                req.body = b;
            }
        }
        for name in guardrails {
            if let Some(v) = run_stage(snap, Kind::Guardrail, name, Hook::Request, |l| {
                l.check_request(&mut req)
            })? {
                apply_verdict(name, v, &mut req.body)?;
            }
        }

        // The provider adapter.
        // The instance goes back to the pool while the upstream works: a
        // slow upstream must not hold plugin instances.
        let prepared = plugin.lease()?.prepare(&mut req, provider.target())?;
        let up = match prepared {
            types::Prepared::Respond(local) => {
                let status = StatusCode::from_u16(local.status).unwrap_or(StatusCode::OK);
                if !status.is_success() {
                    return Ok(json_response(status, local.body));
                }
                if req.stream {
                    let chain =
                        self.stream_chain(snap, None, decoder.as_ref(), &mut req, client)?;
                    return Ok(sse_response(EventStream::local(
                        local.events,
                        chain,
                        provider.name.clone(),
                        client,
                    )));
                }
                let out = self.finish_body(
                    snap,
                    (transforms, guardrails),
                    decoder.as_ref(),
                    &mut req,
                    local.body,
                )?;
                return Ok(json_response(StatusCode::OK, out));
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
        if req.stream && ingress.operation == Operation::Chat {
            let max = snap.config.limits.max_event_size;
            let framer = match plugin.info.stream_format {
                StreamFormat::Sse => Framer::sse(max),
                StreamFormat::Ndjson => Framer::ndjson(max),
            };
            let chain =
                self.stream_chain(snap, Some(plugin), decoder.as_ref(), &mut req, client)?;
            return Ok(sse_response(EventStream::upstream(
                body,
                framer,
                chain,
                provider.name.clone(),
                client,
                self.upstream.idle_timeout(),
            )));
        }
        let bytes = self
            .upstream
            .read_body(&provider.name, body, MAX_UPSTREAM_BODY)
            .await?;
        let hub = if plugin.info.pass_through.response {
            bytes.to_vec()
        } else {
            let upstream_resp = types::UpstreamResponse {
                status: parts.status.as_u16(),
                headers: plugin_headers(&parts.headers),
                body: bytes.to_vec(),
            };
            plugin.lease()?.map_response(&mut req, &upstream_resp)?
        };
        let out = self.finish_body(
            snap,
            (transforms, guardrails),
            decoder.as_ref(),
            &mut req,
            hub,
        )?;
        Ok(json_response(StatusCode::OK, out))
    }

    /// A whole answer after the adapter: transforms, guardrails, then the
    /// client's dialect.
    fn finish_body(
        &self,
        snap: &Snapshot,
        (transforms, guardrails): (&[String], &[String]),
        decoder: Option<&Arc<PluginVersion>>,
        req: &mut types::Request,
        mut body: Vec<u8>,
    ) -> Result<Vec<u8>, GatewayError> {
        for name in transforms {
            if let Some(b) = run_stage(snap, Kind::Transform, name, Hook::Response, |l| {
                l.transform_response(req, &body)
            })? {
                body = b;
            }
        }
        for name in guardrails {
            if let Some(v) = run_stage(snap, Kind::Guardrail, name, Hook::Response, |l| {
                l.check_response(req, &body)
            })? {
                apply_verdict(name, v, &mut body)?;
            }
        }
        if let Some(dec) = decoder {
            body = dec.lease()?.encode_response(req, &body)?;
        }
        Ok(body)
    }

    /// The per-stream stages: the adapter's mapper (`None` when the events
    /// are already hub chunks from a local answer), transforms, guards, and
    /// the client's encoder.
    fn stream_chain(
        &self,
        snap: &Snapshot,
        adapter: Option<&Arc<PluginVersion>>,
        decoder: Option<&Arc<PluginVersion>>,
        req: &mut types::Request,
        client: Dialect,
    ) -> Result<Chain, GatewayError> {
        let body_dialect = match req.body_dialect.as_str() {
            "anthropic" => Dialect::Anthropic,
            "gemini" => Dialect::Gemini,
            _ => Dialect::OpenAi,
        };
        let mut chain = Chain::default();
        if let Some(adapter) = adapter {
            if adapter.info.pass_through.stream {
                chain.pass_hub_events();
            } else {
                chain.push_stage(Stage::new(
                    adapter,
                    StreamStage::Adapter,
                    req,
                    body_dialect,
                    false,
                )?);
            }
        }
        for name in &snap.config.transforms {
            let t = snap
                .registry
                .get(name)
                .ok_or_else(|| missing_stage("transform", name))?;
            if t.info.pass_through.stream {
                continue;
            }
            let open = t.settings.on_error == FailMode::Open;
            chain.push_stage(Stage::new(
                t,
                StreamStage::Transform,
                req,
                body_dialect,
                open,
            )?);
        }
        for name in &snap.config.guardrails {
            let g = snap
                .registry
                .get(name)
                .ok_or_else(|| missing_stage("guardrail", name))?;
            if g.info.pass_through.stream {
                continue;
            }
            let open = g.settings.on_error == FailMode::Open;
            chain.push_stage(Stage::new(g, StreamStage::Guard, req, body_dialect, open)?);
        }
        if let Some(dec) = decoder {
            chain.push_stage(Stage::new(dec, StreamStage::Ingress, req, client, false)?);
        }
        Ok(chain)
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

async fn read_body<B>(body: B, headers: &HeaderMap, limit: usize) -> Result<Bytes, GatewayError>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
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

/// Client headers a plugin may see: everything but credentials, hop-by-hop
/// headers, and what only concerns the client's own exchange with the
/// gateway: `content-type` and `accept` (a plugin's body is JSON by
/// contract, and `stream` says how the answer goes), `accept-encoding`, and
/// the OpenAI and Anthropic SDKs' `x-stainless-*` (the SDK's language, OS,
/// retry count, timeout). Each header costs every plugin call ~2,000
/// instructions (two strings allocated in the guest and freed again), and
/// those SDKs send a dozen of them.
fn plugin_headers(headers: &HeaderMap) -> Vec<types::Header> {
    headers
        .iter()
        .filter(|(name, _)| {
            let name = name.as_str();
            !(matches!(
                name,
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
                    | "accept-encoding"
                    | "content-type"
                    | "accept"
            ) || name.starts_with("x-stainless-"))
        })
        .filter_map(|(name, value)| {
            Some(types::Header {
                name: name.as_str().to_string(),
                value: value.to_str().ok()?.to_string(),
            })
        })
        .collect()
}

/// `req_{prefix}{n:08x}`, written directly: with `format!` this, the first
/// thing every request does, took five times as many instructions.
fn request_id(prefix: &str, n: u64) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digits = ((64 - n.leading_zeros()).div_ceil(4) as usize).max(8);
    let mut id = String::with_capacity(4 + prefix.len() + digits);
    id.push_str("req_");
    id.push_str(prefix);
    for i in (0..digits).rev() {
        id.push(HEX[((n >> (4 * i)) & 0xf) as usize] as char);
    }
    id
}

pub(crate) fn json_response(status: StatusCode, body: Vec<u8>) -> Response<Body> {
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn sse_response(body: EventStream) -> Response<Body> {
    let mut resp = Response::new(body.boxed_unsync());
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// Which whole-body hook of a transform or guardrail a call is.
#[derive(Clone, Copy)]
enum Hook {
    Request,
    Response,
}

/// Call the transform or guardrail `name`. `None` (the body goes on
/// unchanged) when the plugin passes `hook` through, or when it faults and
/// is fail-open (the failure is logged); otherwise a failure is the
/// request's error.
fn run_stage<T>(
    snap: &Snapshot,
    kind: Kind,
    name: &str,
    hook: Hook,
    call: impl FnOnce(&mut Lease) -> Result<T, crate::plugin::CallError>,
) -> Result<Option<T>, GatewayError> {
    let plugin = snap
        .registry
        .get(name)
        .ok_or_else(|| missing_stage(kind.as_str(), name))?;
    let skip = match hook {
        Hook::Request => plugin.info.pass_through.request,
        Hook::Response => plugin.info.pass_through.response,
    };
    if skip {
        return Ok(None);
    }
    match plugin.lease().and_then(|mut l| call(&mut l)) {
        Ok(v) => Ok(Some(v)),
        Err(e) if plugin.settings.on_error == FailMode::Open && e.is_fault() => {
            tracing::warn!(plugin = %name, error = %e,
                "fail-open {} failed; the body passes on unchanged", kind.as_str());
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// A guardrail's verdict applied to a body.
fn apply_verdict(
    name: &str,
    verdict: types::Verdict,
    body: &mut Vec<u8>,
) -> Result<(), GatewayError> {
    match verdict {
        types::Verdict::Allow => Ok(()),
        types::Verdict::Deny(message) => Err(GatewayError::GuardrailDenied {
            guardrail: name.to_string(),
            message,
        }),
        types::Verdict::Rewrite(b) => {
            *body = b;
            Ok(())
        }
    }
}

fn missing_stage(kind: &str, name: &str) -> GatewayError {
    GatewayError::Misconfigured(format!(
        "the {kind} plugin {name:?} named in the config is not loaded; check plugins.dir and the log"
    ))
}

/// Which client API a request speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    Chat,
    CountTokens,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Chat => "chat",
            Operation::CountTokens => "count-tokens",
        }
    }
}

/// How a request came in: its dialect, and for APIs that put them in the
/// URL (Gemini), the model and whether it streams.
struct Ingress {
    dialect: Dialect,
    operation: Operation,
    model: Option<String>,
    stream: bool,
}

impl Ingress {
    fn openai() -> Self {
        Ingress {
            dialect: Dialect::OpenAi,
            operation: Operation::Chat,
            model: None,
            stream: false,
        }
    }
    fn anthropic(operation: Operation) -> Self {
        Ingress {
            dialect: Dialect::Anthropic,
            operation,
            model: None,
            stream: false,
        }
    }
}

/// `/v1beta/models/{model}:generateContent` or `:streamGenerateContent`.
fn gemini_route(path: &str) -> Option<Ingress> {
    let rest = path.strip_prefix("/v1beta/models/")?;
    let (model, method) = rest.rsplit_once(':')?;
    let stream = match method {
        "generateContent" => false,
        "streamGenerateContent" => true,
        _ => return None,
    };
    Some(Ingress {
        dialect: Dialect::Gemini,
        operation: Operation::Chat,
        model: Some(model.to_string()),
        stream,
    })
}

/// The `route` label of a path (a fixed set, so label cardinality stays bounded).
fn route_label(path: &str) -> &'static str {
    match path {
        "/v1/chat/completions" | "/chat/completions" => "chat_completions",
        "/v1/messages" => "messages",
        "/v1/messages/count_tokens" => "count_tokens",
        "/v1/models" | "/models" => "models",
        "/health" | "/healthz" => "health",
        "/metrics" => "metrics",
        p if p.starts_with("/v1beta/models/") => "gemini",
        p if p.starts_with("/v0/management/") => "management",
        _ => "other",
    }
}

/// The error shape for a path.
fn error_dialect(path: &str) -> Dialect {
    if path.starts_with("/v1/messages") {
        Dialect::Anthropic
    } else if path.starts_with("/v1beta/") {
        Dialect::Gemini
    } else {
        Dialect::OpenAi
    }
}

/// A model name, or `name(suffix)` (a thinking level or budget), to a route.
fn resolve_model<'r>(
    routes: &'r Routes,
    model: &str,
) -> Result<(&'r Route, Option<String>), GatewayError> {
    if let Some(r) = routes.get(model) {
        return Ok((r, None));
    }
    if let Some(open) = model.rfind('(')
        && model.ends_with(')')
        && let Some(r) = routes.get(model[..open].trim_end())
    {
        let suffix = model[open + 1..model.len() - 1].trim().to_string();
        return Ok((r, Some(suffix)));
    }
    Err(GatewayError::ModelNotFound {
        model: model.to_string(),
    })
}

/// The documented estimate for token counting when the provider has no
/// counting endpoint: a quarter of the characters of every string in the
/// request (messages, system prompt, tools), rounded up.
fn estimate_tokens(body: &[u8]) -> u64 {
    fn chars(v: &serde_json::Value) -> u64 {
        match v {
            serde_json::Value::String(s) => s.chars().count() as u64,
            serde_json::Value::Array(a) => a.iter().map(chars).sum(),
            serde_json::Value::Object(o) => o
                .iter()
                .filter(|(k, _)| k.as_str() != "model")
                .map(|(_, v)| chars(v))
                .sum(),
            _ => 0,
        }
    }
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    chars(&v).div_ceil(4).max(1)
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

/// Every transform and guardrail the config names must be loaded, with the
/// right kind.
pub fn check_stages(config: &Config, registry: &Registry) -> Vec<String> {
    let mut problems = Vec::new();
    for (key, kind, names) in [
        ("transforms", Kind::Transform, &config.transforms),
        ("guardrails", Kind::Guardrail, &config.guardrails),
    ] {
        for (i, name) in names.iter().enumerate() {
            match registry.iter_all().find(|p| &p.info.name == name) {
                None => problems.push(format!(
                    "{key}[{i}]: no plugin named {name:?} is loaded; put its .wasm in plugins.dir \
                     or remove it from {key}"
                )),
                Some(p) if p.info.kind != kind => problems.push(format!(
                    "{key}[{i}]: plugin {name:?} is a {} plugin, not a {}",
                    p.info.kind.as_str(),
                    kind.as_str()
                )),
                Some(_) => {}
            }
        }
    }
    problems
}

/// Every provider must name a loaded provider plugin.
pub fn check_providers(config: &Config, registry: &Registry) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, p) in config.providers.iter().enumerate() {
        match registry.iter_all().find(|x| x.info.name == p.plugin) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_zero_padded_hex() {
        for n in [
            0,
            1,
            0xabc,
            0xffff_ffff,
            0x1_0000_0000,
            0x1234_5678_9abc,
            u64::MAX,
        ] {
            assert_eq!(request_id("5f3a", n), format!("req_5f3a{n:08x}"), "{n}");
        }
    }

    #[test]
    fn plugins_see_client_headers_but_not_credentials_or_the_client_connections_own() {
        let mut h = HeaderMap::new();
        for (name, value) in [
            ("authorization", "Bearer sk-client"),
            ("x-api-key", "sk-client"),
            ("host", "127.0.0.1:8317"),
            ("content-length", "42"),
            ("accept-encoding", "gzip, deflate"),
            ("x-stainless-os", "Linux"),
            ("x-stainless-retry-count", "0"),
            ("content-type", "application/json"),
            ("accept", "application/json"),
            ("user-agent", "OpenAI/Python 1.99.9"),
            ("anthropic-beta", "tools-2024-04-04"),
            ("x-request-source", "batch"),
        ] {
            h.insert(
                header::HeaderName::from_static(name),
                header::HeaderValue::from_static(value),
            );
        }
        let seen: Vec<(String, String)> = plugin_headers(&h)
            .into_iter()
            .map(|x| (x.name, x.value))
            .collect();
        let want = [
            ("user-agent", "OpenAI/Python 1.99.9"),
            ("anthropic-beta", "tools-2024-04-04"),
            ("x-request-source", "batch"),
        ];
        assert_eq!(
            seen,
            want.map(|(n, v)| (n.to_string(), v.to_string())).to_vec()
        );
    }
}
