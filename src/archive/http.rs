//! The archiver's own listener: `/healthz` (JSON: database, Kafka, last batch) and
//! `/metrics` (Prometheus text).

use std::sync::Arc;

use actix_web::{App, HttpResponse, HttpServer, web};

use super::metrics::{ArchiveMetrics, Link};

async fn healthz(metrics: web::Data<Arc<ArchiveMetrics>>) -> HttpResponse {
    let health = metrics.health();
    // 503 while the database is not answering: the archiver is not archiving.
    let mut reply = if health.database == Link::Up {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    reply.json(health)
}

async fn prometheus(metrics: web::Data<Arc<ArchiveMetrics>>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(metrics.render())
}

/// Binds `addr` and returns the server, not yet awaited.
pub fn serve(
    addr: std::net::SocketAddr,
    metrics: Arc<ArchiveMetrics>,
) -> std::io::Result<(actix_web::dev::Server, std::net::SocketAddr)> {
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(metrics.clone()))
            .route("/healthz", web::get().to(healthz))
            .route("/metrics", web::get().to(prometheus))
    })
    .workers(1)
    // Signals are the archiver's to handle: it finishes its batch, then stops this.
    .disable_signals()
    .shutdown_timeout(1)
    .bind(addr)?;
    let bound = server.addrs()[0];
    Ok((server.run(), bound))
}
