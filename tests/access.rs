//! Bearer tokens in front of both listeners, against the real daemon and real HTTP clients:
//! who gets in, what the refused get, and that no token ever shows up in a log line.

mod common;

use common::*;
use telemetryd::config::{Scope, TokenConfig};
use telemetryd::logging;

const READ_TOKEN: &str = "tmd_read-token-for-the-tests-0123456789abcdef";

/// A daemon with one read token, `grafana`.
fn with_token(redis_port: u16) -> telemetryd::Config {
    let mut c = config(redis_port, 3, 0.2);
    c.auth.tokens = vec![TokenConfig {
        name: "grafana".into(),
        scope: Scope::Read,
        sha256: telemetryd::auth::sha256_hex(READ_TOKEN.as_bytes()),
    }];
    c
}

async fn get_with(
    url: &str,
    authorization: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut r = reqwest::Client::new().get(url);
    if let Some(value) = authorization {
        r = r.header("authorization", value);
    }
    let r = r.send().await.unwrap();
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    (status, headers, r.text().await.unwrap())
}

#[actix_web::test]
async fn a_read_token_opens_every_route_and_no_token_or_a_wrong_one_gets_a_json_401() {
    let redis = TestRedis::start();
    let (log, lines) = capture_logger();
    let daemon = start(with_token(redis.port), log).await;
    let bearer = format!("Bearer {READ_TOKEN}");
    for (addr, path) in [
        (daemon.metric_addr, "/telemetry/"),
        (daemon.metric_addr, "/telemetry/switch-1/latency_ms"),
        (daemon.metric_addr, "/metrics"),
        (daemon.metric_addr, "/openapi.json"),
        (daemon.generator_addr, "/counters"),
    ] {
        let url = format!("http://{addr}{path}");
        let (status, headers, body) = get_with(&url, None).await;
        assert_eq!(status, 401, "{path}: {body}");
        assert_eq!(headers["www-authenticate"], r#"Bearer realm="telemetryd""#);
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["error"], "unauthorized", "{body}");

        let (status, headers, body) = get_with(&url, Some("Bearer tmd_not-a-token")).await;
        assert_eq!(status, 401, "{path}: {body}");
        assert_eq!(
            headers["www-authenticate"],
            r#"Bearer realm="telemetryd", error="invalid_token""#
        );

        let (status, _, body) = get_with(&url, Some(&bearer)).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    // A path that does not exist: 401 without a token (no route list for strangers), 404
    // with one.
    let nope = format!("http://{}/nope", daemon.metric_addr);
    assert_eq!(get_with(&nope, None).await.0, 401);
    assert_eq!(get_with(&nope, Some(&bearer)).await.0, 404);

    // The request lines name the token's holder; the token is in no line.
    let text = log_text(&lines);
    let granted: Vec<_> = text
        .lines()
        .filter(|l| l.contains(r#"msg="HTTP request.""#))
        .map(logfmt)
        .filter(|f| f.get("status").map(String::as_str) == Some("200"))
        .collect();
    assert!(!granted.is_empty(), "{text}");
    assert!(granted.iter().all(|f| f["token"] == "grafana"), "{text}");
    assert!(!text.contains(READ_TOKEN), "a token in the log");
    assert!(
        !text.contains("read-token-for-the-tests"),
        "a token in the log"
    );
}

#[actix_web::test]
async fn health_is_open_by_default_and_closed_when_configured_and_metrics_can_be_opened() {
    let redis = TestRedis::start();
    let daemon = start(with_token(redis.port), logging::discard()).await;
    for path in ["/healthz", "/readyz"] {
        let url = format!("http://{}{path}", daemon.metric_addr);
        let status = get_with(&url, None).await.0;
        assert!(status == 200 || status == 503, "{path}: {status}");
        let body = get_with(&url, None).await.2;
        assert!(!body.contains(READ_TOKEN));
    }
    daemon.shutdown().await;

    let mut c = with_token(redis.port);
    c.auth.open_health = false;
    c.auth.open_metrics = true;
    let daemon = start(c, logging::discard()).await;
    let url = |path: &str| format!("http://{}{path}", daemon.metric_addr);
    assert_eq!(get_with(&url("/healthz"), None).await.0, 401);
    assert_eq!(get_with(&url("/readyz"), None).await.0, 401);
    assert_eq!(get_with(&url("/metrics"), None).await.0, 200);
    assert_eq!(get_with(&url("/telemetry/"), None).await.0, 401);
}

#[actix_web::test]
async fn tokens_from_a_file_are_accepted_like_those_of_the_config() {
    let redis = TestRedis::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokens");
    std::fs::write(
        &file,
        format!(
            "- name: prometheus\n  scope: read\n  sha256: {}\n",
            telemetryd::auth::sha256_hex(b"tmd_from-the-file")
        ),
    )
    .unwrap();
    let mut c = config(redis.port, 2, 0.2);
    c.auth.tokens_file = Some(file.display().to_string());
    let daemon = start(c, logging::discard()).await;
    let url = format!("http://{}/metrics", daemon.metric_addr);
    assert_eq!(
        get_with(&url, Some("Bearer tmd_from-the-file")).await.0,
        200
    );
    assert_eq!(get_with(&url, None).await.0, 401);
}
