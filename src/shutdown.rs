//! Stopping, in one place.
//!
//! Order, and why:
//! 1. Both listeners stop accepting and finish the requests in flight. They go first so
//!    that no client is answered by a daemon that has already stopped writing. Then each
//!    writes its request summary for the last interval, now that no request is left out.
//!    With `history.database`, its pool is closed: no request is left to use it.
//! 2. The switches' thread stops, so no sample is drawn after the final flush.
//! 3. The writer stops taking samples, waits for the write in flight, and writes every
//!    pending sample: Redis ends with the latest state of every switch.
//!    The Kafka writer, alongside, stops taking samples and gives librdkafka half the
//!    time left to deliver what it holds (what it cannot is counted as undelivered).
//! 4. The writer's and the cache's threads stop (also when the bound ran out), so a
//!    stopped daemon leaves no thread behind in the process that ran it (tests run many).
//!
//! All of it is bounded by `shutdown.timeout_seconds`. A second SIGTERM or SIGINT during
//! the sequence exits at once (see `main`). SIGHUP (reopen the log file) and SIGUSR1/2
//! (ignored) are handled before and during the sequence alike: none of them stops anything.

use std::time::Instant;

use slog::{info, warn};
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::daemon::RunningDaemon;
use crate::messages::{Flush, StreamFlush};

/// How a stop went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// Everything pending reached Redis.
    Clean { flushed: usize },
    /// The listeners stopped but some samples did not reach Redis (it was away or slow).
    Unflushed,
    /// The bound ran out.
    TimedOut,
}

impl RunningDaemon {
    /// Stops the daemon in the order described in this module.
    pub async fn shutdown(self) -> Stopped {
        let started = Instant::now();
        let log = self.log.clone();
        info!(log, "Stopping."; "timeout_ms" => self.stop_timeout.as_millis() as u64);
        crate::systemd::stopping();
        let sequence = async {
            let [a, b] = &self.listeners;
            futures_util::future::join(a.stop(true), b.stop(true)).await;
            for summary in &self.summaries {
                summary.report();
            }
            // No request is left to ask the history database: its connections are closed
            // (COM_QUIT) rather than dropped.
            if let Some(pool) = &self.history_pool {
                pool.close().await;
            }
            if let Some(switches) = &self.threads.switches {
                switches.stop();
            }
            let stream = async {
                let Some(kafka) = &self.kafka else { return };
                let within = self.stop_timeout.saturating_sub(started.elapsed()) / 2;
                if let Ok(left) = kafka.send(StreamFlush(within)).await
                    && left > 0
                {
                    warn!(log, "Samples not delivered to Kafka before the stop."; "undelivered" => left);
                }
            };
            let (redis, ()) = futures_util::future::join(self.writer.send(Flush), stream).await;
            match redis {
                Ok(Ok(flushed)) => Stopped::Clean { flushed },
                Ok(Err(error)) => {
                    warn!(log, "Final flush to Redis failed; the latest samples are lost."; "error" => %error);
                    Stopped::Unflushed
                }
                Err(_) => Stopped::Unflushed,
            }
        };
        let outcome = tokio::time::timeout(self.stop_timeout, sequence)
            .await
            .unwrap_or(Stopped::TimedOut);
        self.threads.writer.stop();
        if let Some(kafka) = &self.threads.kafka {
            kafka.stop();
        }
        self.threads.cache.stop();
        let took_ms = started.elapsed().as_millis() as u64;
        match outcome {
            Stopped::Clean { flushed } => {
                info!(log, "Stopped."; "took_ms" => took_ms, "flushed" => flushed, "outcome" => outcome.name());
            }
            _ => info!(log, "Stopped."; "took_ms" => took_ms, "outcome" => outcome.name()),
        }
        outcome
    }
}

impl Stopped {
    /// The outcome as the stop line names it: `clean`, `unflushed` or `timed_out`.
    pub fn name(self) -> &'static str {
        match self {
            Stopped::Clean { .. } => "clean",
            Stopped::Unflushed => "unflushed",
            Stopped::TimedOut => "timed_out",
        }
    }
}

/// A signal the daemon handles, and what it asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// SIGTERM or SIGINT: stop (a second one while stopping: exit at once).
    Stop(&'static str),
    /// SIGHUP: reopen the log file (logrotate's `postrotate`), keep serving.
    Reopen(&'static str),
    /// SIGUSR1, SIGUSR2: nothing to do, but their default action would end the process.
    Ignore(&'static str),
}

impl Received {
    /// The signal's name, as logged (`SIGTERM`).
    pub fn name(self) -> &'static str {
        match self {
            Received::Stop(name) | Received::Reopen(name) | Received::Ignore(name) => name,
        }
    }
}

/// Every signal the daemon handles, installed once so none is missed between two waits.
/// Each one installed no longer has its default action (for SIGHUP, SIGUSR1 and SIGUSR2:
/// ending the process without a line or a flush).
pub struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
    usr1: Signal,
    usr2: Signal,
}

impl Signals {
    /// Takes over SIGTERM, SIGINT, SIGHUP, SIGUSR1 and SIGUSR2. Must run inside the runtime.
    pub fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
            usr1: signal(SignalKind::user_defined1())?,
            usr2: signal(SignalKind::user_defined2())?,
        })
    }

    /// Waits for the next signal and says what it asks for.
    pub async fn next(&mut self) -> Received {
        tokio::select! {
            _ = self.term.recv() => Received::Stop("SIGTERM"),
            _ = self.int.recv() => Received::Stop("SIGINT"),
            _ = self.hup.recv() => Received::Reopen("SIGHUP"),
            _ = self.usr1.recv() => Received::Ignore("SIGUSR1"),
            _ = self.usr2.recv() => Received::Ignore("SIGUSR2"),
        }
    }
}
