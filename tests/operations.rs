//! What operators use besides the API: /metrics for Prometheus (checked by promtool),
//! /healthz and /readyz on both listeners.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use telemetryd::logging;

fn promtool_check(text: &str) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool must be installed (scripts/test.sh installs the prometheus package)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[actix_web::test]
async fn metrics_expose_every_switch_and_the_daemon_and_pass_promtool() {
    let redis = TestRedis::start();
    let daemon = start(config(redis.port, 3, 0.2), logging::discard()).await;
    let m = daemon.metric_addr;
    assert_eq!(
        get(&format!("http://{m}/telemetry/switch-2/latency_ms"))
            .await
            .status,
        200
    );
    assert_eq!(
        get(&format!("http://{m}/telemetry/switch-1")).await.status,
        200
    );
    assert_eq!(
        get(&format!("http://{m}/telemetry/switch-9")).await.status,
        404
    );
    assert_eq!(
        get(&format!("http://{m}/telemetry/a/b/c")).await.status,
        404
    );
    eventually("a write to Redis", Duration::from_secs(5), || async {
        let text = get(&format!("http://{m}/metrics")).await.body;
        metric(&text, "telemetryd_redis_writes_total")
            .filter(|n| *n > 0.0)
            .map(drop)
    })
    .await;

    let reply = get(&format!("http://{m}/metrics")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.content_type,
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = reply.body;
    for n in 0..3 {
        for series in [
            "telemetry_bandwidth_in_bytes_per_second",
            "telemetry_bandwidth_out_bytes_per_second",
            "telemetry_latency_seconds",
            "telemetry_packet_errors_total",
            "telemetry_updated_at_timestamp_seconds",
        ] {
            let prefix = format!("{series}{{switch=\"switch-{n}\"}} ");
            assert!(
                text.lines().any(|l| l.starts_with(&prefix)),
                "no {prefix} in:\n{text}"
            );
        }
    }
    assert!(
        text.contains("# TYPE telemetry_packet_errors_total counter"),
        "{text}"
    );
    // Every request is counted under the route it took, never under its raw path.
    use telemetryd::http::routes::{METRIC, SWITCH};
    for (route, status, count) in [
        (METRIC, 200, 1.0),
        (SWITCH, 200, 1.0),
        (SWITCH, 404, 1.0),
        ("unmatched", 404, 1.0),
    ] {
        let series = format!(
            "telemetryd_http_requests_total{{listener=\"metric_server\",route=\"{route}\",status=\"{status}\"}}"
        );
        assert_eq!(metric(&text, &series), Some(count), "{series} in:\n{text}");
    }
    assert!(
        !text.contains("switch-9") && !text.contains("a/b/c"),
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            &format!(
                "telemetryd_http_request_duration_seconds_count{{listener=\"metric_server\",route=\"{SWITCH}\"}}"
            )
        ),
        Some(2.0),
        "{text}"
    );
    for (series, value) in [
        ("telemetryd_redis_up", Some(1.0)),
        ("telemetryd_switches", Some(3.0)),
        ("telemetryd_redis_write_errors_total", Some(0.0)),
        ("telemetryd_redis_read_errors_total", Some(0.0)),
    ] {
        assert_eq!(metric(&text, series), value, "{series} in:\n{text}");
    }
    for series in [
        "telemetryd_redis_batch_size_count",
        "telemetryd_redis_writes_total",
        "telemetryd_redis_samples_written_total",
    ] {
        let n = metric(&text, series).unwrap_or_else(|| panic!("no {series} in:\n{text}"));
        assert!(n >= 1.0, "{series} {n}");
    }
    for series in [
        "telemetryd_writer_pending_samples",
        "telemetryd_cache_age_seconds",
        "telemetryd_redis_reads_total",
    ] {
        assert!(metric(&text, series).is_some(), "no {series} in:\n{text}");
    }
    let (ok, report) = promtool_check(&text);
    assert!(ok && report.trim().is_empty(), "promtool: {report}");
    // /metrics is the metrics listener's; the generator listener does not serve it.
    assert_eq!(
        get(&format!("http://{}/metrics", daemon.generator_addr))
            .await
            .status,
        404
    );
    daemon.shutdown().await;
}

#[actix_web::test]
async fn health_and_readiness_answer_on_both_listeners_and_report_redis() {
    let mut redis = TestRedis::start();
    let daemon = start(config(redis.port, 4, 0.2), logging::discard()).await;
    for addr in [daemon.generator_addr, daemon.metric_addr] {
        let live = get(&format!("http://{addr}/healthz")).await;
        assert_eq!(
            (live.status, live.json()["status"].clone()),
            (200, "alive".into())
        );
        let ready = eventually("Redis up in /readyz", Duration::from_secs(5), || async {
            let r = get(&format!("http://{addr}/readyz")).await;
            (r.json()["redis"]["state"] == "up").then_some(r)
        })
        .await;
        assert_eq!(ready.status, 200);
        let body = ready.json();
        assert_eq!(body["status"], "ready");
        assert_eq!(body["switches"], 4);
        assert!(
            body["cache_age_ms"].is_u64() && body["oldest_sample_age_ms"].is_u64(),
            "{body}"
        );
    }
    redis.kill();
    let url = format!("http://{}/readyz", daemon.metric_addr);
    let body = eventually("Redis down in /readyz", Duration::from_secs(5), || async {
        let r = get(&url).await;
        assert_eq!(r.status, 200, "still ready: it serves from the cache");
        (r.json()["redis"]["state"] == "down").then(|| r.json())
    })
    .await;
    assert!(
        body["redis"]["error"].as_str().unwrap().contains("Redis"),
        "{body}"
    );
    let text = get(&format!("http://{}/metrics", daemon.metric_addr))
        .await
        .body;
    assert_eq!(metric(&text, "telemetryd_redis_up"), Some(0.0), "{text}");
    daemon.shutdown().await;
}

/// `telemetryd_redis_up` follows Redis in both modes: the writer's view while simulating,
/// the reads' view when only serving.
#[actix_web::test]
async fn the_redis_up_gauge_reads_1_while_redis_answers_and_0_while_it_is_gone() {
    for simulate in [true, false] {
        let mut redis = TestRedis::start();
        let mut c = config(redis.port, 3, 0.2);
        c.telemetry.simulate = simulate;
        let daemon = start(c, logging::discard()).await;
        let url = format!("http://{}/metrics", daemon.metric_addr);
        let up = || async { metric(&get(&url).await.body, "telemetryd_redis_up") };
        eventually("telemetryd_redis_up 1", Duration::from_secs(5), || async {
            (up().await == Some(1.0)).then_some(())
        })
        .await;
        redis.kill();
        eventually("telemetryd_redis_up 0", Duration::from_secs(5), || async {
            (up().await == Some(0.0)).then_some(())
        })
        .await;
        let _back = TestRedis::start_on(redis.port);
        eventually(
            "telemetryd_redis_up 1 again",
            Duration::from_secs(5),
            || async { (up().await == Some(1.0)).then_some(()) },
        )
        .await;
        daemon.shutdown().await;
    }
}

/// Each thread of this process: (name, scheduling policy, thread id), from /proc.
fn threads() -> Vec<(String, u32, String)> {
    let mut found = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let path = task.path();
        let (Ok(comm), Ok(stat)) = (
            std::fs::read_to_string(path.join("comm")),
            std::fs::read_to_string(path.join("stat")),
        ) else {
            continue; // the thread ended meanwhile
        };
        // Field 41 of stat is the policy; fields after the ")" closing the name start at 3.
        let after_name = &stat[stat.rfind(')').unwrap() + 1..];
        let policy = after_name.split_whitespace().nth(41 - 3).unwrap();
        let tid = task.file_name().to_string_lossy().into_owned();
        found.push((comm.trim().to_string(), policy.parse().unwrap(), tid));
    }
    found
}

#[actix_web::test]
async fn ingest_threads_are_named_batch_scheduled_and_gone_after_shutdown() {
    const SCHED_OTHER: u32 = 0;
    const SCHED_BATCH: u32 = 3;
    let redis = TestRedis::start();
    let daemon = start(config(redis.port, 4, 0.2), logging::discard()).await;
    // Serving first: the HTTP workers start with the first requests' server poll.
    let reply = get(&format!(
        "http://{}/telemetry/switch-1/latency_ms",
        daemon.metric_addr
    ))
    .await;
    assert_eq!(reply.status, 200);
    let ingest = ["switches", "redis-writer", "cache"];
    let expected = |name: &str| {
        if ingest.contains(&name) {
            SCHED_BATCH
        } else {
            SCHED_OTHER
        }
    };
    // Polled until it holds: under `cargo test` other tests' daemons start threads in this
    // process too, each renamed a moment after it starts.
    eventually(
        "the ingest threads named and SCHED_BATCH, every other thread (HTTP workers of both \
         listeners among them) normal",
        Duration::from_secs(5),
        || async {
            let all = threads();
            let named = ingest.iter().all(|i| all.iter().any(|(n, ..)| n == i));
            let workers = all
                .iter()
                .filter(|(n, ..)| n.starts_with("actix-rt"))
                .count();
            let policies = all.iter().all(|(n, p, _)| *p == expected(n));
            (named && workers >= 2 && policies).then_some(())
        },
    )
    .await;
    let ours: Vec<String> = threads()
        .into_iter()
        .filter(|(n, ..)| ingest.contains(&n.as_str()))
        .map(|(.., tid)| tid)
        .collect();
    daemon.shutdown().await;
    eventually(
        "the ingest threads to end after shutdown",
        Duration::from_secs(5),
        || async {
            let left = threads();
            (!left.iter().any(|(.., tid)| ours.contains(tid))).then_some(())
        },
    )
    .await;
}

/// The tests' daemon guard: a test that fails before `shutdown` leaves no daemon behind,
/// neither its listeners nor its ingest threads.
#[actix_web::test]
async fn a_dropped_daemon_stops_its_listeners_and_ingest_threads() {
    let redis = TestRedis::start();
    // Under `cargo test` other tests' daemons run in this process too: ours are the new ones.
    let before: Vec<String> = threads().into_iter().map(|(.., tid)| tid).collect();
    let daemon = start(config(redis.port, 4, 0.2), logging::discard()).await;
    let addrs = [daemon.generator_addr, daemon.metric_addr];
    assert_eq!(
        get(&format!("http://{}/healthz", addrs[1])).await.status,
        200
    );
    let ingest = ["switches", "redis-writer", "cache"];
    let ours: Vec<String> = eventually("the ingest threads", Duration::from_secs(5), || async {
        let ours: Vec<String> = threads()
            .into_iter()
            .filter(|(n, _, tid)| ingest.contains(&n.as_str()) && !before.contains(tid))
            .map(|(.., tid)| tid)
            .collect();
        (ours.len() >= 3).then_some(ours)
    })
    .await;
    drop(daemon);
    eventually(
        "listeners and threads gone",
        Duration::from_secs(5),
        || async {
            let refused = addrs
                .iter()
                .all(|a| std::net::TcpStream::connect(a).is_err());
            let left = threads();
            let threads_gone = !left.iter().any(|(.., tid)| ours.contains(tid));
            (refused && threads_gone).then_some(())
        },
    )
    .await;
}

/// Every signal the daemon takes over arrives as what it asks for (stop, reopen the log,
/// nothing), and none of them ends the process once installed.
#[actix_web::test]
async fn each_handled_signal_is_received_as_what_it_asks_for() {
    use telemetryd::shutdown::{Received, Signals};
    let mut signals = Signals::install().unwrap();
    for (name, expected) in [
        ("HUP", Received::Reopen("SIGHUP")),
        ("USR1", Received::Ignore("SIGUSR1")),
        ("USR2", Received::Ignore("SIGUSR2")),
        ("INT", Received::Stop("SIGINT")),
        ("TERM", Received::Stop("SIGTERM")),
    ] {
        signal(std::process::id(), name);
        let got = tokio::time::timeout(Duration::from_secs(5), signals.next())
            .await
            .unwrap_or_else(|_| panic!("SIG{name} not received"));
        assert_eq!(got, expected);
        assert_eq!(got.name(), format!("SIG{name}"));
    }
}
