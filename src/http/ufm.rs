//! UFM Telemetry's routes on the generator listener (`fabric.enabled`): `/csv/metrics`,
//! `/json/metrics` and `/metrics` (every port's counters, optionally one shard), and
//! `/fabric` (the topology). Without a fabric they do not exist (404).

use std::collections::HashMap;

use std::sync::Arc;

use actix_web::http::header::HeaderValue;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use slog::Logger;

use super::error::ApiError;
use super::prometheus::Metrics;
use super::{method_not_allowed, read, routes, shared_body};
use crate::cache::{BigBody, CacheView};
use crate::fabric::counters::EPOCH_MS;
use crate::fabric::ufm::{self, Shard, ShardField};
use crate::fabric::{COUNTERS, Event, Fabric, Fault, faults};
use crate::model::now_unix_ms;

/// Largest body `POST /fabric/faults` reads.
const MAX_FAULT_BODY: usize = 64 * 1024;

/// Adds UFM's routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(read(routes::UFM_CSV, csv_metrics))
        .service(read(routes::UFM_JSON, json_metrics))
        .service(read(routes::UFM_PROMETHEUS, prometheus_metrics))
        .service(read(routes::UFM_CSET, counter_set))
        .service(read(routes::UFM_XCSET, counter_set))
        .service(read(routes::TOPOLOGY, topology))
        .service(
            web::resource(routes::FAULTS)
                .name(routes::FAULTS)
                .route(web::get().to(list_faults))
                .route(web::head().to(list_faults))
                .route(web::post().to(inject_faults))
                .default_service(web::to(method_not_allowed)),
        );
}

/// The fabric, or the 404 of a daemon without one.
fn fabric<'a>(req: &HttpRequest, view: &'a CacheView) -> Result<&'a Arc<Fabric>, ApiError> {
    view.fabric().ok_or_else(|| ApiError::NoRoute {
        path: req.path().to_string(),
    })
}

/// A fault as the API shows it: its steps also as Unix seconds.
#[derive(Serialize)]
struct FaultOut<'a> {
    #[serde(flatten)]
    fault: &'a Fault,
    from: f64,
    to: Option<f64>,
}

fn faults_json(fabric: &Fabric, faults: &[Fault]) -> Vec<u8> {
    let at = |step: u64| (EPOCH_MS + step * fabric.model.interval_ms()) as f64 / 1000.0;
    let out: Vec<FaultOut> = faults
        .iter()
        .map(|fault| FaultOut {
            fault,
            from: at(fault.from_step),
            to: fault.to_step.map(at),
        })
        .collect();
    let mut body = serde_json::to_vec(&serde_json::json!({ "faults": out })).unwrap_or_default();
    body.push(b'\n');
    body
}

/// `GET /fabric/faults`: every fault injected so far, oldest first.
async fn list_faults(
    req: HttpRequest,
    view: web::Data<CacheView>,
) -> Result<HttpResponse, ApiError> {
    let fabric = fabric(&req, &view)?;
    let faults = fabric.faults();
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CONTENT_TYPE, JSON))
        .body(faults_json(fabric, faults.all())))
}

/// One event or a list of them.
#[derive(Deserialize)]
#[serde(untagged)]
enum Events {
    One(Event),
    Many(Vec<Event>),
}

/// `POST /fabric/faults` (admin scope): injects an event (a JSON object, as in a scenario
/// file) or a list of them, `at_s` counted from the next step; all or none. 201 with the
/// faults made; a bad event is a 400 naming its field.
async fn inject_faults(
    req: HttpRequest,
    view: web::Data<CacheView>,
    log: web::Data<Logger>,
    metrics: web::Data<Arc<Metrics>>,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let fabric = fabric(&req, &view)?;
    let bad = |parameter: &str, message: String| ApiError::BadParameter {
        parameter: parameter.into(),
        message,
    };
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| bad("body", e.to_string()))?;
        if body.len() + chunk.len() > MAX_FAULT_BODY {
            return Err(bad("body", format!("is over {MAX_FAULT_BODY} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    let events = match serde_json::from_slice::<Events>(&body) {
        Ok(Events::One(event)) => vec![event],
        Ok(Events::Many(events)) => events,
        Err(_) => {
            // The untagged enum's error says nothing; the one event's says which field.
            let why = serde_json::from_slice::<Event>(&body).err().map_or_else(
                || "must be an event or a list of events".into(),
                |e| e.to_string(),
            );
            return Err(bad("body", why));
        }
    };
    if events.is_empty() {
        return Err(bad("body", "holds no event".into()));
    }
    let start = fabric.model.step(now_unix_ms()) + 1;
    let made = fabric
        .inject(&events, start)
        .map_err(|e| bad(e.field, e.message))?;
    faults::injected(&made, "api", &log, &metrics.daemon);
    Ok(HttpResponse::Created()
        .insert_header((actix_web::http::header::CONTENT_TYPE, JSON))
        .body(faults_json(fabric, &made)))
}

const CSV: HeaderValue = HeaderValue::from_static("text/csv; charset=utf-8");
const JSON: HeaderValue = HeaderValue::from_static("application/json");
const PROMETHEUS: HeaderValue =
    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8");

/// The three renderings of the ports.
#[derive(Clone, Copy)]
enum Format {
    Csv,
    Json,
    Prometheus,
}

/// Answers `format`: the shared body of the latest snapshot, or one shard rendered for this
/// request.
fn ports(req: &HttpRequest, view: &CacheView, format: Format) -> Result<HttpResponse, ApiError> {
    let Some(fabric) = view.fabric() else {
        return Err(ApiError::NoRoute {
            path: req.path().to_string(),
        });
    };
    let (route, content_type) = match format {
        Format::Csv => (BigBody::UfmCsv, CSV),
        Format::Json => (BigBody::UfmJson, JSON),
        Format::Prometheus => (BigBody::UfmPrometheus, PROMETHEUS),
    };
    let Some(shard) = shard(req.query_string())? else {
        return Ok(shared_body::respond(req, view, route, content_type));
    };
    let snapshot = view.snapshot();
    let rows = ufm::rows(fabric, snapshot.sample_times(), Some(shard));
    let body = match format {
        Format::Csv => ufm::csv(rows),
        Format::Json => ufm::json(rows),
        Format::Prometheus => ufm::prometheus(&rows.collect::<Vec<_>>()),
    };
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CONTENT_TYPE, content_type))
        .body(body))
}

/// The shard a poller asks for (`num_shards`, `shard`, `sharding_field`, UFM's names), or
/// None for every row. A bad value is a 400 naming its parameter.
fn shard(query: &str) -> Result<Option<Shard>, ApiError> {
    let bad = |parameter: &str, message: String| ApiError::BadParameter {
        parameter: parameter.into(),
        message,
    };
    let params = web::Query::<HashMap<String, String>>::from_query(query)
        .map_err(|e| bad("query", e.to_string()))?
        .into_inner();
    let number = |name: &str| -> Result<Option<u32>, ApiError> {
        params
            .get(name)
            .map(|v| {
                v.parse::<u32>()
                    .map_err(|_| bad(name, format!("must be a whole number, got {v:?}")))
            })
            .transpose()
    };
    let (count, index) = (number("num_shards")?, number("shard")?);
    let field = match params.get("sharding_field") {
        None => ShardField::PortGuid,
        Some(name) => ShardField::parse(name).ok_or_else(|| {
            bad(
                "sharding_field",
                format!(
                    "must be one of {}, got {name:?}",
                    ShardField::NAMES.join(", ")
                ),
            )
        })?,
    };
    match (count, index) {
        (None, None) if !params.contains_key("sharding_field") => Ok(None),
        (None, _) => Err(bad(
            "num_shards",
            "is needed with shard and sharding_field".into(),
        )),
        (Some(0), _) => Err(bad("num_shards", "must be at least 1, got 0".into())),
        (Some(_), None) => Err(bad("shard", "is needed with num_shards".into())),
        (Some(count), Some(index)) if index >= count => Err(bad(
            "shard",
            format!("must be less than num_shards ({count}), got {index}"),
        )),
        (Some(count), Some(index)) => Ok(Some(Shard {
            count,
            index,
            field,
        })),
    }
}

/// `GET /csv/metrics`: one row per port, UFM's columns.
async fn csv_metrics(
    req: HttpRequest,
    view: web::Data<CacheView>,
) -> Result<HttpResponse, ApiError> {
    ports(&req, &view, Format::Csv)
}

/// `GET /json/metrics`: one object per port.
async fn json_metrics(
    req: HttpRequest,
    view: web::Data<CacheView>,
) -> Result<HttpResponse, ApiError> {
    ports(&req, &view, Format::Json)
}

/// `GET /metrics` (generator listener): the ports' counters as Prometheus text.
async fn prometheus_metrics(
    req: HttpRequest,
    view: web::Data<CacheView>,
) -> Result<HttpResponse, ApiError> {
    ports(&req, &view, Format::Prometheus)
}

/// `GET /csv/cset/{name}` (only the set's counters, in the set's order) and
/// `/csv/xcset/{name}` (every other counter): the CSV of the latest snapshot, or of a shard.
/// A set nobody configured is a 404.
async fn counter_set(
    req: HttpRequest,
    view: web::Data<CacheView>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let fabric = fabric(&req, &view)?;
    let Some(set) = fabric.counter_sets.get(name.as_str()) else {
        return Err(ApiError::NoRoute {
            path: req.path().to_string(),
        });
    };
    let columns: Vec<usize> = if req.path().starts_with("/csv/xcset/") {
        (0..COUNTERS.len()).filter(|c| !set.contains(c)).collect()
    } else {
        set.clone()
    };
    let shard = shard(req.query_string())?;
    let snapshot = view.snapshot();
    let body = ufm::csv_columns(ufm::rows(fabric, snapshot.sample_times(), shard), &columns);
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CONTENT_TYPE, CSV))
        .body(body))
}

/// `GET /fabric`: every switch, its level and GUID, and what each port is cabled to.
async fn topology(req: HttpRequest, view: web::Data<CacheView>) -> Result<HttpResponse, ApiError> {
    let Some(fabric) = view.fabric() else {
        return Err(ApiError::NoRoute {
            path: req.path().to_string(),
        });
    };
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CONTENT_TYPE, JSON))
        .body(fabric.topology_json()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_parameters_are_read_as_ufm_names_them_and_bad_ones_are_named() {
        assert_eq!(shard("").unwrap(), None);
        assert_eq!(
            shard("num_shards=4&shard=3").unwrap(),
            Some(Shard {
                count: 4,
                index: 3,
                field: ShardField::PortGuid
            })
        );
        assert_eq!(
            shard("num_shards=2&shard=0&sharding_field=port_num")
                .unwrap()
                .map(|s| s.field),
            Some(ShardField::PortNum)
        );
        for (query, parameter) in [
            ("num_shards=x&shard=0", "num_shards"),
            ("num_shards=0&shard=0", "num_shards"),
            ("num_shards=2", "shard"),
            ("shard=1", "num_shards"),
            ("num_shards=2&shard=2", "shard"),
            ("num_shards=2&shard=1&sharding_field=guid", "sharding_field"),
            ("sharding_field=port_guid", "num_shards"),
        ] {
            match shard(query) {
                Err(ApiError::BadParameter { parameter: p, .. }) => {
                    assert_eq!(p, parameter, "{query}")
                }
                other => panic!("{query}: {other:?}"),
            }
        }
    }
}
