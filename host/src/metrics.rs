//! Prometheus metrics, served at `GET /metrics` (OpenMetrics text).
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `sluice_requests_total` | `route`, `status` | requests answered |
//! | `sluice_request_duration_seconds` | `route` | time to the response head (streams: to the first byte, not the end) |
//! | `sluice_plugin_calls_total` | `plugin`, `version`, `state` | calls into a plugin version |
//! | `sluice_plugin_traps_total` | `plugin`, `version`, `state` | traps, deadline and memory overruns |
//! | `sluice_plugin_instances_created_total` | `plugin`, `version`, `state` | instances created (pool refills, fresh instances) |
//! | `sluice_plugin_idle_instances` | `plugin`, `version`, `state` | warm instances waiting in the pool |
//! | `sluice_plugin_stream_instances` | `plugin`, `version`, `state` | instances holding open streams' state |
//! | `sluice_reloads_total` | `result` (`applied`, `applied_with_problems`, `refused`) | reloads |
//! | `sluice_plugin_load_failures_total` | | plugin files refused at load or reload |
//!
//! `state` is `active` or `disabled` (taken out after repeated traps).

use std::sync::atomic::Ordering;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::plugin::Registry as Plugins;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginLabels {
    plugin: String,
    version: String,
    state: &'static str,
}

fn duration_histogram() -> Histogram {
    // 100 µs … ~105 s.
    Histogram::new(exponential_buckets(0.0001, 4.0, 11))
}

/// The gateway's own counters (plugin counters live with each plugin version).
#[derive(Debug)]
pub struct Metrics {
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabel, Histogram, fn() -> Histogram>,
    reloads: Family<ResultLabel, Counter>,
    load_failures: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: Family::default(),
            durations: Family::new_with_constructor(duration_histogram),
            reloads: Family::default(),
            load_failures: Counter::default(),
        }
    }
}

impl Metrics {
    /// Count one answered request.
    pub fn request(&self, route: &'static str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels { route, status })
            .inc();
        self.durations
            .get_or_create(&RouteLabel { route })
            .observe(seconds);
    }

    /// Count a reload and the plugin files it refused.
    pub fn reload(&self, applied: bool, problems: usize, load_failures: usize) {
        let result = match (applied, problems) {
            (false, _) => "refused",
            (true, 0) => "applied",
            (true, _) => "applied_with_problems",
        };
        self.reloads.get_or_create(&ResultLabel { result }).inc();
        self.load_failures.inc_by(load_failures as u64);
    }

    /// Count plugin files refused at start-up.
    pub fn load_failures(&self, n: usize) {
        self.load_failures.inc_by(n as u64);
    }

    /// The OpenMetrics text for a scrape.
    pub fn render(&self, plugins: &Plugins) -> String {
        let mut reg = Registry::default();
        reg.register(
            "sluice_requests",
            "Requests answered, by route and status",
            self.requests.clone(),
        );
        reg.register(
            "sluice_request_duration_seconds",
            "Time to the response head, by route",
            self.durations.clone(),
        );
        reg.register("sluice_reloads", "Reloads, by result", self.reloads.clone());
        reg.register(
            "sluice_plugin_load_failures",
            "Plugin files refused at load or reload",
            self.load_failures.clone(),
        );
        reg.register_collector(Box::new(PluginStats::from(plugins)));
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &reg).is_err() {
            out.clear();
        }
        out
    }
}

/// A scrape-time copy of every plugin version's counters.
#[derive(Debug)]
struct PluginStats {
    rows: Vec<(PluginLabels, [u64; 5])>,
}

impl From<&Plugins> for PluginStats {
    fn from(plugins: &Plugins) -> Self {
        let rows = plugins
            .iter_all()
            .map(|p| {
                let labels = PluginLabels {
                    plugin: p.info.name.clone(),
                    version: p.info.version.clone(),
                    state: p.state(),
                };
                let s = &p.stats;
                (
                    labels,
                    [
                        s.calls.load(Ordering::Relaxed),
                        s.traps.load(Ordering::Relaxed),
                        s.instances_created.load(Ordering::Relaxed),
                        p.idle_instances() as u64,
                        p.stream_instances() as u64,
                    ],
                )
            })
            .collect();
        PluginStats { rows }
    }
}

impl Collector for PluginStats {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let counters = [
            ("sluice_plugin_calls", "Calls into a plugin version"),
            (
                "sluice_plugin_traps",
                "Traps, deadline and memory overruns of a plugin version",
            ),
            (
                "sluice_plugin_instances_created",
                "Instances created for a plugin version",
            ),
        ];
        for (i, (name, help)) in counters.iter().enumerate() {
            let mut family = encoder.encode_descriptor(
                name,
                help,
                None,
                ConstCounter::new(0u64).metric_type(),
            )?;
            for (labels, values) in &self.rows {
                ConstCounter::new(values[i]).encode(family.encode_family(labels)?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "sluice_plugin_idle_instances",
            "Warm instances waiting in a plugin version's pool",
            None,
            ConstGauge::new(0i64).metric_type(),
        )?;
        for (labels, values) in &self.rows {
            ConstGauge::new(values[3] as i64).encode(family.encode_family(labels)?)?;
        }
        let mut family = encoder.encode_descriptor(
            "sluice_plugin_stream_instances",
            "Instances holding the state of open streams (shared by up to streams-per-instance streams)",
            None,
            ConstGauge::new(0i64).metric_type(),
        )?;
        for (labels, values) in &self.rows {
            ConstGauge::new(values[4] as i64).encode(family.encode_family(labels)?)?;
        }
        Ok(())
    }
}
