//! The metrics API as OpenAPI 3 (utoipa), served at `/openapi.json`, with Swagger UI at
//! `/docs`. The schemas below describe the bytes `cache::render` writes; schemathesis
//! checks the two against each other in the test suite.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use utoipa::{OpenApi, ToSchema};
use utoipa_swagger_ui::SwaggerUi;

/// One switch's metrics, as in `/telemetry/` and `/telemetry/{switch_id}`.
#[derive(ToSchema)]
#[allow(dead_code)] // a description of rendered JSON, never built
pub struct SwitchMetrics {
    /// Ingress traffic, Mbit/s.
    bandwidth_in_mbps: f64,
    /// Egress traffic, Mbit/s.
    bandwidth_out_mbps: f64,
    /// Forwarding latency, ms.
    latency_ms: f64,
    /// Packet errors since the switch started; never decreases.
    packet_errors: u64,
    /// When the sample was taken, Unix seconds with millisecond precision.
    updated_at: f64,
}

/// Every switch, `GET /telemetry/`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Fabric {
    /// Keyed by switch id, `switch-0` ... `switch-{N-1}`.
    switches: BTreeMap<String, SwitchMetrics>,
}

/// One value, `GET /telemetry/{switch_id}/{metric}`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct MetricValue {
    switch_id: String,
    #[schema(inline)]
    metric: MetricName,
    value: f64,
}

/// The metrics a switch has.
#[derive(ToSchema)]
#[allow(dead_code, non_camel_case_types)]
pub enum MetricName {
    bandwidth_in_mbps,
    bandwidth_out_mbps,
    latency_ms,
    packet_errors,
    updated_at,
}

/// Every error: what went wrong, plus fields naming what was not found or not allowed.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    error: String,
}

/// `/readyz` and `/healthz` bodies.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Health {
    /// `alive`, `unresponsive`, `ready` or `loading`.
    status: String,
}

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
        super::telemetry::prometheus,
        super::health::healthz,
        super::health::readyz,
    ),
    components(schemas(SwitchMetrics, Fabric, MetricValue, MetricName, ErrorBody, Health))
)]
pub struct ApiDoc;

/// Adds `/openapi.json` and Swagger UI at `/docs/` (assets built into the binary).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", ApiDoc::openapi()))
        .route("/docs", web::get().to(to_docs));
}

async fn to_docs() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header(("location", "/docs/"))
        .finish()
}
