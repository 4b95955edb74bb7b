//! Hot reload: re-read the config and the plugin directory, load what
//! changed off the request path, and swap the whole snapshot at once.
//!
//! - Files whose sha256 (and settings) did not change keep their loaded
//!   version: nothing is recompiled or re-validated.
//! - A file that fails to load never replaces a good version: the version
//!   loaded from the same file before keeps serving, and the failure is
//!   reported (log, management API).
//! - A config that fails validation is not applied; the running one stays.
//! - Requests and streams in flight hold the snapshot (and plugin versions)
//!   they started with, so they finish on them; a version is dropped once the
//!   last of them ends.
//!
//! Triggers: the directory watcher ([`watch`]), `SIGHUP`, and
//! `POST /v0/management/reload`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use notify::{RecursiveMode, Watcher};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::pipeline::{Gateway, LoadFailure, check_providers, plugin_files};
use crate::plugin::{PluginEngine, PluginVersion, Registry, state::StoreState};

/// How long the watched directories must be quiet before a reload, so a
/// file being copied in is read once it is whole.
pub const DEBOUNCE: Duration = Duration::from_millis(250);

/// What a reload did.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ReloadReport {
    /// Unix time of the reload.
    pub at: u64,
    /// Why it ran: `watch`, `signal`, `api`.
    pub trigger: String,
    /// Whether a new snapshot went live.
    pub applied: bool,
    /// Plugins loaded (new or changed) by this reload, as `name@version (origin)`.
    pub loaded: Vec<String>,
    /// Plugins whose file or settings were unchanged and were kept as they were.
    pub unchanged: usize,
    /// Problems; each says what failed and that the previous version keeps serving.
    pub problems: Vec<String>,
}

/// Load the plugins for `config`, reusing every version from `old` whose
/// bytes and settings are unchanged, and keeping the old version of any file
/// that now fails to load.
pub fn load_plugins_incremental(
    config: &Config,
    engine: &PluginEngine,
    linker: &wasmtime::component::Linker<StoreState>,
    old: &Registry,
    report: &mut ReloadReport,
) -> (Registry, Vec<LoadFailure>) {
    let by_origin: HashMap<&str, &Arc<PluginVersion>> = old
        .iter_all()
        .map(|p| (p.info.origin.as_str(), p))
        .collect();
    let mut registry = Registry::default();
    // Roll-back targets survive reloads.
    for p in old.iter_all() {
        if let Some(prev) = old.previous(&p.info.name) {
            registry.set_previous(prev.clone());
        }
    }
    let mut failures = Vec::new();
    let settings_for = |name: &str| config.plugins.settings_for(name);

    let mut sources: Vec<(String, Result<Vec<u8>, String>)> = crate::builtin::PLUGINS
        .iter()
        .map(|(name, bytes)| (format!("builtin:{name}"), Ok(bytes.to_vec())))
        .collect();
    if let Some(dir) = &config.plugins.dir {
        match plugin_files(dir) {
            Ok(files) => sources.extend(files.into_iter().map(|p| {
                let bytes = std::fs::read(&p).map_err(|e| format!("could not read the file: {e}"));
                (p.display().to_string(), bytes)
            })),
            Err(e) => failures.push(LoadFailure {
                origin: dir.display().to_string(),
                reason: format!(
                    "could not read the plugin directory (plugins.dir): {e}; create it or fix the path"
                ),
            }),
        }
    }

    for (origin, bytes) in sources {
        let previous = by_origin.get(origin.as_str()).copied();
        let bytes = match bytes {
            Ok(b) => b,
            Err(reason) => {
                keep_previous(&mut registry, previous, &origin, &reason, &mut failures);
                continue;
            }
        };
        let sha = hex::encode(Sha256::digest(&bytes));
        if let Some(prev) = previous
            && prev.info.sha256 == sha
            && prev.settings == config.plugins.settings_for(&prev.info.name)
        {
            report.unchanged += 1;
            registry.insert(prev.clone());
            continue;
        }
        match crate::plugin::version::load(engine, linker, &bytes, &origin, &settings_for) {
            Ok(p) => {
                tracing::info!(plugin = %p.info.name, version = %p.info.version, sha256 = %p.info.sha256,
                    origin = %origin, "plugin loaded; new requests use it");
                report
                    .loaded
                    .push(format!("{}@{} ({origin})", p.info.name, p.info.version));
                // The version this one replaces becomes the roll-back target,
                // unless it was itself taken out of service.
                if let Some(old_current) = old.iter_all().find(|o| o.info.name == p.info.name)
                    && !old_current.is_disabled()
                {
                    registry.set_previous(old_current.clone());
                }
                registry.insert(p);
            }
            Err(e) => keep_previous(
                &mut registry,
                previous,
                &origin,
                &e.to_string(),
                &mut failures,
            ),
        }
    }
    (registry, failures)
}

fn keep_previous(
    registry: &mut Registry,
    previous: Option<&Arc<PluginVersion>>,
    origin: &str,
    reason: &str,
    failures: &mut Vec<LoadFailure>,
) {
    let reason = match previous {
        Some(prev) => {
            registry.insert(prev.clone());
            format!(
                "{reason} — the previously loaded {}@{} from this file keeps serving",
                prev.info.name, prev.info.version
            )
        }
        None => reason.to_string(),
    };
    tracing::error!(origin, "plugin refused: {reason}");
    failures.push(LoadFailure {
        origin: origin.to_string(),
        reason,
    });
}

impl Gateway {
    /// [`reload`](Self::reload) on a thread of its own at background
    /// priority, for callers on the async runtime (the management API,
    /// SIGHUP): compiling plugins must not hold up requests on a busy core.
    pub async fn reload_in_background(
        self: Arc<Self>,
        trigger: &'static str,
    ) -> Result<ReloadReport, String> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("sluice-reload".into())
            .spawn(move || {
                crate::plugin::engine::lower_thread_priority();
                let _ = tx.send(self.reload(trigger));
            })
            .map_err(|e| format!("could not start a reload thread: {e}"))?;
        rx.await
            .map_err(|_| "the reload thread ended without a report".to_string())
    }

    /// Re-read the config (if it came from a file) and the plugins, and make
    /// the result live. Never makes things worse: what fails is reported and
    /// the running version of it stays.
    pub fn reload(&self, trigger: &str) -> ReloadReport {
        let _serial = self.reload_lock.lock().unwrap_or_else(|p| p.into_inner());
        let old = self.snapshot();
        let mut report = ReloadReport {
            at: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            trigger: trigger.to_string(),
            ..Default::default()
        };
        let config = match self.config_source() {
            Some(path) => match Config::load(path) {
                Ok(mut c) => {
                    // The listen address and engine-wide settings need a restart.
                    if c.listen != old.config.listen {
                        report.problems.push(format!(
                            "listen changed to {}; restart sluice to move to it (still serving on {})",
                            c.listen, old.config.listen
                        ));
                        c.listen = old.config.listen;
                    }
                    c
                }
                Err(e) => {
                    report.problems.push(format!(
                        "the config was not applied, the running one stays: {e}"
                    ));
                    (*old.config).clone()
                }
            },
            None => (*old.config).clone(),
        };
        let (registry, failures) = load_plugins_incremental(
            &config,
            &self.engine,
            self.linker(),
            &old.registry,
            &mut report,
        );
        report.problems.extend(
            failures
                .iter()
                .map(|f| format!("plugin {}: {}", f.origin, f.reason)),
        );
        let mut broken = check_providers(&config, &registry);
        broken.extend(crate::pipeline::check_stages(&config, &registry));
        if !broken.is_empty() {
            report.problems.extend(broken.into_iter().map(|p| {
                format!("{p} — nothing was applied; the running config and plugins stay")
            }));
            tracing::error!(problems = ?report.problems, "reload refused");
            self.record_reload(report.clone());
            return report;
        }
        self.install(config, registry);
        report.applied = true;
        if report.problems.is_empty() {
            tracing::info!(loaded = ?report.loaded, unchanged = report.unchanged, trigger, "reload applied");
        } else {
            tracing::warn!(loaded = ?report.loaded, problems = ?report.problems, trigger,
                "reload applied with problems; what failed keeps its previous version");
        }
        self.record_reload(report.clone());
        report
    }
}

/// The directories to watch for a config: the plugin directory and the
/// config file's directory (directories, so atomic renames are seen).
fn watched_dirs(gateway: &Gateway) -> Vec<PathBuf> {
    let snap = gateway.snapshot();
    let mut dirs = Vec::new();
    if let Some(d) = &snap.config.plugins.dir {
        dirs.push(d.clone());
    }
    if let Some(parent) = gateway.config_source().and_then(Path::parent) {
        let parent = if parent.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            parent.to_path_buf()
        };
        if !dirs.contains(&parent) {
            dirs.push(parent);
        }
    }
    dirs
}

fn relevant(gateway: &Gateway, event: &notify::Event) -> bool {
    if matches!(event.kind, notify::EventKind::Access(_)) {
        return false;
    }
    let config = gateway.config_source();
    event.paths.iter().any(|p| {
        p.extension().is_some_and(|x| x == "wasm")
            || config.is_some_and(|c| p.file_name() == c.file_name())
    })
}

/// Watch the plugin directory and the config file; reload after changes
/// settle. Runs on its own thread for the life of the process.
pub fn watch(gateway: Arc<Gateway>) -> Result<(), String> {
    let (tx, rx) = mpsc::channel::<notify::Result<notify::Event>>();
    let mut watcher = notify::recommended_watcher(move |ev| {
        let _ = tx.send(ev);
    })
    .map_err(|e| format!("could not start the file watcher: {e}"))?;
    let mut watching = Vec::new();
    rewatch(&mut watcher, &mut watching, watched_dirs(&gateway));
    std::thread::Builder::new()
        .name("sluice-reload".into())
        .spawn(move || {
            // A reload compiles plugins: on a core that also serves
            // requests, they go first.
            crate::plugin::engine::lower_thread_priority();
            loop {
                let Ok(first) = rx.recv() else { return };
                let mut wanted = matches!(&first, Ok(ev) if relevant(&gateway, ev));
                // Debounce: wait until nothing happened for DEBOUNCE.
                while let Ok(ev) = rx.recv_timeout(DEBOUNCE) {
                    wanted |= matches!(&ev, Ok(ev) if relevant(&gateway, ev));
                }
                if wanted {
                    gateway.reload("watch");
                    rewatch(&mut watcher, &mut watching, watched_dirs(&gateway));
                }
            }
        })
        .map_err(|e| format!("could not start the reload thread: {e}"))?;
    Ok(())
}

fn rewatch(
    watcher: &mut notify::RecommendedWatcher,
    watching: &mut Vec<PathBuf>,
    want: Vec<PathBuf>,
) {
    for dir in watching.iter().filter(|d| !want.contains(d)) {
        let _ = watcher.unwatch(dir);
    }
    for dir in want.iter().filter(|d| !watching.contains(d)) {
        if let Err(e) = watcher.watch(dir, RecursiveMode::NonRecursive) {
            tracing::warn!(dir = %dir.display(), error = %e,
                "cannot watch this directory; changes in it need SIGHUP or POST /v0/management/reload");
        }
    }
    *watching = want;
}
