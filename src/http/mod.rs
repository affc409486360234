//! Both HTTP listeners: the generator API (`/counters`, CSV) and the metrics API
//! (`/telemetry`, JSON). Every route answers from the cache's published snapshot; no
//! request waits on Redis.

mod accept_log;
pub mod conn;
mod counters;
pub mod error;
mod health;
mod history;
mod limits;
mod log;
pub mod openapi;
pub mod prometheus;
pub mod routes;
pub mod schema;
mod shared_body;
mod telemetry;
mod ufm;

use std::net::SocketAddr;
use std::time::Duration;

use std::future::ready;

use actix_http::error::DispatchError;
use actix_http::{Extensions, HttpService};
use actix_service::{IntoServiceFactory, ServiceFactoryExt, fn_service, map_config};
use actix_web::dev::{AppConfig, HttpServiceFactory, ServerHandle};
use actix_web::http::KeepAlive;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::rt::net::TcpStream;
use actix_web::{
    App, FromRequest, Handler, HttpMessage, HttpRequest, HttpResponse, Responder, guard, web,
};
use slog::{Logger, info, warn};

use std::sync::Arc;

use actix::Addr;

use crate::auth::limit::{Limited, Standing};
use crate::auth::{Guard, Refusal};
use crate::cache::{CacheActor, CacheView};
use crate::config::{Config, LogLevel};
use conn::{Budget, Conn, Connections};
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
/// address is taken or the file-descriptor limit leaves none for connections. Raises the
/// soft descriptor limit to the hard one first and caps each listener's connections below
/// it (see [`conn::Budget`]). Neither serves until [`Bound::start`].
pub fn bind(
    config: &Config,
    view: &CacheView,
    cache: &Addr<CacheActor>,
    metrics: &Arc<Metrics>,
    history: Option<crate::history::Source>,
    guard: Option<Arc<Guard>>,
    log: &Logger,
) -> Result<(Bound, Bound), BindError> {
    let shared = Shared {
        view: view.clone(),
        cache: cache.clone(),
        log: log.clone(),
        metrics: metrics.clone(),
        history,
        guard,
    };
    let workers = [&config.generator_server, &config.metric_server].map(|server| {
        server.workers.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(usize::from)
                .unwrap_or(2)
        })
    });
    accept_log::install(log);
    let (budget, not_raised) = Budget::measure(workers);
    if let Some(e) = not_raised {
        warn!(log, "Cannot raise the file-descriptor limit to its maximum.";
            "fd_limit" => budget.fd_limit, "error" => %e);
    }
    if budget.fd_limit < budget.needed {
        let server = &config.generator_server;
        return Err(BindError {
            key: "generator_server",
            addr: format!("{}:{}", server.host, server.port),
            source: std::io::Error::other(format!(
                "the file-descriptor limit ({}) leaves none for connections; \
                 raise it to at least {} (ulimit -n, LimitNOFILE)",
                budget.fd_limit, budget.needed
            )),
        });
    }
    let [generator_cap, metric_cap] = budget.per_worker;
    info!(log, "Connection limits.";
        "metric_server" => metric_cap * workers[1],
        "generator_server" => generator_cap * workers[0],
        "fd_limit" => budget.fd_limit);
    let generator = bind_one(
        config,
        "generator_server",
        generator_routes,
        &shared,
        workers[0],
        generator_cap,
    )?;
    let metric = bind_one(
        config,
        "metric_server",
        metric_routes,
        &shared,
        workers[1],
        metric_cap,
    )?;
    Ok((generator, metric))
}

/// The generator listener's routes: `/counters`, and UFM's (with `fabric.enabled`).
fn generator_routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(counters::routes).configure(ufm::routes);
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
    /// Where history answers from; None: no history kept.
    history: Option<crate::history::Source>,
    /// The bearer-token gate and the rate limiter; None: neither configured.
    guard: Option<Arc<Guard>>,
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
/// the listener's name, with at most `per_worker` connections on each of its `workers`.
///
/// Served through actix-server and actix-http's HTTP/1 service rather than
/// `actix_web::HttpServer`, which fixes the connection type to a bare TcpStream: every
/// connection here is a [`conn::Conn`], which holds back the reads of a client that does not
/// read its answers (see `conn.rs`).
fn bind_one(
    config: &Config,
    key: &'static str,
    routes: fn(&mut web::ServiceConfig),
    shared: &Shared,
    workers: usize,
    per_worker: usize,
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
    let listener = tcp_listener(addr).map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    let keep_alive = match config.http.keep_alive_seconds {
        0 => KeepAlive::Disabled,
        s => KeepAlive::Timeout(Duration::from_secs(s)),
    };
    let request_timeout = Duration::from_millis(config.http.request_timeout_ms);
    let shared = shared.clone();
    let request_log = RequestLog::new(
        key,
        shared.log.clone(),
        matches!(config.logging.level, LogLevel::Debug | LogLevel::Info),
        shared.metrics.daemon.clone(),
    );
    let summary = request_log.summary.clone();
    // A client that reads none of its answers is as idle as one that sends nothing more.
    let write_timeout = match config.http.keep_alive_seconds {
        0 => request_timeout,
        s => Duration::from_secs(s),
    };
    let connections = Connections::new(
        key,
        per_worker * workers,
        write_timeout,
        &shared.log,
        &shared.metrics.daemon,
    );
    let builder = actix_server::Server::build();
    let graceful = builder.graceful_shutdown_signal();
    let tls = server_config
        .tls()
        .map(|(cert, key)| crate::tls::server_config(cert.as_ref(), key.as_ref()))
        .transpose()
        .map_err(|e| bind_error(std::io::Error::new(std::io::ErrorKind::InvalidInput, e)))?
        .map(tokio_rustls::TlsAcceptor::from);
    // The app and actix-http's HTTP/1 service over connection type `$io`, whose
    // `ConnHandle` `$handle` reaches: the same for plain and TLS connections.
    macro_rules! http_service {
        ($io:ty, $handle:expr) => {{
            let app = App::new()
                .app_data(web::Data::new(shared.view.clone()))
                .app_data(web::Data::new(shared.cache.clone()))
                .app_data(web::Data::new(shared.metrics.clone()))
                .app_data(web::Data::new(shared.history.clone()))
                .app_data(web::Data::new(shared.guard.clone()))
                .app_data(web::Data::new(shared.log.clone()))
                // Inside the request log, which so logs the refusals and the token's name.
                .wrap(actix_web::middleware::from_fn(auth_gate))
                .wrap(request_log.clone())
                .configure(routes)
                .configure(health::routes)
                .default_service(web::to(no_route));
            let graceful = graceful.clone();
            HttpService::<$io, _, _>::build()
                .keep_alive(keep_alive)
                .client_request_timeout(request_timeout)
                // HttpServer's default (actix-http's is none): 1 s to finish a shutdown cleanly.
                .client_disconnect_timeout(Duration::from_secs(1))
                .local_addr(addr)
                // On a graceful stop, idle keep-alive connections close at once.
                .graceful_shutdown_signal(move || {
                    let graceful = graceful.clone();
                    async move { graceful.notified().await }
                })
                .on_connect_ext(|io: &$io, data: &mut Extensions| {
                    data.insert($handle(io));
                })
                .h1(map_config(
                    app.into_factory()
                        .map_err(|e: actix_web::Error| e.error_response()),
                    |_| AppConfig::default(),
                ))
        }};
    }
    let server = builder
        .workers(workers)
        .max_concurrent_connections(per_worker)
        // Signals are the daemon's to handle: it stops the listeners, then flushes Redis.
        .disable_signals()
        .shutdown_timeout(config.shutdown.timeout().as_secs().max(1));
    let server = match tls {
        None => server.listen(key, listener, move || {
            let http = http_service!(Conn, |c: &Conn| c.handle());
            let connections = connections.clone();
            fn_service(move |io: TcpStream| {
                let conn = Conn::new(io, &connections);
                let peer = conn.peer_addr();
                ready(Ok::<_, DispatchError>((conn, peer)))
            })
            .and_then(http)
        }),
        Some(acceptor) => server.listen(key, listener, move || {
            type Tls = tokio_rustls::server::TlsStream<Conn>;
            let http = http_service!(Tls, |t: &Tls| t.get_ref().0.handle());
            let connections = connections.clone();
            let acceptor = acceptor.clone();
            fn_service(move |io: TcpStream| {
                // rustls writes its TLS 1.3 session tickets and the first answer apart;
                // with Nagle on, the answer waited for the client's delayed ACK (about
                // 40 ms in bench/access.sh). A failure only costs that delay.
                let _ = io.set_nodelay(true);
                let conn = Conn::new(io, &connections);
                let peer = conn.peer_addr();
                let acceptor = acceptor.clone();
                // The handshake gets the time a request head gets; a failed one closes
                // the connection (nothing to answer over).
                async move {
                    match tokio::time::timeout(request_timeout, acceptor.accept(conn)).await {
                        Ok(Ok(tls)) => Ok((tls, peer)),
                        Ok(Err(e)) => Err(DispatchError::Io(e)),
                        Err(_) => Err(DispatchError::SlowRequestTimeout),
                    }
                }
            })
            .and_then(http)
        }),
    }
    .map_err(bind_error)?;
    Ok(Bound {
        addr,
        summary,
        run: Box::new(move || server.run()),
    })
}

/// The listening socket, as actix-web's `HttpServer::bind` makes it: SO_REUSEADDR (a
/// restart does not wait for the old connections' TIME_WAIT) and a backlog of 1024.
fn tcp_listener(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
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

/// Lets a request through the gate and the rate limiter (see [`crate::auth`]) or answers
/// its 401, 403 or 429; the client's token name goes on the request for the request log,
/// and a limited answer carries the client's standing.
async fn auth_gate(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    // Answered here, not returned as errors: the request log and the request metrics,
    // outside this middleware, see a refusal as the response it is.
    let refuse = |req: actix_web::dev::ServiceRequest, error: ApiError| {
        Ok(req
            .into_response(actix_web::ResponseError::error_response(&error))
            .map_into_right_body())
    };
    let Some(guard) = req
        .app_data::<web::Data<Option<Arc<Guard>>>>()
        .and_then(|g| g.as_ref().clone())
    else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let client = match &guard.gate {
        Some(gate) => {
            let authorization = req.headers().get(actix_web::http::header::AUTHORIZATION);
            let write = !is_read(req.method());
            match gate.check(req.path(), write, authorization.map(|v| v.as_bytes())) {
                Ok(client) => client,
                Err(refusal) => return refuse(req, refusal.into()),
            }
        }
        None => None,
    };
    let standing = match &guard.limiter {
        Some(limiter) if !Guard::is_probe(req.path()) => {
            let name = client.as_ref().map(|c| &*c.name);
            let peer = req.peer_addr().map(|a| a.ip());
            let checked = limiter.check(name, peer);
            if let Some(metrics) = req.app_data::<web::Data<Arc<Metrics>>>() {
                if limiter.checks() % 1024 == 0 {
                    metrics
                        .daemon
                        .http_rate_limit_clients
                        .set(limiter.clients() as i64);
                }
                if checked.is_err() {
                    let who = name.unwrap_or("anonymous").to_string();
                    metrics
                        .daemon
                        .http_rate_limited
                        .get_or_create(&[("client", who)])
                        .inc();
                }
            }
            match checked {
                Ok(standing) => Some(standing),
                Err(limited) => return refuse(req, ApiError::TooManyRequests { limited }),
            }
        }
        _ => None,
    };
    if let Some(client) = client {
        req.extensions_mut().insert(client);
    }
    let mut res = next.call(req).await?;
    if let Some(standing) = standing {
        rate_limit_headers(res.headers_mut(), &standing);
    }
    Ok(res.map_into_left_body())
}

/// The draft's three headers of a client's standing.
pub(crate) fn rate_limit_headers(headers: &mut actix_web::http::header::HeaderMap, s: &Standing) {
    const LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
    const REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
    const RESET: HeaderName = HeaderName::from_static("ratelimit-reset");
    headers.insert(LIMIT, number_header(s.limit as u64));
    headers.insert(REMAINING, number_header(s.remaining as u64));
    headers.insert(RESET, number_header(s.reset_s));
}

/// A header value holding `n`: the small numbers a standing usually holds are made once and
/// shared, since formatting three values per answer was most of the rate limiter's cost.
fn number_header(n: u64) -> HeaderValue {
    const SHARED: u64 = 1024;
    static VALUES: std::sync::OnceLock<Vec<HeaderValue>> = std::sync::OnceLock::new();
    if n < SHARED {
        let values = VALUES.get_or_init(|| (0..SHARED).map(HeaderValue::from).collect());
        values[n as usize].clone()
    } else {
        HeaderValue::from(n)
    }
}

/// A refused request's headers: its standing and when to come back.
pub(crate) fn limited_headers(headers: &mut actix_web::http::header::HeaderMap, l: &Limited) {
    rate_limit_headers(headers, &l.standing);
    headers.insert(
        actix_web::http::header::RETRY_AFTER,
        HeaderValue::from(l.retry_after_s),
    );
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> ApiError {
        match refusal {
            Refusal::Missing => ApiError::Unauthorized {
                reason: "a bearer token is required",
            },
            Refusal::Invalid => ApiError::Unauthorized {
                reason: "the bearer token is not valid",
            },
            Refusal::Scope { token, needs, has } => ApiError::Forbidden {
                token: token.to_string(),
                needs: needs.name(),
                has: has.name(),
            },
        }
    }
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

pub(crate) async fn method_not_allowed(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(method_not_allowed_error(&req))
}

#[cfg(test)]
mod tests {
    use super::number_header;

    #[test]
    fn a_number_header_holds_its_number_below_and_above_the_shared_ones() {
        for n in [0, 1, 99, 1023, 1024, 86_400, u64::MAX] {
            assert_eq!(number_header(n).to_str().unwrap(), n.to_string());
        }
    }
}
