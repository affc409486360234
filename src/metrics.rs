//! Prometheus: the switch telemetry (one series per switch, labelled `switch`) and the
//! daemon's own metrics, served at `GET /metrics` on the metrics listener in the Prometheus
//! text format.

use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::cache::CacheView;
use crate::model::{METRICS, Metric, MetricKind, Value, now_unix_ms};

pub use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Labels of a request counter: (listener, route pattern), status code. Static strings and
/// a number, so counting a request allocates nothing.
pub type RequestLabels = (RouteLabels, [(&'static str, u16); 1]);
/// Labels of a latency histogram: listener, route pattern.
pub type RouteLabels = [(&'static str, &'static str); 2];
/// Labels of a per-listener series: the listener's config key.
pub type ListenerLabels = [(&'static str, &'static str); 1];

/// The daemon's own metrics, updated where things happen (HTTP middleware, writer, cache).
#[derive(Debug)]
pub struct DaemonMetrics {
    pub http_requests: Family<RequestLabels, Counter>,
    pub http_latency: Family<RouteLabels, Histogram>,
    pub redis_writes: Counter,
    pub redis_write_errors: Counter,
    pub redis_samples_written: Counter,
    pub redis_batch_size: Histogram,
    pub redis_reads: Counter,
    pub redis_read_errors: Counter,
    pub redis_up: Gauge,
    pub writer_pending: Gauge,
    /// Connections each listener holds open now.
    pub http_open_connections: Family<ListenerLabels, Gauge>,
    /// Most connections each listener holds open at once (see `http::conn`).
    pub http_connection_limit: Family<ListenerLabels, Gauge>,
    /// Times each listener reached its connection limit and stopped accepting.
    pub http_connection_limit_reached: Family<ListenerLabels, Counter>,
}

impl Default for DaemonMetrics {
    fn default() -> Self {
        DaemonMetrics {
            http_requests: Family::default(),
            // 25 µs to about 3 s.
            http_latency: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(25e-6, 2.0, 18))
            }),
            redis_writes: Counter::default(),
            redis_write_errors: Counter::default(),
            redis_samples_written: Counter::default(),
            redis_batch_size: Histogram::new(exponential_buckets(1.0, 4.0, 10)),
            redis_reads: Counter::default(),
            redis_read_errors: Counter::default(),
            redis_up: Gauge::default(),
            writer_pending: Gauge::default(),
            http_open_connections: Family::default(),
            http_connection_limit: Family::default(),
            http_connection_limit_reached: Family::default(),
        }
    }
}

/// One listener's request metrics as one HTTP worker counts them: the counter and histogram
/// of each (route, status) are looked up in their families the first time that pair is seen
/// and kept, so a request then costs a short scan instead of hashing its labels twice. The
/// handles share their values with the families, so `/metrics` shows every worker's counts.
#[derive(Debug)]
pub struct RequestMetrics {
    daemon: Arc<DaemonMetrics>,
    listener: &'static str,
    /// (route, status, requests, latency), in the order first seen: a handful per listener.
    seen: Vec<(&'static str, u16, Counter, Histogram)>,
}

impl RequestMetrics {
    pub fn new(daemon: Arc<DaemonMetrics>, listener: &'static str) -> RequestMetrics {
        RequestMetrics {
            daemon,
            listener,
            seen: Vec::new(),
        }
    }

    /// Counts one request to `route` answered with `status` after `seconds`.
    pub fn observe(&mut self, route: &'static str, status: u16, seconds: f64) {
        let at = match self
            .seen
            .iter()
            .position(|(r, s, ..)| *s == status && *r == route)
        {
            Some(at) => at,
            None => {
                let route_labels = [("listener", self.listener), ("route", route)];
                let d = &self.daemon;
                let requests = d
                    .http_requests
                    .get_or_create(&(route_labels, [("status", status)]))
                    .clone();
                let latency = d.http_latency.get_or_create(&route_labels).clone();
                self.seen.push((route, status, requests, latency));
                self.seen.len() - 1
            }
        };
        let (_, _, requests, latency) = &self.seen[at];
        requests.inc();
        latency.observe(seconds);
    }
}

/// The registry behind `/metrics`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub daemon: Arc<DaemonMetrics>,
}

impl Metrics {
    /// Registers the daemon's metrics and the telemetry read from `view` at each scrape.
    pub fn new(view: CacheView) -> Metrics {
        let daemon = Arc::new(DaemonMetrics::default());
        let mut registry = Registry::default();
        let d = &daemon;
        registry.register(
            "telemetryd_http_requests",
            "HTTP requests by listener, route and status",
            d.http_requests.clone(),
        );
        registry.register(
            "telemetryd_http_request_duration_seconds",
            "HTTP request latency by listener and route",
            d.http_latency.clone(),
        );
        registry.register(
            "telemetryd_redis_writes",
            "Pipelined writes to Redis that succeeded",
            d.redis_writes.clone(),
        );
        registry.register(
            "telemetryd_redis_write_errors",
            "Pipelined writes to Redis that failed or timed out",
            d.redis_write_errors.clone(),
        );
        registry.register(
            "telemetryd_redis_samples_written",
            "Switch samples written to Redis",
            d.redis_samples_written.clone(),
        );
        registry.register(
            "telemetryd_redis_batch_size",
            "Switch samples per pipelined write",
            d.redis_batch_size.clone(),
        );
        registry.register(
            "telemetryd_redis_reads",
            "Reads of every switch's hash by the cache that succeeded",
            d.redis_reads.clone(),
        );
        registry.register(
            "telemetryd_redis_read_errors",
            "Reads of every switch's hash by the cache that failed",
            d.redis_read_errors.clone(),
        );
        registry.register(
            "telemetryd_redis_up",
            "1 while Redis takes writes, 0 while it does not",
            d.redis_up.clone(),
        );
        registry.register(
            "telemetryd_writer_pending_samples",
            "Samples waiting for Redis (at most one per switch)",
            d.writer_pending.clone(),
        );
        registry.register(
            "telemetryd_http_open_connections",
            "HTTP connections open, by listener",
            d.http_open_connections.clone(),
        );
        registry.register(
            "telemetryd_http_connection_limit",
            "Most HTTP connections a listener holds open at once; it stops accepting there",
            d.http_connection_limit.clone(),
        );
        registry.register(
            "telemetryd_http_connection_limit_reached",
            "Times a listener reached its connection limit",
            d.http_connection_limit_reached.clone(),
        );
        registry.register_collector(Box::new(TelemetryCollector(view)));
        Metrics { registry, daemon }
    }

    /// The Prometheus text exposition of everything.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail. (The encoder ends every HELP text with a period.)
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

/// Reads the latest snapshot at scrape time, so the switch series cost nothing between
/// scrapes.
#[derive(Debug)]
struct TelemetryCollector(CacheView);

impl Collector for TelemetryCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let snapshot = self.0.snapshot();
        for metric in METRICS {
            let (name, kind, convert) = series(metric);
            let mut family =
                encoder.encode_descriptor(name, metric.help().trim_end_matches('.'), None, kind)?;
            for state in snapshot.switches.iter().flatten() {
                let labels = [("switch", state.sample.switch.to_string())];
                let series = family.encode_family(&labels)?;
                match state.sample.value(metric) {
                    Value::Counter(n) => ConstCounter::new(n).encode(series)?,
                    Value::Gauge(v) => ConstGauge::new(convert(v)).encode(series)?,
                    Value::Timestamp(ms) => ConstGauge::new(convert(ms as f64)).encode(series)?,
                }
            }
        }
        let gauges: [(&str, &str, f64); 4] = [
            (
                "telemetryd_switches",
                "Switches in the fabric.",
                f64::from(snapshot.fabric_size()),
            ),
            (
                "telemetryd_unconfirmed_switches",
                "Switches whose latest sample Redis is not known to hold",
                snapshot.unconfirmed as f64,
            ),
            (
                "telemetryd_cache_age_seconds",
                "Time since the cache last published a snapshot",
                snapshot.published_at.elapsed().as_secs_f64(),
            ),
            (
                "telemetryd_oldest_sample_age_seconds",
                "Age of the oldest sample the API serves",
                snapshot
                    .oldest_ms
                    .map_or(0.0, |ms| now_unix_ms().saturating_sub(ms) as f64 / 1000.0),
            ),
        ];
        for (name, help, value) in gauges {
            let series = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            ConstGauge::new(value).encode(series)?;
        }
        Ok(())
    }
}

/// The Prometheus series of a telemetry metric: name, type, and the conversion from the
/// API's unit to Prometheus' base unit (seconds; bytes per second, 1 Mbit/s being
/// 125,000 B/s), as promtool's lint asks. Counters get `_total` from the encoder; the
/// timestamp follows the `_timestamp_seconds` convention.
fn series(metric: Metric) -> (&'static str, MetricType, fn(f64) -> f64) {
    // Values have three decimals: Mbit/s convert to whole bytes per second, and dividing
    // (not multiplying by 1e-3) keeps milliseconds free of binary rounding noise.
    let bytes_per_second: fn(f64) -> f64 = |mbps| (mbps * 125_000.0).round();
    let seconds: fn(f64) -> f64 = |ms| ms / 1000.0;
    match (metric, metric.kind()) {
        (Metric::BandwidthInMbps, _) => (
            "telemetry_bandwidth_in_bytes_per_second",
            MetricType::Gauge,
            bytes_per_second,
        ),
        (Metric::BandwidthOutMbps, _) => (
            "telemetry_bandwidth_out_bytes_per_second",
            MetricType::Gauge,
            bytes_per_second,
        ),
        (Metric::LatencyMs, _) => ("telemetry_latency_seconds", MetricType::Gauge, seconds),
        (Metric::PacketErrors, MetricKind::Counter) => {
            ("telemetry_packet_errors", MetricType::Counter, |n| n)
        }
        (Metric::PacketErrors, _) => ("telemetry_packet_errors", MetricType::Gauge, |n| n),
        (Metric::UpdatedAt, _) => (
            "telemetry_updated_at_timestamp_seconds",
            MetricType::Gauge,
            seconds,
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn request_metrics_of_two_workers_add_up_per_route_and_status() {
        let metrics = Metrics::new(CacheView::new(1, Duration::from_secs(1)));
        let mut worker_a = RequestMetrics::new(metrics.daemon.clone(), "metric_server");
        let mut worker_b = RequestMetrics::new(metrics.daemon.clone(), "metric_server");
        worker_a.observe("/telemetry/", 200, 0.001);
        worker_a.observe("/telemetry/", 200, 0.001);
        worker_b.observe("/telemetry/", 200, 0.001);
        worker_b.observe("/telemetry/", 304, 0.001);
        worker_a.observe("/healthz", 200, 0.001);

        let text = metrics.render();
        let series = |route: &str, status: u16| {
            format!(
                "telemetryd_http_requests_total{{listener=\"metric_server\",route=\"{route}\",status=\"{status}\"}} "
            )
        };
        assert!(text.contains(&(series("/telemetry/", 200) + "3")), "{text}");
        assert!(text.contains(&(series("/telemetry/", 304) + "1")), "{text}");
        assert!(text.contains(&(series("/healthz", 200) + "1")), "{text}");
        assert!(
            text.contains(
                "telemetryd_http_request_duration_seconds_count{listener=\"metric_server\",route=\"/telemetry/\"} 4"
            ),
            "{text}"
        );
    }
}
