//! The `sluice` command: `serve`, `check`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sluice::config::{Config, LogFormat};
use sluice::pipeline::{Gateway, check_providers, engine_settings, load_plugins};
use sluice::plugin::PluginEngine;

/// mimalloc: the request path allocates and frees many small buffers
/// (headers, envelopes, bodies), and glibc's malloc took ~8 % of the CPU per
/// proxied request. Without transparent huge pages (`no_thp`), so an idle
/// gateway does not hold a 2 MiB page per thread.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "An edge gateway for LLM APIs, extended by WebAssembly plugins"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway. Without --config it serves the embedded default:
    /// the built-in mock provider, no client keys, on 127.0.0.1:8317.
    Serve {
        /// The YAML config file (see examples/config.yaml).
        #[arg(long, short, env = "SLUICE_CONFIG")]
        config: Option<PathBuf>,
        /// Listen on this address instead of the config's `listen`.
        #[arg(long, short)]
        listen: Option<SocketAddr>,
    },
    /// Validate a config and load every plugin it needs; print every
    /// problem with its place in the file. Exit code 1 if there is any.
    Check {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Work with plugin files.
    #[command(subcommand)]
    Plugin(PluginCommand),
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Show what a .wasm plugin is: its world, describe(), imports, size,
    /// compile time, and whether this gateway can load it.
    Inspect {
        /// The plugin file.
        file: PathBuf,
    },
    /// Write a new, buildable plugin project with a README, the WIT and a
    /// minimal working implementation.
    New {
        /// rust, python or js.
        #[arg(long)]
        lang: sluice::scaffold::Lang,
        /// provider, transform or guardrail.
        #[arg(long)]
        kind: sluice::scaffold::Kind,
        /// The plugin's name (lower-case letters, digits and `-`).
        name: String,
        /// Where to write the project (default: ./NAME).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The sluice-sdk crate to depend on (Rust; default: this build's sdk/).
        #[arg(long)]
        sdk_path: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config, listen } => serve(config.as_deref(), listen),
        Command::Check { config } => check(&config),
        Command::Plugin(PluginCommand::Inspect { file }) => inspect(&file),
        Command::Plugin(PluginCommand::New {
            lang,
            kind,
            name,
            dir,
            sdk_path,
        }) => new_plugin(lang, kind, &name, dir, sdk_path),
    }
}

fn load_config(path: Option<&Path>) -> Result<Config, String> {
    match path {
        Some(p) => Config::load(p).map_err(|e| e.to_string()),
        None => Ok(Config::embedded_default()),
    }
}

fn init_logging(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter = std::env::var("SLUICE_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .or_else(|| EnvFilter::try_new(&config.log.level).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn serve(config_path: Option<&Path>, listen: Option<SocketAddr>) -> ExitCode {
    let mut config = match load_config(config_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sluice: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(addr) = listen {
        config.listen = addr;
    }
    init_logging(&config);
    if config_path.is_none() {
        tracing::info!(
            "no --config given: serving the embedded default (the built-in mock provider; \
             models: {}). See examples/config.yaml to add real providers",
            config
                .providers
                .iter()
                .flat_map(|p| p.models.iter().map(|m| m.name.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if config.api_keys.is_empty() {
        tracing::warn!(
            "client authentication is off: api-keys is empty, so anyone who can reach {} can use \
             every provider. Set api-keys in the config for anything but local use",
            config.listen
        );
    }
    let runtime = match runtime_builder().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sluice: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let addr = config.listen;
        let gateway = match tokio::task::spawn_blocking(move || Gateway::start(config)).await {
            Ok(Ok(g)) => g,
            Ok(Err(e)) => {
                for p in &e.problems {
                    tracing::error!("{p}");
                }
                eprintln!(
                    "sluice: not starting: {} problem(s), listed above",
                    e.problems.len()
                );
                return ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("sluice: start-up failed: {e}");
                return ExitCode::FAILURE;
            }
        };
        let listener = match sluice::server::bind(addr).await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("{e}");
                return ExitCode::FAILURE;
            }
        };
        let snap = gateway.snapshot();
        tracing::info!(
            listen = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            plugins = snap.registry.len(),
            providers = snap.config.providers.len(),
            pooling_allocator = gateway.engine.pooling,
            "sluice is serving: POST /v1/chat/completions, GET /v1/models, GET /health"
        );
        drop(snap);
        if let Err(e) = sluice::reload::watch(gateway.clone()) {
            tracing::warn!(
                "{e}; plugins and config reload only on SIGHUP or POST /v0/management/reload"
            );
        }
        #[cfg(unix)]
        {
            let gw = gateway.clone();
            tokio::spawn(async move {
                use tokio::signal::unix::{SignalKind, signal};
                let Ok(mut hup) = signal(SignalKind::hangup()) else {
                    return;
                };
                while hup.recv().await.is_some() {
                    if let Err(e) = gw.clone().reload_in_background("signal").await {
                        tracing::error!("reload on SIGHUP failed: {e}");
                    }
                }
            });
        }
        sluice::server::serve(listener, gateway, sluice::server::shutdown_signal()).await;
        ExitCode::SUCCESS
    })
}

/// One worker thread per CPU the process may run on (`taskset` and cgroup
/// limits count; `TOKIO_WORKER_THREADS` overrides). On a single CPU the
/// runtime is single-threaded: no work-stealing bookkeeping and no
/// cross-thread wake-ups.
fn runtime_builder() -> tokio::runtime::Builder {
    let workers = std::env::var("TOKIO_WORKER_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1);
    if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    }
}

fn check(path: &Path) -> ExitCode {
    let config = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            println!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let engine = match PluginEngine::new(&engine_settings(&config)) {
        Ok(e) => e,
        Err(e) => {
            println!("{}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    };
    let linker = match sluice::plugin::version::linker(&engine.engine) {
        Ok(l) => l,
        Err(e) => {
            println!("{}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    };
    let (registry, failures) = load_plugins(&config, &engine, &linker);
    let mut problems: Vec<String> = failures
        .iter()
        .map(|f| format!("plugins: {}: {}", f.origin, f.reason))
        .collect();
    problems.extend(check_providers(&config, &registry));
    problems.extend(sluice::pipeline::check_stages(&config, &registry));
    if problems.is_empty() {
        println!(
            "{}: OK ({} provider(s), {} plugin(s): {})",
            path.display(),
            config.providers.len(),
            registry.len(),
            registry
                .iter()
                .map(|p| format!("{}@{}", p.info.name, p.info.version))
                .collect::<Vec<_>>()
                .join(", ")
        );
        ExitCode::SUCCESS
    } else {
        println!("{} problem(s) in {}:", problems.len(), path.display());
        for p in &problems {
            println!("  - {p}");
        }
        ExitCode::FAILURE
    }
}

fn inspect(file: &Path) -> ExitCode {
    match sluice::inspect::inspect(file) {
        Ok(report) => {
            print!("{report}");
            if report.loadable() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            println!("{}: {e}", file.display());
            ExitCode::FAILURE
        }
    }
}

fn new_plugin(
    lang: sluice::scaffold::Lang,
    kind: sluice::scaffold::Kind,
    name: &str,
    dir: Option<PathBuf>,
    sdk_path: Option<PathBuf>,
) -> ExitCode {
    let dir = dir.unwrap_or_else(|| PathBuf::from(name));
    let options = sluice::scaffold::Options { sdk_path };
    match sluice::scaffold::new_plugin_with(lang, kind, name, &dir, &options) {
        Ok(files) => {
            println!(
                "wrote a {} {} plugin `{name}` in {}:",
                lang.as_str(),
                kind.as_str(),
                dir.display()
            );
            for f in files {
                println!("  {}", f.display());
            }
            println!(
                "see {}/README.md to build it and serve a request through it",
                dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sluice plugin new: {e}");
            ExitCode::FAILURE
        }
    }
}
