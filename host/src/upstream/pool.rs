//! Plain-HTTP/1.1 upstream connections (`http://` base URLs: local model
//! servers, sidecars, internal gateways), kept alive and reused per
//! `host:port`.
//!
//! Each connection is driven by a task of its own, as in hyper-util's pooled
//! client: that task writes a request's head and body in one go and reads the
//! response while the request's task does other work. What this pool leaves
//! out is the generic machinery around the connections, which on a proxied
//! request cost more instructions than sending the request on its connection:
//! hashing the `(scheme, authority)` key with SipHash one byte at a time on
//! checkout and again on return, a select between the checkout and a lazily
//! built connect future, and the `Host` header formatted anew every time.
//! Here the upstreams are a short list searched by their authority, and
//! the caller sets `Host`.
//!
//! A connection goes back to the pool when its response body has been read
//! to the end; one whose body is dropped early is closed (an HTTP/1.1
//! connection cannot be reused in the middle of an exchange). The most
//! recently returned connection is used first. A request the upstream closed
//! the connection on before any of it was written (an idle connection the
//! upstream had just timed out) is sent once more on a new connection; one
//! that may have reached the upstream is not (chat requests are not
//! idempotent). Connections idle for longer than the idle timeout are
//! closed, when a request next looks for one and by a sweep every idle
//! timeout.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Frame, SizeHint};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

type Sender = SendRequest<Full<Bytes>>;

/// Why a request got no response head.
#[derive(Debug)]
pub enum SendError {
    Connect(std::io::Error),
    ConnectTimeout(Duration),
    Http(hyper::Error),
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
            SendError::Http(e) => f.write_str(&super::error_chain(e)),
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
    tx: Sender,
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

    /// Send `req` (origin-form URI, `Host` set) to `authority` (`host` or
    /// `host:port`, no user info) on an idle connection when there is one,
    /// and wait for the response head.
    pub async fn send(
        &self,
        authority: &str,
        mut req: Request<Full<Bytes>>,
    ) -> Result<Response<Body>, SendError> {
        let (slot, idle) = self.inner.checkout(authority);
        let (mut tx, mut reused) = match idle {
            Some(tx) => (tx, true),
            None => (self.connect(authority).await?, false),
        };
        loop {
            match tx.try_send_request(req).await {
                Ok(resp) => {
                    let back = Back {
                        tx,
                        pool: Arc::downgrade(&self.inner),
                        slot,
                    };
                    return Ok(resp.map(|inner| Body {
                        inner,
                        back: Some(back),
                    }));
                }
                Err(mut e) => match e.take_message() {
                    // Nothing was written: the upstream had closed the idle
                    // connection. Once more, on a new connection (another
                    // idle one may have been closed by the same upstream).
                    Some(r) if reused => {
                        req = r;
                        tx = self.connect(authority).await?;
                        reused = false;
                    }
                    _ => return Err(SendError::Http(e.into_error())),
                },
            }
        }
    }

    async fn connect(&self, authority: &str) -> Result<Sender, SendError> {
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
        let (tx, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(SendError::Http)?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "upstream connection closed with an error");
            }
        });
        Ok(tx)
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
    /// idle connection to it that is open and ready for a request.
    fn checkout(&self, authority: &str) -> (usize, Option<Sender>) {
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
        let mut i = idle.len();
        while i > 0 {
            i -= 1;
            let e = &idle[i];
            if e.tx.is_closed() || now.duration_since(e.since) > self.idle_timeout {
                // Dropping the sender ends its connection's task.
                idle.remove(i);
            } else if e.tx.is_ready() {
                return (slot, Some(idle.remove(i).tx));
            }
            // Open but not ready: its task has not yet seen the end of the
            // last exchange. Left for a later request.
        }
        (slot, None)
    }

    fn put(self: &Arc<Self>, slot: usize, tx: Sender) {
        if tx.is_closed() {
            return;
        }
        {
            let mut hosts = self.hosts();
            let Some(host) = hosts.get_mut(slot) else {
                return;
            };
            if host.idle.len() >= self.max_idle_per_host {
                return;
            }
            host.idle.push(Idle {
                tx,
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
                        !e.tx.is_closed() && now.duration_since(e.since) <= inner.idle_timeout
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
    tx: Sender,
    pool: Weak<Inner>,
    slot: usize,
}

/// An upstream response body. When it comes from this pool, reading it to
/// the end returns its connection to the pool.
pub struct Body {
    inner: Incoming,
    back: Option<Back>,
}

impl From<Incoming> for Body {
    fn from(inner: Incoming) -> Self {
        Body { inner, back: None }
    }
}

impl Body {
    fn release(&mut self) {
        if let Some(back) = self.back.take()
            && let Some(pool) = back.pool.upgrade()
        {
            pool.put(back.slot, back.tx);
        }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => this.release(),
            Poll::Ready(Some(Ok(_))) if this.inner.is_end_stream() => this.release(),
            // The exchange broke: the connection is not reused.
            Poll::Ready(Some(Err(_))) => this.back = None,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
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
    /// connection after `close_after` answers on it (saying so in the last).
    async fn upstream(close_after: usize) -> (String, Arc<AtomicUsize>, Arc<AtomicUsize>) {
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
                            let close = if answered == close_after {
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

    fn get(authority: &str) -> Request<Full<Bytes>> {
        Request::builder()
            .uri("/x")
            .header("host", authority)
            .body(Full::new(Bytes::new()))
            .unwrap()
    }

    async fn text(resp: Response<Body>) -> String {
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn reuses_a_connection_once_its_body_is_read() {
        let (addr, _, accepted) = upstream(usize::MAX).await;
        let pool = Pool::new(Duration::from_secs(1), Duration::from_secs(90), 8);
        for i in 1..=5 {
            let resp = pool.send(&addr, get(&addr)).await.unwrap();
            assert_eq!(text(resp).await, format!("ok {i}"));
            // Let the connection's task see the end of the exchange.
            tokio::task::yield_now().await;
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        assert_eq!(pool.inner.idle_count(&addr), 1);
    }

    #[tokio::test]
    async fn a_body_dropped_unread_does_not_return_its_connection() {
        let (addr, _, accepted) = upstream(usize::MAX).await;
        let pool = Pool::new(Duration::from_secs(1), Duration::from_secs(90), 8);
        let resp = pool.send(&addr, get(&addr)).await.unwrap();
        drop(resp);
        assert_eq!(pool.inner.idle_count(&addr), 0);
        let resp = pool.send(&addr, get(&addr)).await.unwrap();
        assert_eq!(text(resp).await, "ok 2");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_connection_the_upstream_closed_is_replaced() {
        // The upstream closes each connection after one answer: no request
        // may be sent on a connection that is closing.
        let (addr, served, accepted) = upstream(1).await;
        let pool = Pool::new(Duration::from_secs(1), Duration::from_secs(90), 8);
        for i in 1..=4 {
            let resp = pool.send(&addr, get(&addr)).await.unwrap();
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
    async fn idle_connections_expire() {
        let (addr, _, accepted) = upstream(usize::MAX).await;
        let pool = Pool::new(Duration::from_secs(1), Duration::from_millis(50), 8);
        let resp = pool.send(&addr, get(&addr)).await.unwrap();
        text(resp).await;
        tokio::task::yield_now().await;
        assert_eq!(pool.inner.idle_count(&addr), 1);
        tokio::time::sleep(Duration::from_millis(200)).await;
        // The sweep closed it; the next request opens a new one.
        assert_eq!(pool.inner.idle_count(&addr), 0);
        let resp = pool.send(&addr, get(&addr)).await.unwrap();
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
        let Err(e) = pool.send(&addr, get(&addr)).await else {
            panic!("a request to a closed port was answered");
        };
        assert!(e.to_string().starts_with("tcp connect error: "), "{e}");
    }
}
