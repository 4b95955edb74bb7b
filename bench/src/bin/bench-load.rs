//! bench-load: the load generator (keep-alive HTTP/1.1, one thread, HDR
//! histograms in nanoseconds). Prints one JSON object on stdout.
//!
//! ```text
//! # one request at a time, alternating A and B (A,B then B,A, ...), N each:
//! bench-load lat --a URL --a-body FILE [--b URL --b-body FILE] -n N [--warmup W]
//!                [--parallel P] [--gap-limit-ms 200]
//! # fixed concurrency (closed loop) or fixed rate (open loop, latency from
//! # the intended send time, so it is corrected for coordinated omission):
//! bench-load load --url URL --body FILE -c C --duration S [--rate RPS]
//! # N concurrent streams (one connection each), started evenly over the ramp:
//! bench-load streams --url URL --body FILE -n N [--ramp-ms R] [--gap-limit-ms 200]
//! ```
//!
//! Common: `--header 'name: value'` (repeatable), `--timeout-ms` (per
//! request or stream, default 30000). A response is an error unless it is a
//! 200 and, when streamed, ends with its final event (`[DONE]`,
//! `message_stop`, `"done":true`).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{Value, json};
use sluice_bench::client::{Conn, Exchange};
use sluice_bench::parse::StreamKind;
use sluice_bench::stats::{hist, record, summary};
use sluice_bench::{Args, Url};

fn main() {
    let mut argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.is_empty() {
        eprintln!("usage: bench-load lat|load|streams ... (see the source header)");
        std::process::exit(2);
    }
    let cmd = argv.remove(0);
    let args = Args::new(argv);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let local = tokio::task::LocalSet::new();
    let out = local.block_on(&rt, async move {
        match cmd.as_str() {
            "lat" => lat(&args).await,
            "load" => load(&args).await,
            "streams" => streams(&args).await,
            other => {
                eprintln!("unknown command {other}");
                std::process::exit(2)
            }
        }
    });
    println!("{out}");
}

struct Target {
    url: Url,
    req: Vec<u8>,
}

fn target(args: &Args, url_key: &str, body_key: &str) -> Option<Target> {
    let url = args.get(url_key)?;
    let url = Url::parse(&url).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    let body = args.get(body_key).map(|f| {
        std::fs::read(&f).unwrap_or_else(|e| {
            eprintln!("{f}: {e}");
            std::process::exit(2)
        })
    });
    let req = url.request(body.as_deref(), &args.all("header"));
    Some(Target { url, req })
}

/// Everything measured for one side of a comparison (or one load).
struct Side {
    total: Histogram<u64>,
    first: Histogram<u64>,
    ev_lat: Histogram<u64>,
    gap: Histogram<u64>,
    connect: Histogram<u64>,
    mean_gap_sum: f64,
    mean_gap_n: u64,
    stalls: u64,
    ok: u64,
    errors: u64,
    kinds: BTreeMap<String, u64>,
    events: u64,
    streamed: bool,
}

impl Side {
    fn new() -> Self {
        Side {
            total: hist(),
            first: hist(),
            ev_lat: hist(),
            gap: hist(),
            connect: hist(),
            mean_gap_sum: 0.0,
            mean_gap_n: 0,
            stalls: 0,
            ok: 0,
            errors: 0,
            kinds: BTreeMap::new(),
            events: 0,
            streamed: false,
        }
    }

    fn error(&mut self, kind: &str) {
        self.errors += 1;
        let kind: String = kind.chars().take(120).collect();
        *self.kinds.entry(kind).or_default() += 1;
    }

    /// Record one exchange; `from` is when the request was due (fixed rate)
    /// or sent.
    fn record(&mut self, ex: &Exchange, from: Instant, gap_limit: Duration) {
        if let Some(c) = ex.connect {
            record(&mut self.connect, c.as_nanos() as u64);
        }
        if let Some(p) = ex.problem() {
            self.error(&p);
            return;
        }
        self.ok += 1;
        record(&mut self.total, (ex.end - from).as_nanos() as u64);
        if ex.kind == StreamKind::None {
            record(&mut self.first, (ex.end - from).as_nanos() as u64);
            return;
        }
        self.streamed = true;
        self.events += ex.events.len() as u64;
        if let Some(e) = ex.events.first() {
            record(&mut self.first, (e.at - from).as_nanos() as u64);
        }
        let mut stalled = false;
        for w in ex.events.windows(2) {
            let g = w[1].at - w[0].at;
            stalled |= g > gap_limit;
            record(&mut self.gap, g.as_nanos() as u64);
        }
        if stalled {
            self.stalls += 1;
        }
        let mut first_ts = None;
        let mut last_ts = None;
        let mut n_ts = 0u64;
        for e in &ex.events {
            if let Some(ts) = e.info.ts {
                record(&mut self.ev_lat, e.wall.saturating_sub(ts));
                first_ts.get_or_insert(e.at);
                last_ts = Some(e.at);
                n_ts += 1;
            }
        }
        if let (Some(a), Some(b)) = (first_ts, last_ts)
            && n_ts >= 2
        {
            self.mean_gap_sum += (b - a).as_nanos() as f64 / (n_ts - 1) as f64;
            self.mean_gap_n += 1;
        }
    }

    fn json(&self) -> Value {
        let mut v = json!({
            "ok": self.ok,
            "errors": self.errors,
            "error_kinds": self.kinds,
            "latency": summary(&self.total),
            "streamed": self.streamed,
        });
        if !self.connect.is_empty() {
            v["connect"] = summary(&self.connect);
        }
        if self.streamed {
            v["ttfe"] = summary(&self.first);
            v["event_latency"] = summary(&self.ev_lat);
            v["gap"] = summary(&self.gap);
            v["max_gap_ms"] = json!(self.gap.max() as f64 / 1e6);
            v["mean_gap_us"] = json!(if self.mean_gap_n > 0 {
                self.mean_gap_sum / self.mean_gap_n as f64 / 1000.0
            } else {
                0.0
            });
            v["stalled_streams"] = json!(self.stalls);
            v["events"] = json!(self.events);
        }
        v
    }
}

async fn send(
    conn: &mut Conn,
    req: &[u8],
    ex: &mut Exchange,
    timeout: Duration,
) -> Result<(), String> {
    match tokio::time::timeout(timeout, conn.send(req, ex)).await {
        Ok(r) => r,
        Err(_) => {
            conn.disconnect();
            Err(format!("timeout after {} ms", timeout.as_millis()))
        }
    }
}

fn common(args: &Args) -> (Duration, Duration) {
    (
        Duration::from_millis(args.num("timeout-ms", 30_000u64)),
        Duration::from_millis(args.num("gap-limit-ms", 200u64)),
    )
}

/// One request at a time per task, alternating A and B.
async fn lat(args: &Args) -> Value {
    let a = Rc::new(target(args, "a", "a-body").unwrap_or_else(|| {
        eprintln!("missing --a");
        std::process::exit(2)
    }));
    let b = target(args, "b", "b-body").map(Rc::new);
    let n: u64 = args.num("n", 10_000);
    let warmup: u64 = args.num("warmup", n / 10);
    let parallel: u64 = args.num("parallel", 1u64).max(1);
    let (timeout, gap_limit) = common(args);
    let started = Instant::now();
    // One histogram set per side, shared by the tasks (one thread): per-task
    // histograms would cost ~1 MiB each to allocate and merge.
    let shared_a = Rc::new(RefCell::new(Side::new()));
    let shared_b = Rc::new(RefCell::new(Side::new()));
    let mut tasks = Vec::new();
    for t in 0..parallel {
        let a = a.clone();
        let b = b.clone();
        let sa = shared_a.clone();
        let sb = shared_b.clone();
        // Split n (and the warm-up) over the tasks.
        let mine = n / parallel + u64::from(t < n % parallel);
        let warm = warmup / parallel + u64::from(t < warmup % parallel);
        tasks.push(tokio::task::spawn_local(async move {
            let mut ca = Conn::new(a.url.addr);
            let mut cb = b.as_ref().map(|b| Conn::new(b.url.addr));
            let mut ex = Exchange::default();
            for i in 0..warm + mine {
                let keep = i >= warm;
                let order = if i % 2 == 0 { [0, 1] } else { [1, 0] };
                for side in order {
                    let (conn, tgt, stats) = match (side, cb.as_mut(), b.as_ref()) {
                        (0, _, _) => (&mut ca, &*a, &sa),
                        (_, Some(c), Some(t)) => (c, &**t, &sb),
                        _ => continue,
                    };
                    match send(conn, &tgt.req, &mut ex, timeout).await {
                        Ok(()) if keep => stats.borrow_mut().record(&ex, ex.start, gap_limit),
                        Ok(()) => {}
                        Err(e) if keep => {
                            stats.borrow_mut().error(&e);
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                        Err(_) => tokio::time::sleep(Duration::from_millis(1)).await,
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let sa = shared_a.borrow();
    let sb = shared_b.borrow();
    let mut out = json!({
        "mode": "lat",
        "n": n,
        "warmup": warmup,
        "parallel": parallel,
        "elapsed_s": started.elapsed().as_secs_f64(),
        "a": sa.json(),
    });
    if b.is_some() {
        out["b"] = sb.json();
    }
    out
}

/// Fixed concurrency or fixed rate over a duration.
async fn load(args: &Args) -> Value {
    let t = Rc::new(target(args, "url", "body").unwrap_or_else(|| {
        eprintln!("missing --url");
        std::process::exit(2)
    }));
    let conns: u64 = args.num("c", 64u64).max(1);
    let duration = Duration::from_secs_f64(args.num("duration", 10.0f64));
    let rate: f64 = args.num("rate", 0.0f64);
    let (timeout, gap_limit) = common(args);
    let start = Instant::now();
    let deadline = start + duration;
    let shared = Rc::new(RefCell::new(Side::new()));
    let mut tasks = Vec::new();
    for c in 0..conns {
        let t = t.clone();
        let side = shared.clone();
        tasks.push(tokio::task::spawn_local(async move {
            let mut conn = Conn::new(t.url.addr);
            let mut ex = Exchange::default();
            let period = if rate > 0.0 {
                Some(Duration::from_secs_f64(conns as f64 / rate))
            } else {
                None
            };
            let mut k: u32 = 0;
            loop {
                let due = match period {
                    Some(p) => {
                        let due = start + p.mul_f64(c as f64 / conns as f64) + p * k;
                        k += 1;
                        if due >= deadline {
                            break;
                        }
                        tokio::time::sleep_until(due.into()).await;
                        Some(due)
                    }
                    None => None,
                };
                // Fixed rate: every request due before the deadline is
                // sent, also one that falls due while its connection is
                // still busy, so the count is rate × duration exactly.
                if period.is_none() && Instant::now() >= deadline {
                    break;
                }
                match send(&mut conn, &t.req, &mut ex, timeout).await {
                    Ok(()) => side
                        .borrow_mut()
                        .record(&ex, due.unwrap_or(ex.start), gap_limit),
                    Err(e) => {
                        side.borrow_mut().error(&e);
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
            }
            conn.connects
        }));
    }
    let mut connects = 0;
    for t in tasks {
        connects += t.await.expect("task");
    }
    let side = shared.borrow();
    let elapsed = start.elapsed().as_secs_f64();
    let mut out = side.json();
    out["mode"] = json!("load");
    out["connections"] = json!(conns);
    out["rate"] = json!(rate);
    out["duration_s"] = json!(elapsed);
    out["rps"] = json!(side.ok as f64 / elapsed);
    out["connects"] = json!(connects);
    out
}

/// N concurrent streams, one connection each.
async fn streams(args: &Args) -> Value {
    let t = Rc::new(target(args, "url", "body").unwrap_or_else(|| {
        eprintln!("missing --url");
        std::process::exit(2)
    }));
    let n: u64 = args.num("n", 100u64).max(1);
    let ramp = Duration::from_millis(args.num("ramp-ms", 1000u64));
    let (timeout, gap_limit) = common(args);
    let start = Instant::now();
    let shared = Rc::new(RefCell::new(Side::new()));
    let mut tasks = Vec::new();
    for i in 0..n {
        let t = t.clone();
        let side = shared.clone();
        tasks.push(tokio::task::spawn_local(async move {
            tokio::time::sleep_until((start + ramp.mul_f64(i as f64 / n as f64)).into()).await;
            let mut conn = Conn::new(t.url.addr);
            let mut ex = Exchange::default();
            match send(&mut conn, &t.req, &mut ex, timeout).await {
                Ok(()) => side.borrow_mut().record(&ex, ex.start, gap_limit),
                Err(e) => side.borrow_mut().error(&e),
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let side = shared.borrow();
    let mut out = side.json();
    out["mode"] = json!("streams");
    out["n"] = json!(n);
    out["elapsed_s"] = json!(start.elapsed().as_secs_f64());
    out
}
