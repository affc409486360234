//! The archiver's own metrics and health, and one function per event that logs it, bumps
//! its counter and sets its gauge together, so no event can update one and forget another.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use serde::Serialize;
use slog::{Logger, debug, info, warn};

/// A link's state as `/healthz` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Link {
    Unknown,
    Up,
    Down,
}

/// The last batch written.
#[derive(Clone, Debug, Serialize)]
pub struct LastBatch {
    pub rows: usize,
    /// When it was committed, Unix milliseconds.
    pub at_ms: u64,
    /// From its first record to its commit.
    pub latency_ms: u64,
}

/// `/healthz`'s body.
#[derive(Clone, Debug, Serialize)]
pub struct Health {
    pub database: Link,
    pub kafka: Link,
    pub last_batch: Option<LastBatch>,
    /// The topic's partitions the group gave this archiver, as last seen.
    pub partitions: Vec<i32>,
}

/// Everything the archiver counts, and its health.
pub struct ArchiveMetrics {
    log: Logger,
    registry: Registry,
    rows: Counter,
    batches: Counter,
    bad_records: Counter,
    db_errors: Counter,
    db_up: Gauge,
    batch_seconds: Histogram,
    lag: Family<Vec<(String, String)>, Gauge>,
    health: Mutex<(Health, Option<Instant>)>,
}

impl ArchiveMetrics {
    pub fn new(log: Logger) -> ArchiveMetrics {
        let mut registry = Registry::with_prefix("telemetryd_archive");
        let rows = Counter::default();
        let batches = Counter::default();
        let bad_records = Counter::default();
        let db_errors = Counter::default();
        let db_up = Gauge::default();
        let batch_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 15));
        let lag = Family::default();
        registry.register("rows", "Rows written to the database", rows.clone());
        registry.register("batches", "Batches committed", batches.clone());
        registry.register(
            "bad_records",
            "Records that were not a sample, skipped",
            bad_records.clone(),
        );
        registry.register(
            "db_errors",
            "Failed database statements (each retried)",
            db_errors.clone(),
        );
        registry.register("db_up", "1 while the database answers", db_up.clone());
        registry.register(
            "batch_seconds",
            "From a batch's first record to its commit",
            batch_seconds.clone(),
        );
        registry.register(
            "consumer_lag",
            "Records in the partition not yet committed by this group",
            lag.clone(),
        );
        ArchiveMetrics {
            log,
            registry,
            rows,
            batches,
            bad_records,
            db_errors,
            db_up,
            batch_seconds,
            lag,
            health: Mutex::new((
                Health {
                    database: Link::Unknown,
                    kafka: Link::Unknown,
                    last_batch: None,
                    partitions: Vec::new(),
                },
                None,
            )),
        }
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }

    pub fn health(&self) -> Health {
        self.lock().0.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Health, Option<Instant>)> {
        self.health.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A record that is not a sample: counted and skipped.
    pub fn bad_record(&self, partition: i32, offset: i64, error: &dyn std::fmt::Display) {
        self.bad_records.inc();
        debug!(self.log, "Bad record skipped."; "partition" => partition, "offset" => offset, "error" => %error);
    }

    /// A statement succeeded: the database is up. Logs once per change.
    pub fn db_succeeded(&self) {
        let mut h = self.lock();
        match h.0.database {
            Link::Up => return,
            Link::Unknown => info!(self.log, "Connected to the database."),
            Link::Down => {
                let down_ms = h.1.map_or(0, |since| since.elapsed().as_millis() as u64);
                info!(self.log, "Database reachable again; resuming."; "down_ms" => down_ms);
            }
        }
        h.0.database = Link::Up;
        h.1 = None;
        self.db_up.set(1);
    }

    /// A statement failed: counted; logged once when the database goes away.
    pub fn db_failed(&self, error: &dyn std::fmt::Display) {
        self.db_errors.inc();
        let mut h = self.lock();
        if h.0.database == Link::Down {
            debug!(self.log, "Database still unreachable."; "error" => %error);
            return;
        }
        warn!(self.log, "Database unreachable; holding the batch and retrying."; "error" => %error);
        h.0.database = Link::Down;
        h.1 = Some(Instant::now());
        self.db_up.set(0);
    }

    /// Kafka answered (or not) the last metadata request.
    pub fn kafka(&self, up: bool) {
        let mut h = self.lock();
        let now = if up { Link::Up } else { Link::Down };
        if h.0.kafka != now {
            match now {
                Link::Up => info!(self.log, "Kafka reachable."),
                _ => warn!(self.log, "Kafka unreachable."),
            }
            h.0.kafka = now;
        }
    }

    /// A batch of `rows` rows committed, `took` after its first record arrived.
    pub fn batch_written(&self, rows: usize, took: Duration) {
        self.rows.inc_by(rows as u64);
        self.batches.inc();
        self.batch_seconds.observe(took.as_secs_f64());
        let at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        self.lock().0.last_batch = Some(LastBatch {
            rows,
            at_ms,
            latency_ms: took.as_millis() as u64,
        });
    }

    /// The partitions assigned now (sorted); logged when they change, and the lag of a
    /// partition that went elsewhere is no longer reported.
    pub fn assigned(&self, partitions: Vec<i32>) {
        let mut h = self.lock();
        if h.0.partitions == partitions {
            return;
        }
        for gone in h.0.partitions.iter().filter(|p| !partitions.contains(p)) {
            self.lag
                .remove(&vec![("partition".into(), gone.to_string())]);
        }
        let list: Vec<String> = partitions.iter().map(|p| p.to_string()).collect();
        info!(self.log, "Partitions assigned."; "partitions" => list.join(","));
        h.0.partitions = partitions;
    }

    /// Sets the lag of `partition`.
    pub fn lag(&self, partition: i32, lag: i64) {
        self.lag
            .get_or_create(&vec![("partition".into(), partition.to_string())])
            .set(lag.max(0));
    }
}
