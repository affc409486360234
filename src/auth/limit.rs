//! Rate limiting per client: a token bucket (governor's GCRA) per token, or per source
//! address for requests without one (an IPv6 address by its /64, which one host holds
//! whole). Every limited answer says where the client stands (`RateLimit-Limit`,
//! `-Remaining`, `-Reset`, IETF httpapi ratelimit-headers draft); a refused one also says
//! when to come back (`Retry-After`).
//!
//! Memory: the addresses' buckets are forgotten once full again (governor's
//! `retain_recent`, every [`SWEEP_EVERY`] checks), and at most `auth.max_clients` are held;
//! past that, new addresses share one bucket until old ones are forgotten.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use crate::config::{AuthConfig, TokenConfig};

type Direct = RateLimiter<NotKeyed, InMemoryState, DefaultClock, StateInformationMiddleware>;
type Keyed =
    RateLimiter<IpAddr, DefaultKeyedStateStore<IpAddr>, DefaultClock, StateInformationMiddleware>;

/// Checks between two sweeps of forgotten addresses.
pub const SWEEP_EVERY: u64 = 4096;
/// The bucket new addresses share while `max_clients` are held.
const OVERFLOW: IpAddr = IpAddr::V6(Ipv6Addr::UNSPECIFIED);

/// Where a client stands, for the headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Standing {
    /// The burst: requests a full bucket allows at once.
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the bucket is full again (rounded up).
    pub reset_s: u64,
}

/// A refusal: the client's standing, and seconds until one more request is allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limited {
    pub standing: Standing,
    pub retry_after_s: u64,
}

/// Every client's bucket.
pub struct Limiter {
    tokens: HashMap<Arc<str>, Direct>,
    addresses: Keyed,
    max_clients: usize,
    checks: AtomicU64,
}

/// The quota of `rate` requests a second with bursts of `burst`.
fn quota(rate: f64, burst: u32) -> Option<Quota> {
    let period = Duration::from_secs_f64(1.0 / rate);
    Some(Quota::with_period(period)?.allow_burst(NonZeroU32::new(burst)?))
}

impl Limiter {
    /// The limiter of `config`; None when `auth.rate_per_second` is 0 and no token has a
    /// rate of its own.
    pub fn new(config: &AuthConfig, tokens: &[TokenConfig]) -> Option<Limiter> {
        let own = tokens.iter().any(|t| t.rate_per_second.is_some());
        if config.rate_per_second <= 0.0 && !own {
            return None;
        }
        // A token with a rate of its own where the global one is off: others go unlimited,
        // which a huge quota stands for.
        let (rate, burst) = if config.rate_per_second > 0.0 {
            (config.rate_per_second, config.burst)
        } else {
            (1e6, u32::MAX)
        };
        let global = quota(rate, burst)?;
        let tokens = tokens
            .iter()
            .map(|t| {
                let q = quota(t.rate_per_second.unwrap_or(rate), t.burst.unwrap_or(burst))
                    .unwrap_or(global);
                let limiter =
                    RateLimiter::direct(q).with_middleware::<StateInformationMiddleware>();
                (Arc::from(t.name.as_str()), limiter)
            })
            .collect();
        Some(Limiter {
            tokens,
            addresses: RateLimiter::keyed(global).with_middleware::<StateInformationMiddleware>(),
            max_clients: config.max_clients,
            checks: AtomicU64::new(0),
        })
    }

    /// One request from the holder of `token`, or from `peer` without one.
    pub fn check(&self, token: Option<&str>, peer: Option<IpAddr>) -> Result<Standing, Limited> {
        if let Some(limiter) = token.and_then(|t| self.tokens.get(t)) {
            return self.judge(limiter.check(), limiter.clock());
        }
        let key = self.key(peer.unwrap_or(OVERFLOW));
        self.judge(self.addresses.check_key(&key), self.addresses.clock())
    }

    /// The address's bucket key; sweeps now and then, and sends new addresses to the
    /// shared bucket while the map is full.
    fn key(&self, peer: IpAddr) -> IpAddr {
        let key = match peer {
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
            IpAddr::V6(v6) => IpAddr::V4(
                v6.to_ipv4_mapped()
                    .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
            ),
            v4 => v4,
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.sweep();
        }
        if self.addresses.len() >= self.max_clients {
            return OVERFLOW;
        }
        key
    }

    /// Forgets the addresses whose bucket is full again.
    pub fn sweep(&self) {
        self.addresses.retain_recent();
        self.addresses.shrink_to_fit();
    }

    /// Addresses held now.
    pub fn clients(&self) -> usize {
        self.addresses.len()
    }

    fn judge(
        &self,
        outcome: Result<
            governor::middleware::StateSnapshot,
            governor::NotUntil<<DefaultClock as Clock>::Instant>,
        >,
        clock: &DefaultClock,
    ) -> Result<Standing, Limited> {
        match outcome {
            Ok(snapshot) => {
                let q = snapshot.quota();
                let remaining = snapshot.remaining_burst_capacity();
                let used = q.burst_size().get().saturating_sub(remaining);
                let reset = q.replenish_interval().saturating_mul(used);
                Ok(Standing {
                    limit: q.burst_size().get(),
                    remaining,
                    reset_s: reset.as_secs_f64().ceil() as u64,
                })
            }
            Err(not_until) => {
                let q = not_until.quota();
                let wait = not_until.wait_time_from(clock.now());
                let full = q.replenish_interval().saturating_mul(q.burst_size().get());
                Err(Limited {
                    standing: Standing {
                        limit: q.burst_size().get(),
                        remaining: 0,
                        reset_s: full.as_secs_f64().ceil() as u64,
                    },
                    retry_after_s: wait.as_secs_f64().ceil().max(1.0) as u64,
                })
            }
        }
    }

    /// Checks counted so far (a sweep every [`SWEEP_EVERY`]).
    pub fn checks(&self) -> u64 {
        self.checks.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(rate: f64, burst: u32, max_clients: usize) -> AuthConfig {
        AuthConfig {
            rate_per_second: rate,
            burst,
            max_clients,
            ..AuthConfig::default()
        }
    }

    fn token(name: &str, rate: Option<f64>, burst: Option<u32>) -> TokenConfig {
        TokenConfig {
            name: name.into(),
            scope: crate::config::Scope::Read,
            sha256: "0".repeat(64),
            rate_per_second: rate,
            burst,
        }
    }

    #[test]
    fn a_burst_passes_then_the_next_is_refused_with_when_to_retry() {
        let l = Limiter::new(&config(1.0, 3, 10), &[]).unwrap();
        let peer = Some("192.0.2.1".parse().unwrap());
        let remaining: Vec<u32> = (0..3)
            .map(|_| l.check(None, peer).unwrap().remaining)
            .collect();
        assert_eq!(remaining, [2, 1, 0]);
        let refused = l.check(None, peer).unwrap_err();
        assert_eq!(refused.standing.limit, 3);
        assert_eq!(refused.standing.remaining, 0);
        assert_eq!(refused.retry_after_s, 1);
        // Another address has its own bucket.
        assert!(l.check(None, Some("192.0.2.2".parse().unwrap())).is_ok());
    }

    #[test]
    fn a_token_has_its_own_bucket_and_quota() {
        let l = Limiter::new(
            &config(1.0, 1, 10),
            &[token("grafana", Some(100.0), Some(50))],
        )
        .unwrap();
        let peer = Some("192.0.2.1".parse().unwrap());
        let s = l.check(Some("grafana"), peer).unwrap();
        assert_eq!((s.limit, s.remaining), (50, 49));
        assert!(l.check(None, peer).is_ok());
        assert!(
            l.check(None, peer).is_err(),
            "the address's own burst of 1 is spent"
        );
        assert!(l.check(Some("grafana"), peer).is_ok(), "the token's is not");
    }

    #[test]
    fn an_ipv6_host_is_one_client_and_the_map_never_holds_more_than_max_clients() {
        let l = Limiter::new(&config(1.0, 1, 100), &[]).unwrap();
        assert!(l.check(None, Some("2001:db8::1".parse().unwrap())).is_ok());
        assert!(
            l.check(None, Some("2001:db8::2".parse().unwrap())).is_err(),
            "same /64"
        );
        for i in 0..10_000u32 {
            let peer = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            let _ = l.check(None, Some(peer));
            assert!(l.clients() <= 101, "{} clients held", l.clients());
        }
    }

    #[test]
    fn off_unless_a_rate_is_given() {
        assert!(Limiter::new(&config(0.0, 100, 10), &[]).is_none());
        let own = Limiter::new(&config(0.0, 100, 10), &[token("bot", Some(1.0), Some(1))]).unwrap();
        assert!(own.check(Some("bot"), None).is_ok());
        assert!(own.check(Some("bot"), None).is_err());
        assert!(
            (0..1000).all(|_| own.check(None, None).is_ok()),
            "others unlimited"
        );
    }
}
