//! Every route the listeners answer, in one table: the registrations, the OpenAPI paths,
//! the `route` label of the request metrics and the tests all take their strings from here.

/// `GET /counters` (generator listener): every switch as CSV.
pub const COUNTERS: &str = "/counters";
/// `GET /telemetry` (metrics listener): every switch as JSON, as the prototype answered it.
pub const FABRIC_NO_SLASH: &str = "/telemetry";
/// `GET /telemetry/`: every switch as JSON.
pub const FABRIC: &str = "/telemetry/";
/// The static prefix under which the two routes below are taken apart by hand.
pub const SWITCH_PREFIX: &str = "/telemetry";
/// `GET /telemetry/{switch_id}`: one switch.
pub const SWITCH: &str = "/telemetry/{switch_id}";
/// `GET /telemetry/{switch_id}/{metric}`: one value.
pub const METRIC: &str = "/telemetry/{switch_id}/{metric}";
/// `GET /telemetry/{switch_id}/{metric}/history`: one metric over time.
pub const HISTORY: &str = "/telemetry/{switch_id}/{metric}/history";
/// `GET /metrics`: Prometheus text format.
pub const PROMETHEUS: &str = "/metrics";
/// `GET /healthz` (both listeners): liveness.
pub const HEALTHZ: &str = "/healthz";
/// `GET /readyz` (both listeners): readiness.
pub const READYZ: &str = "/readyz";
/// `GET /openapi.json`: the metrics API's description.
pub const OPENAPI: &str = "/openapi.json";
/// `GET /docs`: a redirect to `/docs/`.
pub const DOCS: &str = "/docs";
/// `GET /docs/{file}`: Swagger UI's files (`/docs/` is its page).
pub const DOCS_FILES: &str = "/docs/{file:.*}";
/// `GET /csv/metrics` (generator listener, `fabric.enabled`): UFM's per-port CSV.
pub const UFM_CSV: &str = "/csv/metrics";
/// `GET /json/metrics` (generator listener): the same as JSON.
pub const UFM_JSON: &str = "/json/metrics";
/// `GET /metrics` on the generator listener: the same as Prometheus text, UFM's names.
pub const UFM_PROMETHEUS: &str = PROMETHEUS;
/// `GET /csv/cset/{name}`: the CSV with only the counters of a set (`fabric.counter_sets`).
pub const UFM_CSET: &str = "/csv/cset/{name}";
/// `GET /csv/xcset/{name}`: the CSV with every counter but those of a set.
pub const UFM_XCSET: &str = "/csv/xcset/{name}";
/// `GET /fabric` (generator listener): the topology, for drawing.
pub const TOPOLOGY: &str = "/fabric";
/// `GET`/`POST /fabric/faults` (generator listener): the faults, and injecting one (admin).
pub const FAULTS: &str = "/fabric/faults";

/// Every route, as the `route` label of the request metrics (a label is never built from
/// a client's path).
pub const ALL: [&str; 18] = [
    COUNTERS,
    FABRIC_NO_SLASH,
    FABRIC,
    SWITCH,
    METRIC,
    HISTORY,
    PROMETHEUS,
    HEALTHZ,
    READYZ,
    OPENAPI,
    DOCS,
    DOCS_FILES,
    UFM_CSV,
    UFM_JSON,
    UFM_CSET,
    UFM_XCSET,
    TOPOLOGY,
    FAULTS,
];

/// The routes the OpenAPI document describes (the metrics API and the health routes).
pub const DOCUMENTED: [&str; 8] = [
    FABRIC_NO_SLASH,
    FABRIC,
    SWITCH,
    METRIC,
    HISTORY,
    PROMETHEUS,
    HEALTHZ,
    READYZ,
];
