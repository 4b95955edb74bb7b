//! The JSON reader behind [`from_bytes`](super::from_bytes): a serde
//! `Deserializer` for valid JSON text, faster than serde_json's in a plugin.
//!
//! serde_json looks for the end of a string 4 bytes at a time on 32-bit
//! targets (WebAssembly among them) and goes through several calls per
//! token; in a plugin that is most of the cost of reading a request. This
//! reader finds string ends 16 bytes at a time with the SIMD scan of the
//! writer, lends strings without escapes straight from the input, and reads
//! structure inline.
//!
//! It only ever answers for text serde_json accepts, and then with the same
//! value: anything it is not sure of (a syntax error, a type error from the
//! target, an enum variant with content, deep nesting) makes it give up,
//! and the caller parses again with serde_json, which gives the answer and
//! the error message. Numbers other than plain integers are handed to
//! serde_json token by token, so floats come out bit for bit the same.

use std::fmt;

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::forward_to_deserialize_any;

use super::write::next_escape;

/// "Not read here: ask serde_json." Carries nothing: serde_json says what
/// was wrong.
#[derive(Debug)]
pub(crate) struct GiveUp;

impl fmt::Display for GiveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not read by the fast JSON reader")
    }
}

impl std::error::Error for GiveUp {}

impl de::Error for GiveUp {
    #[cold]
    fn custom<T: fmt::Display>(_: T) -> Self {
        GiveUp
    }
}

type Result<T> = std::result::Result<T, GiveUp>;

/// Nesting this reader follows; serde_json's limit is 128, so deeper text
/// always goes to serde_json, which decides.
const MAX_DEPTH: u32 = 100;

/// The token serde_json's `RawValue` asks for: the raw text of a value is
/// handed over as a map with this one key.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// Reads `text` as one JSON value of type `T` (surrounding whitespace
/// allowed). `Err` means: parse it with serde_json instead.
pub(crate) fn from_str<'de, T: de::Deserialize<'de>>(text: &'de str) -> Result<T> {
    let mut r = Reader {
        text,
        b: text.as_bytes(),
        i: 0,
        depth: MAX_DEPTH,
        scratch: Vec::new(),
    };
    let value = T::deserialize(&mut r)?;
    r.skip_ws();
    if r.i == r.b.len() {
        Ok(value)
    } else {
        Err(GiveUp)
    }
}

struct Reader<'de> {
    text: &'de str,
    b: &'de [u8],
    /// The next byte to read.
    i: usize,
    /// Containers that may still be opened.
    depth: u32,
    /// A string with escapes, decoded.
    scratch: Vec<u8>,
}

/// Where a string read by [`Reader::string`] is.
enum Str<'de> {
    /// In the input: it had no escapes.
    Input(&'de str),
    /// In `scratch`, decoded.
    Scratch,
}

impl<'de> Reader<'de> {
    #[inline(always)]
    fn skip_ws(&mut self) {
        self.i = super::skip_ws(self.b, self.i);
    }

    /// The next byte that is not whitespace, not consumed.
    #[inline(always)]
    fn peek(&mut self) -> Result<u8> {
        self.skip_ws();
        self.b.get(self.i).copied().ok_or(GiveUp)
    }

    /// Consumes `word` (`null`, `true`, `false`) at the cursor.
    #[inline]
    fn literal(&mut self, word: &[u8]) -> Result<()> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(GiveUp)
        }
    }

    /// Reads the string whose opening quote is at the cursor.
    #[inline(always)]
    fn string(&mut self) -> Result<Str<'de>> {
        let start = self.i + 1;
        let end = next_escape(self.b, start).ok_or(GiveUp)?;
        if self.b[end] == b'"' {
            self.i = end + 1;
            // SAFETY: `start..end` lies within `text` (`end` was found in
            // it), and both ends are next to ASCII quotes, so they are char
            // boundaries of the `str`.
            return Ok(Str::Input(unsafe { self.text.get_unchecked(start..end) }));
        }
        self.string_with_escapes(start, end)
    }

    /// The rest of [`Reader::string`] from the first byte that is not plain
    /// text: escapes are decoded into `scratch`.
    #[inline(never)]
    fn string_with_escapes(&mut self, start: usize, mut at: usize) -> Result<Str<'de>> {
        let b = self.b;
        self.scratch.clear();
        let mut from = start;
        loop {
            self.scratch.extend_from_slice(&b[from..at]);
            match b[at] {
                b'"' => {
                    self.i = at + 1;
                    return Ok(Str::Scratch);
                }
                b'\\' => from = self.escape(at + 1)?,
                // A control character, which must be escaped.
                _ => return Err(GiveUp),
            }
            at = next_escape(b, from).ok_or(GiveUp)?;
        }
    }

    /// Decodes the escape after the backslash at `at - 1` into `scratch`;
    /// returns where the text goes on.
    fn escape(&mut self, at: usize) -> Result<usize> {
        let short = match *self.b.get(at).ok_or(GiveUp)? {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let unit = self.hex4(at + 1)?;
                let (c, next) = match unit {
                    0xD800..=0xDBFF => {
                        // A leading surrogate must be followed by a
                        // trailing one; anything else goes to serde_json.
                        if self.b.get(at + 5..at + 7) != Some(b"\\u") {
                            return Err(GiveUp);
                        }
                        let low = self.hex4(at + 7)?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return Err(GiveUp);
                        }
                        let c = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                        (c, at + 11)
                    }
                    0xDC00..=0xDFFF => return Err(GiveUp),
                    _ => (unit, at + 5),
                };
                let c = char::from_u32(c).ok_or(GiveUp)?;
                self.scratch
                    .extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                return Ok(next);
            }
            _ => return Err(GiveUp),
        };
        self.scratch.push(short);
        Ok(at + 1)
    }

    /// The four hex digits at `at`.
    fn hex4(&self, at: usize) -> Result<u32> {
        let digits = self.b.get(at..at + 4).ok_or(GiveUp)?;
        let mut n = 0;
        for &d in digits {
            n = n * 16 + (d as char).to_digit(16).ok_or(GiveUp)?;
        }
        Ok(n)
    }

    /// The decoded text of a string read into `scratch`.
    fn scratch_str(&self) -> Result<&str> {
        // Pieces of a `str` cut at ASCII bytes, and whole chars: UTF-8, so
        // this does not fail; checked all the same (escapes are rare).
        std::str::from_utf8(&self.scratch).map_err(|_| GiveUp)
    }

    /// A number at the cursor. Plain integers (up to 18 digits, the most
    /// that cannot overflow) are read here; every other number is read by
    /// serde_json, so its value is exactly serde_json's.
    #[inline]
    fn number<V: Visitor<'de>>(&mut self, v: V) -> Result<V::Value> {
        let b = self.b;
        let start = self.i;
        let negative = b[start] == b'-';
        let first = start + negative as usize;
        let mut at = first;
        let mut n: u64 = 0;
        while let Some(&d) = b.get(at) {
            if !d.is_ascii_digit() {
                break;
            }
            n = n.wrapping_mul(10).wrapping_add((d - b'0') as u64);
            at += 1;
        }
        let digits = at - first;
        let plain = (1..=18).contains(&digits)
            && (digits == 1 || b[first] != b'0')
            && !matches!(b.get(at), Some(b'.' | b'e' | b'E'));
        if plain {
            if !negative {
                self.i = at;
                return v.visit_u64(n);
            }
            if n != 0 {
                self.i = at;
                return v.visit_i64(-(n as i64));
            }
        }
        // Floats, `-0`, long integers and bad numbers: serde_json reads the
        // token (and refuses a bad one).
        let end = at
            + b[at..]
                .iter()
                .position(|c| !matches!(c, b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-'))
                .unwrap_or(b.len() - at);
        let mut de = serde_json::Deserializer::from_str(&self.text[start..end]);
        let value = de::Deserializer::deserialize_any(&mut de, v).map_err(|_| GiveUp)?;
        de.end().map_err(|_| GiveUp)?;
        self.i = end;
        Ok(value)
    }

    /// Enters a container: the cursor is on its opening bracket.
    #[inline]
    fn enter(&mut self) -> Result<()> {
        self.depth = self.depth.checked_sub(1).ok_or(GiveUp)?;
        self.i += 1;
        Ok(())
    }

    /// Leaves a container: its closing bracket must be next.
    #[inline]
    fn leave(&mut self, close: u8) -> Result<()> {
        if self.peek()? != close {
            return Err(GiveUp);
        }
        self.i += 1;
        self.depth += 1;
        Ok(())
    }

    /// The raw text of the value at the cursor, checked by reading it.
    fn raw(&mut self) -> Result<&'de str> {
        self.skip_ws();
        let start = self.i;
        de::Deserializer::deserialize_ignored_any(&mut *self, IgnoredAny)?;
        Ok(&self.text[start..self.i])
    }
}

/// Deserializer methods that leave the text to serde_json.
macro_rules! give_up {
    ($($method:ident)*) => {
        $(fn $method<V: Visitor<'de>>(self, _v: V) -> Result<V::Value> {
            Err(GiveUp)
        })*
    };
}

impl<'de> de::Deserializer<'de> for &mut Reader<'de> {
    type Error = GiveUp;

    #[inline]
    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        match self.peek()? {
            b'"' => match self.string()? {
                Str::Input(s) => v.visit_borrowed_str(s),
                Str::Scratch => v.visit_str(self.scratch_str()?),
            },
            b'{' => {
                self.enter()?;
                let value = v.visit_map(Entries {
                    r: &mut *self,
                    first: true,
                })?;
                self.leave(b'}')?;
                Ok(value)
            }
            b'[' => {
                self.enter()?;
                let value = v.visit_seq(Entries {
                    r: &mut *self,
                    first: true,
                })?;
                self.leave(b']')?;
                Ok(value)
            }
            b'n' => {
                self.literal(b"null")?;
                v.visit_unit()
            }
            b't' => {
                self.literal(b"true")?;
                v.visit_bool(true)
            }
            b'f' => {
                self.literal(b"false")?;
                v.visit_bool(false)
            }
            b'-' | b'0'..=b'9' => self.number(v),
            _ => Err(GiveUp),
        }
    }

    #[inline]
    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        if self.peek()? == b'n' {
            self.literal(b"null")?;
            v.visit_none()
        } else {
            v.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        v: V,
    ) -> Result<V::Value> {
        if name == RAW_VALUE_TOKEN {
            let raw = self.raw()?;
            v.visit_map(RawEntry { raw: Some(raw) })
        } else {
            v.visit_newtype_struct(self)
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value> {
        // Unit variants (a string) here; a variant with content (an object
        // of one key) goes to serde_json.
        if self.peek()? != b'"' {
            return Err(GiveUp);
        }
        match self.string()? {
            Str::Input(s) => v.visit_enum(BorrowedStrDeserializer::new(s)),
            Str::Scratch => {
                let s = self.scratch_str()?.to_owned();
                v.visit_enum(de::IntoDeserializer::<GiveUp>::into_deserializer(s))
            }
        }
    }

    // serde_json hands over raw string bytes here: leave it to it.
    give_up!(deserialize_bytes deserialize_byte_buf);

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

/// The entries of an object or an array.
struct Entries<'a, 'de> {
    r: &'a mut Reader<'de>,
    first: bool,
}

impl<'de> Entries<'_, 'de> {
    /// Past the comma before the next entry: `false` at the closing bracket
    /// (not consumed).
    #[inline(always)]
    fn next(&mut self, close: u8) -> Result<bool> {
        let c = self.r.peek()?;
        if c == close {
            return Ok(false);
        }
        if self.first {
            self.first = false;
            return Ok(true);
        }
        if c != b',' {
            return Err(GiveUp);
        }
        self.r.i += 1;
        // A comma must be followed by an entry, not the bracket.
        if self.r.peek()? == close {
            return Err(GiveUp);
        }
        Ok(true)
    }
}

impl<'de> MapAccess<'de> for Entries<'_, 'de> {
    type Error = GiveUp;

    #[inline]
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        if !self.next(b'}')? {
            return Ok(None);
        }
        if self.r.b[self.r.i] != b'"' {
            return Err(GiveUp);
        }
        seed.deserialize(KeyReader(&mut *self.r)).map(Some)
    }

    #[inline]
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        if self.r.peek()? != b':' {
            return Err(GiveUp);
        }
        self.r.i += 1;
        seed.deserialize(&mut *self.r)
    }
}

impl<'de> SeqAccess<'de> for Entries<'_, 'de> {
    type Error = GiveUp;

    #[inline]
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        if !self.next(b']')? {
            return Ok(None);
        }
        seed.deserialize(&mut *self.r).map(Some)
    }
}

/// An object key (the cursor on its opening quote): always a string.
/// Targets that want a key as a number or a bool (which serde_json reads
/// out of the string) get a string and refuse it, and serde_json reads
/// the text instead.
struct KeyReader<'a, 'de>(&'a mut Reader<'de>);

impl<'de> de::Deserializer<'de> for KeyReader<'_, 'de> {
    type Error = GiveUp;

    #[inline]
    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        match self.0.string()? {
            Str::Input(s) => v.visit_borrowed_str(s),
            Str::Scratch => v.visit_str(self.0.scratch_str()?),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        v: V,
    ) -> Result<V::Value> {
        v.visit_newtype_struct(self)
    }

    give_up!(deserialize_bytes deserialize_byte_buf deserialize_option);

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        _v: V,
    ) -> Result<V::Value> {
        Err(GiveUp)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

/// A raw value as serde_json's `RawValue` takes it: a map of one entry,
/// the token as key and the text as value.
struct RawEntry<'de> {
    raw: Option<&'de str>,
}

impl<'de> MapAccess<'de> for RawEntry<'de> {
    type Error = GiveUp;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        if self.raw.is_none() {
            return Ok(None);
        }
        seed.deserialize(BorrowedStrDeserializer::new(RAW_VALUE_TOKEN))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        let raw = self.raw.take().ok_or(GiveUp)?;
        seed.deserialize(BorrowedStrDeserializer::new(raw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::RawJson;
    use crate::json::write::tests::arb_value;
    use proptest::prelude::*;
    use serde::Deserialize;
    use serde_json::Value;
    use std::borrow::Cow;

    /// Reads `text` with both readers: whenever this one answers, serde_json
    /// must give the same answer. Returns this reader's answer.
    fn both<'a, T>(text: &'a str) -> Option<T>
    where
        T: Deserialize<'a> + PartialEq + fmt::Debug,
    {
        let ours = from_str::<T>(text).ok();
        if let Some(v) = &ours {
            let theirs = serde_json::from_str::<T>(text);
            assert_eq!(Some(v), theirs.as_ref().ok(), "{text:?}: {theirs:?}");
        }
        ours
    }

    fn nested(depth: usize) -> String {
        format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn reads_valid_json_as_serde_json_does() {
        let texts = [
            r#"{"a":1}"#,
            " \t\r\n{ \"a\" : [ 1 , -2 , 3.5 , -0 , 1e3 , 2E-2 , 0 ] } \n",
            "[12345678901234567890, 123456789012345678, 1234567890123456789]",
            "[-9223372036854775808, -123456789012345678, 18446744073709551616]",
            r#""\u00e9\ud83d\ude00\n\t\"\\\/\b\f\r é🙂""#,
            r#"{"a":{"b":[true,false,null,{}, []]},"":"","a":2}"#,
            "[]",
            "{}",
            "\"\"",
            "null",
            "0",
            "-1",
            "1.5",
        ];
        for text in texts {
            assert!(both::<Value>(text).is_some(), "not read: {text:?}");
        }
        assert!(both::<Value>(&nested(90)).is_some());
        assert_eq!(
            both::<Value>(r#"{"k\n\u0041":"x\u0000y"}"#).unwrap(),
            serde_json::json!({"k\nA": "x\u{0}y"})
        );
    }

    #[test]
    fn gives_up_on_what_serde_json_refuses() {
        let texts = [
            "",
            " ",
            "[1,]",
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            r#"{"a":1 "b":2}"#,
            "[1 2]",
            "[01]",
            "[-]",
            "[1.]",
            "[.5]",
            "[+1]",
            "[1e]",
            "[--1]",
            "[1.5x]",
            r#""\x""#,
            "\"a\u{1}b\"",
            "\"tab\there\"",
            r#""\ud800""#,
            r#""\ud800\u0041""#,
            r#""\udc00""#,
            r#""\u12""#,
            r#""\u12g4""#,
            "\"open",
            "tru",
            "nul",
            "[true false]",
            r#"{"a":1}x"#,
            "{,}",
            "[,1]",
            "{1:2}",
            "[1]]",
            "{\"a\":1",
            "[NaN]",
            "[Infinity]",
            "'a'",
        ];
        for text in texts {
            assert!(from_str::<Value>(text).is_err(), "read: {text:?}");
            assert!(serde_json::from_str::<Value>(text).is_err(), "{text:?}");
        }
        // Deeper than this reader goes: serde_json decides (it reads 110
        // levels, and refuses 129).
        assert!(from_str::<Value>(&nested(110)).is_err());
        assert!(serde_json::from_str::<Value>(&nested(110)).is_ok());
        assert!(serde_json::from_str::<Value>(&nested(129)).is_err());
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Text,
        ToolUse,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Typed<'a> {
        kind: Kind,
        #[serde(borrow)]
        name: Cow<'a, str>,
        id: &'a str,
        count: u32,
        ratio: Option<f64>,
        tags: Vec<String>,
        input: RawJson,
        #[serde(default)]
        missing: Option<i64>,
    }

    #[test]
    fn reads_typed_targets_and_raw_values() {
        let text = r#"{"kind":"tool_use","name":"get\tweather","id":"toolu_1","count":3,
            "ratio":null,"tags":["a","b\"c"],"input": { "city" : [1, "x"] } }"#;
        let t: Typed = both(text).expect("read");
        assert_eq!(t.kind, Kind::ToolUse);
        assert!(matches!(t.name, Cow::Owned(_)), "escaped: decoded");
        assert_eq!(t.name, "get\tweather");
        assert_eq!(t.input.get(), r#"{ "city" : [1, "x"] }"#);
        // Strings without escapes are lent from the text.
        let plain = text.replace("get\\tweather", "plain");
        let k: Typed = from_str(&plain).unwrap();
        assert!(matches!(k.name, Cow::Borrowed("plain")));
        // Type errors go to serde_json, which names them.
        for bad in [
            text.replace("\"count\":3", "\"count\":-3"),
            text.replace("\"count\":3", "\"count\":3.5"),
            text.replace("\"tool_use\"", "\"image\""),
            text.replace("\"kind\":\"tool_use\",", ""),
            text.replace("\"id\":\"toolu_1\"", "\"id\":\"tool\\u00e9\""),
        ] {
            assert!(from_str::<Typed>(&bad).is_err(), "{bad}");
            assert!(serde_json::from_str::<Typed>(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn from_bytes_errors_are_serde_json_errors() {
        for text in ["[1,]", r#"{"a":}"#, "\"a\u{1}\""] {
            let ours = crate::json::from_bytes::<Value>(text.as_bytes()).unwrap_err();
            let theirs = serde_json::from_str::<Value>(text).unwrap_err();
            assert_eq!(ours.to_string(), theirs.to_string());
        }
    }

    /// Text that stays UTF-8 after an edit: ASCII bytes that matter to JSON.
    const EDITS: &[u8] = b"{}[]\",:\\ 0-1.eEtfnu\t\n";

    proptest! {
        #[test]
        fn any_value_reads_as_serde_json_reads_it(v in arb_value(), pretty: bool) {
            let text = if pretty {
                serde_json::to_string_pretty(&v).unwrap()
            } else {
                serde_json::to_string(&v).unwrap()
            };
            let ours: Value = from_str(&text).map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
            prop_assert_eq!(ours, serde_json::from_str::<Value>(&text).unwrap());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Every single-byte edit of valid text (each byte that matters to
        /// JSON inserted at, or replacing, each position; each byte
        /// removed): whatever this reader still reads, serde_json reads the
        /// same.
        #[test]
        fn edited_text_is_read_as_serde_json_reads_it(v in arb_value()) {
            let text = serde_json::to_vec(&v).unwrap();
            if text.len() > 200 {
                // Large values: their parts come up on their own.
                return Ok(());
            }
            let mut tried = Vec::new();
            for k in 0..=text.len() {
                for &byte in EDITS {
                    tried.clone_from(&text);
                    tried.insert(k, byte);
                    if let Ok(t) = std::str::from_utf8(&tried) {
                        both::<Value>(t);
                    }
                    if k < text.len() {
                        tried.clone_from(&text);
                        tried[k] = byte;
                        if let Ok(t) = std::str::from_utf8(&tried) {
                            both::<Value>(t);
                        }
                    }
                }
                if k < text.len() {
                    tried.clone_from(&text);
                    tried.remove(k);
                    if let Ok(t) = std::str::from_utf8(&tried) {
                        both::<Value>(t);
                    }
                }
            }
        }
    }
}
