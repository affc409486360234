//! The metrics API (`metric_server`): `GET /telemetry/`, `/telemetry/{switch_id}` and
//! `/telemetry/{switch_id}/{metric}`, as JSON.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError, web};

use super::error::{ApiError, decoded};
use super::prometheus::{CONTENT_TYPE, Metrics};
use super::schema::{ErrorBody, Fabric, MetricName, MetricValue, SwitchMetrics};
use super::{RouteLabel, read, routes, shared_body, stale_header};
use crate::cache::{self, BigBody, CacheView, Lookup, Snapshot, SwitchState};
use crate::model::{Metric, SwitchId};

const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

/// Adds the metrics API's routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(read(routes::FABRIC_NO_SLASH, all_no_slash))
        .service(read(routes::FABRIC, all))
        .service(read(routes::PROMETHEUS, prometheus))
        // `/telemetry/{switch_id}` and `/telemetry/{switch_id}/{metric}` are not patterns:
        // actix-router matches a pattern with variable segments by regex, a sixth of the
        // small route's instructions (bench/callgrind.sh). Under this static prefix,
        // `by_switch` takes the rest of the path apart itself.
        .service(web::scope(routes::SWITCH_PREFIX).default_service(web::to(by_switch)));
}

/// A route under `/telemetry/` naming a switch, taken from the path after `/telemetry`
/// (as the router decoded it: every percent-escape but `%2F`, `%25` and `%2B`, none of which
/// belongs in a switch id or metric name).
#[derive(Clone, Copy, Debug, PartialEq)]
enum SwitchRoute<'a> {
    /// `/telemetry/{switch_id}`
    Switch(&'a str),
    /// `/telemetry/{switch_id}/{metric}`
    Metric(&'a str, &'a str),
    /// `/telemetry/{switch_id}/{metric}/history`
    History(&'a str, &'a str),
}

impl<'a> SwitchRoute<'a> {
    /// The route of `rest`, the path after `/telemetry`: one or two non-empty segments, as a
    /// `{name}` pattern segment would match them; None for anything else.
    fn parse(rest: &'a str) -> Option<SwitchRoute<'a>> {
        let mut segments = rest.strip_prefix('/')?.split('/');
        let route = match (segments.next(), segments.next(), segments.next()) {
            (Some(switch), None, None) => SwitchRoute::Switch(switch),
            (Some(switch), Some(metric), None) if !metric.is_empty() => {
                SwitchRoute::Metric(switch, metric)
            }
            (Some(switch), Some(metric), Some("history"))
                if !metric.is_empty() && segments.next().is_none() =>
            {
                SwitchRoute::History(switch, metric)
            }
            _ => return None,
        };
        let (SwitchRoute::Switch(switch)
        | SwitchRoute::Metric(switch, _)
        | SwitchRoute::History(switch, _)) = route;
        (!switch.is_empty()).then_some(route)
    }

    /// The route's pattern, the `route` label of the request metrics.
    fn pattern(self) -> &'static str {
        match self {
            SwitchRoute::Switch(_) => routes::SWITCH,
            SwitchRoute::Metric(..) => routes::METRIC,
            SwitchRoute::History(..) => routes::HISTORY,
        }
    }
}

/// Everything under `/telemetry/` but the fabric itself: one switch, or one metric of one
/// switch; 404 for other paths, 405 for methods other than GET and HEAD (as `read` answers).
async fn by_switch(req: HttpRequest, view: web::Data<CacheView>) -> HttpResponse {
    let Some(route) = SwitchRoute::parse(req.match_info().unprocessed()) else {
        return super::no_route_error(&req).error_response();
    };
    req.extensions_mut().insert(RouteLabel(route.pattern()));
    let answer = match route {
        _ if !super::is_read(req.method()) => Err(super::method_not_allowed_error(&req)),
        SwitchRoute::Switch(switch_id) => one_switch(&view, switch_id),
        SwitchRoute::Metric(switch_id, metric) => one_metric(&view, switch_id, metric),
        SwitchRoute::History(switch_id, metric) => {
            super::history::history(&req, &view, switch_id, metric).await
        }
    };
    answer.unwrap_or_else(|error| error.error_response())
}

/// The switch telemetry and the daemon's own metrics, for Prometheus.
#[utoipa::path(get, path = routes::PROMETHEUS, tag = "operations",
    responses((status = 200, description = "Prometheus text format 0.0.4", body = String,
        content_type = "text/plain; version=0.0.4; charset=utf-8"))
)]
pub(crate) async fn prometheus(metrics: web::Data<Arc<Metrics>>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .body(metrics.render())
}

/// Every switch, `{"switches": {...}}`, rendered once per change.
#[utoipa::path(get, path = routes::FABRIC, tag = "telemetry",
    responses((status = 200, description = "Every switch's latest metrics", body = Fabric,
        headers(("x-telemetry-stale" = String, description = "true or false"))))
)]
pub(crate) async fn all(req: HttpRequest, view: web::Data<CacheView>) -> HttpResponse {
    shared_body::respond(&req, &view, BigBody::Telemetry, APPLICATION_JSON)
}

/// The same as `/telemetry/`, as the prototype also answered it without the slash.
#[utoipa::path(get, path = routes::FABRIC_NO_SLASH, tag = "telemetry",
    responses((status = 200, description = "Every switch's latest metrics", body = Fabric,
        headers(("x-telemetry-stale" = String, description = "true or false"))))
)]
pub(crate) async fn all_no_slash(req: HttpRequest, view: web::Data<CacheView>) -> HttpResponse {
    all(req, view).await
}

/// One switch's metrics.
#[utoipa::path(get, path = routes::SWITCH, tag = "telemetry",
    params(("switch_id" = String, Path, description = "switch-0 ... switch-{N-1}", example = "switch-2")),
    responses(
        (status = 200, description = "The switch's latest metrics", body = SwitchMetrics,
            headers(("x-telemetry-stale" = String, description = "true or false"))),
        (status = 404, description = "No such switch, or no data for it yet", body = ErrorBody),
    )
)]
pub(crate) fn one_switch(view: &CacheView, switch_id: &str) -> Result<HttpResponse, ApiError> {
    let snapshot = view.snapshot();
    let state = find(&snapshot, switch_id)?;
    Ok(json(
        cache::switch_json(&state.sample),
        snapshot.switch_stale(state),
    ))
}

/// One metric of one switch.
#[utoipa::path(get, path = routes::METRIC, tag = "telemetry",
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
pub(crate) fn one_metric(
    view: &CacheView,
    switch_id: &str,
    metric_name: &str,
) -> Result<HttpResponse, ApiError> {
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
    let mut response = HttpResponse::with_body(StatusCode::OK, body).map_into_boxed_body();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, APPLICATION_JSON);
    let (name, value) = stale_header(stale);
    headers.insert(name, value);
    response
}

#[cfg(test)]
mod tests {
    use super::SwitchRoute::{self, Metric, Switch};

    #[test]
    fn switch_routes_are_one_or_two_non_empty_segments() {
        assert_eq!(SwitchRoute::parse("/switch-7"), Some(Switch("switch-7")));
        assert_eq!(
            SwitchRoute::parse("/switch-7/latency_ms"),
            Some(Metric("switch-7", "latency_ms"))
        );
        for rest in [
            "",
            "/",
            "//",
            "//latency_ms",
            "/switch-7/",
            "/a/b/c",
            "/a/b/history/",
            "/a/b/history/x",
            "//b/history",
            "/a//history",
            "/a/b/",
            "x",
        ] {
            assert_eq!(SwitchRoute::parse(rest), None, "{rest:?}");
        }
    }

    #[test]
    fn switch_routes_are_labelled_with_their_pattern() {
        assert_eq!(Switch("x").pattern(), super::routes::SWITCH);
        assert_eq!(Metric("x", "y").pattern(), super::routes::METRIC);
        for pattern in [Switch("x").pattern(), Metric("x", "y").pattern()] {
            assert!(super::super::ROUTES.contains(&pattern), "{pattern}");
        }
    }
}
