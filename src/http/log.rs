//! The one middleware in front of every route: refuses requests over the limits
//! (`limits.rs`), then logs one structured line per request with its latency in
//! microseconds and counts the same request in `/metrics`. One middleware rather than two,
//! written as a `Transform` rather than with `from_fn`: it is on the hottest path there is,
//! and this way each worker keeps its own metric handles (see `RequestMetrics`) and a
//! request costs one boxed future. It also marks each request as in the handlers of its
//! connection until answered, which holds that connection's reads back (`conn.rs`).
//!
//! Request lines are sampled under load: a listener writes at most [`LINES_PER_SECOND`]
//! request lines a second; beyond, lines are skipped and counted, and every
//! [`SUMMARY_INTERVAL`] (and at stop) one summary line per route with skipped lines gives
//! the route's request count and latency (p50, p99, max) over the interval, from an HDR
//! histogram of every request. Each worker records into its own histograms, behind a mutex
//! only the summary ever contends for.

use std::cell::RefCell;
use std::future::{Future, Ready, ready};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::{Error, ResponseError};
use futures_util::future::LocalBoxFuture;
use hdrhistogram::Histogram;
use prometheus_client::metrics::counter::Counter;
use slog::{Logger, info};

use crate::metrics::{DaemonMetrics, RequestMetrics};

/// Request lines one listener writes per second, at most. journald's default rate limit
/// for a service is 10,000 lines per 30 s (`RateLimitBurst`, `RateLimitIntervalSec`): both
/// listeners at this rate write 6,000, which leaves room for every other line. It also
/// keeps the logging thread from taking CPU from the HTTP workers: at 36,000 requests/s,
/// a line per request cost a quarter of the small route's throughput.
pub const LINES_PER_SECOND: u64 = 100;

/// How often a listener writes the summary lines of the routes whose lines it skipped.
pub const SUMMARY_INTERVAL: Duration = Duration::from_secs(10);

/// Latencies the summaries resolve: 1 µs to 60 s, two significant digits.
const LATENCY_MAX_US: u64 = 60_000_000;

/// The middleware, as configured for one listener.
#[derive(Clone)]
pub struct RequestLog {
    /// The listener's config key, as a log field and a metric label.
    pub listener: &'static str,
    pub log: Logger,
    /// Whether request lines are logged at all (level INFO or DEBUG): when not, the
    /// middleware does not even copy the path, nor record latencies for the summary.
    pub enabled: bool,
    pub metrics: Arc<DaemonMetrics>,
    /// The listener's line budget and summary, shared by its workers.
    pub summary: RequestSummary,
}

impl RequestLog {
    /// The middleware for the listener `listener`.
    pub fn new(
        listener: &'static str,
        log: Logger,
        enabled: bool,
        metrics: Arc<DaemonMetrics>,
    ) -> RequestLog {
        let skipped = metrics
            .http_request_lines_skipped
            .get_or_create(&[("listener", listener)])
            .clone();
        RequestLog {
            listener,
            summary: RequestSummary::new(listener, log.clone(), skipped),
            log,
            enabled,
            metrics,
        }
    }
}

/// Longest path written to the log; a client can send far longer ones.
const PATH_MAX: usize = 256;

impl<S, B> Transform<S, ServiceRequest> for RequestLog
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = RequestLogService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    /// Called once per worker: each gets its own metric handles and latency histograms.
    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequestLogService {
            service: Rc::new(service),
            config: Rc::new(self.clone()),
            metrics: Rc::new(RefCell::new(RequestMetrics::new(
                self.metrics.clone(),
                self.listener,
            ))),
            tally: self.summary.worker(),
        }))
    }
}

/// The middleware in one worker.
pub struct RequestLogService<S> {
    service: Rc<S>,
    config: Rc<RequestLog>,
    metrics: Rc<RefCell<RequestMetrics>>,
    tally: Arc<Mutex<Tally>>,
}

impl<S, B> Service<ServiceRequest> for RequestLogService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    /// Answers requests over the limits at once, times the others; logs method, path,
    /// status, body bytes and latency, and counts the request by route pattern (never by raw
    /// path, which a client controls).
    fn call(&self, req: ServiceRequest) -> Self::Future {
        let started = Instant::now();
        let config = self.config.clone();
        let metrics = self.metrics.clone();
        let tally = config.enabled.then(|| self.tally.clone());
        // The budget is taken before the path is copied: a skipped line costs no allocation.
        let logged = (config.enabled && config.summary.take_line(started)).then(|| {
            let path: String = req.path().chars().take(PATH_MAX).collect();
            (req.method().clone(), path)
        });
        let refused = super::limits::refusal(&req);
        let service = self.service.clone();
        // Until the answer is ready (or the connection gone), its connection reads nothing.
        let in_handlers = super::conn::InHandlers::enter(req.request());
        Box::pin(async move {
            let _in_handlers = in_handlers;
            let res = match refused {
                Some(refusal) => req
                    .into_response(refusal.error_response())
                    .map_into_right_body(),
                None => service.call(req).await?.map_into_left_body(),
            };
            let elapsed = started.elapsed();
            let status = res.status().as_u16();
            let route = super::route_label(res.request());
            metrics
                .borrow_mut()
                .observe(route, status, elapsed.as_secs_f64());
            if let Some(tally) = tally {
                let latency_us = elapsed.as_micros() as u64;
                lock(&tally).record(route, latency_us, logged.is_none(), &config.summary);
            }
            if let Some((method, path)) = logged {
                let bytes = match res.response().body().size() {
                    actix_web::body::BodySize::Sized(n) => n,
                    _ => 0,
                };
                // The name of the token the gate let it through with (never the token), as
                // a last field: a child logger only for such lines.
                let token = actix_web::HttpMessage::extensions(res.request())
                    .get::<crate::auth::Client>()
                    .map(|c| config.log.new(slog::o!("token" => c.name.to_string())));
                // slog writes fields last-to-first: this reads `method path status bytes latency_us`.
                info!(token.as_ref().unwrap_or(&config.log), "HTTP request.";
                    "latency_us" => elapsed.as_micros() as u64,
                    "bytes" => bytes,
                    "status" => status,
                    "path" => path,
                    "method" => %method,
                    "listener" => config.listener);
            }
            Ok(res)
        })
    }
}

/// One listener's line budget and latency summary, shared by its workers (cheap to clone).
#[derive(Clone)]
pub struct RequestSummary(Arc<Summary>);

struct Summary {
    listener: &'static str,
    log: Logger,
    /// Start of the budget's seconds.
    epoch: Instant,
    /// The current second since `epoch` (high 32 bits) and the lines written in it (low 32).
    budget: AtomicU64,
    /// Skipped lines, counted as they are skipped (`telemetryd_http_request_lines_skipped`).
    skipped: Counter,
    state: Mutex<SummaryState>,
}

struct SummaryState {
    /// Each worker's tally, registered when the worker starts.
    workers: Vec<Arc<Mutex<Tally>>>,
    /// When the last summary was written.
    since: Instant,
}

/// One worker's requests since the last summary, by route.
#[derive(Default)]
pub struct Tally {
    routes: Vec<RouteTally>,
}

/// One route's requests since the last summary.
struct RouteTally {
    route: &'static str,
    latency_us: Histogram<u64>,
    skipped: u64,
}

impl RouteTally {
    fn new(route: &'static str) -> RouteTally {
        RouteTally {
            route,
            latency_us: Histogram::new_with_bounds(1, LATENCY_MAX_US, 2)
                .expect("1 µs to 60 s at two digits are valid bounds"),
            skipped: 0,
        }
    }
}

impl Tally {
    /// Records one request to `route`; `skipped` when its line was not written.
    fn record(
        &mut self,
        route: &'static str,
        latency_us: u64,
        skipped: bool,
        summary: &RequestSummary,
    ) {
        let at = match self.routes.iter().position(|t| t.route == route) {
            Some(at) => at,
            None => {
                self.routes.push(RouteTally::new(route));
                self.routes.len() - 1
            }
        };
        let tally = &mut self.routes[at];
        tally.latency_us.saturating_record(latency_us.max(1));
        if skipped {
            tally.skipped += 1;
            summary.0.skipped.inc();
        }
    }
}

/// A tally's lock; a worker that panicked ends the process (see `main`), so a poisoned
/// tally is still a consistent one.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl RequestSummary {
    fn new(listener: &'static str, log: Logger, skipped: Counter) -> RequestSummary {
        let now = Instant::now();
        RequestSummary(Arc::new(Summary {
            listener,
            log,
            epoch: now,
            budget: AtomicU64::new(0),
            skipped,
            state: Mutex::new(SummaryState {
                workers: Vec::new(),
                since: now,
            }),
        }))
    }

    /// A new worker's tally, registered for the summaries.
    fn worker(&self) -> Arc<Mutex<Tally>> {
        let tally = Arc::new(Mutex::new(Tally::default()));
        lock(&self.0.state).workers.push(tally.clone());
        tally
    }

    /// Takes one line from the budget of the second `now` is in; false when it is spent.
    fn take_line(&self, now: Instant) -> bool {
        let second = now.saturating_duration_since(self.0.epoch).as_secs() & 0xffff_ffff;
        self.0
            .budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |state| {
                if state >> 32 != second {
                    Some((second << 32) | 1)
                } else if state & 0xffff_ffff < LINES_PER_SECOND {
                    Some(state + 1)
                } else {
                    None
                }
            })
            .is_ok()
    }

    /// Writes one line per route whose request lines were skipped since the last summary,
    /// with the route's requests and latency over that time, and starts a new interval.
    pub fn report(&self) {
        let mut state = lock(&self.0.state);
        let mut routes: Vec<RouteTally> = Vec::new();
        for worker in &state.workers {
            for tally in &mut lock(worker).routes {
                let merged = match routes.iter().position(|t| t.route == tally.route) {
                    Some(at) => &mut routes[at],
                    None => {
                        routes.push(RouteTally::new(tally.route));
                        routes.last_mut().expect("just pushed")
                    }
                };
                // Same bounds on both sides: adding cannot fail.
                let _ = merged.latency_us.add(&tally.latency_us);
                merged.skipped += tally.skipped;
                tally.latency_us.reset();
                tally.skipped = 0;
            }
        }
        let interval_ms = state.since.elapsed().as_millis() as u64;
        state.since = Instant::now();
        drop(state);
        for t in routes.iter().filter(|t| t.skipped > 0) {
            let h = &t.latency_us;
            info!(self.0.log, "HTTP request summary.";
                "interval_ms" => interval_ms,
                "max_us" => h.max(),
                "p99_us" => h.value_at_quantile(0.99),
                "p50_us" => h.value_at_quantile(0.5),
                "skipped" => t.skipped,
                "requests" => h.len(),
                "route" => t.route,
                "listener" => self.0.listener);
        }
    }

    /// Runs `server`, writing the summary every [`SUMMARY_INTERVAL`] until it ends. (The
    /// last interval's is written by the stop sequence, once no request is in flight.)
    pub async fn every_interval_while<F: Future>(self, server: F) -> F::Output {
        let first = tokio::time::Instant::now() + SUMMARY_INTERVAL;
        let mut ticks = tokio::time::interval_at(first, SUMMARY_INTERVAL);
        let mut server = std::pin::pin!(server);
        loop {
            tokio::select! {
                out = &mut server => return out,
                _ = ticks.tick() => self.report(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slog::Drain;

    /// A summary whose lines land in the returned buffer, as logfmt.
    fn summary() -> (RequestSummary, Arc<Mutex<Vec<u8>>>) {
        #[derive(Clone)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                lock(&self.0).extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Arc::new(Mutex::new(Vec::new()));
        let drain = slog_logfmt::Logfmt::new(Buf(buf.clone()))
            .no_prefix()
            .print_msg(true)
            .build();
        let log = Logger::root(Mutex::new(drain).fuse(), slog::o!());
        (
            RequestSummary::new("metric_server", log, Counter::default()),
            buf,
        )
    }

    #[test]
    fn the_budget_allows_lines_per_second_then_refuses_until_the_next_second() {
        let (s, _) = summary();
        let t0 = s.0.epoch;
        let taken = |at| {
            (0..LINES_PER_SECOND + 50)
                .filter(|_| s.take_line(at))
                .count()
        };
        assert_eq!(taken(t0) as u64, LINES_PER_SECOND);
        assert_eq!(taken(t0 + Duration::from_millis(999)), 0);
        assert_eq!(taken(t0 + Duration::from_secs(1)) as u64, LINES_PER_SECOND);
    }

    #[test]
    fn a_summary_merges_every_worker_for_routes_with_skipped_lines_only() {
        let (s, buf) = summary();
        let (a, b) = (s.worker(), s.worker());
        for us in 1..=100 {
            lock(&a).record("/telemetry", us, us % 2 == 0, &s);
            lock(&b).record("/telemetry", us + 100, false, &s);
            lock(&b).record("/counters", us, false, &s);
        }
        assert_eq!(s.0.skipped.get(), 50);
        s.report();
        let text = String::from_utf8(lock(&buf).clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{text}");
        let fields: Vec<&str> = lines[0].split(' ').collect();
        assert_eq!(
            fields[..8],
            [
                "msg=\"HTTP",
                "request",
                "summary.\"",
                "listener=metric_server",
                "route=/telemetry",
                "requests=200",
                "skipped=50",
                "p50_us=100",
            ]
        );
        assert_eq!(fields[8], "p99_us=198");
        assert_eq!(fields[9], "max_us=200");
        // A new interval: nothing to summarise.
        s.report();
        assert_eq!(String::from_utf8(lock(&buf).clone()).unwrap(), text);
    }
}
