//! The archiver's loop: records from the consumer group into a [`Batch`], the batch into
//! the database (every row committed), and only then the group's offsets. A crash anywhere
//! in between means records delivered again, which the insert ignores: each sample is
//! archived once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use slog::{Logger, info, warn};
use sqlx::mysql::MySqlPool;
use tokio::sync::watch;

use super::batch::Batch;
use super::db::{self, Backoff};
use super::metrics::ArchiveMetrics;
use crate::stream::record;

/// How often the lag gauges and Kafka's health are refreshed.
const LAG_INTERVAL: Duration = Duration::from_secs(5);
/// How often old rows are deleted.
const RETENTION_INTERVAL: Duration = Duration::from_secs(60);
/// Longest a metadata or watermark request to the broker may take.
const KAFKA_TIMEOUT: Duration = Duration::from_secs(2);

/// Next offset committed per partition, for the lag gauges.
pub type Committed = Arc<Mutex<HashMap<i32, i64>>>;

/// What the loop needs; see [`ArchiveLoop::run`].
pub struct ArchiveLoop {
    pub consumer: Arc<StreamConsumer>,
    pub pool: MySqlPool,
    pub topic: String,
    pub batch_size: usize,
    pub batch_wait: Duration,
    /// Rows older than this are deleted; None: kept.
    pub retention: Option<Duration>,
    pub retention_batch: u64,
    /// How long a batch may still be retried once asked to stop.
    pub stop_budget: Duration,
    pub metrics: Arc<ArchiveMetrics>,
    pub committed: Committed,
    pub log: Logger,
}

/// What one wait for a record gave.
enum Next {
    Stop,
    /// The batch's wait is over.
    Timeout,
    Record(i32, i64, Option<crate::model::Sample>),
    KafkaError(rdkafka::error::KafkaError),
}

impl ArchiveLoop {
    /// Migrates the schema (retried until the database answers), joins the group, then
    /// archives until `stop` changes; the batch in flight is written and committed first.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut backoff = Backoff::default();
        loop {
            // A stop does not wait for an attempt against a database that is away.
            let migrated = tokio::select! {
                migrated = crate::sql::MIGRATOR.run(&self.pool) => migrated,
                _ = stop.changed() => return,
            };
            match migrated {
                Ok(()) => break self.metrics.db_succeeded(),
                Err(e) => self.metrics.db_failed(&e),
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff.next_wait()) => {}
                _ = stop.changed() => return,
            }
        }
        // Joined only now: a member that cannot write would hold partitions it never reads.
        if let Err(e) = self.consumer.subscribe(&[&self.topic]) {
            warn!(self.log, "Cannot subscribe; stopping."; "topic" => &self.topic, "error" => %e);
            return;
        }
        info!(self.log, "Archiving."; "topic" => &self.topic);
        let retention = self.retention.map(|keep| {
            actix_web::rt::spawn(retain(
                self.pool.clone(),
                keep,
                self.retention_batch,
                self.metrics.clone(),
                self.log.clone(),
            ))
        });
        let lag = actix_web::rt::spawn(watch_lag(
            self.consumer.clone(),
            self.topic.clone(),
            self.committed.clone(),
            self.metrics.clone(),
        ));
        // Two batches at most: one being written (then its offsets committed) while the
        // next fills, so reading and decoding records overlap the database's work. Writes
        // and commits stay one at a time, in order; a database that is away holds the
        // filled batch and nothing more is read.
        let mut filling = Batch::default();
        let mut writing = Batch::default();
        let mut written_first: Option<Instant> = None;
        let mut stop_write = stop.clone();
        loop {
            let write = async {
                if let Some(first) = written_first {
                    self.write(&mut writing, first, false, &mut stop_write)
                        .await;
                }
            };
            let ((first, stopping), ()) = tokio::join!(self.fill(&mut filling, &mut stop), write);
            std::mem::swap(&mut filling, &mut writing);
            written_first = first;
            if stopping {
                if let Some(first) = written_first {
                    self.write(&mut writing, first, true, &mut stop_write).await;
                }
                break;
            }
        }
        lag.abort();
        if let Some(task) = retention {
            task.abort();
        }
    }

    /// Fills `batch` until it holds `batch_size` records or `batch_wait` has passed since
    /// its first; returns when that first arrived, and whether to stop.
    async fn fill(
        &self,
        batch: &mut Batch,
        stop: &mut watch::Receiver<bool>,
    ) -> (Option<Instant>, bool) {
        let mut first: Option<Instant> = None;
        while batch.len() < self.batch_size {
            let deadline = first.map(|t| tokio::time::Instant::from_std(t + self.batch_wait));
            let next = tokio::select! {
                biased;
                _ = stop.changed() => Next::Stop,
                next = self.next_record(deadline) => next,
            };
            match next {
                Next::Stop => return (first, true),
                Next::Timeout => break,
                Next::Record(partition, offset, sample) => {
                    first.get_or_insert_with(Instant::now);
                    batch.push(partition, offset, sample);
                }
                Next::KafkaError(e) => {
                    self.metrics.kafka(false);
                    slog::debug!(self.log, "Kafka error while consuming."; "error" => %e);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        (first, false)
    }

    /// The next record, decoded (a bad one is counted and yields no sample).
    async fn next_record(&self, deadline: Option<tokio::time::Instant>) -> Next {
        let received = match deadline {
            Some(d) => match tokio::time::timeout_at(d, self.consumer.recv()).await {
                Ok(r) => r,
                Err(_) => return Next::Timeout,
            },
            None => self.consumer.recv().await,
        };
        let m = match received {
            Ok(m) => m,
            Err(e) => return Next::KafkaError(e),
        };
        let (partition, offset) = (m.partition(), m.offset());
        let sample = match record::decode(m.payload().unwrap_or_default()) {
            Ok(s) => Some(s),
            Err(e) => {
                self.metrics.bad_record(partition, offset, &e);
                None
            }
        };
        Next::Record(partition, offset, sample)
    }

    /// Writes the batch (retrying with backoff while the database is away, consuming
    /// nothing more meanwhile), then commits its offsets, then empties it. Once asked to
    /// stop, retries for `stop_budget` at most: records not written are not committed
    /// and come again to whoever reads the partition next.
    async fn write(
        &self,
        batch: &mut Batch,
        first: Instant,
        mut stopping: bool,
        stop: &mut watch::Receiver<bool>,
    ) {
        let mut backoff = Backoff::default();
        let mut give_up = stopping.then(|| Instant::now() + self.stop_budget);
        loop {
            let written = if batch.rows.is_empty() {
                Ok(())
            } else {
                db::insert(&self.pool, &batch.rows).await
            };
            match written {
                Ok(()) => break self.metrics.db_succeeded(),
                Err(e) => self.metrics.db_failed(&e),
            }
            if give_up.is_some_and(|t| Instant::now() >= t) {
                warn!(self.log, "Stopping with a batch not written; its records will be read again.";
                    "rows" => batch.rows.len());
                batch.clear();
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff.next_wait()) => {}
                _ = stop.changed(), if !stopping => {
                    stopping = true;
                    give_up = Some(Instant::now() + self.stop_budget);
                }
            }
        }
        let offsets = batch.offsets(&self.topic);
        // While running, the offsets go asynchronously: the rows are already committed, so
        // a commit lost on the way only means records read again and ignored, and the next
        // batch's write need not wait for the broker's round trip. The last batch, at a stop, waits for its commit, so
        // that the next member starts where this one ended.
        let committed = if stopping || *stop.borrow() {
            let consumer = self.consumer.clone();
            // A synchronous commit waits for the broker: off the event loop.
            tokio::task::spawn_blocking(move || consumer.commit(&offsets, CommitMode::Sync)).await
        } else {
            Ok(self.consumer.commit(&offsets, CommitMode::Async))
        };
        match committed {
            Ok(Ok(())) => {
                let mut map = self.committed.lock().unwrap_or_else(|e| e.into_inner());
                map.extend(batch.next_offsets());
            }
            // Rows are in; a commit lost (a rebalance took the partition) only means they
            // are read again, and ignored.
            Ok(Err(e)) => {
                warn!(self.log, "Offsets not committed; records will be read again."; "error" => %e)
            }
            Err(e) => {
                warn!(self.log, "Offsets not committed; records will be read again."; "error" => %e)
            }
        }
        self.metrics
            .batch_written(batch.rows.len(), first.elapsed());
        batch.clear();
    }
}

/// Every minute, deletes rows older than `keep`, `batch` rows per statement.
async fn retain(
    pool: MySqlPool,
    keep: Duration,
    batch: u64,
    metrics: Arc<ArchiveMetrics>,
    log: Logger,
) {
    let mut tick = tokio::time::interval(RETENTION_INTERVAL);
    loop {
        tick.tick().await;
        let now_ms = crate::model::now_unix_ms();
        let before = now_ms.saturating_sub(keep.as_millis() as u64);
        match db::delete_older(&pool, before, batch).await {
            Ok(0) => metrics.db_succeeded(),
            Ok(n) => {
                metrics.db_succeeded();
                info!(log, "Old rows deleted."; "rows" => n, "before_ms" => before);
            }
            Err(e) => metrics.db_failed(&e),
        }
    }
}

/// Every [`LAG_INTERVAL`], each assigned partition's high watermark minus the offset this
/// group committed (or the consumer's position before any commit).
async fn watch_lag(
    consumer: Arc<StreamConsumer>,
    topic: String,
    committed: Committed,
    metrics: Arc<ArchiveMetrics>,
) {
    let mut tick = tokio::time::interval(LAG_INTERVAL);
    loop {
        tick.tick().await;
        let (c, t) = (consumer.clone(), topic.clone());
        // Both requests wait for the broker: off the event loop.
        let lags = tokio::task::spawn_blocking(move || {
            c.fetch_metadata(Some(&t), KAFKA_TIMEOUT)?;
            let position = c.position()?;
            let mut lags = Vec::new();
            let assignment = c.assignment()?;
            let mut assigned: Vec<i32> = assignment
                .elements()
                .iter()
                .map(|e| e.partition())
                .collect();
            assigned.sort_unstable();
            for e in assignment.elements() {
                let (_, high) = c.fetch_watermarks(&t, e.partition(), KAFKA_TIMEOUT)?;
                let at = position
                    .find_partition(&t, e.partition())
                    .and_then(|p| p.offset().to_raw());
                lags.push((e.partition(), high, at));
            }
            Ok::<_, rdkafka::error::KafkaError>((assigned, lags))
        })
        .await;
        let Ok(lags) = lags else { continue };
        metrics.kafka(lags.is_ok());
        let Ok((assigned, lags)) = lags else { continue };
        metrics.assigned(assigned);
        let map = committed.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for (partition, high, position) in lags {
            if let Some(at) = map
                .get(&partition)
                .copied()
                .or(position.filter(|&p| p >= 0))
            {
                metrics.lag(partition, high - at);
            }
        }
    }
}
