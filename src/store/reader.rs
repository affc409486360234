//! Reads every switch's hash back from Redis, for the cache to stay in sync with writers
//! other than this daemon.

use std::time::Duration;

use deadpool_redis::Pool;
use deadpool_redis::redis::{self, RedisResult};

use super::StoreError;
use super::codec::{RawHash, switch_key};
use crate::model::SwitchId;

/// One switch's hash as Redis returned it, or why it could not be read (a key of the
/// wrong type, a value that is not a hash of strings).
pub type ReadResult = (SwitchId, Result<RawHash, String>);

/// Reads the hashes of `switch-0` ... `switch-{count-1}` with pipelined `HGETALL`s of at
/// most `batch` keys, each pipeline bounded by `timeout`. Only ids of this fabric are read:
/// keys of switches it does not have are never looked at.
pub async fn read_switches(
    pool: &Pool,
    count: u32,
    batch: usize,
    timeout: Duration,
) -> Result<Vec<ReadResult>, StoreError> {
    let mut conn = Some(super::connection(pool, timeout).await?);
    let mut out = Vec::with_capacity(count as usize);
    let ids: Vec<SwitchId> = (0..count).map(SwitchId).collect();
    for chunk in ids.chunks(batch.max(1)) {
        let mut pipe = redis::pipe();
        // A WRONGTYPE reply for one key must not fail the others.
        pipe.ignore_errors();
        for &id in chunk {
            pipe.cmd("HGETALL").arg(switch_key(id));
        }
        let replies: Vec<RedisResult<RawHash>> = super::query(&mut conn, &pipe, timeout).await?;
        out.extend(
            chunk
                .iter()
                .zip(replies)
                .map(|(&id, reply)| (id, reply.map_err(|e| e.to_string()))),
        );
    }
    Ok(out)
}
