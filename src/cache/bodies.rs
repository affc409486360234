//! The big bodies (`/counters`, `/telemetry/`): rendered at most once per snapshot, gzipped
//! at most once per body, and never waited for while an older one can answer.
//!
//! A body is rendered by the first request that needs it for a snapshot. Rendering the
//! fabric takes milliseconds (tens at 10k switches, with gzip), and an HTTP worker that
//! waited for another to finish would hold every connection it serves meanwhile. So one
//! worker at a time renders a route's body; a request arriving while it does gets the last
//! body rendered, at most one publish older, with its own ETag. Only the very first body
//! of a route is waited for.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use actix_web::http::header::HeaderValue;
use arc_swap::ArcSwapOption;
use bytes::Bytes;

use super::Snapshot;
use super::render;
use crate::fabric::{Fabric, ufm};

/// A route with a big body.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BigBody {
    /// `/counters`, CSV.
    Counters,
    /// `/telemetry/`, JSON.
    Telemetry,
    /// UFM's `/csv/metrics` (generator listener, `fabric.enabled`).
    UfmCsv,
    /// UFM's `/metrics`, Prometheus text.
    UfmPrometheus,
    /// UFM's `/json/metrics`.
    UfmJson,
}

/// A body many requests share: rendered once per snapshot, gzipped at most once, and
/// identified by an ETag derived from its bytes (so identical content keeps its tag across
/// snapshots and restarts). The tags are kept as header values, built once per body.
#[derive(Debug)]
pub struct SharedBody {
    pub bytes: Bytes,
    /// Strong ETag of `bytes`, quoted.
    pub etag: HeaderValue,
    /// ETag of the gzip-compressed body (a different representation, so another tag).
    pub gzip_etag: HeaderValue,
    gzip: OnceLock<Bytes>,
}

impl SharedBody {
    pub fn new(bytes: Vec<u8>) -> SharedBody {
        let mut hasher = std::hash::DefaultHasher::new();
        std::hash::Hash::hash(&bytes, &mut hasher);
        let hash = std::hash::Hasher::finish(&hasher);
        // Hex digits and quotes: always a valid header value.
        let tag = |suffix| HeaderValue::from_str(&format!("\"{hash:016x}{suffix}\"")).ok();
        SharedBody {
            bytes: bytes.into(),
            etag: tag("").unwrap_or(HeaderValue::from_static("\"\"")),
            gzip_etag: tag("-gz").unwrap_or(HeaderValue::from_static("\"-gz\"")),
            gzip: OnceLock::new(),
        }
    }

    /// The gzip-compressed body, compressed by the first request that asks for it.
    pub fn gzip(&self) -> Bytes {
        self.gzip
            .get_or_init(|| {
                use std::io::Write;
                // Fast compression: these bodies are numbers and names, which compress
                // well even at level 1, and a scrape should not wait on deflate.
                let mut gz = flate2::write::GzEncoder::new(
                    Vec::with_capacity(self.bytes.len() / 4),
                    flate2::Compression::fast(),
                );
                // Writing into memory cannot fail.
                let _ = gz.write_all(&self.bytes);
                gz.finish().unwrap_or_default().into()
            })
            .clone()
    }

    /// Whether the gzip-compressed body is ready (no request will wait for it).
    pub fn is_gzipped(&self) -> bool {
        self.gzip.get().is_some()
    }
}

/// The last body rendered for one route, and whether a worker is rendering or compressing
/// one right now.
#[derive(Debug, Default)]
struct Latest {
    plain: ArcSwapOption<SharedBody>,
    /// The last body whose gzip is ready.
    gzipped: ArcSwapOption<SharedBody>,
    busy: AtomicBool,
}

/// The last body of each big-body route, shared by every HTTP worker (see the module
/// documentation).
#[derive(Debug, Default)]
pub struct LatestBodies {
    counters: Latest,
    telemetry: Latest,
    ufm: [Latest; 3],
}

/// Clears a `Latest::busy` flag when the work it claimed ends, however it ends.
struct Claim<'a>(&'a AtomicBool);

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl LatestBodies {
    /// `route`'s body for `snapshot`, gzipped if `gzip`: the snapshot's own if it is ready
    /// or this request can make it; the last one rendered while another worker is making
    /// it.
    /// The UFM bodies show `fabric`'s ports (empty without one).
    pub fn body(
        &self,
        snapshot: &Snapshot,
        route: BigBody,
        gzip: bool,
        fabric: Option<&Fabric>,
    ) -> Arc<SharedBody> {
        let (latest, slot) = match route {
            BigBody::Counters => (&self.counters, &snapshot.csv),
            BigBody::Telemetry => (&self.telemetry, &snapshot.json),
            BigBody::UfmCsv => (&self.ufm[0], &snapshot.ufm[0]),
            BigBody::UfmPrometheus => (&self.ufm[1], &snapshot.ufm[1]),
            BigBody::UfmJson => (&self.ufm[2], &snapshot.ufm[2]),
        };
        if let Some(body) = slot.get()
            && (!gzip || body.is_gzipped())
        {
            return body.clone();
        }
        let claim = latest
            .busy
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
            .then(|| Claim(&latest.busy));
        if claim.is_none() {
            let last = if gzip { &latest.gzipped } else { &latest.plain };
            if let Some(body) = last.load_full() {
                return body;
            }
        }
        let body = slot
            .get_or_init(|| {
                let ports = || {
                    fabric
                        .into_iter()
                        .flat_map(|f| ufm::rows(f, snapshot.sample_times(), None))
                };
                let bytes = match route {
                    BigBody::Counters => render::counters_csv(&snapshot.switches),
                    BigBody::Telemetry => render::telemetry_json(&snapshot.switches),
                    BigBody::UfmCsv => ufm::csv(ports()),
                    BigBody::UfmPrometheus => ufm::prometheus(&ports().collect::<Vec<_>>()),
                    BigBody::UfmJson => ufm::json(ports()),
                };
                Arc::new(SharedBody::new(bytes))
            })
            .clone();
        latest.plain.store(Some(body.clone()));
        if gzip {
            body.gzip();
            latest.gzipped.store(Some(body.clone()));
        }
        drop(claim);
        body
    }

    #[cfg(test)]
    fn claim(&self, route: BigBody) -> Claim<'_> {
        let latest = match route {
            BigBody::Counters => &self.counters,
            BigBody::Telemetry => &self.telemetry,
            _ => &self.ufm[0],
        };
        latest.busy.store(true, Ordering::Release);
        Claim(&latest.busy)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::cache::snapshot::SwitchState;
    use crate::messages::LinkState;
    use crate::model::{Sample, SwitchId};

    fn snapshot(latency_ms: f64) -> Snapshot {
        let sample = Sample {
            switch: SwitchId(0),
            bandwidth_in_mbps: 1.0,
            bandwidth_out_mbps: 1.0,
            latency_ms,
            packet_errors: 0,
            updated_at_ms: 1_000,
        };
        Snapshot::new(
            vec![Some(SwitchState {
                sample,
                in_redis: true,
            })],
            LinkState::Unknown,
            true,
            Duration::from_secs(1),
        )
    }

    #[test]
    fn a_body_is_rendered_once_per_snapshot_and_gzipped_once() {
        let bodies = LatestBodies::default();
        let s = snapshot(1.0);
        let plain = bodies.body(&s, BigBody::Telemetry, false, None);
        assert!(!plain.is_gzipped());
        let gzipped = bodies.body(&s, BigBody::Telemetry, true, None);
        assert!(Arc::ptr_eq(&plain, &gzipped) && gzipped.is_gzipped());
        assert!(Arc::ptr_eq(
            &gzipped,
            &bodies.body(&s, BigBody::Telemetry, true, None)
        ));
    }

    #[test]
    fn while_another_worker_renders_a_route_its_last_body_answers() {
        let bodies = LatestBodies::default();
        let (old, new) = (snapshot(1.0), snapshot(2.0));
        let old_body = bodies.body(&old, BigBody::Counters, true, None);

        let busy = bodies.claim(BigBody::Counters);
        for gzip in [false, true] {
            let body = bodies.body(&new, BigBody::Counters, gzip, None);
            assert!(Arc::ptr_eq(&body, &old_body), "gzip: {gzip}");
        }
        assert!(new.csv.get().is_none(), "rendered while another worker was");
        // Another route is not held up.
        let telemetry = bodies.body(&new, BigBody::Telemetry, false, None);
        assert!(
            std::str::from_utf8(&telemetry.bytes)
                .unwrap()
                .contains("\"latency_ms\":2.0")
        );

        drop(busy);
        let body = bodies.body(&new, BigBody::Counters, true, None);
        assert_ne!(body.etag, old_body.etag);
        assert!(body.is_gzipped());
        assert!(Arc::ptr_eq(&body, new.csv.get().unwrap()));
    }

    #[test]
    fn the_first_body_of_a_route_is_waited_for_not_skipped() {
        let bodies = LatestBodies::default();
        let s = snapshot(1.0);
        let _busy = bodies.claim(BigBody::Telemetry);
        let body = bodies.body(&s, BigBody::Telemetry, true, None);
        assert!(body.is_gzipped());
        assert!(Arc::ptr_eq(&body, s.json.get().unwrap()));
    }

    #[test]
    fn a_last_body_without_gzip_does_not_answer_a_gzip_request() {
        let bodies = LatestBodies::default();
        let (old, new) = (snapshot(1.0), snapshot(2.0));
        let old_body = bodies.body(&old, BigBody::Counters, false, None);
        let _busy = bodies.claim(BigBody::Counters);
        let body = bodies.body(&new, BigBody::Counters, true, None);
        assert!(!Arc::ptr_eq(&body, &old_body));
        assert!(body.is_gzipped());
    }
}
