//! The daemon's own metrics (requests, Redis writes and reads, the writer's backlog),
//! updated where things happen. They import nothing of the daemon: `http::prometheus`
//! registers them beside the switch telemetry it reads from the cache at each scrape.

use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

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
    /// Request lines not written because the listener's line budget was spent.
    pub http_request_lines_skipped: Family<[(&'static str, &'static str); 1], Counter>,
    pub redis_writes: Counter,
    pub redis_write_errors: Counter,
    pub redis_samples_written: Counter,
    pub redis_batch_size: Histogram,
    pub redis_reads: Counter,
    pub redis_read_errors: Counter,
    pub redis_up: Gauge,
    pub writer_pending: Gauge,
    /// Samples by what became of them on the way to Kafka: delivered, dropped (the queue
    /// was full: the oldest go), failed (librdkafka gave up on them).
    pub kafka_records: Family<[(&'static str, &'static str); 1], Counter>,
    pub kafka_up: Gauge,
    /// Samples held for Kafka: queued in the daemon and in librdkafka.
    pub kafka_queue: Gauge,
    /// Connections each listener holds open now.
    pub http_open_connections: Family<ListenerLabels, Gauge>,
    /// Most connections each listener holds open at once (see `http::conn`).
    pub http_connection_limit: Family<ListenerLabels, Gauge>,
    /// Times each listener reached its connection limit and stopped accepting.
    pub http_connection_limit_reached: Family<ListenerLabels, Counter>,
    /// Requests answered 429, by client: a token's name, or `anonymous`.
    pub http_rate_limited: Family<[(&'static str, String); 1], Counter>,
    /// Anonymous clients (source addresses) the rate limiter holds state for.
    pub http_rate_limit_clients: Gauge,
    /// Faults injected into the fabric (`fabric.enabled`), by kind.
    pub fabric_faults: Family<[(&'static str, &'static str); 1], Counter>,
}

impl Default for DaemonMetrics {
    fn default() -> Self {
        DaemonMetrics {
            http_requests: Family::default(),
            // 25 µs to about 3 s.
            http_latency: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(25e-6, 2.0, 18))
            }),
            http_request_lines_skipped: Family::default(),
            redis_writes: Counter::default(),
            redis_write_errors: Counter::default(),
            redis_samples_written: Counter::default(),
            redis_batch_size: Histogram::new(exponential_buckets(1.0, 4.0, 10)),
            redis_reads: Counter::default(),
            redis_read_errors: Counter::default(),
            redis_up: Gauge::default(),
            writer_pending: Gauge::default(),
            kafka_records: Family::default(),
            kafka_up: Gauge::default(),
            kafka_queue: Gauge::default(),
            http_open_connections: Family::default(),
            http_connection_limit: Family::default(),
            http_connection_limit_reached: Family::default(),
            http_rate_limited: Family::default(),
            http_rate_limit_clients: Gauge::default(),
            fabric_faults: Family::default(),
        }
    }
}

impl DaemonMetrics {
    /// Registers every metric of the daemon's own in `registry`, under its Prometheus name.
    pub fn register(&self, registry: &mut Registry) {
        let d = self;
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
            "telemetryd_http_request_lines_skipped",
            "Request log lines skipped by listener (over its lines per second)",
            d.http_request_lines_skipped.clone(),
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
            "1 while Redis answers (writes while simulating, reads otherwise), else 0",
            d.redis_up.clone(),
        );
        registry.register(
            "telemetryd_writer_pending_samples",
            "Samples waiting for Redis (at most one per switch)",
            d.writer_pending.clone(),
        );
        registry.register(
            "telemetryd_kafka_records",
            "Samples by outcome on the way to Kafka: delivered, dropped (queue full, oldest first), failed",
            d.kafka_records.clone(),
        );
        registry.register(
            "telemetryd_http_rate_limited",
            "Requests answered 429 Too Many Requests, by client (token name or anonymous)",
            d.http_rate_limited.clone(),
        );
        registry.register(
            "telemetryd_fabric_faults",
            "Faults injected into the fabric (scenario file and POST /fabric/faults), by kind",
            d.fabric_faults.clone(),
        );
        registry.register(
            "telemetryd_http_rate_limit_clients",
            "Anonymous clients (source addresses) the rate limiter holds state for",
            d.http_rate_limit_clients.clone(),
        );
        registry.register(
            "telemetryd_kafka_up",
            "1 while Kafka takes records, else 0 (0 too before the first delivery)",
            d.kafka_up.clone(),
        );
        registry.register(
            "telemetryd_kafka_queued_samples",
            "Samples held for Kafka, in the daemon's queue and librdkafka's",
            d.kafka_queue.clone(),
        );
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
