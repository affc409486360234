//! The published state of the cache: an immutable snapshot that HTTP workers read without
//! a message round trip, with its big bodies rendered at most once.

use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;
use bytes::Bytes;

use super::render;
use crate::model::{Sample, SwitchId};

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
#[derive(Debug, Default)]
pub struct Snapshot {
    pub switches: Vec<Option<SwitchState>>,
    pub redis: RedisStatus,
    /// Whether the cache holds its initial state (every simulated switch has a sample, or
    /// the first read from Redis is done).
    pub loaded: bool,
    csv: OnceLock<Bytes>,
    json: OnceLock<Bytes>,
}

impl Snapshot {
    pub fn new(switches: Vec<Option<SwitchState>>, redis: RedisStatus, loaded: bool) -> Snapshot {
        Snapshot {
            switches,
            redis,
            loaded,
            csv: OnceLock::new(),
            json: OnceLock::new(),
        }
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
    pub fn counters_csv(&self) -> Bytes {
        self.csv
            .get_or_init(|| render::counters_csv(&self.switches).into())
            .clone()
    }

    /// The `/telemetry` body, rendered by the first request that needs it.
    pub fn telemetry_json(&self) -> Bytes {
        self.json
            .get_or_init(|| render::telemetry_json(&self.switches).into())
            .clone()
    }
}

/// The read side of the cache, shared with every HTTP worker: the latest published
/// snapshot. Only the cache actor publishes.
#[derive(Clone, Debug)]
pub struct CacheView(Arc<ArcSwap<Snapshot>>);

impl CacheView {
    /// A view of an empty cache for a fabric of `switches`.
    pub fn new(switches: u32) -> CacheView {
        let empty = Snapshot::new(vec![None; switches as usize], RedisStatus::default(), false);
        CacheView(Arc::new(ArcSwap::from_pointee(empty)))
    }

    /// The latest snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.0.load_full()
    }

    pub(super) fn publish(&self, snapshot: Snapshot) {
        self.0.store(Arc::new(snapshot));
    }
}
