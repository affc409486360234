//! The metrics API (`metric_server`): `GET /telemetry/`, `/telemetry/{switch_id}` and
//! `/telemetry/{switch_id}/{metric}`, as JSON.

use std::sync::Arc;

use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, web};

use super::error::ApiError;
use super::{STALE_HEADER, read};
use crate::cache::{self, CacheView, Lookup, Snapshot, SwitchState};
use crate::metrics::{CONTENT_TYPE, Metrics};
use crate::model::{Metric, SwitchId};

/// Adds the metrics API's routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(read("/telemetry", all))
        .service(read("/telemetry/", all))
        .service(read("/telemetry/{switch_id}", one_switch))
        .service(read("/telemetry/{switch_id}/{metric}", one_metric))
        .service(read("/metrics", prometheus));
}

/// `GET /metrics`: the switch telemetry and the daemon's own metrics for Prometheus.
async fn prometheus(metrics: web::Data<Arc<Metrics>>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .body(metrics.render())
}

/// `GET /telemetry/`: every switch, `{"switches": {...}}`, rendered once per change.
async fn all(view: web::Data<CacheView>) -> HttpResponse {
    let snapshot = view.snapshot();
    json(snapshot.telemetry_json(), snapshot.all_stale())
}

/// `GET /telemetry/{switch_id}`: that switch's metrics.
async fn one_switch(
    view: web::Data<CacheView>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let snapshot = view.snapshot();
    let state = find(&snapshot, &path)?;
    Ok(json(
        cache::switch_json(&state.sample),
        snapshot.switch_stale(state),
    ))
}

/// `GET /telemetry/{switch_id}/{metric}`: `{"switch_id", "metric", "value"}`.
async fn one_metric(
    view: web::Data<CacheView>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (switch_id, metric_name) = path.into_inner();
    let snapshot = view.snapshot();
    let state = find(&snapshot, &switch_id)?;
    let metric = Metric::parse(&metric_name).ok_or(ApiError::UnknownMetric {
        switch_id,
        metric: metric_name,
    })?;
    let sample = &state.sample;
    let body = cache::metric_json(sample.switch, metric, sample.value(metric));
    Ok(json(body, snapshot.switch_stale(state)))
}

/// Resolves a switch id from the URL against the snapshot.
fn find<'a>(snapshot: &'a Snapshot, switch_id: &str) -> Result<&'a SwitchState, ApiError> {
    let unknown = || ApiError::UnknownSwitch {
        switch_id: switch_id.to_string(),
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

fn json(body: impl actix_web::body::MessageBody + 'static, stale: bool) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(ContentType::json())
        .insert_header((STALE_HEADER, if stale { "true" } else { "false" }))
        .body(body)
}
