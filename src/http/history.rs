//! `GET /telemetry/{switch_id}/{metric}/history?from=&to=&step=`: a switch's metric over a
//! time range, from the archive's database or the in-memory window (see `history`).

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use slog::warn;

use super::error::{ApiError, decoded};
use super::routes;
use super::schema::{ErrorBody, HistoryBody, MetricName};
use crate::cache::CacheView;
use crate::history::database::HistoryError;
use crate::history::query::{BadParameter, points};
use crate::history::{HistoryQuery, Source};
use crate::model::{Metric, SwitchId};

impl From<BadParameter> for ApiError {
    fn from(b: BadParameter) -> ApiError {
        ApiError::BadParameter {
            parameter: b.parameter,
            message: b.message,
        }
    }
}

/// One metric of one switch over time.
#[utoipa::path(get, path = routes::HISTORY, tag = "telemetry",
    params(
        ("switch_id" = String, Path, description = "switch-0 ... switch-{N-1}", example = "switch-2"),
        ("metric" = MetricName, Path, description = "A metric name", example = "latency_ms"),
        ("from" = Option<String>, Query, description = "Start, RFC 3339 or Unix seconds; default: an hour before `to`"),
        ("to" = Option<String>, Query, description = "End (excluded), RFC 3339 or Unix seconds; default: now"),
        ("step" = Option<String>, Query, description = "Bucket width, seconds or a duration (`5m`); each point then has min, avg, max, count"),
    ),
    responses(
        (status = 200, description = "The series, oldest first", body = HistoryBody),
        (status = 400, description = "A malformed parameter or too many points; the body names the parameter", body = ErrorBody),
        (status = 404, description = "No such switch or metric", body = ErrorBody),
        (status = 503, description = "The history database did not answer", body = ErrorBody),
    )
)]
pub(crate) async fn history(
    req: &HttpRequest,
    view: &CacheView,
    switch_id: &str,
    metric_name: &str,
) -> Result<HttpResponse, ApiError> {
    let switches = view.snapshot().fabric_size();
    let switch = SwitchId::parse(switch_id)
        .filter(|s| s.0 < switches)
        .ok_or_else(|| ApiError::UnknownSwitch {
            switch_id: decoded(switch_id),
            switches,
        })?;
    let metric = Metric::parse(metric_name).ok_or_else(|| ApiError::UnknownMetric {
        switch_id: switch.to_string(),
        metric: decoded(metric_name),
    })?;
    let source = req
        .app_data::<web::Data<Option<Source>>>()
        .and_then(|s| s.as_ref().as_ref())
        .ok_or(ApiError::NoHistory)?;
    let params = web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .map_err(|e| ApiError::BadParameter {
            parameter: "query".into(),
            message: e.to_string(),
        })?
        .into_inner();
    let (q, series) = match source {
        Source::Memory(window) => {
            let q = HistoryQuery::parse(switch, metric, &params, window.max_points())?;
            let samples = window.series(switch, metric, q.from_ms, q.to_ms);
            if q.step_ms.is_none() && samples.len() > window.max_points() {
                return Err(HistoryQuery::too_many_samples(window.max_points()).into());
            }
            (q, points(&samples, q.step_ms))
        }
        Source::Database(archive) => {
            let q = HistoryQuery::parse(switch, metric, &params, archive.max_points())?;
            match archive.series(&q).await {
                Ok(series) => (q, series),
                Err(HistoryError::Bad(b)) => return Err(b.into()),
                Err(HistoryError::Unavailable(error)) => {
                    warn!(archive.log(), "History query failed."; "error" => &error);
                    return Err(ApiError::HistoryUnavailable);
                }
            }
        }
    };
    Ok(HttpResponse::Ok().json(json!({
        "switch_id": switch,
        "metric": metric.name(),
        "from": q.from_ms as f64 / 1000.0,
        "to": q.to_ms as f64 / 1000.0,
        "step_seconds": q.step_ms.map(|ms| ms as f64 / 1000.0),
        "source": source.name(),
        "points": series,
    })))
}
