//! JSON helpers that fail with ready-made [`PluginError`]s.
//!
//! * [`parse`]: a client request body (400 `invalid_request`).
//! * [`parse_upstream`]: an upstream answer (502 `bad_upstream`).
//! * [`to_vec`] / [`to_string`]: serialize (500 `internal_error`).
//! * [`rewrite_model`]: replace the top-level `model` of a body, keeping every
//!   other field byte for byte, without parsing the messages into values.
//! * [`has_top_level_key`]: does a JSON object have a given top-level key.
//! * [`edit_top_level`]: change a few top-level fields of a body, keeping the
//!   others byte for byte, without parsing them into values.
//! * [`split_object`], [`split_array`], [`Cursor`] and [`raw_str`]: read a
//!   few fields of a large value by its structure, as raw slices, without
//!   building it.
//! * [`deserialize_with_extra!`](crate::deserialize_with_extra) and
//!   [`deserialize_text_or_list!`](crate::deserialize_text_or_list):
//!   `Deserialize` for types with an `extra` map and for string-or-array
//!   enums, in one pass instead of serde's buffering `flatten` and
//!   `untagged` (the [`hub`](crate::hub) types use them).
//! * [`RawJson`]: a JSON value kept as its text, for values a plugin passes
//!   on without looking inside (tool schemas).

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeOwned, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::error::Category;
use serde_json::value::RawValue;

use crate::PluginError;
use crate::error::{bad_request, bad_upstream, internal};

mod read;
mod scan;
mod write;

/// Parses a client request body (JSON bytes) into `T`.
///
/// Fails with 400 `invalid_request` and a message naming what was wrong,
/// e.g. ``invalid request body: missing field `messages` at line 1 column 17``
/// or `request body is not valid JSON: EOF while parsing ...`.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, PluginError> {
    from_bytes(bytes).map_err(|e| bad_request(describe(&e, "request body")))
}

/// Parses an upstream response body (JSON bytes) into `T`.
///
/// Fails with 502 `bad_upstream` and a message naming what was wrong.
pub fn parse_upstream<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, PluginError> {
    from_bytes(bytes).map_err(|e| bad_upstream(describe(&e, "upstream response")))
}

/// `serde_json::from_slice`, with the same result and less work in a
/// plugin: the UTF-8 check is done once for the whole text rather than
/// string by string, and valid JSON is read by sluice's own reader (string
/// ends found 16 bytes at a time, strings without escapes lent from
/// `bytes`; a coding agent's request decodes in ~23 % less time). Text
/// that is not valid JSON, or does not fit `T`, is read again by
/// serde_json for the error, which names the line and column.
///
/// ```
/// let v: serde_json::Value = sluice_sdk::json::from_bytes(br#"{"a": "\u00e9"}"#).unwrap();
/// assert_eq!(v["a"], "\u{e9}");
/// let e = sluice_sdk::json::from_bytes::<serde_json::Value>(b"[\"\xff\"]").unwrap_err();
/// assert!(e.to_string().contains("line 1 column"));
/// ```
pub fn from_bytes<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, serde_json::Error> {
    // simdutf8 checks 64 bytes at a time with SIMD (WebAssembly SIMD in the
    // plugins): several times the speed of `std::str::from_utf8` there.
    match simdutf8::basic::from_utf8(bytes) {
        // The fast reader answers for valid text; anything else (and its
        // error message) is serde_json's.
        Ok(text) => read::from_str(text).or_else(|_| serde_json::from_str(text)),
        Err(_) => serde_json::from_slice(bytes),
    }
}

fn describe(e: &serde_json::Error, what: &str) -> String {
    match e.classify() {
        Category::Data => format!("invalid {what}: {e}"),
        Category::Syntax | Category::Eof | Category::Io => {
            format!("{what} is not valid JSON: {e}")
        }
    }
}

/// Serializes `value` to JSON bytes (500 `internal_error` if that fails,
/// which it does not for the [`hub`](crate::hub) types).
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, PluginError> {
    write::to_vec(value).map_err(|e| internal(format!("cannot serialize JSON: {e}")))
}

/// Serializes `value` at the end of `out`, as [`to_vec`] writes it.
pub fn to_writer<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<(), PluginError> {
    write::to_writer(out, value).map_err(|e| internal(format!("cannot serialize JSON: {e}")))
}

/// Writes `s` as a JSON string (quoted and escaped) at the end of `out`, as
/// [`to_vec`] writes strings: only `"`, `\` and control characters are
/// escaped.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    write::write_str(out, s)
}

/// Writes the JSON string `raw` (a raw slice with its quotes, as a
/// [`Cursor`] returns it) at the end of `out` as [`write_str`] writes its
/// text: copied byte for byte when nothing in it needs an escape, decoded
/// and written again when it has escapes (`\u00e9` becomes `é`). `false`,
/// and nothing written, when `raw` is not a valid JSON string. `raw` must
/// come from UTF-8 text (see [`utf8`]).
///
/// ```
/// let mut out = Vec::new();
/// assert!(sluice_sdk::json::copy_str(&mut out, br#""plain""#));
/// assert!(sluice_sdk::json::copy_str(&mut out, br#""caf\u00e9 \/""#));
/// assert!(!sluice_sdk::json::copy_str(&mut out, b"12"));
/// assert_eq!(out, "\"plain\"\"café /\"".as_bytes());
/// ```
pub fn copy_str(out: &mut Vec<u8>, raw: &[u8]) -> bool {
    let Some(inner) = raw.strip_prefix(b"\"").and_then(|r| r.strip_suffix(b"\"")) else {
        return false;
    };
    if write::next_escape(inner, 0).is_none() {
        out.extend_from_slice(raw);
        return true;
    }
    match serde_json::from_slice::<Cow<'_, str>>(raw) {
        Ok(text) => {
            write::write_str(out, &text);
            true
        }
        Err(_) => false,
    }
}

/// `bytes` as text when they are UTF-8 (checked with SIMD, several times
/// the speed of `std::str::from_utf8` in a plugin).
pub fn utf8(bytes: &[u8]) -> Option<&str> {
    simdutf8::basic::from_utf8(bytes).ok()
}

/// Serializes `value` to a JSON string (500 `internal_error` if that fails).
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> Result<String, PluginError> {
    let bytes = to_vec(value)?;
    // SAFETY: the writer writes JSON text (UTF-8) only: every string it
    // copies is a `str`, and everything else it writes is ASCII.
    Ok(unsafe { String::from_utf8_unchecked(bytes) })
}

/// Replaces the top-level `"model"` of a JSON object body with `model` and
/// keeps everything else as it is.
///
/// Every other top-level value is copied byte for byte (nested whitespace,
/// escapes, number spellings and key order included): the body is split into
/// its top-level fields as raw JSON slices and written back. Only the
/// whitespace between top-level tokens is dropped, and top-level keys that
/// contain escapes are re-encoded. If the body already names `model`, it is
/// returned unchanged. If it has no `"model"`, one is added first.
///
/// The values copied are skipped over by their structure (strings and
/// brackets), not checked against the JSON grammar: the gateway has parsed
/// every client body before a plugin sees it.
///
/// Fails with 400 `invalid_request` if the body is not a JSON object.
///
/// ```
/// let body = br#"{"model": "gpt", "messages": [ {"role":"user","content":"caf\u00e9"} ]}"#;
/// let out = sluice_sdk::json::rewrite_model(body, "gpt-4o").unwrap();
/// assert_eq!(
///     out,
///     br#"{"model":"gpt-4o","messages":[ {"role":"user","content":"caf\u00e9"} ]}"#
/// );
/// ```
pub fn rewrite_model(body: &[u8], model: &str) -> Result<Vec<u8>, PluginError> {
    let fields = top_level_fields(body)?;
    let mut new_model = Vec::with_capacity(model.len() + 2);
    write::write_str(&mut new_model, model);

    let mut has_model = false;
    let mut unchanged = true;
    for (key, value) in &fields {
        if key == "model" {
            has_model = true;
            unchanged &= *value == new_model;
        }
    }
    if has_model && unchanged {
        return Ok(body.to_vec());
    }

    let mut out = Vec::with_capacity(body.len() + new_model.len() + 10);
    out.push(b'{');
    if !has_model {
        out.extend_from_slice(b"\"model\":");
        out.extend_from_slice(&new_model);
    }
    for (i, (key, value)) in fields.iter().enumerate() {
        if i > 0 || !has_model {
            out.push(b',');
        }
        match key {
            // Borrowed means the key had no escapes: it can be written as is.
            Cow::Borrowed(k) => {
                out.push(b'"');
                out.extend_from_slice(k.as_bytes());
                out.push(b'"');
            }
            Cow::Owned(k) => write::write_str(&mut out, k),
        }
        out.push(b':');
        if key == "model" {
            out.extend_from_slice(&new_model);
        } else {
            out.extend_from_slice(value);
        }
    }
    out.push(b'}');
    Ok(out)
}

/// Edits the top-level fields named in `keys` of a JSON object body and
/// keeps every other field byte for byte, without building values for them
/// (a conversation's `messages` are skipped over, not parsed).
///
/// `edit` gets a JSON object holding only the named fields that are present,
/// parsed, and returns whether it changed anything. When it did, the body is
/// written back: the fields in their original order, an edited field in its
/// place, a removed one left out, new ones at the end; the other fields are
/// copied as they were (as in [`rewrite_model`], only whitespace between
/// top-level tokens is dropped). When it did not, `None` is returned and the
/// caller keeps the body it has. `edit` should add only fields named in
/// `keys` (another one would be written twice). As in [`rewrite_model`], the
/// fields not named are skipped over by their structure, not checked.
///
/// Fails with 400 `invalid_request` if the body is not a JSON object (or a
/// named field is not valid JSON).
///
/// ```
/// use serde_json::Value;
/// let body = br#"{"model":"m", "messages":[ {"role":"user","content":"hi"} ], "top_k":5}"#;
/// let out = sluice_sdk::json::edit_top_level(body, &["top_k", "temperature"], |fields| {
///     let Value::Object(f) = fields else { return false };
///     f.remove("top_k");
///     f.insert("temperature".into(), 1.into());
///     true
/// })
/// .unwrap()
/// .unwrap();
/// assert_eq!(
///     out,
///     br#"{"model":"m","messages":[ {"role":"user","content":"hi"} ],"temperature":1}"#
/// );
/// ```
pub fn edit_top_level(
    body: &[u8],
    keys: &[&str],
    edit: impl FnOnce(&mut serde_json::Value) -> bool,
) -> Result<Option<Vec<u8>>, PluginError> {
    let fields = top_level_fields(body)?;
    let mut named = serde_json::Map::new();
    for (key, value) in &fields {
        if keys.iter().any(|k| key == k) {
            let v: serde_json::Value = serde_json::from_slice(value)
                .map_err(|e| bad_request(describe(&e, "request body")))?;
            named.insert(key.to_string(), v);
        }
    }
    let mut named = serde_json::Value::Object(named);
    if !edit(&mut named) {
        return Ok(None);
    }
    let serde_json::Value::Object(mut named) = named else {
        return Err(internal(
            "edit_top_level: the edit replaced the fields object",
        ));
    };
    let mut out = Vec::with_capacity(body.len() + 64);
    out.push(b'{');
    let mut first = true;
    let mut write_key = |out: &mut Vec<u8>, key: &str| {
        if !std::mem::take(&mut first) {
            out.push(b',');
        }
        write::write_str(out, key);
        out.push(b':');
    };
    for (key, value) in &fields {
        if keys.iter().any(|k| key == k) {
            // Edited in place, or removed (a repeated key is written once).
            if let Some(v) = named.shift_remove(key.as_ref()) {
                write_key(&mut out, key);
                write::to_writer(&mut out, &v).map_err(|e| internal(e.to_string()))?;
            }
        } else {
            write_key(&mut out, key);
            out.extend_from_slice(value);
        }
    }
    for (key, v) in named {
        write_key(&mut out, &key);
        write::to_writer(&mut out, &v).map_err(|e| internal(e.to_string()))?;
    }
    out.push(b'}');
    Ok(Some(out))
}

/// Whether `json` is a JSON object with a top-level `key`.
///
/// Cheap for non-objects; for objects the top-level values are skipped over,
/// not built. Returns `false` for invalid JSON.
///
/// ```
/// use sluice_sdk::json::has_top_level_key;
/// assert!(has_top_level_key(r#"{"error": {"message": "x"}}"#, "error"));
/// assert!(!has_top_level_key(r#"{"choices": [{"error": 1}]}"#, "error"));
/// ```
pub fn has_top_level_key(json: &str, key: &str) -> bool {
    if !json.trim_start().starts_with('{') {
        return false;
    }
    match serde_json::from_str::<Fields<'_>>(json) {
        Ok(fields) => fields.0.iter().any(|(k, _)| k == key),
        Err(_) => false,
    }
}

/// A JSON value kept as its text: checked to be valid JSON when parsed, but
/// not built into a [`serde_json::Value`] tree, and written back byte for
/// byte when serialized.
///
/// For values a plugin passes on without looking inside. The
/// [`hub`](crate::hub) types use it for tool schemas
/// ([`FunctionDef::parameters`](crate::hub::FunctionDef::parameters)), which
/// coding agents send by the dozen with every request: building them into
/// trees cost ~7× as much as checking them. Call [`RawJson::to_value`] or
/// [`RawJson::parse`] where a plugin does need to look inside.
///
/// Two `RawJson` are equal when they hold the same JSON value, whatever the
/// whitespace.
///
/// ```
/// use sluice_sdk::json::RawJson;
/// use serde_json::json;
///
/// let schema: RawJson = serde_json::from_str(r#"{"type": "object",  "properties": {}}"#).unwrap();
/// assert_eq!(schema.get(), r#"{"type": "object",  "properties": {}}"#);
/// assert_eq!(schema.to_value().unwrap()["type"], "object");
/// assert_eq!(schema, RawJson::from(json!({"type": "object", "properties": {}})));
/// assert!(serde_json::from_str::<RawJson>("{").is_err());
/// ```
#[derive(Clone)]
pub struct RawJson(Box<RawValue>);

impl RawJson {
    /// Checks that `text` is one JSON value and keeps it as it is
    /// (surrounding whitespace included).
    pub fn from_string(text: String) -> Result<RawJson, serde_json::Error> {
        RawValue::from_string(text).map(RawJson)
    }

    /// The JSON text.
    pub fn get(&self) -> &str {
        self.0.get()
    }

    /// The text, for when the owner of the value wants a `String`.
    pub fn into_string(self) -> String {
        // `Box<RawValue>` converts to `Box<str>` without a copy.
        let text: Box<str> = self.0.into();
        text.into_string()
    }

    /// Builds the value as a tree.
    pub fn to_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_str(self.0.get())
    }

    /// Parses the value as `T`.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.0.get())
    }
}

impl From<serde_json::Value> for RawJson {
    fn from(value: serde_json::Value) -> RawJson {
        RawJson::from(&value)
    }
}

impl From<&serde_json::Value> for RawJson {
    fn from(value: &serde_json::Value) -> RawJson {
        // A `Value` always serializes, and always to valid JSON.
        let text = value.to_string();
        RawJson(RawValue::from_string(text).unwrap_or_else(|_| RawValue::NULL.to_owned()))
    }
}

impl PartialEq for RawJson {
    fn eq(&self, other: &RawJson) -> bool {
        self.get() == other.get()
            || matches!((self.to_value(), other.to_value()), (Ok(a), Ok(b)) if a == b)
    }
}

impl fmt::Debug for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawJson({})", self.get())
    }
}

impl fmt::Display for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.get())
    }
}

impl Serialize for RawJson {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for RawJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(deserializer).map(RawJson)
    }
}

/// A key and its value's raw JSON bytes (see [`split_object`]).
pub type RawField<'a> = (Cow<'a, str>, &'a [u8]);

/// The top-level fields of a JSON object body: each key, and its value as
/// the raw bytes of `body` (without the whitespace around it).
///
/// The common case takes [`split_object`], which follows the body's
/// structure without checking the grammar of the values it skips: bodies
/// reach plugins checked already (the gateway parses every client body
/// before the first plugin sees it; plugins write theirs with serde), and
/// a value copied byte for byte needs no more. Anything it does not take —
/// not an object, cut short, a key with escapes — goes through serde_json,
/// which decodes such keys and says what is wrong with the rest.
fn top_level_fields(body: &[u8]) -> Result<Vec<RawField<'_>>, PluginError> {
    if let Some(fields) = split_object(body) {
        return Ok(fields);
    }
    let fields: Fields<'_> = serde_json::from_slice(body).map_err(|e| match e.classify() {
        Category::Data => bad_request(format!("request body must be a JSON object: {e}")),
        _ => bad_request(describe(&e, "request body")),
    })?;
    Ok(fields
        .0
        .into_iter()
        .map(|(k, v)| (k, v.get().as_bytes()))
        .collect())
}

#[inline(always)]
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// The index of the quote that closes the string opening at `b[start]`.
///
/// Found with the writer's scan for bytes that need an escape (16 bytes at
/// a time, no call): most strings are short keys and values, for which a
/// `memchr2` call costs more than the search.
#[inline(always)]
fn string_end(b: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < b.len() {
        i = write::next_escape(b, i)?;
        match b[i] {
            b'"' => return Some(i),
            // An escape: the next byte is part of it (`\"`, `\\`, `\u`, ...).
            b'\\' => i += 2,
            // A control character (not valid in a string, not checked).
            _ => i += 1,
        }
    }
    None
}

/// The index just past the value starting at `b[start]`: a string, an
/// object or array (brackets counted, strings skipped), or a scalar
/// (up to the next delimiter).
fn value_end(b: &[u8], start: usize) -> Option<usize> {
    match *b.get(start)? {
        b'"' => string_end(b, start).map(|e| e + 1),
        b'{' | b'[' => scan::container_end(b, start),
        _ => {
            let len = b[start..]
                .iter()
                .position(|c| matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                .unwrap_or(b.len() - start);
            (len > 0).then_some(start + len)
        }
    }
}

/// Splits a JSON object into its (key, raw value) pairs, in order, by its
/// structure alone: strings and brackets are followed (with SIMD, see
/// `scan.rs`), values are slices of `b` and are not checked against the
/// JSON grammar. `None` when `b` is not shaped like one object (surrounding
/// whitespace allowed), or a key has an escape or is not UTF-8: then parse
/// it with serde_json, which decodes such keys and says what is wrong.
///
/// For reading a few fields of a large value without building it; the
/// text should come from a JSON parser already (the gateway checks every
/// client body).
///
/// ```
/// let fields = sluice_sdk::json::split_object(br#" {"a": [1, {"b": "}"}], "c" : null} "#).unwrap();
/// let fields: Vec<(&str, &[u8])> = fields.iter().map(|(k, v)| (k.as_ref(), *v)).collect();
/// assert_eq!(fields, [("a", &br#"[1, {"b": "}"}]"#[..]), ("c", b"null")]);
/// assert!(sluice_sdk::json::split_object(b"[1]").is_none());
/// ```
pub fn split_object(b: &[u8]) -> Option<Vec<RawField<'_>>> {
    let mut c = Cursor::new(b);
    if !c.enter_object() {
        return None;
    }
    let mut fields = Vec::with_capacity(16);
    while let Some(key) = c.next_key()? {
        if key.contains(&b'\\') {
            return None;
        }
        fields.push((Cow::Borrowed(utf8_key(key)?), c.value()?));
    }
    c.at_end().then_some(fields)
}

/// A key's (or short string's) bytes as text: ASCII ones (nearly all)
/// without a call to the UTF-8 check, which in a plugin costs more than the
/// loop below.
#[inline]
fn utf8_key(key: &[u8]) -> Option<&str> {
    if key.iter().all(u8::is_ascii) {
        // SAFETY: ASCII is UTF-8.
        Some(unsafe { std::str::from_utf8_unchecked(key) })
    } else {
        std::str::from_utf8(key).ok()
    }
}

/// Splits a JSON array into its elements' raw slices, by its structure
/// alone (as [`split_object`] does objects). `None` when `b` is not shaped
/// like one array.
///
/// ```
/// let items = sluice_sdk::json::split_array(br#"[1, "a,b", {"c": [2]}] "#).unwrap();
/// assert_eq!(items, [&b"1"[..], br#""a,b""#, br#"{"c": [2]}"#]);
/// assert_eq!(sluice_sdk::json::split_array(b"[ ]").unwrap().len(), 0);
/// assert!(sluice_sdk::json::split_array(b"[1,]").is_none());
/// ```
pub fn split_array(b: &[u8]) -> Option<Vec<&[u8]>> {
    let mut c = Cursor::new(b);
    if !c.enter_array() {
        return None;
    }
    let mut items = Vec::new();
    while c.next_element()? {
        items.push(c.value()?);
    }
    c.at_end().then_some(items)
}

/// Reads a JSON text forward in one pass, by its structure: step into
/// objects and arrays, take keys, and skip (or take as raw slices) the
/// values not needed. Like [`split_object`], it follows strings and
/// brackets without checking the JSON grammar, and every method returns
/// `None` when the text is not shaped as expected; unlike it, nothing is
/// scanned twice and nothing is collected.
///
/// ```
/// use sluice_sdk::json::Cursor;
/// let mut c = Cursor::new(br#"{"skip": [1, {"x": "]"}], "list": [{"id": "a"}, {"id": "b"}]}"#);
/// let mut ids = Vec::new();
/// assert!(c.enter_object());
/// while let Some(key) = c.next_key().unwrap() {
///     if key == b"list" {
///         assert!(c.enter_array());
///         while c.next_element().unwrap() {
///             assert!(c.enter_object());
///             while let Some(key) = c.next_key().unwrap() {
///                 let v = c.value().unwrap();
///                 if key == b"id" {
///                     ids.push(sluice_sdk::json::raw_str(v).unwrap());
///                 }
///             }
///         }
///     } else {
///         c.value().unwrap();
///     }
/// }
/// assert!(c.at_end());
/// assert_eq!(ids, ["a", "b"]);
/// ```
#[derive(Debug, Clone)]
pub struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
    /// Just inside an object or array: no comma before its first entry.
    fresh: bool,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `b`.
    pub fn new(b: &'a [u8]) -> Cursor<'a> {
        Cursor {
            b,
            i: 0,
            fresh: false,
        }
    }

    fn enter(&mut self, open: u8) -> bool {
        let i = skip_ws(self.b, self.i);
        if self.b.get(i) != Some(&open) {
            return false;
        }
        self.i = i + 1;
        self.fresh = true;
        true
    }

    /// Steps into the object that starts here; `false` (nothing consumed)
    /// when the next value is not an object.
    pub fn enter_object(&mut self) -> bool {
        self.enter(b'{')
    }

    /// Steps into the array that starts here; `false` (nothing consumed)
    /// when the next value is not an array.
    pub fn enter_array(&mut self) -> bool {
        self.enter(b'[')
    }

    /// Whether the next value is `null` (nothing consumed).
    pub fn is_null(&self) -> bool {
        self.b[skip_ws(self.b, self.i).min(self.b.len())..].starts_with(b"null")
    }

    /// Steps past a comma (not before the first entry) or out of the
    /// container at its `close`; `Some(false)` when the container ended.
    fn separator(&mut self, close: u8) -> Option<bool> {
        let mut i = skip_ws(self.b, self.i);
        let c = *self.b.get(i)?;
        if c == close {
            self.i = i + 1;
            self.fresh = false;
            return Some(false);
        }
        if !std::mem::take(&mut self.fresh) {
            if c != b',' {
                return None;
            }
            i = skip_ws(self.b, i + 1);
        }
        self.i = i;
        Some(true)
    }

    /// In an object: the next key's raw bytes (between its quotes, escapes
    /// as written), with its colon consumed; `Some(None)` at the end of the
    /// object (its `}` consumed). The value that follows must be read or
    /// skipped ([`Cursor::value`]) before the next key.
    pub fn next_key(&mut self) -> Option<Option<&'a [u8]>> {
        if !self.separator(b'}')? {
            return Some(None);
        }
        if self.b.get(self.i) != Some(&b'"') {
            return None;
        }
        let end = string_end(self.b, self.i)?;
        let key = &self.b[self.i + 1..end];
        let colon = skip_ws(self.b, end + 1);
        if self.b.get(colon) != Some(&b':') {
            return None;
        }
        self.i = colon + 1;
        Some(Some(key))
    }

    /// In an array: whether another element follows (positioned on it;
    /// read or skip it before asking again); `Some(false)` at the end of
    /// the array (its `]` consumed).
    pub fn next_element(&mut self) -> Option<bool> {
        self.separator(b']')
    }

    /// Takes the value that starts here, as its raw slice.
    pub fn value(&mut self) -> Option<&'a [u8]> {
        let start = skip_ws(self.b, self.i);
        let end = value_end(self.b, start)?;
        self.i = end;
        Some(&self.b[start..end])
    }

    /// Whether only whitespace is left.
    pub fn at_end(&self) -> bool {
        skip_ws(self.b, self.i) == self.b.len()
    }
}

/// The text of a raw JSON string value (a slice [`split_object`] or
/// [`split_array`] returned): borrowed when it has no escapes, decoded by
/// serde_json when it has. `None` when `raw` is not a string.
///
/// ```
/// use sluice_sdk::json::raw_str;
/// assert_eq!(raw_str(br#""plain""#).as_deref(), Some("plain"));
/// assert_eq!(raw_str(br#""a\nb""#).as_deref(), Some("a\nb"));
/// assert_eq!(raw_str(b"null"), None);
/// ```
pub fn raw_str(raw: &[u8]) -> Option<Cow<'_, str>> {
    let inner = raw.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    // Most strings read this way are short ASCII roles, ids and names: one
    // loop over them, no call.
    if inner.iter().all(|&b| b != b'\\' && b.is_ascii()) {
        // SAFETY: ASCII is UTF-8.
        return Some(Cow::Borrowed(unsafe {
            std::str::from_utf8_unchecked(inner)
        }));
    }
    if memchr::memchr(b'\\', inner).is_none() {
        utf8_key(inner).map(Cow::Borrowed)
    } else {
        serde_json::from_slice::<String>(raw).ok().map(Cow::Owned)
    }
}

/// The top-level fields of a JSON object, in order, values as raw slices of
/// the input.
struct Fields<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor;

        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = Fields<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some(Key(key)) = map.next_key()? {
                    let value: &'de RawValue = map.next_value()?;
                    fields.push((key, value));
                }
                Ok(Fields(fields))
            }
        }

        deserializer.deserialize_map(FieldsVisitor)
    }
}

/// A key borrowed from the input when it has no escapes.
#[doc(hidden)]
pub struct Key<'a>(pub Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;

        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }

            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }

            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }

            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }

        deserializer.deserialize_str(KeyVisitor)
    }
}

/// Implements `Deserialize` for a struct with named fields and an
/// `extra: Extra` map that keeps every other field, as
/// `#[serde(flatten)] extra` does, but in one pass: serde's `flatten`
/// first buffers the whole object into an intermediate tree and then
/// deserializes the fields from it (the Anthropic request types of the
/// built-in plugins parse ~15 % faster without it).
///
/// The struct must implement `Default` (an absent optional field keeps its
/// default). A `required` field that is absent is an error
/// (``missing field `role` ``), as with the derive. A repeated key keeps its
/// last value.
///
/// ```
/// use serde_json::{Map, Value};
///
/// #[derive(Default, Debug)]
/// struct Part {
///     kind: String,
///     text: Option<String>,
///     extra: Map<String, Value>,
/// }
/// sluice_sdk::deserialize_with_extra!(Part, "a content part",
///     required { kind: "type" } optional { text: "text" | "body" });
///
/// let p: Part = serde_json::from_str(r#"{"type":"text","text":"hi","x":1}"#).unwrap();
/// assert_eq!((p.kind.as_str(), p.text.as_deref(), p.extra["x"].as_i64()), ("text", Some("hi"), Some(1)));
/// let p: Part = serde_json::from_str(r#"{"type":"text","body":"hi"}"#).unwrap();
/// assert_eq!(p.text.as_deref(), Some("hi"));
/// let e = serde_json::from_str::<Part>(r#"{"text":"hi"}"#).unwrap_err();
/// assert!(e.to_string().starts_with("missing field `type`"));
/// ```
///
/// A struct without `Default` (or whose serde defaults differ from it) says
/// what an absent field starts as with `new { EXPR }` after the description.
/// A field read under other names too lists them: `top_p: "topP" | "top_p"`.
#[macro_export]
macro_rules! deserialize_with_extra {
    ($ty:ident, $what:literal,
     required { $($req:ident : $req_name:literal $(| $req_alias:literal)*),* $(,)? }
     optional { $($opt:ident : $opt_name:literal $(| $opt_alias:literal)*),* $(,)? }) => {
        $crate::deserialize_with_extra!($ty, $what, new { <$ty as ::core::default::Default>::default() }
            required { $($req: $req_name $(| $req_alias)*),* }
            optional { $($opt: $opt_name $(| $opt_alias)*),* });
    };
    ($ty:ident, $what:literal, new { $init:expr }
     required { $($req:ident : $req_name:literal $(| $req_alias:literal)*),* $(,)? }
     optional { $($opt:ident : $opt_name:literal $(| $opt_alias:literal)*),* $(,)? }) => {
        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> ::core::result::Result<Self, D::Error> {
                struct V;
                impl<'de> ::serde::de::Visitor<'de> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                        f.write_str($what)
                    }
                    #[allow(unused_mut)]
                    fn visit_map<A: ::serde::de::MapAccess<'de>>(
                        self,
                        mut map: A,
                    ) -> ::core::result::Result<$ty, A::Error> {
                        let mut out: $ty = $init;
                        $(let mut $req = false;)*
                        while let ::core::option::Option::Some($crate::json::Key(key)) = map.next_key()? {
                            match &*key {
                                $($req_name $(| $req_alias)* => {
                                    out.$req = map.next_value()?;
                                    $req = true;
                                })*
                                $($opt_name $(| $opt_alias)* => out.$opt = map.next_value()?,)*
                                _ => {
                                    out.extra.insert(key.into_owned(), map.next_value()?);
                                }
                            }
                        }
                        $(if !$req {
                            return ::core::result::Result::Err(
                                <A::Error as ::serde::de::Error>::missing_field($req_name),
                            );
                        })*
                        ::core::result::Result::Ok(out)
                    }
                }
                d.deserialize_map(V)
            }
        }
    };
}

/// Implements `Deserialize` for a two-variant enum of a string or an array,
/// such as message content (`"hi"` or `[{"type":"text","text":"hi"}]`),
/// without serde's `untagged` buffering. Anything else is an error that says
/// what was expected.
///
/// ```
/// #[derive(Debug, PartialEq)]
/// enum Stop {
///     One(String),
///     Many(Vec<String>),
/// }
/// sluice_sdk::deserialize_text_or_list!(Stop, One, Many, "a string or an array of strings");
///
/// assert_eq!(serde_json::from_str::<Stop>(r#""x""#).unwrap(), Stop::One("x".into()));
/// assert_eq!(serde_json::from_str::<Stop>(r#"["x"]"#).unwrap(), Stop::Many(vec!["x".into()]));
/// let e = serde_json::from_str::<Stop>("5").unwrap_err();
/// assert!(e.to_string().contains("expected a string or an array of strings"));
/// ```
#[macro_export]
macro_rules! deserialize_text_or_list {
    ($ty:ident, $text:ident, $list:ident, $what:literal) => {
        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(
                d: D,
            ) -> ::core::result::Result<Self, D::Error> {
                struct V;
                impl<'de> ::serde::de::Visitor<'de> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_str<E: ::serde::de::Error>(
                        self,
                        v: &str,
                    ) -> ::core::result::Result<$ty, E> {
                        ::core::result::Result::Ok($ty::$text(v.to_owned()))
                    }
                    fn visit_string<E: ::serde::de::Error>(
                        self,
                        v: String,
                    ) -> ::core::result::Result<$ty, E> {
                        ::core::result::Result::Ok($ty::$text(v))
                    }
                    fn visit_seq<A: ::serde::de::SeqAccess<'de>>(
                        self,
                        mut seq: A,
                    ) -> ::core::result::Result<$ty, A::Error> {
                        let mut items =
                            ::std::vec::Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                        while let ::core::option::Option::Some(item) = seq.next_element()? {
                            items.push(item);
                        }
                        ::core::result::Result::Ok($ty::$list(items))
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_names_where_a_body_is_not_utf8() {
        let e = parse::<serde_json::Value>(b"{\"messages\": [\"caf\xe9\"]}").unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (400, "invalid_request"));
        assert!(
            e.message.starts_with("request body is not valid JSON")
                && e.message.contains("line 1 column"),
            "{}",
            e.message
        );
        let e = parse_upstream::<serde_json::Value>(b"{\"a\": \"\xff\"}").unwrap_err();
        assert_eq!(e.status, 502);
        assert!(e.message.contains("line 1 column"), "{}", e.message);
        // Valid text parses as before, escapes and all.
        let v: serde_json::Value = parse("{\"a\": \"caf\u{e9} \\u00e9\"}".as_bytes()).unwrap();
        assert_eq!(v["a"], "caf\u{e9} \u{e9}");
    }

    fn rewrite(body: &str, model: &str) -> String {
        String::from_utf8(rewrite_model(body.as_bytes(), model).unwrap()).unwrap()
    }

    /// serde_json's split of an object into (key, raw value).
    fn serde_split(body: &str) -> Vec<(String, String)> {
        let f: Fields<'_> = serde_json::from_str(body).unwrap();
        f.0.into_iter()
            .map(|(k, v)| (k.into_owned(), v.get().to_owned()))
            .collect()
    }

    #[test]
    fn the_structural_split_matches_serde_json_on_valid_objects() {
        let bodies = [
            "{}",
            " { } \n",
            r#"{"a":1}"#,
            r#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true}"#,
            "{ \"a\" : [ 1 , {\"b\" : [ ] } ] ,\n\t\"c\":\"}]{[,\" , \"d\" : null }",
            r#"{"s":"a \"quoted\" \\ back\\","t":"\\","u":"\u00e9\ud83d\ude00"}"#,
            r#"{"n":-1.5e+10,"m":0,"o":true,"p":false,"q":[[],[[]],{}],"r":{"x":{"y":{}}}}"#,
            r#"{"日本":"語","k":"\\\"","k2":["\"]"]}"#,
            r#"{"dup":1,"dup":2}"#,
            r#"{"emptykey":"","":""}"#,
        ];
        for body in bodies {
            let ours: Vec<(String, String)> = split_object(body.as_bytes())
                .unwrap_or_else(|| panic!("split refused {body}"))
                .into_iter()
                .map(|(k, v)| (k.into_owned(), String::from_utf8(v.to_vec()).unwrap()))
                .collect();
            assert_eq!(ours, serde_split(body), "{body}");
        }
        // The body of the chain's benchmark, and a real-sized one.
        let bench = include_str!("../../bench/bodies/anthropic-chain.json");
        let compact =
            serde_json::to_string(&serde_json::from_str::<serde_json::Value>(bench).unwrap())
                .unwrap();
        for body in [bench, compact.as_str()] {
            let ours: Vec<(String, String)> = split_object(body.as_bytes())
                .unwrap()
                .into_iter()
                .map(|(k, v)| (k.into_owned(), String::from_utf8(v.to_vec()).unwrap()))
                .collect();
            assert_eq!(ours, serde_split(body));
        }
    }

    #[test]
    fn the_structural_split_leaves_malformed_bodies_and_escaped_keys_to_serde() {
        for body in [
            "",
            "[]",
            "\"x\"",
            "{",
            r#"{"a""#,
            r#"{"a":}"#,
            r#"{"a":1"#,
            r#"{"a":1,}"#,
            r#"{"a":[1,2}"#,
            r#"{"a":"unterminated}"#,
            r#"{"a":1} trailing"#,
            r#"{"a":1}{"b":2}"#,
            r#"{a:1}"#,
            r#"{"a" 1}"#,
            r#"{"a\u0062":1}"#,
        ] {
            assert!(split_object(body.as_bytes()).is_none(), "{body}");
        }
        // Those reach serde_json, which names the problem or decodes the key.
        let e = rewrite_model(b"[]", "m").unwrap_err();
        assert!(e.message.contains("must be a JSON object"), "{}", e.message);
        let e = rewrite_model(br#"{"a":1"#, "m").unwrap_err();
        assert!(e.message.contains("not valid JSON"), "{}", e.message);
        assert_eq!(rewrite(r#"{"a\u0062":1}"#, "m"), r#"{"model":"m","ab":1}"#);
    }

    #[test]
    fn rewrite_keeps_other_fields_byte_for_byte() {
        let body = concat!(
            "{ \"model\" : \"gpt-4o-mini\",\n",
            "  \"messages\":[ {\"role\":\"user\",\"content\":\"h\\u00e9llo \\ud83d\\ude00 \\\"q\\\"\"} ,\n",
            "   {\"role\" : \"assistant\", \"content\": [ {\"type\":\"text\",\"text\":\"\\n\\t\"} ] } ],\n",
            "  \"temperature\":0.70, \"top_p\": 1e0,",
            "  \"nested\":{ \"a\" : [1, 2 ,3], \"model\":\"inner\" , \"deep\": {\"x\": null}} ,\n",
            "  \"big\": 123456789012345678901234567890, \"unicode\": \"日本語\", \"stream\":true }\n"
        );
        let out = rewrite(body, "gpt-4o");
        let expected = concat!(
            "{\"model\":\"gpt-4o\",",
            "\"messages\":[ {\"role\":\"user\",\"content\":\"h\\u00e9llo \\ud83d\\ude00 \\\"q\\\"\"} ,\n",
            "   {\"role\" : \"assistant\", \"content\": [ {\"type\":\"text\",\"text\":\"\\n\\t\"} ] } ],",
            "\"temperature\":0.70,\"top_p\":1e0,",
            "\"nested\":{ \"a\" : [1, 2 ,3], \"model\":\"inner\" , \"deep\": {\"x\": null}},",
            "\"big\":123456789012345678901234567890,\"unicode\":\"日本語\",\"stream\":true}"
        );
        assert_eq!(out, expected);
    }

    #[test]
    fn rewrite_keeps_order_and_escaped_keys() {
        let out = rewrite(r#"{"a":1,"model":"x","b\u0022":2,"z":[]}"#, "m\"1");
        assert_eq!(out, r#"{"a":1,"model":"m\"1","b\"":2,"z":[]}"#);
    }

    #[test]
    fn rewrite_unchanged_model_returns_body_as_is() {
        let body = "{ \"model\" : \"same\" ,  \"messages\" : [] }";
        assert_eq!(rewrite(body, "same"), body);
    }

    #[test]
    fn rewrite_adds_missing_model() {
        assert_eq!(
            rewrite(r#"{"messages":[]}"#, "m"),
            r#"{"model":"m","messages":[]}"#
        );
        assert_eq!(rewrite("{}", "m"), r#"{"model":"m"}"#);
    }

    #[test]
    fn rewrite_replaces_duplicate_models() {
        assert_eq!(
            rewrite(r#"{"model":"a","model":"b"}"#, "c"),
            r#"{"model":"c","model":"c"}"#
        );
    }

    #[test]
    fn rewrite_rejects_non_objects() {
        for body in ["[1]", "\"x\"", "", "{", "{\"model\":}", "{} x"] {
            let e = rewrite_model(body.as_bytes(), "m").unwrap_err();
            assert_eq!(
                (e.status, e.code.as_str()),
                (400, "invalid_request"),
                "{body}"
            );
        }
        let e = rewrite_model(b"[1]", "m").unwrap_err();
        assert!(e.message.contains("must be a JSON object"), "{}", e.message);
    }

    #[test]
    fn parse_errors_name_the_problem() {
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct R {
            messages: Vec<u8>,
        }
        let e = parse::<R>(b"{}").unwrap_err();
        assert_eq!(e.status, 400);
        assert!(
            e.message.contains("missing field `messages`"),
            "{}",
            e.message
        );
        let e = parse::<R>(b"{").unwrap_err();
        assert!(e.message.contains("not valid JSON"), "{}", e.message);
        let e = parse_upstream::<R>(b"nope").unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (502, "bad_upstream"));
    }

    #[test]
    fn top_level_key() {
        assert!(has_top_level_key(r#" {"error":{"message":"x"}}"#, "error"));
        assert!(has_top_level_key(r#"{"a":1,"err\u006fr":null}"#, "error"));
        assert!(!has_top_level_key(r#"{"a":{"error":1}}"#, "error"));
        assert!(!has_top_level_key(r#"["error"]"#, "error"));
        assert!(!has_top_level_key("[DONE]", "error"));
        assert!(!has_top_level_key("{broken", "error"));
    }

    /// Every value of a JSON tree as the cursor sees it, rebuilt as a
    /// `Value` from its keys and raw scalars.
    fn walk(c: &mut Cursor<'_>) -> Option<serde_json::Value> {
        if c.enter_object() {
            let mut m = serde_json::Map::new();
            while let Some(k) = c.next_key()? {
                let k: String = serde_json::from_slice(&[b"\"", k, b"\""].concat()).ok()?;
                m.insert(k, walk(c)?);
            }
            Some(serde_json::Value::Object(m))
        } else if c.enter_array() {
            let mut a = Vec::new();
            while c.next_element()? {
                a.push(walk(c)?);
            }
            Some(serde_json::Value::Array(a))
        } else {
            serde_json::from_slice(c.value()?).ok()
        }
    }

    fn arb_json() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        use serde_json::Value;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(Value::from),
            "[a-z \"\\\\{}\\[\\],:é]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::vec(("[a-z\"{}\\[\\]]{0,6}", inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// The cursor walks any JSON text (compact or pretty) to the tree
        /// it holds, and reaches its end.
        #[test]
        fn the_cursor_walks_any_json_to_its_tree(v in arb_json(), pretty in proptest::prelude::any::<bool>()) {
            let text = if pretty { serde_json::to_vec_pretty(&v) } else { serde_json::to_vec(&v) }.unwrap();
            let mut c = Cursor::new(&text);
            proptest::prop_assert_eq!(walk(&mut c), Some(v));
            proptest::prop_assert!(c.at_end());
        }

        /// On bytes that are not JSON it returns something or `None`,
        /// never panics.
        #[test]
        fn the_cursor_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64), text in "[\\[\\]{}\",: a1]{0,40}") {
            for b in [&bytes[..], text.as_bytes()] {
                let _ = walk(&mut Cursor::new(b));
                let c = Cursor::new(b);
                let _ = (c.is_null(), c.at_end());
            }
        }
    }
}
