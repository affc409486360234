//! Both HTTP listeners: the generator API (`/counters`, CSV) and the metrics API
//! (`/telemetry`, JSON). Every route answers from the cache's published snapshot; no
//! request waits on Redis.

mod counters;
pub mod error;
mod health;
mod limits;
mod log;
pub mod openapi;
pub mod prometheus;
pub mod routes;
pub mod schema;
mod shared_body;
mod telemetry;

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::dev::{HttpServiceFactory, ServerHandle};
use actix_web::http::KeepAlive;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{
    App, FromRequest, Handler, HttpMessage, HttpRequest, HttpResponse, HttpServer, Responder,
    guard, web,
};
use slog::Logger;

use std::sync::Arc;

use actix::Addr;

use crate::cache::{CacheActor, CacheView};
use crate::config::{Config, LogLevel};
use error::ApiError;
use log::RequestLog;
pub use log::RequestSummary;
use prometheus::Metrics;

/// Header on every data answer: `true` when some switch in it is not confirmed in Redis or
/// older than `STALE_INTERVALS` update intervals, or the cache is still loading.
pub const STALE_HEADER: &str = "x-telemetry-stale";

/// The `x-telemetry-stale` header, as a header of a response: built once, not parsed per
/// request.
fn stale_header(stale: bool) -> (HeaderName, HeaderValue) {
    const NAME: HeaderName = HeaderName::from_static(STALE_HEADER);
    const TRUE: HeaderValue = HeaderValue::from_static("true");
    const FALSE: HeaderValue = HeaderValue::from_static("false");
    (NAME, if stale { TRUE } else { FALSE })
}

/// A listener that could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr} ({key}): {source}")]
pub struct BindError {
    /// The config section of the listener.
    pub key: &'static str,
    pub addr: String,
    #[source]
    pub source: std::io::Error,
}

/// A running listener.
pub struct Listener {
    pub addr: SocketAddr,
    pub handle: ServerHandle,
    /// Its request-log summary, for the stop sequence to write the last interval's.
    pub summary: RequestSummary,
}

/// Binds both listeners, (generator, metric), failing before anything is served if an
/// address is taken. Neither serves until [`Bound::start`].
pub fn bind(
    config: &Config,
    view: &CacheView,
    cache: &Addr<CacheActor>,
    metrics: &Arc<Metrics>,
    log: &Logger,
) -> Result<(Bound, Bound), BindError> {
    let shared = Shared {
        view: view.clone(),
        cache: cache.clone(),
        log: log.clone(),
        metrics: metrics.clone(),
    };
    let generator = bind_one(config, "generator_server", counters::routes, &shared)?;
    let metric = bind_one(config, "metric_server", metric_routes, &shared)?;
    Ok((generator, metric))
}

/// The metrics listener's routes: the API and its description.
fn metric_routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(telemetry::routes).configure(openapi::routes);
}

/// What every listener's workers share.
#[derive(Clone)]
struct Shared {
    view: CacheView,
    cache: Addr<CacheActor>,
    log: Logger,
    metrics: Arc<Metrics>,
}

/// A listener whose socket is open but which does not serve yet.
pub struct Bound {
    pub addr: SocketAddr,
    summary: RequestSummary,
    run: Box<dyn FnOnce() -> actix_web::dev::Server>,
}

impl Bound {
    /// Starts serving.
    pub fn start(self) -> Listener {
        let server = (self.run)();
        let handle = server.handle();
        actix_web::rt::spawn(self.summary.clone().every_interval_while(server));
        Listener {
            addr: self.addr,
            handle,
            summary: self.summary,
        }
    }
}

/// Opens one listener serving `routes` and the health routes, every request logged with
/// the listener's name.
fn bind_one(
    config: &Config,
    key: &'static str,
    routes: fn(&mut web::ServiceConfig),
    shared: &Shared,
) -> Result<Bound, BindError> {
    let server_config = if key == "generator_server" {
        &config.generator_server
    } else {
        &config.metric_server
    };
    let bind_error = |source| BindError {
        key,
        addr: format!("{}:{}", server_config.host, server_config.port),
        source,
    };
    let addr = server_config
        .addr()
        .map_err(|e| bind_error(std::io::Error::new(std::io::ErrorKind::InvalidInput, e)))?;
    let workers = server_config.workers.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(2)
    });
    let keep_alive = match config.http.keep_alive_seconds {
        0 => KeepAlive::Disabled,
        s => KeepAlive::Timeout(Duration::from_secs(s)),
    };
    let shared = shared.clone();
    let request_log = RequestLog::new(
        key,
        shared.log.clone(),
        matches!(config.logging.level, LogLevel::Debug | LogLevel::Info),
        shared.metrics.daemon.clone(),
    );
    let summary = request_log.summary.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(shared.view.clone()))
            .app_data(web::Data::new(shared.cache.clone()))
            .app_data(web::Data::new(shared.metrics.clone()))
            .wrap(request_log.clone())
            .configure(routes)
            .configure(health::routes)
            .default_service(web::to(no_route))
    })
    .workers(workers)
    // Signals are the daemon's to handle: it stops the listeners, then flushes Redis.
    .disable_signals()
    .shutdown_timeout(config.shutdown.timeout().as_secs().max(1))
    .client_request_timeout(Duration::from_millis(config.http.request_timeout_ms))
    .keep_alive(keep_alive)
    .bind(addr)
    .map_err(bind_error)?;
    let addr = server.addrs().first().copied().unwrap_or(addr);
    Ok(Bound {
        addr,
        summary,
        run: Box::new(move || server.run()),
    })
}

/// Every route pattern a `read` resource is registered at (see `routes`).
pub use routes::ALL as ROUTES;

/// The route of a request its handler found itself (see `telemetry::by_switch`), as a
/// request extension: one of `ROUTES`.
#[derive(Clone, Copy)]
struct RouteLabel(&'static str);

/// The route a request matched, for metrics: its pattern, `other` for a route not in
/// `ROUTES` (the API docs), `unmatched` when none matched.
fn route_label(req: &HttpRequest) -> &'static str {
    if let Some(RouteLabel(route)) = req.extensions().get::<RouteLabel>() {
        return route;
    }
    match req.match_name() {
        Some(name) => ROUTES
            .iter()
            .find(|r| **r == name)
            .copied()
            .unwrap_or("other"),
        None if req.match_pattern().is_some() => "other",
        None => "unmatched",
    }
}

/// A resource answering GET and HEAD with `handler`, and 405 to any other method, named
/// after its pattern (see `route_label`).
fn read<H, Args>(path: &'static str, handler: H) -> impl HttpServiceFactory
where
    H: Handler<Args>,
    Args: FromRequest + 'static,
    H::Output: Responder + 'static,
{
    debug_assert!(ROUTES.contains(&path), "{path} missing from ROUTES");
    web::resource(path)
        .name(path)
        .route(
            web::route()
                .guard(guard::fn_guard(|ctx| is_read(&ctx.head().method)))
                .to(handler),
        )
        .default_service(web::to(method_not_allowed))
}

/// Whether a request's method is one every route answers (GET or HEAD).
fn is_read(method: &actix_web::http::Method) -> bool {
    matches!(
        *method,
        actix_web::http::Method::GET | actix_web::http::Method::HEAD
    )
}

/// The 404 for a path no route takes.
fn no_route_error(req: &HttpRequest) -> ApiError {
    ApiError::NoRoute {
        path: req.path().to_string(),
    }
}

/// The 405 for a method other than those `is_read` accepts.
fn method_not_allowed_error(req: &HttpRequest) -> ApiError {
    ApiError::MethodNotAllowed {
        method: req.method().to_string(),
    }
}

async fn no_route(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(no_route_error(&req))
}

async fn method_not_allowed(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(method_not_allowed_error(&req))
}
