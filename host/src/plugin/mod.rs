//! The plugin runtime: one engine, compiled components, warm instance pools,
//! and the calls the pipeline makes into plugins.
//!
//! - [`engine`]: the process-wide `Engine` (pooling allocator, epoch
//!   interruption) and the compiled-component cache.
//! - [`version`]: one loaded plugin version: its `InstancePre`, what it
//!   described itself as, its pool of warm instances, and [`Lease`], the
//!   handle a request holds while it calls the plugin.
//! - [`streams`]: open streams sharing warm instances, one resource per
//!   stream ([`StreamSlot`]).
//! - [`registry`]: the set of live plugin versions, by name.
//! - [`bindings`]: the generated host bindings of `wit/sluice.wit`.

pub mod bindings;
pub mod engine;
mod narrow;
mod noblock;
pub mod registry;
pub mod state;
pub mod streams;
pub mod version;

pub use engine::{EngineSettings, PluginEngine};
pub use registry::Registry;
pub use streams::StreamSlot;
pub use version::{Lease, PluginVersion};

/// A plugin's kind, as it described itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Provider,
    Transform,
    Guardrail,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Provider => "provider",
            Kind::Transform => "transform",
            Kind::Guardrail => "guardrail",
        }
    }
}

/// How an upstream streams, as the provider plugin described it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFormat {
    Sse,
    Ndjson,
}

/// The hooks a plugin declared (with the `pass-through` import, during
/// `describe`) that it passes through unchanged; the host skips them.
/// Only what applies to the plugin's kind is kept: a provider may pass
/// only `response` through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassThrough {
    /// `transform-request` / `check-request`.
    pub request: bool,
    /// `map-response` / `transform-response` / `check-response`.
    pub response: bool,
    /// The per-stream transformer or guard.
    pub stream: bool,
}

impl PassThrough {
    /// What `declared` means for a plugin of `kind`.
    ///
    /// `hub_stream`: the plugin is a provider whose upstream streams hub
    /// chunks (dialect `openai`, SSE), so its stream mapper may be skipped.
    pub fn for_kind(kind: Kind, hub_stream: bool, declared: bindings::host::Hooks) -> Self {
        use bindings::host::Hooks;
        let provider = kind == Kind::Provider;
        PassThrough {
            request: !provider && declared.contains(Hooks::REQUEST),
            response: declared.contains(Hooks::RESPONSE),
            stream: (!provider || hub_stream) && declared.contains(Hooks::STREAM),
        }
    }

    /// The skipped hooks by name, for the management API and
    /// `sluice plugin inspect`.
    pub fn names(self) -> Vec<&'static str> {
        [
            (self.request, "request"),
            (self.response, "response"),
            (self.stream, "stream"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
    }
}

/// What a plugin said about itself in `describe()`, plus where it came from.
#[derive(Debug, Clone)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    pub kind: Kind,
    pub description: String,
    pub dialect: String,
    pub stream_format: StreamFormat,
    /// Hooks the host skips for this plugin.
    pub pass_through: PassThrough,
    /// The `metadata` keys the plugin declared it reads (`reads-metadata`);
    /// only those pairs are sent to it. `None`: every pair.
    pub reads_metadata: Option<Vec<String>>,
    /// The client headers the plugin declared it reads (`reads-headers`);
    /// only those are sent to it. `None`: every header a plugin may see.
    pub reads_headers: Option<Vec<String>>,
    /// `builtin:NAME` or the file path it was loaded from.
    pub origin: String,
    pub sha256: String,
    pub size: usize,
}

impl PluginInfo {
    /// Whether it is sent any metadata pair (it declared none, or some).
    pub fn reads_any_metadata(&self) -> bool {
        self.reads_metadata.as_ref().is_none_or(|k| !k.is_empty())
    }

    /// Whether it is sent any client header (it declared none, or some).
    pub fn reads_any_header(&self) -> bool {
        self.reads_headers.as_ref().is_none_or(|n| !n.is_empty())
    }
}

/// Errors loading a plugin (before it goes live).
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("{0}")]
    Engine(String),
    #[error("{0}")]
    Invalid(String),
}

/// Why a call into a plugin failed. Every variant names the plugin.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// The plugin trapped (a panic, an out-of-bounds access, unreachable...).
    #[error("plugin {plugin} crashed (trap) in {call}: {detail}")]
    Trap {
        plugin: String,
        call: &'static str,
        detail: String,
    },
    /// The call ran past its deadline (`plugins.*.deadline`).
    #[error(
        "plugin {plugin} ran past its {deadline_ms} ms deadline in {call} and was stopped; raise plugins.settings.{plugin}.deadline if it is just slow"
    )]
    Deadline {
        plugin: String,
        call: &'static str,
        deadline_ms: u128,
    },
    /// The instance needed more memory than `memory-limit` allows.
    #[error(
        "plugin {plugin} exceeded its memory limit of {limit} bytes in {call} and was stopped; raise plugins.settings.{plugin}.memory-limit if it legitimately needs more"
    )]
    Memory {
        plugin: String,
        call: &'static str,
        limit: usize,
    },
    /// A new instance could not be created (e.g. every instance slot is in use).
    #[error("plugin {plugin} could not be instantiated: {detail}")]
    Instantiate { plugin: String, detail: String },
    /// The plugin does not export what the host needed.
    #[error("plugin {plugin} does not implement {what}")]
    Unsupported { plugin: String, what: &'static str },
    /// The plugin returned an error value on purpose.
    #[error("plugin {plugin}: {message}")]
    Reported {
        plugin: String,
        status: u16,
        code: String,
        message: String,
    },
}

impl CallError {
    /// A stable code for error bodies and metrics.
    pub fn code(&self) -> &str {
        match self {
            CallError::Trap { .. } => "plugin_trap",
            CallError::Deadline { .. } => "plugin_deadline_exceeded",
            CallError::Memory { .. } => "plugin_memory_exceeded",
            CallError::Instantiate { .. } => "plugin_unavailable",
            CallError::Unsupported { .. } => "plugin_unsupported",
            CallError::Reported { code, .. } => code,
        }
    }

    /// Whether this is a failure of the plugin itself (a fault), as opposed
    /// to an answer it gave on purpose.
    pub fn is_fault(&self) -> bool {
        !matches!(self, CallError::Reported { .. })
    }
}
