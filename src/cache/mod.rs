//! CacheActor: the latest state of every switch, fed by the writer and kept in sync with
//! Redis, published as snapshots that the HTTP routes answer from.
//!
//! Two inputs: `Stored` from the writer (what this daemon produced, confirmed in Redis or
//! not), and a read of every switch's hash each update interval (what any writer,
//! this daemon or another, left in Redis). A newer sample wins; on a tie Redis wins, so a
//! value another client writes shows up within one interval.

mod render;
mod snapshot;

use std::collections::HashSet;
use std::time::Duration;

use actix::prelude::*;
use deadpool_redis::Pool;
use slog::{Logger, debug, info, warn};

use crate::messages::{RedisHealth, Stored};
use crate::model::SwitchId;
use crate::store::StoreError;
use crate::store::codec::{Decoded, decode};
use crate::store::reader::{ReadResult, read_switches};

pub use render::{metric_json, switch_json};
pub use snapshot::{CacheView, Lookup, RedisStatus, Snapshot, SwitchState};

/// How the cache reads Redis back.
#[derive(Clone, Debug)]
pub struct SyncSettings {
    pub pool: Pool,
    /// Time between two reads of every switch (the update interval).
    pub every: Duration,
    /// Keys per pipelined read.
    pub batch: usize,
    pub timeout: Duration,
}

/// The cache actor. See the module comment.
pub struct CacheActor {
    log: Logger,
    view: CacheView,
    states: Vec<Option<SwitchState>>,
    redis: RedisStatus,
    sync: SyncSettings,
    /// Whether this daemon simulates the switches: then the cache is loaded once every
    /// switch has a sample; otherwise once Redis has been read.
    simulating: bool,
    syncing: bool,
    synced_once: bool,
    /// Whether the last read of Redis worked, to log changes once.
    reads_ok: Option<bool>,
    /// Switches whose hash we already warned about; cleared when it reads cleanly again.
    warned: HashSet<SwitchId>,
}

impl CacheActor {
    pub fn new(view: CacheView, sync: SyncSettings, simulating: bool, log: Logger) -> CacheActor {
        let switches = view.snapshot().switches.len();
        CacheActor {
            log,
            view,
            states: vec![None; switches],
            redis: RedisStatus::default(),
            sync,
            simulating,
            syncing: false,
            synced_once: false,
            reads_ok: None,
            warned: HashSet::new(),
        }
    }

    fn publish(&self) {
        let loaded = if self.simulating {
            self.states.iter().all(Option::is_some)
        } else {
            self.synced_once
        };
        self.view.publish(Snapshot::new(
            self.states.clone(),
            self.redis.clone(),
            loaded,
        ));
    }

    fn start_sync(&mut self, ctx: &mut Context<Self>) {
        if self.syncing {
            return;
        }
        self.syncing = true;
        let s = self.sync.clone();
        let count = self.states.len() as u32;
        let read = async move { read_switches(&s.pool, count, s.batch, s.timeout).await };
        ctx.spawn(read.into_actor(self).map(|result, act, _| {
            act.syncing = false;
            act.synced_once = true;
            act.apply_read(result);
            act.publish();
        }));
    }

    /// Merges what Redis holds into the cache.
    fn apply_read(&mut self, result: Result<Vec<ReadResult>, StoreError>) {
        let hashes = match result {
            Ok(hashes) => hashes,
            Err(error) => {
                if self.reads_ok != Some(false) {
                    // The writer reports outages; only a read-only daemon has to say it here.
                    if self.simulating {
                        debug!(self.log, "Cannot read Redis back; serving the cache."; "error" => %error);
                    } else {
                        warn!(self.log, "Cannot read Redis; serving the cache and retrying."; "error" => %error);
                    }
                }
                self.reads_ok = Some(false);
                if !self.simulating {
                    self.redis = RedisStatus {
                        up: Some(false),
                        error: Some(error.to_string()),
                    };
                }
                return;
            }
        };
        if self.reads_ok == Some(false) && !self.simulating {
            info!(self.log, "Reading Redis again.");
        }
        self.reads_ok = Some(true);
        if !self.simulating {
            self.redis = RedisStatus {
                up: Some(true),
                error: None,
            };
        }
        for (switch, hash) in hashes {
            let slot = &mut self.states[switch.index()];
            let known = slot.as_ref().map(|s| &s.sample);
            let decoded = match hash {
                Ok(hash) => decode(switch, &hash, known),
                Err(why) => Decoded::Unreadable {
                    problems: vec![why],
                },
            };
            match decoded {
                Decoded::Missing => {
                    if let Some(state) = slot {
                        state.in_redis = false;
                    }
                    self.warned.remove(&switch);
                }
                Decoded::Sample { sample, problems } => {
                    let newer_or_same =
                        known.is_none_or(|k| sample.updated_at_ms >= k.updated_at_ms);
                    if newer_or_same {
                        *slot = Some(SwitchState {
                            sample,
                            in_redis: problems.is_empty(),
                        });
                    }
                    self.note_problems(switch, problems);
                }
                Decoded::Unreadable { problems } => self.note_problems(switch, problems),
            }
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
    }
}

impl Handler<Stored> for CacheActor {
    type Result = ();

    fn handle(&mut self, msg: Stored, _: &mut Context<Self>) {
        for sample in msg.samples {
            let Some(slot) = self.states.get_mut(sample.switch.index()) else {
                continue;
            };
            let take = match slot {
                None => true,
                Some(old) => {
                    sample.updated_at_ms > old.sample.updated_at_ms
                        || (sample.updated_at_ms == old.sample.updated_at_ms && msg.in_redis)
                }
            };
            if take {
                *slot = Some(SwitchState {
                    sample,
                    in_redis: msg.in_redis,
                });
            }
        }
        self.publish();
    }
}

impl Handler<RedisHealth> for CacheActor {
    type Result = ();

    fn handle(&mut self, msg: RedisHealth, _: &mut Context<Self>) {
        self.redis = RedisStatus {
            up: Some(msg.up),
            error: msg.error,
        };
        self.publish();
    }
}
