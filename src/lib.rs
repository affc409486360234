//! telemetryd: simulates network-switch telemetry, keeps it in Redis and serves it over HTTP.
//!
//! # Layout
//!
//! A sample flows one way, and the modules follow it:
//!
//! | step | module | role |
//! |---|---|---|
//! | 1 | [`simulate`] | one `SwitchActor` per switch draws a `Sample` from its seeded model on its own timer |
//! | 2 | [`store::writer`] | `RedisWriter` batches samples (latest per switch) into pipelined `HSET`s |
//! | 2 | [`stream::writer`] | `KafkaWriter` (with `kafka.brokers`) hands every sample to librdkafka as a JSON record ([`stream::record`]), a bounded queue dropping oldest first |
//! | 3 | [`store::codec`] | the Redis layout: one hash per switch, `telemetry:switch-<n>` |
//! | 4 | [`cache`] | `CacheActor` keeps the latest state, re-reads Redis each interval, publishes snapshots |
//! | 5 | [`archive`] | `telemetryd archive`: the consumer group -> each batch's rows committed in the database -> offsets committed |
//! | 5 | [`http`] | both listeners answer from the latest snapshot: `/counters` (CSV), `/telemetry` (JSON) |
//!
//! Inside [`http`]: [`http::routes`] (every route's string, in one table),
//! [`http::schema`] (the response types the OpenAPI document describes),
//! [`http::openapi`] (the document and Swagger UI) and [`http::prometheus`] (`/metrics`:
//! the switch series read from the cache, and the daemon's own metrics).
//!
//! In front of both listeners: [`auth`] (bearer tokens by their SHA-256, scopes, the
//! routes left open; [`auth::limit`], a rate limit per token or source address), wired in
//! as a middleware by [`http`], and [`tls`] (a listener's rustls config from its PEM files).
//!
//! With `fabric.enabled`, [`fabric`] is the fat tree and every port's counters (a pure
//! function of the seed and a sample's step): the switches take their totals from it, and
//! the cache renders UFM's per-port bodies from it at each switch's sample.
//!
//! Around them: [`model`] (switch ids, the metric catalogue, `Sample`), [`messages`] (every
//! actor message, and Redis's state as the writer and cache report it), [`store::health`]
//! (one function per Redis state change: log, gauge, notify), [`metrics`] (the daemon's own
//! counters, importing nothing of the daemon), [`config`] (one file per section with its own
//! checks; figment loading that names every bad key and its source; secrets), [`logging`]
//! (slog drains), [`daemon`] (wiring, [`run`]), [`shutdown`] (the stop sequence and its
//! order), [`systemd`] (readiness and watchdog) and [`threads`] (which thread runs what,
//! named and scheduled).

// One exception, in `threads`: setting a thread's scheduling policy (no safe binding has it).
#![deny(unsafe_code)]

pub mod archive;
pub mod auth;
pub mod cache;
pub mod config;
pub mod daemon;
pub mod fabric;
pub mod history;
pub mod http;
pub mod logging;
pub mod messages;
pub mod metrics;
pub mod model;
pub mod shutdown;
pub mod simulate;
pub mod sql;
pub mod store;
pub mod stream;
pub mod systemd;
pub mod threads;
pub mod tls;

pub use config::Config;
pub use daemon::{RunningDaemon, StartError, run};
pub use shutdown::Stopped;
