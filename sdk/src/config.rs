//! The plugin's own config, from the gateway config file.
//!
//! The host hands it over as JSON (`{}` when none is set): once to
//! `validate-config` before the plugin goes live, and on request through the
//! `get-config` import. Describe the config as a serde type with
//! `#[serde(deny_unknown_fields)]` and use [`parse`] in `validate_config` and
//! [`get`] when handling requests:
//!
//! ```
//! #[derive(serde::Deserialize, Debug, Default)]
//! #[serde(deny_unknown_fields)]
//! struct Config {
//!     reply: Option<String>,
//! }
//!
//! assert!(sluice_sdk::config::parse::<Config>(r#"{"reply": "hi"}"#).is_ok());
//! let err = sluice_sdk::config::parse::<Config>(r#"{"replay": "hi"}"#).unwrap_err();
//! assert!(err.contains("unknown field `replay`"), "{err}");
//! ```

use serde::de::DeserializeOwned;

use crate::PluginError;

/// The raw config JSON from the host (`{}` when none is set; always `{}`
/// outside WebAssembly). Asked of the host once per instance: an instance
/// belongs to one loaded version of the plugin, and a changed config loads
/// a new version with new instances.
pub fn raw() -> String {
    #[cfg(target_arch = "wasm32")]
    {
        static CONFIG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        CONFIG
            .get_or_init(crate::bindings::base::sluice::plugin::host::get_config)
            .clone()
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        "{}".to_owned()
    }
}

/// Parses a config JSON text into `T`, for `validate_config`.
///
/// The config must be a JSON object. The error is a sentence for operators
/// naming the offending key, e.g.
/// ``invalid config: unknown field `replay`, expected `reply` `` or
/// ``invalid config: `reply`: invalid type: integer `3`, expected a string``.
pub fn parse<T: DeserializeOwned>(config: &str) -> Result<T, String> {
    let value: serde_json::Value =
        serde_json::from_str(config).map_err(|e| format!("config is not valid JSON: {e}"))?;
    if !value.is_object() {
        return Err(format!(
            "config must be a JSON object (like `{{}}`), got {}",
            kind_of(&value)
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.inner().to_string();
        // A top-level unknown key is already named by the message itself.
        let top_level_unknown = inner.starts_with("unknown field") && !path.contains(['.', '[']);
        if path == "." || top_level_unknown {
            format!("invalid config: {inner}")
        } else {
            format!("invalid config: `{path}`: {inner}")
        }
    })
}

/// Reads and parses the plugin's config from the host.
///
/// Fails with a 500 `plugin_misconfigured` error if it does not parse (which
/// should not happen once `validate_config` accepted it).
pub fn get<T: DeserializeOwned>() -> Result<T, PluginError> {
    parse(&raw()).map_err(|msg| crate::error::new(500, "plugin_misconfigured", msg))
}

fn kind_of(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug, Default)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Cfg {
        reply: Option<String>,
    }

    #[test]
    fn parse_messages() {
        assert!(parse::<Cfg>("{}").is_ok());
        let e = parse::<Cfg>("[]").unwrap_err();
        assert!(
            e.contains("must be a JSON object") && e.contains("an array"),
            "{e}"
        );
        let e = parse::<Cfg>("{").unwrap_err();
        assert!(e.contains("not valid JSON"), "{e}");
        let e = parse::<Cfg>(r#"{"reply": 3}"#).unwrap_err();
        assert_eq!(
            e,
            "invalid config: `reply`: invalid type: integer `3`, expected a string"
        );
        let e = parse::<Cfg>(r#"{"replay": 3}"#).unwrap_err();
        assert_eq!(
            e,
            "invalid config: unknown field `replay`, expected `reply`"
        );
        assert_eq!(get::<Cfg>().unwrap().reply, None);
    }
}
