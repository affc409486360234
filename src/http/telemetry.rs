//! The metrics API (`metric_server`): `GET /telemetry/`, `/telemetry/{switch_id}` and
//! `/telemetry/{switch_id}/{metric}`, as JSON.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};

use super::error::ApiError;
use super::openapi::{ErrorBody, Fabric, MetricName, MetricValue, SwitchMetrics};
use super::{read, shared_body, stale_header};
use crate::cache::{self, CacheView, Lookup, Snapshot, SwitchState};
use crate::metrics::{CONTENT_TYPE, Metrics};
use crate::model::{Metric, SwitchId};

/// Adds the metrics API's routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(read("/telemetry", all_no_slash))
        .service(read("/telemetry/", all))
        // Before the one-segment route: the router tries patterns in order, and this one is
        // the most requested (one pattern match per request instead of two).
        .service(read("/telemetry/{switch_id}/{metric}", one_metric))
        .service(read("/telemetry/{switch_id}", one_switch))
        .service(read("/metrics", prometheus))
        .configure(super::openapi::routes);
}

/// The switch telemetry and the daemon's own metrics, for Prometheus.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format 0.0.4", body = String,
        content_type = "text/plain; version=0.0.4; charset=utf-8"))
)]
pub(crate) async fn prometheus(metrics: web::Data<Arc<Metrics>>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .body(metrics.render())
}

/// Every switch, `{"switches": {...}}`, rendered once per change.
#[utoipa::path(get, path = "/telemetry/", tag = "telemetry",
    responses((status = 200, description = "Every switch's latest metrics", body = Fabric,
        headers(("x-telemetry-stale" = String, description = "true or false"))))
)]
pub(crate) async fn all(req: HttpRequest, view: web::Data<CacheView>) -> HttpResponse {
    let snapshot = view.snapshot();
    shared_body::respond(
        &req,
        snapshot.telemetry_json(),
        "application/json",
        snapshot.all_stale(),
    )
}

/// The same as `/telemetry/`, as the prototype also answered it without the slash.
#[utoipa::path(get, path = "/telemetry", tag = "telemetry",
    responses((status = 200, description = "Every switch's latest metrics", body = Fabric,
        headers(("x-telemetry-stale" = String, description = "true or false"))))
)]
pub(crate) async fn all_no_slash(req: HttpRequest, view: web::Data<CacheView>) -> HttpResponse {
    all(req, view).await
}

/// One switch's metrics.
#[utoipa::path(get, path = "/telemetry/{switch_id}", tag = "telemetry",
    params(("switch_id" = String, Path, description = "switch-0 ... switch-{N-1}", example = "switch-2")),
    responses(
        (status = 200, description = "The switch's latest metrics", body = SwitchMetrics,
            headers(("x-telemetry-stale" = String, description = "true or false"))),
        (status = 404, description = "No such switch, or no data for it yet", body = ErrorBody),
    )
)]
pub(crate) async fn one_switch(
    req: HttpRequest,
    view: web::Data<CacheView>,
) -> Result<HttpResponse, ApiError> {
    let snapshot = view.snapshot();
    let state = find(&snapshot, segment(&req, "switch_id"))?;
    Ok(json(
        cache::switch_json(&state.sample),
        snapshot.switch_stale(state),
    ))
}

/// One metric of one switch.
#[utoipa::path(get, path = "/telemetry/{switch_id}/{metric}", tag = "telemetry",
    params(
        ("switch_id" = String, Path, description = "switch-0 ... switch-{N-1}", example = "switch-2"),
        ("metric" = MetricName, Path, description = "A metric name", example = "latency_ms"),
    ),
    responses(
        (status = 200, description = "The value", body = MetricValue,
            headers(("x-telemetry-stale" = String, description = "true or false"))),
        (status = 404, description = "No such switch or metric; the body lists the metrics", body = ErrorBody),
    )
)]
pub(crate) async fn one_metric(
    req: HttpRequest,
    view: web::Data<CacheView>,
) -> Result<HttpResponse, ApiError> {
    let (switch_id, metric_name) = (segment(&req, "switch_id"), segment(&req, "metric"));
    let snapshot = view.snapshot();
    let state = find(&snapshot, switch_id)?;
    let metric = Metric::parse(metric_name).ok_or_else(|| ApiError::UnknownMetric {
        switch_id: switch_id.to_string(),
        metric: decoded(metric_name),
    })?;
    let sample = &state.sample;
    let body = cache::metric_json(sample.switch, metric, sample.value(metric));
    Ok(json(body, snapshot.switch_stale(state)))
}

/// A segment of the matched route pattern, as the router decoded it (every percent-escape
/// but `%2F`, `%25` and `%2B`; none of them belongs in a switch id or metric name). Read in
/// place rather than through `web::Path`, which copies each segment into a `String`.
fn segment<'a>(req: &'a HttpRequest, name: &str) -> &'a str {
    // The route matched, so the segment is there; "" (an unknown switch) if it were not.
    req.match_info().get(name).unwrap_or_default()
}

/// A segment fully decoded, for an error that echoes it (what `web::Path` would have given).
fn decoded(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

/// Resolves a switch id from the URL against the snapshot.
fn find<'a>(snapshot: &'a Snapshot, switch_id: &str) -> Result<&'a SwitchState, ApiError> {
    let unknown = || ApiError::UnknownSwitch {
        switch_id: decoded(switch_id),
        switches: snapshot.fabric_size(),
    };
    let switch = SwitchId::parse(switch_id).ok_or_else(unknown)?;
    match snapshot.get(switch) {
        Lookup::Found(state) => Ok(state),
        Lookup::NoData => Err(ApiError::NoData {
            switch_id: switch.to_string(),
        }),
        Lookup::Unknown => Err(unknown()),
    }
}

/// A 200 with a JSON body and the staleness header, put together without a response builder
/// (on the small route, the builder was a tenth of the handler's instructions).
fn json(body: impl actix_web::body::MessageBody + 'static, stale: bool) -> HttpResponse {
    const JSON: HeaderValue = HeaderValue::from_static("application/json");
    let mut response = HttpResponse::with_body(StatusCode::OK, body).map_into_boxed_body();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, JSON);
    let (name, value) = stale_header(stale);
    headers.insert(name, value);
    response
}
