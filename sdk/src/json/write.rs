//! Compact JSON output, byte for byte what `serde_json::to_vec` writes,
//! with strings escaped 16 bytes at a time.
//!
//! serde_json escapes a string one byte at a time: a table lookup and a
//! branch per byte, which in a compiled plugin came to ~13 instructions per
//! byte of output and was the largest single item of an Anthropic
//! request's decode into the hub format. Here a string is searched for the
//! bytes that need an escape (`"`, `\` and the control characters below
//! 0x20) with 128-bit SIMD compares (WebAssembly SIMD in the plugins, SSE2
//! natively), and the runs between them are copied whole; chat text has
//! few of them.
//!
//! Everything else follows serde_json: integers through `itoa`, floats
//! written by serde_json itself (non-finite ones as `null`), bytes as an array of numbers, enums
//! externally tagged, map keys that are strings, integers, booleans or
//! chars (the last three quoted), and serde_json's `RawValue` written as its
//! text. The tests compare the output with serde_json's.

use std::fmt;

use serde::ser::{self, Serialize};

/// The name under which serde_json's `RawValue` serializes itself (a struct
/// of one field of that name holding the JSON text).
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// Why a value could not be written: a map key that is not a string (or a
/// number, boolean or char), or an error from a `Serialize` impl.
#[derive(Debug)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

/// Appends the JSON of `value` to `out`.
pub fn to_writer<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<(), Error> {
    value.serialize(&mut Writer { out })
}

/// The JSON of `value`.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(128);
    to_writer(&mut out, value)?;
    Ok(out)
}

/// Appends `s` as a JSON string (quoted and escaped) to `out`.
///
/// Strings of up to 16 bytes with nothing to escape (keys, roles, ids: most
/// strings of a chat body) are checked with two (overlapping) words and
/// copied with two moves, inline in the caller; the rest go through
/// [`write_str_long`].
#[inline(always)]
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    let n = b.len();
    let short = match n {
        8..=16 => (escape_mask_u64(word(b, 0)) | escape_mask_u64(word(b, n - 8))) == 0,
        4..=7 => (escape_mask_u32(word32(b, 0)) | escape_mask_u32(word32(b, n - 4))) == 0,
        2..=3 => !needs_escape(b[0]) && !needs_escape(b[1]) && !needs_escape(b[n - 1]),
        1 => !needs_escape(b[0]),
        _ => false,
    };
    if !short {
        write_str_long(out, s);
        return;
    }
    out.reserve(n + 2);
    let len = out.len();
    // SAFETY: `reserve` made room for `n + 2` bytes at `len`, all written
    // before the length is set. `copy` writes exactly `n` bytes. Its moves
    // have a constant size in each arm: a move whose size is only known at
    // run time becomes a `memory.copy` call into the runtime in a plugin.
    unsafe {
        let dst = out.as_mut_ptr().add(len);
        *dst = b'"';
        copy(b, dst.add(1));
        *dst.add(1 + n) = b'"';
        out.set_len(len + n + 2);
    }
}

/// [`write_str`] for every string: the escapes found with SIMD.
#[inline(never)]
fn write_str_long(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let Some(first) = next_escape(bytes, 0) else {
        // Most strings: nothing to escape, one copy between the quotes.
        out.reserve(bytes.len() + 2);
        let len = out.len();
        // SAFETY: `reserve` made room for the string and its two quotes at
        // `len`; every byte up to the new length is written before it is
        // set.
        unsafe {
            let dst = out.as_mut_ptr().add(len);
            *dst = b'"';
            copy(bytes, dst.add(1));
            *dst.add(1 + bytes.len()) = b'"';
            out.set_len(len + bytes.len() + 2);
        }
        return;
    };
    out.reserve(bytes.len() + 8);
    out.push(b'"');
    let mut start = 0;
    let mut at = Some(first);
    while let Some(i) = at {
        out.extend_from_slice(&bytes[start..i]);
        write_escape(out, bytes[i]);
        start = i + 1;
        at = next_escape(bytes, start);
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Copies `src` to `dst`. Short copies are done with two fixed-size
/// (possibly overlapping) moves: in a plugin a copy of variable length is
/// WebAssembly's `memory.copy`, which the runtime carries out with a call
/// out of the compiled code, several times the cost of a short string.
///
/// # Safety
///
/// `dst` must be valid for `src.len()` bytes of writes and not overlap
/// `src`.
#[inline(always)]
unsafe fn copy(src: &[u8], dst: *mut u8) {
    use core::ptr::copy_nonoverlapping as mv;
    let (n, s) = (src.len(), src.as_ptr());
    // SAFETY: each move stays within the first `n` bytes of `src` and
    // `dst`: the pairs are `[0, k)` and `[n - k, n)` with `k <= n`.
    unsafe {
        match n {
            32.. => mv(s, dst, n),
            16..=31 => {
                mv(s, dst, 16);
                mv(s.add(n - 16), dst.add(n - 16), 16);
            }
            8..=15 => {
                mv(s, dst, 8);
                mv(s.add(n - 8), dst.add(n - 8), 8);
            }
            4..=7 => {
                mv(s, dst, 4);
                mv(s.add(n - 4), dst.add(n - 4), 4);
            }
            2..=3 => {
                mv(s, dst, 2);
                mv(s.add(n - 2), dst.add(n - 2), 2);
            }
            1 => *dst = *s,
            0 => {}
        }
    }
}

/// The escape of a byte that needs one (as serde_json writes it).
fn write_escape(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let short = match b {
        b'"' => b'"',
        b'\\' => b'\\',
        0x08 => b'b',
        0x0c => b'f',
        b'\n' => b'n',
        b'\r' => b'r',
        b'\t' => b't',
        _ => {
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]);
            return;
        }
    };
    out.extend_from_slice(&[b'\\', short]);
}

#[inline]
fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// The first byte at or after `from` that needs an escape.
///
/// Whole 16-byte blocks with SIMD, then 8 bytes at a time in a `u64`; the
/// last few bytes of a string of at least 8 are checked with one more
/// 8-byte load that ends at the string's end (the bytes already checked
/// masked off), so only strings shorter than 8 bytes go byte by byte. Most
/// strings of a chat body are short: keys, roles, ids.
#[inline(always)]
pub(super) fn next_escape(bytes: &[u8], from: usize) -> Option<usize> {
    let len = bytes.len();
    let mut i = from;
    while i + 16 <= len {
        let mask = escape_mask(bytes[i..i + 16].try_into().expect("16 bytes"));
        if mask != 0 {
            return Some(i + mask.trailing_zeros() as usize);
        }
        i += 16;
    }
    while i + 8 <= len {
        let mask = escape_mask_u64(word(bytes, i));
        if mask != 0 {
            return Some(i + (mask.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    if i == len {
        return None;
    }
    if len >= 8 {
        // The last `len - i` (1 to 7) bytes are the top of the word ending
        // at `len`. The bytes below them were checked already (and may
        // hold an escape handled before): they are replaced with `a`, so
        // that no borrow from them reaches the bytes above.
        let keep = !0u64 << (8 * (8 - (len - i)));
        let x = (word(bytes, len - 8) & keep) | (0x6161_6161_6161_6161 & !keep);
        let mask = escape_mask_u64(x);
        return (mask != 0).then(|| len - 8 + (mask.trailing_zeros() / 8) as usize);
    }
    (i..len).find(|&j| needs_escape(bytes[j]))
}

/// The 8 bytes at `at`, little-endian (byte `k` in bits `8k..8k+8`).
#[inline(always)]
fn word(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

/// The high bit of byte `k` set when byte `k` of `x` needs an escape; the
/// lowest set bit is exact (a borrow only runs upward, so bits above the
/// first hit may be spurious, and only the first is used).
#[inline(always)]
fn escape_mask_u64(x: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below = |v: u64, n: u64| v.wrapping_sub(ONES * n) & !v & HIGH;
    below(x, 0x20)
        | below(x ^ (ONES * u64::from(b'"')), 1)
        | below(x ^ (ONES * u64::from(b'\\')), 1)
}

/// The 4 bytes at `at`, little-endian.
#[inline(always)]
fn word32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

/// [`escape_mask_u64`] for a 4-byte word.
#[inline(always)]
fn escape_mask_u32(x: u32) -> u32 {
    const ONES: u32 = 0x0101_0101;
    const HIGH: u32 = 0x8080_8080;
    let below = |v: u32, n: u32| v.wrapping_sub(ONES * n) & !v & HIGH;
    below(x, 0x20)
        | below(x ^ (ONES * u32::from(b'"')), 1)
        | below(x ^ (ONES * u32::from(b'\\')), 1)
}

/// Bit `k` set when byte `k` of the block needs an escape.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline]
fn escape_mask(block: &[u8; 16]) -> u32 {
    use core::arch::wasm32::*;
    // SAFETY: `block` has 16 bytes; `v128_load` accepts unaligned addresses.
    let v = unsafe { v128_load(block.as_ptr().cast::<v128>()) };
    let hits = v128_or(
        u8x16_lt(v, u8x16_splat(0x20)),
        v128_or(
            u8x16_eq(v, u8x16_splat(b'"')),
            u8x16_eq(v, u8x16_splat(b'\\')),
        ),
    );
    u32::from(u8x16_bitmask(hits))
}

/// Bit `k` set when byte `k` of the block needs an escape.
#[cfg(target_arch = "x86_64")]
#[inline]
fn escape_mask(block: &[u8; 16]) -> u32 {
    use core::arch::x86_64::*;
    // SAFETY: SSE2 is part of x86-64; `block` has 16 bytes and
    // `_mm_loadu_si128` accepts unaligned addresses.
    unsafe {
        let v = _mm_loadu_si128(block.as_ptr().cast::<__m128i>());
        // Unsigned `v < 0x20`: `min(v, 0x1f) == v`.
        let control = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
        let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
        let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
        _mm_movemask_epi8(_mm_or_si128(control, _mm_or_si128(quote, backslash))) as u32
    }
}

/// Bit `k` set when byte `k` of the block needs an escape.
#[cfg(not(any(
    all(target_arch = "wasm32", target_feature = "simd128"),
    target_arch = "x86_64"
)))]
#[inline]
fn escape_mask(block: &[u8; 16]) -> u32 {
    block
        .iter()
        .enumerate()
        .fold(0, |m, (k, &b)| m | (u32::from(needs_escape(b)) << k))
}

/// The ten integer methods of a serializer, each running `$body` with the
/// serializer as `$s` and the value as `$v`.
macro_rules! integers {
    (|$s:ident, $v:ident| $body:expr) => {
        integers!(@each |$s, $v| $body; serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64, serialize_i128: i128, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64, serialize_u128: u128);
    };
    (@each |$s:ident, $v:ident| $body:expr; $($method:ident: $t:ty),*) => {
        $(fn $method(self, $v: $t) -> Result<(), Error> {
            let $s = self;
            $body
        })*
    };
}

/// A serde serializer appending compact JSON to a byte vector.
struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl Writer<'_> {
    fn int<I: itoa::Integer>(&mut self, v: I) {
        self.out
            .extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    }

    /// Floats are rare in chat bodies (`temperature`, `top_p`): serde_json
    /// writes them, so that their spelling is its own.
    fn float<F: Serialize>(&mut self, v: F) -> Result<(), Error> {
        serde_json::to_writer(&mut *self.out, &v).map_err(|e| Error(e.to_string()))
    }
}

/// An object or array being written.
struct Compound<'w, 'a> {
    w: &'w mut Writer<'a>,
    first: bool,
}

impl Compound<'_, '_> {
    fn comma(&mut self) {
        if self.first {
            self.first = false;
        } else {
            self.w.out.push(b',');
        }
    }
}

/// Writes `{"variant":` for the enum forms that wrap their content.
fn open_variant(w: &mut Writer<'_>, variant: &str) {
    w.out.push(b'{');
    write_str(w.out, variant);
    w.out.push(b':');
}

impl<'w, 'a> ser::Serializer for &'w mut Writer<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'w, 'a>;
    type SerializeTuple = Compound<'w, 'a>;
    type SerializeTupleStruct = Compound<'w, 'a>;
    type SerializeTupleVariant = Compound<'w, 'a>;
    type SerializeMap = Compound<'w, 'a>;
    type SerializeStruct = StructWriter<'w, 'a>;
    type SerializeStructVariant = Compound<'w, 'a>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    integers!(|s, v| {
        s.int(v);
        Ok(())
    });
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        self.float(v)
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        self.float(v)
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        write_str(self.out, v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        write_str(self.out, v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        self.out.push(b'[');
        for (i, b) in v.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            self.int(*b);
        }
        self.out.push(b']');
        Ok(())
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        write_str(self.out, variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        open_variant(self, variant);
        value.serialize(&mut *self)?;
        self.out.push(b'}');
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'w, 'a>, Error> {
        self.out.push(b'[');
        Ok(Compound {
            w: self,
            first: true,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Compound<'w, 'a>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Compound<'w, 'a>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Compound<'w, 'a>, Error> {
        open_variant(self, variant);
        self.serialize_seq(Some(len))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'w, 'a>, Error> {
        self.out.push(b'{');
        Ok(Compound {
            w: self,
            first: true,
        })
    }
    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<StructWriter<'w, 'a>, Error> {
        if name == RAW_VALUE_TOKEN {
            return Ok(StructWriter::Raw(self));
        }
        self.serialize_map(Some(len)).map(StructWriter::Object)
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Compound<'w, 'a>, Error> {
        open_variant(self, variant);
        self.serialize_map(Some(len))
    }
}

impl ser::SerializeSeq for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.comma();
        value.serialize(&mut *self.w)
    }
    fn end(self) -> Result<(), Error> {
        self.w.out.push(b']');
        Ok(())
    }
}

impl ser::SerializeTuple for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<(), Error> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<(), Error> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<(), Error> {
        self.w.out.extend_from_slice(b"]}");
        Ok(())
    }
}

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.comma();
        key.serialize(KeyWriter(&mut *self.w))?;
        self.w.out.push(b':');
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut *self.w)
    }
    fn end(self) -> Result<(), Error> {
        self.w.out.push(b'}');
        Ok(())
    }
}

impl ser::SerializeStructVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.comma();
        write_str(self.w.out, key);
        self.w.out.push(b':');
        value.serialize(&mut *self.w)
    }
    fn end(self) -> Result<(), Error> {
        self.w.out.extend_from_slice(b"}}");
        Ok(())
    }
}

/// A struct being written: an object, or serde_json's `RawValue` (its one
/// field is the JSON text, written as it is).
enum StructWriter<'w, 'a> {
    Object(Compound<'w, 'a>),
    Raw(&'w mut Writer<'a>),
}

impl ser::SerializeStruct for StructWriter<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        match self {
            StructWriter::Object(c) => {
                c.comma();
                write_str(c.w.out, key);
                c.w.out.push(b':');
                value.serialize(&mut *c.w)
            }
            StructWriter::Raw(w) => value.serialize(RawText(&mut *w.out)),
        }
    }
    fn end(self) -> Result<(), Error> {
        match self {
            StructWriter::Object(c) => ser::SerializeMap::end(c),
            StructWriter::Raw(_) => Ok(()),
        }
    }
}

fn key_error() -> Error {
    Error("a JSON object key must be a string (or a number, boolean or char)".into())
}

/// Serializers that accept one kind of value and refuse the rest.
macro_rules! refuse {
    ($err:expr; $($method:ident($($arg:ty),*)),* $(,)?) => {
        $(fn $method(self, $(_: $arg),*) -> Result<(), Error> { Err($err) })*
    };
}

/// Refuses the compound forms (the associated types are `Impossible`).
macro_rules! refuse_compounds {
    ($err:expr) => {
        type SerializeSeq = ser::Impossible<(), Error>;
        type SerializeTuple = ser::Impossible<(), Error>;
        type SerializeTupleStruct = ser::Impossible<(), Error>;
        type SerializeTupleVariant = ser::Impossible<(), Error>;
        type SerializeMap = ser::Impossible<(), Error>;
        type SerializeStruct = ser::Impossible<(), Error>;
        type SerializeStructVariant = ser::Impossible<(), Error>;
        fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), Error> {
            Err($err)
        }
        fn serialize_newtype_variant<T: Serialize + ?Sized>(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: &T,
        ) -> Result<(), Error> {
            Err($err)
        }
        fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Error> {
            Err($err)
        }
        fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Error> {
            Err($err)
        }
        fn serialize_tuple_struct(
            self,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeTupleStruct, Error> {
            Err($err)
        }
        fn serialize_tuple_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeTupleVariant, Error> {
            Err($err)
        }
        fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Error> {
            Err($err)
        }
        fn serialize_struct(
            self,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeStruct, Error> {
            Err($err)
        }
        fn serialize_struct_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeStructVariant, Error> {
            Err($err)
        }
    };
}

/// Writes a map key: strings as they are, numbers, booleans and chars
/// quoted (as serde_json does).
struct KeyWriter<'w, 'a>(&'w mut Writer<'a>);

impl KeyWriter<'_, '_> {
    fn quoted(self, f: impl FnOnce(&mut Writer<'_>)) -> Result<(), Error> {
        self.0.out.push(b'"');
        f(self.0);
        self.0.out.push(b'"');
        Ok(())
    }
}

impl ser::Serializer for KeyWriter<'_, '_> {
    type Ok = ();
    type Error = Error;
    refuse_compounds!(key_error());
    refuse!(key_error(); serialize_f32(f32), serialize_f64(f64), serialize_bytes(&[u8]),
        serialize_none(), serialize_unit(), serialize_unit_struct(&'static str));

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        write_str(self.0.out, v);
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        write_str(self.0.out, v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.quoted(|w| w.out.extend_from_slice(if v { b"true" } else { b"false" }))
    }
    integers!(|s, v| s.quoted(|w| w.int(v)));
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
}

/// Writes the text of serde_json's `RawValue` as it is.
struct RawText<'a>(&'a mut Vec<u8>);

fn raw_error() -> Error {
    Error("serde_json's RawValue holds its JSON as a string".into())
}

impl ser::Serializer for RawText<'_> {
    type Ok = ();
    type Error = Error;
    refuse_compounds!(raw_error());
    refuse!(raw_error(); serialize_bool(bool), serialize_i8(i8), serialize_i16(i16),
        serialize_i32(i32), serialize_i64(i64), serialize_u8(u8), serialize_u16(u16),
        serialize_u32(u32), serialize_u64(u64), serialize_f32(f32), serialize_f64(f64),
        serialize_char(char), serialize_bytes(&[u8]), serialize_none(), serialize_unit(),
        serialize_unit_struct(&'static str));

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.0.extend_from_slice(v.as_bytes());
        Ok(())
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
    ) -> Result<(), Error> {
        Err(raw_error())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _value: &T,
    ) -> Result<(), Error> {
        Err(raw_error())
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    fn same(v: &impl Serialize) {
        let ours = to_vec(v).unwrap();
        let theirs = serde_json::to_vec(v).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&theirs)
        );
    }

    #[test]
    fn copies_of_every_short_length() {
        let src: Vec<u8> = (0..80).collect();
        for n in 0..80 {
            let mut dst = vec![0xff; 81];
            unsafe { copy(&src[..n], dst.as_mut_ptr()) };
            assert_eq!(&dst[..n], &src[..n], "{n}");
            assert!(dst[n..].iter().all(|&b| b == 0xff), "{n}");
        }
    }

    #[test]
    fn short_strings_with_an_escape_anywhere() {
        for n in 0..=20 {
            for at in 0..n {
                for c in ['"', '\\', '\n', '\u{1f}', ' ', 'é'] {
                    let mut s: String = "abcdefghijklmnopqrstu"[..n].into();
                    s.replace_range(at..at + 1, c.encode_utf8(&mut [0; 4]));
                    same(&s);
                }
            }
        }
    }

    #[test]
    fn escapes_like_serde_json() {
        for s in [
            "",
            "plain",
            "a\"b\\c",
            "\u{0}\u{1}\u{8}\u{9}\u{a}\u{b}\u{c}\u{d}\u{1f}\u{7f} end",
            "long text without escapes, longer than one sixteen-byte block",
            "an escape at the end of a long block of text, here: \n",
            "\"sixteen bytes!\"\"sixteen bytes!\"",
            "é ü 漢字 🙂 and a tab\tafter the multibyte ones",
        ] {
            same(&s);
        }
    }

    #[test]
    fn values_and_types_like_serde_json() {
        same(&json!({
            "model": "m", "n": 1, "neg": -5, "f": 0.1, "big": 1e300, "int_float": 3.0,
            "t": true, "nil": null, "list": [1, "two", [3], {"four": 4}, {}],
            "nested": {"k\"ey": "v\nal", "empty": []}
        }));
        #[derive(serde::Serialize)]
        enum E {
            Unit,
            New(u8),
            Tuple(u8, &'static str),
            Struct { a: i32 },
        }
        #[derive(serde::Serialize)]
        struct S {
            e: Vec<E>,
            bytes: &'static [u8],
            opt: Option<u32>,
            none: Option<u32>,
            c: char,
            nan: f64,
            f32: f32,
            keys: std::collections::BTreeMap<i64, bool>,
            bool_keys: std::collections::BTreeMap<bool, ()>,
            tuple: (u8, String),
        }
        same(&S {
            e: vec![E::Unit, E::New(1), E::Tuple(2, "x"), E::Struct { a: -3 }],
            bytes: b"ab",
            opt: Some(7),
            none: None,
            c: '"',
            nan: f64::NAN,
            f32: 0.1,
            keys: [(-1, true), (2, false)].into_iter().collect(),
            bool_keys: [(true, ())].into_iter().collect(),
            tuple: (9, "nine".into()),
        });
    }

    #[test]
    fn raw_values_are_written_as_they_are() {
        let raw = crate::json::RawJson::from_string(r#"{"a":  [1, 2]}"#.into()).unwrap();
        same(&json!(null));
        same(&vec![raw.clone(), raw.clone()]);
        assert_eq!(to_vec(&raw).unwrap(), br#"{"a":  [1, 2]}"#);
    }

    #[test]
    fn keys_that_are_not_strings_are_refused() {
        let m: std::collections::BTreeMap<Vec<u8>, u8> = [(vec![1], 1)].into_iter().collect();
        let e = to_vec(&m).unwrap_err();
        assert!(e.to_string().contains("must be a string"), "{e}");
    }

    /// Random JSON values: every kind, strings with escapes and non-ASCII.
    pub(in crate::json) fn arb_value() -> impl Strategy<Value = Value> {
        let text = prop_oneof![".*", "[a-z \"\\\\\n\t\u{1}\u{1f}é🙂]{0,70}",];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            text.prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                proptest::collection::vec(("[a-z\"\\\\\n]{0,20}", inner), 0..8)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Every start and length against the byte-by-byte definition, with
        /// escapes sprinkled over ASCII and multibyte text.
        #[test]
        fn next_escape_finds_the_first(text in "[a-z\"\\\n\t\u{1}\u{1f}\u{7f}é🙂 ]{0,80}", skip in 0usize..80) {
            let bytes = text.as_bytes();
            let from = skip.min(bytes.len());
            let want = (from..bytes.len()).find(|&j| needs_escape(bytes[j]));
            prop_assert_eq!(next_escape(bytes, from), want);
            // As `write_str` walks: from just after each escape found.
            let mut at = 0;
            while let Some(i) = next_escape(bytes, at) {
                prop_assert_eq!(Some(i), (at..bytes.len()).find(|&j| needs_escape(bytes[j])));
                at = i + 1;
            }
            prop_assert!(!bytes[at..].iter().any(|&b| needs_escape(b)));
        }

        #[test]
        fn any_value_is_written_as_serde_json_writes_it(v in arb_value()) {
            let ours = to_vec(&v).unwrap();
            let theirs = serde_json::to_vec(&v).unwrap();
            prop_assert_eq!(ours, theirs);
        }
    }
}
