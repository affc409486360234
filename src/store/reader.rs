//! Reads the switches' hashes back from Redis, for the cache to stay in sync with writers
//! other than this daemon, and returns only what differs from what the cache shows.

use std::time::Duration;

use deadpool_redis::redis::{self, RedisResult};
use deadpool_redis::{Connection, Pool};

use super::StoreError;
use super::codec::{Decoded, RawFields, decode, parse_updated_at, switch_key};
use crate::model::{Metric, Sample, SwitchId};

/// How much of every hash a read looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadDepth {
    /// Every field of every switch (a daemon that only serves: every value comes from
    /// other writers, who may change any single field).
    Full,
    /// `updated_at` of every switch, then every field of the switches whose `updated_at`
    /// differs from what the cache shows (a simulating daemon, which rewrites every switch
    /// each interval itself; about a fifth of the full read's cost).
    Stamps,
}

/// Reads the hashes of `switch-0` ... `switch-{N-1}` (N = `known.len()`) in pipelines of at
/// most `batch` keys, each bounded by `timeout`, and returns each switch whose hash differs
/// from `known` (what the cache shows), is missing, or has fields it cannot read. Only ids
/// of this fabric are read: keys of switches it does not have are never looked at.
pub async fn read_changes(
    pool: &Pool,
    known: Vec<Option<Sample>>,
    depth: ReadDepth,
    batch: usize,
    timeout: Duration,
) -> Result<Vec<(SwitchId, Decoded)>, StoreError> {
    let mut conn = Some(super::connection(pool, timeout).await?);
    let all: Vec<SwitchId> = (0..known.len() as u32).map(SwitchId).collect();
    let to_read = match depth {
        ReadDepth::Full => all,
        ReadDepth::Stamps => changed_stamps(&mut conn, &all, &known, batch, timeout).await?,
    };
    let mut changes = Vec::new();
    for chunk in to_read.chunks(batch.max(1)) {
        let mut pipe = redis::pipe();
        // A WRONGTYPE reply for one key must not fail the others.
        pipe.ignore_errors();
        for &id in chunk {
            let cmd = pipe.cmd("HMGET").arg(switch_key(id));
            for name in Metric::names() {
                cmd.arg(name);
            }
        }
        let replies: Vec<RedisResult<RawFields>> = super::query(&mut conn, &pipe, timeout).await?;
        for (&id, reply) in chunk.iter().zip(replies) {
            let shown = known[id.index()].as_ref();
            let decoded = match reply {
                Ok(fields) => decode(id, &fields, shown),
                Err(e) => Decoded::Unreadable {
                    problems: vec![e.to_string()],
                },
            };
            let unchanged = matches!(&decoded, Decoded::Sample { sample, problems }
                if problems.is_empty() && Some(sample) == shown);
            if !unchanged {
                changes.push((id, decoded));
            }
        }
    }
    Ok(changes)
}

/// The switches whose `updated_at` in Redis is not the one the cache shows (or is absent
/// or unreadable).
async fn changed_stamps(
    conn: &mut Option<Connection>,
    ids: &[SwitchId],
    known: &[Option<Sample>],
    batch: usize,
    timeout: Duration,
) -> Result<Vec<SwitchId>, StoreError> {
    let mut changed = Vec::new();
    for chunk in ids.chunks(batch.max(1)) {
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        for &id in chunk {
            pipe.cmd("HGET")
                .arg(switch_key(id))
                .arg(Metric::UpdatedAt.name());
        }
        let replies: Vec<RedisResult<Option<Vec<u8>>>> = super::query(conn, &pipe, timeout).await?;
        for (&id, reply) in chunk.iter().zip(replies) {
            let in_redis = reply.ok().flatten().and_then(|b| parse_updated_at(&b));
            let shown = known[id.index()].map(|s| s.updated_at_ms);
            if in_redis.is_none() || in_redis != shown {
                changed.push(id);
            }
        }
    }
    Ok(changed)
}
