//! Constructors for [`PluginError`], the failures a plugin reports on purpose.
//!
//! The host turns a [`PluginError`] into an error response naming the plugin:
//! `status` becomes the HTTP status, `code` the machine-readable error code
//! and `message` the text the client sees. Say what went wrong and what to
//! check.

use crate::PluginError;

/// A [`PluginError`] with any status, code and message.
pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> PluginError {
    PluginError {
        status,
        code: code.into(),
        message: message.into(),
    }
}

/// 400 `invalid_request`: the client's request is wrong.
pub fn bad_request(message: impl Into<String>) -> PluginError {
    new(400, "invalid_request", message)
}

/// 502 `bad_upstream`: the upstream answered something the plugin cannot use.
pub fn bad_upstream(message: impl Into<String>) -> PluginError {
    new(502, "bad_upstream", message)
}

/// 500 `provider_misconfigured`: the gateway's config for this provider is
/// incomplete or wrong (for example a missing `base-url`).
pub fn misconfigured(message: impl Into<String>) -> PluginError {
    new(500, "provider_misconfigured", message)
}

/// 404 `model_not_found`: the provider does not serve the requested model.
pub fn model_not_found(model: &str) -> PluginError {
    new(
        404,
        "model_not_found",
        format!("model `{model}` does not exist for this provider"),
    )
}

/// 500 `internal_error`: a bug or an impossible state in the plugin.
pub fn internal(message: impl Into<String>) -> PluginError {
    new(500, "internal_error", message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors() {
        let e = bad_request("no messages");
        assert_eq!((e.status, e.code.as_str()), (400, "invalid_request"));
        assert_eq!(e.message, "no messages");
        assert_eq!(bad_upstream("x").status, 502);
        assert_eq!(misconfigured("x").code, "provider_misconfigured");
        assert_eq!(model_not_found("m").status, 404);
        assert_eq!(internal("x").status, 500);
    }
}
