//! The gateway configuration: reading, validating and defaulting `sluice.yaml`.
//!
//! The file is YAML with kebab-case keys; unknown keys anywhere are errors.
//! `examples/config.yaml` shows every key with a comment. In short:
//!
//! ```yaml
//! listen: 127.0.0.1:8317            # IP:port to serve on
//! api-keys: ["sk-local-1"]          # client keys; absent or empty = no client auth
//! log: { level: info, format: text }
//! limits: { max-request-body: 10MiB, max-event-size: 1MiB }
//! timeouts: { connect: 10s, first-byte: 120s, idle: 300s }
//! plugins:
//!   dir: ./plugins                  # relative to the config file's directory
//!   cache-dir: ./.sluice-cache
//!   max-instances: 1000
//!   defaults: { instances: reuse, pool-size: 8, max-uses: 10000, streams-per-instance: 64,
//!               recycle-memory: 32MiB,
//!               memory-limit: 256MiB, deadline: 1s, on-error: fail-closed }
//!   settings:
//!     openai: { pool-size: 16, config: {} }
//! providers:
//!   - name: openai
//!     plugin: openai
//!     base-url: https://api.openai.com/v1
//!     api-keys: ["${OPENAI_API_KEY}"]
//!     headers: { x-extra: value }
//!     models:
//!       - { name: gpt-4o-mini, alias: fast, upstream: gpt-4o-mini-2024-07-18 }
//! ```
//!
//! Sizes are a byte count or a number with a unit (`B`, `KB`, `MB`, `GB` in
//! powers of 1000, `KiB`, `MiB`, `GiB` in powers of 1024, any case, optional
//! space). Durations are an integer with `ms`, `s`, `m` or `h`.
//!
//! Any string value may contain `${VAR}`, replaced by that environment
//! variable; `$${` is a literal `${`. An explicit `null` (or an empty value)
//! means the same as leaving the key out.
//!
//! Validation never stops at the first problem: the YAML is read into a tree
//! (a syntax error is the one thing that stops early), then the whole tree is
//! checked and every problem is reported with its path, e.g.
//! `providers[0].models[1].alias`, and its line.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};
use serde_json::{Map as JsonMap, Value as Json, json};

/// Address served on when the config does not say.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8317";
/// What replaces secrets in [`Config::redacted_json`].
pub const REDACTED: &str = "***redacted***";
/// The name [`ConfigErrors::source`] carries for the embedded default config.
pub const EMBEDDED_SOURCE: &str = "<embedded default>";

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// The embedded default configuration, used when no file is given.
const EMBEDDED_DEFAULT_YAML: &str = "\
providers:
  - name: mock
    plugin: mock
    models:
      - name: mock
        alias: mock-fast
      - name: mock-large
";

// ---------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------

/// The whole, validated gateway configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Address to serve on.
    pub listen: SocketAddr,
    /// Client API keys; empty means clients need no key.
    pub api_keys: Vec<String>,
    /// Logging.
    pub log: LogConfig,
    /// Size limits.
    pub limits: Limits,
    /// Upstream timeouts.
    pub timeouts: Timeouts,
    /// Plugin loading and instance management.
    pub plugins: PluginsConfig,
    /// Upstream providers, in file order.
    pub providers: Vec<ProviderConfig>,
    /// Transform plugins applied to every request, in order.
    pub transforms: Vec<String>,
    /// Guardrail plugins checking every request and answer, in order.
    pub guardrails: Vec<String>,
    /// The management API (`/v0/management/*`).
    pub management: Management,
    /// The file this was read from: set by [`Config::load`], `None` from
    /// [`Config::parse`] and [`Config::embedded_default`].
    pub source: Option<PathBuf>,
}

/// Transforms on by default (`transforms:` absent). Each is a built-in.
pub const DEFAULT_TRANSFORMS: &[&str] = &["tool-result-normalizer", "thinking-translator"];

/// The `remote-management` section.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Management {
    /// The key management calls must present; `None` turns the API off (404).
    pub secret_key: Option<String>,
    /// Accept management calls from non-loopback addresses.
    pub allow_remote: bool,
}

/// The `log` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// A `tracing` `EnvFilter` directive string, e.g. `info` or `sluice=debug,info`.
    pub level: String,
    /// Output format.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".to_string(),
            format: LogFormat::Text,
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable text (`text`).
    #[default]
    Text,
    /// One JSON object per line (`json`).
    Json,
}

/// The `limits` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest client request body accepted, in bytes.
    pub max_request_body: usize,
    /// Largest single upstream stream event, in bytes.
    pub max_event_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_body: 10 * MIB,
            max_event_size: MIB,
        }
    }
}

/// The `timeouts` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP + TLS connect to an upstream.
    pub connect: Duration,
    /// From the request being sent to the upstream's response headers.
    pub first_byte: Duration,
    /// Longest silence between upstream stream chunks.
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            first_byte: Duration::from_secs(120),
            idle: Duration::from_secs(300),
        }
    }
}

/// The `plugins` section.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginsConfig {
    /// Directory whose `.wasm` files can be loaded by their described name
    /// (absolute, or relative to the directory the config was resolved against).
    pub dir: Option<PathBuf>,
    /// Where compiled components are cached.
    pub cache_dir: PathBuf,
    /// Total live plugin instances across all plugins.
    pub max_instances: u32,
    /// Settings every plugin gets unless overridden (`config` is always `{}` here).
    pub defaults: PluginSettings,
    /// Per-plugin overrides from `plugins.settings`, by plugin name.
    pub overrides: BTreeMap<String, PluginOverrides>,
}

impl PluginsConfig {
    /// The effective settings for a plugin: the defaults with that plugin's
    /// overrides applied (`config` is `{}` unless the plugin has one).
    pub fn settings_for(&self, plugin_name: &str) -> PluginSettings {
        match self.overrides.get(plugin_name) {
            Some(o) => o.apply_to(&self.defaults),
            None => self.defaults.clone(),
        }
    }
}

/// Effective settings for one plugin.
#[derive(Clone, Debug, PartialEq)]
pub struct PluginSettings {
    /// Whether instances are reused across calls.
    pub instances: InstanceMode,
    /// Warm instances kept per plugin version.
    pub pool_size: usize,
    /// Recycle an instance after this many calls.
    pub max_uses: u64,
    /// Open streams that share one instance (each stream's state is a
    /// resource inside it); `instances: fresh` gives every stream its own.
    pub streams_per_instance: usize,
    /// Recycle an instance whose linear memory grew past this many bytes.
    pub recycle_memory: usize,
    /// Hard per-instance memory limit in bytes; growth beyond it fails the call.
    pub memory_limit: usize,
    /// Deadline for one plugin call.
    pub deadline: Duration,
    /// What to do when the plugin fails.
    pub on_error: FailMode,
    /// Take a plugin version out of service after this many traps
    /// (crashes, deadline or memory overruns) within `trap_window`.
    pub max_traps: u32,
    /// The window `max_traps` counts in.
    pub trap_window: Duration,
    /// The plugin's own configuration, handed to it as JSON (default `{}`).
    pub config: Json,
}

impl Default for PluginSettings {
    fn default() -> Self {
        PluginSettings {
            instances: InstanceMode::Reuse,
            pool_size: 8,
            max_uses: 10_000,
            streams_per_instance: 64,
            recycle_memory: 32 * MIB,
            memory_limit: 256 * MIB,
            deadline: Duration::from_secs(1),
            on_error: FailMode::Closed,
            max_traps: 5,
            trap_window: Duration::from_secs(60),
            config: json!({}),
        }
    }
}

/// Whether plugin instances are reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InstanceMode {
    /// Keep instances in a pool and reuse them (`reuse`).
    #[default]
    Reuse,
    /// A fresh instance for every call (`fresh`).
    Fresh,
}

/// What happens when a plugin call fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailMode {
    /// Fail the request (`fail-closed`).
    #[default]
    Closed,
    /// Skip the plugin and carry on (`fail-open`).
    Open,
}

/// One entry of `plugins.settings`: only the keys that were given.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PluginOverrides {
    /// `instances`.
    pub instances: Option<InstanceMode>,
    /// `pool-size`.
    pub pool_size: Option<usize>,
    /// `max-uses`.
    pub max_uses: Option<u64>,
    /// `streams-per-instance`.
    pub streams_per_instance: Option<usize>,
    /// `recycle-memory`, bytes.
    pub recycle_memory: Option<usize>,
    /// `memory-limit`, bytes.
    pub memory_limit: Option<usize>,
    /// `deadline`.
    pub deadline: Option<Duration>,
    /// `on-error`.
    pub on_error: Option<FailMode>,
    /// `max-traps`.
    pub max_traps: Option<u32>,
    /// `trap-window`.
    pub trap_window: Option<Duration>,
    /// `config`: the plugin's own configuration as JSON.
    pub config: Option<Json>,
}

impl PluginOverrides {
    /// `base` with every value given here replacing the one in `base`.
    pub fn apply_to(&self, base: &PluginSettings) -> PluginSettings {
        PluginSettings {
            instances: self.instances.unwrap_or(base.instances),
            pool_size: self.pool_size.unwrap_or(base.pool_size),
            max_uses: self.max_uses.unwrap_or(base.max_uses),
            streams_per_instance: self
                .streams_per_instance
                .unwrap_or(base.streams_per_instance),
            recycle_memory: self.recycle_memory.unwrap_or(base.recycle_memory),
            memory_limit: self.memory_limit.unwrap_or(base.memory_limit),
            deadline: self.deadline.unwrap_or(base.deadline),
            on_error: self.on_error.unwrap_or(base.on_error),
            max_traps: self.max_traps.unwrap_or(base.max_traps),
            trap_window: self.trap_window.unwrap_or(base.trap_window),
            config: self.config.clone().unwrap_or_else(|| base.config.clone()),
        }
    }
}

/// One entry of `providers`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderConfig {
    /// Unique provider name (`[A-Za-z0-9._-]+`).
    pub name: String,
    /// The provider plugin's described name.
    pub plugin: String,
    /// Upstream base URL without a trailing `/`; empty when not configured.
    pub base_url: String,
    /// Upstream credentials; one is chosen per request. May be empty.
    pub api_keys: Vec<String>,
    /// Extra upstream headers, names lower-case, in file order.
    pub headers: Vec<(String, String)>,
    /// Models served by this provider (at least one).
    pub models: Vec<ModelConfig>,
}

/// One model of a provider.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// The name clients ask for; unique across all providers' names and aliases.
    pub name: String,
    /// Other names clients may use for this model.
    pub aliases: Vec<String>,
    /// The model name sent upstream (defaults to `name`).
    pub upstream: String,
}

/// One problem found in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Where in the file, e.g. `providers[0].models[1].alias`; empty for the whole file.
    pub path: String,
    /// What is wrong and what to do, ending with ` (line N)` when the line is known.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in one config source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    /// The file name, or `<embedded default>`.
    pub source: String,
    /// The problems, in file order as far as known.
    pub errors: Vec<ConfigError>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        let plural = if n == 1 { "" } else { "s" };
        write!(f, "{n} problem{plural} in {}:", self.source)?;
        for e in &self.errors {
            write!(f, "\n  - {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl Config {
    /// Read and validate a file; environment variables come from the process.
    ///
    /// Relative paths in the file are resolved against the file's directory
    /// (made absolute with the current directory). An unreadable file gives a
    /// single error naming the file and the OS error.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let source = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigErrors {
            source: source.clone(),
            errors: vec![ConfigError {
                path: String::new(),
                message: format!("cannot read config file {source}: {e}"),
            }],
        })?;
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let base_dir = if parent.is_absolute() {
            clean_path(parent)
        } else {
            match std::env::current_dir() {
                Ok(cwd) => clean_path(&cwd.join(parent)),
                Err(_) => clean_path(parent),
            }
        };
        let mut config = Config::parse(&text, &source, &base_dir, &process_env)?;
        config.source = Some(path.to_path_buf());
        Ok(config)
    }

    /// Parse and validate config text.
    ///
    /// `source` names the text in errors; `base_dir` resolves relative paths;
    /// `env` looks up `${VAR}` references (and `XDG_CACHE_HOME` / `HOME` for
    /// the default cache directory). The result's `source` is `None`.
    pub fn parse(
        text: &str,
        source: &str,
        base_dir: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigErrors> {
        let docs = match MarkedYaml::load_from_str(text) {
            Ok(docs) => docs,
            Err(e) => {
                let m = e.marker();
                return Err(ConfigErrors {
                    source: source.to_string(),
                    errors: vec![ConfigError {
                        path: String::new(),
                        message: format!(
                            "YAML syntax error at line {}, column {}: {}; fix the YAML syntax there",
                            m.line(),
                            m.col() + 1,
                            e.info()
                        ),
                    }],
                });
            }
        };
        let mut cx = Cx {
            env,
            errors: Vec::new(),
        };
        if docs.len() > 1 {
            cx.err(
                "",
                docs[1].span.start.line(),
                format!(
                    "found {} YAML documents (separated by \"---\"); a config file holds exactly one",
                    docs.len()
                ),
            );
        }
        let root = match docs.first() {
            None => Node::null(),
            Some(doc) if matches!(doc.data, YamlData::BadValue) => Node::null(),
            Some(doc) => convert(doc, "", &mut cx),
        };
        let config = build(&root, base_dir, &mut cx);
        if cx.errors.is_empty() {
            Ok(config)
        } else {
            cx.errors.sort_by_key(|(line, _)| *line);
            Err(ConfigErrors {
                source: source.to_string(),
                errors: cx.errors.into_iter().map(|(_, e)| e).collect(),
            })
        }
    }

    /// The configuration used when no file is given: one provider `mock`
    /// (plugin `mock`) with models `mock` (alias `mock-fast`) and
    /// `mock-large`, no client keys, everything else default.
    pub fn embedded_default() -> Config {
        match Config::parse(
            EMBEDDED_DEFAULT_YAML,
            EMBEDDED_SOURCE,
            Path::new("."),
            &process_env,
        ) {
            Ok(config) => config,
            // The embedded text is fixed and tested; this cannot happen.
            Err(e) => panic!("embedded default config is invalid: {e}"),
        }
    }

    /// Look up a model by name or alias: (provider index, model index).
    pub fn find_model(&self, name: &str) -> Option<(usize, usize)> {
        self.providers.iter().enumerate().find_map(|(pi, p)| {
            p.models
                .iter()
                .position(|m| m.name == name || m.aliases.iter().any(|a| a == name))
                .map(|mi| (pi, mi))
        })
    }

    /// A JSON view of the config for a management API, with secrets replaced
    /// by `***redacted***`: client and provider API keys, header values whose
    /// name looks secret (contains auth, key, token, secret, password, cookie
    /// or credential), plugin `config` values under such keys, and
    /// credentials in base URLs. Keys are as in the YAML file (plus
    /// `source`), sizes and durations in the file's notation, so the view
    /// without `source` parses back as a config.
    pub fn redacted_json(&self) -> Json {
        let redact_all = |keys: &[String]| -> Json {
            Json::Array(keys.iter().map(|_| Json::from(REDACTED)).collect())
        };
        let mut settings = JsonMap::new();
        for (name, o) in &self.plugins.overrides {
            settings.insert(name.clone(), overrides_json(o));
        }
        let mut plugins = JsonMap::new();
        if let Some(dir) = &self.plugins.dir {
            plugins.insert("dir".into(), Json::from(dir.to_string_lossy()));
        }
        plugins.insert(
            "cache-dir".into(),
            Json::from(self.plugins.cache_dir.to_string_lossy()),
        );
        plugins.insert("max-instances".into(), json!(self.plugins.max_instances));
        plugins.insert("defaults".into(), settings_json(&self.plugins.defaults));
        plugins.insert("settings".into(), Json::Object(settings));

        let providers: Vec<Json> = self
            .providers
            .iter()
            .map(|p| {
                let mut headers = JsonMap::new();
                for (name, value) in &p.headers {
                    let v = if is_secret_name(name) {
                        REDACTED
                    } else {
                        value
                    };
                    headers.insert(name.clone(), Json::from(v));
                }
                let models: Vec<Json> = p
                    .models
                    .iter()
                    .map(|m| json!({"name": m.name, "alias": m.aliases, "upstream": m.upstream}))
                    .collect();
                let mut obj = JsonMap::new();
                obj.insert("name".into(), Json::from(p.name.as_str()));
                obj.insert("plugin".into(), Json::from(p.plugin.as_str()));
                if !p.base_url.is_empty() {
                    obj.insert("base-url".into(), Json::from(redact_url(&p.base_url)));
                }
                obj.insert("api-keys".into(), redact_all(&p.api_keys));
                obj.insert("headers".into(), Json::Object(headers));
                obj.insert("models".into(), Json::Array(models));
                Json::Object(obj)
            })
            .collect();

        json!({
            "source": self.source.as_ref().map(|p| p.to_string_lossy().into_owned()),
            "listen": self.listen.to_string(),
            "api-keys": redact_all(&self.api_keys),
            "log": {
                "level": self.log.level,
                "format": match self.log.format { LogFormat::Text => "text", LogFormat::Json => "json" },
            },
            "limits": {
                "max-request-body": size_json(self.limits.max_request_body),
                "max-event-size": size_json(self.limits.max_event_size),
            },
            "timeouts": {
                "connect": format_duration(self.timeouts.connect),
                "first-byte": format_duration(self.timeouts.first_byte),
                "idle": format_duration(self.timeouts.idle),
            },
            "plugins": Json::Object(plugins),
            "providers": providers,
            "transforms": self.transforms,
            "guardrails": self.guardrails,
            "remote-management": {
                "secret-key": self.management.secret_key.as_ref().map(|_| REDACTED),
                "allow-remote": self.management.allow_remote,
            },
        })
    }
}

/// Parse a size: a byte count, or a number with a unit `B`, `KB`, `MB`,
/// `GB` (powers of 1000) or `KiB`, `MiB`, `GiB` (powers of 1024), any case,
/// optionally separated by a space (`"10 MiB"`, `"1.5GB"`). The error says
/// what is wrong and how to write it.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = (&t[..split], t[split..].trim_start());
    let example = "write a byte count or a number with a unit, e.g. \"10MiB\" or \"512KB\"";
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    if int_part.is_empty() || !int_part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{text:?} is not a size; {example}"));
    }
    if !frac_part.bytes().all(|b| b.is_ascii_digit())
        || (number.contains('.') && frac_part.is_empty())
    {
        return Err(format!("{text:?} is not a size; {example}"));
    }
    let multiplier: u128 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        other => {
            let hint = match other {
                "k" | "m" | "g" => format!(
                    "; did you mean \"{number}{u}iB\" (powers of 1024) or \"{number}{u}B\" (powers of 1000)?",
                    u = other.to_ascii_uppercase()
                ),
                _ => String::new(),
            };
            return Err(format!(
                "{text:?} has an unknown size unit {unit:?}; use B, KB, MB, GB, KiB, MiB or GiB{hint}"
            ));
        }
    };
    if multiplier == 1 && !frac_part.is_empty() {
        return Err(format!(
            "{text:?} is not a whole number of bytes; {example}"
        ));
    }
    let too_large = || format!("{text:?} is too large");
    let whole: u128 = int_part.parse().map_err(|_| too_large())?;
    let mut bytes = whole.checked_mul(multiplier).ok_or_else(too_large)?;
    if !frac_part.is_empty() {
        let digits = &frac_part[..frac_part.len().min(12)];
        let frac: u128 = digits.parse().map_err(|_| too_large())?;
        bytes += frac * multiplier / 10u128.pow(digits.len() as u32);
    }
    u64::try_from(bytes).map_err(|_| too_large())
}

/// Parse a duration: an integer with a unit `ms`, `s`, `m` or `h` (`"500ms"`,
/// `"10s"`, `"5m"`). A bare number is an error asking for a unit.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = (&t[..split], t[split..].trim_start());
    if number.is_empty() {
        return Err(format!(
            "{text:?} is not a duration; write an integer with a unit, e.g. \"10s\" or \"500ms\""
        ));
    }
    if unit.is_empty() {
        return Err(format!(
            "{text:?} has no unit; write e.g. \"{number}s\" or \"500ms\""
        ));
    }
    if unit.starts_with('.') {
        return Err(format!(
            "{text:?}: durations must be whole numbers; use a smaller unit, e.g. \"1500ms\" instead of \"1.5s\""
        ));
    }
    let too_large = || format!("{text:?} is too large");
    let n: u64 = number.parse().map_err(|_| too_large())?;
    let millis_per_unit: u64 = match unit.to_ascii_lowercase().as_str() {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => {
            return Err(format!(
                "{text:?} has an unknown duration unit {unit:?}; use ms, s, m or h, e.g. \"10s\" or \"5m\""
            ));
        }
    };
    n.checked_mul(millis_per_unit)
        .map(Duration::from_millis)
        .ok_or_else(too_large)
}

/// Write a duration the way the config file does (`"10s"`, `"5m"`, `"250ms"`).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if !d.subsec_nanos().is_multiple_of(1_000_000) {
        return format!("{ms}ms"); // sub-millisecond precision is dropped
    }
    match ms {
        0 => "0ms".to_string(),
        ms if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
        ms if ms % 1_000 == 0 => format!("{}s", ms / 1_000),
        ms => format!("{ms}ms"),
    }
}

/// Write a size the way the config file does: `"10MiB"` when it is a whole
/// number of KiB/MiB/GiB, else the byte count.
pub fn format_size(bytes: usize) -> String {
    const UNITS: [(usize, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (unit, name) in UNITS {
        if bytes > 0 && bytes.is_multiple_of(unit) {
            return format!("{}{name}", bytes / unit);
        }
    }
    bytes.to_string()
}

// ---------------------------------------------------------------------------
// Internals: the tree, the error collector, the walk
// ---------------------------------------------------------------------------

fn process_env(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

/// A YAML node reduced to what config needs, with its (1-based) line.
#[derive(Debug)]
struct Node {
    line: usize,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// A string, environment variables already substituted.
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
    /// A value already reported as wrong; checks skip it silently.
    Invalid,
}

#[derive(Debug)]
struct Entry {
    key: String,
    line: usize,
    value: Node,
}

impl Node {
    const fn null() -> Node {
        Node {
            line: 0,
            kind: Kind::Null,
        }
    }
}

static NULL_NODE: Node = Node::null();

/// A short description of what a node is, for type errors.
fn describe(kind: &Kind) -> String {
    match kind {
        Kind::Null => "nothing (null)".to_string(),
        Kind::Bool(b) => format!("the boolean {b}"),
        Kind::Int(i) => format!("the integer {i}"),
        Kind::Float(f) => format!("the number {f}"),
        Kind::Str(s) => format!("the string {s:?}"),
        Kind::Seq(_) => "a list".to_string(),
        Kind::Map(_) => "a mapping (key: value pairs)".to_string(),
        Kind::Invalid => "an invalid value".to_string(),
    }
}

/// The scalar as the user probably wrote it, for "put it in quotes" hints.
fn scalar_text(kind: &Kind) -> Option<String> {
    match kind {
        Kind::Bool(b) => Some(b.to_string()),
        Kind::Int(i) => Some(i.to_string()),
        Kind::Float(f) => Some(f.to_string()),
        _ => None,
    }
}

/// Collects errors during the walk.
struct Cx<'e> {
    env: &'e dyn Fn(&str) -> Option<String>,
    errors: Vec<(usize, ConfigError)>,
}

impl Cx<'_> {
    fn err(&mut self, path: &str, line: usize, message: impl Into<String>) {
        let mut message = message.into();
        if line > 0 {
            message.push_str(&format!(" (line {line})"));
        }
        self.errors.push((
            line,
            ConfigError {
                path: path.to_string(),
                message,
            },
        ));
    }

    fn type_err(&mut self, node: &Node, path: &str, expected: &str) {
        let mut msg = format!("expected {expected}, found {}", describe(&node.kind));
        if expected.contains("string")
            && let Some(text) = scalar_text(&node.kind)
        {
            msg.push_str(&format!("; put it in quotes: \"{text}\""));
        }
        self.err(path, node.line, msg);
    }
}

fn is_simple_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// `path` + `.key` (or `["odd key"]` for keys that are not plain words).
fn join(path: &str, key: &str) -> String {
    match (path.is_empty(), is_simple_key(key)) {
        (true, true) => key.to_string(),
        (false, true) => format!("{path}.{key}"),
        (_, false) => format!("{path}[{key:?}]"),
    }
}

fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// Replace `${VAR}` references; `$${` is a literal `${`. Returns every problem.
fn substitute(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, Vec<String>> {
    if !s.contains('$') {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut problems = Vec::new();
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(inner) = after.strip_prefix("${") {
            let Some(end) = inner.find('}') else {
                problems.push(
                    "unterminated \"${\" (no closing \"}\"); close it, or write \"$${\" for a literal \"${\""
                        .to_string(),
                );
                rest = "";
                break;
            };
            let name = &inner[..end];
            let valid = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                problems.push(format!(
                    "{name:?} in \"${{{name}}}\" is not a valid environment variable name (letters, digits and _); write \"$${{\" for a literal \"${{\""
                ));
            } else {
                match env(name) {
                    Some(value) => out.push_str(&value),
                    None => problems.push(format!(
                        "environment variable {name} is not set; export it or remove the key"
                    )),
                }
            }
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// Turn the parsed YAML into a [`Node`] tree, substituting environment
/// variables in string values and reporting what cannot be represented.
fn convert(y: &MarkedYaml<'_>, path: &str, cx: &mut Cx<'_>) -> Node {
    let line = y.span.start.line();
    let kind = match &y.data {
        YamlData::Value(scalar) => match scalar {
            Scalar::Null => Kind::Null,
            Scalar::Boolean(b) => Kind::Bool(*b),
            Scalar::Integer(i) => Kind::Int(*i),
            Scalar::FloatingPoint(f) => Kind::Float(f.into_inner()),
            Scalar::String(s) => match substitute(s, cx.env) {
                Ok(s) => Kind::Str(s),
                Err(problems) => {
                    for p in problems {
                        cx.err(path, line, p);
                    }
                    Kind::Invalid
                }
            },
        },
        YamlData::Sequence(items) => Kind::Seq(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| convert(item, &index(path, i), cx))
                .collect(),
        ),
        YamlData::Mapping(map) => {
            let mut entries = Vec::with_capacity(map.len());
            for (k, v) in map {
                let key_line = k.span.start.line();
                let key = match &k.data {
                    YamlData::Value(Scalar::String(s)) => s.to_string(),
                    YamlData::Value(Scalar::Integer(i)) => i.to_string(),
                    YamlData::Value(Scalar::Boolean(b)) => b.to_string(),
                    YamlData::Value(Scalar::FloatingPoint(f)) => f.to_string(),
                    _ => {
                        cx.err(
                            path,
                            key_line,
                            "a mapping key here is empty, a list or a mapping; keys must be plain names",
                        );
                        continue;
                    }
                };
                let value = convert(v, &join(path, &key), cx);
                entries.push(Entry {
                    key,
                    line: key_line,
                    value,
                });
            }
            Kind::Map(entries)
        }
        YamlData::Tagged(..) => {
            cx.err(
                path,
                line,
                "YAML tags (\"!name\") are not supported here; remove the tag",
            );
            Kind::Invalid
        }
        YamlData::BadValue => {
            cx.err(
                path,
                line,
                "the value does not match its YAML type tag (e.g. \"!!int abc\"); fix the value or remove the tag",
            );
            Kind::Invalid
        }
        YamlData::Alias(_) | YamlData::Representation(..) => {
            cx.err(
                path,
                line,
                "this value could not be resolved; write it out in full",
            );
            Kind::Invalid
        }
    };
    Node { line, kind }
}

/// Edit distance between two strings (for "did you mean").
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// `maxRequestBody` / `max_request_body` / `Max-Request-Body` -> `max-request-body`.
fn kebab(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    let mut prev_lower = false;
    for c in key.chars() {
        if c.is_ascii_uppercase() && prev_lower {
            out.push('-');
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        out.push(if c == '_' {
            '-'
        } else {
            c.to_ascii_lowercase()
        });
    }
    out
}

fn suggest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    let normalized = kebab(key);
    if let Some(k) = known.iter().find(|k| **k == normalized) {
        return Some(k);
    }
    known
        .iter()
        .map(|k| (edit_distance(key, k).min(edit_distance(&normalized, k)), *k))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// A mapping being read, with its path and line.
struct Fields<'n> {
    path: String,
    line: usize,
    entries: &'n [Entry],
}

impl<'n> Fields<'n> {
    /// The value of `key`, unless absent or null.
    fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|e| e.key == key)
            .map(|e| &e.value)
            .filter(|n| !matches!(n.kind, Kind::Null))
    }

    fn path(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// Convert the value of `key` (if given) with `conv`.
    fn with<T>(
        &self,
        cx: &mut Cx<'_>,
        key: &str,
        conv: impl FnOnce(&mut Cx<'_>, &'n Node, &str) -> Option<T>,
    ) -> Option<T> {
        let node = self.get(key)?;
        conv(cx, node, &self.path(key))
    }

    fn missing(&self, cx: &mut Cx<'_>, key: &str, hint: &str) {
        cx.err(
            &self.path(key),
            self.line,
            format!("required key is missing; {hint}"),
        );
    }
}

/// Read `node` as a mapping with the given keys. Null is an empty mapping;
/// another type is reported (and `None` returned); unknown keys are reported.
fn fields<'n>(cx: &mut Cx<'_>, node: &'n Node, path: &str, allowed: &[&str]) -> Option<Fields<'n>> {
    let entries: &'n [Entry] = match &node.kind {
        Kind::Map(entries) => entries,
        Kind::Null => &[],
        Kind::Invalid => return None,
        _ => {
            cx.type_err(node, path, "a mapping (key: value pairs)");
            return None;
        }
    };
    for e in entries {
        if !allowed.contains(&e.key.as_str()) {
            let mut msg = format!("unknown key {:?}", e.key);
            if let Some(s) = suggest(&e.key, allowed) {
                msg.push_str(&format!(" (did you mean {s:?}?)"));
            }
            msg.push_str(&format!("; expected one of: {}", allowed.join(", ")));
            cx.err(&join(path, &e.key), e.line, msg);
        }
    }
    Some(Fields {
        path: path.to_string(),
        line: node.line,
        entries,
    })
}

fn string<'n>(cx: &mut Cx<'_>, node: &'n Node, path: &str) -> Option<&'n str> {
    match &node.kind {
        Kind::Str(s) => Some(s),
        Kind::Invalid => None,
        _ => {
            cx.type_err(node, path, "a string");
            None
        }
    }
}

/// A string that is not empty or only whitespace.
fn non_empty(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<String> {
    let s = string(cx, node, path)?;
    if s.trim().is_empty() {
        cx.err(
            path,
            node.line,
            "must not be empty (check the environment variables it uses); give a value or remove the key",
        );
        return None;
    }
    Some(s.to_string())
}

/// An integer in `min..=max`; strings holding an integer (e.g. from `${VAR}`) count.
fn int_in(cx: &mut Cx<'_>, node: &Node, path: &str, min: i64, max: i64) -> Option<i64> {
    let value = match &node.kind {
        Kind::Int(i) => *i,
        Kind::Str(s) if s.trim().parse::<i64>().is_ok() => s.trim().parse::<i64>().ok()?,
        Kind::Invalid => return None,
        _ => {
            cx.type_err(node, path, "an integer");
            return None;
        }
    };
    if value < min {
        cx.err(
            path,
            node.line,
            format!("{value} is too small; it must be at least {min}"),
        );
        None
    } else if value > max {
        cx.err(
            path,
            node.line,
            format!("{value} is too large; it must be at most {max}"),
        );
        None
    } else {
        Some(value)
    }
}

/// A size in bytes, at least `min`.
fn size_min(cx: &mut Cx<'_>, node: &Node, path: &str, min: usize) -> Option<usize> {
    let parsed = match &node.kind {
        Kind::Int(i) if *i >= 0 => Ok(*i as u64),
        Kind::Int(i) => Err(format!(
            "{i} is negative; a size is a byte count or a number with a unit, e.g. \"10MiB\""
        )),
        Kind::Str(s) => parse_size(s),
        Kind::Invalid => return None,
        _ => {
            cx.type_err(node, path, "a size such as \"10MiB\" or a byte count");
            return None;
        }
    };
    let bytes = match parsed
        .and_then(|b| usize::try_from(b).map_err(|_| format!("{b} bytes is too large")))
    {
        Ok(b) => b,
        Err(msg) => {
            cx.err(path, node.line, msg);
            return None;
        }
    };
    if bytes < min {
        cx.err(
            path,
            node.line,
            format!("{bytes} bytes is too small; it must be at least {min}"),
        );
        return None;
    }
    Some(bytes)
}

/// A duration in `min..=max`.
fn duration_in(
    cx: &mut Cx<'_>,
    node: &Node,
    path: &str,
    min: Duration,
    max: Option<Duration>,
) -> Option<Duration> {
    let parsed = match &node.kind {
        Kind::Str(s) => parse_duration(s),
        Kind::Int(i) => Err(format!(
            "\"{i}\" has no unit; write e.g. \"{i}s\" or \"500ms\""
        )),
        Kind::Invalid => return None,
        _ => {
            cx.type_err(node, path, "a duration such as \"10s\" or \"500ms\"");
            return None;
        }
    };
    let d = match parsed {
        Ok(d) => d,
        Err(msg) => {
            cx.err(path, node.line, msg);
            return None;
        }
    };
    if d < min {
        let what = if min == Duration::from_millis(1) && d.is_zero() {
            "must be greater than 0".to_string()
        } else {
            format!("must be at least {}", format_duration(min))
        };
        cx.err(
            path,
            node.line,
            format!("{} is too short; it {what}", format_duration(d)),
        );
        return None;
    }
    if let Some(max) = max
        && d > max
    {
        cx.err(
            path,
            node.line,
            format!(
                "{} is too long; it must be at most {}",
                format_duration(d),
                format_duration(max)
            ),
        );
        return None;
    }
    Some(d)
}

/// One of a fixed set of words.
fn choice<T: Copy>(cx: &mut Cx<'_>, node: &Node, path: &str, options: &[(&str, T)]) -> Option<T> {
    let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
    let expected = format!("one of: {}", names.join(", "));
    let s = match &node.kind {
        Kind::Str(s) => s.as_str(),
        Kind::Invalid => return None,
        _ => {
            cx.type_err(node, path, &expected);
            return None;
        }
    };
    if let Some((_, v)) = options.iter().find(|(n, _)| *n == s) {
        return Some(*v);
    }
    let mut msg = format!("{s:?} is not valid here; expected {expected}");
    if let Some(sug) = suggest(s, &names) {
        msg.push_str(&format!(" (did you mean {sug:?}?)"));
    }
    cx.err(path, node.line, msg);
    None
}

/// A list of non-empty strings; reports each bad item and keeps the good ones.
fn string_list(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<Vec<String>> {
    let items = match &node.kind {
        Kind::Seq(items) => items,
        Kind::Invalid => return None,
        Kind::Str(s) => {
            cx.err(
                path,
                node.line,
                format!("expected a list of strings, found a single string; write [{s:?}]"),
            );
            return None;
        }
        _ => {
            cx.type_err(node, path, "a list of strings");
            return None;
        }
    };
    Some(
        items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| non_empty(cx, item, &index(path, i)))
            .collect(),
    )
}

/// Any YAML value as JSON (the plugin `config`).
fn to_json(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<Json> {
    Some(match &node.kind {
        Kind::Null => Json::Null,
        Kind::Bool(b) => Json::Bool(*b),
        Kind::Int(i) => Json::from(*i),
        Kind::Float(f) => match serde_json::Number::from_f64(*f) {
            Some(n) => Json::Number(n),
            None => {
                cx.err(
                    path,
                    node.line,
                    format!("{f} cannot be represented in JSON; use a finite number or a string"),
                );
                return None;
            }
        },
        Kind::Str(s) => Json::String(s.clone()),
        Kind::Seq(items) => {
            let mut out = Vec::with_capacity(items.len());
            let mut ok = true;
            for (i, item) in items.iter().enumerate() {
                match to_json(cx, item, &index(path, i)) {
                    Some(v) => out.push(v),
                    None => ok = false,
                }
            }
            if !ok {
                return None;
            }
            Json::Array(out)
        }
        Kind::Map(entries) => {
            let mut out = JsonMap::new();
            let mut ok = true;
            for e in entries {
                match to_json(cx, &e.value, &join(path, &e.key)) {
                    Some(v) => {
                        out.insert(e.key.clone(), v);
                    }
                    None => ok = false,
                }
            }
            if !ok {
                return None;
            }
            Json::Object(out)
        }
        Kind::Invalid => return None,
    })
}

/// `p` if absolute, else `base/p`, without `.` components.
fn resolve_path(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        clean_path(p)
    } else {
        clean_path(&base.join(p))
    }
}

/// Drop `.` components (`..` is kept: it is not lexically safe to fold).
fn clean_path(p: &Path) -> PathBuf {
    let cleaned: PathBuf = p
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect();
    if cleaned.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        cleaned
    }
}

/// `$XDG_CACHE_HOME/sluice`, else `$HOME/.cache/sluice`, else `<temp>/sluice-cache`.
fn default_cache_dir(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    let set = |name: &str| env(name).filter(|v| !v.is_empty());
    if let Some(xdg) = set("XDG_CACHE_HOME").filter(|v| Path::new(v).is_absolute()) {
        return PathBuf::from(xdg).join("sluice");
    }
    if let Some(home) = set("HOME") {
        return PathBuf::from(home).join(".cache").join("sluice");
    }
    std::env::temp_dir().join("sluice-cache")
}

const TOP_KEYS: &[&str] = &[
    "listen",
    "api-keys",
    "log",
    "limits",
    "timeouts",
    "plugins",
    "providers",
    "transforms",
    "guardrails",
    "remote-management",
];
const MANAGEMENT_KEYS: &[&str] = &["secret-key", "allow-remote"];
const LOG_KEYS: &[&str] = &["level", "format"];
const LIMITS_KEYS: &[&str] = &["max-request-body", "max-event-size"];
const TIMEOUTS_KEYS: &[&str] = &["connect", "first-byte", "idle"];
const PLUGINS_KEYS: &[&str] = &["dir", "cache-dir", "max-instances", "defaults", "settings"];
const DEFAULTS_KEYS: &[&str] = &[
    "instances",
    "pool-size",
    "max-uses",
    "streams-per-instance",
    "recycle-memory",
    "memory-limit",
    "deadline",
    "on-error",
    "max-traps",
    "trap-window",
];
const SETTINGS_KEYS: &[&str] = &[
    "instances",
    "pool-size",
    "max-uses",
    "streams-per-instance",
    "recycle-memory",
    "memory-limit",
    "deadline",
    "on-error",
    "max-traps",
    "trap-window",
    "config",
];
const PROVIDER_KEYS: &[&str] = &[
    "name", "plugin", "base-url", "api-keys", "headers", "models",
];
const MODEL_KEYS: &[&str] = &["name", "alias", "upstream"];

fn build(root: &Node, base_dir: &Path, cx: &mut Cx<'_>) -> Config {
    let top = match &root.kind {
        Kind::Map(_) | Kind::Null | Kind::Invalid => fields(cx, root, "", TOP_KEYS),
        _ => {
            cx.err(
                "",
                root.line,
                format!(
                    "the config must be a mapping of keys (listen, providers, ...), found {}",
                    describe(&root.kind)
                ),
            );
            None
        }
    };
    let empty = Fields {
        path: String::new(),
        line: 0,
        entries: &[],
    };
    let top = top.unwrap_or(empty);

    let listen = top
        .with(cx, "listen", |cx, n, p| {
            if let Kind::Int(port) = n.kind {
                cx.err(
                    p,
                    n.line,
                    format!("expected an address and port, found the integer {port}; write e.g. \"127.0.0.1:{port}\""),
                );
                return None;
            }
            let s = string(cx, n, p)?;
            match s.trim().parse::<SocketAddr>() {
                Ok(addr) => Some(addr),
                Err(_) => {
                    cx.err(
                        p,
                        n.line,
                        format!("{s:?} is not an IP address and port; write e.g. \"127.0.0.1:8317\", \"0.0.0.0:8317\" or \"[::1]:8317\" (host names are not accepted)"),
                    );
                    None
                }
            }
        })
        .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("valid default address"));

    let api_keys = top.with(cx, "api-keys", string_list).unwrap_or_default();

    let log = {
        let mut log = LogConfig::default();
        if let Some(f) = fields(
            cx,
            top.get("log").unwrap_or(&NULL_NODE),
            &top.path("log"),
            LOG_KEYS,
        ) {
            if let Some(level) = f.with(cx, "level", non_empty) {
                log.level = level.trim().to_string();
            }
            if let Some(format) = f.with(cx, "format", |cx, n, p| {
                choice(
                    cx,
                    n,
                    p,
                    &[("text", LogFormat::Text), ("json", LogFormat::Json)],
                )
            }) {
                log.format = format;
            }
        }
        log
    };

    let limits = {
        let mut limits = Limits::default();
        if let Some(f) = fields(
            cx,
            top.get("limits").unwrap_or(&NULL_NODE),
            &top.path("limits"),
            LIMITS_KEYS,
        ) {
            if let Some(v) = f.with(cx, "max-request-body", |cx, n, p| size_min(cx, n, p, 1)) {
                limits.max_request_body = v;
            }
            if let Some(v) = f.with(cx, "max-event-size", |cx, n, p| size_min(cx, n, p, 1)) {
                limits.max_event_size = v;
            }
        }
        limits
    };

    let timeouts = {
        let mut t = Timeouts::default();
        if let Some(f) = fields(
            cx,
            top.get("timeouts").unwrap_or(&NULL_NODE),
            &top.path("timeouts"),
            TIMEOUTS_KEYS,
        ) {
            let positive = |cx: &mut Cx<'_>, n: &Node, p: &str| {
                duration_in(cx, n, p, Duration::from_millis(1), None)
            };
            if let Some(v) = f.with(cx, "connect", positive) {
                t.connect = v;
            }
            if let Some(v) = f.with(cx, "first-byte", positive) {
                t.first_byte = v;
            }
            if let Some(v) = f.with(cx, "idle", positive) {
                t.idle = v;
            }
        }
        t
    };

    let plugins = plugins_section(
        cx,
        top.get("plugins").unwrap_or(&NULL_NODE),
        &top.path("plugins"),
        base_dir,
    );
    let providers = providers_section(cx, top.get("providers"), &top.path("providers"));
    let transforms = match top.get("transforms") {
        Some(n) => string_list(cx, n, &top.path("transforms")).unwrap_or_default(),
        None => DEFAULT_TRANSFORMS.iter().map(|s| s.to_string()).collect(),
    };
    let guardrails = top.with(cx, "guardrails", string_list).unwrap_or_default();
    let mut management = Management::default();
    if let Some(node) = top.get("remote-management")
        && let Some(f) = fields(cx, node, &top.path("remote-management"), MANAGEMENT_KEYS)
    {
        management.secret_key = f.with(cx, "secret-key", non_empty);
        if let Some(b) = f.get("allow-remote") {
            match b.kind {
                Kind::Bool(v) => management.allow_remote = v,
                _ => cx.type_err(b, &f.path("allow-remote"), "true or false"),
            }
        }
    }

    Config {
        listen,
        api_keys,
        log,
        limits,
        timeouts,
        plugins,
        providers,
        transforms,
        guardrails,
        management,
        source: None,
    }
}

fn plugins_section(cx: &mut Cx<'_>, node: &Node, path: &str, base_dir: &Path) -> PluginsConfig {
    let mut out = PluginsConfig {
        dir: None,
        cache_dir: default_cache_dir(cx.env),
        max_instances: 1000,
        defaults: PluginSettings::default(),
        overrides: BTreeMap::new(),
    };
    let Some(f) = fields(cx, node, path, PLUGINS_KEYS) else {
        return out;
    };
    out.dir = f
        .with(cx, "dir", non_empty)
        .map(|d| resolve_path(base_dir, &d));
    if let Some(dir) = f.with(cx, "cache-dir", non_empty) {
        out.cache_dir = resolve_path(base_dir, &dir);
    }
    if let Some(n) = f.with(cx, "max-instances", |cx, n, p| {
        int_in(cx, n, p, 1, i64::from(u32::MAX))
    }) {
        out.max_instances = n as u32;
    }

    let defaults_path = f.path("defaults");
    let defaults_node = f.get("defaults").unwrap_or(&NULL_NODE);
    let (defaults, defaults_ok) = plugin_overrides(cx, defaults_node, &defaults_path, false);
    out.defaults = defaults.apply_to(&PluginSettings::default());
    if defaults_ok {
        check_memory(cx, &defaults, &out.defaults, defaults_node, &defaults_path);
    }

    let settings_path = f.path("settings");
    if let Some(node) = f.get("settings") {
        match &node.kind {
            Kind::Map(entries) => {
                for e in entries {
                    let p = join(&settings_path, &e.key);
                    if e.key.trim().is_empty() {
                        cx.err(&p, e.line, "plugin name must not be empty");
                        continue;
                    }
                    let (o, ok) = plugin_overrides(cx, &e.value, &p, true);
                    if ok && defaults_ok {
                        let merged = o.apply_to(&out.defaults);
                        check_memory(cx, &o, &merged, &e.value, &p);
                    }
                    out.overrides.insert(e.key.clone(), o);
                }
            }
            Kind::Invalid => {}
            _ => cx.type_err(node, &settings_path, "a mapping of plugin name to settings"),
        }
    }
    out
}

/// Read a `defaults` (no `config`) or `settings.NAME` (with `config`)
/// mapping. The flag says whether the memory values read cleanly.
fn plugin_overrides(
    cx: &mut Cx<'_>,
    node: &Node,
    path: &str,
    allow_config: bool,
) -> (PluginOverrides, bool) {
    let keys = if allow_config {
        SETTINGS_KEYS
    } else {
        DEFAULTS_KEYS
    };
    let Some(f) = fields(cx, node, path, keys) else {
        return (PluginOverrides::default(), false);
    };
    let before = cx.errors.len();
    let recycle_memory = f.with(cx, "recycle-memory", |cx, n, p| size_min(cx, n, p, 0));
    let memory_limit = f.with(cx, "memory-limit", |cx, n, p| size_min(cx, n, p, 1));
    let memory_ok = cx.errors.len() == before;
    let o = PluginOverrides {
        instances: f.with(cx, "instances", |cx, n, p| {
            choice(
                cx,
                n,
                p,
                &[
                    ("reuse", InstanceMode::Reuse),
                    ("fresh", InstanceMode::Fresh),
                ],
            )
        }),
        pool_size: f
            .with(cx, "pool-size", |cx, n, p| {
                int_in(cx, n, p, 0, i64::from(u32::MAX))
            })
            .map(|v| v as usize),
        max_uses: f
            .with(cx, "max-uses", |cx, n, p| int_in(cx, n, p, 1, i64::MAX))
            .map(|v| v as u64),
        streams_per_instance: f
            .with(cx, "streams-per-instance", |cx, n, p| {
                int_in(cx, n, p, 1, 100_000)
            })
            .map(|v| v as usize),
        recycle_memory,
        memory_limit,
        deadline: f.with(cx, "deadline", |cx, n, p| {
            duration_in(
                cx,
                n,
                p,
                Duration::from_millis(1),
                Some(Duration::from_secs(600)),
            )
        }),
        on_error: f.with(cx, "on-error", |cx, n, p| {
            choice(
                cx,
                n,
                p,
                &[
                    ("fail-closed", FailMode::Closed),
                    ("fail-open", FailMode::Open),
                ],
            )
        }),
        max_traps: f
            .with(cx, "max-traps", |cx, n, p| {
                int_in(cx, n, p, 1, i64::from(u32::MAX))
            })
            .map(|v| v as u32),
        trap_window: f.with(cx, "trap-window", |cx, n, p| {
            duration_in(
                cx,
                n,
                p,
                Duration::from_millis(1),
                Some(Duration::from_secs(86_400)),
            )
        }),
        config: if allow_config {
            f.with(cx, "config", to_json)
        } else {
            None
        },
    };
    (o, memory_ok)
}

/// `memory-limit` must be at least `recycle-memory`; reported where one was set.
fn check_memory(
    cx: &mut Cx<'_>,
    given: &PluginOverrides,
    merged: &PluginSettings,
    node: &Node,
    path: &str,
) {
    if merged.memory_limit >= merged.recycle_memory {
        return;
    }
    if given.memory_limit.is_none() && given.recycle_memory.is_none() {
        return;
    }
    let key = if given.memory_limit.is_some() {
        "memory-limit"
    } else {
        "recycle-memory"
    };
    let line = match &node.kind {
        Kind::Map(entries) => entries
            .iter()
            .find(|e| e.key == key)
            .map_or(node.line, |e| e.line),
        _ => node.line,
    };
    cx.err(
        &join(path, key),
        line,
        format!(
            "memory-limit ({}) is less than recycle-memory ({}); memory-limit must be at least recycle-memory",
            format_size(merged.memory_limit),
            format_size(merged.recycle_memory)
        ),
    );
}

fn valid_provider_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-')
}

fn providers_section(cx: &mut Cx<'_>, node: Option<&Node>, path: &str) -> Vec<ProviderConfig> {
    let Some(node) = node else {
        return Vec::new();
    };
    let items = match &node.kind {
        Kind::Seq(items) => items,
        Kind::Invalid => return Vec::new(),
        _ => {
            cx.type_err(
                node,
                path,
                "a list of providers (each starting with \"- name: ...\")",
            );
            return Vec::new();
        }
    };
    let mut provider_names: HashMap<String, String> = HashMap::new();
    let mut model_names: HashMap<String, String> = HashMap::new();
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let p = index(path, i);
        if let Some(provider) = provider(cx, item, &p, &mut provider_names, &mut model_names) {
            out.push(provider);
        }
    }
    out
}

fn provider(
    cx: &mut Cx<'_>,
    node: &Node,
    path: &str,
    provider_names: &mut HashMap<String, String>,
    model_names: &mut HashMap<String, String>,
) -> Option<ProviderConfig> {
    let f = fields(cx, node, path, PROVIDER_KEYS)?;
    let name = f.with(cx, "name", |cx, n, p| {
        let s = string(cx, n, p)?;
        if !valid_provider_name(s) {
            cx.err(
                p,
                n.line,
                format!("{s:?} is not a valid provider name; use only letters, digits, \".\", \"_\" and \"-\""),
            );
            return None;
        }
        if let Some(first) = provider_names.get(s) {
            cx.err(
                p,
                n.line,
                format!("{s:?} is already used by {first}; provider names must be unique"),
            );
            return None;
        }
        provider_names.insert(s.to_string(), p.to_string());
        Some(s.to_string())
    });
    if f.get("name").is_none() {
        f.missing(
            cx,
            "name",
            "give the provider a unique name, e.g. \"name: openai\"",
        );
    }
    let plugin = f.with(cx, "plugin", non_empty);
    if f.get("plugin").is_none() {
        f.missing(
            cx,
            "plugin",
            "name the provider plugin, e.g. \"plugin: openai\"",
        );
    }
    let base_url = f
        .with(cx, "base-url", |cx, n, p| {
            let s = string(cx, n, p)?;
            match normalize_base_url(s) {
                Ok(url) => Some(url),
                Err(msg) => {
                    cx.err(p, n.line, msg);
                    None
                }
            }
        })
        .unwrap_or_default();
    let api_keys = f.with(cx, "api-keys", string_list).unwrap_or_default();
    let headers = f.with(cx, "headers", headers).unwrap_or_default();

    let mut models = Vec::new();
    match f.get("models") {
        None => f.missing(
            cx,
            "models",
            "list at least one model, e.g. \"models: [{name: gpt-4o-mini}]\"",
        ),
        Some(node) => match &node.kind {
            Kind::Seq(items) if items.is_empty() => cx.err(
                &f.path("models"),
                node.line,
                "must list at least one model, e.g. \"- name: gpt-4o-mini\"",
            ),
            Kind::Seq(items) => {
                let models_path = f.path("models");
                for (i, item) in items.iter().enumerate() {
                    if let Some(m) = model(cx, item, &index(&models_path, i), model_names) {
                        models.push(m);
                    }
                }
            }
            Kind::Invalid => {}
            _ => cx.type_err(
                node,
                &f.path("models"),
                "a list of models (each starting with \"- name: ...\")",
            ),
        },
    }

    Some(ProviderConfig {
        name: name?,
        plugin: plugin?,
        base_url,
        api_keys,
        headers,
        models,
    })
}

/// Check a base URL: `http://` or `https://`, a host, no query or fragment.
/// Returns it without trailing `/`.
fn normalize_base_url(s: &str) -> Result<String, String> {
    let example = "e.g. \"https://api.openai.com/v1\"";
    if s.is_empty() {
        return Err(format!(
            "must not be empty; write a URL, {example}, or remove the key for a local plugin"
        ));
    }
    if s.chars().any(char::is_whitespace) {
        return Err(format!("{s:?} contains whitespace; write a URL, {example}"));
    }
    if !s.contains("://") {
        return Err(format!(
            "{s:?} has no scheme; base-url must start with http:// or https://, {example}"
        ));
    }
    let uri: http::Uri = s
        .parse()
        .map_err(|e| format!("{s:?} is not a valid URL ({e}); write a URL, {example}"))?;
    match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
        Some("http" | "https") => {}
        Some(other) => {
            return Err(format!(
                "{s:?} uses the scheme {other:?}; base-url must start with http:// or https://"
            ));
        }
        None => {
            return Err(format!(
                "{s:?} has no scheme; base-url must start with http:// or https://, {example}"
            ));
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("{s:?} has no host; write a URL, {example}"));
    }
    if uri.query().is_some() || s.contains('#') {
        return Err(format!(
            "{s:?} has a query or fragment; base-url must be a plain URL, {example}"
        ));
    }
    Ok(s.trim_end_matches('/').to_string())
}

fn headers(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<Vec<(String, String)>> {
    let entries = match &node.kind {
        Kind::Map(entries) => entries,
        Kind::Invalid => return None,
        _ => {
            cx.type_err(node, path, "a mapping of header name to value");
            return None;
        }
    };
    let mut out: Vec<(String, String)> = Vec::with_capacity(entries.len());
    for e in entries {
        let p = join(path, &e.key);
        let name = match http::HeaderName::from_bytes(e.key.as_bytes()) {
            Ok(name) => name.as_str().to_string(),
            Err(_) => {
                cx.err(
                    &p,
                    e.line,
                    format!("{:?} is not a valid HTTP header name; use letters, digits and \"-\", e.g. \"x-request-source\"", e.key),
                );
                continue;
            }
        };
        if out.iter().any(|(n, _)| *n == name) {
            cx.err(
                &p,
                e.line,
                format!("header {name:?} is given twice (names are case-insensitive); keep one"),
            );
            continue;
        }
        let Some(value) = string(cx, &e.value, &p) else {
            continue;
        };
        if http::HeaderValue::from_str(value).is_err() {
            cx.err(
                &p,
                e.value.line,
                "is not a valid HTTP header value (control characters or non-ASCII); use plain visible text",
            );
            continue;
        }
        out.push((name, value.to_string()));
    }
    Some(out)
}

/// A model name or alias: not empty, no whitespace.
fn model_name(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<String> {
    let s = string(cx, node, path)?;
    if s.is_empty() {
        cx.err(path, node.line, "must not be empty");
        return None;
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        cx.err(
            path,
            node.line,
            format!("{s:?} contains whitespace; model names and aliases cannot contain spaces"),
        );
        return None;
    }
    Some(s.to_string())
}

/// Record a model name or alias; report it if another model already has it.
fn claim(
    cx: &mut Cx<'_>,
    seen: &mut HashMap<String, String>,
    name: &str,
    path: &str,
    line: usize,
) -> bool {
    if let Some(first) = seen.get(name) {
        cx.err(
            path,
            line,
            format!("{name:?} is already used by {first}; model names and aliases must be unique across providers"),
        );
        false
    } else {
        seen.insert(name.to_string(), path.to_string());
        true
    }
}

fn model(
    cx: &mut Cx<'_>,
    node: &Node,
    path: &str,
    seen: &mut HashMap<String, String>,
) -> Option<ModelConfig> {
    if let Kind::Str(s) = &node.kind {
        cx.err(
            path,
            node.line,
            format!("expected a model mapping, found the string {s:?}; write \"- name: {s}\""),
        );
        return None;
    }
    let f = fields(cx, node, path, MODEL_KEYS)?;
    let name = match f.get("name") {
        None => {
            f.missing(
                cx,
                "name",
                "give the model the name clients ask for, e.g. \"name: gpt-4o-mini\"",
            );
            None
        }
        Some(n) => {
            let p = f.path("name");
            model_name(cx, n, &p).filter(|s| claim(cx, seen, s, &p, n.line))
        }
    };
    let mut aliases = Vec::new();
    if let Some(n) = f.get("alias") {
        let p = f.path("alias");
        match &n.kind {
            Kind::Str(_) => {
                if let Some(a) = model_name(cx, n, &p)
                    && claim(cx, seen, &a, &p, n.line)
                {
                    aliases.push(a);
                }
            }
            Kind::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    let ip = index(&p, i);
                    if let Some(a) = model_name(cx, item, &ip)
                        && claim(cx, seen, &a, &ip, item.line)
                    {
                        aliases.push(a);
                    }
                }
            }
            Kind::Invalid => {}
            _ => cx.type_err(n, &p, "a string or a list of strings"),
        }
    }
    let upstream = f.with(cx, "upstream", non_empty);
    let name = name?;
    Some(ModelConfig {
        upstream: upstream.unwrap_or_else(|| name.clone()),
        name,
        aliases,
    })
}

// ---------------------------------------------------------------------------
// Redaction helpers
// ---------------------------------------------------------------------------

fn is_secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [
        "auth",
        "key",
        "token",
        "secret",
        "password",
        "cookie",
        "credential",
    ]
    .iter()
    .any(|w| lower.contains(w))
}

/// Replace `user:pass@` in a URL's authority.
fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}{REDACTED}{}", &url[..scheme_end + 3], &rest[at..]),
        None => url.to_string(),
    }
}

/// Plugin config with values under secret-looking keys redacted.
fn redact_json(value: &Json) -> Json {
    match value {
        Json::Object(map) => Json::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if is_secret_name(k) {
                        Json::from(REDACTED)
                    } else {
                        redact_json(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Json::Array(items) => Json::Array(items.iter().map(redact_json).collect()),
        other => other.clone(),
    }
}

fn size_json(bytes: usize) -> Json {
    let s = format_size(bytes);
    match s.parse::<u64>() {
        Ok(n) => Json::from(n),
        Err(_) => Json::from(s),
    }
}

fn instances_str(m: InstanceMode) -> &'static str {
    match m {
        InstanceMode::Reuse => "reuse",
        InstanceMode::Fresh => "fresh",
    }
}

fn fail_str(m: FailMode) -> &'static str {
    match m {
        FailMode::Closed => "fail-closed",
        FailMode::Open => "fail-open",
    }
}

fn settings_json(s: &PluginSettings) -> Json {
    json!({
        "instances": instances_str(s.instances),
        "pool-size": s.pool_size,
        "max-uses": s.max_uses,
        "streams-per-instance": s.streams_per_instance,
        "recycle-memory": size_json(s.recycle_memory),
        "memory-limit": size_json(s.memory_limit),
        "deadline": format_duration(s.deadline),
        "on-error": fail_str(s.on_error),
        "max-traps": s.max_traps,
        "trap-window": format_duration(s.trap_window),
    })
}

fn overrides_json(o: &PluginOverrides) -> Json {
    let mut m = JsonMap::new();
    if let Some(v) = o.instances {
        m.insert("instances".into(), Json::from(instances_str(v)));
    }
    if let Some(v) = o.pool_size {
        m.insert("pool-size".into(), Json::from(v));
    }
    if let Some(v) = o.max_uses {
        m.insert("max-uses".into(), Json::from(v));
    }
    if let Some(v) = o.streams_per_instance {
        m.insert("streams-per-instance".into(), Json::from(v));
    }
    if let Some(v) = o.recycle_memory {
        m.insert("recycle-memory".into(), size_json(v));
    }
    if let Some(v) = o.memory_limit {
        m.insert("memory-limit".into(), size_json(v));
    }
    if let Some(v) = o.deadline {
        m.insert("deadline".into(), Json::from(format_duration(v)));
    }
    if let Some(v) = o.on_error {
        m.insert("on-error".into(), Json::from(fail_str(v)));
    }
    if let Some(v) = o.max_traps {
        m.insert("max-traps".into(), Json::from(v));
    }
    if let Some(v) = o.trap_window {
        m.insert("trap-window".into(), Json::from(format_duration(v)));
    }
    if let Some(v) = &o.config {
        m.insert("config".into(), redact_json(v));
    }
    Json::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../examples/config.yaml");

    fn test_env(name: &str) -> Option<String> {
        match name {
            "HOME" => Some("/home/u".into()),
            "SET" => Some("value".into()),
            "EMPTY" => Some(String::new()),
            "PORT" => Some("9000".into()),
            "SLUICE_API_KEY" => Some("sk-from-env".into()),
            "OPENAI_API_KEY" => Some("sk-openai".into()),
            _ => None,
        }
    }

    fn parse(text: &str) -> Result<Config, ConfigErrors> {
        Config::parse(text, "test.yaml", Path::new("/etc/sluice"), &test_env)
    }

    #[track_caller]
    fn ok(text: &str) -> Config {
        parse(text).unwrap_or_else(|e| panic!("expected a valid config, got {e}"))
    }

    #[track_caller]
    fn errs(text: &str) -> Vec<ConfigError> {
        match parse(text) {
            Ok(c) => panic!("expected errors, got {c:?}"),
            Err(e) => e.errors,
        }
    }

    /// Assert exactly one error at `path` whose message contains every needle.
    #[track_caller]
    fn has(errors: &[ConfigError], path: &str, needles: &[&str]) {
        let at: Vec<_> = errors.iter().filter(|e| e.path == path).collect();
        assert_eq!(
            at.len(),
            1,
            "expected one error at {path:?}, got: {errors:#?}"
        );
        for n in needles {
            assert!(
                at[0].message.contains(n),
                "error at {path:?} lacks {n:?}: {:?}",
                at[0].message
            );
        }
    }

    #[track_caller]
    fn one_error(text: &str, path: &str, needles: &[&str]) {
        let e = errs(text);
        assert_eq!(e.len(), 1, "expected one error, got {e:#?}");
        has(&e, path, needles);
    }

    #[test]
    fn empty_documents_give_all_defaults() {
        for text in ["", "# just a comment\n", "---\n", "{}"] {
            let c = ok(text);
            assert_eq!(c.listen, "127.0.0.1:8317".parse().unwrap());
            assert!(c.api_keys.is_empty());
            assert_eq!(c.log, LogConfig::default());
            assert_eq!(c.log.level, "info");
            assert_eq!(c.log.format, LogFormat::Text);
            assert_eq!(c.limits.max_request_body, 10 * 1024 * 1024);
            assert_eq!(c.limits.max_event_size, 1024 * 1024);
            assert_eq!(c.timeouts.connect, Duration::from_secs(10));
            assert_eq!(c.timeouts.first_byte, Duration::from_secs(120));
            assert_eq!(c.timeouts.idle, Duration::from_secs(300));
            assert_eq!(c.plugins.dir, None);
            assert_eq!(c.plugins.cache_dir, PathBuf::from("/home/u/.cache/sluice"));
            assert_eq!(c.plugins.max_instances, 1000);
            assert!(c.plugins.overrides.is_empty());
            let d = &c.plugins.defaults;
            assert_eq!(d.instances, InstanceMode::Reuse);
            assert_eq!(d.pool_size, 8);
            assert_eq!(d.max_uses, 10_000);
            assert_eq!(d.recycle_memory, 32 * 1024 * 1024);
            assert_eq!(d.memory_limit, 256 * 1024 * 1024);
            assert_eq!(d.deadline, Duration::from_secs(1));
            assert_eq!(d.on_error, FailMode::Closed);
            assert_eq!(d.config, json!({}));
            assert_eq!(*d, PluginSettings::default());
            assert!(c.providers.is_empty());
            assert_eq!(c.source, None);
        }
    }

    #[test]
    fn empty_sections_are_defaults() {
        let c = ok(
            "log:\nlimits:\ntimeouts: ~\nplugins:\n  defaults:\n  settings:\nproviders:\napi-keys:\n",
        );
        assert_eq!(c.log, LogConfig::default());
        assert!(c.providers.is_empty());
        assert!(c.api_keys.is_empty());
        let c = ok("providers: []\napi-keys: []\n");
        assert!(c.providers.is_empty() && c.api_keys.is_empty());
    }

    #[test]
    fn embedded_default_is_the_mock_provider() {
        let c = Config::embedded_default();
        assert_eq!(c.source, None);
        assert!(c.api_keys.is_empty());
        assert_eq!(c.providers.len(), 1);
        let p = &c.providers[0];
        assert_eq!(
            (p.name.as_str(), p.plugin.as_str(), p.base_url.as_str()),
            ("mock", "mock", "")
        );
        assert_eq!(p.models.len(), 2);
        assert_eq!(p.models[0].name, "mock");
        assert_eq!(p.models[0].aliases, vec!["mock-fast"]);
        assert_eq!(p.models[0].upstream, "mock");
        assert_eq!(p.models[1].name, "mock-large");
        assert!(p.models[1].aliases.is_empty());
        assert_eq!(c.find_model("mock-fast"), Some((0, 0)));
        assert_eq!(c.find_model("mock-large"), Some((0, 1)));
        assert_eq!(c.limits, Limits::default());
        assert_eq!(c.timeouts, Timeouts::default());
    }

    #[test]
    fn example_file_parses() {
        let c = Config::parse(
            EXAMPLE,
            "examples/config.yaml",
            Path::new("/srv/sluice"),
            &|k: &str| match k {
                "SLUICE_API_KEY" => Some("sk-local-1".to_string()),
                "HOME" => Some("/home/op".to_string()),
                _ => None,
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.listen, "127.0.0.1:8317".parse().unwrap());
        assert_eq!(c.api_keys, vec!["sk-local-1"]);
        assert_eq!(c.log, LogConfig::default());
        assert_eq!(c.limits, Limits::default());
        assert_eq!(c.timeouts, Timeouts::default());
        assert_eq!(c.plugins.dir, None);
        assert_eq!(c.plugins.cache_dir, PathBuf::from("/home/op/.cache/sluice"));
        assert_eq!(c.plugins.max_instances, 1000);
        assert_eq!(c.plugins.defaults, PluginSettings::default());
        assert_eq!(c.plugins.settings_for("mock").pool_size, 4);
        assert_eq!(c.providers.len(), 1);
        let p = &c.providers[0];
        assert_eq!((p.name.as_str(), p.plugin.as_str()), ("mock", "mock"));
        assert_eq!(p.models[1].aliases, vec!["mock-big", "mock-l"]);
        assert_eq!(c.find_model("mock-fast"), Some((0, 0)));
        assert_eq!(c.find_model("mock-l"), Some((0, 1)));
    }

    /// Strip the `# ` of commented-out YAML lines so the optional parts of
    /// the example are checked too.
    fn uncomment_example() -> String {
        let mut out = String::new();
        let mut in_block = false;
        for line in EXAMPLE.lines() {
            let trimmed = line.trim_start();
            let indent = &line[..line.len() - trimmed.len()];
            let starts_block = ["# dir:", "# cache-dir:", "# openai:", "# - name: openai"]
                .iter()
                .any(|p| trimmed.starts_with(p));
            if starts_block {
                in_block = !trimmed.starts_with("# dir:") && !trimmed.starts_with("# cache-dir:");
                out.push_str(&format!("{indent}{}\n", &trimmed[2..]));
            } else if in_block && trimmed.starts_with('#') && !indent.is_empty() {
                out.push_str(&format!(
                    "{indent}{}\n",
                    trimmed[1..].strip_prefix(' ').unwrap_or(&trimmed[1..])
                ));
            } else {
                in_block = false;
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    #[test]
    fn example_file_with_optional_parts_uncommented_parses() {
        let text = uncomment_example();
        let c = Config::parse(&text, "example", Path::new("/srv/sluice"), &test_env)
            .unwrap_or_else(|e| panic!("{e}\n---\n{text}"));
        assert_eq!(c.plugins.dir, Some(PathBuf::from("/srv/sluice/plugins")));
        assert_eq!(
            c.plugins.cache_dir,
            PathBuf::from("/srv/sluice/.sluice-cache")
        );
        assert_eq!(c.plugins.settings_for("openai").pool_size, 16);
        assert_eq!(
            c.plugins.settings_for("openai").deadline,
            Duration::from_secs(2)
        );
        assert_eq!(c.providers.len(), 2);
        let p = &c.providers[1];
        assert_eq!(p.name, "openai");
        assert_eq!(p.base_url, "https://api.openai.com/v1");
        assert_eq!(p.api_keys, vec!["sk-openai"]);
        assert_eq!(
            p.headers,
            vec![("x-request-source".to_string(), "sluice".to_string())]
        );
        assert_eq!(c.find_model("cheap"), Some((1, 0)));
        assert_eq!(c.find_model("gpt-4o"), Some((1, 1)));
        assert_eq!(p.models[0].upstream, "gpt-4o-mini-2024-07-18");
        assert_eq!(p.models[1].upstream, "gpt-4o");
    }

    #[test]
    fn every_section_is_read() {
        let c = ok(r#"
listen: "0.0.0.0:${PORT}"
api-keys: [k1, "${SET}"]
log: { level: "sluice=debug,info", format: json }
limits: { max-request-body: 2 MB, max-event-size: 4096 }
timeouts: { connect: 500ms, first-byte: 2m, idle: 1h }
plugins:
  max-instances: "${PORT}"
  defaults:
    instances: fresh
    pool-size: 0
    max-uses: 1
    streams-per-instance: 3
    recycle-memory: 1MiB
    memory-limit: 1MiB
    deadline: 10m
    on-error: fail-open
"#);
        assert_eq!(c.listen, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(c.api_keys, vec!["k1", "value"]);
        assert_eq!(c.log.level, "sluice=debug,info");
        assert_eq!(c.log.format, LogFormat::Json);
        assert_eq!(c.limits.max_request_body, 2_000_000);
        assert_eq!(c.limits.max_event_size, 4096);
        assert_eq!(c.timeouts.connect, Duration::from_millis(500));
        assert_eq!(c.timeouts.first_byte, Duration::from_secs(120));
        assert_eq!(c.timeouts.idle, Duration::from_secs(3600));
        assert_eq!(c.plugins.max_instances, 9000);
        let d = &c.plugins.defaults;
        assert_eq!(d.instances, InstanceMode::Fresh);
        assert_eq!(d.pool_size, 0);
        assert_eq!(d.max_uses, 1);
        assert_eq!(d.streams_per_instance, 3);
        assert_eq!(d.recycle_memory, 1 << 20);
        assert_eq!(d.memory_limit, 1 << 20);
        assert_eq!(d.deadline, Duration::from_secs(600));
        assert_eq!(d.on_error, FailMode::Open);
    }

    #[test]
    fn five_mistakes_give_five_errors() {
        let text = "\
listen: localhost
timeouts:
  connect: 10
plugins:
  defaults:
    pool_size: 4
providers:
  - name: a
    plugin: p
    api-keys: [\"${NOPE}\"]
    models: [{name: m}]
  - name: b
    plugin: p
    models: [{name: m}]
";
        let e = errs(text);
        assert_eq!(e.len(), 5, "{e:#?}");
        has(
            &e,
            "listen",
            &["\"localhost\" is not an IP address and port", "(line 1)"],
        );
        has(
            &e,
            "timeouts.connect",
            &[
                "\"10\" has no unit; write e.g. \"10s\" or \"500ms\"",
                "(line 3)",
            ],
        );
        has(
            &e,
            "plugins.defaults.pool_size",
            &["unknown key \"pool_size\"", "did you mean \"pool-size\"?"],
        );
        has(
            &e,
            "providers[0].api-keys[0]",
            &["environment variable NOPE is not set; export it or remove the key"],
        );
        has(
            &e,
            "providers[1].models[0].name",
            &["\"m\" is already used by providers[0].models[0].name"],
        );
        // In file order.
        let paths: Vec<_> = e.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "listen",
                "timeouts.connect",
                "plugins.defaults.pool_size",
                "providers[0].api-keys[0]",
                "providers[1].models[0].name"
            ]
        );
    }

    #[test]
    fn unknown_keys_are_reported_with_suggestions() {
        let e = errs(
            "plugins:\n  defaults:\n    depth: 3\n    dedline: 1s\nlimts: {}\nlog: {fromat: json, maxRequestBody: 1}\n",
        );
        has(
            &e,
            "plugins.defaults.depth",
            &[
                "unknown key \"depth\"; expected one of: instances, pool-size, max-uses, streams-per-instance, recycle-memory, memory-limit, deadline, on-error",
            ],
        );
        assert!(
            !e.iter()
                .find(|e| e.path == "plugins.defaults.depth")
                .unwrap()
                .message
                .contains("did you mean")
        );
        has(
            &e,
            "plugins.defaults.dedline",
            &["did you mean \"deadline\"?"],
        );
        has(
            &e,
            "limts",
            &["unknown key \"limts\" (did you mean \"limits\"?)"],
        );
        has(&e, "log.fromat", &["did you mean \"format\"?"]);
        has(&e, "log.maxRequestBody", &["unknown key"]);
        assert_eq!(e.len(), 5, "{e:#?}");
        one_error(
            "limits: {maxRequestBody: 1}",
            "limits.maxRequestBody",
            &["did you mean \"max-request-body\"?"],
        );
        one_error(
            "providers: [{name: a, plugin: p, models: [{name: m, aliases: [x]}]}]",
            "providers[0].models[0].aliases",
            &["did you mean \"alias\"?"],
        );
        one_error(
            "plugins: {settings: {x: {confg: {}}}}",
            "plugins.settings.x.confg",
            &["did you mean \"config\"?", "config"],
        );
        // `config` belongs to settings, not defaults.
        one_error(
            "plugins: {defaults: {config: {}}}",
            "plugins.defaults.config",
            &["unknown key \"config\""],
        );
    }

    #[test]
    fn wrong_types_say_what_was_expected() {
        let e = errs(
            "listen: 8317\napi-keys: sk-1\nlog: 5\nlimits:\n  max-request-body: [1]\ntimeouts:\n  idle: true\nplugins:\n  max-instances: many\n  defaults:\n    pool-size: 1.5\n    instances: 3\n  settings: []\nproviders: {name: x}\n",
        );
        has(
            &e,
            "listen",
            &[
                "expected an address and port, found the integer 8317",
                "\"127.0.0.1:8317\"",
            ],
        );
        has(
            &e,
            "api-keys",
            &["expected a list of strings, found a single string; write [\"sk-1\"]"],
        );
        has(
            &e,
            "log",
            &["expected a mapping (key: value pairs), found the integer 5"],
        );
        has(
            &e,
            "limits.max-request-body",
            &["expected a size such as \"10MiB\" or a byte count, found a list"],
        );
        has(
            &e,
            "timeouts.idle",
            &["expected a duration", "found the boolean true"],
        );
        has(
            &e,
            "plugins.max-instances",
            &["expected an integer, found the string \"many\""],
        );
        has(
            &e,
            "plugins.defaults.pool-size",
            &["expected an integer, found the number 1.5"],
        );
        has(
            &e,
            "plugins.defaults.instances",
            &["expected one of: reuse, fresh, found the integer 3"],
        );
        has(
            &e,
            "plugins.settings",
            &["expected a mapping of plugin name to settings, found a list"],
        );
        has(&e, "providers", &["expected a list of providers"]);
        assert_eq!(e.len(), 10, "{e:#?}");

        one_error(
            "providers: [{name: a, plugin: p, models: [{name: 4}]}]",
            "providers[0].models[0].name",
            &["expected a string, found the integer 4; put it in quotes: \"4\""],
        );
        one_error(
            "providers: [{name: a, plugin: p, models: [m1]}]",
            "providers[0].models[0]",
            &["write \"- name: m1\""],
        );
        one_error(
            "providers: [{name: a, plugin: p, models: [{name: m, alias: {x: 1}}]}]",
            "providers[0].models[0].alias",
            &["expected a string or a list of strings, found a mapping"],
        );
        one_error(
            "providers: [{name: a, plugin: p, models: m}]",
            "providers[0].models",
            &["expected a list of models"],
        );
        one_error(
            "providers: [{name: a, plugin: p, headers: [x], models: [{name: m}]}]",
            "providers[0].headers",
            &["expected a mapping of header name to value"],
        );
        one_error(
            "log: {format: xml}",
            "log.format",
            &["\"xml\" is not valid here; expected one of: text, json"],
        );
        one_error(
            "plugins: {defaults: {on-error: fail-opne}}",
            "plugins.defaults.on-error",
            &["did you mean \"fail-open\"?"],
        );
        one_error(
            "- a\n- b\n",
            "",
            &["the config must be a mapping", "found a list"],
        );
    }

    #[test]
    fn range_checks() {
        one_error(
            "plugins: {max-instances: 0}",
            "plugins.max-instances",
            &["0 is too small; it must be at least 1"],
        );
        one_error(
            "plugins: {defaults: {max-uses: 0}}",
            "plugins.defaults.max-uses",
            &["at least 1"],
        );
        one_error(
            "plugins: {defaults: {pool-size: -1}}",
            "plugins.defaults.pool-size",
            &["at least 0"],
        );
        one_error(
            "plugins: {defaults: {deadline: 11m}}",
            "plugins.defaults.deadline",
            &["11m is too long; it must be at most 10m"],
        );
        one_error(
            "plugins: {defaults: {deadline: 0ms}}",
            "plugins.defaults.deadline",
            &["greater than 0"],
        );
        one_error(
            "timeouts: {connect: 0s}",
            "timeouts.connect",
            &["0ms is too short; it must be greater than 0"],
        );
        one_error(
            "limits: {max-event-size: 0}",
            "limits.max-event-size",
            &["at least 1"],
        );
        one_error(
            "limits: {max-event-size: -5}",
            "limits.max-event-size",
            &["negative"],
        );
        one_error(
            "plugins: {defaults: {recycle-memory: 300MiB}}",
            "plugins.defaults.recycle-memory",
            &["memory-limit (256MiB) is less than recycle-memory (300MiB)"],
        );
        one_error(
            "plugins: {defaults: {memory-limit: 16MiB}}",
            "plugins.defaults.memory-limit",
            &["memory-limit (16MiB) is less than recycle-memory (32MiB)"],
        );
        one_error(
            "plugins: {settings: {x: {memory-limit: 1MiB}}}",
            "plugins.settings.x.memory-limit",
            &["less than recycle-memory"],
        );
        // Fine when both are lowered together.
        ok("plugins: {settings: {x: {memory-limit: 1MiB, recycle-memory: 512KiB}}}");
        one_error("log: {level: ' '}", "log.level", &["must not be empty"]);
    }

    #[test]
    fn missing_env_var_names_variable_and_path() {
        let e = errs(
            "providers:\n  - name: openai\n    plugin: openai\n    api-keys: [\"${OPENAI_KEY_X}\"]\n    headers: {x-org: \"${ORG} and ${SET} and ${TEAM}\"}\n    models: [{name: m}]\n",
        );
        has(
            &e,
            "providers[0].api-keys[0]",
            &["environment variable OPENAI_KEY_X is not set; export it or remove the key (line 4)"],
        );
        let at: Vec<_> = e
            .iter()
            .filter(|e| e.path == "providers[0].headers.x-org")
            .collect();
        assert_eq!(at.len(), 2, "{e:#?}");
        assert!(at[0].message.contains("ORG") && at[1].message.contains("TEAM"));
        assert_eq!(e.len(), 3);
        let shown = ConfigErrors {
            source: "t".into(),
            errors: e,
        }
        .to_string();
        assert!(
            shown.contains(
                "  - providers[0].api-keys[0]: environment variable OPENAI_KEY_X is not set"
            ),
            "{shown}"
        );
    }

    #[test]
    fn env_substitution_and_escapes() {
        assert_eq!(substitute("a${SET}b", &test_env).unwrap(), "avalueb");
        assert_eq!(substitute("$${SET}", &test_env).unwrap(), "${SET}");
        // Read left to right: "$" then "$${" (a literal "${").
        assert_eq!(substitute("$$${SET}", &test_env).unwrap(), "$${SET}");
        assert_eq!(
            substitute("cost: $5 $ $$", &test_env).unwrap(),
            "cost: $5 $ $$"
        );
        assert_eq!(substitute("${EMPTY}", &test_env).unwrap(), "");
        assert_eq!(substitute("${SET}${SET}", &test_env).unwrap(), "valuevalue");
        assert_eq!(
            substitute("${_A1}", &|_: &str| Some("x".into())).unwrap(),
            "x"
        );
        // No recursion into substituted values.
        assert_eq!(
            substitute("${V}", &|_: &str| Some("${SET}".into())).unwrap(),
            "${SET}"
        );
        let e = substitute("x${SET", &test_env).unwrap_err();
        assert!(e[0].contains("unterminated"), "{e:?}");
        let e = substitute("${}", &test_env).unwrap_err();
        assert!(
            e[0].contains("not a valid environment variable name"),
            "{e:?}"
        );
        let e = substitute("${A-B}", &test_env).unwrap_err();
        assert!(e[0].contains("\"A-B\""), "{e:?}");

        let c = ok(
            "api-keys: [\"$${NOT_A_VAR}\", \"${SET}\"]\nproviders: [{name: a, plugin: p, base-url: \"https://${SET}.example\", models: [{name: m}]}]\n",
        );
        assert_eq!(c.api_keys, vec!["${NOT_A_VAR}", "value"]);
        assert_eq!(c.providers[0].base_url, "https://value.example");
        one_error(
            "log: {level: \"${SET\"}",
            "log.level",
            &["unterminated \"${\"", "$${"],
        );
        // Keys are not substituted.
        let c = ok("plugins: {settings: {\"${SET}\": {config: {\"${SET}\": \"${SET}\"}}}}");
        assert_eq!(
            c.plugins.settings_for("${SET}").config,
            json!({"${SET}": "value"})
        );
    }

    #[test]
    fn duplicate_models_and_providers() {
        let text = "\
providers:
  - name: a
    plugin: p
    models:
      - name: gpt-4o-mini
      - name: x
      - name: gpt-4o
        alias: [four, fast]
  - name: b
    plugin: p
    models:
      - name: gpt-4o
      - name: y
        alias: fast
      - name: z
        alias: [z, x]
  - name: a
    plugin: p
    models: [{name: w}]
";
        let e = errs(text);
        has(
            &e,
            "providers[1].models[0].name",
            &[
                "\"gpt-4o\" is already used by providers[0].models[2].name; model names and aliases must be unique across providers",
            ],
        );
        has(
            &e,
            "providers[1].models[1].alias",
            &["\"fast\" is already used by providers[0].models[2].alias[1]"],
        );
        has(
            &e,
            "providers[1].models[2].alias[0]",
            &["\"z\" is already used by providers[1].models[2].name"],
        );
        has(
            &e,
            "providers[1].models[2].alias[1]",
            &["\"x\" is already used by providers[0].models[1].name"],
        );
        has(
            &e,
            "providers[2].name",
            &["\"a\" is already used by providers[0].name; provider names must be unique"],
        );
        assert_eq!(e.len(), 5, "{e:#?}");
    }

    #[test]
    fn alias_as_string_or_list() {
        let c = ok(
            "providers:\n  - name: a\n    plugin: p\n    models:\n      - {name: m1, alias: one}\n      - {name: m2, alias: [two, deux, zwei]}\n      - {name: m3, alias: []}\n      - {name: m4, alias: ~}\n",
        );
        let m = &c.providers[0].models;
        assert_eq!(m[0].aliases, vec!["one"]);
        assert_eq!(m[1].aliases, vec!["two", "deux", "zwei"]);
        assert!(m[2].aliases.is_empty() && m[3].aliases.is_empty());
        assert_eq!(c.find_model("one"), Some((0, 0)));
        assert_eq!(c.find_model("zwei"), Some((0, 1)));
        assert_eq!(c.find_model("m4"), Some((0, 3)));
        assert_eq!(c.find_model("nope"), None);
        assert_eq!(m[0].upstream, "m1");
        let e = errs(
            "providers: [{name: a, plugin: p, models: [{name: m, alias: [ok, '', 'has space', 5]}]}]",
        );
        has(
            &e,
            "providers[0].models[0].alias[1]",
            &["must not be empty"],
        );
        has(
            &e,
            "providers[0].models[0].alias[2]",
            &["contains whitespace"],
        );
        has(
            &e,
            "providers[0].models[0].alias[3]",
            &["expected a string, found the integer 5"],
        );
        assert_eq!(e.len(), 3);
    }

    #[test]
    fn provider_checks() {
        let e = errs(
            "providers:\n  - plugin: ''\n  - name: 'bad name'\n    plugin: p\n    models: []\n  - {}\n",
        );
        has(
            &e,
            "providers[0].name",
            &["required key is missing", "name: openai"],
        );
        has(&e, "providers[0].plugin", &["must not be empty"]);
        has(
            &e,
            "providers[0].models",
            &["required key is missing; list at least one model"],
        );
        has(
            &e,
            "providers[1].name",
            &["\"bad name\" is not a valid provider name"],
        );
        has(&e, "providers[1].models", &["must list at least one model"]);
        has(&e, "providers[2].name", &["required key is missing"]);
        has(&e, "providers[2].plugin", &["required key is missing"]);
        has(&e, "providers[2].models", &["required key is missing"]);
        assert_eq!(e.len(), 8, "{e:#?}");
        one_error(
            "providers: [{name: a, plugin: p, models: [{alias: x}]}]",
            "providers[0].models[0].name",
            &["required key is missing"],
        );
        let c = ok(
            "providers: [{name: My.Provider_1-x, plugin: p, models: [{name: m, upstream: up}]}]",
        );
        assert_eq!(c.providers[0].models[0].upstream, "up");
        assert!(c.providers[0].api_keys.is_empty() && c.providers[0].headers.is_empty());
        one_error(
            "providers: [{name: a, plugin: p, api-keys: [''], models: [{name: m}]}]",
            "providers[0].api-keys[0]",
            &["must not be empty"],
        );
        one_error(
            "api-keys: [\"${EMPTY}\"]",
            "api-keys[0]",
            &["must not be empty"],
        );
    }

    #[test]
    fn base_url_checks() {
        let url = |u: &str| {
            let text = format!(
                "providers: [{{name: a, plugin: p, base-url: '{u}', models: [{{name: m}}]}}]"
            );
            parse(&text)
                .map(|c| c.providers[0].base_url.clone())
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            url("https://api.openai.com/v1/").unwrap(),
            "https://api.openai.com/v1"
        );
        assert_eq!(
            url("http://127.0.0.1:8080//").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(url("HTTPS://Example.com").unwrap(), "HTTPS://Example.com");
        for (bad, needle) in [
            ("ftp://example.com", "http:// or https://"),
            ("api.openai.com", "no scheme"),
            ("https://", "not a valid URL"),
            ("https://x.com/v1?key=1", "query or fragment"),
            ("https://x.com/v1#top", "query or fragment"),
            ("https://x .com", "whitespace"),
            ("", "must not be empty"),
        ] {
            let e = url(bad).unwrap_err();
            assert!(
                e.contains("providers[0].base-url: ") && e.contains(needle),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn header_checks() {
        let c = ok(
            "providers: [{name: a, plugin: p, headers: {X-Org: acme, x-num: '5'}, models: [{name: m}]}]",
        );
        assert_eq!(
            c.providers[0].headers,
            vec![
                ("x-org".to_string(), "acme".to_string()),
                ("x-num".to_string(), "5".to_string())
            ]
        );
        let e = errs(
            "providers: [{name: a, plugin: p, headers: {'bad name': v, x-a: 1, X-B: ok, x-b: again, x-c: \"a\\nb\"}, models: [{name: m}]}]",
        );
        has(
            &e,
            "providers[0].headers[\"bad name\"]",
            &["not a valid HTTP header name"],
        );
        has(
            &e,
            "providers[0].headers.x-a",
            &["expected a string, found the integer 1; put it in quotes"],
        );
        has(&e, "providers[0].headers.x-b", &["given twice"]);
        has(
            &e,
            "providers[0].headers.x-c",
            &["not a valid HTTP header value"],
        );
        assert_eq!(e.len(), 4, "{e:#?}");
    }

    #[test]
    fn size_table() {
        let table: &[(&str, u64)] = &[
            ("0", 0),
            ("1024", 1024),
            ("10B", 10),
            ("1KB", 1000),
            ("1kb", 1000),
            ("2MB", 2_000_000),
            ("3GB", 3_000_000_000),
            ("1KiB", 1024),
            ("10MiB", 10 << 20),
            ("10 MiB", 10 << 20),
            ("10mib", 10 << 20),
            ("10MIB", 10 << 20),
            ("2GiB", 2 << 30),
            ("1.5KiB", 1536),
            ("0.5MB", 500_000),
            (" 7 kib ", 7 << 10),
        ];
        for (text, want) in table {
            assert_eq!(parse_size(text), Ok(*want), "{text}");
        }
        for (text, needle) in [
            ("", "is not a size"),
            ("MiB", "is not a size"),
            ("-1MiB", "is not a size"),
            ("10M", "did you mean \"10MiB\""),
            ("10 TB", "unknown size unit \"TB\""),
            ("1.5", "whole number of bytes"),
            ("1.5B", "whole number of bytes"),
            ("1.MiB", "is not a size"),
            ("1.2.3MiB", "is not a size"),
            ("99999999999999999999999GiB", "too large"),
        ] {
            let e = parse_size(text).unwrap_err();
            assert!(e.contains(needle), "{text}: {e}");
        }
        let c = ok("limits: {max-request-body: 1.5 MiB, max-event-size: '2048'}");
        assert_eq!(c.limits.max_request_body, 1536 << 10);
        assert_eq!(c.limits.max_event_size, 2048);
        one_error(
            "limits: {max-request-body: 10M}",
            "limits.max-request-body",
            &["unknown size unit \"M\"", "(line 1)"],
        );
    }

    #[test]
    fn duration_table() {
        let table: &[(&str, u64)] = &[
            ("0ms", 0),
            ("500ms", 500),
            ("10s", 10_000),
            ("10 s", 10_000),
            ("10S", 10_000),
            ("5m", 300_000),
            ("2h", 7_200_000),
            ("1MS", 1),
        ];
        for (text, ms) in table {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(*ms)),
                "{text}"
            );
        }
        for (text, needle) in [
            ("10", "\"10\" has no unit; write e.g. \"10s\" or \"500ms\""),
            ("", "is not a duration"),
            ("s", "is not a duration"),
            ("-1s", "is not a duration"),
            ("1.5s", "whole numbers"),
            ("10sec", "unknown duration unit \"sec\"; use ms, s, m or h"),
            ("1d", "unknown duration unit"),
            ("99999999999999999999s", "too large"),
            ("9999999999999999h", "too large"),
        ] {
            let e = parse_duration(text).unwrap_err();
            assert!(e.contains(needle), "{text}: {e}");
        }
        one_error(
            "timeouts: {connect: 10}",
            "timeouts.connect",
            &["\"10\" has no unit; write e.g. \"10s\" or \"500ms\""],
        );
        one_error(
            "timeouts: {connect: '10'}",
            "timeouts.connect",
            &["\"10\" has no unit"],
        );
        for d in [
            0u64, 1, 999, 1000, 1500, 60_000, 90_000, 3_600_000, 7_260_000,
        ] {
            let d = Duration::from_millis(d);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
        assert_eq!(format_duration(Duration::from_secs(120)), "2m");
        assert_eq!(format_size(10 << 20), "10MiB");
        assert_eq!(format_size(1000), "1000");
        assert_eq!(format_size(0), "0");
    }

    #[test]
    fn relative_dirs_resolve_against_base_dir() {
        let text = "plugins: {dir: ./plugins, cache-dir: cache/../c2}";
        let c = Config::parse(text, "t", Path::new("/etc/sluice"), &test_env).unwrap();
        assert_eq!(c.plugins.dir, Some(PathBuf::from("/etc/sluice/plugins")));
        assert_eq!(
            c.plugins.cache_dir,
            PathBuf::from("/etc/sluice/cache/../c2")
        );
        let c = Config::parse(
            "plugins: {dir: /opt/p, cache-dir: /var/cache/s}",
            "t",
            Path::new("/etc"),
            &test_env,
        )
        .unwrap();
        assert_eq!(c.plugins.dir, Some(PathBuf::from("/opt/p")));
        assert_eq!(c.plugins.cache_dir, PathBuf::from("/var/cache/s"));
        one_error("plugins: {dir: ''}", "plugins.dir", &["must not be empty"]);
    }

    #[test]
    fn default_cache_dir_follows_xdg_then_home_then_temp() {
        let xdg = |k: &str| match k {
            "XDG_CACHE_HOME" => Some("/xdg".to_string()),
            "HOME" => Some("/home/u".to_string()),
            _ => None,
        };
        assert_eq!(default_cache_dir(&xdg), PathBuf::from("/xdg/sluice"));
        let relative_xdg = |k: &str| match k {
            "XDG_CACHE_HOME" => Some("rel".to_string()),
            "HOME" => Some("/home/u".to_string()),
            _ => None,
        };
        assert_eq!(
            default_cache_dir(&relative_xdg),
            PathBuf::from("/home/u/.cache/sluice")
        );
        assert_eq!(
            default_cache_dir(&|_: &str| None),
            std::env::temp_dir().join("sluice-cache")
        );
        assert_eq!(
            default_cache_dir(&|_: &str| Some(String::new())),
            std::env::temp_dir().join("sluice-cache")
        );
    }

    #[test]
    fn settings_for_merges_overrides_into_defaults() {
        let c = ok("\
plugins:
  defaults:
    pool-size: 2
    deadline: 50ms
  settings:
    openai:
      pool-size: 16
      on-error: fail-open
      config: {region: eu, retries: 3, nested: [1, 2.5, true, null, \"${SET}\"]}
    guard:
      instances: fresh
");
        let base = c.plugins.settings_for("unknown-plugin");
        assert_eq!(base.pool_size, 2);
        assert_eq!(base.deadline, Duration::from_millis(50));
        assert_eq!(base.config, json!({}));
        let o = c.plugins.settings_for("openai");
        assert_eq!(o.pool_size, 16);
        assert_eq!(o.deadline, Duration::from_millis(50));
        assert_eq!(o.on_error, FailMode::Open);
        assert_eq!(o.instances, InstanceMode::Reuse);
        assert_eq!(
            o.config,
            json!({"region": "eu", "retries": 3, "nested": [1, 2.5, true, null, "value"]})
        );
        let g = c.plugins.settings_for("guard");
        assert_eq!(g.instances, InstanceMode::Fresh);
        assert_eq!(g.pool_size, 2);
        assert_eq!(g.config, json!({}));
        assert_eq!(c.plugins.overrides["guard"].pool_size, None);
        let c =
            ok("plugins: {settings: {p: {config: [1, 2]}, q: {config: hello}, r: {config: ~}}}");
        assert_eq!(c.plugins.settings_for("p").config, json!([1, 2]));
        assert_eq!(c.plugins.settings_for("q").config, json!("hello"));
        assert_eq!(c.plugins.settings_for("r").config, json!({}));
        one_error(
            "plugins: {settings: {p: {config: {x: .inf}}}}",
            "plugins.settings.p.config.x",
            &["cannot be represented in JSON"],
        );
        one_error(
            "plugins: {settings: {p: {config: {x: \"${NOPE}\"}}}}",
            "plugins.settings.p.config.x",
            &["NOPE is not set"],
        );
        let c = ok("plugins: {settings: {p: {config: {1: a, true: b}}}}");
        assert_eq!(
            c.plugins.settings_for("p").config,
            json!({"1": "a", "true": "b"})
        );
    }

    #[test]
    fn redaction_hides_secrets() {
        let c = ok("\
api-keys: [client-secret-1]
plugins:
  settings:
    p: {config: {region: eu, api-key: plugin-secret, auth: {user: u, pass: plugin-secret}, list: [{token: plugin-secret}]}}
providers:
  - name: a
    plugin: p
    base-url: https://user:url-secret@example.com/v1
    api-keys: [provider-secret]
    headers: {Authorization: header-secret, X-Api-Key: header-secret, x-session-token: header-secret, X-Client-Secret: header-secret, x-org: acme}
    models: [{name: m, alias: [mm]}]
");
        let j = c.redacted_json();
        let s = j.to_string();
        for secret in [
            "client-secret-1",
            "plugin-secret",
            "url-secret",
            "provider-secret",
            "header-secret",
        ] {
            assert!(!s.contains(secret), "{secret} leaked: {s}");
        }
        assert_eq!(j["api-keys"], json!([REDACTED]));
        let p = &j["providers"][0];
        assert_eq!(p["api-keys"], json!([REDACTED]));
        assert_eq!(p["headers"]["x-org"], "acme");
        assert_eq!(p["headers"]["authorization"], REDACTED);
        assert_eq!(p["base-url"], format!("https://{REDACTED}@example.com/v1"));
        assert_eq!(
            p["models"][0],
            json!({"name": "m", "alias": ["mm"], "upstream": "m"})
        );
        assert_eq!(j["plugins"]["settings"]["p"]["config"]["region"], "eu");
        assert_eq!(j["plugins"]["settings"]["p"]["config"]["auth"], REDACTED);
        assert_eq!(j["listen"], "127.0.0.1:8317");
        assert_eq!(j["limits"]["max-request-body"], "10MiB");
        assert_eq!(j["timeouts"]["first-byte"], "2m");
        assert_eq!(j["plugins"]["defaults"]["on-error"], "fail-closed");
        assert_eq!(j["source"], Json::Null);
    }

    #[test]
    fn redacted_json_parses_back() {
        let text = uncomment_example();
        let c = Config::parse(&text, "example", Path::new("/srv/sluice"), &test_env).unwrap();
        let mut j = c.redacted_json();
        j.as_object_mut().unwrap().remove("source");
        let again = Config::parse(&j.to_string(), "json", Path::new("/"), &test_env)
            .unwrap_or_else(|e| panic!("{e}\n{j:#}"));
        assert_eq!(again.plugins, c.plugins);
        assert_eq!(again.limits, c.limits);
        assert_eq!(again.timeouts, c.timeouts);
        assert_eq!(again.log, c.log);
        assert_eq!(again.listen, c.listen);
        assert_eq!(again.providers.len(), c.providers.len());
        assert_eq!(again.providers[1].models, c.providers[1].models);
        assert_eq!(again.providers[1].api_keys, vec![REDACTED]);
    }

    #[test]
    fn yaml_syntax_error_stops_early_with_position() {
        let e = parse(
            "listen: 127.0.0.1:1\nlog:\n  level: [unclosed\nlimits: {max-request-body: 10}\n",
        )
        .unwrap_err();
        assert_eq!(e.errors.len(), 1, "{e}");
        assert_eq!(e.errors[0].path, "");
        assert!(
            e.errors[0]
                .message
                .starts_with("YAML syntax error at line "),
            "{e}"
        );
        let e = parse("a: 1\na: 2\n").unwrap_err();
        assert!(e.errors[0].message.contains("duplicated key"), "{e}");
        assert!(e.errors[0].message.contains("line 2"), "{e}");
        let e = parse("log:\n\tlevel: info\n").unwrap_err();
        assert!(
            e.errors[0].message.contains("YAML syntax error at line 2"),
            "{e}"
        );
    }

    #[test]
    fn other_yaml_oddities_are_reported() {
        one_error(
            "log: {level: info}\n---\nlog: {level: debug}\n",
            "",
            &["found 2 YAML documents", "(line 3)"],
        );
        one_error("log: !custom {level: info}", "log", &["YAML tags"]);
        one_error(
            "plugins: {defaults: {pool-size: !!int abc}}",
            "plugins.defaults.pool-size",
            &["does not match its YAML type tag"],
        );
        one_error("? [a, b]\n: c\n", "", &["keys must be plain names"]);
        // Anchors and aliases are expanded.
        let c = ok(
            "providers:\n  - name: a\n    plugin: p\n    headers: &h {x-a: b}\n    models: [{name: m1}]\n  - name: b\n    plugin: p\n    headers: *h\n    models: [{name: m2}]\n",
        );
        assert_eq!(c.providers[1].headers, c.providers[0].headers);
    }

    #[test]
    fn errors_display() {
        let e = ConfigErrors {
            source: "sluice.yaml".into(),
            errors: vec![
                ConfigError {
                    path: "timeouts.connect".into(),
                    message: "bad".into(),
                },
                ConfigError {
                    path: String::new(),
                    message: "whole file".into(),
                },
            ],
        };
        assert_eq!(
            e.to_string(),
            "2 problems in sluice.yaml:\n  - timeouts.connect: bad\n  - whole file"
        );
        let one = ConfigErrors {
            source: "x".into(),
            errors: vec![ConfigError {
                path: "a".into(),
                message: "b".into(),
            }],
        };
        assert_eq!(one.to_string(), "1 problem in x:\n  - a: b");
        let _: &dyn std::error::Error = &one;
        assert_eq!(join("", "a"), "a");
        assert_eq!(join("a", "b-c"), "a.b-c");
        assert_eq!(join("a", "b.c"), "a[\"b.c\"]");
        assert_eq!(index("a", 3), "a[3]");
    }

    #[test]
    fn load_reads_files_and_reports_unreadable_ones() {
        let dir = std::env::temp_dir().join(format!("sluice-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("sluice.yaml");
        std::fs::write(
            &file,
            "plugins: {dir: ./p}\nproviders: [{name: a, plugin: p, models: [{name: m}]}]\n",
        )
        .unwrap();
        let c = Config::load(&file).unwrap();
        assert_eq!(c.source, Some(file.clone()));
        assert_eq!(c.plugins.dir, Some(dir.join("p")));
        std::fs::write(&file, "limits: {max-event-size: lots}\n").unwrap();
        let e = Config::load(&file).unwrap_err();
        assert_eq!(e.source, file.display().to_string());
        assert_eq!(e.errors[0].path, "limits.max-event-size");
        std::fs::remove_dir_all(&dir).unwrap();

        let missing = dir.join("missing.yaml");
        let e = Config::load(&missing).unwrap_err();
        assert_eq!(e.errors.len(), 1);
        assert_eq!(e.errors[0].path, "");
        assert!(
            e.errors[0]
                .message
                .starts_with(&format!("cannot read config file {}: ", missing.display())),
            "{e}"
        );
    }

    #[test]
    fn kebab_and_edit_distance() {
        assert_eq!(kebab("maxRequestBody"), "max-request-body");
        assert_eq!(kebab("pool_size"), "pool-size");
        assert_eq!(kebab("Base-URL"), "base-url");
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(suggest("base_url", PROVIDER_KEYS), Some("base-url"));
        assert_eq!(suggest("zzz", PROVIDER_KEYS), None);
    }
}
