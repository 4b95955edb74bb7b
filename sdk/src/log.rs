//! Writing to the gateway's log through the host's `log` import.
//!
//! Lines are tagged by the host with the plugin's name and version. Outside
//! WebAssembly (native unit tests) they go to stderr instead.
//!
//! ```no_run
//! sluice_sdk::log::info("starting");
//! sluice_sdk::log::warn(&format!("odd upstream status {}", 418));
//! ```

pub use crate::bindings::base::sluice::plugin::host::LogLevel as Level;

/// Writes `message` to the gateway's log at `level`.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::bindings::base::sluice::plugin::host::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[{level:?}] {message}");
}

/// Whether the gateway writes lines at `level` (its log filter). Check it
/// before formatting a message on a path every request takes:
///
/// ```no_run
/// use sluice_sdk::log::{self, Level};
/// if log::enabled(Level::Debug) {
///     log::debug(&format!("rewrote {} fields", 3));
/// }
/// ```
///
/// Always true outside WebAssembly.
pub fn enabled(level: Level) -> bool {
    #[cfg(target_arch = "wasm32")]
    {
        crate::bindings::base::sluice::plugin::host::log_enabled(level)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = level;
        true
    }
}

/// Logs at `trace` level.
pub fn trace(message: &str) {
    log(Level::Trace, message)
}

/// Logs at `debug` level.
pub fn debug(message: &str) {
    log(Level::Debug, message)
}

/// Logs at `info` level.
pub fn info(message: &str) {
    log(Level::Info, message)
}

/// Logs at `warn` level.
pub fn warn(message: &str) {
    log(Level::Warn, message)
}

/// Logs at `error` level.
pub fn error(message: &str) {
    log(Level::Error, message)
}
