//! The response types of the metrics API, as OpenAPI schemas: shared by the handlers'
//! `utoipa::path` attributes and the document in `openapi.rs`. They describe the bytes
//! `cache::render` writes; schemathesis checks the two against each other in the tests.

use std::collections::BTreeMap;

use utoipa::ToSchema;

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

/// One point of a history: a sample (`t`, `value`), or with `step` a bucket (`t`, `min`,
/// `avg`, `max`, `count`). `t` is Unix seconds, the start of the bucket.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct HistoryPoint {
    t: f64,
    value: Option<f64>,
    min: Option<f64>,
    avg: Option<f64>,
    max: Option<f64>,
    count: Option<u64>,
}

/// `GET /telemetry/{switch_id}/{metric}/history`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct HistoryBody {
    switch_id: String,
    #[schema(inline)]
    metric: MetricName,
    /// Unix seconds.
    from: f64,
    /// Unix seconds (excluded).
    to: f64,
    /// Bucket width; null: one point per sample.
    step_seconds: Option<f64>,
    /// `memory` or `database`.
    source: String,
    points: Vec<HistoryPoint>,
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
