//! The built binary's logs: SIGHUP reopens the log file after rotation, SIGUSR1/2 are
//! ignored, request lines are capped per second with a latency summary for the rest.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

/// The binary with 8 switches every 0.5 s, logging at INFO to its log file and stderr (a
/// file too, so a chatty daemon never blocks on a full pipe), once it serves.
async fn start(redis_port: u16) -> DaemonProcess {
    let daemon = DaemonProcess::builder(redis_port)
        .interval(0.5)
        .env("TELEMETRYD_LOGGING__LEVEL", "info")
        .start();
    daemon.wait_serving().await;
    daemon
}

/// The lines of `path` whose `msg` is `msg`.
fn with_msg(path: &Path, msg: &str) -> Vec<HashMap<String, String>> {
    logfmt_file(path)
        .into_iter()
        .filter(|f| f.get("msg").map(String::as_str) == Some(msg))
        .collect()
}

/// Whether `path` holds the request line of a GET of `request_path`.
fn logged_request(path: &Path, request_path: &str) -> bool {
    with_msg(path, "HTTP request.")
        .iter()
        .any(|f| f.get("path").map(String::as_str) == Some(request_path))
}

#[actix_web::test]
async fn sighup_after_the_log_file_was_moved_writes_to_a_new_file_at_the_same_path() {
    let redis = TestRedis::start();
    let mut daemon = start(redis.port).await;
    let before = "/telemetry/switch-1/latency_ms";
    assert_eq!(get(&daemon.url(Listener::Metric, before)).await.status, 200);
    let log = daemon.log_path().to_path_buf();
    eventually(
        "the request line in the log file",
        Duration::from_secs(10),
        || {
            let found = logged_request(&log, before);
            async move { found.then_some(()) }
        },
    )
    .await;

    // What logrotate does: move the file away, then SIGHUP (its postrotate).
    let rotated = log.with_extension("log.1");
    std::fs::rename(&log, &rotated).unwrap();
    daemon.signal("HUP");
    let reopened = eventually(
        "a new log file saying it was reopened",
        Duration::from_secs(10),
        || {
            let found = with_msg(&log, "Log file reopened.").into_iter().next();
            async move { found }
        },
    )
    .await;
    assert_eq!(reopened["signal"], "SIGHUP");
    assert_eq!(reopened["path"], log.to_str().unwrap());
    assert_eq!(reopened["level"], "INFO");

    let after = "/telemetry/switch-2/latency_ms";
    assert_eq!(get(&daemon.url(Listener::Metric, after)).await.status, 200);
    eventually(
        "the next request line in the new file",
        Duration::from_secs(10),
        || {
            let found = logged_request(&log, after);
            async move { found.then_some(()) }
        },
    )
    .await;
    let rotated_len = std::fs::metadata(&rotated).unwrap().len();
    assert!(logged_request(&rotated, before));
    assert!(!logged_request(&rotated, after));
    assert!(with_msg(&rotated, "Log file reopened.").is_empty());

    // Still serving, and the moved file no longer grows.
    assert!(daemon.still_running(), "SIGHUP ended the daemon");
    assert_eq!(
        get(&daemon.url(Listener::Metric, "/healthz")).await.status,
        200
    );
    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(Duration::from_secs(10)).code(), Some(0));
    assert_eq!(with_msg(&log, "Stopped.").len(), 1);
    assert_eq!(std::fs::metadata(&rotated).unwrap().len(), rotated_len);
}

/// The README's logrotate snippet, for the file at `log`, signalling `pid` with `kill`
/// instead of `systemctl kill` (no systemd here).
fn readme_logrotate_config(log: &Path, pid: u32) -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find("/var/log/telemetryd/telemetry.log {")
        .expect("the README has a logrotate snippet");
    let end = start + readme[start..].find("```").unwrap();
    let snippet = &readme[start..end];
    let hup = "systemctl kill -s HUP telemetryd.service";
    assert!(snippet.contains(hup), "{snippet}");
    snippet
        .replace("/var/log/telemetryd/telemetry.log", log.to_str().unwrap())
        .replace(hup, &format!("kill -HUP {pid}"))
}

#[actix_web::test]
async fn the_readme_logrotate_snippet_rotates_a_file_the_daemon_then_writes_anew() {
    let redis = TestRedis::start();
    let mut daemon = start(redis.port).await;
    let log = daemon.log_path().to_path_buf();
    let dir = log.parent().unwrap().to_path_buf();
    let config = dir.join("logrotate.conf");
    std::fs::write(&config, readme_logrotate_config(&log, daemon.pid())).unwrap();
    let rotate = || {
        let out = std::process::Command::new("logrotate")
            .arg("--force")
            .arg("--state")
            .arg(dir.join("logrotate.state"))
            .arg(&config)
            .output()
            .expect("logrotate must be installed (scripts/test.sh installs it)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    for round in 1..=2 {
        let path = format!("/telemetry/switch-{round}/latency_ms");
        assert_eq!(get(&daemon.url(Listener::Metric, &path)).await.status, 200);
        eventually(
            "the request line in the log file",
            Duration::from_secs(10),
            || {
                let found = logged_request(&log, &path);
                async move { found.then_some(()) }
            },
        )
        .await;
        rotate();
        eventually("the reopened file", Duration::from_secs(10), || {
            let found = with_msg(&log, "Log file reopened.").len() == 1;
            async move { found.then_some(()) }
        })
        .await;
    }
    // delaycompress: the newest rotation stays plain (the daemon may still have been
    // writing to it), the one before is compressed.
    assert!(logged_request(
        &dir.join("telemetry.log.1"),
        "/telemetry/switch-2/latency_ms"
    ));
    assert!(dir.join("telemetry.log.2.gz").exists());
    assert!(daemon.still_running());
}

#[actix_web::test]
async fn sigusr1_and_sigusr2_are_logged_and_ignored() {
    let redis = TestRedis::start();
    let mut daemon = start(redis.port).await;
    daemon.signal("USR1");
    daemon.signal("USR2");
    let log = daemon.log_path().to_path_buf();
    let ignored = eventually("both signals logged", Duration::from_secs(10), || {
        let mut names: Vec<String> = with_msg(&log, "Signal ignored.")
            .into_iter()
            .map(|f| f["signal"].clone())
            .collect();
        names.sort();
        async move { (names.len() == 2).then_some(names) }
    })
    .await;
    assert_eq!(ignored, ["SIGUSR1", "SIGUSR2"]);
    assert!(daemon.still_running(), "a SIGUSR ended the daemon");
    assert_eq!(
        get(&daemon.url(Listener::Metric, "/telemetry/switch-0/latency_ms"))
            .await
            .status,
        200
    );
    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(Duration::from_secs(10)).code(), Some(0));
}

#[actix_web::test]
async fn past_the_lines_per_second_request_lines_are_skipped_and_summarised_with_latency() {
    let redis = TestRedis::start();
    let mut daemon = start(redis.port).await;
    // 8 clients of 150 requests each: well over 100 lines a second on a debug build.
    let url = daemon.url(Listener::Metric, "/telemetry/switch-3/latency_ms");
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            actix_web::rt::spawn(async move {
                let client = reqwest::Client::new();
                for _ in 0..150 {
                    let r = client.get(&url).send().await.unwrap();
                    assert_eq!(r.status(), 200);
                    r.bytes().await.unwrap();
                }
            })
        })
        .collect();
    let started = Instant::now();
    for c in clients {
        c.await.unwrap();
    }
    let took = started.elapsed();
    let metrics = get(&daemon.url(Listener::Metric, "/metrics")).await.body;
    let skipped_metric: u64 = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix(
                "telemetryd_http_request_lines_skipped_total{listener=\"metric_server\"} ",
            )
        })
        .unwrap_or_else(|| panic!("no skipped-lines counter in:\n{metrics}"))
        .parse()
        .unwrap();
    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(Duration::from_secs(10)).code(), Some(0));

    let route = "/telemetry/{switch_id}/{metric}";
    let logged = with_msg(daemon.stderr_path(), "HTTP request.")
        .into_iter()
        .filter(|f| f["path"] == "/telemetry/switch-3/latency_ms")
        .count() as u64;
    let summaries: Vec<_> = with_msg(daemon.stderr_path(), "HTTP request summary.")
        .into_iter()
        .filter(|f| f["route"] == route && f["listener"] == "metric_server")
        .collect();
    assert!(!summaries.is_empty(), "no summary line for {route}");
    let sum = |key: &str| -> u64 {
        summaries
            .iter()
            .map(|f| f[key].parse::<u64>().unwrap())
            .sum()
    };
    let seconds = took.as_secs() + 2;
    assert!(logged <= 100 * seconds, "{logged} lines in {took:?}");
    assert_eq!(
        logged + sum("skipped"),
        1200,
        "every request logged or counted"
    );
    assert_eq!(skipped_metric, sum("skipped"));
    assert!(sum("requests") >= sum("skipped") && sum("requests") <= 1200);
    for f in &summaries {
        let us = |key: &str| f[key].parse::<u64>().unwrap();
        assert!(0 < us("p50_us") && us("p50_us") <= us("p99_us") && us("p99_us") <= us("max_us"));
        assert_eq!(f["level"], "INFO");
    }
    // The summary is in the log file too, where journald's copy is not.
    assert!(!with_msg(daemon.log_path(), "HTTP request summary.").is_empty());
}

#[test]
fn logfmt_reads_back_the_fields_the_daemon_writes_quoted_and_escaped_alike() {
    let (log, buf) = capture_logger();
    slog::info!(log, "A message with spaces."; "plain" => "word", "quoted" => "say \"hi\"\\ok",
        "lines" => "one\ntwo\ttab\u{1b}", "empty" => "");
    drop(log);
    let text = log_text(&buf);
    let fields = logfmt(text.lines().next().unwrap());
    let expected: HashMap<String, String> = [
        ("level", "INFO"),
        ("msg", "A message with spaces."),
        ("plain", "word"),
        ("quoted", "say \"hi\"\\ok"),
        ("lines", "one\ntwo\ttab\u{1b}"),
        ("empty", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(fields, expected, "{text}");
}
