//! The metrics API as OpenAPI 3.1 (utoipa), served at `/openapi.json`, with Swagger UI at
//! `/docs/` (assets built into the binary). Both answer GET and HEAD like every route.

use std::sync::{Arc, LazyLock};

use actix_web::http::header::HeaderValue;
use actix_web::{HttpRequest, HttpResponse, web};
use utoipa::OpenApi;

use super::error::ApiError;
use super::schema::{ErrorBody, Fabric, Health, MetricName, MetricValue, SwitchMetrics};
use super::{read, routes};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "telemetryd metrics API",
        description = "Simulated network-switch telemetry, answered from the daemon's cache. \
            Every data answer carries `x-telemetry-stale: true|false`: true when a switch in it \
            is not confirmed in Redis or is older than three update intervals."
    ),
    paths(
        super::telemetry::all,
        super::telemetry::all_no_slash,
        super::telemetry::one_switch,
        super::telemetry::one_metric,
        super::history::history,
        super::telemetry::prometheus,
        super::health::healthz,
        super::health::readyz,
    ),
    components(schemas(SwitchMetrics, Fabric, MetricValue, MetricName, ErrorBody, Health))
)]
pub struct ApiDoc;

/// The document, rendered once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_json()
        .expect("the OpenAPI document serializes")
});

/// Swagger UI's settings: it loads the document from `/openapi.json`.
static SWAGGER: LazyLock<Arc<utoipa_swagger_ui::Config<'static>>> =
    LazyLock::new(|| Arc::new(utoipa_swagger_ui::Config::from(routes::OPENAPI)));

/// Adds `/openapi.json`, `/docs` and Swagger UI under `/docs/`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(read(routes::OPENAPI, document))
        .service(read(routes::DOCS, to_docs))
        .service(read(routes::DOCS_FILES, docs_file));
}

async fn document() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(DOCUMENT.as_str())
}

async fn to_docs() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header(("location", "/docs/"))
        .finish()
}

/// A file of Swagger UI, from the assets built into the binary.
async fn docs_file(req: HttpRequest, file: web::Path<String>) -> Result<HttpResponse, ApiError> {
    match utoipa_swagger_ui::serve(&file, SWAGGER.clone()) {
        Ok(Some(found)) => {
            let content_type = HeaderValue::from_str(&found.content_type)
                .unwrap_or(HeaderValue::from_static("application/octet-stream"));
            Ok(HttpResponse::Ok()
                .insert_header((actix_web::http::header::CONTENT_TYPE, content_type))
                .body(found.bytes.into_owned()))
        }
        // Neither can a client cause: the config is ours, and a missing file is a 404.
        Ok(None) | Err(_) => Err(super::no_route_error(&req)),
    }
}
