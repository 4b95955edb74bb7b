//! A sans-IO HTTP/1.1 response parser that also splits streamed bodies into
//! events. Feed it bytes as they arrive; it says when the response is whole.

/// What kind of streamed body a response carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    /// Not a stream (JSON or anything else): the body is only counted.
    None,
    /// `text/event-stream`: events end with a blank line.
    Sse,
    /// `application/x-ndjson`: one event per line.
    Ndjson,
}

/// One whole event of a streamed body.
#[derive(Debug, Clone, Copy, Default)]
pub struct EventInfo {
    /// The `<ts=NANOS>` marker the mock upstream put in it (wall clock at send).
    pub ts: Option<u64>,
    /// `[DONE]`, `message_stop` or `"done":true`: the stream's last event.
    pub terminal: bool,
}

#[derive(Debug, Clone, Copy)]
enum Framing {
    Length(u64),
    Chunked,
    Close,
}

#[derive(Debug, Clone, Copy)]
enum Chunk {
    Size { acc: u64, ext: bool, digits: u32 },
    Data(u64),
    DataEnd,
    Trailer { line: usize },
}

/// The parser for one response. Create a new one (or [`Parser::reset`]) per response.
pub struct Parser {
    head: Vec<u8>,
    in_head: bool,
    pub status: u16,
    /// The server will close the connection after this response.
    pub close: bool,
    pub kind: StreamKind,
    framing: Framing,
    chunk: Chunk,
    /// Body payload bytes seen (after de-chunking).
    pub body_len: u64,
    /// Keep the body (for probes); off for load.
    pub keep_body: bool,
    pub body: Vec<u8>,
    /// The first bytes of a non-2xx body (for error reports).
    pub error_body: Vec<u8>,
    cur: Vec<u8>,
    last_nl: bool,
    /// Events completed since the caller last drained this.
    pub events: Vec<EventInfo>,
    /// Whether a terminal event was seen.
    pub terminal: bool,
}

impl Default for Parser {
    fn default() -> Self {
        Self::new()
    }
}

impl Parser {
    pub fn new() -> Self {
        Parser {
            head: Vec::with_capacity(512),
            in_head: true,
            status: 0,
            close: false,
            kind: StreamKind::None,
            framing: Framing::Close,
            chunk: Chunk::Size {
                acc: 0,
                ext: false,
                digits: 0,
            },
            body_len: 0,
            keep_body: false,
            body: Vec::new(),
            error_body: Vec::new(),
            cur: Vec::with_capacity(512),
            last_nl: false,
            events: Vec::new(),
            terminal: false,
        }
    }

    pub fn reset(&mut self) {
        let keep = self.keep_body;
        self.head.clear();
        self.in_head = true;
        self.status = 0;
        self.close = false;
        self.kind = StreamKind::None;
        self.framing = Framing::Close;
        self.chunk = Chunk::Size {
            acc: 0,
            ext: false,
            digits: 0,
        };
        self.body_len = 0;
        self.body.clear();
        self.error_body.clear();
        self.keep_body = keep;
        self.cur.clear();
        self.last_nl = false;
        self.events.clear();
        self.terminal = false;
    }

    /// Whether the response head has been parsed.
    pub fn has_head(&self) -> bool {
        !self.in_head
    }

    /// Feed bytes. `Ok(Some(n))`: the response is complete after `n` bytes
    /// of `data`; `Ok(None)`: more is needed.
    pub fn feed(&mut self, data: &[u8]) -> Result<Option<usize>, String> {
        let mut i = 0;
        if self.in_head {
            let before = self.head.len();
            self.head.extend_from_slice(data);
            // Search from a little before the old end, for a terminator split across reads.
            let from = before.saturating_sub(3);
            let Some(pos) = find(&self.head[from..], b"\r\n\r\n") else {
                if self.head.len() > 64 * 1024 {
                    return Err("response head over 64 KiB".into());
                }
                return Ok(None);
            };
            let end = from + pos + 4;
            self.parse_head(end)?;
            self.in_head = false;
            i = end - before;
            self.head.clear();
            if let Framing::Length(0) = self.framing {
                return Ok(Some(i));
            }
        }
        match self.framing {
            Framing::Length(rem) => {
                let take = (data.len() - i).min(rem as usize);
                self.payload(&data[i..i + take]);
                let rem = rem - take as u64;
                self.framing = Framing::Length(rem);
                if rem == 0 {
                    Ok(Some(i + take))
                } else {
                    Ok(None)
                }
            }
            Framing::Close => {
                self.payload(&data[i..]);
                Ok(None)
            }
            Framing::Chunked => self.chunked(data, i),
        }
    }

    /// The connection reached end of file: complete for read-to-close bodies.
    pub fn eof(&mut self) -> Result<(), String> {
        match (self.in_head, self.framing) {
            (false, Framing::Close) => {
                self.flush_event();
                Ok(())
            }
            (true, _) if self.head.is_empty() => Err("connection closed before a response".into()),
            _ => Err("connection closed mid-response".into()),
        }
    }

    fn parse_head(&mut self, end: usize) -> Result<(), String> {
        let head = std::str::from_utf8(&self.head[..end])
            .map_err(|_| "response head is not UTF-8".to_string())?;
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or("");
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or("");
        self.status = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad status line {status_line:?}"))?;
        self.close = version == "HTTP/1.0";
        let mut length = None;
        let mut chunked = false;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse::<u64>().ok();
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.to_ascii_lowercase().contains("chunked");
            } else if name.eq_ignore_ascii_case("connection") {
                let v = value.to_ascii_lowercase();
                if v.contains("close") {
                    self.close = true;
                } else if v.contains("keep-alive") {
                    self.close = false;
                }
            } else if name.eq_ignore_ascii_case("content-type") {
                let v = value.to_ascii_lowercase();
                if v.starts_with("text/event-stream") {
                    self.kind = StreamKind::Sse;
                } else if v.contains("ndjson") {
                    self.kind = StreamKind::Ndjson;
                }
            }
        }
        self.framing = if chunked {
            Framing::Chunked
        } else if let Some(n) = length {
            Framing::Length(n)
        } else if self.status == 204 || self.status == 304 || (100..200).contains(&self.status) {
            Framing::Length(0)
        } else {
            self.close = true;
            Framing::Close
        };
        Ok(())
    }

    fn chunked(&mut self, data: &[u8], mut i: usize) -> Result<Option<usize>, String> {
        while i < data.len() {
            match self.chunk {
                Chunk::Size { acc, ext, digits } => {
                    let b = data[i];
                    i += 1;
                    match b {
                        b'\n' => {
                            if digits == 0 {
                                return Err("chunk size line without a size".into());
                            }
                            self.chunk = if acc == 0 {
                                Chunk::Trailer { line: 0 }
                            } else {
                                Chunk::Data(acc)
                            };
                        }
                        b'\r' => {}
                        b';' => {
                            self.chunk = Chunk::Size {
                                acc,
                                ext: true,
                                digits,
                            }
                        }
                        _ if ext => {}
                        _ => {
                            let v = (b as char)
                                .to_digit(16)
                                .ok_or_else(|| format!("bad chunk size byte {b:#x}"))?;
                            if digits > 15 {
                                return Err("chunk size too large".into());
                            }
                            self.chunk = Chunk::Size {
                                acc: acc * 16 + v as u64,
                                ext,
                                digits: digits + 1,
                            };
                        }
                    }
                }
                Chunk::Data(rem) => {
                    let take = (data.len() - i).min(rem as usize);
                    self.payload(&data[i..i + take]);
                    i += take;
                    let rem = rem - take as u64;
                    self.chunk = if rem == 0 {
                        Chunk::DataEnd
                    } else {
                        Chunk::Data(rem)
                    };
                }
                Chunk::DataEnd => {
                    let b = data[i];
                    i += 1;
                    match b {
                        b'\r' => {}
                        b'\n' => {
                            self.chunk = Chunk::Size {
                                acc: 0,
                                ext: false,
                                digits: 0,
                            }
                        }
                        _ => return Err("missing CRLF after a chunk".into()),
                    }
                }
                Chunk::Trailer { line } => {
                    let b = data[i];
                    i += 1;
                    match b {
                        b'\r' => {}
                        b'\n' if line == 0 => {
                            self.flush_event();
                            return Ok(Some(i));
                        }
                        b'\n' => self.chunk = Chunk::Trailer { line: 0 },
                        _ => self.chunk = Chunk::Trailer { line: line + 1 },
                    }
                }
            }
        }
        Ok(None)
    }

    fn payload(&mut self, d: &[u8]) {
        self.body_len += d.len() as u64;
        if self.keep_body {
            self.body.extend_from_slice(d);
        }
        if !(200..300).contains(&self.status) && self.error_body.len() < 512 {
            let take = d.len().min(512 - self.error_body.len());
            self.error_body.extend_from_slice(&d[..take]);
        }
        match self.kind {
            StreamKind::None => {}
            StreamKind::Sse => {
                for &b in d {
                    match b {
                        b'\r' => {}
                        b'\n' if self.last_nl => {
                            self.last_nl = false;
                            self.flush_event();
                        }
                        b'\n' => {
                            self.last_nl = true;
                            self.cur.push(b);
                        }
                        _ => {
                            self.last_nl = false;
                            self.cur.push(b);
                        }
                    }
                }
            }
            StreamKind::Ndjson => {
                for &b in d {
                    match b {
                        b'\r' => {}
                        b'\n' => self.flush_event(),
                        _ => self.cur.push(b),
                    }
                }
            }
        }
    }

    fn flush_event(&mut self) {
        if self.cur.is_empty() {
            return;
        }
        let ev = &self.cur;
        // SSE: only blocks with a data line count (comments and bare
        // `event:` blocks are not events a client sees).
        let counts = match self.kind {
            StreamKind::Sse => find(ev, b"data:").is_some(),
            _ => ev.iter().any(|b| !b.is_ascii_whitespace()),
        };
        if counts {
            let ts = find(ev, b"<ts=").and_then(|p| {
                let digits = &ev[p + 4..];
                let n = digits.iter().take_while(|b| b.is_ascii_digit()).count();
                std::str::from_utf8(&digits[..n]).ok()?.parse().ok()
            });
            let terminal = find(ev, b"[DONE]").is_some()
                || find(ev, b"message_stop").is_some()
                || find(ev, b"\"done\":true").is_some();
            self.terminal |= terminal;
            self.events.push(EventInfo { ts, terminal });
        }
        self.cur.clear();
    }
}

/// The first position of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    let first = needle[0];
    let last = hay.len() - needle.len();
    let mut i = 0;
    while i <= last {
        match hay[i..=last].iter().position(|&b| b == first) {
            None => return None,
            Some(p) => {
                i += p;
                if &hay[i..i + needle.len()] == needle {
                    return Some(i);
                }
                i += 1;
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(p: &mut Parser, parts: &[&[u8]]) -> Option<usize> {
        let mut done = None;
        for part in parts {
            if let Some(n) = p.feed(part).unwrap() {
                done = Some(n);
            }
        }
        done
    }

    #[test]
    fn content_length() {
        let mut p = Parser::new();
        p.keep_body = true;
        let r = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";
        assert_eq!(p.feed(r).unwrap(), Some(r.len()));
        assert_eq!(p.status, 200);
        assert_eq!(p.body, b"hello");
        assert!(!p.close);
    }

    #[test]
    fn split_head_and_chunked_sse() {
        let mut p = Parser::new();
        let whole: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n\
            1a\r\ndata: {\"a\":\"x<ts=1234>\"}\n\n\r\n\
            e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n";
        // Feed byte by byte: every boundary is exercised.
        let mut done = None;
        for (i, b) in whole.iter().enumerate() {
            if let Some(n) = p.feed(std::slice::from_ref(b)).unwrap() {
                assert_eq!(n, 1);
                done = Some(i);
            }
        }
        assert_eq!(done, Some(whole.len() - 1));
        assert_eq!(p.kind, StreamKind::Sse);
        assert_eq!(p.events.len(), 2);
        assert_eq!(p.events[0].ts, Some(1234));
        assert!(p.events[1].terminal);
        assert!(p.terminal);
    }

    #[test]
    fn ndjson_and_crlf_sse() {
        let mut p = Parser::new();
        let r: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\ncontent-length: 28\r\n\r\n{\"a\":1}\n{\"done\":true}\n\n\n\n\n\n\n";
        assert!(feed_all(&mut p, &[r]).is_some());
        assert_eq!(p.events.len(), 2);
        assert!(p.terminal);

        let mut p = Parser::new();
        let r: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n: ping\r\n\r\nevent: message_stop\r\ndata: {}\r\n\r\n";
        assert_eq!(feed_all(&mut p, &[r]), None);
        p.eof().unwrap();
        assert!(p.close);
        assert_eq!(p.events.len(), 1);
        assert!(p.terminal);
    }

    #[test]
    fn find_works() {
        assert_eq!(find(b"abcabd", b"abd"), Some(3));
        assert_eq!(find(b"ab", b"abc"), None);
        assert_eq!(find(b"xx[DONE]", b"[DONE]"), Some(2));
    }
}
