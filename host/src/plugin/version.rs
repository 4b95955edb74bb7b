//! One loaded plugin version: its `InstancePre`, a pool of warm instances,
//! and [`Lease`], through which a request calls the plugin.
//!
//! Instance strategy (per plugin, `instances:` in the config):
//! - `reuse` (default): a bounded pool of warm instances. A request takes
//!   one, calls it, and gives it back. An instance is never given back after
//!   a trap, after `max-uses` calls, or once its memory grew past
//!   `recycle-memory`; it is dropped and a fresh one takes its place.
//! - `fresh`: a new instance for every request, dropped at its end, for
//!   plugins that must share nothing between requests.
//!
//! Per-stream state lives in WIT resources (stream mappers, encoders,
//! transformers, guards) held in instances shared by open streams (see
//! [`super::streams`]) and dropped at the end of each stream, so a reused
//! instance carries nothing from one request to the next unless the plugin
//! keeps globals on purpose.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use wasmtime::component::{HasSelf, InstancePre, Linker};
use wasmtime::{Engine, Store, Trap};

use super::bindings::{adapter, describe_iface, dialect, guard, ingress, transformer, types};
use super::engine::PluginEngine;
use super::narrow::Narrowed;
use super::state::{StoreShared, StoreState};
use super::{CallError, Kind, PassThrough, PluginError, PluginInfo, StreamFormat};
use crate::config::{InstanceMode, PluginSettings};

/// Build the linker every plugin is instantiated with: WASI (with nothing
/// granted, see [`StoreState::new`]) and the `sluice:plugin/host` imports.
pub fn linker(engine: &Engine) -> Result<Linker<StoreState>, PluginError> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
        .and_then(|()| super::noblock::shadow_io(&mut linker))
        .map_err(|e| PluginError::Engine(format!("linking WASI: {e:#}")))?;
    dialect::Dialect::add_to_linker::<StoreState, HasSelf<StoreState>>(&mut linker, |s| s)
        .map_err(|e| PluginError::Engine(format!("linking host imports: {e:#}")))?;
    Ok(linker)
}

const ADAPTER: &str = "the provider adapter (sluice:plugin/adapter)";
const INGRESS: &str = "client ingress (sluice:plugin/ingress, world `dialect`)";
const TRANSFORMER: &str = "a transform (sluice:plugin/transformer)";
pub(super) const GUARD: &str = "a guardrail (sluice:plugin/guard)";

/// Which per-stream resource a call is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStage {
    Adapter,
    Ingress,
    Transform,
    Guard,
}

impl StreamStage {
    pub(super) fn names(self) -> (&'static str, &'static str) {
        match self {
            StreamStage::Adapter => ("stream-mapper", ADAPTER),
            StreamStage::Ingress => ("stream-encoder", INGRESS),
            StreamStage::Transform => ("stream-transformer", TRANSFORMER),
            StreamStage::Guard => ("stream-guard", GUARD),
        }
    }
}

/// Export indices resolved once per plugin version.
struct Indices {
    plugin: describe_iface::GuestIndices,
    adapter: Option<adapter::GuestIndices>,
    ingress: Option<ingress::GuestIndices>,
    transformer: Option<transformer::GuestIndices>,
    guard: Option<guard::GuestIndices>,
}

/// Typed export handles of one instance.
pub(super) struct Exports {
    pub(super) plugin: describe_iface::Guest,
    pub(super) adapter: Option<adapter::Guest>,
    pub(super) ingress: Option<ingress::Guest>,
    pub(super) transformer: Option<transformer::Guest>,
    pub(super) guard: Option<guard::Guest>,
}

/// A live instance with its store.
pub(crate) struct Warm {
    pub(super) store: Store<StoreState>,
    pub(super) exports: Exports,
    pub(super) uses: u64,
}

/// Counters shown by the management API and metrics.
#[derive(Default, Debug)]
pub struct Stats {
    pub calls: AtomicU64,
    pub traps: AtomicU64,
    pub instances_created: AtomicU64,
    /// When recent traps happened (for `max-traps` in `trap-window`).
    recent_traps: Mutex<std::collections::VecDeque<std::time::Instant>>,
    /// Set once the version was taken out of service after repeated traps.
    disabled: std::sync::atomic::AtomicBool,
}

/// One plugin version, live or being validated.
pub struct PluginVersion {
    pub info: PluginInfo,
    pub settings: PluginSettings,
    pub stats: Stats,
    pub loaded_at: std::time::SystemTime,
    engine: Engine,
    pre: InstancePre<StoreState>,
    indices: Indices,
    shared: Arc<StoreShared>,
    deadline_ticks: u64,
    idle: Mutex<Vec<Warm>>,
    /// Instances open streams live in (see [`super::streams`]).
    pub(super) hosts: Mutex<Vec<Arc<super::streams::StreamHost>>>,
}

impl std::fmt::Debug for PluginVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginVersion")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// Load a plugin from its bytes: compile (or take the cached artifact),
/// check that the host satisfies its imports, ask `describe()`, and check
/// its config with `validate-config()`. Nothing here touches live traffic.
///
/// `settings_for` gives the settings of a plugin by its described name.
pub fn load(
    engine: &PluginEngine,
    linker: &Linker<StoreState>,
    bytes: &[u8],
    origin: &str,
    settings_for: &dyn Fn(&str) -> PluginSettings,
) -> Result<Arc<PluginVersion>, PluginError> {
    let compiled = engine.compile(bytes)?;
    tracing::debug!(origin, sha256 = %compiled.sha256, from_cache = compiled.from_cache,
        took_ms = compiled.took.as_secs_f64() * 1e3, "compiled plugin");
    let pre = linker.instantiate_pre(&compiled.component).map_err(|e| {
        PluginError::Invalid(format!(
            "its imports cannot be satisfied by this host: {e:#}. Plugins may import only \
             sluice:plugin/host@0.1.0 and WASI 0.2 interfaces"
        ))
    })?;
    let plugin_idx = describe_iface::GuestIndices::new(&pre).map_err(|e| {
        PluginError::Invalid(format!(
            "it does not export sluice:plugin/plugin@0.1.0 (describe, validate-config): {e:#}. \
             Build it against one of the worlds in wit/sluice.wit"
        ))
    })?;
    let indices = Indices {
        plugin: plugin_idx,
        adapter: adapter::GuestIndices::new(&pre).ok(),
        ingress: ingress::GuestIndices::new(&pre).ok(),
        transformer: transformer::GuestIndices::new(&pre).ok(),
        guard: guard::GuestIndices::new(&pre).ok(),
    };

    // A provisional identity until describe() tells us who this is.
    let provisional = settings_for("");
    let mut version = PluginVersion {
        info: PluginInfo {
            name: origin.to_string(),
            version: String::new(),
            kind: Kind::Provider,
            description: String::new(),
            dialect: String::new(),
            stream_format: StreamFormat::Sse,
            pass_through: Default::default(),
            reads_metadata: None,
            reads_headers: None,
            origin: origin.to_string(),
            sha256: compiled.sha256,
            size: bytes.len(),
        },
        deadline_ticks: PluginEngine::ticks(provisional.deadline),
        settings: provisional,
        stats: Stats::default(),
        loaded_at: std::time::SystemTime::now(),
        engine: engine.engine.clone(),
        pre,
        indices,
        shared: Arc::new(StoreShared {
            label: origin.to_string(),
            config_json: "{}".into(),
        }),
        idle: Mutex::new(Vec::new()),
        hosts: Mutex::new(Vec::new()),
    };
    let mut warm = version
        .instantiate()
        .map_err(|e| PluginError::Invalid(format!("it could not be instantiated: {e}")))?;
    let described = call(&version, &mut warm, "describe", |s, x| {
        x.plugin.call_describe(s)
    })
    .map_err(|e| PluginError::Invalid(format!("describe() failed: {e}")))?;

    let kind = match described.kind {
        types::PluginKind::Provider => Kind::Provider,
        types::PluginKind::Transform => Kind::Transform,
        types::PluginKind::Guardrail => Kind::Guardrail,
    };
    if described.name.trim().is_empty() {
        return Err(PluginError::Invalid(
            "describe() returned an empty name; every plugin needs a unique name".into(),
        ));
    }
    let (has_export, world) = match kind {
        Kind::Provider => (version.indices.adapter.is_some(), "provider"),
        Kind::Transform => (version.indices.transformer.is_some(), "transform"),
        Kind::Guardrail => (version.indices.guard.is_some(), "guardrail"),
    };
    if !has_export {
        return Err(PluginError::Invalid(format!(
            "plugin {} describes itself as a {} plugin but does not export what the `{world}` \
             world requires; build it with the `{world}` world of wit/sluice.wit",
            described.name,
            kind.as_str()
        )));
    }
    let settings = settings_for(&described.name);
    let config_json = settings.config.to_string();
    version.info.name = described.name.clone();
    version.info.version = described.version.clone();
    version.info.kind = kind;
    version.info.description = described.description.clone();
    version.info.dialect = described.dialect.clone();
    version.info.stream_format = match described.stream_format {
        types::StreamFormat::Sse => StreamFormat::Sse,
        types::StreamFormat::Ndjson => StreamFormat::Ndjson,
    };
    let hub_stream =
        described.dialect == "openai" && version.info.stream_format == StreamFormat::Sse;
    version.info.pass_through =
        PassThrough::for_kind(kind, hub_stream, warm.store.data().pass_through);
    version.info.reads_metadata = warm.store.data().reads_metadata.clone();
    version.info.reads_headers = warm.store.data().reads_headers.clone();
    version.deadline_ticks = PluginEngine::ticks(settings.deadline);
    version.shared = Arc::new(StoreShared {
        label: format!("{}@{}", described.name, described.version),
        config_json: config_json.clone(),
    });
    warm.store.data_mut().shared = version.shared.clone();
    warm.store.data_mut().limiter.limit = settings.memory_limit;
    version.settings = settings;

    let verdict = call(&version, &mut warm, "validate-config", |s, x| {
        x.plugin.call_validate_config(s, &config_json)
    })
    .map_err(|e| PluginError::Invalid(format!("validate-config() failed: {e}")))?;
    if let Err(msg) = verdict {
        return Err(PluginError::Invalid(format!(
            "plugin {} rejected its config (plugins.settings.{}.config): {msg}",
            described.name, described.name
        )));
    }

    // Pre-warm the pool so the first requests after a (re)load do not pay
    // instantiation; the instance used for describe/validate is discarded
    // since it ran with a provisional identity.
    drop(warm);
    let version = Arc::new(version);
    if version.settings.instances == InstanceMode::Reuse {
        let mut warmed = Vec::with_capacity(version.settings.pool_size);
        for _ in 0..version.settings.pool_size {
            match version.instantiate() {
                Ok(w) => warmed.push(w),
                Err(e) => {
                    tracing::warn!(plugin = %version.info.name, error = %e,
                        "could not pre-warm every pooled instance; the pool will fill on demand");
                    break;
                }
            }
        }
        *version.idle.lock().unwrap_or_else(|p| p.into_inner()) = warmed;
    }
    Ok(version)
}

/// Run one call into an instance with the deadline armed, turning a trap
/// into a [`CallError`] that names the plugin and the reason.
pub(super) fn call<R>(
    version: &PluginVersion,
    warm: &mut Warm,
    what: &'static str,
    f: impl FnOnce(&mut Store<StoreState>, &Exports) -> wasmtime::Result<R>,
) -> Result<R, CallError> {
    warm.uses += 1;
    version.stats.calls.fetch_add(1, Ordering::Relaxed);
    warm.store.set_epoch_deadline(version.deadline_ticks);
    f(&mut warm.store, &warm.exports).map_err(|err| {
        version.record_trap();
        let plugin = version.info.name.clone();
        let e = if warm.store.data().limiter.hit_limit {
            CallError::Memory {
                plugin,
                call: what,
                limit: warm.store.data().limiter.limit,
            }
        } else if matches!(err.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
            CallError::Deadline {
                plugin,
                call: what,
                deadline_ms: version.settings.deadline.as_millis(),
            }
        } else {
            CallError::Trap {
                plugin,
                call: what,
                detail: err.root_cause().to_string(),
            }
        };
        tracing::warn!(plugin = %version.shared.label, origin = %version.info.origin, call = what,
            error = %format!("{err:?}"), "plugin call failed; the instance is discarded");
        e
    })
}

/// The outcome of a call that returns `result<R, plugin-error>`: `None`
/// means the plugin does not export `iface`; a `plugin-error` keeps the
/// plugin's status and code.
pub(super) fn settle<R>(
    version: &PluginVersion,
    iface: &'static str,
    r: Option<Result<R, types::PluginError>>,
) -> Result<R, CallError> {
    let plugin = || version.info.name.clone();
    match r {
        None => Err(CallError::Unsupported {
            plugin: plugin(),
            what: iface,
        }),
        Some(Ok(v)) => Ok(v),
        Some(Err(e)) => Err(CallError::Reported {
            plugin: plugin(),
            status: e.status,
            code: e.code,
            message: e.message,
        }),
    }
}

impl PluginVersion {
    pub(super) fn instantiate(&self) -> Result<Warm, CallError> {
        let mut store = Store::new(
            &self.engine,
            StoreState::new(self.shared.clone(), self.settings.memory_limit),
        );
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(self.deadline_ticks);
        let fail = |e: wasmtime::Error| CallError::Instantiate {
            plugin: self.info.name.clone(),
            detail: format!("{:#}", e),
        };
        let instance = self.pre.instantiate(&mut store).map_err(fail)?;
        let plugin = self
            .indices
            .plugin
            .load(&mut store, &instance)
            .map_err(fail)?;
        macro_rules! load {
            ($field:ident) => {
                match &self.indices.$field {
                    Some(i) => Some(i.load(&mut store, &instance).map_err(fail)?),
                    None => None,
                }
            };
        }
        let exports = Exports {
            plugin,
            adapter: load!(adapter),
            ingress: load!(ingress),
            transformer: load!(transformer),
            guard: load!(guard),
        };
        self.stats.instances_created.fetch_add(1, Ordering::Relaxed);
        Ok(Warm {
            store,
            exports,
            uses: 0,
        })
    }

    /// A warm instance from the pool, or a new one (always new with `fresh`).
    pub(super) fn take_instance(&self) -> Result<Warm, CallError> {
        let warm = if self.settings.instances == InstanceMode::Reuse {
            self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()
        } else {
            None
        };
        match warm {
            Some(w) => Ok(w),
            None => self.instantiate(),
        }
    }

    /// Take an instance for one request: a warm one from the pool, or a new one.
    pub fn lease(self: &Arc<Self>) -> Result<Lease, CallError> {
        let warm = self.take_instance()?;
        Ok(Lease {
            version: self.clone(),
            warm: Some(warm),
            broken: false,
        })
    }

    /// `active`, or `disabled` once taken out of service after repeated traps.
    pub fn state(&self) -> &'static str {
        if self.is_disabled() {
            "disabled"
        } else {
            "active"
        }
    }

    /// Whether this version was taken out of service after repeated traps.
    pub fn is_disabled(&self) -> bool {
        self.stats.disabled.load(Ordering::Relaxed)
    }

    /// Count a trap; past `max-traps` within `trap-window` the version is
    /// taken out of service (the registry then serves the previous good
    /// version of the plugin, if there is one).
    pub(super) fn record_trap(&self) {
        self.stats.traps.fetch_add(1, Ordering::Relaxed);
        let now = std::time::Instant::now();
        let mut recent = self
            .stats
            .recent_traps
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        recent.push_back(now);
        while recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > self.settings.trap_window)
        {
            recent.pop_front();
        }
        if recent.len() >= self.settings.max_traps as usize
            && !self.stats.disabled.swap(true, Ordering::Relaxed)
        {
            tracing::error!(plugin = %self.shared.label, origin = %self.info.origin,
                traps = recent.len(), window_s = self.settings.trap_window.as_secs_f64(),
                "plugin version taken out of service after repeated traps; the previous good \
                 version serves if there is one. Fix the plugin and replace the file \
                 (or raise plugins.settings.{}.max-traps)", self.info.name);
        }
    }

    /// Whether this plugin serves clients of its dialect (world `dialect`).
    pub fn has_ingress(&self) -> bool {
        self.indices.ingress.is_some()
    }

    /// Number of warm instances waiting in the pool.
    pub fn idle_instances(&self) -> usize {
        self.idle.lock().map(|v| v.len()).unwrap_or(0)
    }

    /// Whether an instance served `max-uses` calls or grew past
    /// `recycle-memory`, and so must not be reused.
    pub(super) fn due_for_recycling(&self, warm: &Warm) -> bool {
        let s = &self.settings;
        warm.uses >= s.max_uses || warm.store.data().limiter.current > s.recycle_memory
    }

    pub(super) fn give_back(&self, warm: Warm) {
        if self.settings.instances != InstanceMode::Reuse || self.due_for_recycling(&warm) {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.settings.pool_size {
            idle.push(warm);
        }
    }
}

/// An instance held by one request or stream. Dropping it returns a healthy
/// instance to the pool; an instance that failed is dropped instead.
pub struct Lease {
    version: Arc<PluginVersion>,
    warm: Option<Warm>,
    broken: bool,
}

impl Lease {
    pub fn plugin(&self) -> &Arc<PluginVersion> {
        &self.version
    }

    fn run<R>(
        &mut self,
        what: &'static str,
        f: impl FnOnce(&mut Store<StoreState>, &Exports) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        let Some(warm) = self.warm.as_mut() else {
            return Err(CallError::Instantiate {
                plugin: self.version.info.name.clone(),
                detail: "the instance was already discarded after an earlier failure".into(),
            });
        };
        if self.broken {
            return Err(CallError::Instantiate {
                plugin: self.version.info.name.clone(),
                detail: "the instance was discarded after an earlier failure".into(),
            });
        }
        let r = call(&self.version, warm, what, f);
        if r.is_err() {
            self.broken = true;
            // Drop the store now: its memory may be in any state.
            self.warm = None;
        }
        r
    }

    /// Call an export that takes `req` and returns `result<R,
    /// plugin-error>`; `None` from `f` means the plugin does not export the
    /// interface `iface`. `req` carries only the metadata and headers the
    /// plugin reads during the call ([`Narrowed`]), and all of them after.
    fn invoke<R>(
        &mut self,
        what: &'static str,
        iface: &'static str,
        req: &mut types::Request,
        f: impl FnOnce(
            &mut Store<StoreState>,
            &Exports,
            &types::Request,
        ) -> Option<wasmtime::Result<Result<R, types::PluginError>>>,
    ) -> Result<R, CallError> {
        let narrowed = Narrowed::narrow(&self.version.info, req);
        let r = self.run(what, |s, x| f(s, x, &*req).transpose());
        narrowed.restore(req);
        settle(&self.version, iface, r?)
    }

    /// `adapter.prepare`: build the upstream request or answer locally.
    pub fn prepare(
        &mut self,
        req: &mut types::Request,
        target: &types::Target,
    ) -> Result<types::Prepared, CallError> {
        self.invoke("prepare", ADAPTER, req, |s, x, req| {
            x.adapter.as_ref().map(|a| a.call_prepare(s, req, target))
        })
    }

    /// `adapter.map-response`: a whole upstream answer to a hub body.
    pub fn map_response(
        &mut self,
        req: &mut types::Request,
        resp: &types::UpstreamResponse,
    ) -> Result<Vec<u8>, CallError> {
        self.invoke("map-response", ADAPTER, req, |s, x, req| {
            x.adapter
                .as_ref()
                .map(|a| a.call_map_response(s, req, resp))
        })
    }

    /// `ingress.decode-request`: a client body in the plugin's dialect → hub body.
    pub fn decode_request(&mut self, req: &mut types::Request) -> Result<Vec<u8>, CallError> {
        self.invoke("decode-request", INGRESS, req, |s, x, req| {
            x.ingress.as_ref().map(|a| a.call_decode_request(s, req))
        })
    }

    /// `ingress.encode-response`: a hub response body → the plugin's dialect.
    pub fn encode_response(
        &mut self,
        req: &mut types::Request,
        body: &[u8],
    ) -> Result<Vec<u8>, CallError> {
        self.invoke("encode-response", INGRESS, req, |s, x, req| {
            x.ingress
                .as_ref()
                .map(|a| a.call_encode_response(s, req, body))
        })
    }

    /// `transformer.transform-request`.
    pub fn transform_request(&mut self, req: &mut types::Request) -> Result<Vec<u8>, CallError> {
        self.invoke("transform-request", TRANSFORMER, req, |s, x, req| {
            x.transformer
                .as_ref()
                .map(|a| a.call_transform_request(s, req))
        })
    }

    /// `transformer.transform-response`.
    pub fn transform_response(
        &mut self,
        req: &mut types::Request,
        body: &[u8],
    ) -> Result<Vec<u8>, CallError> {
        self.invoke("transform-response", TRANSFORMER, req, |s, x, req| {
            x.transformer
                .as_ref()
                .map(|a| a.call_transform_response(s, req, body))
        })
    }

    /// `guard.check-request`.
    pub fn check_request(&mut self, req: &mut types::Request) -> Result<types::Verdict, CallError> {
        self.invoke("check-request", GUARD, req, |s, x, req| {
            x.guard.as_ref().map(|a| a.call_check_request(s, req))
        })
    }

    /// `guard.check-response`.
    pub fn check_response(
        &mut self,
        req: &mut types::Request,
        body: &[u8],
    ) -> Result<types::Verdict, CallError> {
        self.invoke("check-response", GUARD, req, |s, x, req| {
            x.guard
                .as_ref()
                .map(|a| a.call_check_response(s, req, body))
        })
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(warm) = self.warm.take()
            && !self.broken
        {
            self.version.give_back(warm);
        }
    }
}
