//! What the `export_*!` macros export: the plugin's type wrapped in
//! [`Hooked`], which installs a panic hook on the first call into the
//! instance and otherwise delegates every call unchanged.
//!
//! The hook sends the panic message, on one line with its source location
//! (`panic at src/lib.rs:10:5: message`), to the gateway's log through the
//! host's `log` import, at `error` level, instead of to WASI stderr. The panic still becomes a trap; the host then discards
//! the instance and answers with an error naming the plugin.

use crate::dialect::{Ingress, StreamEncoder};
use crate::guardrail::{Guard, StreamGuard};
use crate::provider::{Adapter, StreamMapper};
use crate::transform::{StreamTransformer, Transformer};
use crate::{
    Event, Plugin, PluginError, PluginInfo, Prepared, Request, Target, UpstreamResponse, Verdict,
};

/// A plugin type, or one of its stream resources, as exported by the
/// `export_*!` macros. Not for direct use.
pub struct Hooked<T>(T);

/// Installs the panic hook once per instance (a no-op outside WebAssembly,
/// so native tests keep the default hook).
#[inline]
pub fn install_panic_hook() {
    #[cfg(target_arch = "wasm32")]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            std::panic::set_hook(Box::new(|info| {
                let payload = info.payload();
                let msg = payload
                    .downcast_ref::<&str>()
                    .copied()
                    .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                    .unwrap_or("(non-string panic payload)");
                let line = match info.location() {
                    Some(at) => format!(
                        "panic at {}:{}:{}: {msg}",
                        at.file(),
                        at.line(),
                        at.column()
                    ),
                    None => format!("panic: {msg}"),
                };
                crate::log::error(&line);
            }))
        });
    }
}

impl<T: Plugin> Plugin for Hooked<T> {
    fn describe() -> PluginInfo {
        install_panic_hook();
        T::describe()
    }

    fn validate_config(config: String) -> Result<(), String> {
        install_panic_hook();
        T::validate_config(config)
    }
}

impl<T: Adapter> Adapter for Hooked<T> {
    type StreamMapper = Hooked<T::StreamMapper>;

    fn prepare(req: Request, target: Target) -> Result<Prepared, PluginError> {
        install_panic_hook();
        T::prepare(req, target)
    }

    fn map_response(req: Request, response: UpstreamResponse) -> Result<Vec<u8>, PluginError> {
        install_panic_hook();
        T::map_response(req, response)
    }
}

impl<T: StreamMapper> StreamMapper for Hooked<T> {
    fn new(req: Request) -> Self {
        install_panic_hook();
        Hooked(T::new(req))
    }

    fn map_event(&self, ev: Event) -> Result<Vec<Event>, PluginError> {
        self.0.map_event(ev)
    }

    fn finish(&self) -> Result<Vec<Event>, PluginError> {
        self.0.finish()
    }
}

impl<T: Ingress> Ingress for Hooked<T> {
    type StreamEncoder = Hooked<T::StreamEncoder>;

    fn decode_request(req: Request) -> Result<Vec<u8>, PluginError> {
        install_panic_hook();
        T::decode_request(req)
    }

    fn encode_response(req: Request, body: Vec<u8>) -> Result<Vec<u8>, PluginError> {
        install_panic_hook();
        T::encode_response(req, body)
    }
}

impl<T: StreamEncoder> StreamEncoder for Hooked<T> {
    fn new(req: Request) -> Self {
        install_panic_hook();
        Hooked(T::new(req))
    }

    fn encode_event(&self, ev: Event) -> Result<Vec<Event>, PluginError> {
        self.0.encode_event(ev)
    }

    fn finish(&self) -> Result<Vec<Event>, PluginError> {
        self.0.finish()
    }
}

impl<T: Transformer> Transformer for Hooked<T> {
    type StreamTransformer = Hooked<T::StreamTransformer>;

    fn transform_request(req: Request) -> Result<Vec<u8>, PluginError> {
        install_panic_hook();
        T::transform_request(req)
    }

    fn transform_response(req: Request, body: Vec<u8>) -> Result<Vec<u8>, PluginError> {
        install_panic_hook();
        T::transform_response(req, body)
    }
}

impl<T: StreamTransformer> StreamTransformer for Hooked<T> {
    fn new(req: Request) -> Self {
        install_panic_hook();
        Hooked(T::new(req))
    }

    fn transform_event(&self, ev: Event) -> Result<Vec<Event>, PluginError> {
        self.0.transform_event(ev)
    }

    fn finish(&self) -> Result<Vec<Event>, PluginError> {
        self.0.finish()
    }
}

impl<T: Guard> Guard for Hooked<T> {
    type StreamGuard = Hooked<T::StreamGuard>;

    fn check_request(req: Request) -> Result<Verdict, PluginError> {
        install_panic_hook();
        T::check_request(req)
    }

    fn check_response(req: Request, body: Vec<u8>) -> Result<Verdict, PluginError> {
        install_panic_hook();
        T::check_response(req, body)
    }
}

impl<T: StreamGuard> StreamGuard for Hooked<T> {
    fn new(req: Request) -> Self {
        install_panic_hook();
        Hooked(T::new(req))
    }

    fn check_text(&self, text: String) -> Result<Verdict, PluginError> {
        self.0.check_text(text)
    }

    fn finish(&self) -> Result<Verdict, PluginError> {
        self.0.finish()
    }
}
