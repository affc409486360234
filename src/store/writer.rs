//! RedisWriter: the actor that takes every sample from the switches and writes them to
//! Redis in pipelined batches, coalescing to the latest sample per switch while Redis is
//! slow or away.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use deadpool_redis::Pool;
use deadpool_redis::redis;
use futures_util::StreamExt;
use slog::{Logger, debug, warn};

use super::StoreError;
use super::codec::{encode_into, encode_port, port_field, switch_key};
use super::health::Health;
use crate::cache::CacheActor;
use crate::fabric::{Fabric, FaultSet};
use crate::messages::{Flush, Ping, Produced, Stored};
use crate::metrics::DaemonMetrics;
use crate::model::{Metric, Sample, SwitchId};

/// First retry delay after a failed write; doubles per failure up to `RETRY_CAP`.
const RETRY_FIRST: Duration = Duration::from_millis(100);
/// Longest wait between two attempts while Redis is away. Short enough that every switch
/// is back in Redis well within 2 s of Redis returning; a refused connection costs little.
pub const RETRY_CAP: Duration = Duration::from_secs(1);

/// How the writer batches and bounds its writes.
#[derive(Clone, Debug)]
pub struct WriterSettings {
    /// Switches in the fabric (ids 0..switches).
    pub switches: u32,
    /// Largest number of samples in one pipeline; reaching it starts a write at once.
    pub batch_size: usize,
    /// Longest time a sample waits for its batch.
    pub flush_interval: Duration,
    /// Longest time one pipeline may take.
    pub timeout: Duration,
    /// Whether this daemon simulates: then the writer's view of Redis is the one reported
    /// (logs, `telemetryd_redis_up`, `/readyz`).
    pub simulating: bool,
    pub metrics: Arc<DaemonMetrics>,
    /// With `fabric.enabled`: each switch's ports are written with it (`port:<n>` fields).
    pub fabric: Option<Arc<Fabric>>,
}

/// The writer actor. See the module comment.
pub struct RedisWriter {
    pool: Pool,
    cache: Addr<CacheActor>,
    log: Logger,
    settings: WriterSettings,
    /// The latest sample of each switch that is not in Redis yet: at most one per switch
    /// however long Redis is away, so memory stays bounded.
    pending: Pending,
    /// Samples the cache has not seen yet. Only filled while Redis is not confirmed up, so
    /// the API keeps serving live data; emptied every flush interval.
    unseen: Vec<Sample>,
    /// One write at a time; a final flush waits for the one in flight (so an older batch
    /// can never land after a newer one).
    write_lock: Arc<tokio::sync::Mutex<()>>,
    writing: bool,
    closed: bool,
    health: Health,
    retry: Backoff,
    /// Switches whose key Redis refused (another client made it a non-hash): warned about
    /// once, until a write of it succeeds again.
    refused: HashSet<SwitchId>,
}

/// When to try Redis next after failed writes: `RETRY_FIRST`, doubling up to `RETRY_CAP`.
#[derive(Debug)]
struct Backoff {
    failures: u32,
    retry_at: Instant,
}

impl Backoff {
    fn new() -> Backoff {
        Backoff {
            failures: 0,
            retry_at: Instant::now(),
        }
    }

    fn failed(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let delay = RETRY_FIRST
            .saturating_mul(1 << self.failures.min(16).saturating_sub(1))
            .min(RETRY_CAP);
        self.retry_at = Instant::now() + delay;
        delay
    }
}

impl RedisWriter {
    pub fn new(pool: Pool, cache: Addr<CacheActor>, settings: WriterSettings, log: Logger) -> Self {
        let health = Health::new(
            log.clone(),
            settings.simulating,
            settings
                .simulating
                .then(|| settings.metrics.redis_up.clone()),
            Some(cache.clone().recipient()),
        );
        RedisWriter {
            pool,
            cache,
            log,
            pending: Pending::new(settings.switches),
            settings,
            unseen: Vec::new(),
            write_lock: Arc::new(tokio::sync::Mutex::new(())),
            writing: false,
            closed: false,
            health,
            retry: Backoff::new(),
            refused: HashSet::new(),
        }
    }

    /// Every flush interval: show the cache what Redis could not take, and write what is
    /// pending if Redis is due for an attempt.
    fn tick(&mut self, ctx: &mut Context<Self>) {
        self.settings
            .metrics
            .writer_pending
            .set(self.pending.len() as i64);
        if !self.unseen.is_empty() {
            let samples = std::mem::take(&mut self.unseen);
            self.cache.do_send(Stored {
                samples,
                in_redis: false,
            });
        }
        self.start_write(ctx);
    }

    fn start_write(&mut self, ctx: &mut Context<Self>) {
        if self.writing || self.closed || self.pending.is_empty() {
            return;
        }
        if Instant::now() < self.retry.retry_at {
            return;
        }
        self.writing = true;
        let write = self.write_pending();
        ctx.spawn(write.into_actor(self).map(|outcome, act, ctx| {
            act.writing = false;
            act.finish(outcome);
            if act.pending.len() >= act.settings.batch_size {
                act.start_write(ctx);
            }
        }));
    }

    /// Takes every pending sample and returns the write of them, to be run by the caller.
    fn write_pending(&mut self) -> impl Future<Output = WriteOutcome> + 'static {
        let batch = self.pending.drain();
        write_samples(
            self.pool.clone(),
            self.write_lock.clone(),
            batch,
            self.settings.batch_size,
            self.settings.timeout,
            !self.health.state().is_up(),
            self.settings.fabric.clone(),
        )
    }

    /// Records a write's outcome: confirmed samples go to the cache; failed ones go back to
    /// pending unless a newer sample of the same switch arrived meanwhile; refused ones are
    /// dropped with one warning per switch (the next sample tries again).
    fn finish(&mut self, outcome: WriteOutcome) {
        let WriteOutcome {
            mut samples,
            written,
            refused,
            error,
        } = outcome;
        let failed = samples.split_off(written);
        let m = &self.settings.metrics;
        if written > 0 {
            m.redis_writes.inc();
            m.redis_samples_written
                .inc_by((written - refused.len()) as u64);
            m.redis_batch_size.observe(written as f64);
        }
        if error.is_some() {
            m.redis_write_errors.inc();
        }
        for (switch, why) in &refused {
            if self.refused.insert(*switch) {
                warn!(self.log, "Redis refused the key of a switch; skipping it.";
                    "key" => switch_key(*switch), "error" => why.as_str());
            }
        }
        samples.retain(|s| !refused.iter().any(|(id, _)| *id == s.switch));
        for s in &samples {
            self.refused.remove(&s.switch);
        }
        if !samples.is_empty() {
            self.cache.do_send(Stored {
                samples,
                in_redis: true,
            });
        }
        match error {
            None => {
                self.retry = Backoff::new();
                self.health.succeeded();
            }
            Some(error) => {
                for s in &failed {
                    self.pending.insert_if_absent(*s);
                }
                self.cache.do_send(Stored {
                    samples: failed,
                    in_redis: false,
                });
                self.mark_down(&error);
            }
        }
    }

    /// A write failed: retry later, report the change once.
    fn mark_down(&mut self, error: &StoreError) {
        let delay = self.retry.failed();
        debug!(self.log, "Redis write failed."; "error" => %error,
            "attempt" => self.retry.failures, "next_retry_ms" => delay.as_millis() as u64);
        self.health.failed(error);
    }
}

impl Actor for RedisWriter {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.settings.flush_interval, |act, ctx| act.tick(ctx));
        // Debug builds only: lets the test suite prove that a panicking actor ends the
        // process instead of leaving a half-dead daemon.
        #[cfg(debug_assertions)]
        if std::env::var("TELEMETRYD_FAULTS").is_ok_and(|f| f.contains("panic-writer")) {
            ctx.run_later(Duration::from_millis(300), |_, _| {
                panic!("injected writer panic")
            });
        }
    }
}

impl Handler<Produced> for RedisWriter {
    type Result = ();

    fn handle(&mut self, Produced(sample): Produced, ctx: &mut Context<Self>) {
        if self.closed {
            return;
        }
        self.pending.insert(sample);
        if !self.health.state().is_up() {
            self.unseen.push(sample);
        }
        if self.pending.len() >= self.settings.batch_size {
            self.start_write(ctx);
        }
    }
}

impl Handler<Flush> for RedisWriter {
    type Result = ResponseFuture<Result<usize, StoreError>>;

    fn handle(&mut self, _: Flush, _: &mut Context<Self>) -> Self::Result {
        self.closed = true;
        let write = self.write_pending();
        Box::pin(async move {
            let outcome = write.await;
            match outcome.error {
                None => Ok(outcome.written - outcome.refused.len()),
                Some(e) => Err(e),
            }
        })
    }
}

impl Handler<Ping> for RedisWriter {
    type Result = ();

    fn handle(&mut self, _: Ping, _: &mut Context<Self>) {}
}

/// What became of a batch: the first `written` samples were sent, and Redis took all of
/// them except `refused` (keys of another type, written by another client).
struct WriteOutcome {
    samples: Vec<Sample>,
    written: usize,
    refused: Vec<(SwitchId, String)>,
    error: Option<StoreError>,
}

/// Writes `samples` as pipelines of `HSET`s, `batch_size` switches each, several in flight
/// (see `store::pipelined`), counting them in order up to the first failure. A key Redis
/// refuses for its type fails only its own switch. With `check`, a `PING` goes first, so
/// that a server refusing this client says why (`NOAUTH`) instead of closing the
/// connection on the first long command, as Redis does to unauthenticated clients.
async fn write_samples(
    pool: Pool,
    lock: Arc<tokio::sync::Mutex<()>>,
    samples: Vec<Sample>,
    batch_size: usize,
    timeout: Duration,
    check: bool,
    fabric: Option<Arc<Fabric>>,
) -> WriteOutcome {
    let _one_at_a_time = lock.lock().await;
    let mut outcome = WriteOutcome {
        samples,
        written: 0,
        refused: Vec::new(),
        error: None,
    };
    if outcome.samples.is_empty() {
        return outcome;
    }
    let conn = match super::connection(&pool, timeout).await {
        Ok(conn) => conn,
        Err(error) => {
            outcome.error = Some(error);
            return outcome;
        }
    };
    if check && let Err(error) = super::ping(&conn, timeout).await {
        super::release(conn, Some(&error));
        outcome.error = Some(error);
        return outcome;
    }
    let batch_size = batch_size.max(1);
    // The replies borrow the samples; the block ends the borrow before they are returned.
    {
        let mut scratch = String::with_capacity(160);
        let ports = fabric.as_deref().map(|f| (f, f.faults()));
        let pipes = outcome.samples.chunks(batch_size).map(|chunk| {
            let ports = ports.as_ref().map(|(f, faults)| (*f, &**faults));
            hset_pipeline(chunk, &mut scratch, ports)
        });
        let mut replies = std::pin::pin!(super::pipelined::<
            Vec<redis::RedisResult<redis::Value>>,
            _,
        >(&conn, pipes, timeout));
        for chunk in outcome.samples.chunks(batch_size) {
            let Some(reply) = replies.next().await else {
                break;
            };
            let replies = match reply {
                Ok(replies) => replies,
                Err(e) => {
                    outcome.error = Some(e);
                    break;
                }
            };
            // WRONGTYPE concerns one key (another client made it a non-hash); any other
            // error (OOM, READONLY, NOAUTH) means Redis cannot take writes at all.
            if let Some(e) = replies
                .iter()
                .find_map(|r| r.as_ref().err().filter(|e| !super::wrong_type(e)))
            {
                outcome.error = Some(StoreError::Redis(e.clone()));
                break;
            }
            outcome.refused.extend(
                chunk
                    .iter()
                    .zip(&replies)
                    .filter_map(|(s, r)| r.as_ref().err().map(|e| (s.switch, e.to_string()))),
            );
            outcome.written += chunk.len();
        }
    }
    super::release(conn, outcome.error.as_ref());
    outcome
}

/// One pipeline of `HSET`s, one per sample, with its ports' counters when `ports` gives
/// the fabric (and its faults). Errors are kept per command, so that a key of the wrong
/// type fails only its own switch.
fn hset_pipeline(
    samples: &[Sample],
    scratch: &mut String,
    ports: Option<(&Fabric, &FaultSet)>,
) -> redis::Pipeline {
    let mut pipe = redis::pipe();
    pipe.ignore_errors();
    let mut port = String::with_capacity(400);
    for sample in samples {
        let ends = encode_into(sample, scratch);
        let cmd = pipe.cmd("HSET").arg(&scratch[..ends[0]]);
        for (name, value) in Metric::names().zip(ends.windows(2)) {
            cmd.arg(name).arg(&scratch[value[0]..value[1]]);
        }
        let Some((fabric, faults)) = ports else {
            continue;
        };
        let n = sample.switch.0;
        let k = fabric.model.step(sample.updated_at_ms);
        for p in fabric
            .topology
            .switch(sample.switch)
            .map_or(&[][..], |s| &s.ports)
        {
            encode_port(&fabric.port(faults, n, p, k), &mut port);
            cmd.arg(port_field(p.num)).arg(port.as_str());
        }
    }
    pipe
}

/// The writer's pending samples: the latest of each switch, in the order the switches
/// first became pending (so the longest-waiting switch is written first).
struct Pending {
    latest: Vec<Option<Sample>>,
    order: Vec<SwitchId>,
}

impl Pending {
    fn new(switches: u32) -> Pending {
        Pending {
            latest: vec![None; switches as usize],
            order: Vec::new(),
        }
    }

    fn len(&self) -> usize {
        self.order.len()
    }

    fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Keeps `sample` as its switch's latest. Ids outside the fabric are ignored.
    fn insert(&mut self, sample: Sample) {
        if let Some(slot) = self.latest.get_mut(sample.switch.index())
            && slot.replace(sample).is_none()
        {
            self.order.push(sample.switch);
        }
    }

    /// Keeps `sample` unless its switch has a newer one pending already.
    fn insert_if_absent(&mut self, sample: Sample) {
        if self
            .latest
            .get(sample.switch.index())
            .is_some_and(Option::is_none)
        {
            self.insert(sample);
        }
    }

    /// Takes every pending sample, oldest switch first.
    fn drain(&mut self) -> Vec<Sample> {
        let latest = &mut self.latest;
        self.order
            .drain(..)
            .filter_map(|id| latest[id.index()].take())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(switch: u32, at: u64) -> Sample {
        Sample {
            switch: SwitchId(switch),
            bandwidth_in_mbps: 1.0,
            bandwidth_out_mbps: 2.0,
            latency_ms: 0.5,
            packet_errors: 0,
            updated_at_ms: at,
        }
    }

    /// (switch, time) of every pending sample, in the order `drain` gives them.
    fn drain(p: &mut Pending) -> Vec<(u32, u64)> {
        let samples = p.drain();
        samples
            .iter()
            .map(|s| (s.switch.0, s.updated_at_ms))
            .collect()
    }

    #[test]
    fn pending_keeps_the_latest_sample_per_switch_in_first_arrival_order() {
        let mut p = Pending::new(4);
        p.insert(sample(2, 1));
        p.insert(sample(0, 2));
        p.insert(sample(2, 3));
        p.insert(sample(9, 4)); // not in the fabric
        assert_eq!(p.len(), 2);
        assert_eq!(drain(&mut p), [(2, 3), (0, 2)]);
        assert!(p.is_empty());
        assert!(p.drain().is_empty());
    }

    #[test]
    fn a_failed_sample_goes_back_only_if_nothing_newer_is_pending() {
        let mut p = Pending::new(2);
        p.insert(sample(0, 5));
        p.insert_if_absent(sample(0, 4));
        p.insert_if_absent(sample(1, 4));
        assert_eq!(drain(&mut p), [(0, 5), (1, 4)]);
    }
}
