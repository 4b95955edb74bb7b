//! Stream framing for streamed LLM responses: Server-Sent Events (SSE) and
//! newline-delimited JSON (NDJSON).
//!
//! Upstream providers stream their responses either as SSE (`text/event-stream`,
//! e.g. OpenAI and Anthropic) or as NDJSON (one JSON document per line, e.g.
//! Ollama). The decoders here turn arbitrarily split byte chunks, exactly as
//! they arrive from the network, into whole [`Event`]s, so that plugins and
//! the gateway always see complete events. [`encode`] and [`encode_event`]
//! write events back out as SSE towards the client.
//!
//! Both decoders
//!
//! * accept chunks split anywhere — inside a UTF-8 sequence, inside a line,
//!   or between the CR and LF of a CRLF line end — and produce exactly the
//!   same events as if the whole stream had arrived in one chunk;
//! * enforce a maximum event size (`limits.max-event-size`), so a misbehaving
//!   upstream cannot make the gateway buffer without bound;
//! * work on bytes and convert to UTF-8 only once a line is complete.

use memchr::{memchr, memchr2};

/// Name of the SSE format, used in [`FrameError`] messages.
const SSE: &str = "SSE";
/// Name of the NDJSON format, used in [`FrameError`] messages.
const NDJSON: &str = "NDJSON";
/// The UTF-8 byte order mark, skipped at the very start of an SSE stream.
const BOM: &[u8; 3] = b"\xEF\xBB\xBF";

/// An SSE comment line used as keep-alive: `b": keep-alive\n\n"`.
///
/// Decoders ignore comments, so the gateway may send this to a client at any
/// point between events to keep idle connections (and intermediate proxies)
/// from timing out.
pub const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

/// One whole stream event.
///
/// For SSE this is one dispatched event; for NDJSON it is one non-blank line
/// (with `event` and `id` always `None`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    /// The SSE `event:` field (the event type); `None` when absent or empty
    /// (an empty type means the default type, `message`).
    pub event: Option<String>,
    /// SSE: the values of the event's `data:` lines joined by `'\n'`.
    /// NDJSON: the line, without its line ending.
    pub data: String,
    /// The SSE `id:` field of this event, if it had one (`Some("")` for an
    /// empty `id:` line). Ids are per event: they are not carried over to
    /// later events.
    pub id: Option<String>,
}

/// Why a stream could not be split into events.
///
/// After an error the decoder that returned it is in an unspecified state and
/// must not be fed further; the stream should be aborted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    /// An event (or a single line) grew beyond the configured maximum event
    /// size.
    #[error(
        "a stream event exceeded the {limit}-byte limit (limits.max-event-size); the upstream sent an oversized event or is not speaking {format}"
    )]
    EventTooLarge {
        /// The configured limit in bytes.
        limit: usize,
        /// The stream format being decoded (`"SSE"` or `"NDJSON"`).
        format: &'static str,
    },
    /// A line that had to be turned into text was not valid UTF-8.
    #[error("a stream event is not valid UTF-8 ({format}): {detail}")]
    InvalidUtf8 {
        /// The stream format being decoded (`"SSE"` or `"NDJSON"`).
        format: &'static str,
        /// Where the invalid byte sequence was found.
        detail: String,
    },
}

/// Converts a completed line (or part of one) to text.
fn utf8<'a>(bytes: &'a [u8], format: &'static str) -> Result<&'a str, FrameError> {
    std::str::from_utf8(bytes).map_err(|e| FrameError::InvalidUtf8 {
        format,
        detail: e.to_string(),
    })
}

/// Server-Sent Events decoder.
///
/// Implements the parsing rules of the WHATWG HTML standard
/// ("event stream interpretation"):
///
/// * lines end with LF, CRLF or CR (a CR at the end of one chunk followed by
///   an LF at the start of the next is one line end);
/// * a UTF-8 byte order mark at the very start of the stream is skipped;
/// * lines starting with `:` are comments (keep-alives) and are ignored;
/// * `field: value` lines have exactly one optional space after the colon
///   stripped; a line without a colon is a field name with an empty value;
/// * `data` appends the value and a newline to the data buffer, `event` sets
///   the event type, `id` sets the event id (ignored if it contains NUL),
///   `retry` and unknown fields are ignored;
/// * a blank line dispatches the event: if no `data` line was seen, nothing
///   is dispatched; otherwise the final newline of the data buffer is removed
///   and the event is emitted.
///
/// It differs from the browser behaviour in two ways: the event id belongs to
/// one event only (there is no "last event id" carried between events), and
/// [`finish`](SseDecoder::finish) emits a final event that has data but no
/// terminating blank line (browsers drop it).
///
/// The maximum event size counts the data buffered for the event being
/// accumulated plus the raw bytes of the line currently being read (field
/// name included, line end excluded). It also bounds lines that never end.
#[derive(Debug, Clone)]
pub struct SseDecoder {
    /// Maximum event size in bytes.
    max: usize,
    /// The incomplete line carried over from the previous chunk.
    line: Vec<u8>,
    /// The data buffer: every `data:` value followed by `'\n'`.
    data: String,
    /// The event type buffer.
    event: Option<String>,
    /// The event id buffer.
    id: Option<String>,
    /// The previous chunk ended with CR: an LF at the start of the next chunk
    /// belongs to the same line end.
    pending_cr: bool,
    /// How many bytes of a leading byte order mark were matched so far;
    /// 3 once the start of the stream has been dealt with.
    bom: usize,
}

impl SseDecoder {
    /// Creates a decoder that rejects events larger than `max_event_bytes`.
    #[must_use]
    pub fn new(max_event_bytes: usize) -> Self {
        SseDecoder {
            max: max_event_bytes,
            line: Vec::new(),
            data: String::new(),
            event: None,
            id: None,
            pending_cr: false,
            bom: 0,
        }
    }

    /// Feeds the next chunk of the stream and appends every event it completes
    /// to `out`.
    ///
    /// Chunks may be split anywhere, including inside a UTF-8 sequence or
    /// between the CR and LF of a line end.
    ///
    /// # Errors
    ///
    /// [`FrameError::EventTooLarge`] if an event or line exceeds the maximum
    /// event size, [`FrameError::InvalidUtf8`] if a line that must be text is
    /// not valid UTF-8. Events completed before the error are in `out`; the
    /// decoder must not be used afterwards.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<Event>) -> Result<(), FrameError> {
        let mut chunk = chunk;
        if self.bom < BOM.len() {
            chunk = self.skip_bom(chunk);
        }
        if self.pending_cr && !chunk.is_empty() {
            self.pending_cr = false;
            if chunk[0] == b'\n' {
                chunk = &chunk[1..];
            }
        }
        while let Some(end) = memchr2(b'\r', b'\n', chunk) {
            self.check_size(self.line.len() + end)?;
            if self.line.is_empty() {
                // The whole line is inside this chunk: no copy needed.
                self.process_line(&chunk[..end], out)?;
            } else {
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(&chunk[..end]);
                let result = self.process_line(&line, out);
                line.clear();
                self.line = line; // keep the allocation
                result?;
            }
            let mut rest = &chunk[end + 1..];
            if chunk[end] == b'\r' {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    Some(_) => {}
                    None => self.pending_cr = true,
                }
            }
            chunk = rest;
        }
        if !chunk.is_empty() {
            self.check_size(self.line.len() + chunk.len())?;
            self.line.extend_from_slice(chunk);
        }
        Ok(())
    }

    /// Signals the end of the stream and appends the last event, if any, to
    /// `out`.
    ///
    /// An unterminated last line is processed as a line, and an event that has
    /// data but no terminating blank line is emitted. (This deliberately
    /// differs from the browser behaviour, which drops such an event: a
    /// truncated final event from an upstream is still worth passing on.)
    /// The decoder is reset and could decode a new stream afterwards.
    ///
    /// # Errors
    ///
    /// As for `push`, for the last line.
    pub fn finish(&mut self, out: &mut Vec<Event>) -> Result<(), FrameError> {
        if self.bom < BOM.len() {
            // The stream ended inside what looked like a byte order mark.
            self.line.extend_from_slice(&BOM[..self.bom]);
        }
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.check_size(line.len())?;
            self.process_line(&line, out)?;
        }
        self.dispatch(out);
        self.pending_cr = false;
        self.bom = 0;
        Ok(())
    }

    /// Skips (the matching part of) a byte order mark at the start of the
    /// stream; bytes that turn out not to be one are kept as line content.
    fn skip_bom<'a>(&mut self, chunk: &'a [u8]) -> &'a [u8] {
        let mut i = 0;
        while self.bom < BOM.len() && i < chunk.len() {
            if chunk[i] == BOM[self.bom] {
                self.bom += 1;
                i += 1;
            } else {
                // Not a BOM after all: the bytes matched so far are content.
                // They are neither CR nor LF, so they start the first line.
                self.line.extend_from_slice(&BOM[..self.bom]);
                self.bom = BOM.len();
            }
        }
        &chunk[i..]
    }

    /// Fails if the event being accumulated, with a current line of
    /// `line_len` bytes, exceeds the limit.
    fn check_size(&self, line_len: usize) -> Result<(), FrameError> {
        if self.data.len() + line_len > self.max {
            return Err(FrameError::EventTooLarge {
                limit: self.max,
                format: SSE,
            });
        }
        Ok(())
    }

    /// Interprets one complete line (without its line end).
    fn process_line(&mut self, line: &[u8], out: &mut Vec<Event>) -> Result<(), FrameError> {
        if line.is_empty() {
            self.dispatch(out);
            return Ok(());
        }
        if line[0] == b':' {
            return Ok(()); // comment / keep-alive
        }
        let (field, value) = match memchr(b':', line) {
            Some(colon) => {
                let value = &line[colon + 1..];
                let value = value.strip_prefix(b" ").unwrap_or(value);
                (&line[..colon], value)
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                self.data.push_str(utf8(value, SSE)?);
                self.data.push('\n');
            }
            b"event" => {
                self.event = if value.is_empty() {
                    None
                } else {
                    Some(utf8(value, SSE)?.to_owned())
                };
            }
            b"id" if memchr(0, value).is_none() => {
                self.id = Some(utf8(value, SSE)?.to_owned());
            }
            // `retry` only matters to reconnecting browsers; unknown fields
            // are ignored as the standard requires.
            _ => {}
        }
        Ok(())
    }

    /// Handles a blank line: emits the accumulated event if it has data, and
    /// resets the event buffers either way.
    fn dispatch(&mut self, out: &mut Vec<Event>) {
        let event = self.event.take();
        let id = self.id.take();
        if self.data.is_empty() {
            return;
        }
        // The buffer always ends with the '\n' appended after a data value.
        let data = String::from(&self.data[..self.data.len() - 1]);
        self.data.clear(); // keep the allocation for the next event
        out.push(Event { event, data, id });
    }
}

/// Newline-delimited JSON decoder.
///
/// Each non-blank line (terminated by LF or CRLF; a final line without a line
/// end at the end of the stream counts too) is one [`Event`] whose `data` is
/// the line without its line ending, and whose `event` and `id` are `None`.
/// Blank and whitespace-only lines are skipped. The lines are not parsed as
/// JSON here.
///
/// The maximum event size applies to the raw bytes of a line before its LF
/// (a CR of a CRLF included), and also bounds lines that never end.
#[derive(Debug, Clone)]
pub struct NdjsonDecoder {
    /// Maximum line size in bytes.
    max: usize,
    /// The incomplete line carried over from the previous chunk.
    line: Vec<u8>,
}

impl NdjsonDecoder {
    /// Creates a decoder that rejects lines larger than `max_event_bytes`.
    #[must_use]
    pub fn new(max_event_bytes: usize) -> Self {
        NdjsonDecoder {
            max: max_event_bytes,
            line: Vec::new(),
        }
    }

    /// Feeds the next chunk of the stream and appends every event (line) it
    /// completes to `out`.
    ///
    /// Chunks may be split anywhere, including inside a UTF-8 sequence or
    /// between the CR and LF of a line end.
    ///
    /// # Errors
    ///
    /// [`FrameError::EventTooLarge`] if an event or line exceeds the maximum
    /// event size, [`FrameError::InvalidUtf8`] if a line that must be text is
    /// not valid UTF-8. Events completed before the error are in `out`; the
    /// decoder must not be used afterwards.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<Event>) -> Result<(), FrameError> {
        let mut chunk = chunk;
        while let Some(end) = memchr(b'\n', chunk) {
            self.check_size(self.line.len() + end)?;
            if self.line.is_empty() {
                emit_ndjson(&chunk[..end], out)?;
            } else {
                self.line.extend_from_slice(&chunk[..end]);
                let result = emit_ndjson(&self.line, out);
                self.line.clear();
                result?;
            }
            chunk = &chunk[end + 1..];
        }
        if !chunk.is_empty() {
            self.check_size(self.line.len() + chunk.len())?;
            self.line.extend_from_slice(chunk);
        }
        Ok(())
    }

    /// Signals the end of the stream: a final line without a line end is
    /// emitted (unless it is blank). The decoder is reset afterwards.
    ///
    /// # Errors
    ///
    /// As for `push`, for the last line.
    pub fn finish(&mut self, out: &mut Vec<Event>) -> Result<(), FrameError> {
        if self.line.is_empty() {
            return Ok(());
        }
        let line = std::mem::take(&mut self.line);
        self.check_size(line.len())?;
        emit_ndjson(&line, out)
    }

    /// Fails if a line of `line_len` bytes exceeds the limit.
    fn check_size(&self, line_len: usize) -> Result<(), FrameError> {
        if line_len > self.max {
            return Err(FrameError::EventTooLarge {
                limit: self.max,
                format: NDJSON,
            });
        }
        Ok(())
    }
}

/// Emits one NDJSON line (without its LF) unless it is blank.
fn emit_ndjson(line: &[u8], out: &mut Vec<Event>) -> Result<(), FrameError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    out.push(Event {
        event: None,
        data: utf8(line, NDJSON)?.to_owned(),
        id: None,
    });
    Ok(())
}

/// Either stream decoder, chosen at run time by how a provider streams.
#[derive(Debug, Clone)]
pub enum Framer {
    /// Server-Sent Events (`text/event-stream`).
    Sse(SseDecoder),
    /// Newline-delimited JSON (`application/x-ndjson`).
    Ndjson(NdjsonDecoder),
}

impl Framer {
    /// An SSE framer rejecting events larger than `max_event_bytes`.
    #[must_use]
    pub fn sse(max_event_bytes: usize) -> Self {
        Framer::Sse(SseDecoder::new(max_event_bytes))
    }

    /// An NDJSON framer rejecting lines larger than `max_event_bytes`.
    #[must_use]
    pub fn ndjson(max_event_bytes: usize) -> Self {
        Framer::Ndjson(NdjsonDecoder::new(max_event_bytes))
    }

    /// Feeds the next chunk of the stream; see [`SseDecoder::push`] and
    /// [`NdjsonDecoder::push`].
    ///
    /// # Errors
    ///
    /// Those of the chosen decoder.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<Event>) -> Result<(), FrameError> {
        match self {
            Framer::Sse(d) => d.push(chunk, out),
            Framer::Ndjson(d) => d.push(chunk, out),
        }
    }

    /// Signals the end of the stream; see [`SseDecoder::finish`] and
    /// [`NdjsonDecoder::finish`].
    ///
    /// # Errors
    ///
    /// Those of the chosen decoder.
    pub fn finish(&mut self, out: &mut Vec<Event>) -> Result<(), FrameError> {
        match self {
            Framer::Sse(d) => d.finish(out),
            Framer::Ndjson(d) => d.finish(out),
        }
    }
}

/// Appends `bytes` to `out` without any of the bytes in `strip`.
fn push_stripped(bytes: &[u8], strip: &[u8], out: &mut Vec<u8>) {
    for part in bytes.split(|b| strip.contains(b)) {
        out.extend_from_slice(part);
    }
}

/// Writes a single-line field (`event` or `id`): `NAME: VALUE\n`, with the
/// bytes in `strip` removed from the value. Returns without writing anything
/// if `skip_empty` and nothing is left of the value.
fn encode_field(name: &[u8], value: &str, strip: &[u8], skip_empty: bool, out: &mut Vec<u8>) {
    let value = value.as_bytes();
    if skip_empty && value.iter().all(|b| strip.contains(b)) {
        return;
    }
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    push_stripped(value, strip, out);
    out.push(b'\n');
}

/// Encodes one event as SSE and appends the bytes to `out`.
///
/// Writes `event: NAME` if `event` is given, then one `data: ` line per line
/// of `data` (split on `\n`, `\r\n` and `\r`, so a multi-line payload cannot
/// break the framing; the decoder joins them with `\n` again), then a blank
/// line. CR and LF are removed from the event name so it cannot inject
/// fields or events; an event name that is empty (after that) is omitted,
/// which means the default type (`message`).
pub fn encode(event: Option<&str>, data: &str, out: &mut Vec<u8>) {
    if let Some(name) = event {
        encode_field(b"event", name, b"\r\n", true, out);
    }
    encode_data(data, out);
}

/// Writes the `data:` lines of `data` and the terminating blank line.
fn encode_data(data: &str, out: &mut Vec<u8>) {
    let mut rest = data.as_bytes();
    out.reserve(rest.len() + 8);
    while let Some(end) = memchr2(b'\r', b'\n', rest) {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(&rest[..end]);
        out.push(b'\n');
        let skip = if rest[end] == b'\r' && rest.get(end + 1) == Some(&b'\n') {
            2
        } else {
            1
        };
        rest = &rest[end + skip..];
    }
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(rest);
    out.extend_from_slice(b"\n\n");
}

/// Encodes an [`Event`] as SSE and appends the bytes to `out`: like
/// [`encode`], with an `id:` line after the event name if the event has an
/// id. CR, LF and NUL are removed from the id (a decoder ignores ids that
/// contain NUL).
pub fn encode_event(ev: &Event, out: &mut Vec<u8>) {
    if let Some(name) = &ev.event {
        encode_field(b"event", name, b"\r\n", true, out);
    }
    if let Some(id) = &ev.id {
        encode_field(b"id", id, b"\r\n\0", false, out);
    }
    encode_data(&ev.data, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MAX: usize = 1 << 20;

    fn ev(event: Option<&str>, data: &str, id: Option<&str>) -> Event {
        Event {
            event: event.map(str::to_owned),
            data: data.to_owned(),
            id: id.map(str::to_owned),
        }
    }

    fn data(d: &str) -> Event {
        ev(None, d, None)
    }

    /// Decodes `chunks` in order, then finishes.
    fn sse_chunks(max: usize, chunks: &[&[u8]]) -> Result<Vec<Event>, FrameError> {
        let mut dec = SseDecoder::new(max);
        let mut out = Vec::new();
        for c in chunks {
            dec.push(c, &mut out)?;
        }
        dec.finish(&mut out)?;
        Ok(out)
    }

    fn sse(input: &str) -> Vec<Event> {
        sse_chunks(MAX, &[input.as_bytes()]).unwrap()
    }

    /// Decodes `bytes` one byte at a time.
    fn sse_bytewise(max: usize, bytes: &[u8]) -> Result<Vec<Event>, FrameError> {
        let chunks: Vec<&[u8]> = bytes.chunks(1).collect();
        sse_chunks(max, &chunks)
    }

    fn ndjson_chunks(max: usize, chunks: &[&[u8]]) -> Result<Vec<Event>, FrameError> {
        let mut dec = NdjsonDecoder::new(max);
        let mut out = Vec::new();
        for c in chunks {
            dec.push(c, &mut out)?;
        }
        dec.finish(&mut out)?;
        Ok(out)
    }

    fn ndjson(input: &str) -> Vec<Event> {
        ndjson_chunks(MAX, &[input.as_bytes()]).unwrap()
    }

    fn encoded(event: Option<&str>, d: &str) -> Vec<u8> {
        let mut out = Vec::new();
        encode(event, d, &mut out);
        out
    }

    #[test]
    fn lf_line_ends() {
        assert_eq!(sse("data: a\n\ndata: b\n\n"), vec![data("a"), data("b")]);
    }

    #[test]
    fn crlf_line_ends() {
        assert_eq!(
            sse("event: x\r\ndata: a\r\n\r\ndata: b\r\n\r\n"),
            vec![ev(Some("x"), "a", None), data("b")]
        );
    }

    #[test]
    fn cr_line_ends() {
        assert_eq!(
            sse("event: x\rdata: a\rdata: b\r\rdata: c\r\r"),
            vec![ev(Some("x"), "a\nb", None), data("c")]
        );
    }

    #[test]
    fn mixed_line_ends() {
        assert_eq!(
            sse("data: a\rdata: b\r\ndata: c\n\r\ndata: d\n\r"),
            vec![data("a\nb\nc"), data("d")]
        );
    }

    #[test]
    fn crlf_split_across_chunks_is_one_line_end() {
        // If the CR and the LF were two line ends, the LF would be a blank
        // line dispatching "a" on its own, before "b" is seen.
        let out = sse_chunks(MAX, &[b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]).unwrap();
        assert_eq!(out, vec![data("a\nb")]);
        // An empty chunk between CR and LF changes nothing.
        let out = sse_chunks(MAX, &[b"data: a\r", b"", b"\ndata: b\r\n\r\n"]).unwrap();
        assert_eq!(out, vec![data("a\nb")]);
    }

    #[test]
    fn cr_at_end_of_chunk_followed_by_other_byte() {
        let out = sse_chunks(MAX, &[b"data: a\r", b"data: b\r", b"\r"]).unwrap();
        assert_eq!(out, vec![data("a\nb")]);
    }

    #[test]
    fn events_emitted_as_soon_as_complete() {
        let mut dec = SseDecoder::new(MAX);
        let mut out = Vec::new();
        dec.push(b"data: a\n", &mut out).unwrap();
        assert!(out.is_empty());
        dec.push(b"\nda", &mut out).unwrap();
        assert_eq!(out, vec![data("a")]);
        dec.push(b"ta: b\n\n", &mut out).unwrap();
        assert_eq!(out, vec![data("a"), data("b")]);
        dec.finish(&mut out).unwrap();
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn bom_at_start_is_skipped() {
        assert_eq!(sse("\u{feff}data: a\n\n"), vec![data("a")]);
        // Split inside the BOM.
        let out = sse_chunks(MAX, &[b"\xEF", b"\xBB", b"\xBFdata: a\n\n"]).unwrap();
        assert_eq!(out, vec![data("a")]);
        // Only one BOM, only at the very start: a second one is part of the
        // field name, which is then unknown.
        assert_eq!(
            sse("\u{feff}\u{feff}data: a\n\ndata: b\n\n"),
            vec![data("b")]
        );
        assert_eq!(sse("data: \u{feff}a\n\n"), vec![data("\u{feff}a")]);
    }

    #[test]
    fn partial_bom_is_content() {
        // "\xEF\xBB" not followed by "\xBF" is not a BOM; the bytes stay as
        // (invalid) content of the first line.
        let err = sse_chunks(MAX, &[b"\xEF\xBB", b"data\xEF: x\n\n"]);
        assert_eq!(sse_chunks(MAX, &[b"\xEF\xBBdata\xEF: x\n\n"]), err);
        // ...here as an unknown field name, ignored.
        assert_eq!(err, Ok(vec![]));
        assert_eq!(
            sse_chunks(MAX, &[b"\xEF", b"\n\ndata: a\n\n"]).unwrap(),
            vec![data("a")]
        );
        assert_eq!(sse_chunks(MAX, &[b"\xEF\xBB"]).unwrap(), vec![]);
    }

    #[test]
    fn comments_and_keep_alives_are_ignored() {
        let mut input = Vec::new();
        input.extend_from_slice(KEEP_ALIVE);
        input.extend_from_slice(b"data: a\n: in the middle\ndata: b\n\n");
        input.extend_from_slice(KEEP_ALIVE);
        input.extend_from_slice(b":\n:no space\n\n");
        assert_eq!(sse_chunks(MAX, &[&input]).unwrap(), vec![data("a\nb")]);
        assert_eq!(KEEP_ALIVE, b": keep-alive\n\n");
        // Comments are not decoded as text.
        assert_eq!(
            sse_chunks(MAX, &[b":\xFF\xFE\ndata: a\n\n"]).unwrap(),
            vec![data("a")]
        );
    }

    #[test]
    fn multi_line_data() {
        assert_eq!(
            sse("data: line 1\ndata: line 2\ndata:\ndata: line 4\n\n"),
            vec![data("line 1\nline 2\n\nline 4")]
        );
    }

    #[test]
    fn event_and_id_fields() {
        assert_eq!(
            sse("event: delta\nid: 42\ndata: {}\n\ndata: next\n\n"),
            vec![ev(Some("delta"), "{}", Some("42")), data("next")]
        );
        // Last value wins; field order does not matter.
        assert_eq!(
            sse("data: x\nid: 1\nevent: a\nevent: b\nid: 2\n\n"),
            vec![ev(Some("b"), "x", Some("2"))]
        );
        // Empty event type means the default type.
        assert_eq!(sse("event:\ndata: x\n\n"), vec![data("x")]);
        assert_eq!(sse("id:\ndata: x\n\n"), vec![ev(None, "x", Some(""))]);
    }

    #[test]
    fn id_with_nul_is_ignored() {
        assert_eq!(
            sse("id: 1\nid: a\0b\ndata: x\n\n"),
            vec![ev(None, "x", Some("1"))]
        );
        assert_eq!(sse("id: a\0b\ndata: x\n\n"), vec![data("x")]);
    }

    #[test]
    fn retry_and_unknown_fields_are_ignored() {
        assert_eq!(
            sse("retry: 1000\nfoo: bar\nDATA: no\ndata : no\ndata: yes\n\n"),
            vec![data("yes")]
        );
    }

    #[test]
    fn one_leading_space_is_stripped() {
        assert_eq!(
            sse("data:a\n\ndata: b\n\ndata:  c\n\ndata: \n\ndata:\td\n\n"),
            vec![data("a"), data("b"), data(" c"), data(""), data("\td")]
        );
        assert_eq!(
            sse("event:  x\ndata: a\n\n"),
            vec![ev(Some(" x"), "a", None)]
        );
        // Only the first colon separates; the value may contain colons.
        assert_eq!(sse("data: a: b:c\n\n"), vec![data("a: b:c")]);
    }

    #[test]
    fn field_without_colon_has_empty_value() {
        assert_eq!(sse("data\n\n"), vec![data("")]);
        assert_eq!(sse("data\ndata\n\n"), vec![data("\n")]);
        assert_eq!(sse("event\ndata: a\n\n"), vec![data("a")]);
        assert_eq!(sse("id\ndata: a\n\n"), vec![ev(None, "a", Some(""))]);
    }

    #[test]
    fn event_without_data_is_not_dispatched() {
        assert_eq!(
            sse("event: ping\nid: 7\n\ndata: x\n\n\n\n"),
            vec![data("x")],
            "the event type and id of an undispatched event are reset"
        );
        assert_eq!(sse("\n\n\n"), vec![]);
        assert_eq!(sse(""), vec![]);
    }

    #[test]
    fn final_event_without_blank_line_is_emitted() {
        assert_eq!(sse("data: a\n\ndata: b\n"), vec![data("a"), data("b")]);
        assert_eq!(
            sse("event: e\ndata: b"),
            vec![ev(Some("e"), "b", None)],
            "even without a final line end"
        );
        assert_eq!(sse("data: b\r"), vec![data("b")]);
        assert_eq!(sse("event: e\n"), vec![]);
        assert_eq!(sse("data: a\n\n: trailing comment"), vec![data("a")]);
    }

    #[test]
    fn decoder_is_reusable_after_finish() {
        let mut dec = SseDecoder::new(MAX);
        let mut out = Vec::new();
        dec.push(b"data: a\r", &mut out).unwrap();
        dec.finish(&mut out).unwrap();
        dec.push(b"\xEF\xBB\xBF\ndata: b\n\n", &mut out).unwrap();
        dec.finish(&mut out).unwrap();
        assert_eq!(out, vec![data("a"), data("b")]);
    }

    #[test]
    fn oversized_event_is_rejected() {
        let too_large = Err(FrameError::EventTooLarge {
            limit: 20,
            format: "SSE",
        });
        // Each line fits, but together they exceed the limit.
        let input = b"data: 0123456789\ndata: 0123456789\n\n";
        assert_eq!(sse_chunks(20, &[input]), too_large);
        assert_eq!(sse_bytewise(20, input), too_large);
        // Events at the limit are fine, and the limit is per event.
        let input = b"data: 01234567890123\n\ndata: 01234567890123\n\n";
        assert_eq!(sse_chunks(20, &[input]).unwrap().len(), 2);
        assert_eq!(sse_bytewise(20, input).unwrap().len(), 2);
        let input = b"data: 012345678901234\n\n";
        assert_eq!(sse_chunks(20, &[input]), too_large);
        assert_eq!(sse_bytewise(20, input), too_large);
    }

    #[test]
    fn oversized_never_ending_line_is_rejected() {
        let mut dec = SseDecoder::new(100);
        let mut out = Vec::new();
        let mut result = Ok(());
        for _ in 0..1000 {
            result = dec.push(b": no line end in sight ", &mut out);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(
            result,
            Err(FrameError::EventTooLarge {
                limit: 100,
                format: "SSE"
            })
        );
        assert!(dec.line.len() <= 100);
    }

    #[test]
    fn error_message_names_the_limit() {
        let err = sse_chunks(8, &[b"data: too long\n\n"]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("8-byte limit"), "{msg}");
        assert!(msg.contains("limits.max-event-size"), "{msg}");
        assert!(msg.contains("not speaking SSE"), "{msg}");
    }

    #[test]
    fn utf8_split_across_chunks() {
        let input = "data: héllo 😀 wörld\n\n".as_bytes();
        for cut in 0..=input.len() {
            let (a, b) = input.split_at(cut);
            assert_eq!(
                sse_chunks(MAX, &[a, b]).unwrap(),
                vec![data("héllo 😀 wörld")],
                "cut at {cut}"
            );
        }
        assert_eq!(
            sse_bytewise(MAX, input).unwrap(),
            vec![data("héllo 😀 wörld")]
        );
    }

    #[test]
    fn invalid_utf8_is_rejected() {
        for input in [
            &b"data: \xFF\n\n"[..],
            b"event: \xC3\ndata: x\n\n",
            b"id: \xE2\x82\ndata: x\n\n",
            b"data: \xF0\x9F\x98",
        ] {
            let err = sse_chunks(MAX, &[input]).unwrap_err();
            assert!(
                matches!(err, FrameError::InvalidUtf8 { format: "SSE", .. }),
                "{err:?}"
            );
            assert!(err.to_string().contains("not valid UTF-8 (SSE)"), "{err}");
            assert_eq!(sse_bytewise(MAX, input), Err(err));
        }
    }

    #[test]
    fn encode_format() {
        assert_eq!(encoded(None, "x"), b"data: x\n\n");
        assert_eq!(encoded(Some("delta"), "{}"), b"event: delta\ndata: {}\n\n");
        assert_eq!(encoded(None, ""), b"data: \n\n");
        assert_eq!(
            encoded(None, "a\nb\r\nc\rd\n"),
            b"data: a\ndata: b\ndata: c\ndata: d\ndata: \n\n"
        );
        assert_eq!(encoded(Some(""), "x"), b"data: x\n\n");
        let mut out = Vec::new();
        encode_event(&ev(Some("e"), "x", Some("7")), &mut out);
        assert_eq!(out, b"event: e\nid: 7\ndata: x\n\n");
        // Appends.
        encode(None, "y", &mut out);
        assert_eq!(out, b"event: e\nid: 7\ndata: x\n\ndata: y\n\n");
    }

    #[test]
    fn encode_round_trip() {
        let events = [
            data("plain"),
            data(""),
            data("multi\nline\n"),
            data("\n"),
            data(" leading space and trailing "),
            data(": looks like a comment"),
            data("data: looks like a field"),
            ev(Some("delta"), r#"{"text":"ü😀"}"#, Some("3")),
            ev(None, "x", Some("")),
        ];
        let mut bytes = Vec::new();
        for e in &events {
            encode_event(e, &mut bytes);
        }
        assert_eq!(sse_chunks(MAX, &[&bytes]).unwrap(), events);
        // CRLF and CR in data come back as LF.
        let bytes = encoded(Some("e"), "a\r\nb\rc\r\n\r\n");
        assert_eq!(
            sse_chunks(MAX, &[&bytes]).unwrap(),
            vec![ev(Some("e"), "a\nb\nc\n\n", None)]
        );
    }

    #[test]
    fn event_name_cannot_inject() {
        let bytes = encoded(Some("x\n\ndata: evil\r\rid: 1\r\nevent: y"), "good");
        assert_eq!(
            sse_chunks(MAX, &[&bytes]).unwrap(),
            vec![ev(Some("xdata: evilid: 1event: y"), "good", None)]
        );
        assert_eq!(encoded(Some("\r\n"), "x"), b"data: x\n\n");
        let mut bytes = Vec::new();
        encode_event(
            &ev(Some("a\nb"), "d", Some("1\n\ndata: evil\0")),
            &mut bytes,
        );
        assert_eq!(
            sse_chunks(MAX, &[&bytes]).unwrap(),
            vec![ev(Some("ab"), "d", Some("1data: evil"))]
        );
    }

    #[test]
    fn framer_dispatches() {
        let mut out = Vec::new();
        let mut f = Framer::sse(MAX);
        f.push(b"data: a\n\n{\"b\":1}\n", &mut out).unwrap();
        f.finish(&mut out).unwrap();
        assert_eq!(out, vec![data("a")]);
        out.clear();
        let mut f = Framer::ndjson(MAX);
        f.push(b"data: a\n\n{\"b\":1}", &mut out).unwrap();
        f.finish(&mut out).unwrap();
        assert_eq!(out, vec![data("data: a"), data("{\"b\":1}")]);
        assert!(matches!(Framer::sse(1), Framer::Sse(_)));
        assert!(matches!(Framer::ndjson(1), Framer::Ndjson(_)));
    }

    #[test]
    fn ndjson_lines() {
        assert_eq!(
            ndjson("{\"a\":1}\n{\"b\":2}\n"),
            vec![data("{\"a\":1}"), data("{\"b\":2}")]
        );
    }

    #[test]
    fn ndjson_crlf() {
        assert_eq!(ndjson("{}\r\n[]\r\n"), vec![data("{}"), data("[]")]);
        assert_eq!(
            ndjson_chunks(MAX, &[b"{}\r", b"\n[]\r", b"\n"]).unwrap(),
            vec![data("{}"), data("[]")]
        );
        // A lone CR is not a line end.
        assert_eq!(ndjson("a\rb\n"), vec![data("a\rb")]);
    }

    #[test]
    fn ndjson_blank_lines_are_skipped() {
        assert_eq!(
            ndjson("\n\n{}\n   \n\t\r\n\r\n[]\n \n"),
            vec![data("{}"), data("[]")]
        );
        // Surrounding whitespace of a non-blank line is kept.
        assert_eq!(ndjson("  {} \n"), vec![data("  {} ")]);
    }

    #[test]
    fn ndjson_final_line_without_newline() {
        assert_eq!(ndjson("{}\n[]"), vec![data("{}"), data("[]")]);
        assert_eq!(ndjson("{}\n[]\r"), vec![data("{}"), data("[]")]);
        assert_eq!(ndjson("{}\n  "), vec![data("{}")]);
        assert_eq!(ndjson(""), vec![]);
    }

    #[test]
    fn ndjson_utf8() {
        let input = "{\"t\":\"😀é\"}\n".as_bytes();
        let chunks: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(
            ndjson_chunks(MAX, &chunks).unwrap(),
            vec![data("{\"t\":\"😀é\"}")]
        );
        let err = ndjson_chunks(MAX, &[b"{\"t\":\"\xFF\"}\n"]).unwrap_err();
        assert!(
            matches!(
                err,
                FrameError::InvalidUtf8 {
                    format: "NDJSON",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn ndjson_oversize() {
        let too_large = Err(FrameError::EventTooLarge {
            limit: 4,
            format: "NDJSON",
        });
        assert_eq!(
            ndjson_chunks(4, &[b"1234\n12345\n"]),
            too_large,
            "a complete line"
        );
        assert_eq!(ndjson_chunks(4, &[b"123", b"45"]), too_large, "split line");
        assert_eq!(ndjson_chunks(4, &[b"12345"]), too_large, "final line");
        assert_eq!(
            ndjson_chunks(4, &[b"1234\n", b"1234"]).unwrap(),
            vec![data("1234"), data("1234")]
        );
        // A never-ending line.
        let mut dec = NdjsonDecoder::new(100);
        let mut out = Vec::new();
        let result = (0..1000).try_for_each(|_| dec.push(b"{\"endless\":", &mut out));
        assert_eq!(
            result,
            Err(FrameError::EventTooLarge {
                limit: 100,
                format: "NDJSON"
            })
        );
        assert!(dec.line.len() <= 100);
    }

    // ---- property tests ----

    /// Text that is likely to contain line ends, colons, spaces, BOMs and
    /// multi-byte characters, or any text at all.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-c :\r\n\u{0}\u{feff}é😀]{0,12}",
            any::<String>(),
            "[a-z{}\":,]{0,30}",
        ]
    }

    fn arb_event() -> impl Strategy<Value = Event> {
        (
            proptest::option::of(text()),
            text(),
            proptest::option::of(text()),
        )
            .prop_map(|(event, data, id)| Event { event, data, id })
    }

    /// What an event is expected to decode as after [`encode_event`].
    fn normalized(e: &Event) -> Event {
        let event = e
            .event
            .as_ref()
            .map(|s| s.replace(['\r', '\n'], ""))
            .filter(|s| !s.is_empty());
        let id = e.id.as_ref().map(|s| s.replace(['\r', '\n', '\0'], ""));
        let data = e.data.replace("\r\n", "\n").replace('\r', "\n");
        Event { event, data, id }
    }

    /// Splits `bytes` at the given cut points (taken modulo the length).
    fn split_at_cuts<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.sort_unstable();
        cuts.dedup();
        let mut chunks = Vec::new();
        let mut start = 0;
        for cut in cuts {
            chunks.push(&bytes[start..cut]);
            start = cut;
        }
        chunks.push(&bytes[start..]);
        chunks
    }

    /// Builds an SSE stream from `events`: encoded, with comment lines
    /// inserted at arbitrary line positions, optionally a BOM and optionally
    /// without the final blank line, using `ending` as the line end.
    fn build_stream(
        events: &[Event],
        comments: &[(usize, String)],
        ending: &str,
        bom: bool,
        drop_final_blank: bool,
    ) -> Vec<u8> {
        let mut lf = Vec::new();
        for e in events {
            encode_event(e, &mut lf);
        }
        let lf = String::from_utf8(lf).unwrap();
        let mut lines: Vec<String> = lf.split_terminator('\n').map(str::to_owned).collect();
        if drop_final_blank && !events.is_empty() {
            assert_eq!(lines.pop().as_deref(), Some(""));
        }
        for (pos, comment) in comments {
            let comment = format!(":{}", comment.replace(['\r', '\n'], ""));
            lines.insert(pos % (lines.len() + 1), comment);
        }
        let mut out = String::new();
        if bom {
            out.push('\u{feff}');
        }
        for line in lines {
            out.push_str(&line);
            out.push_str(ending);
        }
        out.into_bytes()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn sse_round_trip_and_chunking_invariance(
            events in proptest::collection::vec(arb_event(), 0..8),
            comments in proptest::collection::vec((any::<usize>(), text()), 0..4),
            ending in prop::sample::select(vec!["\n", "\r\n", "\r"]),
            bom in any::<bool>(),
            drop_final_blank in any::<bool>(),
            cuts in proptest::collection::vec(any::<usize>(), 0..12),
        ) {
            let bytes = build_stream(&events, &comments, ending, bom, drop_final_blank);
            let expected: Vec<Event> = events.iter().map(normalized).collect();
            let whole = sse_chunks(MAX, &[&bytes]);
            prop_assert_eq!(whole.as_ref(), Ok(&expected));
            let chunked = sse_chunks(MAX, &split_at_cuts(&bytes, &cuts));
            prop_assert_eq!(&chunked, &whole);
            prop_assert_eq!(&sse_bytewise(MAX, &bytes), &whole);
        }

        #[test]
        fn sse_chunking_invariance_on_arbitrary_bytes(
            bytes in prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..200),
                "(data|event|id|retry|:|: |\u{feff}|\r|\n|\r\n|x|é|😀){0,60}"
                    .prop_map(String::into_bytes),
            ],
            prefix_bom in any::<bool>(),
            max in 0usize..64,
            cuts in proptest::collection::vec(any::<usize>(), 0..12),
        ) {
            let mut bytes = bytes;
            if prefix_bom {
                bytes.splice(0..0, BOM.iter().copied());
            }
            let whole = sse_chunks(max, &[&bytes]);
            prop_assert_eq!(&sse_chunks(max, &split_at_cuts(&bytes, &cuts)), &whole);
            prop_assert_eq!(&sse_bytewise(max, &bytes), &whole);
        }

        #[test]
        fn ndjson_round_trip_and_chunking_invariance(
            lines in proptest::collection::vec(
                (
                    prop_oneof![
                        text().prop_map(|s| s.replace(['\r', '\n'], "")),
                        "[ \t]{0,3}",
                    ],
                    any::<bool>(),
                ),
                0..10,
            ),
            final_newline in any::<bool>(),
            cuts in proptest::collection::vec(any::<usize>(), 0..12),
        ) {
            let mut stream = String::new();
            for (i, (line, crlf)) in lines.iter().enumerate() {
                stream.push_str(line);
                if i + 1 < lines.len() || final_newline {
                    stream.push_str(if *crlf { "\r\n" } else { "\n" });
                }
            }
            let bytes = stream.into_bytes();
            let expected: Vec<Event> = lines
                .iter()
                .filter(|(l, _)| !l.bytes().all(|b| b.is_ascii_whitespace()))
                .map(|(l, _)| data(l))
                .collect();
            let whole = ndjson_chunks(MAX, &[&bytes]);
            prop_assert_eq!(whole.as_ref(), Ok(&expected));
            prop_assert_eq!(&ndjson_chunks(MAX, &split_at_cuts(&bytes, &cuts)), &whole);
            let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
            prop_assert_eq!(&ndjson_chunks(MAX, &bytewise), &whole);
        }

        #[test]
        fn ndjson_chunking_invariance_on_arbitrary_bytes(
            bytes in proptest::collection::vec(
                prop_oneof![any::<u8>(), Just(b'\n'), Just(b'\r'), Just(b' ')],
                0..200,
            ),
            max in 0usize..64,
            cuts in proptest::collection::vec(any::<usize>(), 0..12),
        ) {
            let whole = ndjson_chunks(max, &[&bytes]);
            prop_assert_eq!(&ndjson_chunks(max, &split_at_cuts(&bytes, &cuts)), &whole);
            let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
            prop_assert_eq!(&ndjson_chunks(max, &bytewise), &whole);
        }
    }
}
