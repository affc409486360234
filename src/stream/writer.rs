//! KafkaWriter: the actor that takes every sample from the switches, as the RedisWriter
//! does, and hands each to librdkafka as a record. It never waits for the broker: records
//! wait in a bounded queue of this actor's while librdkafka's own (bounded too) is full,
//! and when that overflows the oldest are dropped and counted. Nothing upstream (the
//! switches, the Redis writer, HTTP) can be slowed by a broker that is slow or away.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use prometheus_client::metrics::counter::Counter;
use rdkafka::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use slog::{Logger, debug, info, warn};

use super::record;
use crate::cache::CacheActor;
use crate::config::KafkaConfig;
use crate::messages::{KafkaHealth, LinkState, Ping, Produced, StreamFlush};
use crate::metrics::DaemonMetrics;
use crate::model::{Sample, now_unix_ms};

/// How often the actor moves queued records to librdkafka and looks at what it reported.
const TICK: Duration = Duration::from_millis(20);

/// What the KafkaWriter needs.
#[derive(Clone, Debug)]
pub struct KafkaSettings {
    pub config: KafkaConfig,
    pub metrics: Arc<DaemonMetrics>,
}

/// What librdkafka's threads report (failed deliveries, client errors), for the actor to
/// turn into state changes. Written from librdkafka's threads, read on the actor's.
/// librdkafka reports failures only (`delivery.report.only.error`): a report per record
/// cost its poll thread about a seventh of the writer's CPU. Deliveries are counted by
/// the actor instead, as what it handed over and is neither failed nor still held.
struct Reports {
    failed: Counter,
    /// Records whose delivery failed (their reports served).
    delivery_failed: AtomicU64,
    /// Unix ms of the newest error.
    last_error_ms: AtomicU64,
    /// The newest error's text.
    last_error: Mutex<String>,
    log: Logger,
}

impl Reports {
    fn error(&self, error: String) {
        self.last_error_ms
            .store(now_unix_ms().max(1), Ordering::Relaxed);
        if let Ok(mut last) = self.last_error.lock() {
            *last = error;
        }
    }
}

/// The producer's context: counts deliveries and failures and keeps the newest error.
struct Context_ {
    reports: Arc<Reports>,
}

impl ClientContext for Context_ {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        // The state changes below are what the operator reads; librdkafka's own lines (one
        // per reconnect attempt) are for debugging.
        if (level as i32) <= (RDKafkaLogLevel::Warning as i32) {
            debug!(self.reports.log, "librdkafka."; "facility" => facility, "message" => message);
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.reports.error(format!("{error}: {reason}"));
    }
}

impl ProducerContext for Context_ {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        // Only failures are reported (see `Reports`).
        if let Err((error, _)) = result {
            self.reports.failed.inc();
            self.reports.delivery_failed.fetch_add(1, Ordering::Relaxed);
            self.reports.error(error.to_string());
        }
    }
}

/// The counter of records with this outcome.
fn outcome_counter(m: &DaemonMetrics, outcome: &'static str) -> Counter {
    let counter = m.kafka_records.get_or_create(&[("outcome", outcome)]);
    counter.clone()
}

/// The Kafka writer actor. See the module comment.
pub struct KafkaWriter {
    producer: ThreadedProducer<Context_>,
    reports: Arc<Reports>,
    topic: String,
    /// Samples librdkafka could not take yet, oldest first; at most `capacity`.
    queue: VecDeque<Sample>,
    capacity: usize,
    /// Whether the queue is dropping (full), to log the change once each way.
    overflowing: Option<(Instant, u64)>,
    dropped: Counter,
    metrics: Arc<DaemonMetrics>,
    state: LinkState,
    cache: Addr<CacheActor>,
    log: Logger,
    closed: bool,
    /// Records librdkafka took, and of them those counted delivered so far.
    accepted: u64,
    delivered_seen: u64,
    delivered: Counter,
    /// Unix ms when deliveries were last seen to grow.
    last_ok_ms: u64,
    payload: Vec<u8>,
    key: String,
}

/// Why the Kafka client could not be made (a config librdkafka refuses).
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the Kafka producer: {0}")]
pub struct KafkaSetupError(String);

impl KafkaWriter {
    pub fn new(
        settings: KafkaSettings,
        cache: Addr<CacheActor>,
        log: Logger,
    ) -> Result<KafkaWriter, KafkaSetupError> {
        let k = &settings.config;
        let m = &settings.metrics;
        // One statement each: `get_or_create` returns a read guard that lives to the end of
        // its statement, and a second call in the same one waits for it for ever.
        let delivered = outcome_counter(m, "delivered");
        let failed = outcome_counter(m, "failed");
        let dropped = outcome_counter(m, "dropped");
        let reports = Arc::new(Reports {
            failed,
            delivery_failed: AtomicU64::new(0),
            last_error_ms: AtomicU64::new(0),
            last_error: Mutex::new(String::new()),
            log: log.clone(),
        });
        // librdkafka holds at most two batches per partition's worth in flight; the rest
        // waits in this actor's queue, where the oldest can be dropped first.
        let in_flight = (k.batch_size * 2).clamp(1_000, 1_000_000);
        let producer = ClientConfig::new()
            .set("bootstrap.servers", k.brokers.join(","))
            .set("compression.codec", &k.compression)
            .set("linger.ms", k.linger_ms.to_string())
            .set("batch.num.messages", k.batch_size.to_string())
            .set("queue.buffering.max.messages", in_flight.to_string())
            .set("message.timeout.ms", k.timeout_ms.to_string())
            .set("client.id", "telemetryd")
            .set("delivery.report.only.error", "true")
            .create_with_context(Context_ {
                reports: reports.clone(),
            })
            .map_err(|e: KafkaError| KafkaSetupError(e.to_string()))?;
        Ok(KafkaWriter {
            producer,
            reports,
            topic: k.topic.clone(),
            queue: VecDeque::new(),
            capacity: k.queue_capacity,
            overflowing: None,
            dropped,
            metrics: settings.metrics.clone(),
            state: LinkState::Unknown,
            cache,
            log,
            closed: false,
            accepted: 0,
            delivered_seen: 0,
            delivered,
            last_ok_ms: 0,
            payload: Vec::with_capacity(256),
            key: String::with_capacity(24),
        })
    }

    /// Hands queued samples to librdkafka until it is full or the queue is empty.
    fn send_queued(&mut self) {
        while let Some(sample) = self.queue.front() {
            record::encode(sample, &mut self.payload);
            record::key(sample.switch, &mut self.key);
            let record = BaseRecord::to(&self.topic)
                .key(self.key.as_str())
                .payload(self.payload.as_slice())
                .timestamp(sample.updated_at_ms as i64);
            match self.producer.send(record) {
                Ok(()) => {
                    self.queue.pop_front();
                    self.accepted += 1;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => break,
                Err((error, _)) => {
                    // Not a state of the broker (a record librdkafka refuses outright): count it
                    // and move on, so one bad record cannot hold the queue.
                    self.queue.pop_front();
                    self.reports.failed.inc();
                    self.reports.error(error.to_string());
                }
            }
        }
        self.drop_overflow();
    }

    /// Drops the oldest samples beyond the queue's capacity; logs when dropping starts and
    /// when it ends, with the count.
    fn drop_overflow(&mut self) {
        let over = self.queue.len().saturating_sub(self.capacity);
        if over > 0 {
            self.queue.drain(..over);
            self.dropped.inc_by(over as u64);
            match &mut self.overflowing {
                Some((_, count)) => *count += over as u64,
                None => {
                    warn!(self.log, "Kafka queue full; dropping the oldest samples.";
                        "capacity" => self.capacity);
                    self.overflowing = Some((Instant::now(), over as u64));
                }
            }
        } else if self.queue.len() < self.capacity / 2
            && let Some((since, count)) = self.overflowing.take()
        {
            info!(self.log, "Kafka queue has room again.";
                "dropped" => count, "dropping_ms" => since.elapsed().as_millis() as u64);
        }
    }

    /// Counts as delivered the records librdkafka took that neither failed nor are still
    /// held by it (its queue, in flight, or a failure not yet reported).
    fn count_delivered(&mut self) {
        let failed = self.reports.delivery_failed.load(Ordering::Relaxed);
        let held = self.producer.in_flight_count().max(0) as u64;
        let delivered = self.accepted.saturating_sub(failed + held);
        // `held` counts librdkafka's own requests too, so this can dip: count only growth.
        if delivered > self.delivered_seen {
            self.delivered.inc_by(delivered - self.delivered_seen);
            self.delivered_seen = delivered;
            self.last_ok_ms = now_unix_ms().max(1);
        }
    }

    /// Turns what librdkafka reported into the link's state: up after a delivery newer than
    /// the newest error, down after an error newer than the newest delivery.
    fn follow_reports(&mut self) {
        self.count_delivered();
        let ok = self.last_ok_ms;
        let err = self.reports.last_error_ms.load(Ordering::Relaxed);
        if ok > 0 && ok >= err {
            self.went_up();
        } else if err > ok {
            let error = self
                .reports
                .last_error
                .lock()
                .map(|e| e.clone())
                .unwrap_or_default();
            self.went_down(error);
        }
    }

    fn went_up(&mut self) {
        let message = match &self.state {
            LinkState::Up => return,
            LinkState::Unknown => "Streaming to Kafka.",
            LinkState::Down { .. } => "Kafka reachable again.",
        };
        let down_ms = match &self.state {
            LinkState::Down { since, .. } => since.elapsed().as_millis() as u64,
            _ => 0,
        };
        info!(self.log, "{}", message; "down_ms" => down_ms, "queued" => self.queue.len());
        self.change(LinkState::Up, 1);
    }

    fn went_down(&mut self, error: String) {
        let since = match &self.state {
            LinkState::Down { error: was, .. } if *was == error => return,
            LinkState::Down { since, .. } => *since,
            _ => {
                warn!(self.log, "Kafka unreachable; queueing samples and retrying.";
                    "error" => &error, "queue_capacity" => self.capacity);
                Instant::now()
            }
        };
        self.change(LinkState::Down { since, error }, 0);
    }

    /// One state change: the gauge and the cache (for `/readyz`) together.
    fn change(&mut self, state: LinkState, gauge: i64) {
        self.metrics.kafka_up.set(gauge);
        self.cache.do_send(KafkaHealth(state.clone()));
        self.state = state;
    }

    fn tick(&mut self) {
        self.send_queued();
        self.follow_reports();
        let held = self.queue.len() + self.producer.in_flight_count().max(0) as usize;
        self.metrics.kafka_queue.set(held as i64);
    }
}

impl Actor for KafkaWriter {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.change(LinkState::Unknown, 0);
        ctx.run_interval(TICK, |act, _| act.tick());
    }
}

impl Handler<Produced> for KafkaWriter {
    type Result = ();

    fn handle(&mut self, Produced(sample): Produced, _: &mut Context<Self>) {
        if self.closed {
            return;
        }
        self.queue.push_back(sample);
        if self.queue.len() == 1 {
            self.send_queued();
        } else {
            self.drop_overflow();
        }
    }
}

impl Handler<StreamFlush> for KafkaWriter {
    type Result = usize;

    /// Stops taking samples and waits up to the given time for librdkafka to deliver what
    /// it holds; answers how many records were still undelivered.
    fn handle(&mut self, StreamFlush(within): StreamFlush, _: &mut Context<Self>) -> usize {
        self.closed = true;
        let deadline = Instant::now() + within;
        while !self.queue.is_empty() && Instant::now() < deadline {
            self.send_queued();
            self.producer.poll(Duration::from_millis(10));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let _ = self.producer.flush(left);
        self.count_delivered();
        self.queue.len() + self.producer.in_flight_count().max(0) as usize
    }
}

impl Handler<Ping> for KafkaWriter {
    type Result = ();

    fn handle(&mut self, _: Ping, _: &mut Context<Self>) {}
}
