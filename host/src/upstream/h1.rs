//! HTTP/1.1 on one plain TCP connection to an upstream, one exchange at a
//! time, driven by the task that awaits the answer: the request's head and
//! body leave in one vectored write, the response head is parsed with
//! httparse, and the body is read from the socket as its reader polls it.
//!
//! hyper's client connection does the same work from a task of its own,
//! with a channel to hand it each request and one to hand back the
//! response, and with a header map built for the request and encoded again.
//! For a proxied request that is a second task to wake per exchange and, on
//! a short request, more instructions than the exchange itself. Here the
//! request head is written straight from the provider plugin's header list.
//!
//! Of RFC 9112 it implements what a client of an API server needs: the
//! status line and at most 100 headers in at most 64 KiB; 1xx interim
//! answers skipped; a body delimited by `content-length`, by the chunked
//! coding (extensions and trailers read and dropped) or by the end of the
//! connection, and none for 204, 304 or an answer to `HEAD`. The connection
//! is kept for another exchange unless the upstream said `connection:
//! close` (or, speaking HTTP/1.0, did not say `keep-alive`), or the body
//! was delimited by the end of the connection.

use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Version, header};
use tokio::io::AsyncWrite;
use tokio::net::TcpStream;

/// The largest response head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// The most response headers accepted (hyper's limit too).
const MAX_HEADERS: usize = 100;
/// The longest chunk-size line (with extensions) or trailer line accepted.
const MAX_LINE: usize = 4096;
/// How much is read from the socket at a time.
const READ_SIZE: usize = 8 * 1024;

/// Why an exchange failed. The text names what the upstream did.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("sending the request failed: {0}")]
    Write(io::Error),
    #[error("reading the response failed: {0}")]
    Read(io::Error),
    #[error("the upstream closed the connection before it answered")]
    ClosedBeforeAnswer,
    #[error("the upstream closed the connection in the middle of the response {0}")]
    Closed(String),
    #[error("the upstream's answer is not valid HTTP/1.1: {0}")]
    Invalid(String),
}

/// A request head, checked and encoded.
pub struct RequestHead {
    bytes: Vec<u8>,
    head_request: bool,
}

/// Why a request head could not be encoded.
#[derive(Debug, PartialEq)]
pub enum HeadError {
    /// The header with this name (as given) has an invalid name or value.
    Header(String),
    /// The method is not an HTTP token.
    Method(String),
}

impl RequestHead {
    /// `METHOD path HTTP/1.1`, then `headers` (names lowercased; any
    /// `content-length` or `transfer-encoding` among them dropped, since
    /// the body is framed here), `host: host` unless `headers` has one,
    /// and the body's `content-length` (left out for an empty `GET` or
    /// `HEAD`, as hyper does). `path` is an origin-form path and query
    /// taken from a parsed URI.
    pub fn encode(
        method: &str,
        path: &str,
        host: &str,
        headers: &[crate::plugin::bindings::types::Header],
        body_len: usize,
    ) -> Result<Self, HeadError> {
        if method.is_empty() || !method.bytes().all(is_tchar) {
            return Err(HeadError::Method(method.to_string()));
        }
        let size = headers
            .iter()
            .map(|h| h.name.len() + h.value.len() + 4)
            .sum::<usize>();
        let mut b = Vec::with_capacity(method.len() + path.len() + host.len() + size + 64);
        b.extend_from_slice(method.as_bytes());
        b.push(b' ');
        b.extend_from_slice(path.as_bytes());
        b.extend_from_slice(b" HTTP/1.1\r\n");
        let mut has_host = false;
        for h in headers {
            let name = h.name.as_bytes();
            let valid_value = h
                .value
                .bytes()
                .all(|c| c == b'\t' || (b' '..=b'~').contains(&c));
            if name.is_empty() || !name.iter().all(|&c| is_tchar(c)) || !valid_value {
                return Err(HeadError::Header(h.name.clone()));
            }
            if name.eq_ignore_ascii_case(b"content-length")
                || name.eq_ignore_ascii_case(b"transfer-encoding")
            {
                continue;
            }
            has_host |= name.eq_ignore_ascii_case(b"host");
            let at = b.len();
            b.extend_from_slice(name);
            b[at..].make_ascii_lowercase();
            b.extend_from_slice(b": ");
            b.extend_from_slice(h.value.trim().as_bytes());
            b.extend_from_slice(b"\r\n");
        }
        if !has_host {
            b.extend_from_slice(b"host: ");
            b.extend_from_slice(host.as_bytes());
            b.extend_from_slice(b"\r\n");
        }
        let head_request = method == "HEAD";
        if body_len > 0 || !(method == "GET" || head_request) {
            b.extend_from_slice(b"content-length: ");
            push_decimal(&mut b, body_len);
            b.extend_from_slice(b"\r\n");
        }
        b.extend_from_slice(b"\r\n");
        Ok(RequestHead {
            bytes: b,
            head_request,
        })
    }

    #[cfg(test)]
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes).unwrap()
    }
}

/// Whether a byte is a token character of RFC 9110 (header names, methods).
static TCHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        t[i] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        i += 1;
    }
    t
};

fn is_tchar(c: u8) -> bool {
    TCHAR[usize::from(c)]
}

fn push_decimal(b: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    b.extend_from_slice(&digits[i..]);
}

/// One connection, between exchanges.
pub struct Conn {
    io: TcpStream,
    /// Bytes read and not yet used.
    buf: BytesMut,
}

impl Conn {
    pub fn new(io: TcpStream) -> Self {
        Conn {
            io,
            buf: BytesMut::new(),
        }
    }

    /// Whether the connection can carry a new request: the upstream has
    /// neither closed it nor sent anything since the last answer. Costs a
    /// system call only when the socket was reported readable.
    pub fn is_open(&self) -> bool {
        let mut probe = [0u8; 1];
        self.buf.is_empty()
            && matches!(self.io.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    /// Writes the request. On failure, whether nothing of it was written
    /// (the upstream had closed the connection, so the request can go
    /// again on another).
    pub async fn send(&mut self, head: &RequestHead, body: &[u8]) -> Result<(), (bool, Error)> {
        let head = &head.bytes[..];
        let total = head.len() + body.len();
        let mut written = 0;
        poll_fn(|cx| {
            while written < total {
                let slices = if written < head.len() {
                    [IoSlice::new(&head[written..]), IoSlice::new(body)]
                } else {
                    [
                        IoSlice::new(&body[written - head.len()..]),
                        IoSlice::new(&[]),
                    ]
                };
                match ready!(Pin::new(&mut self.io).poll_write_vectored(cx, &slices)) {
                    Ok(0) => {
                        let e = io::Error::from(io::ErrorKind::WriteZero);
                        return Poll::Ready(Err((written == 0, Error::Write(e))));
                    }
                    Ok(n) => written += n,
                    Err(e) => return Poll::Ready(Err((written == 0, Error::Write(e)))),
                }
            }
            Poll::Ready(Ok(()))
        })
        .await
    }

    /// Reads the answer's head (skipping 1xx interim answers); the body is
    /// read through the returned [`Body`], which owns the connection.
    pub async fn receive(
        mut self,
        req: &RequestHead,
    ) -> Result<(http::response::Parts, Body), Error> {
        loop {
            if let Some(head) = parse_head(&mut self.buf)? {
                if head.status.is_informational() {
                    if head.status == StatusCode::SWITCHING_PROTOCOLS {
                        return Err(Error::Invalid(
                            "it switched protocols (101), which an API answer never does".into(),
                        ));
                    }
                    continue;
                }
                let (state, keep_alive) = framing(&head, req.head_request)?;
                let mut parts = http::Response::new(()).into_parts().0;
                parts.status = head.status;
                parts.version = head.version;
                parts.headers = head.headers;
                let body = Body {
                    conn: Some(self),
                    state,
                    keep_alive,
                };
                return Ok((parts, body));
            }
            if self.buf.len() >= MAX_HEAD {
                return Err(Error::Invalid(format!(
                    "its response head is longer than {} KiB",
                    MAX_HEAD / 1024
                )));
            }
            let n = poll_fn(|cx| self.poll_fill(cx))
                .await
                .map_err(Error::Read)?;
            if n == 0 {
                return Err(if self.buf.is_empty() {
                    Error::ClosedBeforeAnswer
                } else {
                    Error::Closed("head".into())
                });
            }
        }
    }

    /// Reads what the socket has into `buf`; 0 at the end of the connection.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.buf.capacity() - self.buf.len() < READ_SIZE / 4 {
            self.buf.reserve(READ_SIZE);
        }
        // A read shorter than the buffer tells Tokio the socket is drained,
        // so the next read waits for readiness without a system call.
        tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.buf)
    }
}

struct Head {
    status: StatusCode,
    version: Version,
    headers: HeaderMap,
}

/// The head at the start of `buf`, taken out of it, or `None` if it is not
/// all there yet. Header values share the head's bytes instead of being
/// copied one by one.
fn parse_head(buf: &mut BytesMut) -> Result<Option<Head>, Error> {
    if buf.is_empty() {
        return Ok(None);
    }
    let mut raw = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut []);
    let len = match httparse::ParserConfig::default()
        .allow_spaces_after_header_name_in_responses(true)
        .parse_response_with_uninit_headers(&mut resp, buf, &mut raw)
    {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Error::Invalid(format!(
                "its response has more than {MAX_HEADERS} headers"
            )));
        }
        Err(e) => return Err(Error::Invalid(format!("{e} in its response head"))),
    };
    let code = resp.code.unwrap_or_default();
    let status = StatusCode::from_u16(code)
        .map_err(|_| Error::Invalid(format!("status code {code} is out of range")))?;
    let version = if resp.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    // Where each name and value lies in the head, so that the head can be
    // split off the buffer once the parser no longer borrows it.
    let base = buf.as_ptr() as usize;
    // (An empty value may not point into the buffer at all.)
    let span = |s: &[u8]| {
        if s.is_empty() {
            (0, 0)
        } else {
            (s.as_ptr() as usize - base, s.len())
        }
    };
    let spans: Vec<_> = resp
        .headers
        .iter()
        .map(|h| (span(h.name.as_bytes()), span(h.value)))
        .collect();
    let head = buf.split_to(len).freeze();
    let mut headers = HeaderMap::with_capacity(spans.len());
    for &((n, nl), (v, vl)) in &spans {
        let name = &head[n..n + nl];
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name),
            HeaderValue::from_maybe_shared(head.slice(v..v + vl)),
        ) else {
            return Err(Error::Invalid(format!(
                "invalid header {:?}",
                String::from_utf8_lossy(name)
            )));
        };
        headers.append(name, value);
    }
    Ok(Some(Head {
        status,
        version,
        headers,
    }))
}

/// How the body of an answer with `head` is delimited, and whether the
/// connection can carry another exchange after it.
fn framing(head: &Head, head_request: bool) -> Result<(State, bool), Error> {
    let h = &head.headers;
    let mut keep_alive = match head.version {
        Version::HTTP_10 => has_token(h, header::CONNECTION, "keep-alive"),
        _ => !has_token(h, header::CONNECTION, "close"),
    };
    let status = head.status;
    if head_request || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        return Ok((State::Done, keep_alive));
    }
    if h.contains_key(header::TRANSFER_ENCODING) {
        // With both, the transfer coding wins and the connection may not
        // be reused (RFC 9112 §6.3).
        keep_alive &= !h.contains_key(header::CONTENT_LENGTH);
        let last = h
            .get_all(header::TRANSFER_ENCODING)
            .iter()
            .flat_map(|v| v.as_bytes().split(|&c| c == b','))
            .map(<[u8]>::trim_ascii)
            .rfind(|t| !t.is_empty());
        return Ok(match last {
            Some(t) if t.eq_ignore_ascii_case(b"chunked") => {
                (State::Chunked(Chunk::Size), keep_alive)
            }
            _ => (State::ToEof, false),
        });
    }
    let mut length = None;
    for v in h.get_all(header::CONTENT_LENGTH) {
        for part in v.as_bytes().split(|&c| c == b',') {
            let part = part.trim_ascii();
            let n = std::str::from_utf8(part)
                .ok()
                .filter(|s| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "content-length {:?} is not a number",
                        String::from_utf8_lossy(part)
                    ))
                })?;
            if length.is_some_and(|l| l != n) {
                return Err(Error::Invalid(
                    "it sent conflicting content-length values".into(),
                ));
            }
            length = Some(n);
        }
    }
    Ok(match length {
        Some(0) => (State::Done, keep_alive),
        Some(n) => (State::Length(n), keep_alive),
        None => (State::ToEof, false),
    })
}

/// Whether a comma-separated header has `token` (ASCII case-insensitive).
fn has_token(h: &HeaderMap, name: HeaderName, token: &str) -> bool {
    h.get_all(name).iter().any(|v| {
        v.as_bytes()
            .split(|&c| c == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

/// Where the reading of a body is.
#[derive(Debug, PartialEq)]
enum State {
    /// This many bytes of a `content-length` body are still to come.
    Length(u64),
    Chunked(Chunk),
    /// The body ends with the connection.
    ToEof,
    Done,
}

#[derive(Debug, PartialEq)]
enum Chunk {
    /// A chunk-size line is next.
    Size,
    /// This many bytes of the current chunk's data are still to come.
    Data(u64),
    /// The CRLF after a chunk's data is next.
    DataEnd,
    /// Trailer lines, up to an empty line.
    Trailers,
}

/// An answer's body, read from its connection as it is polled. Read to its
/// end, it hands the connection back with [`Body::into_conn`].
pub struct Body {
    conn: Option<Conn>,
    state: State,
    keep_alive: bool,
}

impl Body {
    /// The next piece of the body; `None` at its end.
    pub fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, Error>> {
        let Some(conn) = self.conn.as_mut() else {
            return Poll::Ready(Ok(None));
        };
        loop {
            match &mut self.state {
                State::Done => return Poll::Ready(Ok(None)),
                State::Length(left) => {
                    if conn.buf.is_empty() {
                        let left = *left;
                        if ready!(conn.poll_fill(cx)).map_err(Error::Read)? == 0 {
                            return Poll::Ready(Err(Error::Closed(format!(
                                "body, {left} bytes before the end its content-length announced"
                            ))));
                        }
                        continue;
                    }
                    let data = take(&mut conn.buf, left);
                    if *left == 0 {
                        self.state = State::Done;
                    }
                    return Poll::Ready(Ok(Some(data)));
                }
                State::ToEof => {
                    if conn.buf.is_empty() {
                        if ready!(conn.poll_fill(cx)).map_err(Error::Read)? == 0 {
                            self.state = State::Done;
                        }
                        continue;
                    }
                    return Poll::Ready(Ok(Some(conn.buf.split().freeze())));
                }
                State::Chunked(Chunk::Data(left)) => {
                    if conn.buf.is_empty() {
                        if ready!(conn.poll_fill(cx)).map_err(Error::Read)? == 0 {
                            return Poll::Ready(Err(Error::Closed("chunked body".into())));
                        }
                        continue;
                    }
                    let data = take(&mut conn.buf, left);
                    if *left == 0 {
                        self.state = State::Chunked(Chunk::DataEnd);
                    }
                    return Poll::Ready(Ok(Some(data)));
                }
                State::Chunked(Chunk::DataEnd) => {
                    if conn.buf.starts_with(b"\r\n") {
                        conn.buf.advance(2);
                    } else if conn.buf.starts_with(b"\n") {
                        conn.buf.advance(1);
                    } else if conn.buf.is_empty() || &conn.buf[..] == b"\r" {
                        if ready!(conn.poll_fill(cx)).map_err(Error::Read)? == 0 {
                            return Poll::Ready(Err(Error::Closed("chunked body".into())));
                        }
                        continue;
                    } else {
                        return Poll::Ready(Err(Error::Invalid(
                            "a chunk's data is longer than its size line said".into(),
                        )));
                    }
                    self.state = State::Chunked(Chunk::Size);
                }
                State::Chunked(chunk @ (Chunk::Size | Chunk::Trailers)) => {
                    let Some(end) = memchr::memchr(b'\n', &conn.buf) else {
                        if conn.buf.len() > MAX_LINE {
                            return Poll::Ready(Err(Error::Invalid(format!(
                                "a chunk-size or trailer line is longer than {MAX_LINE} bytes"
                            ))));
                        }
                        if ready!(conn.poll_fill(cx)).map_err(Error::Read)? == 0 {
                            return Poll::Ready(Err(Error::Closed("chunked body".into())));
                        }
                        continue;
                    };
                    let line = conn.buf.split_to(end + 1);
                    let line = line[..end].strip_suffix(b"\r").unwrap_or(&line[..end]);
                    self.state = match chunk {
                        Chunk::Size => match chunk_size(line)? {
                            0 => State::Chunked(Chunk::Trailers),
                            n => State::Chunked(Chunk::Data(n)),
                        },
                        _ if line.is_empty() => State::Done,
                        _ => State::Chunked(Chunk::Trailers),
                    };
                }
            }
        }
    }

    /// Whether the whole body has been read.
    pub fn is_end(&self) -> bool {
        self.state == State::Done
    }

    /// Exactly how many bytes are left, when that is known.
    pub fn exact_len(&self) -> Option<u64> {
        match self.state {
            State::Length(n) => Some(n),
            State::Done => Some(0),
            _ => None,
        }
    }

    /// The connection, once the body has been read to its end, when it can
    /// carry another exchange.
    pub fn take_conn(&mut self) -> Option<Conn> {
        if self.is_end() && self.keep_alive {
            self.conn.take().filter(|c| c.buf.is_empty())
        } else {
            None
        }
    }
}

/// Up to `left` bytes from the front of `buf` (which is not empty).
fn take(buf: &mut BytesMut, left: &mut u64) -> Bytes {
    let n = usize::try_from(*left).unwrap_or(usize::MAX).min(buf.len());
    *left -= n as u64;
    buf.split_to(n).freeze()
}

/// The size on a chunk-size line (hex digits, then optional extensions).
fn chunk_size(line: &[u8]) -> Result<u64, Error> {
    let digits = line
        .split(|&c| c == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    let invalid = || {
        Error::Invalid(format!(
            "invalid chunk-size line {:?}",
            String::from_utf8_lossy(&line[..line.len().min(40)])
        ))
    };
    if digits.is_empty() || digits.len() > 15 {
        return Err(invalid());
    }
    digits.iter().try_fold(0u64, |n, &c| {
        let d = (c as char).to_digit(16).ok_or_else(invalid)?;
        Ok(n * 16 + u64::from(d))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::bindings::types::Header;
    use proptest::prelude::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    fn hdr(name: &str, value: &str) -> Header {
        Header {
            name: name.into(),
            value: value.into(),
        }
    }

    #[test]
    fn request_heads() {
        let h = RequestHead::encode(
            "POST",
            "/v1/chat/completions?x=1",
            "h:8080",
            &[
                hdr("Authorization", "Bearer k"),
                hdr("content-length", "999"),
                hdr("x-t", " padded "),
            ],
            12,
        )
        .unwrap();
        assert_eq!(
            h.as_str(),
            "POST /v1/chat/completions?x=1 HTTP/1.1\r\nauthorization: Bearer k\r\nx-t: padded\r\n\
             host: h:8080\r\ncontent-length: 12\r\n\r\n"
        );
        let h = RequestHead::encode("GET", "/m", "h", &[hdr("Host", "other")], 0).unwrap();
        assert_eq!(h.as_str(), "GET /m HTTP/1.1\r\nhost: other\r\n\r\n");
        let h = RequestHead::encode("POST", "/", "h", &[], 0).unwrap();
        assert!(h.as_str().ends_with("content-length: 0\r\n\r\n"));

        for bad in [
            hdr("bad name", "v"),
            hdr("x", "a\r\nb"),
            hdr("", "v"),
            hdr("x", "é"),
        ] {
            let e = RequestHead::encode("POST", "/", "h", std::slice::from_ref(&bad), 0).err();
            assert_eq!(e, Some(HeadError::Header(bad.name)));
        }
        assert!(matches!(
            RequestHead::encode("PO ST", "/", "h", &[], 0),
            Err(HeadError::Method(_))
        ));
    }

    #[test]
    fn chunk_sizes() {
        assert_eq!(chunk_size(b"1a").unwrap(), 26);
        assert_eq!(chunk_size(b"FF ; name=value").unwrap(), 255);
        assert_eq!(chunk_size(b"0").unwrap(), 0);
        for bad in [&b""[..], b"g", b"1 2", b";x", b"1000000000000000"] {
            assert!(chunk_size(bad).is_err(), "{bad:?}");
        }
    }

    fn parse(text: &[u8]) -> Result<Option<Head>, Error> {
        parse_head(&mut BytesMut::from(text))
    }

    fn head_of(text: &str) -> Head {
        parse(text.as_bytes()).unwrap().unwrap()
    }

    #[test]
    fn framings() {
        let f = |text: &str| framing(&head_of(text), false).map_err(|e| e.to_string());
        for (head, want) in [
            ("200 OK\r\ncontent-length: 5", (State::Length(5), true)),
            (
                "200 OK\r\nContent-Length: 5, 5\r\nConnection: Close",
                (State::Length(5), false),
            ),
            (
                "200 OK\r\ntransfer-encoding: gzip, chunked",
                (State::Chunked(Chunk::Size), true),
            ),
            // Both: the coding wins, and the connection is not reused.
            (
                "200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 3",
                (State::Chunked(Chunk::Size), false),
            ),
            ("200 OK\r\ntransfer-encoding: gzip", (State::ToEof, false)),
            ("200 OK", (State::ToEof, false)),
            ("204 No Content", (State::Done, true)),
        ] {
            assert_eq!(f(&format!("HTTP/1.1 {head}\r\n\r\n")), Ok(want), "{head}");
        }
        for (head, keep_alive) in [
            ("content-length: 1", false),
            ("connection: keep-alive\r\ncontent-length: 1", true),
        ] {
            let got = f(&format!("HTTP/1.0 200 OK\r\n{head}\r\n\r\n"));
            assert_eq!(got, Ok((State::Length(1), keep_alive)), "{head}");
        }
        assert_eq!(
            framing(
                &head_of("HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n"),
                true
            )
            .ok(),
            Some((State::Done, true))
        );
        let e = f("HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\n");
        assert!(e.unwrap_err().contains("conflicting content-length"));
        let e = f("HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n");
        assert!(e.unwrap_err().contains("\"-1\" is not a number"));
    }

    #[test]
    fn heads() {
        assert!(parse(b"HTTP/1.1 200 OK\r\ncontent-le").unwrap().is_none());
        let answer = b"HTTP/1.1 429 Too Many\r\nRetry-After: 3\r\nX-A:  b \r\nX-E:\r\n\r\nbody";
        let mut buf = BytesMut::from(&answer[..]);
        let h = parse_head(&mut buf).unwrap().unwrap();
        assert_eq!(&buf[..], b"body");
        assert_eq!(h.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(h.headers["retry-after"], "3");
        assert_eq!(h.headers["x-a"], "b");
        assert_eq!(h.headers["x-e"], "");
        let e = parse(b"HTTP/1.1 200 OK\r\nbad header\r\n\r\n")
            .err()
            .unwrap();
        assert!(e.to_string().contains("in its response head"), "{e}");
        let many = format!("HTTP/1.1 200 OK\r\n{}\r\n", "a: b\r\n".repeat(101));
        let e = parse(many.as_bytes()).err().unwrap();
        assert!(e.to_string().contains("more than 100 headers"), "{e}");
    }

    /// An upstream that answers one request with `answer`, written in the
    /// pieces given, then closes.
    async fn answer_in_pieces(pieces: Vec<Vec<u8>>) -> TcpStream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let mut seen = Vec::new();
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = tokio::io::AsyncReadExt::read(&mut sock, &mut buf)
                    .await
                    .unwrap();
                if n == 0 {
                    return;
                }
                seen.extend_from_slice(&buf[..n]);
            }
            for p in pieces {
                sock.write_all(&p).await.unwrap();
                sock.flush().await.unwrap();
                tokio::task::yield_now().await;
            }
        });
        TcpStream::connect(addr).await.unwrap()
    }

    /// Sends a GET and reads the whole answer: status, body, and whether
    /// the connection came back for reuse.
    async fn exchange(pieces: Vec<Vec<u8>>) -> Result<(u16, Vec<u8>, bool), Error> {
        let mut conn = Conn::new(answer_in_pieces(pieces).await);
        let head = RequestHead::encode("GET", "/", "h", &[], 0).unwrap();
        conn.send(&head, b"").await.map_err(|(_, e)| e)?;
        let (parts, mut body) = conn.receive(&head).await?;
        let mut out = Vec::new();
        while let Some(d) = poll_fn(|cx| body.poll_data(cx)).await? {
            assert!(!d.is_empty());
            out.extend_from_slice(&d);
        }
        Ok((parts.status.as_u16(), out, body.take_conn().is_some()))
    }

    fn split(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.sort();
        let mut pieces = Vec::new();
        let mut at = 0;
        for c in cuts.into_iter().chain([bytes.len()]) {
            pieces.push(bytes[at..c].to_vec());
            at = c;
        }
        pieces.retain(|p| !p.is_empty());
        pieces
    }

    /// `data` in the chunked coding, in chunks of the given sizes.
    fn chunked(data: &[u8], sizes: &[usize], trailer: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let mut at = 0;
        for &s in sizes.iter().cycle() {
            if at == data.len() {
                break;
            }
            let n = (s % 300 + 1).min(data.len() - at);
            out.extend_from_slice(format!("{n:X};ext=\"v\"\r\n").as_bytes());
            out.extend_from_slice(&data[at..at + n]);
            out.extend_from_slice(b"\r\n");
            at += n;
        }
        out.extend_from_slice(b"0\r\n");
        if trailer {
            out.extend_from_slice(b"x-trailer: t\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Whatever the pieces the answer arrives in, the body read is the
        /// body sent, and the connection is offered back after it.
        #[test]
        fn bodies_survive_any_split(
            data in proptest::collection::vec(any::<u8>(), 1..1500),
            sizes in proptest::collection::vec(0usize..400, 1..6),
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
            trailer in any::<bool>(),
            chunk in any::<bool>(),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let mut answer = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n".to_vec();
            if chunk {
                answer.extend_from_slice(b"transfer-encoding: chunked\r\n\r\n");
                answer.extend(chunked(&data, &sizes, trailer));
            } else {
                answer.extend_from_slice(format!("content-length: {}\r\n\r\n", data.len()).as_bytes());
                answer.extend_from_slice(&data);
            }
            let got = rt.block_on(exchange(split(&answer, &cuts))).unwrap();
            prop_assert_eq!(got, (200, data, true));
        }
    }

    #[tokio::test]
    async fn bodies_to_the_end_of_the_connection_are_read_and_not_reused() {
        let got = exchange(vec![
            b"HTTP/1.1 200 OK\r\n\r\nall of ".to_vec(),
            b"it".to_vec(),
        ])
        .await;
        assert_eq!(got.unwrap(), (200, b"all of it".to_vec(), false));
    }

    #[tokio::test]
    async fn cut_answers_are_errors_naming_where() {
        let e = exchange(vec![]).await.err().unwrap();
        assert_eq!(
            e.to_string(),
            "the upstream closed the connection before it answered"
        );
        let e = exchange(vec![b"HTTP/1.1 200 OK\r\ncont".to_vec()])
            .await
            .err()
            .unwrap();
        assert!(
            e.to_string()
                .ends_with("in the middle of the response head"),
            "{e}"
        );
        let e = exchange(vec![
            b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc".to_vec(),
        ])
        .await
        .err()
        .unwrap();
        assert!(
            e.to_string().contains("body, 7 bytes before the end"),
            "{e}"
        );
        let cut = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nab".to_vec();
        let e = exchange(vec![cut]).await.err().unwrap();
        assert!(
            e.to_string()
                .ends_with("in the middle of the response chunked body"),
            "{e}"
        );
        let bad = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nabc\r\n".to_vec();
        let e = exchange(vec![bad]).await.err().unwrap();
        assert!(e.to_string().contains("longer than its size line"), "{e}");
        let e = exchange(vec![b"HTTP/1.1 101 Switching\r\n\r\n".to_vec()])
            .await
            .err()
            .unwrap();
        assert!(e.to_string().contains("switched protocols"), "{e}");
        let big = format!("HTTP/1.1 200 OK\r\nx: {}\r\n", "a".repeat(70_000));
        let e = exchange(vec![big.into_bytes()]).await.err().unwrap();
        assert!(e.to_string().contains("longer than 64 KiB"), "{e}");
    }

    #[tokio::test]
    async fn a_closed_connection_is_not_open() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let conn = Conn::new(TcpStream::connect(addr).await.unwrap());
        let (sock, _) = listener.accept().await.unwrap();
        assert!(conn.is_open());
        drop(sock);
        // Readiness arrives through the runtime's reactor.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!conn.is_open());
    }
}
