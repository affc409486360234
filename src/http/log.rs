//! The request log: one structured line per request with its latency in microseconds.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, web};
use slog::{Logger, info};

/// The logger of one listener, tagged with the listener's name.
#[derive(Clone)]
pub struct RequestLog(pub Logger);

/// Longest path written to the log; a client can send far longer ones.
const PATH_MAX: usize = 256;

/// Middleware: times the request and logs method, path, status, body bytes and latency.
pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let log = req.app_data::<web::Data<RequestLog>>().map(|l| l.0.clone());
    let method = req.method().clone();
    let path: String = req.path().chars().take(PATH_MAX).collect();
    let res = next.call(req).await?;
    if let Some(log) = log {
        let bytes = match res.response().body().size() {
            actix_web::body::BodySize::Sized(n) => n,
            _ => 0,
        };
        // slog writes fields last-to-first: this reads `method path status bytes latency_us`.
        info!(log, "HTTP request.";
            "latency_us" => started.elapsed().as_micros() as u64,
            "bytes" => bytes,
            "status" => res.status().as_u16(),
            "path" => path,
            "method" => %method);
    }
    Ok(res)
}
