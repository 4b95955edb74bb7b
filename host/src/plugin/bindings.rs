//! Host-side bindings for the WIT worlds in `wit/sluice.wit`.
//!
//! `dialect` is the superset of `provider` (it adds `ingress`), so one set of
//! provider bindings serves both: a provider-only component simply has no
//! `ingress` export, which the loader detects from the component's exports.
//! The other worlds reuse the shared `types` and `host` interfaces so the
//! host builds one `Request` type for every plugin kind.

pub mod dialect {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "dialect",
    });
}

pub mod transform {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "transform",
        with: {
            "sluice:plugin/types": super::dialect::sluice::plugin::types,
            "sluice:plugin/host": super::dialect::sluice::plugin::host,
        },
    });
}

pub mod guardrail {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "guardrail",
        with: {
            "sluice:plugin/types": super::dialect::sluice::plugin::types,
            "sluice:plugin/host": super::dialect::sluice::plugin::host,
        },
    });
}

pub use dialect::exports::sluice::plugin::{adapter, ingress, plugin as describe_iface};
pub use dialect::sluice::plugin::host;
pub use dialect::sluice::plugin::types;
pub use guardrail::exports::sluice::plugin::guard;
pub use transform::exports::sluice::plugin::transformer;
