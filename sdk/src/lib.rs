//! # sluice-sdk: write sluice plugins in Rust
//!
//! sluice is an LLM API gateway whose behaviour is extended by WebAssembly
//! component plugins. A plugin implements one of the worlds of the contract in
//! `wit/sluice.wit` (package `sluice:plugin@0.1.0`):
//!
//! | world       | traits to implement                                          | export macro                  |
//! |-------------|--------------------------------------------------------------|-------------------------------|
//! | `provider`  | [`Plugin`], [`provider::Adapter`] + [`provider::StreamMapper`] | [`export_provider!`]          |
//! | `dialect`   | the `provider` ones + [`dialect::Ingress`] + [`dialect::StreamEncoder`] | [`export_dialect!`]  |
//! | `transform` | [`Plugin`], [`transform::Transformer`] + [`transform::StreamTransformer`] | [`export_transform!`] |
//! | `guardrail` | [`Plugin`], [`guardrail::Guard`] + [`guardrail::StreamGuard`] | [`export_guardrail!`]         |
//!
//! A plugin is a `cdylib` crate built with
//! `cargo build --release --target wasm32-wasip2`; the `.wasm` file that
//! produces is already a component the gateway can load.
//!
//! Besides the bindings the crate has:
//!
//! * [`hub`]: serde types for the hub format, OpenAI Chat Completions JSON
//!   ([`hub::ChatRequest`], [`hub::ChatResponse`], [`hub::ChatChunk`], ...).
//!   Unknown fields are kept in `extra` maps, so a round trip loses nothing.
//! * [`json`]: parsing with ready-made [`PluginError`]s, and
//!   [`json::rewrite_model`], which replaces the top-level `model` of a body
//!   and keeps every other field byte for byte (the cheap forwarding path).
//! * [`error`]: [`PluginError`] constructors ([`error::bad_request`], ...).
//! * [`log`] and [`config`]: the host's imports (`log`, `get-config`), and
//!   [`pass_through`], which tells the host which hooks it need not call,
//!   and [`reads_metadata`] / [`reads_headers`], which metadata and client
//!   headers it need not send.
//! * [`openai`]: building requests for OpenAI-compatible upstreams and passing
//!   their stream events through.
//! * [`header`]: a [`Header`] constructor.
//! * In WebAssembly, a faster global allocator than the standard library's
//!   (Talc instead of dlmalloc; feature `allocator`, on by default): every
//!   string and list the host passes into a call is an allocation, so a
//!   plugin makes dozens per request. A plugin that declares its own
//!   `#[global_allocator]` depends on the SDK with
//!   `default-features = false`.
//!
//! # A complete provider
//!
//! `Cargo.toml`:
//!
//! ```toml
//! [package]
//! name = "echo"
//! version = "0.1.0"
//! edition = "2024"
//!
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! sluice-sdk = { path = "../../sdk" }
//! ```
//!
//! `src/lib.rs` (a provider that answers every request itself by echoing the
//! last message, and forwards nothing):
//!
//! ```
//! use sluice_sdk::hub::{ChatChunk, ChatRequest, ChatResponse, Delta, Usage};
//! use sluice_sdk::prelude::*;
//! use sluice_sdk::{config, error, json};
//!
//! struct Echo;
//!
//! impl Plugin for Echo {
//!     fn describe() -> PluginInfo {
//!         PluginInfo {
//!             name: "echo".into(),
//!             version: env!("CARGO_PKG_VERSION").into(),
//!             kind: PluginKind::Provider,
//!             description: "Echoes the last message back".into(),
//!             dialect: "openai".into(),
//!             stream_format: StreamFormat::Sse,
//!         }
//!     }
//!
//!     fn validate_config(config: String) -> Result<(), String> {
//!         // Accept only `{}`; `config::parse` rejects unknown keys clearly
//!         // when the target type says `deny_unknown_fields`.
//!         #[derive(serde::Deserialize)]
//!         #[serde(deny_unknown_fields)]
//!         struct NoConfig {}
//!         config::parse::<NoConfig>(&config).map(|_| ())
//!     }
//! }
//!
//! impl Adapter for Echo {
//!     type StreamMapper = PassThrough;
//!
//!     fn prepare(req: Request, _target: Target) -> Result<Prepared, PluginError> {
//!         let chat: ChatRequest = json::parse(&req.body)?;
//!         let text = chat.messages.last().map(|m| m.text()).unwrap_or_default();
//!         let usage = Usage::new(1, 1);
//!         let (body, events) = if req.stream {
//!             let chunk = |delta, finish: Option<&str>| {
//!                 ChatChunk::new("echo-1", 0, &req.requested_model, delta, finish).to_event()
//!             };
//!             let events = vec![
//!                 chunk(Delta::role("assistant"), None)?,
//!                 chunk(Delta::content(text), None)?,
//!                 chunk(Delta::default(), Some("stop"))?,
//!             ];
//!             (Vec::new(), events)
//!         } else {
//!             let resp = ChatResponse::single("echo-1", 0, &req.requested_model, text, "stop", Some(usage));
//!             (json::to_vec(&resp)?, Vec::new())
//!         };
//!         Ok(Prepared::Respond(LocalResponse { status: 200, body, events }))
//!     }
//!
//!     fn map_response(_req: Request, _resp: UpstreamResponse) -> Result<Vec<u8>, PluginError> {
//!         Err(error::internal("echo never forwards"))
//!     }
//! }
//!
//! /// Never used: `echo` answers locally.
//! struct PassThrough;
//!
//! impl StreamMapper for PassThrough {
//!     fn new(_req: Request) -> Self {
//!         PassThrough
//!     }
//!     fn map_event(&self, ev: Event) -> Result<Vec<Event>, PluginError> {
//!         Ok(vec![ev])
//!     }
//!     fn finish(&self) -> Result<Vec<Event>, PluginError> {
//!         Ok(Vec::new())
//!     }
//! }
//!
//! sluice_sdk::export_provider!(Echo);
//! # fn main() {}
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2`.
//!
//! # Things to know
//!
//! * Stream state: `map_event` and friends take `&self`; keep mutable
//!   per-stream state in a `Cell` or `RefCell`.
//! * A panic becomes a WebAssembly trap; the gateway isolates it and answers
//!   with an error naming the plugin. Return a [`PluginError`] for failures
//!   you expect. The `export_*!` macros install a panic hook (on the first
//!   call into an instance) that writes the panic message and location to
//!   the gateway's log instead of WASI stderr.
//! * The export macros take any type path (`export_provider!(my::Plugin)`),
//!   and must be called once per plugin crate.
//! * How the bindings are generated: every exported interface is generated
//!   once (the worlds share `plugin` and `adapter`), and each `export_*!`
//!   macro combines the pieces its world needs; the component ends up with
//!   exactly the imports and exports of that world. The raw bindings live in
//!   the hidden `sluice_sdk::bindings` module.
//! * Outside WebAssembly (for example in a plugin's native unit tests) the
//!   host imports are not available: [`log`] writes to stderr and
//!   [`config::raw`] returns `{}`. The exported functions are never called
//!   natively.
#![warn(missing_docs)]

/// The raw `wit-bindgen` output. Hidden: everything in it is re-exported
/// under friendlier names; see the module's source for how it is laid out.
#[doc(hidden)]
#[allow(missing_docs)]
pub mod bindings;

#[cfg(any(
    test,
    all(
        feature = "allocator",
        target_family = "wasm",
        not(target_feature = "atomics")
    )
))]
mod alloc;
pub mod config;
pub mod error;
#[doc(hidden)]
pub mod export;
pub mod hub;
pub mod json;
pub mod log;
pub mod openai;

pub use bindings::base::exports::sluice::plugin::plugin::Guest as Plugin;
pub use bindings::base::sluice::plugin::types::{
    Event, Header, LocalResponse, PluginError, PluginInfo, PluginKind, Prepared, Request,
    StreamFormat, Target, UpstreamRequest, UpstreamResponse, Verdict,
};

pub use bindings::base::sluice::plugin::host::Hooks;

/// Tells the host which hooks this plugin passes through unchanged, so it
/// does not call them (the body or event goes on as it was, and the cost of
/// copying the request into the plugin and back is saved). Call it from
/// [`Plugin::describe`]; later calls are ignored. Without it every hook is
/// called.
///
/// What applies: [`Hooks::REQUEST`] (`transform-request`, `check-request`)
/// and [`Hooks::STREAM`] (the stream transformer or guard) for transforms
/// and guardrails; [`Hooks::RESPONSE`] (`map-response`,
/// `transform-response`, `check-response`) for every kind; and
/// [`Hooks::STREAM`] for a provider of dialect `openai` with SSE streams
/// whose upstream's events are hub chunks (the host then drops `[DONE]`
/// itself, as [`openai::pass_through_event`] does). The trait
/// methods must still be implemented (as the identity): a host that does
/// not skip them calls them.
///
/// ```no_run
/// use sluice_sdk::Hooks;
/// // in `describe`: this transform rewrites requests only.
/// sluice_sdk::pass_through(Hooks::RESPONSE | Hooks::STREAM);
/// ```
///
/// A no-op outside WebAssembly.
pub fn pass_through(hooks: Hooks) {
    #[cfg(target_arch = "wasm32")]
    bindings::base::sluice::plugin::host::pass_through(hooks);
    #[cfg(not(target_arch = "wasm32"))]
    let _ = hooks;
}

/// Tell the host which `metadata` keys of a [`Request`] this plugin reads;
/// the host then sends only those pairs (none, for an empty list). Each pair
/// sent costs every call two strings allocated in the plugin. Call it from
/// [`Plugin::describe`]; later calls are ignored. Without it every pair is
/// sent. Naming a key no request carries is fine.
///
/// ```no_run
/// // in `describe`: this plugin looks at `provider-dialect` only.
/// sluice_sdk::reads_metadata(&["provider-dialect"]);
/// ```
///
/// A no-op outside WebAssembly.
pub fn reads_metadata(keys: &[&str]) {
    #[cfg(target_arch = "wasm32")]
    {
        let keys: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
        bindings::base::sluice::plugin::host::reads_metadata(&keys);
    }
    #[cfg(not(target_arch = "wasm32"))]
    let _ = keys;
}

/// Tell the host which client headers (`Request::headers`) this plugin
/// reads; the host then sends only those (none, for an empty list), as
/// [`reads_metadata`] does for metadata. Names are compared without regard
/// to case. Call it from [`Plugin::describe`]; later calls are ignored.
/// Without it every header a plugin may see is sent.
///
/// ```no_run
/// // in `describe`: this plugin forwards two of the client's headers.
/// sluice_sdk::reads_headers(&["anthropic-version", "anthropic-beta"]);
/// ```
///
/// A no-op outside WebAssembly.
pub fn reads_headers(names: &[&str]) {
    #[cfg(target_arch = "wasm32")]
    {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        bindings::base::sluice::plugin::host::reads_headers(&names);
    }
    #[cfg(not(target_arch = "wasm32"))]
    let _ = names;
}

/// Builds a [`Header`]. The name is lower-cased, as the contract requires.
///
/// ```
/// let h = sluice_sdk::header("Content-Type", "application/json");
/// assert_eq!(h.name, "content-type");
/// ```
pub fn header(name: impl Into<String>, value: impl Into<String>) -> Header {
    let mut name = name.into();
    name.make_ascii_lowercase();
    Header {
        name,
        value: value.into(),
    }
}

pub mod provider {
    //! The `provider` world: a provider adapter for an upstream API.
    //!
    //! Implement [`Plugin`], [`Adapter`] and [`StreamMapper`],
    //! then call [`export_provider!`](crate::export_provider).

    pub use crate::Plugin;
    pub use crate::bindings::adapter::exports::sluice::plugin::adapter::{
        Guest as Adapter, GuestStreamMapper as StreamMapper,
    };
}

pub mod dialect {
    //! The `dialect` world: a provider that also serves clients speaking its
    //! dialect (ingress).
    //!
    //! Implement everything the [`provider`](crate::provider) world needs plus
    //! [`Ingress`] and [`StreamEncoder`], then call
    //! [`export_dialect!`](crate::export_dialect).

    pub use crate::Plugin;
    pub use crate::bindings::ingress::exports::sluice::plugin::ingress::{
        Guest as Ingress, GuestStreamEncoder as StreamEncoder,
    };
    pub use crate::provider::{Adapter, StreamMapper};
}

pub mod transform {
    //! The `transform` world: a hub request/response rewriter.
    //!
    //! Implement [`Plugin`], [`Transformer`] and
    //! [`StreamTransformer`], then call
    //! [`export_transform!`](crate::export_transform).

    pub use crate::Plugin;
    pub use crate::bindings::transformer::exports::sluice::plugin::transformer::{
        Guest as Transformer, GuestStreamTransformer as StreamTransformer,
    };
}

pub mod guardrail {
    //! The `guardrail` world: a request and stream checker.
    //!
    //! Implement [`Plugin`], [`Guard`] and [`StreamGuard`], then
    //! call [`export_guardrail!`](crate::export_guardrail).

    pub use crate::Plugin;
    pub use crate::bindings::guard::exports::sluice::plugin::guard::{
        Guest as Guard, GuestStreamGuard as StreamGuard,
    };
}

pub mod prelude {
    //! Everything a plugin usually needs: the WIT types, every world's traits and
    //! [`header`]. Use it with `use sluice_sdk::prelude::*;`.

    pub use crate::dialect::{Ingress, StreamEncoder};
    pub use crate::guardrail::{Guard, StreamGuard};
    pub use crate::provider::{Adapter, StreamMapper};
    pub use crate::transform::{StreamTransformer, Transformer};
    pub use crate::{
        Event, Header, Hooks, LocalResponse, Plugin, PluginError, PluginInfo, PluginKind, Prepared,
        Request, StreamFormat, Target, UpstreamRequest, UpstreamResponse, Verdict, header,
    };
}

/// Exports a type as a plugin of the `provider` world.
///
/// The type must implement [`Plugin`] and [`provider::Adapter`] (whose
/// `StreamMapper` implements [`provider::StreamMapper`]). Call it once, at
/// the top level of the plugin crate:
///
/// ```ignore
/// sluice_sdk::export_provider!(MyProvider);
/// ```
///
/// Like every `export_*!` macro it also installs, on the first call into an
/// instance, a panic hook that sends panic messages to the gateway's log
/// (see [`log`]) instead of WASI stderr.
#[macro_export]
macro_rules! export_provider {
    ($ty:ty) => {
        const _: () = {
            type __SluiceSdkExport = $crate::export::Hooked<$ty>;
            $crate::bindings::base::__export_plugin!(
                __SluiceSdkExport with_types_in $crate::bindings::base
            );
            $crate::bindings::adapter::__export_adapter!(
                __SluiceSdkExport with_types_in $crate::bindings::adapter
            );
        };
    };
}

/// Exports a type as a plugin of the `dialect` world (a provider plus
/// ingress for its dialect).
///
/// The type must implement [`Plugin`], [`provider::Adapter`] and
/// [`dialect::Ingress`]:
///
/// ```ignore
/// sluice_sdk::export_dialect!(MyDialect);
/// ```
#[macro_export]
macro_rules! export_dialect {
    ($ty:ty) => {
        const _: () = {
            type __SluiceSdkExport = $crate::export::Hooked<$ty>;
            $crate::bindings::base::__export_plugin!(
                __SluiceSdkExport with_types_in $crate::bindings::base
            );
            $crate::bindings::adapter::__export_adapter!(
                __SluiceSdkExport with_types_in $crate::bindings::adapter
            );
            $crate::bindings::ingress::__export_ingress!(
                __SluiceSdkExport with_types_in $crate::bindings::ingress
            );
        };
    };
}

/// Exports a type as a plugin of the `transform` world.
///
/// The type must implement [`Plugin`] and [`transform::Transformer`]:
///
/// ```ignore
/// sluice_sdk::export_transform!(MyTransform);
/// ```
#[macro_export]
macro_rules! export_transform {
    ($ty:ty) => {
        const _: () = {
            type __SluiceSdkExport = $crate::export::Hooked<$ty>;
            $crate::bindings::base::__export_plugin!(
                __SluiceSdkExport with_types_in $crate::bindings::base
            );
            $crate::bindings::transformer::__export_transformer!(
                __SluiceSdkExport with_types_in $crate::bindings::transformer
            );
        };
    };
}

/// Exports a type as a plugin of the `guardrail` world.
///
/// The type must implement [`Plugin`] and [`guardrail::Guard`]:
///
/// ```ignore
/// sluice_sdk::export_guardrail!(MyGuardrail);
/// ```
#[macro_export]
macro_rules! export_guardrail {
    ($ty:ty) => {
        const _: () = {
            type __SluiceSdkExport = $crate::export::Hooked<$ty>;
            $crate::bindings::base::__export_plugin!(
                __SluiceSdkExport with_types_in $crate::bindings::base
            );
            $crate::bindings::guard::__export_guard!(
                __SluiceSdkExport with_types_in $crate::bindings::guard
            );
        };
    };
}
