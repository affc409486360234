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
        rate_per_second: None,
        burst: None,
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
    // Refusals are logged as any answer is, without a token name.
    let refused: Vec<_> = text
        .lines()
        .filter(|l| l.contains(r#"msg="HTTP request.""#))
        .map(logfmt)
        .filter(|f| f.get("status").map(String::as_str) == Some("401"))
        .collect();
    assert!(refused.len() >= 10, "{text}");
    assert!(refused.iter().all(|f| !f.contains_key("token")), "{text}");
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

/// A daemon with two tokens: `hog` (5 requests a second, bursts of 5) and `calm` (the
/// global 1,000 a second).
fn two_clients(redis_port: u16) -> telemetryd::Config {
    let mut c = config(redis_port, 3, 0.2);
    c.auth.rate_per_second = 1000.0;
    c.auth.burst = 1000;
    c.auth.tokens = vec![
        TokenConfig {
            name: "hog".into(),
            scope: Scope::Read,
            sha256: telemetryd::auth::sha256_hex(b"tmd_hog"),
            rate_per_second: Some(5.0),
            burst: Some(5),
        },
        TokenConfig {
            name: "calm".into(),
            scope: Scope::Read,
            sha256: telemetryd::auth::sha256_hex(b"tmd_calm"),
            rate_per_second: None,
            burst: None,
        },
    ];
    c
}

/// `n` GETs of `url` with `authorization`, each after the one before.
async fn one_after_another(
    url: &str,
    authorization: &str,
    n: usize,
) -> Vec<(u16, reqwest::header::HeaderMap, String)> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(get_with(url, Some(authorization)).await);
    }
    out
}

fn header(headers: &reqwest::header::HeaderMap, name: &str) -> u64 {
    headers[name].to_str().unwrap().parse().unwrap()
}

#[actix_web::test]
async fn a_client_over_its_limit_gets_429s_with_when_to_retry_and_another_is_not_touched() {
    let redis = TestRedis::start();
    let daemon = start(two_clients(redis.port), logging::discard()).await;
    let url = format!("http://{}/telemetry/switch-1", daemon.metric_addr);
    // Both at once: the hog 200 requests as fast as they go, the calm one 50.
    let hog = one_after_another(&url, "Bearer tmd_hog", 200);
    let calm = one_after_another(&url, "Bearer tmd_calm", 50);
    let (hog, calm) = tokio::join!(hog, calm);
    assert!(
        calm.iter().all(|r| r.0 == 200),
        "the calm client saw a refusal"
    );
    let refused: Vec<_> = hog.iter().filter(|r| r.0 == 429).collect();
    let allowed = hog.iter().filter(|r| r.0 == 200).count();
    assert!(refused.len() >= 150, "{} refused of 200", refused.len());
    assert!(allowed >= 5, "its burst went through: {allowed}");
    for (_, headers, body) in &refused {
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"], "too many requests", "{body}");
        assert!(
            (1..=2).contains(&header(headers, "retry-after")),
            "{headers:?}"
        );
        assert_eq!(header(headers, "ratelimit-limit"), 5);
        assert_eq!(header(headers, "ratelimit-remaining"), 0);
        assert!(header(headers, "ratelimit-reset") >= 1);
    }
    // Every limited answer says where its client stands.
    let (_, headers, _) = &calm[49];
    assert_eq!(header(headers, "ratelimit-limit"), 1000);
    assert!(header(headers, "ratelimit-remaining") >= 900);

    let metrics = get_with(
        &format!("http://{}/metrics", daemon.metric_addr),
        Some("Bearer tmd_calm"),
    )
    .await
    .2;
    assert_eq!(
        metric(
            &metrics,
            r#"telemetryd_http_rate_limited_total{client="hog"}"#
        ),
        Some(refused.len() as f64)
    );
    assert_eq!(
        metric(
            &metrics,
            r#"telemetryd_http_rate_limited_total{client="calm"}"#
        ),
        None
    );
}

#[actix_web::test]
async fn without_tokens_each_address_is_limited_and_probes_never_are() {
    let redis = TestRedis::start();
    let mut c = config(redis.port, 2, 0.2);
    c.auth.rate_per_second = 0.5;
    c.auth.burst = 2;
    let daemon = start(c, logging::discard()).await;
    let url = format!("http://{}/counters", daemon.generator_addr);
    let statuses: Vec<u16> = futures_util::future::join_all((0..4).map(|_| get_with(&url, None)))
        .await
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(
        statuses.iter().filter(|&&s| s == 200).count(),
        2,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&s| s == 429).count(),
        2,
        "{statuses:?}"
    );
    for _ in 0..20 {
        let probe = get_with(&format!("http://{}/healthz", daemon.generator_addr), None).await;
        assert_eq!(probe.0, 200);
        assert!(!probe.1.contains_key("ratelimit-limit"));
    }
}
