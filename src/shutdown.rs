//! Stopping, in one place.
//!
//! Order, and why:
//! 1. Both listeners stop accepting and finish the requests in flight. They go first so
//!    that no client is answered by a daemon that has already stopped writing.
//! 2. The switches' thread stops, so no sample is drawn after the final flush.
//! 3. The writer stops taking samples, waits for the write in flight, and writes every
//!    pending sample: Redis ends with the latest state of every switch.
//! 4. The writer's and the cache's threads stop (also when the bound ran out), so a
//!    stopped daemon leaves no thread behind in the process that ran it (tests run many).
//!
//! All of it is bounded by `shutdown.timeout_seconds`. A second SIGTERM or SIGINT during
//! the sequence exits at once (see `main`).

use std::time::Instant;

use slog::{info, warn};
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::daemon::RunningDaemon;
use crate::messages::Flush;

/// How a stop went.
#[derive(Debug, PartialEq, Eq)]
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
            if let Some(switches) = &self.threads.switches {
                switches.stop();
            }
            match self.writer.send(Flush).await {
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
        self.threads.cache.stop();
        info!(log, "Stopped."; "outcome" => ?outcome, "took_ms" => started.elapsed().as_millis() as u64);
        outcome
    }
}

/// SIGTERM and SIGINT, installed once so none is missed between two waits.
pub struct Signals {
    term: Signal,
    int: Signal,
}

impl Signals {
    /// Takes over SIGTERM and SIGINT. Must run inside the runtime.
    pub fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// Waits for the next SIGTERM or SIGINT and names it.
    pub async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}
