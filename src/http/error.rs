//! The HTTP API's errors: each maps to one status code and a JSON body naming what was not
//! found or not allowed.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::model::Metric;

/// Longest piece of a client's input echoed back in an error body.
const ECHO_MAX: usize = 200;

/// Everything a request can get wrong. None of these is a server fault, so none is a 5xx.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no such route")]
    NoRoute { path: String },
    #[error("method not allowed")]
    MethodNotAllowed { method: String },
    #[error("no such switch")]
    UnknownSwitch { switch_id: String, switches: u32 },
    #[error("no telemetry for this switch yet")]
    NoData { switch_id: String },
    #[error("no such metric")]
    UnknownMetric { switch_id: String, metric: String },
    #[error("request target too long")]
    UriTooLong { length: usize, limit: usize },
    #[error("request headers too large")]
    HeadersTooLarge { length: usize, limit: usize },
    #[error("bad parameter")]
    BadParameter { parameter: String, message: String },
    #[error("no history kept: history.window is 0 and history.database is not set")]
    NoHistory,
    #[error("the history database is unavailable")]
    HistoryUnavailable,
    #[error("unauthorized")]
    Unauthorized { reason: &'static str },
    #[error("too many requests")]
    TooManyRequests {
        limited: crate::auth::limit::Limited,
    },
    #[error("forbidden")]
    Forbidden {
        token: String,
        needs: &'static str,
        has: &'static str,
    },
}

/// The methods every route answers.
pub const ALLOWED_METHODS: &str = "GET, HEAD";

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::UriTooLong { .. } => StatusCode::URI_TOO_LONG,
            ApiError::HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::BadParameter { .. } => StatusCode::BAD_REQUEST,
            ApiError::HistoryUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::NOT_FOUND, // NoHistory too: the resource is not kept
        }
    }

    fn error_response(&self) -> HttpResponse {
        let error = self.to_string();
        let body = match self {
            ApiError::NoRoute { path } => json!({"error": error, "path": echo(path)}),
            ApiError::MethodNotAllowed { method } => json!({
                "error": error, "method": echo(method), "allowed": ["GET", "HEAD"],
            }),
            ApiError::UnknownSwitch {
                switch_id,
                switches,
            } => json!({
                "error": error,
                "switch_id": echo(switch_id),
                "switches": format!("switch-0 ... switch-{}", switches.saturating_sub(1)),
            }),
            ApiError::NoData { switch_id } => json!({"error": error, "switch_id": switch_id}),
            ApiError::UnknownMetric { switch_id, metric } => json!({
                "error": error,
                "switch_id": switch_id,
                "metric": echo(metric),
                "metrics": Metric::names().collect::<Vec<_>>(),
            }),
            ApiError::UriTooLong { length, limit }
            | ApiError::HeadersTooLarge { length, limit } => {
                json!({"error": error, "bytes": length, "limit": limit})
            }
            ApiError::BadParameter { parameter, message } => {
                json!({"error": error, "parameter": echo(parameter), "message": message})
            }
            ApiError::NoHistory | ApiError::HistoryUnavailable => json!({"error": error}),
            ApiError::Unauthorized { reason } => json!({"error": error, "reason": reason}),
            ApiError::TooManyRequests { limited } => json!({
                "error": error,
                "retry_after_seconds": limited.retry_after_s,
                "limit": limited.standing.limit,
            }),
            ApiError::Forbidden { token, needs, has } => json!({
                "error": error, "token": token, "scope_needed": needs, "scope": has,
            }),
        };
        let mut response = HttpResponse::build(self.status_code());
        match self {
            ApiError::MethodNotAllowed { .. } => {
                response.insert_header((header::ALLOW, ALLOWED_METHODS));
            }
            // RFC 6750: which scheme, and that a token was given but is not valid.
            ApiError::Unauthorized { reason } => {
                let challenge = if reason.contains("not valid") {
                    r#"Bearer realm="telemetryd", error="invalid_token""#
                } else {
                    r#"Bearer realm="telemetryd""#
                };
                response.insert_header((header::WWW_AUTHENTICATE, challenge));
            }
            _ => {}
        }
        if let ApiError::TooManyRequests { limited } = self {
            let mut built = response.json(body);
            super::limited_headers(built.headers_mut(), limited);
            return built;
        }
        response.json(body)
    }
}

/// A segment fully decoded, for an error that echoes it (what `web::Path` would have given).
pub(super) fn decoded(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

/// A client's text, shortened to a sane length on a character boundary.
fn echo(text: &str) -> String {
    text.chars().take(ECHO_MAX).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::to_bytes;

    #[actix_web::test]
    async fn a_scope_too_small_is_a_403_naming_the_token_and_both_scopes() {
        let e = ApiError::Forbidden {
            token: "grafana".into(),
            needs: "admin",
            has: "read",
        };
        assert_eq!(
            body(e).await,
            (
                StatusCode::FORBIDDEN,
                r#"{"error":"forbidden","scope":"read","scope_needed":"admin","token":"grafana"}"#
                    .to_string()
            )
        );
    }

    async fn body(e: ApiError) -> (StatusCode, String) {
        let r = e.error_response();
        (
            r.status(),
            String::from_utf8(to_bytes(r.into_body()).await.unwrap().to_vec()).unwrap(),
        )
    }

    #[actix_web::test]
    async fn unknown_metric_lists_the_metrics_that_exist() {
        let (status, text) = body(ApiError::UnknownMetric {
            switch_id: "switch-1".into(),
            metric: "latency".into(),
        })
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(
            text,
            r#"{"error":"no such metric","metric":"latency","metrics":["bandwidth_in_mbps","bandwidth_out_mbps","latency_ms","packet_errors","updated_at"],"switch_id":"switch-1"}"#
        );
    }

    #[actix_web::test]
    async fn long_input_is_shortened_in_error_bodies() {
        let (_, text) = body(ApiError::NoRoute {
            path: "x".repeat(10_000),
        })
        .await;
        assert!(text.len() < 300, "{}", text.len());
    }
}
