//! Plain-HTTP/1.1 upstream connections (`http://` base URLs: local model
//! servers, sidecars, internal gateways), kept alive and reused per
//! `host:port`.
//!
//! Each exchange runs in the task of the request it belongs to (see
//! [`h1`](super::h1)): no task per connection. What this pool leaves out is
//! the generic machinery of hyper-util's pooled client, which on a proxied
//! request cost more instructions than sending the request on its
//! connection: hashing the `(scheme, authority)` key with SipHash one byte
//! at a time on checkout and again on return, a select between the checkout
//! and a lazily built connect future, and the `Host` header formatted anew
//! every time. Here the upstreams are a short list searched by their
//! authority, and the caller writes the request head.
//!
//! A connection goes back to the pool when its response body has been read
//! to the end; one whose body is dropped early is closed (an HTTP/1.1
//! connection cannot be reused in the middle of an exchange). The most
//! recently returned connection is used first, if the upstream has not
//! closed it meanwhile. A request that could not be written at all on a
//! reused connection (the upstream had just closed it) is sent once more on
//! a new connection; one that may have reached the upstream is not (chat
//! requests are not idempotent). Connections idle for longer than the idle
//! timeout are closed, when a request next looks for one and by a sweep
//! every idle timeout.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Response;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use tokio::net::TcpStream;

use super::h1::{self, Conn, RequestHead};

/// Why a request got no response head.
#[derive(Debug)]
pub enum SendError {
    Connect(std::io::Error),
    ConnectTimeout(Duration),
    Exchange(h1::Error),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Connect(e) => write!(f, "tcp connect error: {e}"),
            SendError::ConnectTimeout(d) => write!(
                f,
                "tcp connect timed out after {} s (timeouts.connect)",
                d.as_secs_f64()
            ),
            SendError::Exchange(e) => write!(f, "{e}"),
        }
    }
}

/// The pool of plain-HTTP/1.1 connections, shared by every provider.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    /// One entry per upstream `host:port`, never removed, so an index into
    /// it stays valid for the life of the pool.
    hosts: Mutex<Vec<Host>>,
    connect_timeout: Duration,
    idle_timeout: Duration,
    max_idle_per_host: usize,
    sweeping: AtomicBool,
}

struct Host {
    authority: Box<str>,
    /// Idle connections, the most recently returned last.
    idle: Vec<Idle>,
}

struct Idle {
    conn: Conn,
    since: Instant,
}

impl Pool {
    pub fn new(
        connect_timeout: Duration,
        idle_timeout: Duration,
        max_idle_per_host: usize,
    ) -> Self {
        Pool {
            inner: Arc::new(Inner {
                hosts: Mutex::new(Vec::new()),
                connect_timeout,
                idle_timeout,
                max_idle_per_host,
                sweeping: AtomicBool::new(false),
            }),
        }
    }

    /// Send a request (`head`, written for `authority`, and `body`) to
    /// `authority` (`host` or `host:port`, no user info) on an idle
    /// connection when there is one, and wait for the response head.
    pub async fn send(
        &self,
        authority: &str,
        head: &RequestHead,
        body: &[u8],
    ) -> Result<Response<Body>, SendError> {
        let (slot, idle) = self.inner.checkout(authority);
        let (mut conn, mut reused) = match idle {
            Some(conn) => (conn, true),
            None => (self.connect(authority).await?, false),
        };
        loop {
            match conn.send(head, body).await {
                Ok(()) => break,
                // Nothing was written: the upstream had closed the idle
                // connection. Once more, on a new connection (another idle
                // one may have been closed by the same upstream).
                Err((true, _)) if reused => {
                    conn = self.connect(authority).await?;
                    reused = false;
                }
                Err((_, e)) => return Err(SendError::Exchange(e)),
            }
        }
        let (parts, body) = conn.receive(head).await.map_err(SendError::Exchange)?;
        let mut body = Body {
            kind: Kind::Plain {
                body,
                back: Some(Back {
                    pool: Arc::downgrade(&self.inner),
                    slot,
                }),
            },
        };
        // A response without a body has been read to its end already.
        body.release();
        Ok(Response::from_parts(parts, body))
    }

    async fn connect(&self, authority: &str) -> Result<Conn, SendError> {
        let timeout = self.inner.connect_timeout;
        let stream =
            match tokio::time::timeout(timeout, TcpStream::connect(address(authority))).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return Err(SendError::Connect(e)),
                Err(_) => return Err(SendError::ConnectTimeout(timeout)),
            };
        // As hyper-util's connector does: no Nagle delay on small writes,
        // and TCP keep-alive so a silently dropped peer is noticed.
        let _ = stream.set_nodelay(true);
        let keepalive = socket2::TcpKeepalive::new().with_time(Duration::from_secs(60));
        let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(&keepalive);
        Ok(Conn::new(stream))
    }
}

/// `host:port` to connect to: port 80 when the authority has none.
fn address(authority: &str) -> String {
    let has_port = match authority.rfind(':') {
        // `[::1]` is a host without a port; `[::1]:8080` and `h:8080` have one.
        Some(i) => !authority[i..].contains(']'),
        None => false,
    };
    if has_port {
        authority.to_string()
    } else {
        format!("{authority}:80")
    }
}

impl Inner {
    fn hosts(&self) -> MutexGuard<'_, Vec<Host>> {
        self.hosts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The slot of `authority` (added if new) and the most recently returned
    /// idle connection to it that is still open.
    fn checkout(&self, authority: &str) -> (usize, Option<Conn>) {
        let now = Instant::now();
        let mut hosts = self.hosts();
        let slot = match hosts.iter().position(|h| &*h.authority == authority) {
            Some(i) => i,
            None => {
                hosts.push(Host {
                    authority: authority.into(),
                    idle: Vec::new(),
                });
                return (hosts.len() - 1, None);
            }
        };
        let idle = &mut hosts[slot].idle;
        while let Some(e) = idle.pop() {
            // Dropping a connection closes it.
            if now.duration_since(e.since) <= self.idle_timeout && e.conn.is_open() {
                return (slot, Some(e.conn));
            }
        }
        (slot, None)
    }

    fn put(self: &Arc<Self>, slot: usize, conn: Conn) {
        {
            let mut hosts = self.hosts();
            let Some(host) = hosts.get_mut(slot) else {
                return;
            };
            if host.idle.len() >= self.max_idle_per_host {
                return;
            }
            host.idle.push(Idle {
                conn,
                since: Instant::now(),
            });
        }
        if !self.sweeping.load(Ordering::Relaxed) && !self.sweeping.swap(true, Ordering::Relaxed) {
            self.spawn_sweeper();
        }
    }

    /// Closes connections idle for longer than the idle timeout, every idle
    /// timeout, for as long as the pool exists.
    fn spawn_sweeper(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // Not on a runtime (a body read by hand): a later return starts it.
            self.sweeping.store(false, Ordering::Relaxed);
            return;
        };
        let pool = Arc::downgrade(self);
        let every = self.idle_timeout;
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(inner) = pool.upgrade() else {
                    return;
                };
                let now = Instant::now();
                for host in inner.hosts().iter_mut() {
                    host.idle.retain(|e| {
                        now.duration_since(e.since) <= inner.idle_timeout && e.conn.is_open()
                    });
                }
            }
        });
    }

    #[cfg(test)]
    fn idle_count(&self, authority: &str) -> usize {
        self.hosts()
            .iter()
            .find(|h| &*h.authority == authority)
            .map_or(0, |h| h.idle.len())
    }
}

/// Where a connection goes when its response has been read.
struct Back {
    pool: Weak<Inner>,
    slot: usize,
}

/// An upstream response body: from hyper's client (`https://`), or from a
/// connection of this pool, which goes back to it when the body has been
/// read to the end.
pub struct Body {
    kind: Kind,
}

enum Kind {
    Hyper(Incoming),
    Plain { body: h1::Body, back: Option<Back> },
}

impl From<Incoming> for Body {
    fn from(inner: Incoming) -> Self {
        Body {
            kind: Kind::Hyper(inner),
        }
    }
}

/// Why reading an upstream body failed.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error(transparent)]
    Hyper(#[from] hyper::Error),
    #[error(transparent)]
    Plain(#[from] h1::Error),
}

impl Body {
    /// Returns the connection to the pool if the body has been read to its
    /// end and the connection can carry another exchange.
    fn release(&mut self) {
        if let Kind::Plain { body, back } = &mut self.kind
            && let Some(conn) = body.take_conn()
            && let Some(back) = back.take()
            && let Some(pool) = back.pool.upgrade()
        {
            pool.put(back.slot, conn);
        }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        let polled = match &mut this.kind {
            Kind::Hyper(inner) => {
                return Pin::new(inner)
                    .poll_frame(cx)
                    .map(|f| f.map(|r| r.map_err(BodyError::from)));
            }
            Kind::Plain { body, back } => match ready!(body.poll_data(cx)) {
                Ok(data) => data,
                Err(e) => {
                    // The exchange broke: the connection is not reused.
                    *back = None;
                    return Poll::Ready(Some(Err(e.into())));
                }
            },
        };
        this.release();
        Poll::Ready(polled.map(|data| Ok(Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Hyper(inner) => inner.is_end_stream(),
            Kind::Plain { body, .. } => body.is_end(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Hyper(inner) => inner.size_hint(),
            Kind::Plain { body, .. } => body
                .exact_len()
                .map_or_else(SizeHint::new, SizeHint::with_exact),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::sync::atomic::AtomicUsize;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    #[test]
    fn addresses() {
        assert_eq!(address("h:8080"), "h:8080");
        assert_eq!(address("h"), "h:80");
        assert_eq!(address("[::1]"), "[::1]:80");
        assert_eq!(address("[::1]:9"), "[::1]:9");
    }

    /// A minimal HTTP/1.1 upstream: answers every request on a connection
    /// with `ok <n>` (n counts requests across connections), and closes the
    /// connection after `close_after` answers on it (saying so in the last
    /// if `announce`).
    async fn upstream(
        close_after: usize,
        announce: bool,
    ) -> (String, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let served = Arc::new(AtomicUsize::new(0));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (s, a) = (served.clone(), accepted.clone());
        tokio::spawn(async move {
            loop {
                let (mut sock, _) = listener.accept().await.unwrap();
                a.fetch_add(1, Ordering::SeqCst);
                let s = s.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut answered = 0;
                    let mut chunk = [0u8; 4096];
                    loop {
                        let n = sock.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            buf.drain(..end + 4);
                            let n = s.fetch_add(1, Ordering::SeqCst) + 1;
                            let body = format!("ok {n}");
                            answered += 1;
                            let close = if answered == close_after && announce {
                                "connection: close\r\n"
                            } else {
                                ""
                            };
                            let resp = format!(
                                "HTTP/1.1 200 OK\r\n{close}content-length: {}\r\n\r\n{body}",
                                body.len()
                            );
                            sock.write_all(resp.as_bytes()).await.unwrap();
                            if answered == close_after {
                                return;
                            }
                        }
                    }
                });
            }
        });
        (addr, served, accepted)
    }

    fn get(authority: &str) -> RequestHead {
        RequestHead::encode("GET", "/x", authority, &[], 0).unwrap()
    }

    async fn text(resp: Response<Body>) -> String {
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn reuses_a_connection_once_its_body_is_read() {
        let (addr, _, accepted) = upstream(usize::MAX, true).await;
        let pool = Pool::new(Duration::from_secs(1), Duration::from_secs(90), 8);
        for i in 1..=5 {
            let resp = pool.send(&addr, &get(&addr), b"").await.unwrap();
            assert_eq!(text(resp).await, format!("ok {i}"));
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        assert_eq!(pool.inner.idle_count(&addr), 1);
    }

    #[tokio::test]
    async fn a_body_dropped_unread_does_not_return_its_connection() {
        let (addr, _, accepted) = upstream(usize::MAX, true).await;
        let pool = Pool::new(Duration::from_secs(1), Duration::from_secs(90), 8);
        let resp = pool.send(&addr, &get(&addr), b"").await.unwrap();
        drop(resp);
        assert_eq!(pool.inner.idle_count(&addr), 0);
        let resp = pool.send(&addr, &get(&addr), b"").await.unwrap();
        assert_eq!(text(resp).await, "ok 2");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_connection_the_upstream_closed_is_replaced() {
        // The upstream closes each connection after one answer: no request
        // may be sent on a connection that is closing.
        let (addr, served, accepted) = upstream(1, true).await;
        let pool = Pool::new(Duration::from_secs(1), Duration::from_secs(90), 8);
        for i in 1..=4 {
            let resp = pool.send(&addr, &get(&addr), b"").await.unwrap();
            assert_eq!(text(resp).await, format!("ok {i}"));
            // Give the close time to arrive at some iterations and not at others.
            if i % 2 == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        assert_eq!(served.load(Ordering::SeqCst), 4);
        assert_eq!(accepted.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn a_connection_the_upstream_closed_silently_is_not_reused() {
        // The upstream closes each connection after one answer without
        // saying so: the pool must notice before it sends the next request.
        let (addr, served, accepted) = upstream(1, false).await;
        let pool = Pool::new(Duration::from_secs(1), Duration::from_secs(90), 8);
        for i in 1..=3 {
            let resp = pool.send(&addr, &get(&addr), b"").await.unwrap();
            assert_eq!(text(resp).await, format!("ok {i}"));
            assert_eq!(pool.inner.idle_count(&addr), 1);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(served.load(Ordering::SeqCst), 3);
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn idle_connections_expire() {
        let (addr, _, accepted) = upstream(usize::MAX, true).await;
        let pool = Pool::new(Duration::from_secs(1), Duration::from_millis(50), 8);
        let resp = pool.send(&addr, &get(&addr), b"").await.unwrap();
        text(resp).await;
        assert_eq!(pool.inner.idle_count(&addr), 1);
        tokio::time::sleep(Duration::from_millis(200)).await;
        // The sweep closed it; the next request opens a new one.
        assert_eq!(pool.inner.idle_count(&addr), 0);
        let resp = pool.send(&addr, &get(&addr), b"").await.unwrap();
        assert_eq!(text(resp).await, "ok 2");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn connect_errors_name_the_cause() {
        // A port nothing listens on: bind one, note it, close it.
        let addr = {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            l.local_addr().unwrap().to_string()
        };
        let pool = Pool::new(Duration::from_secs(1), Duration::from_secs(90), 8);
        let Err(e) = pool.send(&addr, &get(&addr), b"").await else {
            panic!("a request to a closed port was answered");
        };
        assert!(e.to_string().starts_with("tcp connect error: "), "{e}");
    }
}
