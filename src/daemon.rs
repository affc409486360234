//! Wiring: builds the actors and listeners in data-flow order and hands back a running
//! daemon that the binary (or a test) stops.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_web::dev::ServerHandle;
use slog::{Logger, info, o, warn};

use crate::cache::{CacheActor, CacheView, SyncSettings};
use crate::config::Config;
use crate::fabric::Fabric;
use crate::history::{Source, Window, database::Archive};
use crate::http::prometheus::Metrics;
use crate::http::{self, BindError};
use crate::model::SwitchId;
use crate::simulate::{SwitchActor, SwitchModel, Writers, phase};
use crate::sql::SqlError;
use crate::store::{self, RedisWriter, StoreError, writer::WriterSettings};
use crate::stream::writer::KafkaSetupError;
use crate::stream::{KafkaSettings, KafkaWriter};
use crate::systemd;
use crate::threads::{self, Ingest};

/// Messages a mailbox holds before `send` waits (actix's default; `do_send` never waits).
const MAILBOX_CAPACITY: usize = 16;

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error("cannot set up the Redis client: {0}")]
    Redis(#[from] StoreError),
    #[error(transparent)]
    Kafka(#[from] KafkaSetupError),
    #[error("cannot set up the history database: {0}")]
    History(#[from] SqlError),
    #[error("auth.tokens_file: {0}")]
    Auth(String),
    #[error("fabric.scenario: {0}")]
    Scenario(String),
    #[error("fabric.counter_sets: {0}")]
    CounterSets(String),
}

/// A started daemon: both listeners serving, every switch ticking.
pub struct RunningDaemon {
    /// Where the generator API listens (useful when the config asked for port 0).
    pub generator_addr: SocketAddr,
    /// Where the metrics API listens.
    pub metric_addr: SocketAddr,
    pub(crate) listeners: [ServerHandle; 2],
    /// The listeners' request-log summaries (the stop sequence writes their last interval).
    pub(crate) summaries: [http::RequestSummary; 2],
    pub(crate) writer: Addr<RedisWriter>,
    pub(crate) kafka: Option<Addr<KafkaWriter>>,
    pub(crate) threads: IngestThreads,
    pub(crate) log: Logger,
    pub(crate) stop_timeout: Duration,
    view: CacheView,
    /// The history database's pool, closed at the stop.
    pub(crate) history_pool: Option<sqlx::mysql::MySqlPool>,
}

/// The arbiters (threads) of the ingest, kept to stop them in order (see `shutdown`).
pub(crate) struct IngestThreads {
    /// None when not simulating.
    pub switches: Option<Arbiter>,
    pub writer: Arbiter,
    /// None when not streaming.
    pub kafka: Option<Arbiter>,
    pub cache: Arbiter,
}

impl RunningDaemon {
    /// The cache's read side, as the HTTP routes see it.
    pub fn cache(&self) -> &CacheView {
        &self.view
    }

    /// Stops at once, without finishing requests or flushing to Redis: for a caller that
    /// cannot wait (a test's drop guard after a failed assertion). `shutdown` is the
    /// orderly stop.
    pub fn abort(self) {
        for listener in &self.listeners {
            // The stop command is sent now; its completion is not waited for.
            drop(listener.stop(false));
        }
        if let Some(switches) = &self.threads.switches {
            switches.stop();
        }
        self.threads.writer.stop();
        if let Some(kafka) = &self.threads.kafka {
            kafka.stop();
        }
        self.threads.cache.stop();
    }
}

/// Starts the daemon inside the current actix System: opens both listeners, starts the
/// cache, the writer and one actor per switch, waits until the cache holds every switch,
/// then serves. Fails only if a listener cannot be opened; Redis being away is not an
/// error (the daemon serves from the cache and keeps retrying).
pub async fn run(config: Config, log: Logger) -> Result<RunningDaemon, StartError> {
    let t = &config.telemetry;
    let r = &config.redis;
    // Drawn here: the fabric's ports follow from it as the switches' samples do.
    let seed = t.seed.unwrap_or_else(rand::random);
    let fabric = if config.fabric.enabled {
        // Read again: the config was checked, so only a file changed since can fail.
        let sets = config
            .fabric
            .counter_set_files()
            .map_err(StartError::CounterSets)?;
        let shape = config.fabric.shape();
        Some(Arc::new(
            Fabric::new(&shape, seed, t.interval()).with_counter_sets(sets),
        ))
    } else {
        None
    };
    let view = CacheView::new(t.switches, t.interval())
        .with_fabric(fabric.clone())
        .with_shard(t.shard);
    let metrics = Arc::new(Metrics::new(view.clone()));
    if let Some(f) = &fabric {
        // Played from the next step: the same file and seed replay the same run.
        let events = config
            .fabric
            .scenario_events(t.interval())
            .map_err(StartError::Scenario)?;
        if !events.is_empty() {
            let start = f.model.step(crate::model::now_unix_ms()) + 1;
            let made = f
                .inject(&events, start)
                .map_err(|e| StartError::Scenario(format!("{}: {}", e.field, e.message)))?;
            crate::fabric::faults::injected(&made, "scenario", &log, &metrics.daemon);
        }
    }
    let sync = SyncSettings {
        pool: store::pool(r)?,
        every: t.interval(),
        batch: r.batch_size,
        timeout: r.timeout(),
        metrics: metrics.daemon.clone(),
    };
    // The listeners need the cache's address (for /healthz), and nothing may run before
    // they are bound: a taken port must end the daemon before any actor has started. So
    // the cache's mailbox is made first and the actor started on it afterwards.
    let (mailbox, inbox) = actix::dev::channel::channel(MAILBOX_CAPACITY);
    let cache = Addr::<CacheActor>::new(mailbox);
    let (history, window) = history_source(&config, &log)?;
    let history_pool = match &history {
        Some(Source::Database(archive)) => Some(archive.pool()),
        _ => None,
    };
    let guard = crate::auth::Guard::new(&config.auth)
        .map_err(StartError::Auth)?
        .map(std::sync::Arc::new);
    if let Some(gate) = guard.as_ref().and_then(|g| g.gate.as_ref()) {
        info!(log, "Bearer tokens required."; "tokens" => gate.token_count());
    }
    if guard.as_ref().is_some_and(|g| g.limiter.is_some()) {
        info!(log, "Rate limit per client."; "rate_per_second" => config.auth.rate_per_second,
            "burst" => config.auth.burst);
    }
    let (generator, metric) = http::bind(&config, &view, &cache, &metrics, history, guard, &log)?;

    // Every fallible step comes before the first thread starts, so an error leaves none behind.
    let writer_pool = store::pool(r)?;
    let kafka_writer = if config.kafka.enabled() {
        let settings = KafkaSettings {
            config: config.kafka.clone(),
            metrics: metrics.daemon.clone(),
        };
        Some(KafkaWriter::new(
            settings,
            cache.clone(),
            log.new(o!("actor" => "kafka")),
        )?)
    } else {
        None
    };

    // Ingest is three threads (arbiters), each named and scheduled as batch work (see
    // `threads`): the switches draw samples on theirs; the writer builds and sends batches
    // and parses the replies on its own, with its own Redis pool; the cache reads Redis back
    // and merges on a third. The System's thread keeps signals and supervision.
    let cache_log = log.new(o!("actor" => "cache"));
    let cache_actor = CacheActor::new(view.clone(), sync, t.simulate, cache_log.clone())
        .with_history(window)
        .with_shard(t.shard);
    let cache_thread = Arbiter::new();
    cache_thread.spawn_fn(move || {
        threads::enter(Ingest::Cache, &cache_log);
        Context::with_receiver(inbox).run(cache_actor);
    });
    let settings = WriterSettings {
        switches: t.switches,
        batch_size: r.batch_size,
        flush_interval: Duration::from_millis(r.flush_interval_ms),
        timeout: r.timeout(),
        simulating: t.simulate,
        metrics: metrics.daemon.clone(),
        fabric: fabric.clone(),
    };
    let writer_cache = cache.clone();
    let writer_log = log.new(o!("actor" => "writer"));
    let writer_thread = Arbiter::new();
    let thread_log = writer_log.clone();
    writer_thread.spawn_fn(move || threads::enter(Ingest::Writer, &thread_log));
    let writer = RedisWriter::start_in_arbiter(&writer_thread.handle(), move |_| {
        RedisWriter::new(writer_pool, writer_cache, settings, writer_log)
    });

    let mut kafka_thread = None;
    let mut kafka = None;
    if let Some(kafka_writer) = kafka_writer {
        let thread = Arbiter::new();
        let thread_log = log.new(o!("actor" => "kafka"));
        thread.spawn_fn(move || threads::enter(Ingest::Kafka, &thread_log));
        kafka = Some(KafkaWriter::start_in_arbiter(&thread.handle(), move |_| {
            kafka_writer
        }));
        info!(log, "Streaming every sample to Kafka."; "brokers" => config.kafka.brokers.join(","),
            "topic" => &config.kafka.topic);
        kafka_thread = Some(thread);
    }

    let mut switches_thread = None;
    if t.simulate {
        if let Some(f) = &fabric {
            info!(log, "Simulating a fat tree with UFM's port counters."; "leaves" => config.fabric.leaves,
                "spines" => config.fabric.spines, "ports" => f.port_count(),
                "link_gbps" => config.fabric.link_gbps);
        }
        info!(log, "Simulating switches."; "switches" => t.switches,
            "interval_s" => t.update_interval_seconds, "seed" => seed);
        let writers = Arc::new(Writers {
            redis: writer.clone(),
            kafka: kafka.clone(),
        });
        let (switches, interval) = (t.switches, t.interval());
        let config_shard = t.shard;
        if let Some(s) = t.shard {
            info!(log, "Simulating one shard; the others come from Redis."; "shard" => s.index,
                "shards" => s.count);
        }
        let switches_log = log.new(o!("actor" => "switches"));
        let thread = Arbiter::new();
        thread.spawn_fn(move || {
            threads::enter(Ingest::Switches, &switches_log);
            let shard = config_shard;
            for n in (0..switches).filter(|&n| shard.is_none_or(|s| s.holds(SwitchId(n)))) {
                let model = SwitchModel::new(seed, SwitchId(n));
                let phase = phase(n, switches, interval);
                SwitchActor::new(model, interval, phase, writers.clone())
                    .in_fabric(fabric.clone())
                    .start();
            }
        });
        switches_thread = Some(thread);
    }

    // Serve only once the cache is complete, so no client sees a partial fabric. Redis
    // cannot hold this up for long: reads are bounded by the Redis timeout.
    let deadline = Instant::now() + r.timeout() * 3 + Duration::from_secs(2);
    while !view.snapshot().loaded {
        if Instant::now() > deadline {
            warn!(log, "Serving before the cache is complete.");
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
    }
    let generator = generator.start();
    let metric = metric.start();
    systemd::ready(&format!(
        "Serving {} switches on {} (CSV) and {} (JSON).",
        t.switches, generator.addr, metric.addr
    ));
    systemd::start_watchdog(cache, writer.clone(), log.clone());
    info!(log, "Serving."; "generator_addr" => %generator.addr, "metric_addr" => %metric.addr,
        "redis" => format!("{}://{}:{}/{}", if r.tls { "rediss" } else { "redis" }, r.host, r.port, r.db));
    Ok(RunningDaemon {
        generator_addr: generator.addr,
        metric_addr: metric.addr,
        listeners: [generator.handle, metric.handle],
        summaries: [generator.summary, metric.summary],
        writer,
        kafka,
        threads: IngestThreads {
            switches: switches_thread,
            writer: writer_thread,
            kafka: kafka_thread,
            cache: cache_thread,
        },
        log,
        stop_timeout: config.shutdown.timeout(),
        view,
        history_pool,
    })
}

/// Where history answers from: the archive's database when `history.database` is set, else
/// the in-memory window the cache fills (none when `history.window` is 0).
fn history_source(
    config: &Config,
    log: &Logger,
) -> Result<(Option<Source>, Option<Arc<Window>>), SqlError> {
    let h = &config.history;
    if h.database.is_some() {
        let archive = Archive::new(h, log.new(o!("component" => "history")))?;
        return Ok((Some(Source::Database(archive)), None));
    }
    if h.window == 0 {
        return Ok((None, None));
    }
    let window = Arc::new(Window::new(
        config.telemetry.switches,
        h.window,
        h.max_points,
    ));
    Ok((Some(Source::Memory(window.clone())), Some(window)))
}
