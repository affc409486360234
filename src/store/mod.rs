//! Redis: the key layout and hash codec, the connection pool, the batching writer actor
//! and the reader the cache syncs with.

pub mod codec;
pub mod health;
pub mod reader;
pub mod writer;

use std::time::Duration;

use deadpool_redis::redis::aio::MultiplexedConnection;
use deadpool_redis::redis::{
    AsyncConnectionConfig, Client, ConnectionAddr, ConnectionInfo, IntoConnectionInfo,
    RedisConnectionInfo,
};
use deadpool_redis::{Pool, PoolConfig, Runtime, Timeouts};

use crate::config::RedisConfig;

pub use writer::RedisWriter;

/// Connections a pool keeps. The writer and the cache have a pool each (see `pool`): one
/// connection in use, one for a final flush that overlaps a write, and a spare.
const POOL_SIZE: usize = 3;

/// What can go wrong talking to Redis. Never fatal: the writer retries, the cache keeps
/// serving what it has.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no connection to Redis: {0}")]
    Connect(String),
    #[error("Redis error: {0}")]
    Redis(#[from] deadpool_redis::redis::RedisError),
    #[error("Redis did not answer within {} ms", .0.as_millis())]
    Timeout(Duration),
}

/// Builds a pool. The writer and the cache each get their own, on their own threads: a
/// connection's I/O runs on the thread that opened it, so sharing one pool would put the
/// writer's replies on the cache's thread or the other way round. Nothing connects yet, so
/// this succeeds whether or not Redis is up.
pub fn pool(config: &RedisConfig) -> Result<Pool, StoreError> {
    let mut redis = RedisConnectionInfo::default().set_db(config.db);
    if let Some(user) = &config.username {
        redis = redis.set_username(user);
    }
    if let Some(password) = &config.password {
        redis = redis.set_password(password.expose());
    }
    let connect = |e: deadpool_redis::redis::RedisError| StoreError::Connect(e.to_string());
    let addr = if config.tls {
        ConnectionAddr::TcpTls {
            host: config.host.clone(),
            port: config.port,
            insecure: false,
            tls_params: None,
        }
    } else {
        ConnectionAddr::Tcp(config.host.clone(), config.port)
    };
    let mut info: ConnectionInfo = addr
        .into_connection_info()
        .map_err(connect)?
        .set_redis_settings(redis);
    if config.tls {
        crate::tls::install_provider();
        let certificates = config
            .tls_certificates()
            .map_err(|(key, why)| StoreError::Connect(format!("redis.{key}: {why}")))?;
        // redis-rs parses the certificates into the address; the pool's manager takes it.
        info = Client::build_with_tls(info, certificates)
            .map_err(connect)?
            .get_connection_info()
            .clone();
    }
    // redis-rs has timeouts of its own (500 ms per response, 1 s per connect); they are
    // set to `redis.timeout_ms` so that this one setting decides, as documented.
    let timeout = Some(config.timeout());
    let connection = AsyncConnectionConfig::new()
        .set_connection_timeout(timeout)
        .set_response_timeout(timeout);
    let manager = deadpool_redis::Manager::new_with_config(info, connection).map_err(connect)?;
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

/// `PING`s Redis on `conn` within `timeout`: the cheapest command that a server refusing
/// this client answers with its reason (`NOAUTH`, `WRONGPASS`).
pub(crate) async fn ping(
    conn: &deadpool_redis::Connection,
    timeout: Duration,
) -> Result<(), StoreError> {
    let mut conn: MultiplexedConnection = (**conn).clone();
    let ping = deadpool_redis::redis::cmd("PING");
    match tokio::time::timeout(timeout, ping.query_async::<String>(&mut conn)).await {
        Ok(reply) => reply.map(drop).map_err(StoreError::from),
        Err(_) => Err(StoreError::Timeout(timeout)),
    }
}

/// Whether a command's error concerns its key alone (another client made it a non-hash);
/// any other error (OOM, READONLY, NOAUTH) means Redis takes no such command at all.
pub(crate) fn wrong_type(error: &deadpool_redis::redis::RedisError) -> bool {
    error.code() == Some("WRONGTYPE")
}

/// How many pipelines of one read or write may be on the wire at once. More than one lets
/// this daemon build and parse batches while Redis executes the one before (Redis runs the
/// commands of one connection in order either way); a few are enough to keep both busy.
const IN_FLIGHT: usize = 4;

/// Sends `pipes` over one connection, up to `IN_FLIGHT` at a time, each bounded by
/// `timeout`, and yields their replies in order. A pipeline is built only when a slot is
/// free, so at most `IN_FLIGHT` of them are in memory.
pub(crate) fn pipelined<T, I>(
    conn: &deadpool_redis::Connection,
    pipes: I,
    timeout: Duration,
) -> impl futures_util::Stream<Item = Result<T, StoreError>> + use<T, I>
where
    T: deadpool_redis::redis::FromRedisValue,
    I: IntoIterator<Item = deadpool_redis::redis::Pipeline>,
{
    use futures_util::StreamExt;
    // Clones of a multiplexed connection share its socket: commands keep their order.
    let shared: MultiplexedConnection = (**conn).clone();
    futures_util::stream::iter(pipes)
        .map(move |pipe| {
            let mut conn = shared.clone();
            async move {
                match tokio::time::timeout(timeout, pipe.query_async::<T>(&mut conn)).await {
                    Ok(reply) => reply.map_err(StoreError::from),
                    Err(_) => Err(StoreError::Timeout(timeout)),
                }
            }
        })
        .buffered(IN_FLIGHT)
}

/// Gives `conn` back to the pool after `error`, or drops it when it can no longer be
/// trusted: after a timeout the late reply may still arrive, and some errors leave the
/// connection broken.
pub(crate) fn release(conn: deadpool_redis::Connection, error: Option<&StoreError>) {
    let broken = match error {
        Some(StoreError::Timeout(_)) => true,
        Some(StoreError::Redis(e)) => e.is_unrecoverable_error(),
        _ => false,
    };
    if broken {
        drop(deadpool_redis::Connection::take(conn));
    }
}
