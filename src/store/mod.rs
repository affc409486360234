//! Redis: the key layout and hash codec, the connection pool, the batching writer actor
//! and the reader the cache syncs with.

pub mod codec;
pub mod reader;
pub mod writer;

use std::time::Duration;

use deadpool_redis::redis::{
    AsyncConnectionConfig, ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisConnectionInfo,
};
use deadpool_redis::{Pool, PoolConfig, Runtime, Timeouts};

use crate::config::RedisConfig;

pub use writer::RedisWriter;

/// Connections the pool keeps: one for the writer, one for the cache's reads, one for a
/// final flush that overlaps a write, and a spare.
const POOL_SIZE: usize = 4;

/// What can go wrong talking to Redis. Never fatal: the writer retries, the cache keeps
/// serving what it has.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no connection to Redis: {0}")]
    Connect(String),
    #[error("Redis error: {0}")]
    Redis(#[from] deadpool_redis::redis::RedisError),
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
}

/// Builds the pool. Nothing connects yet, so this succeeds whether or not Redis is up.
pub fn pool(config: &RedisConfig) -> Result<Pool, StoreError> {
    let mut redis = RedisConnectionInfo::default().set_db(config.db);
    if let Some(user) = &config.username {
        redis = redis.set_username(user);
    }
    if let Some(password) = &config.password {
        redis = redis.set_password(password);
    }
    let info: ConnectionInfo = ConnectionAddr::Tcp(config.host.clone(), config.port)
        .into_connection_info()
        .map_err(|e| StoreError::Connect(e.to_string()))?
        .set_redis_settings(redis);
    // redis-rs has timeouts of its own (500 ms per response, 1 s per connect); they are
    // set to `redis.timeout_ms` so that this one setting decides, as documented.
    let timeout = Some(config.timeout());
    let connection = AsyncConnectionConfig::new()
        .set_connection_timeout(timeout)
        .set_response_timeout(timeout);
    let manager = deadpool_redis::Manager::new_with_config(info, connection)
        .map_err(|e| StoreError::Connect(e.to_string()))?;
    // Every pool wait is bounded too, so a hung Redis (SIGSTOP, CLIENT PAUSE) turns into a
    // timeout and a retry rather than a writer stuck forever.
    Pool::builder(manager)
        .config(PoolConfig {
            max_size: POOL_SIZE,
            timeouts: Timeouts {
                wait: timeout,
                create: timeout,
                recycle: timeout,
            },
            ..PoolConfig::default()
        })
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|e| StoreError::Connect(e.to_string()))
}

/// Takes a connection from the pool within `timeout`.
pub(crate) async fn connection(
    pool: &Pool,
    timeout: Duration,
) -> Result<deadpool_redis::Connection, StoreError> {
    match tokio::time::timeout(timeout, pool.get()).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(StoreError::Connect(e.to_string())),
        Err(_) => Err(StoreError::Timeout(timeout)),
    }
}

/// Runs one pipeline within `timeout`. A connection that timed out may still get the late
/// reply, so it is taken out of the pool rather than reused.
pub(crate) async fn query<T: deadpool_redis::redis::FromRedisValue>(
    conn: &mut Option<deadpool_redis::Connection>,
    pipe: &deadpool_redis::redis::Pipeline,
    timeout: Duration,
) -> Result<T, StoreError> {
    let Some(c) = conn.as_mut() else {
        return Err(StoreError::Connect("connection was discarded".into()));
    };
    match tokio::time::timeout(timeout, pipe.query_async::<T>(c)).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => {
            if e.is_unrecoverable_error() {
                conn.take().map(deadpool_redis::Connection::take);
            }
            Err(e.into())
        }
        Err(_) => {
            conn.take().map(deadpool_redis::Connection::take);
            Err(StoreError::Timeout(timeout))
        }
    }
}
