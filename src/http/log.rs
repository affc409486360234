//! The one middleware in front of every route: refuses requests over the limits
//! (`limits.rs`), then logs one structured line per request with its latency in
//! microseconds and counts the same request in `/metrics`. One middleware rather than two,
//! written as a `Transform` rather than with `from_fn`: it is on the hottest path there is,
//! and this way each worker keeps its own metric handles (see `RequestMetrics`) and a
//! request costs one boxed future. It also marks each request as in the handlers of its
//! connection until answered, which holds that connection's reads back (`conn.rs`).

use std::cell::RefCell;
use std::future::{Ready, ready};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::{Error, ResponseError};
use futures_util::future::LocalBoxFuture;
use slog::{Logger, info};

use crate::metrics::{DaemonMetrics, RequestMetrics};

/// The middleware, as configured for one listener.
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

    /// Called once per worker: each gets its own metric handles.
    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequestLogService {
            service: Rc::new(service),
            config: Rc::new(self.clone()),
            metrics: Rc::new(RefCell::new(RequestMetrics::new(
                self.metrics.clone(),
                self.listener,
            ))),
        }))
    }
}

/// The middleware in one worker.
pub struct RequestLogService<S> {
    service: Rc<S>,
    config: Rc<RequestLog>,
    metrics: Rc<RefCell<RequestMetrics>>,
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
        let logged = config.enabled.then(|| {
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
            if let Some((method, path)) = logged {
                let bytes = match res.response().body().size() {
                    actix_web::body::BodySize::Sized(n) => n,
                    _ => 0,
                };
                // slog writes fields last-to-first: this reads `method path status bytes latency_us`.
                info!(config.log, "HTTP request.";
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
