//! `telemetryd archive`: joins the consumer group `archive.group` on `kafka.topic` and
//! writes every sample into the database (`history.database`), exactly once.
//!
//! | file | role |
//! |---|---|
//! | [`batch`] | rows and the offsets to commit after them (pure) |
//! | [`consume`] | the loop: records -> batch -> rows committed -> commit offsets; retention; lag |
//! | [`db`] | the multi-row insert, the retention deletes, the backoff |
//! | [`metrics`] | counters, gauges and health, one function per event |
//! | [`http`] | `/healthz` and `/metrics` on `archive.host:archive.port` |
//!
//! Stop order, and why: the loop first (its batch written and committed, so nothing
//! written is read again), then the listener (it reports until the end), then the
//! consumer is dropped (it leaves the group, so its partitions move at once).

pub mod batch;
pub mod consume;
pub mod db;
pub mod http;
pub mod metrics;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rdkafka::ClientConfig;
use rdkafka::consumer::StreamConsumer;
use slog::Logger;
use tokio::sync::watch;

use crate::Config;
use consume::ArchiveLoop;
use metrics::ArchiveMetrics;

/// Longest the stop waits for the consumer to leave its group.
const LEAVE_BUDGET: std::time::Duration = std::time::Duration::from_secs(3);

/// Why the archiver cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("archive needs {0} to be set")]
    NotConfigured(&'static str),
    #[error("kafka consumer: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error(transparent)]
    Sql(#[from] crate::sql::SqlError),
    #[error("cannot listen on {addr}: {error}")]
    Bind { addr: String, error: std::io::Error },
}

/// The settings `archive` needs beyond the rest; an error here is a config error (78).
pub fn check(config: &Config) -> Result<(), ArchiveError> {
    if config.history.database.is_none() {
        return Err(ArchiveError::NotConfigured("history.database"));
    }
    if !config.kafka.enabled() {
        return Err(ArchiveError::NotConfigured("kafka.brokers"));
    }
    Ok(())
}

/// The running archiver; [`Archiver::shutdown`] stops it in order.
pub struct Archiver {
    /// Where `/healthz` and `/metrics` answer.
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    server: actix_web::dev::ServerHandle,
    consumer: Arc<StreamConsumer>,
    /// Closed at the stop, so the database sees each connection end cleanly.
    pool: sqlx::mysql::MySqlPool,
    /// False once the loop has ended (asked to, or unable to subscribe).
    looping: Arc<AtomicBool>,
}

/// Starts the listener and the loop (which migrates, then joins the group). Must run in
/// an actix System.
pub async fn run(config: Config, log: Logger) -> Result<Archiver, ArchiveError> {
    check(&config)?;
    // Two connections for a batch's two halves (db::insert), one for the retention deletes.
    let pool = crate::sql::pool(&config.history, 3)?;
    let mut client = ClientConfig::new();
    if let Some(id) = &config.archive.instance_id {
        // A static member: restarted (systemd after a crash), it is given its partitions
        // back at once, without a rebalance.
        client.set("group.instance.id", id);
    }
    let consumer: StreamConsumer = client
        .set("bootstrap.servers", config.kafka.brokers.join(","))
        .set("group.id", &config.archive.group)
        // Offsets are committed by hand, after the rows are in the database.
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        // A member that died (SIGKILL) gives its partitions up within 10 s.
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000")
        // librdkafka waits 1 s before fetching again once its queue is over its threshold;
        // the archiver drains that queue in a fraction of it and then sat idle (stalls of
        // 200-750 ms a second in bench/streaming.sh). Fetch again soon, and more at once.
        .set("fetch.queue.backoff.ms", "20")
        .set("fetch.wait.max.ms", "100")
        .set("max.partition.fetch.bytes", "8388608")
        .create()?;
    let consumer = Arc::new(consumer);
    let metrics = Arc::new(ArchiveMetrics::new(log.clone()));
    let addr = format!("{}:{}", config.archive.host, config.archive.port);
    let bind = |error| ArchiveError::Bind {
        addr: addr.clone(),
        error,
    };
    let parsed: SocketAddr = addr.parse().map_err(|_| {
        bind(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not an address",
        ))
    })?;
    let (server, bound) = http::serve(parsed, metrics.clone()).map_err(bind)?;
    let handle = server.handle();
    actix_web::rt::spawn(server);
    let (stop, stopped) = watch::channel(false);
    let archive = ArchiveLoop {
        consumer: consumer.clone(),
        pool: pool.clone(),
        topic: config.kafka.topic.clone(),
        batch_size: config.archive.batch_size,
        batch_wait: config.archive.batch_wait(),
        retention: config.archive.retention(),
        retention_batch: config.archive.retention_batch,
        stop_budget: config.shutdown.timeout(),
        metrics,
        committed: Default::default(),
        log: log.clone(),
    };
    let looping = Arc::new(AtomicBool::new(true));
    let flag = looping.clone();
    let task = actix_web::rt::spawn(async move {
        archive.run(stopped).await;
        flag.store(false, Ordering::Relaxed);
    });
    slog::info!(log, "Archiver listening."; "addr" => %bound);
    Ok(Archiver {
        addr: bound,
        stop,
        task,
        server: handle,
        consumer,
        pool,
        looping,
    })
}

impl Archiver {
    /// Whether the archive loop still runs: what the systemd watchdog checks.
    pub fn looping(&self) -> Arc<AtomicBool> {
        self.looping.clone()
    }

    /// Stops in the order of the module's doc.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        self.server.stop(true).await;
        // Quits each connection (MariaDB logs "Aborted connection" for one dropped unclosed).
        let _ = tokio::time::timeout(LEAVE_BUDGET, self.pool.close()).await;
        // Leaving the group waits for the broker; one that is gone must not hold the stop
        // until systemd's SIGKILL. Past the budget the process exits with it unfinished.
        let consumer = self.consumer;
        let left = tokio::task::spawn_blocking(move || drop(consumer));
        let _ = tokio::time::timeout(LEAVE_BUDGET, left).await;
    }
}
