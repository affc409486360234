//! The published state of the cache: an immutable snapshot that HTTP workers read without
//! a message round trip, with its big bodies rendered at most once.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use bytes::Bytes;

use super::render;
use crate::model::{Sample, SwitchId, now_unix_ms};

/// A sample older than this many update intervals counts as stale.
pub const STALE_INTERVALS: u32 = 3;

/// The latest state of one switch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SwitchState {
    pub sample: Sample,
    /// Whether Redis is known to hold this sample. False while a write is pending or failed.
    pub in_redis: bool,
}

/// What the cache knows of Redis.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RedisStatus {
    /// None until the first write or read has an outcome.
    pub up: Option<bool>,
    /// The last error, while down.
    pub error: Option<String>,
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
    pub redis: RedisStatus,
    /// Whether the cache holds its initial state (every simulated switch has a sample, or
    /// the first read from Redis is done).
    pub loaded: bool,
    /// When this snapshot was published.
    pub published_at: Instant,
    /// Switches whose shown sample Redis is not known to hold.
    pub unconfirmed: usize,
    /// `updated_at` of the oldest shown sample, in Unix milliseconds.
    pub oldest_ms: Option<u64>,
    /// Age beyond which a sample is stale (`STALE_INTERVALS` update intervals).
    stale_after: Duration,
    csv: OnceLock<SharedBody>,
    json: OnceLock<SharedBody>,
}

/// A body many requests share: rendered once per snapshot, gzipped at most once, and
/// identified by an ETag derived from its bytes (so identical content keeps its tag across
/// snapshots and restarts).
#[derive(Debug)]
pub struct SharedBody {
    pub bytes: Bytes,
    /// Strong ETag of `bytes`, quoted.
    pub etag: String,
    gzip: OnceLock<Bytes>,
}

impl SharedBody {
    pub fn new(bytes: Vec<u8>) -> SharedBody {
        let mut hasher = std::hash::DefaultHasher::new();
        std::hash::Hash::hash(&bytes, &mut hasher);
        let etag = format!("\"{:016x}\"", std::hash::Hasher::finish(&hasher));
        SharedBody {
            bytes: bytes.into(),
            etag,
            gzip: OnceLock::new(),
        }
    }

    /// The gzip-compressed body, compressed by the first request that asks for it.
    pub fn gzip(&self) -> Bytes {
        self.gzip
            .get_or_init(|| {
                use std::io::Write;
                // Fast compression: these bodies are numbers and names, which compress
                // well even at level 1, and a scrape should not wait on deflate.
                let mut gz = flate2::write::GzEncoder::new(
                    Vec::with_capacity(self.bytes.len() / 4),
                    flate2::Compression::fast(),
                );
                // Writing into memory cannot fail.
                let _ = gz.write_all(&self.bytes);
                gz.finish().unwrap_or_default().into()
            })
            .clone()
    }

    /// The ETag of the gzip-compressed body (a different representation, so another tag).
    pub fn gzip_etag(&self) -> String {
        format!("{}-gz\"", self.etag.trim_end_matches('"'))
    }
}

impl Snapshot {
    pub fn new(
        switches: Vec<Option<SwitchState>>,
        redis: RedisStatus,
        loaded: bool,
        interval: Duration,
    ) -> Snapshot {
        let present = || switches.iter().flatten();
        Snapshot {
            unconfirmed: present().filter(|s| !s.in_redis).count(),
            oldest_ms: present().map(|s| s.sample.updated_at_ms).min(),
            switches,
            redis,
            loaded,
            published_at: Instant::now(),
            stale_after: interval * STALE_INTERVALS,
            csv: OnceLock::new(),
            json: OnceLock::new(),
        }
    }

    /// Whether an answer about every switch is stale: the cache is not loaded, or some
    /// switch's sample is not confirmed in Redis or older than `STALE_INTERVALS` intervals.
    pub fn all_stale(&self) -> bool {
        !self.loaded || self.unconfirmed > 0 || self.oldest_ms.is_some_and(|ms| self.too_old(ms))
    }

    /// Whether an answer about one switch is stale (same rules as `all_stale`).
    pub fn switch_stale(&self, state: &SwitchState) -> bool {
        !state.in_redis || self.too_old(state.sample.updated_at_ms)
    }

    fn too_old(&self, updated_at_ms: u64) -> bool {
        now_unix_ms().saturating_sub(updated_at_ms) > self.stale_after.as_millis() as u64
    }

    /// Number of switches in the fabric.
    pub fn fabric_size(&self) -> u32 {
        self.switches.len() as u32
    }

    pub fn get(&self, switch: SwitchId) -> Lookup<'_> {
        match self.switches.get(switch.index()) {
            Some(Some(state)) => Lookup::Found(state),
            Some(None) => Lookup::NoData,
            None => Lookup::Unknown,
        }
    }

    /// The `/counters` body, rendered by the first request that needs it.
    pub fn counters_csv(&self) -> &SharedBody {
        self.csv
            .get_or_init(|| SharedBody::new(render::counters_csv(&self.switches)))
    }

    /// The `/telemetry` body, rendered by the first request that needs it.
    pub fn telemetry_json(&self) -> &SharedBody {
        self.json
            .get_or_init(|| SharedBody::new(render::telemetry_json(&self.switches)))
    }
}

/// The read side of the cache, shared with every HTTP worker: the latest published
/// snapshot. Only the cache actor publishes.
#[derive(Clone, Debug)]
pub struct CacheView(Arc<ArcSwap<Snapshot>>);

impl CacheView {
    /// A view of an empty cache for a fabric of `switches` sampled every `interval`.
    pub fn new(switches: u32, interval: Duration) -> CacheView {
        let empty = Snapshot::new(
            vec![None; switches as usize],
            RedisStatus::default(),
            false,
            interval,
        );
        CacheView(Arc::new(ArcSwap::from_pointee(empty)))
    }

    /// The latest snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.0.load_full()
    }

    /// Makes `snapshot` the latest. Hands back the one it replaces when no reader holds it
    /// any more, for its allocations to be reused.
    pub(super) fn publish(&self, snapshot: Snapshot) -> Option<Snapshot> {
        Arc::try_unwrap(self.0.swap(Arc::new(snapshot))).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(switches: usize) -> Snapshot {
        Snapshot::new(
            vec![None; switches],
            RedisStatus::default(),
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
