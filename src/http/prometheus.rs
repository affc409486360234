//! `GET /metrics` on the metrics listener: the switch telemetry (one series per switch,
//! labelled `switch`, read from the latest snapshot at scrape time) and the daemon's own
//! metrics (`crate::metrics`), in the Prometheus text format.

use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::cache::CacheView;
use crate::metrics::DaemonMetrics;
use crate::model::{METRICS, Metric, MetricKind, Value, now_unix_ms};

pub use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

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
        daemon.register(&mut registry);
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
        if let Some(me) = self.0.shard() {
            let mut info = encoder.encode_descriptor(
                "telemetryd_shard",
                "The shard this instance simulates (telemetry.shard), of how many",
                None,
                MetricType::Gauge,
            )?;
            let labels = [
                ("index", me.index.to_string()),
                ("count", me.count.to_string()),
            ];
            ConstGauge::new(1.0).encode(info.encode_family(&labels)?)?;
            let mut ages = encoder.encode_descriptor(
                "telemetryd_shard_oldest_sample_age_seconds",
                "Age of the oldest sample the API serves, per shard (every instance serves all)",
                None,
                MetricType::Gauge,
            )?;
            let now = now_unix_ms();
            for (index, (_, oldest)) in snapshot.per_shard(me.count).into_iter().enumerate() {
                let age = oldest.map_or(0.0, |ms| now.saturating_sub(ms) as f64 / 1000.0);
                ConstGauge::new(age)
                    .encode(ages.encode_family(&[("shard", index.to_string())])?)?;
            }
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
    use crate::metrics::RequestMetrics;

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
