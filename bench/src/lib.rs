//! Shared pieces of the sluice benchmark harness:
//!
//! - [`parse`]: a sans-IO HTTP/1.1 response parser (content-length, chunked,
//!   read-to-close) that also splits SSE / NDJSON bodies into events and
//!   reads the `<ts=NANOS>` send-time marker the mock upstream puts in every
//!   content event;
//! - [`client`]: a keep-alive HTTP/1.1 client connection on top of it;
//! - [`stats`]: HDR histogram helpers and their JSON summaries;
//! - [`mode`]: how the mock upstream reads its behaviour from the model name.
//!
//! The binaries: `bench-upstream` (the mock), `bench-load` (the load
//! generator) and `bench-run` (the orchestrator behind `bench/run.sh`).

pub mod client;
pub mod mode;
pub mod parse;
pub mod stats;

/// Wall-clock nanoseconds since the Unix epoch (comparable across processes
/// on one machine; used for per-event delivery latency).
pub fn realtime_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// A tiny `--flag value` argument reader for the binaries (no clap: the
/// crate must build fast).
pub struct Args {
    items: Vec<String>,
}

impl Args {
    pub fn new(items: Vec<String>) -> Self {
        Args { items }
    }

    /// `--name`, and `-x` too for one-letter names.
    fn matches(name: &str, arg: &str) -> Option<Option<String>> {
        let long = format!("--{name}");
        let short = format!("-{name}");
        for f in [long.as_str(), short.as_str()] {
            if f == short && name.len() != 1 {
                continue;
            }
            if arg == f {
                return Some(None);
            }
            if let Some(v) = arg.strip_prefix(f).and_then(|r| r.strip_prefix('=')) {
                return Some(Some(v.to_string()));
            }
        }
        None
    }

    /// The value after `--name` (or `-x` for one-letter names), if present.
    pub fn get(&self, name: &str) -> Option<String> {
        self.all(name).into_iter().next()
    }

    /// Every value after each `--name`.
    pub fn all(&self, name: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut it = self.items.iter();
        while let Some(x) = it.next() {
            match Self::matches(name, x) {
                Some(Some(v)) => out.push(v),
                Some(None) => {
                    if let Some(v) = it.next() {
                        out.push(v.clone());
                    }
                }
                None => {}
            }
        }
        out
    }

    pub fn flag(&self, name: &str) -> bool {
        self.items
            .iter()
            .any(|x| Self::matches(name, x) == Some(None))
    }

    pub fn num<T: std::str::FromStr>(&self, name: &str, default: T) -> T {
        match self.get(name) {
            Some(v) => v.parse().unwrap_or_else(|_| {
                eprintln!("--{name}: not a number: {v}");
                std::process::exit(2)
            }),
            None => default,
        }
    }

    pub fn req(&self, name: &str) -> String {
        self.get(name).unwrap_or_else(|| {
            eprintln!("missing --{name}");
            std::process::exit(2)
        })
    }
}

/// An `http://host:port/path` URL, split.
#[derive(Debug, Clone)]
pub struct Url {
    pub addr: std::net::SocketAddr,
    pub host: String,
    pub path: String,
}

impl Url {
    pub fn parse(url: &str) -> Result<Url, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url}: only http:// URLs are supported"))?;
        let (hostport, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        use std::net::ToSocketAddrs;
        let addr = hostport
            .to_socket_addrs()
            .map_err(|e| format!("{url}: {e}"))?
            .next()
            .ok_or_else(|| format!("{url}: no address"))?;
        Ok(Url {
            addr,
            host: hostport.to_string(),
            path: path.to_string(),
        })
    }

    /// A complete HTTP/1.1 request: POST with a JSON body, or GET without one.
    pub fn request(&self, body: Option<&[u8]>, headers: &[String]) -> Vec<u8> {
        let mut head = String::new();
        let method = if body.is_some() { "POST" } else { "GET" };
        head.push_str(&format!(
            "{method} {} HTTP/1.1\r\nhost: {}\r\n",
            self.path, self.host
        ));
        for h in headers {
            head.push_str(h);
            head.push_str("\r\n");
        }
        if let Some(b) = body {
            head.push_str(&format!(
                "content-type: application/json\r\ncontent-length: {}\r\n",
                b.len()
            ));
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        if let Some(b) = body {
            out.extend_from_slice(b);
        }
        out
    }
}
