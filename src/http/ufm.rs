//! UFM Telemetry's routes on the generator listener (`fabric.enabled`): `/csv/metrics`,
//! `/json/metrics` and `/metrics` (every port's counters, optionally one shard), and
//! `/fabric` (the topology). Without a fabric they do not exist (404).

use std::collections::HashMap;

use actix_web::http::header::HeaderValue;
use actix_web::{HttpRequest, HttpResponse, web};

use super::error::ApiError;
use super::{read, routes, shared_body};
use crate::cache::{BigBody, CacheView};
use crate::fabric::ufm::{self, Shard, ShardField};

/// Adds UFM's routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(read(routes::UFM_CSV, csv_metrics))
        .service(read(routes::UFM_JSON, json_metrics))
        .service(read(routes::UFM_PROMETHEUS, prometheus_metrics))
        .service(read(routes::TOPOLOGY, topology));
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
