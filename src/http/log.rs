//! The one middleware in front of every route: refuses requests over the limits
//! (`limits.rs`), then logs one structured line per request with its latency in
//! microseconds and counts the same request in `/metrics`. One middleware rather than two:
//! each layer costs a boxed future per request, on the hottest path there is.

use std::sync::Arc;
use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError, web};
use slog::{Logger, info};

use crate::metrics::DaemonMetrics;

/// What the middleware needs of its listener.
#[derive(Clone)]
pub struct RequestLog {
    /// The listener's config key, as a log field and a metric label.
    pub listener: &'static str,
    pub log: Logger,
    /// Whether request lines are logged at all (level INFO or DEBUG): when not, the
    /// middleware does not even copy the path.
    pub enabled: bool,
    pub metrics: Arc<DaemonMetrics>,
}

/// Longest path written to the log; a client can send far longer ones.
const PATH_MAX: usize = 256;

/// Middleware: answers requests over the limits at once, times the others; logs method,
/// path, status, body bytes and latency, and counts the request by route pattern (never by
/// raw path, which a client controls).
pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let started = Instant::now();
    let l = req.app_data::<web::Data<RequestLog>>().cloned();
    let logged = l.as_ref().filter(|l| l.enabled).map(|_| {
        let path: String = req.path().chars().take(PATH_MAX).collect();
        (req.method().clone(), path)
    });
    let res = match super::limits::refusal(&req) {
        Some(refusal) => req
            .into_response(refusal.error_response())
            .map_into_right_body(),
        None => next.call(req).await?.map_into_left_body(),
    };
    let Some(l) = l else {
        return Ok(res);
    };
    let elapsed = started.elapsed();
    let status = res.status().as_u16();
    let route = super::route_label(res.request());
    l.metrics
        .observe_request(l.listener, route, status, elapsed.as_secs_f64());
    if let Some((method, path)) = logged {
        let bytes = match res.response().body().size() {
            actix_web::body::BodySize::Sized(n) => n,
            _ => 0,
        };
        // slog writes fields last-to-first: this reads `method path status bytes latency_us`.
        info!(l.log, "HTTP request.";
            "latency_us" => elapsed.as_micros() as u64,
            "bytes" => bytes,
            "status" => status,
            "path" => path,
            "method" => %method,
            "listener" => l.listener);
    }
    Ok(res)
}
