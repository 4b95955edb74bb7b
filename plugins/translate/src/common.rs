//! Helpers shared by the dialect translations.

use serde_json::{Map, Value, json};
use sluice_sdk::hub::{ChatRequest, ChatResponse, Usage};
use sluice_sdk::json::RawJson;
use sluice_sdk::{Event, PluginError, Request, json as sdk_json};

use crate::{dialect, ext};

/// Default `max_tokens` for Anthropic requests translated from a hub request
/// that sets none (Anthropic requires it). The `anthropic` plugin's config
/// `{"default-max-tokens": N}` overrides it.
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

/// What the conversions need to know about the request in flight.
#[derive(Debug, Clone, PartialEq)]
pub struct Ctx {
    /// Unix time for `created` fields.
    pub created: u64,
    /// The upstream model (`request.model`).
    pub model: String,
    /// The model name the client sent (`request.requested-model`).
    pub requested_model: String,
    /// The provider's dialect (metadata `provider-dialect`), if known.
    pub provider_dialect: Option<String>,
    /// `max_tokens` for Anthropic when the hub request sets none.
    pub default_max_tokens: u64,
    /// Whether the client asked for a stream.
    pub stream: bool,
    /// Metadata `operation` (`chat` or `count-tokens`).
    pub operation: String,
}

impl Default for Ctx {
    fn default() -> Self {
        Ctx {
            created: 0,
            model: String::new(),
            requested_model: String::new(),
            provider_dialect: None,
            default_max_tokens: DEFAULT_MAX_TOKENS,
            stream: false,
            operation: "chat".into(),
        }
    }
}

impl Ctx {
    /// The context of `req`, with `created` as the time stamp.
    pub fn from_request(req: &Request, created: u64) -> Self {
        Ctx {
            created,
            model: req.model.clone(),
            requested_model: req.requested_model.clone(),
            provider_dialect: meta(req, "provider-dialect").map(str::to_owned),
            default_max_tokens: DEFAULT_MAX_TOKENS,
            stream: req.stream,
            operation: meta(req, "operation").unwrap_or("chat").to_owned(),
        }
    }

    /// Whether hub extension fields may be written into a request body: not
    /// when the provider is a plain OpenAI-compatible upstream, which rejects
    /// fields it does not know.
    pub fn keeps_extensions(&self) -> bool {
        keeps_extensions(self.provider_dialect.as_deref())
    }

    /// The model name to show the client: the requested one, else the
    /// upstream one.
    pub fn client_model(&self) -> &str {
        if self.requested_model.is_empty() {
            &self.model
        } else {
            &self.requested_model
        }
    }

    /// Whether this is Anthropic's token counting operation.
    pub fn is_count_tokens(&self) -> bool {
        self.operation == "count-tokens"
    }
}

/// Whether hub extensions survive for a provider of this dialect (unknown
/// provider: yes).
pub fn keeps_extensions(provider_dialect: Option<&str>) -> bool {
    !matches!(provider_dialect, Some(d) if d != dialect::ANTHROPIC && d != dialect::GEMINI)
}

/// A text looked for in bodies (see [`mentions`]). Its searcher is built on
/// first use and kept: building one (a prefilter for its rarest bytes) costs
/// more than searching a chat body with it.
pub struct Needle {
    text: &'static str,
    finder: std::sync::OnceLock<memchr::memmem::Finder<'static>>,
}

impl Needle {
    /// A needle for `text`.
    pub const fn new(text: &'static str) -> Needle {
        Needle {
            text,
            finder: std::sync::OnceLock::new(),
        }
    }
}

/// Whether `needle` occurs anywhere in `body`: a quick test that lets a
/// transform pass a body it has nothing to do with without parsing it.
pub fn mentions(body: &[u8], needle: &Needle) -> bool {
    needle
        .finder
        .get_or_init(|| memchr::memmem::Finder::new(needle.text))
        .find(body)
        .is_some()
}

/// Body texts the transforms look for.
pub mod needles {
    use super::Needle;
    /// `thinking` (Anthropic's field, the hub extension, Gemini's config).
    pub static THINKING: Needle = Needle::new("thinking");
    /// `reasoning` (OpenAI's `reasoning_effort`).
    pub static REASONING: Needle = Needle::new("reasoning");
    /// `"tool`: every key or role a tool call or result is named by.
    pub static TOOL: Needle = Needle::new("\"tool");
    /// `"choices"`: an OpenAI chat completion.
    pub static CHOICES: Needle = Needle::new("\"choices\"");
}

/// The `metadata` keys [`Ctx::from_request`] reads: what a plugin built on
/// [`Ctx`] declares with `sluice_sdk::reads_metadata`.
pub const CTX_METADATA: &[&str] = &["provider-dialect", "operation"];

/// A metadata value of a request.
pub fn meta<'a>(req: &'a Request, key: &str) -> Option<&'a str> {
    req.metadata
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// A client header of a request (names are lower-case).
pub fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

/// Removes the hub extensions a plain OpenAI-compatible upstream would reject
/// (see [`ext::REQUEST_TOP_LEVEL`] and [`ext::MESSAGE_LEVEL`]).
pub fn strip_extensions(hub: &mut ChatRequest) {
    for key in ext::REQUEST_TOP_LEVEL {
        if hub.extra.remove(*key).is_some() {
            sluice_sdk::log::debug(&format!(
                "dropped hub extension `{key}`: the provider speaks plain OpenAI"
            ));
        }
    }
    for m in &mut hub.messages {
        for key in ext::MESSAGE_LEVEL {
            m.extra.remove(*key);
        }
        // DeepSeek and others reject `reasoning_content` in input messages.
        m.reasoning_content = None;
        if let Some(calls) = &mut m.tool_calls {
            for c in calls {
                c.extra.remove(ext::EXTRA_CONTENT);
            }
        }
    }
}

/// Turns OpenAI `function.arguments` (a JSON text) into the object Anthropic
/// and Gemini want. Empty text is `{}`; text that is not a JSON object
/// (invalid JSON, or an array or scalar) is kept as `{"_raw": "<text>"}`, so
/// nothing is lost and nothing crashes; [`arguments_to_string`] undoes it.
pub fn parse_arguments(args: &str) -> Value {
    if args.trim().is_empty() {
        return Value::Object(Map::new());
    }
    match serde_json::from_str::<Value>(args) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({ "_raw": args }),
    }
}

/// The OpenAI `function.arguments` text for a tool input object; the inverse
/// of [`parse_arguments`] (`{"_raw": "<text>"}` gives back `<text>`).
pub fn arguments_to_string(input: &Value) -> String {
    if let Value::Object(map) = input
        && map.len() == 1
        && let Some(Value::String(raw)) = map.get("_raw")
    {
        return raw.clone();
    }
    match input {
        Value::Null => "{}".to_owned(),
        v => serde_json::to_string(v).unwrap_or_else(|_| "{}".to_owned()),
    }
}

/// [`parse_arguments`] without building the object: the arguments' text is
/// checked and kept as it is when it is a JSON object (the usual case).
pub fn raw_arguments(args: &str) -> RawJson {
    let text = args.trim();
    if text.is_empty() {
        return RawJson::from(Value::Object(Map::new()));
    }
    if text.starts_with('{')
        && let Ok(raw) = RawJson::from_string(text.to_owned())
    {
        return raw;
    }
    RawJson::from(json!({ "_raw": args }))
}

/// [`arguments_to_string`] for a tool input kept as text: the text itself,
/// unless it is the `{"_raw": ...}` form or `null`.
pub fn raw_arguments_to_string(input: &RawJson) -> String {
    let text = input.get().trim();
    if text == "null" {
        return "{}".to_owned();
    }
    if text.contains("\"_raw\"") || !text.starts_with('{') {
        return input
            .to_value()
            .map(|v| arguments_to_string(&v))
            .unwrap_or_else(|_| text.to_owned());
    }
    text.to_owned()
}

/// Splits a `data:` URL into its media type and base64 payload. Only base64
/// data URLs are recognised (`data:image/png;base64,AAAA`).
pub fn parse_data_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("data:")?;
    let (head, data) = rest.split_once(',')?;
    let mut params = head.split(';');
    let mime = params.next().unwrap_or_default();
    if !params.any(|p| p.eq_ignore_ascii_case("base64")) {
        return None;
    }
    let mime = if mime.is_empty() {
        "application/octet-stream"
    } else {
        mime
    };
    Some((mime.to_owned(), data.to_owned()))
}

/// A base64 `data:` URL.
pub fn data_url(mime: &str, data: &str) -> String {
    format!("data:{mime};base64,{data}")
}

/// A media type guessed from a URL's file extension (for Gemini `fileData`,
/// which needs one).
pub fn guess_mime(url: &str) -> Option<&'static str> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "mp3" => "audio/mp3",
        "wav" => "audio/wav",
        "mp4" => "video/mp4",
        _ => return None,
    })
}

/// The token estimate for a number of characters: `ceil(chars / 4)`.
pub fn estimate_tokens(chars: usize) -> u64 {
    chars.div_ceil(4) as u64
}

/// The top-level fields of a request body, in any dialect, that hold the
/// prompt.
const PROMPT_KEYS: &[&str] = &[
    "messages",
    "system",
    "contents",
    "systemInstruction",
    "system_instruction",
    "tools",
];

/// Fields whose strings are not prompt text (with everything under them).
const NOT_PROMPT: &[&str] = &[
    "role",
    "type",
    "model",
    "id",
    "tool_call_id",
    "tool_use_id",
    "data",
    "url",
    "media_type",
    "mimeType",
    "mime_type",
    "fileUri",
    "file_uri",
    "file_data",
    "signature",
    "thoughtSignature",
    "thought_signature",
    "reasoning_signature",
    "detail",
    "cache_control",
];

/// Characters of prompt text in a request body of any dialect, for usage
/// estimates: every string value except identifiers, roles, types, media
/// types, URLs and base64 payloads.
pub fn prompt_chars(body: &Value) -> usize {
    fn walk(v: &Value, key: &str, n: &mut usize) {
        if NOT_PROMPT.contains(&key) {
            return;
        }
        match v {
            Value::String(s) => *n += s.chars().count(),
            Value::Array(a) => a.iter().for_each(|x| walk(x, key, n)),
            Value::Object(o) => o.iter().for_each(|(k, x)| walk(x, k, n)),
            _ => {}
        }
    }
    let mut n = 0;
    if let Value::Object(o) = body {
        for key in PROMPT_KEYS {
            if let Some(v) = o.get(*key) {
                walk(v, key, &mut n);
            }
        }
    }
    n
}

/// [`prompt_chars`] of raw body bytes (0 when they are not JSON), counted
/// while the body is parsed, without building it: a stream's encoder does
/// this when it opens, whatever the size of the conversation.
pub fn prompt_chars_of(body: &[u8]) -> usize {
    use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
    use std::fmt;

    /// Adds the characters of the strings in one value (not under a
    /// [`NOT_PROMPT`] field) to the count; `top` reads only [`PROMPT_KEYS`].
    struct Walk<'a> {
        n: &'a mut usize,
        top: bool,
    }
    /// Reads a field name: whether its value is counted.
    struct Key {
        top: bool,
    }

    impl<'de> DeserializeSeed<'de> for Key {
        type Value = bool;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
            d.deserialize_str(self)
        }
    }
    impl<'de> Visitor<'de> for Key {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a field name")
        }
        fn visit_str<E>(self, k: &str) -> Result<bool, E> {
            Ok(if self.top {
                PROMPT_KEYS.contains(&k)
            } else {
                !NOT_PROMPT.contains(&k)
            })
        }
    }

    impl<'de> DeserializeSeed<'de> for Walk<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de> Visitor<'de> for Walk<'_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_str<E>(self, s: &str) -> Result<(), E> {
            if !self.top {
                *self.n += s.chars().count();
            }
            Ok(())
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            // Elements count as their array does; at the top they do not.
            if self.top {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                return Ok(());
            }
            while seq
                .next_element_seed(Walk {
                    n: &mut *self.n,
                    top: false,
                })?
                .is_some()
            {}
            Ok(())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(counted) = map.next_key_seed(Key { top: self.top })? {
                if counted {
                    map.next_value_seed(Walk {
                        n: &mut *self.n,
                        top: false,
                    })?;
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(())
        }
    }

    let Ok(text) = std::str::from_utf8(body) else {
        return 0;
    };
    let mut n = 0;
    let mut de = serde_json::Deserializer::from_str(text);
    let walked = Walk {
        n: &mut n,
        top: true,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end());
    if walked.is_ok() { n } else { 0 }
}

/// Whether a hub request body asks for the usage chunk at the end of a
/// stream (`stream_options.include_usage` is `true`), read without building
/// the body; `false` for anything else, a body that is not JSON included.
pub fn include_usage_of(body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Options {
        include_usage: Option<bool>,
    }
    #[derive(serde::Deserialize)]
    struct Body {
        stream_options: Option<Options>,
    }
    sdk_json::from_bytes::<Body>(body)
        .ok()
        .and_then(|b| b.stream_options?.include_usage)
        .unwrap_or(false)
}

/// [`prompt_chars_of`] when a usage estimate is `needed` (the answer
/// reported none), else 0 without reading the body.
pub fn prompt_chars_if(needed: bool, body: &[u8]) -> usize {
    if needed { prompt_chars_of(body) } else { 0 }
}

/// A hub answer for an ingress encoder: `None` for a body that is not a
/// chat completion (e.g. a count_tokens answer, which passes unchanged).
/// Every hub chat response has `choices`; other answers have no such text.
pub fn hub_answer(body: &[u8]) -> Result<Option<ChatResponse>, PluginError> {
    if !mentions(body, &needles::CHOICES) {
        sdk_json::parse_upstream::<serde::de::IgnoredAny>(body)?;
        return Ok(None);
    }
    sdk_json::parse_upstream(body).map(Some)
}

/// Estimated hub usage (`"estimated": true`).
pub fn estimated_usage(prompt_chars: usize, output_chars: usize) -> Usage {
    let mut u = Usage::new(estimate_tokens(prompt_chars), estimate_tokens(output_chars));
    u.extra.insert(ext::ESTIMATED.into(), Value::Bool(true));
    u
}

/// Whether a usage is marked as estimated.
pub fn is_estimated(u: &Usage) -> bool {
    u.extra.get(ext::ESTIMATED) == Some(&Value::Bool(true))
}

/// 64-bit FNV-1a, for stable synthesized ids.
pub fn fnv64(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0xff)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    h
}

/// An event without a name carrying `data` (hub chunks, Gemini chunks).
pub fn data_event(data: String) -> Event {
    Event { event: None, data }
}

/// A hub stream error chunk: `{"error": {"message", "type", "code"}}`.
pub fn hub_error_chunk(message: &str, kind: &str, code: Option<Value>) -> Event {
    let mut err = Map::new();
    err.insert("message".into(), Value::String(message.to_owned()));
    err.insert("type".into(), Value::String(kind.to_owned()));
    if let Some(code) = code {
        err.insert("code".into(), code);
    }
    data_event(json!({ "error": err }).to_string())
}

/// One stream event parsed as `T`. Nearly every event is a plain chunk,
/// parsed straight into its type; an event with a top-level `error` (read
/// through `extra`), or text that is not a `T`, goes to `other`, the
/// stream's general path, which returns `None` when it wrote the event
/// itself.
pub fn plain_chunk_or<T: serde::de::DeserializeOwned>(
    data: &str,
    extra: impl FnOnce(&T) -> &Map<String, Value>,
    other: impl FnOnce(&str) -> Result<Option<T>, PluginError>,
) -> Result<Option<T>, PluginError> {
    match sdk_json::from_bytes::<T>(data.as_bytes()) {
        Ok(chunk) if !extra(&chunk).contains_key("error") => Ok(Some(chunk)),
        _ => other(data),
    }
}

/// The `error` object of a hub error chunk, if `v` is one.
pub fn hub_error(v: &Value) -> Option<&Map<String, Value>> {
    v.get("error")?.as_object()
}

/// The HTTP status an error object stands for: its numeric `code`, else its
/// `type`/`status` read as an Anthropic error type or a Gemini status.
pub fn error_status(err: &Map<String, Value>) -> u16 {
    if let Some(c) = err.get("code").and_then(Value::as_u64)
        && (400..600).contains(&c)
    {
        return c as u16;
    }
    let kind = ["type", "status", "code"]
        .iter()
        .find_map(|k| err.get(*k).and_then(Value::as_str))
        .unwrap_or_default();
    match kind {
        "invalid_request_error" | "INVALID_ARGUMENT" | "FAILED_PRECONDITION" => 400,
        "authentication_error" | "UNAUTHENTICATED" => 401,
        "permission_error" | "PERMISSION_DENIED" => 403,
        "not_found_error" | "NOT_FOUND" => 404,
        "request_too_large" => 413,
        "rate_limit_error" | "RESOURCE_EXHAUSTED" | "rate_limit_exceeded" => 429,
        "overloaded_error" | "UNAVAILABLE" => 503,
        "DEADLINE_EXCEEDED" | "timeout_error" => 504,
        _ => 500,
    }
}

/// The Anthropic error `type` for an HTTP status.
pub fn anthropic_error_type(status: u16) -> &'static str {
    match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        504 => "timeout_error",
        _ => "api_error",
    }
}

/// The Gemini error `status` for an HTTP status.
pub fn gemini_error_status(status: u16) -> &'static str {
    match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        503 | 529 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "INTERNAL",
    }
}

/// Hub `finish_reason` for an Anthropic `stop_reason`.
pub fn anthropic_stop_to_finish(stop: &str) -> &'static str {
    match stop {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        // end_turn, stop_sequence, pause_turn and anything new.
        _ => "stop",
    }
}

/// Anthropic `stop_reason` for a hub `finish_reason` (`stop` with a known
/// stop sequence becomes `stop_sequence`).
pub fn finish_to_anthropic_stop(finish: &str, stop_sequence: bool) -> &'static str {
    match finish {
        "length" => "max_tokens",
        "tool_calls" | "function_call" => "tool_use",
        "content_filter" => "refusal",
        _ if stop_sequence => "stop_sequence",
        _ => "end_turn",
    }
}

/// Hub `finish_reason` for a Gemini `finishReason`.
pub fn gemini_finish_to_hub(reason: &str, has_tool_calls: bool) -> &'static str {
    match reason {
        "MAX_TOKENS" => "length",
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION" => "content_filter",
        _ if has_tool_calls => "tool_calls",
        // STOP, LANGUAGE, OTHER, MALFORMED_FUNCTION_CALL, FINISH_REASON_UNSPECIFIED, ...
        _ => "stop",
    }
}

/// Gemini `finishReason` for a hub `finish_reason`.
pub fn hub_finish_to_gemini(finish: &str) -> &'static str {
    match finish {
        "length" => "MAX_TOKENS",
        "content_filter" => "SAFETY",
        // stop, tool_calls (Gemini ends a function call turn with STOP).
        _ => "STOP",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_usage_is_read_from_stream_options() {
        let yes = [
            r#"{"stream_options": {"include_usage": true}}"#,
            r#"{"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": true, "stream_options": {"x": [1], "include_usage": true}}"#,
        ];
        for body in yes {
            assert!(include_usage_of(body.as_bytes()), "{body}");
        }
        let no = [
            r#"{"stream_options": {"include_usage": false}}"#,
            r#"{"stream_options": {"include_usage": "yes"}}"#,
            r#"{"stream_options": {"include_usage": null}}"#,
            r#"{"stream_options": null}"#,
            r#"{"stream_options": 5}"#,
            r#"{"messages": []}"#,
            r#"[{"stream_options": {"include_usage": true}}]"#,
            r#"{"stream_options": {"include_usage": true}"#,
        ];
        for body in no {
            assert!(!include_usage_of(body.as_bytes()), "{body}");
        }
    }

    #[test]
    fn arguments_round_trip() {
        assert_eq!(parse_arguments(""), json!({}));
        assert_eq!(parse_arguments("{\"a\":1}"), json!({"a": 1}));
        assert_eq!(parse_arguments("{\"a\":"), json!({"_raw": "{\"a\":"}));
        assert_eq!(parse_arguments("[1]"), json!({"_raw": "[1]"}));
        for s in ["{\"a\":", "[1]", "not json", "{\"b\":[1,2]}"] {
            assert_eq!(arguments_to_string(&parse_arguments(s)), s);
        }
        assert_eq!(arguments_to_string(&Value::Null), "{}");
        for s in [
            "",
            "{\"a\":1}",
            "{\"a\":",
            "[1]",
            "7",
            " { \"b\" : [1, 2] } ",
        ] {
            assert_eq!(
                raw_arguments(s).to_value().unwrap(),
                parse_arguments(s),
                "{s:?}"
            );
            assert_eq!(
                serde_json::from_str::<Value>(&raw_arguments_to_string(&raw_arguments(s))).ok(),
                serde_json::from_str::<Value>(&arguments_to_string(&parse_arguments(s))).ok(),
                "{s:?}"
            );
        }
        assert_eq!(
            raw_arguments("{\"a\":"),
            RawJson::from(json!({"_raw": "{\"a\":"}))
        );
        assert_eq!(
            raw_arguments_to_string(&raw_arguments("{\"a\":")),
            "{\"a\":"
        );
        assert_eq!(raw_arguments_to_string(&RawJson::from(Value::Null)), "{}");
        assert_eq!(raw_arguments_to_string(&RawJson::from(json!([1]))), "[1]");
    }

    #[test]
    fn data_urls() {
        assert_eq!(
            parse_data_url("data:image/png;base64,AAA="),
            Some(("image/png".into(), "AAA=".into()))
        );
        assert_eq!(parse_data_url("data:text/plain,hello"), None);
        assert_eq!(parse_data_url("https://x/y.png"), None);
        assert_eq!(guess_mime("https://x/y.PNG?s=1"), Some("image/png"));
        assert_eq!(guess_mime("https://x/y"), None);
    }

    #[test]
    fn estimates() {
        assert_eq!(estimate_tokens(0), 0);
        assert_eq!(estimate_tokens(1), 1);
        assert_eq!(estimate_tokens(8), 2);
        assert_eq!(estimate_tokens(9), 3);
        let body = json!({"model": "m", "messages": [
            {"role": "user", "content": "abcd"},
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:xxxx"}},
                                          {"type": "text", "text": "efgh"}]}
        ]});
        assert_eq!(prompt_chars(&body), 8);
        let u = estimated_usage(8, 5);
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (2, 2, 4)
        );
        assert!(is_estimated(&u));
    }

    #[test]
    fn extension_policy() {
        assert!(keeps_extensions(None));
        assert!(keeps_extensions(Some("anthropic")));
        assert!(keeps_extensions(Some("gemini")));
        assert!(!keeps_extensions(Some("openai")));
        assert!(!keeps_extensions(Some("mock")));
    }
}
