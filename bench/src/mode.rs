//! The mock upstream reads what to do from the model name it is asked for,
//! so every proxy under test (which all pass the model through, or map it to
//! a configured upstream name) drives the same mock the same way.
//!
//! `NAME[-dMS][-nEVENTS][-iMS]`, e.g. `bench`, `bench-d10`, `bench-n64-i10`:
//! - `dMS`: wait MS milliseconds before a non-streamed answer (default 0);
//! - `nEVENTS`: content events in a streamed answer (default 8);
//! - `iMS`: milliseconds between content events (default 0; the first
//!   event is sent at once).

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode {
    pub delay: Duration,
    pub events: u32,
    pub interval: Duration,
}

impl Mode {
    pub fn from_model(model: &str) -> Mode {
        let mut m = Mode {
            delay: Duration::ZERO,
            events: 8,
            interval: Duration::ZERO,
        };
        for tok in model.split('-').skip(1) {
            let (k, v) = tok.split_at(1.min(tok.len()));
            let Ok(v) = v.parse::<u64>() else { continue };
            match k {
                "d" => m.delay = Duration::from_millis(v),
                "n" => m.events = v.clamp(1, 100_000) as u32,
                "i" => m.interval = Duration::from_millis(v),
                _ => {}
            }
        }
        m
    }
}

/// The model name for a mode.
pub fn model(delay_ms: u64, events: u32, interval_ms: u64) -> String {
    let mut s = String::from("bench");
    if delay_ms > 0 {
        s.push_str(&format!("-d{delay_ms}"));
    }
    if events != 8 {
        s.push_str(&format!("-n{events}"));
    }
    if interval_ms > 0 {
        s.push_str(&format!("-i{interval_ms}"));
    }
    s
}

/// The value of a top-level-ish JSON string field, found by scanning
/// (`"key"`, optional spaces, `:`, a string). Good enough for the bodies
/// the proxies send; avoids a full parse on the mock's hot path.
pub fn scan_str<'a>(body: &'a [u8], key: &str) -> Option<&'a str> {
    let at = value_at(body, key)?;
    let rest = &body[at..];
    if rest.first() != Some(&b'"') {
        return None;
    }
    let end = rest[1..].iter().position(|&b| b == b'"')?;
    std::str::from_utf8(&rest[1..1 + end]).ok()
}

/// A JSON boolean field, found by scanning.
pub fn scan_bool(body: &[u8], key: &str) -> Option<bool> {
    let at = value_at(body, key)?;
    let rest = &body[at..];
    if rest.starts_with(b"true") {
        Some(true)
    } else if rest.starts_with(b"false") {
        Some(false)
    } else {
        None
    }
}

fn value_at(body: &[u8], key: &str) -> Option<usize> {
    let pat = format!("\"{key}\"");
    let mut from = 0;
    while let Some(p) = crate::parse::find(&body[from..], pat.as_bytes()) {
        let mut i = from + p + pat.len();
        while i < body.len() && body[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < body.len() && body[i] == b':' {
            i += 1;
            while i < body.len() && body[i].is_ascii_whitespace() {
                i += 1;
            }
            return Some(i);
        }
        from = from + p + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        let m = Mode::from_model("bench-n64-i10");
        assert_eq!(m.events, 64);
        assert_eq!(m.interval, Duration::from_millis(10));
        assert_eq!(m.delay, Duration::ZERO);
        assert_eq!(
            Mode::from_model("openai/bench-d10").delay,
            Duration::from_millis(10)
        );
        assert_eq!(model(0, 64, 10), "bench-n64-i10");
        assert_eq!(
            Mode::from_model(&model(10, 8, 0)).delay,
            Duration::from_millis(10)
        );
    }

    #[test]
    fn scanning() {
        let b = br#"{"model" : "bench-n1", "messages":[{"content":"\"stream\""}], "stream": true}"#;
        assert_eq!(scan_str(b, "model"), Some("bench-n1"));
        assert_eq!(scan_bool(b, "stream"), Some(true));
        assert_eq!(scan_bool(b, "include_usage"), None);
    }
}
