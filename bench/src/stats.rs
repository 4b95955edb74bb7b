//! HDR histograms (nanoseconds) and their JSON summaries (microseconds).

use hdrhistogram::Histogram;
use serde_json::{Value, json};

/// A histogram of nanoseconds, 1 ns to 10 minutes, 3 significant digits.
pub fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000_000, 3).expect("histogram bounds")
}

pub fn record(h: &mut Histogram<u64>, ns: u64) {
    h.saturating_record(ns.max(1));
}

/// count, mean and percentiles in microseconds.
pub fn summary(h: &Histogram<u64>) -> Value {
    if h.is_empty() {
        return json!({"count": 0});
    }
    let us = |ns: u64| ns as f64 / 1000.0;
    json!({
        "count": h.len(),
        "min_us": us(h.min()),
        "mean_us": h.mean() / 1000.0,
        "p50_us": us(h.value_at_quantile(0.50)),
        "p90_us": us(h.value_at_quantile(0.90)),
        "p99_us": us(h.value_at_quantile(0.99)),
        "p999_us": us(h.value_at_quantile(0.999)),
        "max_us": us(h.max()),
    })
}
