//! One keep-alive HTTP/1.1 client connection (tokio), timing what arrives.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::parse::{EventInfo, Parser, StreamKind};

/// One received event: when it arrived and what it said.
#[derive(Debug, Clone, Copy)]
pub struct Received {
    pub at: Instant,
    /// Wall clock at arrival (ns), for the `<ts=>` delivery latency.
    pub wall: u64,
    pub info: EventInfo,
}

/// What one exchange produced. Reused between requests (no allocation per request).
#[derive(Debug)]
pub struct Exchange {
    pub status: u16,
    pub start: Instant,
    pub end: Instant,
    pub kind: StreamKind,
    pub events: Vec<Received>,
    pub terminal: bool,
    pub body_len: u64,
    pub body: Vec<u8>,
    /// The start of a non-2xx body.
    pub error_body: Vec<u8>,
    /// How long the connect took, when this exchange opened a connection.
    pub connect: Option<Duration>,
}

impl Default for Exchange {
    fn default() -> Self {
        let now = Instant::now();
        Exchange {
            status: 0,
            start: now,
            end: now,
            kind: StreamKind::None,
            events: Vec::new(),
            terminal: false,
            body_len: 0,
            body: Vec::new(),
            error_body: Vec::new(),
            connect: None,
        }
    }
}

impl Exchange {
    /// Time to the first event (streams) or to the end (otherwise).
    pub fn first(&self) -> Duration {
        match self.events.first() {
            Some(e) => e.at - self.start,
            None => self.end - self.start,
        }
    }

    /// A stream that did not end with its terminal event, or a non-200: an error.
    pub fn problem(&self) -> Option<String> {
        if self.status != 200 {
            // `status 503 plugin_unavailable`: the error's code (OpenAI
            // shape) or type and message (Anthropic shape) when the body has them.
            let code = match serde_json::from_slice::<serde_json::Value>(&self.error_body) {
                Ok(v) => {
                    let e = v.get("error").unwrap_or(&v);
                    let s = |k: &str| e.get(k).and_then(|x| x.as_str()).map(str::to_string);
                    match (s("code"), s("type"), s("message")) {
                        (Some(c), _, _) => c,
                        (None, t, m) => {
                            let m: String = m.unwrap_or_default().chars().take(70).collect();
                            format!("{} {m}", t.unwrap_or_default())
                        }
                    }
                }
                Err(_) => String::from_utf8_lossy(&self.error_body)
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(60)
                    .collect(),
            };
            return Some(format!("status {} {code}", self.status));
        }
        if self.kind != StreamKind::None && !self.terminal {
            return Some("stream ended without its final event".into());
        }
        None
    }
}

/// A connection that reconnects when needed.
pub struct Conn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
    parser: Parser,
    /// Keep the response body in [`Exchange::body`].
    pub keep_body: bool,
    /// Connections opened (first included).
    pub connects: u64,
}

impl Conn {
    pub fn new(addr: SocketAddr) -> Self {
        Conn {
            addr,
            stream: None,
            buf: vec![0; 64 * 1024],
            parser: Parser::new(),
            keep_body: false,
            connects: 0,
        }
    }

    pub async fn connect(&mut self) -> std::io::Result<()> {
        let s = TcpStream::connect(self.addr).await?;
        s.set_nodelay(true)?;
        self.stream = Some(s);
        self.connects += 1;
        Ok(())
    }

    pub fn disconnect(&mut self) {
        self.stream = None;
    }

    /// Send `req` and read the whole response into `ex`. A reused connection
    /// the server closed while idle is retried once on a new one.
    pub async fn send(&mut self, req: &[u8], ex: &mut Exchange) -> Result<(), String> {
        let reused = self.stream.is_some();
        match self.try_send(req, ex).await {
            Err((e, got_bytes)) if reused && !got_bytes => {
                let _ = e;
                self.stream = None;
                self.try_send(req, ex).await.map_err(|(e, _)| e)
            }
            r => r.map_err(|(e, _)| e),
        }
    }

    async fn try_send(&mut self, req: &[u8], ex: &mut Exchange) -> Result<(), (String, bool)> {
        ex.connect = None;
        if self.stream.is_none() {
            let t = Instant::now();
            self.connect()
                .await
                .map_err(|e| (format!("connect: {e}"), true))?;
            ex.connect = Some(t.elapsed());
        }
        self.parser.reset();
        self.parser.keep_body = self.keep_body;
        ex.events.clear();
        ex.body.clear();
        ex.status = 0;
        ex.terminal = false;
        ex.start = Instant::now();
        let stream = self.stream.as_mut().expect("connected");
        if let Err(e) = stream.write_all(req).await {
            self.stream = None;
            return Err((format!("write: {e}"), false));
        }
        let mut got = false;
        loop {
            let n = match stream.read(&mut self.buf).await {
                Ok(n) => n,
                Err(e) => {
                    self.stream = None;
                    return Err((format!("read: {e}"), got));
                }
            };
            let now = Instant::now();
            if n == 0 {
                let r = self.parser.eof();
                self.stream = None;
                if let Err(e) = r {
                    return Err((e, got));
                }
                Self::collect(&mut self.parser, ex, now);
                return Ok(());
            }
            got = true;
            let done = match self.parser.feed(&self.buf[..n]) {
                Ok(d) => d,
                Err(e) => {
                    self.stream = None;
                    return Err((format!("bad response: {e}"), true));
                }
            };
            if !self.parser.events.is_empty() {
                let wall = crate::realtime_ns();
                for info in self.parser.events.drain(..) {
                    ex.events.push(Received {
                        at: now,
                        wall,
                        info,
                    });
                }
            }
            if done.is_some() {
                if self.parser.close {
                    self.stream = None;
                }
                Self::collect(&mut self.parser, ex, now);
                return Ok(());
            }
        }
    }

    fn collect(p: &mut Parser, ex: &mut Exchange, now: Instant) {
        if !p.events.is_empty() {
            let wall = crate::realtime_ns();
            for info in p.events.drain(..) {
                ex.events.push(Received {
                    at: now,
                    wall,
                    info,
                });
            }
        }
        ex.end = now;
        ex.status = p.status;
        ex.kind = p.kind;
        ex.terminal = p.terminal;
        ex.body_len = p.body_len;
        ex.error_body.clear();
        ex.error_body.extend_from_slice(&p.error_body);
        if p.keep_body {
            std::mem::swap(&mut ex.body, &mut p.body);
        }
    }
}
