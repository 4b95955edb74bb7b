//! Where a JSON object or array ends, found 64 bytes at a time.
//!
//! The byte-at-a-time walk (brackets counted, each string skipped with a
//! search for its closing quote) costs a search per string, and a chat
//! request's `messages` holds dozens of short strings. Here each 64-byte
//! block is turned into bit masks (quotes, backslashes, opening and closing
//! brackets) with 128-bit SIMD compares: WebAssembly SIMD in the plugins,
//! SSE2 natively. Escaped quotes are removed from the quote mask with
//! integer arithmetic on the backslash mask (a quote is escaped when an odd
//! run of backslashes ends right before it), the bytes inside strings are
//! the prefix XOR of the remaining quotes, and the brackets outside strings
//! move the depth: a block whose closing brackets cannot bring the depth to
//! zero is counted with two popcounts, and only the block where it may end
//! is walked bracket by bracket. Once a whole block turns out to be inside
//! a string (a long text), the rest of that string is skipped with memchr.
//!
//! Like the walk it replaces, this follows the structure without checking
//! the grammar (see `top_level_fields`): on text that is not JSON it returns
//! some position or `None`, never panics.

/// Bit `i` of each mask is byte `i` of a 64-byte block.
#[derive(Debug, Default, PartialEq, Eq, Clone, Copy)]
struct Masks {
    quote: u64,
    backslash: u64,
    /// `{` and `[`.
    open: u64,
    /// `}` and `]`.
    close: u64,
}

/// `{` (0x7B) and `[` (0x5B) differ only in bit 0x20, as do `}` (0x7D) and
/// `]` (0x5D): with that bit set, one compare finds both.
const CASE_BIT: u8 = 0x20;

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn classify(block: &[u8; 64]) -> Masks {
    use core::arch::wasm32::*;
    let (quote, backslash) = (u8x16_splat(b'"'), u8x16_splat(b'\\'));
    let (open, close, case) = (u8x16_splat(b'{'), u8x16_splat(b'}'), u8x16_splat(CASE_BIT));
    let mut m = Masks::default();
    for k in 0..4 {
        // SAFETY: `block` has 64 bytes, so bytes 16k..16k+16 are in bounds;
        // `v128_load` accepts unaligned addresses.
        let v = unsafe { v128_load(block.as_ptr().add(16 * k).cast::<v128>()) };
        let folded = v128_or(v, case);
        let shift = 16 * k as u32;
        m.quote |= u64::from(u8x16_bitmask(u8x16_eq(v, quote))) << shift;
        m.backslash |= u64::from(u8x16_bitmask(u8x16_eq(v, backslash))) << shift;
        m.open |= u64::from(u8x16_bitmask(u8x16_eq(folded, open))) << shift;
        m.close |= u64::from(u8x16_bitmask(u8x16_eq(folded, close))) << shift;
    }
    m
}

#[cfg(target_arch = "x86_64")]
fn classify(block: &[u8; 64]) -> Masks {
    use core::arch::x86_64::*;
    // SAFETY: SSE2 is part of x86-64, so these instructions always exist;
    // `block` has 64 bytes, so each 16-byte load at 16k is in bounds, and
    // `_mm_loadu_si128` accepts unaligned addresses.
    unsafe {
        let bits = |v: __m128i, byte: u8| -> u64 {
            u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(byte as i8))) as u16)
        };
        let case = _mm_set1_epi8(CASE_BIT as i8);
        let mut m = Masks::default();
        for k in 0..4 {
            let v = _mm_loadu_si128(block.as_ptr().add(16 * k).cast::<__m128i>());
            let folded = _mm_or_si128(v, case);
            let shift = 16 * k as u32;
            m.quote |= bits(v, b'"') << shift;
            m.backslash |= bits(v, b'\\') << shift;
            m.open |= bits(folded, b'{') << shift;
            m.close |= bits(folded, b'}') << shift;
        }
        m
    }
}

#[cfg(not(any(
    all(target_arch = "wasm32", target_feature = "simd128"),
    target_arch = "x86_64"
)))]
fn classify(block: &[u8; 64]) -> Masks {
    classify_bytes(block)
}

/// The masks one byte at a time: the definition the SIMD versions follow.
#[cfg_attr(
    any(
        all(target_arch = "wasm32", target_feature = "simd128"),
        target_arch = "x86_64"
    ),
    allow(dead_code)
)]
fn classify_bytes(block: &[u8; 64]) -> Masks {
    let mut m = Masks::default();
    for (i, &c) in block.iter().enumerate() {
        let bit = 1u64 << i;
        match c | CASE_BIT {
            b'"' if c == b'"' => m.quote |= bit,
            b'|' if c == b'\\' => m.backslash |= bit,
            b'{' => m.open |= bit,
            b'}' => m.close |= bit,
            _ => {}
        }
    }
    m
}

/// The bits of `backslash` that are escaped characters: the byte after an
/// odd run of backslashes. `carry` says whether the first byte of this block
/// is escaped by a run that ended the previous block, and is updated for
/// the next one.
fn escaped(backslash: u64, carry: &mut u64) -> u64 {
    const EVEN: u64 = 0x5555_5555_5555_5555;
    // A backslash that is itself escaped starts nothing.
    let backslash = backslash & !*carry;
    let follows_backslash = (backslash << 1) | *carry;
    // Runs that start on an odd bit: adding the run to its start carries
    // past its end, which marks where odd- and even-started runs end.
    let odd_starts = backslash & !EVEN & !follows_backslash;
    let (even_started_ends, overflow) = odd_starts.overflowing_add(backslash);
    *carry = u64::from(overflow);
    let invert = even_started_ends << 1;
    (EVEN ^ invert) & follows_backslash
}

/// Bit `i` set when an odd number of bits `0..=i` of `x` are set.
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

/// The index just past the object or array that opens at `b[start]` (a
/// `{` or `[`): brackets of either kind counted, brackets inside strings
/// skipped. `None` when it does not end within `b`.
pub(super) fn container_end(b: &[u8], start: usize) -> Option<usize> {
    debug_assert!(matches!(b.get(start), Some(b'{' | b'[')));
    let mut depth = 0u32;
    let mut inside_string = 0u64; // all ones while a string is open
    let mut escape_carry = 0u64;
    let mut tail = [0u8; 64];
    let mut pos = start;
    while pos < b.len() {
        let rest = &b[pos..];
        let block: &[u8; 64] = match rest.first_chunk::<64>() {
            Some(block) => block,
            None => {
                // The last, short block: zero bytes after the text are
                // none of the characters looked for.
                tail[..rest.len()].copy_from_slice(rest);
                tail[rest.len()..].fill(0);
                &tail
            }
        };
        let m = classify(block);
        if inside_string != 0 && m.quote | m.backslash == 0 {
            // The whole block is inside one string: a long text. memchr's
            // search runs several times faster than these masks over text
            // with nothing in it; the next block starts at the next quote or
            // backslash, still inside the string.
            pos += 64 + memchr::memchr2(b'"', b'\\', b.get(pos + 64..)?)?;
            // An escape carried into the block ended in it.
            escape_carry = 0;
            continue;
        }
        let quotes = m.quote & !escaped(m.backslash, &mut escape_carry);
        // Set from an opening quote up to (not including) its closing one.
        let strings = prefix_xor(quotes) ^ inside_string;
        inside_string = ((strings as i64) >> 63) as u64;
        let opens = m.open & !strings;
        let closes = m.close & !strings;
        if closes.count_ones() < depth {
            depth = depth + opens.count_ones() - closes.count_ones();
        } else {
            // The depth may reach zero in this block: walk its brackets.
            let mut brackets = opens | closes;
            while brackets != 0 {
                let at = brackets.trailing_zeros();
                if opens >> at & 1 == 1 {
                    depth += 1;
                } else {
                    depth = depth.checked_sub(1)?;
                    if depth == 0 {
                        return Some(pos + at as usize + 1);
                    }
                }
                brackets &= brackets - 1;
            }
        }
        pos += 64;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The byte-at-a-time walk: what `container_end` must agree with.
    fn walk(b: &[u8], start: usize) -> Option<usize> {
        let mut depth = 0usize;
        let mut i = start;
        while i < b.len() {
            match b[i] {
                b'"' => {
                    i += 1;
                    while *b.get(i)? != b'"' {
                        i += if b[i] == b'\\' { 2 } else { 1 };
                    }
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(i + 1);
                    }
                }
                _ => {}
            }
            i += 1;
        }
        None
    }

    #[test]
    fn classify_matches_the_byte_definition() {
        let text = br#"{"a\"b":[1,{"c":"\\"}],"d":"}]{[\\\"x"}  "#;
        let mut block = [0u8; 64];
        block[..text.len()].copy_from_slice(text);
        assert_eq!(classify(&block), classify_bytes(&block));
        let all: Vec<u8> = (0..=255u8).collect();
        for chunk in all.chunks(64) {
            let block: [u8; 64] = chunk.try_into().unwrap();
            assert_eq!(classify(&block), classify_bytes(&block));
        }
    }

    #[test]
    fn escapes_and_strings_across_blocks() {
        let backslashes = |n: usize| "\\".repeat(n);
        for body in [
            "{}".to_string(),
            "[[],[[]],{}]".to_string(),
            r#"{"a":"\"}"}"#.to_string(),
            r#"{"a":"\\"}"#.to_string(),
            r#"{"a":"\\\"]"}"#.to_string(),
            // Runs of backslashes, even and odd, crossing block boundaries.
            format!(r#"["{}","]"]"#, backslashes(70)),
            format!(r#"["{}"]","]"]"#, backslashes(69)),
            format!(r#"{{"{}":"{}"}}"#, backslashes(128), backslashes(62)),
            // Long texts, skipped by search once a block is all text.
            format!(
                r#"["{}","]","{}\"]","{}"]"#,
                "x".repeat(200),
                "y".repeat(130),
                "z".repeat(64)
            ),
            format!(
                r#"{{"a":"{}{}\"{}"}}"#,
                "x".repeat(127),
                backslashes(2),
                "]".repeat(70)
            ),
            // An escape split by a block boundary, then a block of text.
            format!(r#"["{}\n{}","]"]"#, "x".repeat(60), "y".repeat(130)),
        ] {
            serde_json::from_str::<serde_json::Value>(&body).expect("valid JSON");
            for pad in 0..70 {
                // Blocks start at the container: spaces inside it move
                // the body across them. Text before it must not matter.
                let container = format!("[{}{body}]", " ".repeat(pad));
                let text = format!("{}{container} tail", " ".repeat(pad));
                assert_eq!(
                    container_end(text.as_bytes(), pad),
                    Some(pad + container.len()),
                    "{text}"
                );
            }
        }
        // Not closed, or a quote left open.
        for text in ["{", "[[]", r#"{"a":"}"#, r#"["\"]"#] {
            assert_eq!(container_end(text.as_bytes(), 0), None, "{text}");
        }
    }

    /// Any JSON value, strings drawn from characters that matter here.
    fn json() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value;
        let text = proptest::collection::vec(
            prop_oneof![
                Just('"'),
                Just('\\'),
                Just('{'),
                Just('}'),
                Just('['),
                Just(']'),
                Just(','),
                Just('\n'),
                Just('é'),
                Just('😀'),
                proptest::char::range('a', 'z'),
            ],
            0..24,
        )
        .prop_map(|c| c.into_iter().collect::<String>());
        // Now and then a long text, with a character that matters inside.
        let text = prop_oneof![
            4 => text.clone(),
            1 => (0usize..300, 0usize..300, text)
                .prop_map(|(a, b, t)| format!("{}{t}{}", "a".repeat(a), "b".repeat(b))),
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            text.clone().prop_map(Value::String),
        ];
        leaf.prop_recursive(5, 96, 8, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                proptest::collection::vec((text.clone(), inner), 0..8)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn agrees_with_the_walk_on_any_json(
            value in json(),
            pad in 0usize..64,
            pretty in any::<bool>(),
            cut in any::<prop::sample::Index>(),
        ) {
            let container = serde_json::Value::Array(vec![value]);
            let body = if pretty {
                serde_json::to_string_pretty(&container).unwrap()
            } else {
                serde_json::to_string(&container).unwrap()
            };
            // Spaces after the opening bracket move the rest across the
            // 64-byte blocks, which start at the container.
            let body = format!("[{}{}", " ".repeat(pad), &body[1..]);
            let text = format!("  {body},\"after\"]");
            let b = text.as_bytes();
            prop_assert_eq!(container_end(b, 2), Some(2 + body.len()));
            prop_assert_eq!(container_end(b, 2), walk(b, 2));
            // Cut anywhere: still the walk's answer (here, `None`).
            let cut = 3 + cut.index(body.len() - 1);
            prop_assert_eq!(container_end(&b[..cut], 2), walk(&b[..cut], 2));
        }
    }
}
