//! Reads the switches' hashes back from Redis, for the cache to stay in sync with writers
//! other than this daemon, and returns only what differs from what the cache shows.

use std::time::Duration;

use deadpool_redis::Pool;
use deadpool_redis::redis::{self, RedisResult};
use futures_util::StreamExt;

use super::StoreError;
use super::codec::{Decoded, RawFields, decode, parse_updated_at, switch_key};
use crate::model::{Metric, Sample, SwitchId};

/// Reads the hashes of the switches in `targets`, each given with what the cache shows of
/// it, in pipelines of at most `batch` keys (several in flight), each bounded by `timeout`,
/// and returns each switch whose hash differs from what the cache shows, is missing, or has
/// fields it cannot read. Only ids of this fabric are
/// read: keys of switches it does not have are never looked at.
pub async fn read_hashes(
    pool: &Pool,
    targets: Vec<(SwitchId, Option<Sample>)>,
    batch: usize,
    timeout: Duration,
) -> Result<Vec<(SwitchId, Decoded)>, StoreError> {
    let conn = super::connection(pool, timeout).await?;
    let batch = batch.max(1);
    let pipes = targets.chunks(batch).map(|chunk| {
        let mut pipe = redis::pipe();
        // A WRONGTYPE reply for one key must not fail the others.
        pipe.ignore_errors();
        for &(id, _) in chunk {
            let cmd = pipe.cmd("HMGET").arg(switch_key(id));
            for name in Metric::names() {
                cmd.arg(name);
            }
        }
        pipe
    });
    let mut replies = std::pin::pin!(super::pipelined::<Vec<RedisResult<RawFields>>, _>(
        &conn, pipes, timeout
    ));
    let mut changes = Vec::new();
    for chunk in targets.chunks(batch) {
        let Some(reply) = replies.next().await else {
            break;
        };
        let replies = match reply {
            Ok(replies) => replies,
            Err(e) => {
                super::release(conn, Some(&e));
                return Err(e);
            }
        };
        if let Err(e) = refused_whole(&replies) {
            super::release(conn, Some(&e));
            return Err(e);
        }
        for (&(id, ref shown), reply) in chunk.iter().zip(replies) {
            let shown = shown.as_ref();
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

/// Reads `updated_at` of `switch-0` ... `switch-{count-1}`: each switch's time in Redis in
/// Unix milliseconds, or None when its hash is missing, of another type, or its
/// `updated_at` does not parse. About a fifth of the cost of reading every field: a
/// simulating daemon, which rewrites every switch each interval itself, reads the stamps
/// and then every field only of the switches whose stamp is not one it knows.
pub async fn read_stamps(
    pool: &Pool,
    count: u32,
    batch: usize,
    timeout: Duration,
) -> Result<Vec<Option<u64>>, StoreError> {
    let conn = super::connection(pool, timeout).await?;
    let ids: Vec<SwitchId> = (0..count).map(SwitchId).collect();
    let batch = batch.max(1);
    let pipes = ids.chunks(batch).map(|chunk| {
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        for &id in chunk {
            pipe.cmd("HGET")
                .arg(switch_key(id))
                .arg(Metric::UpdatedAt.name());
        }
        pipe
    });
    let mut replies = std::pin::pin!(super::pipelined::<Vec<RedisResult<Option<Vec<u8>>>>, _>(
        &conn, pipes, timeout
    ));
    let mut stamps = Vec::with_capacity(ids.len());
    while let Some(reply) = replies.next().await {
        match reply.and_then(|replies| refused_whole(&replies).map(|()| replies)) {
            Ok(replies) => stamps.extend(
                replies
                    .into_iter()
                    .map(|r| r.ok().flatten().and_then(|b| parse_updated_at(&b))),
            ),
            Err(e) => {
                super::release(conn, Some(&e));
                return Err(e);
            }
        }
    }
    Ok(stamps)
}

/// The first error in a pipeline's replies that is not about its own key alone: Redis
/// refused the whole read (`NOAUTH`, `LOADING`), which is one failed read, not one
/// unreadable hash per switch.
fn refused_whole<T>(replies: &[RedisResult<T>]) -> Result<(), StoreError> {
    match replies
        .iter()
        .find_map(|r| r.as_ref().err().filter(|e| !super::wrong_type(e)))
    {
        Some(e) => Err(StoreError::Redis(e.clone())),
        None => Ok(()),
    }
}

/// How many of the switches `ids` have a key in Redis (`EXISTS`, one round trip): the
/// cache's cheap check, between two full reads, that what it believes Redis holds is
/// still there.
pub async fn count_existing(
    pool: &Pool,
    ids: &[SwitchId],
    timeout: Duration,
) -> Result<usize, StoreError> {
    let conn = super::connection(pool, timeout).await?;
    let mut cmd = redis::cmd("EXISTS");
    for &id in ids {
        cmd.arg(switch_key(id));
    }
    let mut shared: redis::aio::MultiplexedConnection = (*conn).clone();
    let reply = match tokio::time::timeout(timeout, cmd.query_async::<usize>(&mut shared)).await {
        Ok(reply) => reply.map_err(StoreError::from),
        Err(_) => Err(StoreError::Timeout(timeout)),
    };
    super::release(conn, reply.as_ref().err());
    reply
}
