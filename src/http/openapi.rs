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
    components(schemas(SwitchMetrics, Fabric, MetricValue, MetricName, ErrorBody, Health)),
    modifiers(&AccessControl)
)]
pub struct ApiDoc;

/// The bearer scheme (`auth.tokens`), and the answers of the gate and the rate limiter on
/// every operation: probes need no token unless `auth.open_health` is false.
struct AccessControl;

impl utoipa::Modify for AccessControl {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            Http, HttpAuthScheme, SecurityRequirement, SecurityScheme,
        };
        use utoipa::openapi::{RefOr, Response};
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut bearer = Http::new(HttpAuthScheme::Bearer);
        bearer.description = Some(
            "A token of auth.tokens (telemetryd token new NAME); none needed when no token is \
             configured"
                .into(),
        );
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
        let error = |description: &str| {
            let body = utoipa::openapi::ContentBuilder::new()
                .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                .build();
            RefOr::T(
                utoipa::openapi::ResponseBuilder::new()
                    .description(description)
                    .content("application/json", body)
                    .build(),
            )
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let Some(op) = item.get.as_mut() else {
                continue;
            };
            let probe = matches!(path.as_str(), routes::HEALTHZ | routes::READYZ);
            let bearer = SecurityRequirement::new("bearer", Vec::<String>::new());
            // A probe is open by default: no requirement, or the token.
            op.security = Some(if probe {
                vec![SecurityRequirement::default(), bearer]
            } else {
                vec![bearer]
            });
            let answers: [(&str, RefOr<Response>); 3] = [
                (
                    "401",
                    error(
                        "No bearer token, or one that is not configured (WWW-Authenticate: Bearer)",
                    ),
                ),
                (
                    "403",
                    error("The token's scope is not enough for this route"),
                ),
                (
                    "429",
                    error("Over the client's rate limit; Retry-After says when to come back"),
                ),
            ];
            for (status, answer) in answers {
                if probe && status == "429" {
                    continue;
                }
                op.responses
                    .responses
                    .entry(status.into())
                    .or_insert(answer);
            }
        }
    }
}

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
