//! Redis's health as one component sees it (the writer through its writes, the cache
//! through its reads): one state, and one function per transition that logs the change,
//! sets the `telemetryd_redis_up` gauge and tells whoever listens, together, so that no
//! transition can update one and forget the other.

use std::time::Instant;

use actix::Recipient;
use prometheus_client::metrics::gauge::Gauge;
use slog::{Logger, debug, info, warn};

use super::StoreError;
use crate::messages::{LinkState, RedisHealth};

/// One component's view of Redis, and what a change of it reaches.
pub struct Health {
    state: LinkState,
    log: Logger,
    /// Whether this component reports outages to the operator (WARNING and INFO lines);
    /// one that does not logs its changes at DEBUG (the other component reports them).
    reports: bool,
    /// The gauge this component owns, if it owns it: the writer's while simulating, the
    /// cache's otherwise.
    gauge: Option<Gauge>,
    /// Told of every change.
    listener: Option<Recipient<RedisHealth>>,
}

impl Health {
    pub fn new(
        log: Logger,
        reports: bool,
        gauge: Option<Gauge>,
        listener: Option<Recipient<RedisHealth>>,
    ) -> Health {
        Health {
            state: LinkState::Unknown,
            log,
            reports,
            gauge,
            listener,
        }
    }

    pub fn state(&self) -> &LinkState {
        &self.state
    }

    /// An attempt succeeded: Redis is up. Logs, sets the gauge and notifies once per change.
    pub fn succeeded(&mut self) {
        let message = match &self.state {
            LinkState::Up => return,
            LinkState::Unknown => "Connected to Redis.",
            LinkState::Down { .. } => "Redis reachable again.",
        };
        let down_ms = match &self.state {
            LinkState::Down { since, .. } => since.elapsed().as_millis() as u64,
            _ => 0,
        };
        if self.reports {
            info!(self.log, "{}", message; "down_ms" => down_ms);
        } else {
            debug!(self.log, "Redis seen up (the writer reports it)."; "down_ms" => down_ms);
        }
        self.change(LinkState::Up, 1);
    }

    /// An attempt failed: Redis is down. Logs, sets the gauge and notifies once per change
    /// (a failure while down only updates the error that `/readyz` shows, quietly).
    pub fn failed(&mut self, error: &StoreError) {
        let error = error.to_string();
        let since = match &self.state {
            LinkState::Down { since, error: was } => {
                if *was == error {
                    return;
                }
                debug!(self.log, "Redis still unreachable, with another error."; "error" => &error);
                *since
            }
            _ => {
                if self.reports {
                    warn!(self.log, "Redis unreachable; serving from the cache and retrying.";
                        "error" => &error);
                } else {
                    debug!(self.log, "Redis seen down (the writer reports it)."; "error" => &error);
                }
                Instant::now()
            }
        };
        self.change(LinkState::Down { since, error }, 0);
    }

    fn change(&mut self, state: LinkState, gauge: i64) {
        if let Some(g) = &self.gauge {
            g.set(gauge);
        }
        if let Some(listener) = &self.listener {
            listener.do_send(RedisHealth(state.clone()));
        }
        self.state = state;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(gauge: &Gauge) -> Health {
        Health::new(crate::logging::discard(), true, Some(gauge.clone()), None)
    }

    #[test]
    fn the_gauge_follows_every_transition() {
        let gauge = Gauge::default();
        let mut h = health(&gauge);
        assert_eq!(h.state().name(), "unknown");
        h.succeeded();
        assert_eq!((h.state().name(), gauge.get()), ("up", 1));
        h.failed(&StoreError::Connect("refused".into()));
        assert_eq!((h.state().name(), gauge.get()), ("down", 0));
        assert_eq!(h.state().error(), Some("no connection to Redis: refused"));
        h.succeeded();
        assert_eq!(
            (h.state().name(), gauge.get(), h.state().error()),
            ("up", 1, None)
        );
    }

    #[test]
    fn a_new_error_while_down_keeps_the_time_it_went_down() {
        let gauge = Gauge::default();
        let mut h = health(&gauge);
        h.failed(&StoreError::Connect("refused".into()));
        let LinkState::Down { since, .. } = h.state().clone() else {
            panic!("down")
        };
        h.failed(&StoreError::Connect("reset".into()));
        match h.state() {
            LinkState::Down { since: now, error } => {
                assert_eq!(*now, since);
                assert_eq!(error, "no connection to Redis: reset");
            }
            other => panic!("{other:?}"),
        }
    }
}
