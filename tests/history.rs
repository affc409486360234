//! `GET /telemetry/{switch_id}/{metric}/history` from the in-memory window (the default,
//! without a database), against the real daemon and a real redis-server. The database
//! source is tested with the archive (tests/archive.rs).

mod common;

use std::time::Duration;

use common::*;
use telemetryd::logging;

fn points(reply: &Reply) -> Vec<serde_json::Value> {
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["points"].as_array().unwrap().clone()
}

#[actix_web::test]
async fn the_in_memory_history_holds_every_sample_the_api_showed_and_at_most_the_window() {
    let redis = TestRedis::start();
    let mut c = config(redis.port, 3, 0.05);
    c.history.window = 40;
    let daemon = start(c, logging::discard()).await;
    let m = daemon.metric_addr;

    // Samples seen on the latest-value route, by time (polled with a deadline).
    let mut seen = std::collections::BTreeMap::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while seen.len() < 60 {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} samples seen",
            seen.len()
        );
        let s = get(&format!("http://{m}/telemetry/switch-1")).await.json();
        let t = s["updated_at"].as_f64().unwrap();
        seen.insert(
            (t * 1000.0).round() as u64,
            s["latency_ms"].as_f64().unwrap(),
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let reply = get(&format!("http://{m}/telemetry/switch-1/latency_ms/history")).await;
    let body = reply.json();
    assert_eq!(body["source"], "memory");
    assert_eq!(body["switch_id"], "switch-1");
    assert_eq!(body["metric"], "latency_ms");
    let points = points(&reply);
    assert_eq!(
        points.len(),
        40,
        "the window holds its size, the newest samples"
    );
    let times: Vec<f64> = points.iter().map(|p| p["t"].as_f64().unwrap()).collect();
    assert!(
        times.windows(2).all(|w| w[0] < w[1]),
        "oldest first, no repeats: {times:?}"
    );
    // Every sample the latest-value route showed within the window is in the history, with
    // the same value.
    let first_ms = (times[0] * 1000.0).round() as u64;
    let mut checked = 0;
    for (ms, latency) in seen.range(first_ms..) {
        let p = points
            .iter()
            .find(|p| (p["t"].as_f64().unwrap() * 1000.0).round() as u64 == *ms);
        if let Some(p) = p {
            assert_eq!(p["value"].as_f64().unwrap(), *latency, "at {ms}");
            checked += 1;
        } else if *ms <= (times[39] * 1000.0).round() as u64 {
            panic!("sample at {ms} shown by the API is missing from the history");
        }
    }
    assert!(checked >= 10, "only {checked} samples compared");
}

#[actix_web::test]
async fn history_buckets_count_every_sample_and_bound_min_avg_max() {
    let redis = TestRedis::start();
    let mut c = config(redis.port, 2, 0.05);
    c.history.window = 1000;
    let daemon = start(c, logging::discard()).await;
    let m = daemon.metric_addr;
    let url = format!("http://{m}/telemetry/switch-0/bandwidth_in_mbps/history");
    eventually("40 samples", Duration::from_secs(20), || async {
        (points(&get(&url).await).len() >= 40).then_some(())
    })
    .await;
    // A fixed range, so both answers cover the same samples.
    let now = telemetryd::model::now_unix_ms() as f64 / 1000.0;
    let range = format!("from={}&to={}", now - 60.0, now);
    let raw = points(&get(&format!("{url}?{range}")).await);
    let buckets = points(&get(&format!("{url}?{range}&step=1")).await);
    let total: u64 = buckets.iter().map(|b| b["count"].as_u64().unwrap()).sum();
    assert_eq!(total as usize, raw.len());
    for b in &buckets {
        let (t, min, avg, max) = (
            b["t"].as_f64().unwrap(),
            b["min"].as_f64().unwrap(),
            b["avg"].as_f64().unwrap(),
            b["max"].as_f64().unwrap(),
        );
        assert!(min <= avg && avg <= max, "{b}");
        let inside: Vec<f64> = raw
            .iter()
            .filter(|p| (t..t + 1.0).contains(&p["t"].as_f64().unwrap()))
            .map(|p| p["value"].as_f64().unwrap())
            .collect();
        assert_eq!(inside.len() as u64, b["count"].as_u64().unwrap(), "{b}");
        assert_eq!(inside.iter().cloned().fold(f64::INFINITY, f64::min), min);
        assert_eq!(
            inside.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
            max
        );
    }
}

#[actix_web::test]
async fn a_bad_history_request_is_a_json_4xx_naming_what_is_wrong() {
    let redis = TestRedis::start();
    let mut c = config(redis.port, 2, 1.0);
    c.history.max_points = 100;
    let daemon = start(c, logging::discard()).await;
    let m = daemon.metric_addr;
    let base = format!("http://{m}/telemetry/switch-1/latency_ms/history");
    for (query, parameter) in [
        ("from=yesterday", "from"),
        ("to=2026-13-01T00:00:00Z", "to"),
        ("from=20&to=10", "from"),
        ("step=0", "step"),
        ("step=soon", "step"),
        // An hour in 10 s buckets is 360 points, over the limit of 100.
        ("step=10", "step"),
        ("colour=blue", "colour"),
    ] {
        let r = get(&format!("{base}?{query}")).await;
        assert_eq!(r.status, 400, "{query}: {}", r.body);
        assert!(r.content_type.starts_with("application/json"), "{query}");
        assert_eq!(r.json()["parameter"], parameter, "{query}");
    }
    for path in [
        "/telemetry/switch-2/latency_ms/history",
        "/telemetry/switch-1/latency/history",
        "/telemetry/switch-1/latency_ms/history/x",
    ] {
        let r = get(&format!("http://{m}{path}")).await;
        assert_eq!(r.status, 404, "{path}: {}", r.body);
        assert!(r.json()["error"].is_string(), "{path}");
    }
    let r = get(&format!("{base}?step=1h")).await;
    assert_eq!(r.json()["step_seconds"], 3600.0);
}

#[actix_web::test]
async fn without_a_window_or_database_history_says_none_is_kept() {
    let redis = TestRedis::start();
    let mut c = config(redis.port, 2, 1.0);
    c.history.window = 0;
    let daemon = start(c, logging::discard()).await;
    let r = get(&format!(
        "http://{}/telemetry/switch-1/latency_ms/history",
        daemon.metric_addr
    ))
    .await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("history.window")
    );
}

#[actix_web::test]
async fn a_database_that_does_not_answer_is_a_json_503_without_the_password() {
    let redis = TestRedis::start();
    let mut c = config(redis.port, 2, 0.2);
    c.history.database = Some(format!(
        "mysql://telemetryd@127.0.0.1:{}/telemetry",
        free_port()
    ));
    c.history.password = Some(telemetryd::config::Secret::new("history-pw-never-shown"));
    c.history.timeout_ms = 1000;
    let (log, lines) = capture_logger();
    let daemon = start(c, log).await;
    let reply = get(&format!(
        "http://{}/telemetry/switch-1/latency_ms/history",
        daemon.metric_addr
    ))
    .await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(reply.json()["error"], "the history database is unavailable");
    assert!(!reply.body.contains("history-pw-never-shown"));
    assert!(!log_text(&lines).contains("history-pw-never-shown"));
}
