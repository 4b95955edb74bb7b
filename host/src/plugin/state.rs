//! Per-store state: the WASI context (no files, no sockets, no environment),
//! the memory limiter, and the host imports every plugin gets.

use std::sync::Arc;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::host::{self, LogLevel};
use super::bindings::types;

/// What every store of one plugin version shares.
pub struct StoreShared {
    /// `name@version`, for log lines.
    pub label: String,
    /// The plugin's config as JSON, returned by `get-config`.
    pub config_json: String,
}

pub struct StoreState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub limiter: MemoryLimiter,
    pub shared: Arc<StoreShared>,
    /// What the plugin declared with `pass-through` (read after `describe`).
    pub pass_through: host::Hooks,
    /// What the plugin declared with `reads-metadata` (read after
    /// `describe`); `None`: every pair.
    pub reads_metadata: Option<Vec<String>>,
    /// What the plugin declared with `reads-headers`; `None`: every header.
    pub reads_headers: Option<Vec<String>>,
}

impl StoreState {
    pub fn new(shared: Arc<StoreShared>, memory_limit: usize) -> Self {
        // Nothing is granted: no preopened directories, no environment, no
        // arguments, no network (TCP, UDP and name lookup are off by default),
        // stdin closed and stdout/stderr discarded.
        let wasi = WasiCtx::builder().build();
        StoreState {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter {
                limit: memory_limit,
                current: 0,
                hit_limit: false,
            },
            shared,
            pass_through: host::Hooks::empty(),
            reads_metadata: None,
            reads_headers: None,
        }
    }
}

impl StoreState {
    /// The resource table (for the non-blocking `wasi:io`).
    pub fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Tracks the instance's linear memory and refuses growth past the limit.
pub struct MemoryLimiter {
    pub limit: usize,
    /// The largest memory size this store has grown to, in bytes.
    pub current: usize,
    /// Set when a growth was refused; the resulting trap is then reported as
    /// a memory-limit failure rather than a generic crash.
    pub hit_limit: bool,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.hit_limit = true;
            return Ok(false);
        }
        self.current = self.current.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

impl types::Host for StoreState {}

impl host::Host for StoreState {
    fn log(&mut self, level: LogLevel, message: String) {
        let plugin = self.shared.label.as_str();
        match level {
            LogLevel::Trace => tracing::trace!(target: "sluice::plugin", plugin, "{message}"),
            LogLevel::Debug => tracing::debug!(target: "sluice::plugin", plugin, "{message}"),
            LogLevel::Info => tracing::info!(target: "sluice::plugin", plugin, "{message}"),
            LogLevel::Warn => tracing::warn!(target: "sluice::plugin", plugin, "{message}"),
            LogLevel::Error => tracing::error!(target: "sluice::plugin", plugin, "{message}"),
        }
    }

    fn log_enabled(&mut self, level: LogLevel) -> bool {
        use tracing::Level;
        match level {
            LogLevel::Trace => tracing::enabled!(target: "sluice::plugin", Level::TRACE),
            LogLevel::Debug => tracing::enabled!(target: "sluice::plugin", Level::DEBUG),
            LogLevel::Info => tracing::enabled!(target: "sluice::plugin", Level::INFO),
            LogLevel::Warn => tracing::enabled!(target: "sluice::plugin", Level::WARN),
            LogLevel::Error => tracing::enabled!(target: "sluice::plugin", Level::ERROR),
        }
    }

    fn get_config(&mut self) -> String {
        self.shared.config_json.clone()
    }

    fn pass_through(&mut self, hooks: host::Hooks) {
        self.pass_through = hooks;
    }

    fn reads_metadata(&mut self, keys: Vec<String>) {
        self.reads_metadata = Some(keys);
    }

    fn reads_headers(&mut self, names: Vec<String>) {
        self.reads_headers = Some(names);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_enabled_follows_the_gateways_log_filter() {
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("sluice=info"))
            .with_writer(std::io::sink)
            .finish();
        let shared = Arc::new(StoreShared {
            label: "t@1".into(),
            config_json: "{}".into(),
        });
        let mut state = StoreState::new(shared, 1 << 20);
        tracing::subscriber::with_default(subscriber, || {
            use host::Host;
            assert!(!state.log_enabled(LogLevel::Trace));
            assert!(!state.log_enabled(LogLevel::Debug));
            assert!(state.log_enabled(LogLevel::Info));
            assert!(state.log_enabled(LogLevel::Error));
        });
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("sluice=debug"))
            .with_writer(std::io::sink)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            use host::Host;
            assert!(state.log_enabled(LogLevel::Debug));
            assert!(!state.log_enabled(LogLevel::Trace));
        });
    }
}
