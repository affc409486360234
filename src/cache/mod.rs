//! CacheActor: the latest state of every switch, fed by the writer and kept in sync with
//! Redis, published as snapshots that the HTTP routes answer from.
//!
//! Two inputs: `Stored` from the writer (what this daemon produced, confirmed in Redis or
//! not), and a read of every switch's hash each update interval (what any writer, this
//! daemon or another, left in Redis). Redis is the truth when it can be read: a read
//! replaces a switch's state, so a value another client writes shows up within one
//! interval, unless this daemon holds something newer than the read could have seen (a
//! write confirmed after the read began, or a sample Redis has not taken yet).

mod bodies;
mod render;
mod snapshot;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use deadpool_redis::Pool;
use slog::{Logger, warn};

use crate::history::Window;
use crate::messages::{KafkaHealth, LinkState, Ping, RedisHealth, Stored};
use crate::metrics::DaemonMetrics;
use crate::model::{Shard, SwitchId};
use crate::store::StoreError;
use crate::store::codec::Decoded;
use crate::store::health::Health;
use crate::store::reader::{count_existing, read_hashes, read_stamps};

pub use bodies::{BigBody, SharedBody};
pub use render::{metric_json, switch_json};
pub use snapshot::{CacheView, Lookup, STALE_INTERVALS, Snapshot, SwitchState};

/// How the cache reads Redis back.
#[derive(Clone, Debug)]
pub struct SyncSettings {
    pub pool: Pool,
    /// Time between two reads of every switch (the update interval).
    pub every: Duration,
    /// Keys per pipelined read.
    pub batch: usize,
    pub timeout: Duration,
    pub metrics: Arc<DaemonMetrics>,
}

/// Least time between two published snapshots. A snapshot renders the big bodies
/// (`/counters`, `/telemetry/`) again on first use; at high sample rates, publishing after
/// every writer batch would re-render them up to 20 times a second for no reader's gain.
const MIN_PUBLISH_GAP: Duration = Duration::from_millis(100);

/// How often, between two full reads, the cache checks that switches it believes are in
/// Redis still are (`EXISTS` of `PROBE_KEYS` of them, in turn), when the update interval
/// is longer than this: after a `FLUSHALL` or a Redis restarted empty, a daemon sampling
/// once a day would otherwise report stale data as confirmed for up to a day.
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// Keys per check: one cheap command, and any loss of the whole database is seen at once.
const PROBE_KEYS: usize = 64;

/// What the cache knows of one switch.
#[derive(Clone, Debug, Default)]
struct Slot {
    /// What the API shows.
    shown: Option<SwitchState>,
    /// Time of the latest sample this daemon produced for the switch; older ones that
    /// arrive late (a retried batch) are not shown.
    last_own_ms: u64,
    /// The shown sample is this daemon's and Redis does not have it yet.
    own_unconfirmed: bool,
    /// When a write of this switch was last confirmed.
    confirmed_at: Option<Instant>,
}

/// The cache actor. See the module comment.
pub struct CacheActor {
    log: Logger,
    view: CacheView,
    slots: Vec<Slot>,
    /// Redis as the writer sees it (reported while simulating).
    redis: LinkState,
    /// The in-memory history, told of every sample shown.
    window: Option<Arc<Window>>,
    /// Kafka as the KafkaWriter sees it, once it has said.
    kafka: Option<LinkState>,
    /// Redis as the reads see it (reported when only serving).
    reads: Health,
    sync: SyncSettings,
    /// Whether this daemon simulates the switches: then the cache is loaded once every
    /// switch has a sample; otherwise once Redis has been read.
    simulating: bool,
    /// With `telemetry.shard`: loaded once this shard's switches have a sample and Redis
    /// has been read once (for the others').
    shard: Option<Shard>,
    syncing: bool,
    synced_once: bool,
    /// Switches whose hash we already warned about; cleared when it reads cleanly again.
    warned: HashSet<SwitchId>,
    last_publish: Instant,
    publish_scheduled: bool,
    probing: bool,
    /// Where the next check of confirmed switches starts.
    probe_from: usize,
    /// The switch list of a snapshot no reader held any more when it was replaced: the next
    /// publication copies into it instead of allocating a new one (at 100,000 switches,
    /// about 10 MB ten times a second).
    spare: Vec<Option<SwitchState>>,
}

impl CacheActor {
    pub fn new(view: CacheView, sync: SyncSettings, simulating: bool, log: Logger) -> CacheActor {
        let switches = view.snapshot().switches.len();
        // The writer reports Redis while simulating; otherwise the reads are all there is.
        let reads = Health::new(
            log.clone(),
            !simulating,
            (!simulating).then(|| sync.metrics.redis_up.clone()),
            None,
        );
        CacheActor {
            log,
            view,
            slots: vec![Slot::default(); switches],
            redis: LinkState::Unknown,
            kafka: None,
            window: None,
            reads,
            sync,
            simulating,
            shard: None,
            syncing: false,
            synced_once: false,
            warned: HashSet::new(),
            last_publish: Instant::now(),
            publish_scheduled: false,
            probing: false,
            probe_from: 0,
            spare: Vec::new(),
        }
    }

    /// Remembers every sample shown from now on in `window`.
    pub fn with_history(mut self, window: Option<Arc<Window>>) -> CacheActor {
        self.window = window;
        self
    }

    /// The cache of an instance simulating `shard` (see `shard`).
    pub fn with_shard(mut self, shard: Option<Shard>) -> CacheActor {
        self.shard = shard;
        self
    }

    /// Publishes now, or once `MIN_PUBLISH_GAP` has passed since the last publication.
    fn publish_soon(&mut self, ctx: &mut Context<Self>) {
        if self.publish_scheduled {
            return;
        }
        let since = self.last_publish.elapsed();
        if since >= MIN_PUBLISH_GAP {
            self.publish();
        } else {
            self.publish_scheduled = true;
            ctx.run_later(MIN_PUBLISH_GAP - since, |act, _| {
                act.publish_scheduled = false;
                act.publish();
            });
        }
    }

    fn publish(&mut self) {
        self.last_publish = Instant::now();
        let mut states = std::mem::take(&mut self.spare);
        states.clear();
        states.extend(self.slots.iter().map(|s| s.shown));
        let loaded = if let (true, Some(shard)) = (self.simulating, self.shard) {
            self.synced_once
                && states
                    .iter()
                    .enumerate()
                    .all(|(n, s)| s.is_some() || !shard.holds(SwitchId(n as u32)))
        } else if self.simulating {
            states.iter().all(Option::is_some)
        } else {
            self.synced_once
        };
        let redis = if self.simulating {
            self.redis.clone()
        } else {
            self.reads.state().clone()
        };
        let mut snapshot = Snapshot::new(states, redis, loaded, self.sync.every);
        snapshot.kafka = self.kafka.clone();
        let replaced = self.view.publish(snapshot);
        if let Some(old) = replaced {
            self.spare = old.switches;
        }
    }

    /// Checks that up to `PROBE_KEYS` switches shown as confirmed still have a key in
    /// Redis, and reads Redis back at once when some do not; its outcome is a read's for
    /// Redis's health.
    fn probe(&mut self, ctx: &mut Context<Self>) {
        if self.syncing || self.probing || self.slots.is_empty() {
            return;
        }
        let count = self.slots.len();
        let mut ids = Vec::with_capacity(PROBE_KEYS);
        let mut scanned = 0;
        while scanned < count && ids.len() < PROBE_KEYS {
            let n = (self.probe_from + scanned) % count;
            if self.slots[n].shown.is_some_and(|s| s.in_redis) {
                ids.push(SwitchId(n as u32));
            }
            scanned += 1;
        }
        self.probe_from = (self.probe_from + scanned) % count;
        if ids.is_empty() {
            return;
        }
        self.probing = true;
        let s = self.sync.clone();
        let asked = ids.len();
        let check = async move { count_existing(&s.pool, &ids, s.timeout).await };
        ctx.spawn(check.into_actor(self).map(move |found, act, ctx| {
            act.probing = false;
            // The check is a read too: with a day between full reads, it is what tells a
            // daemon that only serves that Redis went away (or came back).
            match found {
                Ok(found) => {
                    act.reads.succeeded();
                    if found < asked {
                        act.start_sync(ctx);
                        return;
                    }
                }
                Err(error) => act.reads.failed(&error),
            }
            act.publish_soon(ctx);
        }));
    }

    /// Reads Redis back. A daemon that only serves reads every field of every switch; a
    /// simulating one reads every `updated_at` first, and then every field only of the
    /// switches whose stamp is not the one the cache shows (compared when the stamps
    /// arrive, so samples confirmed while they were read are not read again).
    fn start_sync(&mut self, ctx: &mut Context<Self>) {
        if self.syncing {
            return;
        }
        self.syncing = true;
        if !self.simulating {
            let all = (0..self.slots.len() as u32).map(SwitchId).collect();
            self.read_hashes(all, ctx);
            return;
        }
        let s = self.sync.clone();
        let count = self.slots.len() as u32;
        let read = async move { read_stamps(&s.pool, count, s.batch, s.timeout).await };
        ctx.spawn(read.into_actor(self).map(|result, act, ctx| match result {
            Ok(stamps) => {
                let unknown = act.unknown_stamps(&stamps);
                act.read_hashes(unknown, ctx);
            }
            Err(error) => act.finish_sync(Err(error), Instant::now(), ctx),
        }));
    }

    /// The switches whose stamp in Redis is not the one the cache shows, or that have none.
    fn unknown_stamps(&self, stamps: &[Option<u64>]) -> Vec<SwitchId> {
        let shown = self
            .slots
            .iter()
            .map(|slot| slot.shown.map(|state| state.sample.updated_at_ms));
        shown
            .zip(stamps)
            .enumerate()
            .filter(|(_, (shown, stamp))| stamp.is_none() || shown != *stamp)
            .map(|(n, _)| SwitchId(n as u32))
            .collect()
    }

    fn read_hashes(&mut self, ids: Vec<SwitchId>, ctx: &mut Context<Self>) {
        let began = Instant::now();
        if ids.is_empty() {
            self.finish_sync(Ok(Vec::new()), began, ctx);
            return;
        }
        let s = self.sync.clone();
        // What the cache shows of just the switches read (few, when simulating).
        let targets: Vec<_> = ids
            .into_iter()
            .map(|id| (id, self.slots[id.index()].shown.map(|s| s.sample)))
            .collect();
        let read = async move { read_hashes(&s.pool, targets, s.batch, s.timeout).await };
        ctx.spawn(
            read.into_actor(self)
                .map(move |result, act, ctx| act.finish_sync(result, began, ctx)),
        );
    }

    fn finish_sync(
        &mut self,
        result: Result<Vec<(SwitchId, Decoded)>, StoreError>,
        began: Instant,
        ctx: &mut Context<Self>,
    ) {
        self.syncing = false;
        self.synced_once = true;
        self.apply_read(result, began);
        self.publish_soon(ctx);
    }

    /// Merges what Redis held when the read `began` into the cache.
    fn apply_read(&mut self, result: Result<Vec<(SwitchId, Decoded)>, StoreError>, began: Instant) {
        let changes = match result {
            Ok(changes) => {
                self.sync.metrics.redis_reads.inc();
                changes
            }
            Err(error) => {
                self.sync.metrics.redis_read_errors.inc();
                self.reads.failed(&error);
                return;
            }
        };
        self.reads.succeeded();
        // Switches not listed read exactly as the cache shows them, so they read cleanly.
        let listed: HashSet<SwitchId> = changes.iter().map(|(id, _)| *id).collect();
        self.warned.retain(|id| listed.contains(id));
        let mut lost = 0;
        for (switch, decoded) in changes {
            let slot = &mut self.slots[switch.index()];
            // This daemon knows better than the read: it wrote the switch after the read
            // began, or holds a sample Redis has not taken yet.
            let newer_here = slot.own_unconfirmed || slot.confirmed_at.is_some_and(|t| t > began);
            match decoded {
                Decoded::Missing => {
                    if let Some(state) = slot.shown.as_mut().filter(|_| !newer_here) {
                        lost += usize::from(state.in_redis);
                        state.in_redis = false;
                    }
                    self.warned.remove(&switch);
                }
                Decoded::Sample { sample, problems } => {
                    if !newer_here {
                        if let Some(window) = &self.window {
                            window.record(&sample);
                        }
                        slot.shown = Some(SwitchState {
                            sample,
                            in_redis: true,
                        });
                    }
                    self.note_problems(switch, problems);
                }
                Decoded::Unreadable { problems } => self.note_problems(switch, problems),
            }
        }
        if lost > 0 {
            warn!(self.log, "Redis lost telemetry it had confirmed; served as stale until rewritten.";
                "switches" => lost);
        }
    }

    /// One warning per switch whose hash has unreadable fields, until it reads cleanly.
    fn note_problems(&mut self, switch: SwitchId, problems: Vec<String>) {
        if problems.is_empty() {
            self.warned.remove(&switch);
        } else if self.warned.insert(switch) {
            warn!(self.log, "Skipping unreadable telemetry in Redis.";
                "key" => crate::store::codec::switch_key(switch), "problems" => problems.join("; "));
        }
    }
}

impl Actor for CacheActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.start_sync(ctx);
        ctx.run_interval(self.sync.every, |act, ctx| act.start_sync(ctx));
        if self.sync.every > PROBE_EVERY * 2 {
            ctx.run_interval(PROBE_EVERY, |act, ctx| act.probe(ctx));
        }
    }
}

impl Handler<Stored> for CacheActor {
    type Result = ();

    fn handle(&mut self, msg: Stored, ctx: &mut Context<Self>) {
        let now = Instant::now();
        for sample in msg.samples {
            let Some(slot) = self.slots.get_mut(sample.switch.index()) else {
                continue;
            };
            if sample.updated_at_ms < slot.last_own_ms {
                continue;
            }
            slot.last_own_ms = sample.updated_at_ms;
            if let Some(window) = &self.window {
                window.record(&sample);
            }
            slot.shown = Some(SwitchState {
                sample,
                in_redis: msg.in_redis,
            });
            slot.own_unconfirmed = !msg.in_redis;
            if msg.in_redis {
                slot.confirmed_at = Some(now);
            }
        }
        self.publish_soon(ctx);
    }
}

impl Handler<RedisHealth> for CacheActor {
    type Result = ();

    fn handle(&mut self, RedisHealth(state): RedisHealth, ctx: &mut Context<Self>) {
        self.redis = state;
        self.publish_soon(ctx);
    }
}

impl Handler<KafkaHealth> for CacheActor {
    type Result = ();

    fn handle(&mut self, KafkaHealth(state): KafkaHealth, ctx: &mut Context<Self>) {
        self.kafka = Some(state);
        self.publish_soon(ctx);
    }
}

impl Handler<Ping> for CacheActor {
    type Result = ();

    fn handle(&mut self, _: Ping, _: &mut Context<Self>) {}
}
