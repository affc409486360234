//! The published state of the cache: an immutable snapshot that HTTP workers read without
//! a message round trip, with its big bodies rendered at most once.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use super::bodies::{BigBody, LatestBodies, SharedBody};
use crate::fabric::Fabric;
use crate::messages::LinkState;
use crate::model::{FUTURE_TOLERANCE_MS, Sample, Shard, SwitchId, now_unix_ms};

/// A sample older than this many update intervals counts as stale.
pub const STALE_INTERVALS: u32 = 3;

/// The latest state of one switch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SwitchState {
    pub sample: Sample,
    /// Whether Redis is known to hold this sample. False while a write is pending or failed.
    pub in_redis: bool,
}

/// The answer to "what does the cache say about this switch".
pub enum Lookup<'a> {
    Found(&'a SwitchState),
    /// A switch of this fabric without data yet (only when not simulating).
    NoData,
    /// Not a switch of this fabric.
    Unknown,
}

/// One published state of the cache. Never changes once published.
#[derive(Debug)]
pub struct Snapshot {
    pub switches: Vec<Option<SwitchState>>,
    pub redis: LinkState,
    /// Kafka as the KafkaWriter sees it; None when not streaming.
    pub kafka: Option<LinkState>,
    /// Whether the cache holds its initial state (every simulated switch has a sample, or
    /// the first read from Redis is done).
    pub loaded: bool,
    /// When this snapshot was published.
    pub published_at: Instant,
    /// Switches whose shown sample Redis is not known to hold.
    pub unconfirmed: usize,
    /// `updated_at` of the oldest shown sample, in Unix milliseconds.
    pub oldest_ms: Option<u64>,
    /// `updated_at` of the newest shown sample: one far in the future is stale too.
    newest_ms: Option<u64>,
    /// Age beyond which a sample is stale (`STALE_INTERVALS` update intervals).
    stale_after: Duration,
    /// The big bodies, rendered by the first request that needs them (see `bodies.rs`).
    pub(super) csv: OnceLock<Arc<SharedBody>>,
    pub(super) json: OnceLock<Arc<SharedBody>>,
    /// UFM's bodies of the fabric's ports (`fabric.enabled`), rendered the same way.
    pub(super) ufm: [OnceLock<Arc<SharedBody>>; 3],
}

impl Snapshot {
    pub fn new(
        switches: Vec<Option<SwitchState>>,
        redis: LinkState,
        loaded: bool,
        interval: Duration,
    ) -> Snapshot {
        let present = || switches.iter().flatten();
        Snapshot {
            unconfirmed: present().filter(|s| !s.in_redis).count(),
            oldest_ms: present().map(|s| s.sample.updated_at_ms).min(),
            newest_ms: present().map(|s| s.sample.updated_at_ms).max(),
            switches,
            redis,
            kafka: None,
            loaded,
            published_at: Instant::now(),
            stale_after: interval * STALE_INTERVALS,
            csv: OnceLock::new(),
            json: OnceLock::new(),
            ufm: Default::default(),
        }
    }

    /// Whether an answer about every switch is stale: the cache is not loaded, or some
    /// switch's sample is not confirmed in Redis, older than `STALE_INTERVALS` intervals,
    /// or stamped more than `FUTURE_TOLERANCE_MS` in the future.
    pub fn all_stale(&self) -> bool {
        !self.loaded
            || self.unconfirmed > 0
            || self.oldest_ms.is_some_and(|ms| self.too_old(ms))
            || self.newest_ms.is_some_and(in_future)
    }

    /// Whether an answer about one switch is stale (same rules as `all_stale`).
    pub fn switch_stale(&self, state: &SwitchState) -> bool {
        let at = state.sample.updated_at_ms;
        !state.in_redis || self.too_old(at) || in_future(at)
    }

    fn too_old(&self, updated_at_ms: u64) -> bool {
        now_unix_ms().saturating_sub(updated_at_ms) > self.stale_after.as_millis() as u64
    }

    /// Number of switches in the fabric.
    pub fn fabric_size(&self) -> u32 {
        self.switches.len() as u32
    }

    /// (switch number, sample time) of every switch with a sample, in switch order: what
    /// the UFM bodies render each switch's ports at.
    pub fn sample_times(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        self.switches
            .iter()
            .flatten()
            .map(|s| (s.sample.switch.0, s.sample.updated_at_ms))
    }

    /// Per shard of `count`: (switches with a sample, the oldest sample's time in Unix ms).
    pub fn per_shard(&self, count: u32) -> Vec<(usize, Option<u64>)> {
        let mut out = vec![(0usize, None::<u64>); count.max(1) as usize];
        for state in self.switches.iter().flatten() {
            let slot = &mut out[Shard::of(count, state.sample.switch) as usize];
            slot.0 += 1;
            let at = state.sample.updated_at_ms;
            slot.1 = Some(slot.1.map_or(at, |o: u64| o.min(at)));
        }
        out
    }

    pub fn get(&self, switch: SwitchId) -> Lookup<'_> {
        match self.switches.get(switch.index()) {
            Some(Some(state)) => Lookup::Found(state),
            Some(None) => Lookup::NoData,
            None => Lookup::Unknown,
        }
    }
}

/// Whether a sample stamped `updated_at_ms` claims to come from the future (see
/// `FUTURE_TOLERANCE_MS`).
fn in_future(updated_at_ms: u64) -> bool {
    updated_at_ms > now_unix_ms().saturating_add(FUTURE_TOLERANCE_MS)
}

/// The read side of the cache, shared with every HTTP worker: the latest published
/// snapshot, and the big bodies last rendered. Only the cache actor publishes.
#[derive(Clone, Debug)]
pub struct CacheView {
    current: Arc<ArcSwap<Snapshot>>,
    bodies: Arc<LatestBodies>,
    /// The fabric whose ports the UFM bodies show, with `fabric.enabled`.
    fabric: Option<Arc<Fabric>>,
    /// This instance's shard, with `telemetry.shard`.
    shard: Option<Shard>,
}

impl CacheView {
    /// A view of an empty cache for a fabric of `switches` sampled every `interval`.
    pub fn new(switches: u32, interval: Duration) -> CacheView {
        let empty = Snapshot::new(
            vec![None; switches as usize],
            LinkState::Unknown,
            false,
            interval,
        );
        CacheView {
            current: Arc::new(ArcSwap::from_pointee(empty)),
            bodies: Arc::default(),
            fabric: None,
            shard: None,
        }
    }

    /// This view, of an instance simulating `shard`.
    pub fn with_shard(mut self, shard: Option<Shard>) -> CacheView {
        self.shard = shard;
        self
    }

    /// The shard this instance simulates, with `telemetry.shard`.
    pub fn shard(&self) -> Option<Shard> {
        self.shard
    }

    /// This view, with the fabric whose ports the UFM routes serve.
    pub fn with_fabric(mut self, fabric: Option<Arc<Fabric>>) -> CacheView {
        self.fabric = fabric;
        self
    }

    /// The fabric, with `fabric.enabled`.
    pub fn fabric(&self) -> Option<&Arc<Fabric>> {
        self.fabric.as_ref()
    }

    /// The latest snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// `route`'s body for `snapshot` (the latest, or one taken a moment ago), gzipped if
    /// `gzip`; while another worker renders it, the one rendered before.
    pub fn body(&self, snapshot: &Snapshot, route: BigBody, gzip: bool) -> Arc<SharedBody> {
        self.bodies
            .body(snapshot, route, gzip, self.fabric.as_deref())
    }

    /// Makes `snapshot` the latest. Hands back the one it replaces when no reader holds it
    /// any more, for its allocations to be reused.
    pub(super) fn publish(&self, snapshot: Snapshot) -> Option<Snapshot> {
        Arc::try_unwrap(self.current.swap(Arc::new(snapshot))).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(switches: usize) -> Snapshot {
        Snapshot::new(
            vec![None; switches],
            LinkState::Unknown,
            true,
            Duration::from_secs(1),
        )
    }

    #[test]
    fn publishing_hands_back_the_replaced_snapshot_only_once_no_reader_holds_it() {
        let view = CacheView::new(3, Duration::from_secs(1));
        let held = view.snapshot();
        assert!(
            view.publish(snapshot(4)).is_none(),
            "a reader still holds it"
        );
        drop(held);
        let replaced = view
            .publish(snapshot(5))
            .expect("nobody holds the 4-switch one");
        assert_eq!(replaced.switches.len(), 4);
        assert_eq!(view.snapshot().switches.len(), 5);
    }
}
