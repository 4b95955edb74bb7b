//! The one wasmtime `Engine` of the process, its epoch ticker and the
//! on-disk cache of compiled components.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Config as WasmConfig, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::PluginError;

/// How often the epoch advances. A call's deadline is rounded up to whole ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Settings the engine is built with (from `plugins.*` in the config).
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Total live instances across all plugins (pooling allocator slots).
    pub max_instances: u32,
    /// The largest per-instance memory limit of any plugin.
    pub max_memory: usize,
    /// Where compiled components are cached.
    pub cache_dir: PathBuf,
}

/// The process-wide engine plus what belongs with it.
pub struct PluginEngine {
    pub engine: Engine,
    /// Whether the pooling allocator is in use (false: on-demand fallback).
    pub pooling: bool,
    cache_dir: PathBuf,
    /// Identifies compiled artifacts this engine can load.
    compat: String,
    stop: Arc<AtomicBool>,
}

/// Lowers the calling thread's CPU priority (nice 10) on Linux, so that
/// background work (compiling a plugin on reload) yields the CPU to request
/// handling instead of stalling it on a busy core. A no-op elsewhere.
pub fn lower_thread_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain syscalls on the calling thread; failure only leaves the
    // priority as it was.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, BACKGROUND_NICE);
    }
}

/// The nice value of background threads: they get about a tenth of a core
/// that request handling keeps busy, and all of an idle one.
#[cfg(target_os = "linux")]
const BACKGROUND_NICE: libc::c_int = 10;

/// Cranelift compiles functions in parallel on rayon's global pool; its
/// threads run at background priority (see [`lower_thread_priority`]).
fn init_compile_pool() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Fails only when a pool was already built (e.g. by an embedder):
        // then that one is used as it is.
        let _ = rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("sluice-compile-{i}"))
            .start_handler(|_| lower_thread_priority())
            .build_global();
    });
}

impl PluginEngine {
    /// Build the engine: pooling allocator when the machine allows it
    /// (probed by building it), on-demand allocation otherwise; epoch
    /// interruption with a ticker thread; copy-on-write memory images.
    pub fn new(settings: &EngineSettings) -> Result<Arc<Self>, PluginError> {
        init_compile_pool();
        let (engine, pooling) = match Engine::new(&base_config(Some(settings))) {
            Ok(engine) => (engine, true),
            Err(err) => {
                tracing::warn!(
                    error = %format!("{err:#}"),
                    "the pooling instance allocator is not available on this machine \
                     (it reserves virtual memory up front; check `ulimit -v` and \
                     vm.overcommit settings); falling back to on-demand allocation \
                     with bounds-checked memories, which makes fresh plugin instances \
                     and plugin code slower"
                );
                let engine = Engine::new(&base_config(None)).map_err(|e| {
                    PluginError::Engine(format!("could not create the WebAssembly engine: {e:#}"))
                })?;
                (engine, false)
            }
        };
        let compat = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            engine.precompile_compatibility_hash().hash(&mut h);
            format!("{:016x}", h.finish())
        };
        let stop = Arc::new(AtomicBool::new(false));
        {
            let engine = engine.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("sluice-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                })
                .map_err(|e| {
                    PluginError::Engine(format!("could not start the epoch ticker: {e}"))
                })?;
        }
        Ok(Arc::new(PluginEngine {
            engine,
            pooling,
            cache_dir: settings.cache_dir.clone(),
            compat,
            stop,
        }))
    }

    /// Deadline in epoch ticks for a call budget.
    pub fn ticks(deadline: Duration) -> u64 {
        let t = deadline.as_nanos().div_ceil(EPOCH_TICK.as_nanos());
        (t as u64).max(1) + 1
    }

    /// Compile `bytes` (or load the cached artifact for them). Returns the
    /// component, its sha256 (hex), whether the cache was used, and how long it took.
    pub fn compile(&self, bytes: &[u8]) -> Result<Compiled, PluginError> {
        let started = Instant::now();
        let sha256 = hex::encode(Sha256::digest(bytes));
        let cached = self
            .cache_dir
            .join(format!("{sha256}-{}.cwasm", self.compat));
        if cached.is_file() {
            // SAFETY: the file was written by `Component::serialize` of an
            // engine with the same compatibility hash (it is in the name), into
            // a cache directory only this process writes (created 0700).
            match unsafe { Component::deserialize_file(&self.engine, &cached) } {
                Ok(component) => {
                    return Ok(Compiled {
                        component,
                        sha256,
                        from_cache: true,
                        took: started.elapsed(),
                    });
                }
                Err(err) => {
                    tracing::warn!(file = %cached.display(), error = %format!("{err:#}"),
                        "ignoring an unreadable compiled-plugin cache entry; recompiling");
                    let _ = std::fs::remove_file(&cached);
                }
            }
        }
        let component = Component::new(&self.engine, bytes).map_err(|e| {
            PluginError::Invalid(format!(
                "not a loadable WebAssembly component: {e:#}. Build plugins for \
                 wasm32-wasip2 (Rust) or with componentize-py / jco, against wit/sluice.wit"
            ))
        })?;
        if let Err(err) = self.store_in_cache(&component, &cached) {
            tracing::warn!(dir = %self.cache_dir.display(), error = %err,
                "could not write the compiled-plugin cache; plugins will be recompiled at \
                 every start. Check that plugins.cache-dir is writable");
        }
        Ok(Compiled {
            component,
            sha256,
            from_cache: false,
            took: started.elapsed(),
        })
    }

    fn store_in_cache(&self, component: &Component, path: &Path) -> std::io::Result<()> {
        create_private_dir(&self.cache_dir)?;
        let bytes = component
            .serialize()
            .map_err(|e| std::io::Error::other(format!("{e:#}")))?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, path)
    }
}

impl Drop for PluginEngine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A compiled component and where it came from.
pub struct Compiled {
    pub component: Component,
    pub sha256: String,
    pub from_cache: bool,
    pub took: Duration,
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true).mode(0o700);
        b.create(dir)
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

/// The environment variable that names compiled plugin code for profilers.
const PROFILER_ENV: &str = "SLUICE_PLUGIN_PROFILER";

/// `SLUICE_PLUGIN_PROFILER=perfmap` writes `/tmp/perf-PID.map`: the address
/// range and name of every function of compiled plugin code, which `perf
/// report` (and any tool that reads perf maps) uses to name plugin frames.
/// Unset or empty: no profiler. Anything else is logged and ignored.
/// (wasmtime's jitdump and VTune agents are not built in.)
fn profiler_from_env() -> Option<wasmtime::ProfilingStrategy> {
    let value = std::env::var(PROFILER_ENV).ok()?;
    match value.trim() {
        "" | "none" => None,
        "perfmap" => Some(wasmtime::ProfilingStrategy::PerfMap),
        other => {
            tracing::warn!(
                "{PROFILER_ENV}={other:?} is not a profiler this build knows; \
                 use `perfmap` (or unset it). Plugins run without one."
            );
            None
        }
    }
}

fn base_config(pooling: Option<&EngineSettings>) -> WasmConfig {
    let mut c = WasmConfig::new();
    c.wasm_component_model(true);
    c.epoch_interruption(true);
    c.memory_init_cow(true);
    c.cranelift_opt_level(wasmtime::OptLevel::Speed);
    if let Some(profiler) = profiler_from_env() {
        c.profiler(profiler);
    }
    if let Some(s) = pooling {
        let n = s.max_instances.max(1);
        let mut p = PoolingAllocationConfig::default();
        p.total_component_instances(n);
        // A component holds several core instances, memories and tables
        // (the language runtime, its WASI glue); leave room for them.
        p.total_core_instances(n.saturating_mul(8));
        p.total_memories(n.saturating_mul(2));
        p.total_tables(n.saturating_mul(8));
        p.max_memory_size(s.max_memory);
        p.max_core_instances_per_component(64);
        p.max_memories_per_component(8);
        p.max_tables_per_component(64);
        p.max_core_instance_size(4 << 20);
        p.max_component_instance_size(4 << 20);
        // Keep a few pages resident per slot so reused slots start warm.
        p.linear_memory_keep_resident(64 << 10);
        p.table_keep_resident(16 << 10);
        c.allocation_strategy(InstanceAllocationStrategy::Pooling(p));
    } else {
        // The fallback runs where the pool's address-space reservation was
        // refused, usually under `ulimit -v`. With wasmtime's defaults every
        // memory would still reserve 4 GiB and guard regions (which let
        // compiled code skip bounds checks), and a few instances would use
        // up the limit. Reserve what a memory uses plus room to grow, and
        // let the compiled code check bounds instead.
        c.memory_reservation(0);
        c.memory_reservation_for_growth(16 << 20);
        c.memory_guard_size(64 << 10);
        c.guard_before_linear_memory(false);
    }
    c
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    /// The calling thread's nice value.
    fn nice() -> libc::c_int {
        // SAFETY: plain syscalls on the calling thread.
        unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::getpriority(libc::PRIO_PROCESS, tid)
        }
    }

    #[test]
    fn compile_and_reload_threads_run_at_background_priority() {
        super::init_compile_pool();
        let pool = rayon::broadcast(|_| nice());
        assert!(
            pool.iter().all(|&n| n >= super::BACKGROUND_NICE),
            "compile threads' nice values: {pool:?}"
        );
        let before = nice();
        let lowered = std::thread::spawn(|| {
            super::lower_thread_priority();
            nice()
        })
        .join()
        .unwrap();
        assert_eq!(lowered, super::BACKGROUND_NICE.max(before));
        assert_eq!(nice(), before, "only the calling thread is lowered");
    }
}
