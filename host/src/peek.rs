//! The two fields of a request body the host reads itself, `model` and
//! `stream`, found in one pass over the text.
//!
//! Everything else in the body is the plugins' business, but the host must
//! still refuse a body that is not JSON, so the whole text is checked, not
//! only the top level. Through serde that check is a visitor call per
//! token (~12.5k instructions for a 1 KiB chat request with a tool call);
//! here it is one loop over the grammar, with strings skipped 16 bytes at a
//! time (SSE2; 8 on other CPUs): ~40 % fewer for that request, half for a
//! plain chat request.
//!
//! [`quick`] only ever answers for text serde_json accepts as a [`Peek`],
//! and then with the same value: anything it is not sure of (a syntax
//! error, `model` not a plain string, escapes in a top-level key, a
//! repeated field, a top level that is not an object, deep nesting) makes
//! it answer `None`, and the caller parses with serde_json, which gives the
//! answer or the error message. Like serde_json when it skips a value, it
//! does not check that skipped strings are UTF-8; the plugins that read
//! them do.

use std::borrow::Cow;

use serde::Deserialize;

/// The two fields the host reads itself; the rest is the plugins' business.
#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(expecting = "a JSON object")]
pub struct Peek<'a> {
    #[serde(borrow, default)]
    pub model: Option<Cow<'a, str>>,
    #[serde(default)]
    pub stream: Option<bool>,
}

/// Reads `body` as serde_json would read it into a [`Peek`], or `Err`
/// with serde_json's message. A request is an object: the array form
/// serde accepts for a struct (`["gpt-4o", true]`) is refused.
pub fn peek(body: &[u8]) -> Result<Peek<'_>, serde_json::Error> {
    if let Some(p) = quick(body) {
        return Ok(p);
    }
    let p = serde_json::from_slice(body)?;
    if body.iter().find(|c| !c.is_ascii_whitespace()) == Some(&b'[') {
        return Err(serde::de::Error::invalid_type(
            serde::de::Unexpected::Seq,
            &"a JSON object",
        ));
    }
    Ok(p)
}

/// Deeper nesting goes to serde_json (which skips any depth).
const MAX_DEPTH: usize = 128;

/// `Some` only for text serde_json reads into the same [`Peek`].
pub fn quick(body: &[u8]) -> Option<Peek<'_>> {
    let mut s = Scan { b: body, i: 0 };
    s.ws();
    s.eat(b'{')?;
    let mut peek = Peek {
        model: None,
        stream: None,
    };
    let (mut seen_model, mut seen_stream) = (false, false);
    s.ws();
    if s.peek()? == b'}' {
        s.i += 1;
    } else {
        loop {
            s.ws();
            s.eat(b'"')?;
            let key = s.plain_str()?;
            s.ws();
            s.eat(b':')?;
            s.ws();
            match key {
                b"model" => {
                    if std::mem::replace(&mut seen_model, true) {
                        return None;
                    }
                    peek.model = match s.peek()? {
                        b'n' => s.literal(b"null").map(|()| None)?,
                        b'"' => {
                            s.i += 1;
                            Some(Cow::Borrowed(std::str::from_utf8(s.plain_str()?).ok()?))
                        }
                        _ => return None,
                    };
                }
                b"stream" => {
                    if std::mem::replace(&mut seen_stream, true) {
                        return None;
                    }
                    peek.stream = match s.peek()? {
                        b'n' => s.literal(b"null").map(|()| None)?,
                        b't' => s.literal(b"true").map(|()| Some(true))?,
                        b'f' => s.literal(b"false").map(|()| Some(false))?,
                        _ => return None,
                    };
                }
                // serde_json reads a top-level key as a `str`: it must be UTF-8.
                other => {
                    if !other.is_ascii() {
                        std::str::from_utf8(other).ok()?;
                    }
                    s.value()?;
                }
            }
            s.ws();
            match s.peek()? {
                b',' => s.i += 1,
                b'}' => {
                    s.i += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    s.ws();
    (s.i == body.len()).then_some(peek)
}

struct Scan<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// JSON whitespace, as serde_json skips it.
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.b[self.i..]
            .starts_with(word)
            .then(|| self.i += word.len())
    }

    /// The contents of a string without escapes (the cursor just after its
    /// opening quote, left just after its closing one); `None` if it has
    /// escapes or is not a valid string.
    fn plain_str(&mut self) -> Option<&'a [u8]> {
        let start = self.i;
        let end = special(self.b, start)?;
        (self.b[end] == b'"').then(|| {
            self.i = end + 1;
            &self.b[start..end]
        })
    }

    /// Skips a string (the cursor just after its opening quote) as
    /// serde_json's `ignore_str` does: control characters refused, escapes
    /// checked, bytes above ASCII taken as they are.
    fn skip_str(&mut self) -> Option<()> {
        loop {
            let at = special(self.b, self.i)?;
            match self.b[at] {
                b'"' => {
                    self.i = at + 1;
                    return Some(());
                }
                b'\\' => match *self.b.get(at + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i = at + 2,
                    b'u' => {
                        let hex = self.b.get(at + 2..at + 6)?;
                        if !hex.iter().all(u8::is_ascii_hexdigit) {
                            return None;
                        }
                        self.i = at + 6;
                    }
                    _ => return None,
                },
                _ => return None,
            }
        }
    }

    /// A number as serde_json's grammar has it: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    fn number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            self.digit()?;
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            self.digit()?;
            self.digits();
        }
        // A digit right after a leading `0` ("01") ends the number here,
        // and the caller refuses it: only `,`, a bracket or whitespace may
        // follow a value.
        Some(())
    }

    fn digit(&mut self) -> Option<()> {
        self.peek()?.is_ascii_digit().then(|| self.i += 1)
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
    }

    /// Skips one value of any depth (the cursor on its first byte). The
    /// open containers are a stack of bits: 1 for an object, 0 for an array.
    fn value(&mut self) -> Option<()> {
        let mut stack = [0u64; MAX_DEPTH / 64];
        let mut depth = 0usize;
        loop {
            // A value.
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    self.skip_str()?;
                }
                c @ (b'{' | b'[') => {
                    self.i += 1;
                    if depth == MAX_DEPTH {
                        return None;
                    }
                    let bit = 1u64 << (depth % 64);
                    if c == b'{' {
                        stack[depth / 64] |= bit;
                    } else {
                        stack[depth / 64] &= !bit;
                    }
                    depth += 1;
                    self.ws();
                    match self.peek()? {
                        b'}' if c == b'{' => {}
                        b']' if c == b'[' => {}
                        _ => {
                            if c == b'{' {
                                self.key()?;
                            }
                            continue;
                        }
                    }
                    // Empty: closed below.
                    self.i += 1;
                    depth -= 1;
                }
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                _ => self.number()?,
            }
            // After a value: a comma and the next one, or the closing
            // bracket of each container that ends here.
            loop {
                if depth == 0 {
                    return Some(());
                }
                let object = stack[(depth - 1) / 64] >> ((depth - 1) % 64) & 1 == 1;
                self.ws();
                match self.peek()? {
                    b',' => {
                        self.i += 1;
                        self.ws();
                        if object {
                            self.key()?;
                        }
                        break;
                    }
                    b'}' if object => {}
                    b']' if !object => {}
                    _ => return None,
                }
                self.i += 1;
                depth -= 1;
            }
        }
    }

    /// A key and its colon inside a skipped object (the cursor on the key),
    /// leaving the cursor on the value.
    fn key(&mut self) -> Option<()> {
        self.eat(b'"')?;
        self.skip_str()?;
        self.ws();
        self.eat(b':')?;
        self.ws();
        Some(())
    }
}

/// The first `"`, `\` or control character (below 0x20) at or after `from`:
/// 16 bytes at a time with SSE2 on x86-64, then 8 at a time in a `u64`.
#[inline(always)]
fn special(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    #[cfg(target_arch = "x86_64")]
    while i + 16 <= b.len() {
        // SAFETY: bytes `i..i + 16` are in `b`.
        let marks = unsafe { special_16(b.as_ptr().add(i)) };
        if marks != 0 {
            return Some(i + marks.trailing_zeros() as usize);
        }
        i += 16;
    }
    while let Some(chunk) = b.get(i..i + 8) {
        let marks = special_8(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        if marks != 0 {
            return Some(i + (marks.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b[i..]
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .map(|k| i + k)
}

/// Bit `k` set when byte `k` of the 16 at `at` is special.
///
/// # Safety
///
/// `at` must point to 16 readable bytes.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn special_16(at: *const u8) -> u32 {
    use std::arch::x86_64::*;
    // SAFETY: SSE2 is part of x86-64, so these instructions always exist;
    // `_mm_loadu_si128` reads the 16 bytes at `at` (the caller's promise)
    // at any alignment.
    unsafe {
        let v = _mm_loadu_si128(at.cast::<__m128i>());
        let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
        let slash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
        // Unsigned `v <= 0x1f`: the minimum with 0x1f is `v` itself.
        let control = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
        _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, slash), control)) as u32
    }
}

/// The high bit of byte `k` set when byte `k` of `w` is special (and maybe
/// of bytes above the first special one: a borrow only carries upwards, so
/// the lowest mark is exact).
fn special_8(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Per byte: zero after the XOR (a quote or a backslash), or below 0x20.
    let quote = w ^ (ONES * u64::from(b'"'));
    let slash = w ^ (ONES * u64::from(b'\\'));
    (quote.wrapping_sub(ONES) & !quote
        | slash.wrapping_sub(ONES) & !slash
        | w.wrapping_sub(ONES * 0x20) & !w)
        & HIGH
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn serde(body: &[u8]) -> Option<Peek<'_>> {
        serde_json::from_slice(body).ok()
    }

    /// Whatever `quick` answers, serde_json answers the same.
    fn agrees(body: &[u8]) -> Result<bool, TestCaseError> {
        match quick(body) {
            Some(p) => {
                let theirs = serde(body);
                prop_assert_eq!(Some(p), theirs, "{}", String::from_utf8_lossy(body));
                Ok(true)
            }
            None => Ok(false),
        }
    }

    #[test]
    fn reads_model_and_stream() {
        let body = br#" {"messages":[{"role":"user","content":"hi \"you\" \u00e9\n","x":[1,-2.5e3,0,true,false,null,{}]}],
            "model" : "gpt-4o", "stream":true, "n":{"a":[[]],"b":{"c":"d"}}}  "#;
        let p = quick(body).expect("answered");
        assert_eq!(p.model.as_deref(), Some("gpt-4o"));
        assert_eq!(p.stream, Some(true));
        assert_eq!(Some(p), serde(body));
        for body in [
            &b"{}"[..],
            b"{\"model\":null,\"stream\":null}",
            b"{\"stream\":false}",
        ] {
            assert_eq!(quick(body), serde(body));
            assert!(quick(body).is_some());
        }
    }

    #[test]
    fn leaves_to_serde_json_what_it_is_not_sure_of() {
        for body in [
            &b""[..],
            b"[]",
            b"[\"m\", true]",
            b"{\"model\":\"a\",\"model\":\"b\"}",
            b"{\"model\":\"gpt\\u002d4\"}",
            b"{\"model\":4}",
            b"{\"stream\":\"yes\"}",
            b"{\"mod\\u0065l\":\"x\"}",
            b"{\"a\":1,}",
            b"{\"a\":01}",
            b"{\"a\":1.}",
            b"{\"a\":-}",
            b"{\"a\":\"\x01\"}",
            b"{\"a\":\"\\x\"}",
            b"{\"a\":[1 2]}",
            b"{\"a\":{\"b\" 1}}",
            b"{\"a\":tru}",
            b"{} x",
            b"{\"\xff\":1}",
            b"{\"model\":\"\xff\"}",
        ] {
            assert_eq!(quick(body), None, "{}", String::from_utf8_lossy(body));
        }
        // Nesting deeper than 128 is serde_json's to decide.
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(129), "]".repeat(129));
        assert_eq!(quick(deep.as_bytes()), None);
        let ok = format!("{{\"a\":{}{}}}", "[".repeat(128), "]".repeat(128));
        assert!(quick(ok.as_bytes()).is_some());
    }

    #[test]
    fn a_request_is_an_object() {
        let e = peek(br#" ["gpt-4o", true]"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid type: sequence, expected a JSON object"
        );
        let e = peek(br#""gpt-4o""#).unwrap_err();
        assert!(e.to_string().contains("expected a JSON object"), "{e}");
        assert!(peek(b"[").unwrap_err().is_eof());
    }

    #[test]
    fn the_bench_bodies_take_the_quick_way() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../bench/bodies");
        let mut n = 0;
        for entry in std::fs::read_dir(root).expect("bench/bodies") {
            let body = std::fs::read(entry.expect("entry").path()).expect("read");
            assert!(quick(&body).is_some() && agrees(&body).unwrap());
            n += 1;
        }
        assert!(n > 0);
    }

    fn arb_json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i64>().prop_map(|n| n.into()),
            (-1e6f64..1e6).prop_map(|f| f.into()),
            "[a-z\"\\\\\n\u{1}é🙂 /]{0,12}".prop_map(serde_json::Value::String),
        ];
        leaf.prop_recursive(4, 40, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::Array),
                prop::collection::vec(("[a-z\"é]{0,6}", inner), 0..5)
                    .prop_map(|kv| serde_json::Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    /// A request-like body: the generated fields, maybe `model` and
    /// `stream`, written compactly or pretty.
    fn arb_body() -> impl Strategy<Value = Vec<u8>> {
        (
            prop::collection::vec(("[a-z]{1,8}", arb_json()), 0..4),
            prop::option::of(prop_oneof![
                "[a-z0-9.:/-]{0,12}".prop_map(serde_json::Value::String),
                Just(serde_json::Value::Null),
            ]),
            prop::option::of(prop_oneof![
                any::<bool>().prop_map(serde_json::Value::Bool),
                Just(serde_json::Value::Null)
            ]),
            any::<bool>(),
        )
            .prop_map(|(fields, model, stream, pretty)| {
                let mut o: serde_json::Map<String, serde_json::Value> =
                    fields.into_iter().collect();
                if let Some(m) = model {
                    o.insert("model".into(), m);
                }
                if let Some(s) = stream {
                    o.insert("stream".into(), s);
                }
                let v = serde_json::Value::Object(o);
                if pretty {
                    serde_json::to_vec_pretty(&v).expect("serialize")
                } else {
                    serde_json::to_vec(&v).expect("serialize")
                }
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn generated_bodies_agree_and_take_the_quick_way(body in arb_body()) {
            prop_assert!(agrees(&body)?, "not answered: {}", String::from_utf8_lossy(&body));
        }

        #[test]
        fn special_finds_the_first_anywhere(text in prop::collection::vec(
            prop_oneof![4 => 0x20u8..0x7f, 1 => Just(b'"'), 1 => Just(b'\\'), 1 => 0u8..0x20, 2 => 0x7fu8..=0xff], 0..70),
            from in 0usize..70) {
            let from = from.min(text.len());
            let want = (from..text.len()).find(|&j| matches!(text[j], b'"' | b'\\') || text[j] < 0x20);
            prop_assert_eq!(special(&text, from), want);
        }

        #[test]
        fn every_one_byte_edit_agrees(body in arb_body(), at in any::<prop::sample::Index>(),
            byte in prop_oneof![Just(b'"'), Just(b'\\'), Just(b','), Just(b':'), Just(b'{'), Just(b'}'),
                Just(b'['), Just(b']'), Just(b' '), Just(b'0'), Just(b'-'), Just(b'.'), Just(b'e'),
                Just(b'u'), Just(0x01u8), Just(0xffu8), any::<u8>()]) {
            let mut edited = body.clone();
            let i = at.index(edited.len());
            edited[i] = byte;
            agrees(&edited)?;
            let mut cut = body.clone();
            cut.truncate(i);
            agrees(&cut)?;
            let mut inserted = body;
            inserted.insert(i, byte);
            agrees(&inserted)?;
        }
    }

    #[test]
    fn special_finds_the_first() {
        let text = b"abcdefgh\"ijklmnopqrs\\tuvwxyz\x1f0123456789abcdefghijklmnopqrstuvwxyz\x7f\x80\xff\x20\n..";
        for from in 0..text.len() {
            let want =
                (from..text.len()).find(|&j| matches!(text[j], b'"' | b'\\') || text[j] < 0x20);
            assert_eq!(special(text, from), want, "from {from}");
        }
        // High bytes are not control characters.
        assert_eq!(special("éééé🙂🙂\"".as_bytes(), 0), Some(16));
    }
}
