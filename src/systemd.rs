//! systemd integration: READY=1 once serving, STOPPING=1 when stopping, and WATCHDOG=1
//! pings that only go out while the actors answer. Every call is a no-op outside systemd
//! (no NOTIFY_SOCKET).

use std::time::Duration;

use actix::prelude::*;
use slog::{Logger, info, warn};

use crate::cache::CacheActor;
use crate::messages::Ping;
use crate::store::RedisWriter;

/// Tells systemd the daemon is ready (both listeners bound, cache loaded).
pub fn ready(status: &str) {
    let _ = sd_notify::notify(
        false,
        &[
            sd_notify::NotifyState::Ready,
            sd_notify::NotifyState::Status(status),
        ],
    );
}

/// Tells systemd the daemon is stopping.
pub fn stopping() {
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
}

/// When systemd asked for a watchdog (`WatchdogSec=`), pings it at half the period, each
/// ping only after both the cache and the writer actor answered a `Ping` in time. A wedged
/// actor system stops the pings and systemd restarts the daemon; a busy one still answers.
pub fn start_watchdog(cache: Addr<CacheActor>, writer: Addr<RedisWriter>, log: Logger) {
    start_watchdog_with(
        log,
        "Actors did not answer the watchdog check; not pinging systemd.",
        move || {
            let (cache, writer) = (cache.clone(), writer.clone());
            async move { cache.send(Ping).await.is_ok() && writer.send(Ping).await.is_ok() }
        },
    );
}

/// The watchdog of [`start_watchdog`] with any check: a ping goes out at half the period
/// only when `check` answers true within it; otherwise `failed` is logged.
pub fn start_watchdog_with<F, Fut>(log: Logger, failed: &'static str, mut check: F)
where
    F: FnMut() -> Fut + 'static,
    Fut: Future<Output = bool> + 'static,
{
    let mut usec = 0;
    if !sd_notify::watchdog_enabled(false, &mut usec) || usec == 0 {
        return;
    }
    let period = Duration::from_micros(usec) / 2;
    info!(log, "Watchdog enabled."; "ping_every_ms" => period.as_millis() as u64);
    actix::spawn(async move {
        let mut tick = tokio::time::interval(period);
        loop {
            tick.tick().await;
            match tokio::time::timeout(period, check()).await {
                Ok(true) => {
                    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
                }
                _ => warn!(log, "{}", failed),
            }
        }
    });
}
