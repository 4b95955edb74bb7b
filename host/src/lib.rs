//! sluice: an edge gateway for LLM APIs, extended by WebAssembly component
//! plugins.
//!
//! A request's path through the library, in order (see [`pipeline`]):
//! [`server`] accepts it → [`auth`] checks the client key → [`route`] maps
//! the model to a provider → the provider plugin ([`plugin`]) prepares the
//! upstream request → [`upstream`] sends it → the answer comes back through
//! the plugin, streamed events framed natively by [`sse`] and [`stream`].
//! [`error`] is the one place failures become responses; [`config`] reads
//! and validates the YAML config.

pub mod auth;
pub mod builtin;
pub mod config;
pub mod error;
pub mod inspect;
pub mod management;
pub mod metrics;
pub mod peek;
pub mod pipeline;
pub mod plugin;
pub mod reload;
pub mod route;
pub mod scaffold;
pub mod server;
pub mod sse;
pub mod stream;
pub mod upstream;
