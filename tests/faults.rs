//! Redis outages, restarts, hangs and foreign data: the daemon keeps answering from its
//! cache and puts every switch back in Redis once it can.

mod common;

use std::time::{Duration, Instant};

use common::*;
use deadpool_redis::redis::{self, AsyncCommands};
use telemetryd::logging;

/// `updated_at` (ms) of switch `n` in Redis, or None when it is missing.
async fn redis_time(redis: &TestRedis, n: u32) -> Option<u64> {
    let h = redis.hash(n).await;
    h.get("updated_at")
        .map(|t| (t.parse::<f64>().unwrap() * 1000.0).round() as u64)
}

/// `updated_at` (ms) of every switch in Redis, or None for a missing switch.
async fn redis_times(redis: &TestRedis, switches: u32) -> Vec<Option<u64>> {
    let mut out = Vec::new();
    for n in 0..switches {
        out.push(redis_time(redis, n).await);
    }
    out
}

/// Every switch is in Redis with a sample at least as new as `since_ms`.
async fn all_in_redis_since(redis: &TestRedis, switches: u32, since_ms: u64) -> bool {
    redis_times(redis, switches)
        .await
        .iter()
        .all(|t| t.is_some_and(|t| t >= since_ms))
}

/// A whole hash of a switch, as another writer (a collector) would leave it.
fn foreign_hash(updated_at: &str) -> [(&'static str, &str); 5] {
    [
        ("bandwidth_in_mbps", "10"),
        ("bandwidth_out_mbps", "20"),
        ("latency_ms", "0.5"),
        ("packet_errors", "7"),
        ("updated_at", updated_at),
    ]
}

/// Writes `foreign_hash(updated_at)` for switch-0 ... switch-{switches-1}.
async fn write_foreign(redis: &TestRedis, switches: u32, updated_at: &str) {
    let mut conn = redis.conn().await;
    for n in 0..switches {
        let _: () = conn
            .hset_multiple(format!("telemetry:switch-{n}"), &foreign_hash(updated_at))
            .await
            .unwrap();
    }
}

fn now_ms() -> u64 {
    telemetryd::model::now_unix_ms()
}

#[actix_web::test]
async fn redis_killed_for_30s_listeners_keep_answering_and_every_switch_returns_within_2s() {
    let mut redis = TestRedis::start();
    let port = redis.port;
    let (log, lines) = capture_logger();
    let daemon = start(config(port, 20, 0.2), log).await;
    eventually("all switches in Redis", Duration::from_secs(5), || async {
        all_in_redis_since(&redis, 20, 0).await.then_some(())
    })
    .await;

    redis.kill();
    let urls = [
        format!("http://{}/counters", daemon.generator_addr),
        format!("http://{}/telemetry/", daemon.metric_addr),
        format!(
            "http://{}/telemetry/switch-7/latency_ms",
            daemon.metric_addr
        ),
    ];
    let outage = Instant::now();
    let (mut answered, mut stale_seen) = (0, false);
    while outage.elapsed() < Duration::from_secs(30) {
        for url in &urls {
            let r = get(url).await;
            assert_eq!(r.status, 200, "{url} during the outage: {}", r.body);
            stale_seen |= r.headers["x-telemetry-stale"] == "true";
            answered += 1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(answered > 100, "{answered}");
    assert!(
        stale_seen,
        "answers during the outage say they are not confirmed in Redis"
    );
    let pending = daemon.cache().snapshot().unconfirmed;
    assert_eq!(pending, 20, "every switch shown unconfirmed, none lost");
    // 30 s at 0.2 s is 150 samples per switch: the writer holds only the latest of each.
    let metrics = get(&format!("http://{}/metrics", daemon.metric_addr))
        .await
        .body;
    let held: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("telemetryd_writer_pending_samples "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1.0..=20.0).contains(&held),
        "pending samples during the outage: {held}"
    );

    let redis = TestRedis::start_on(port);
    let back = now_ms();
    eventually(
        "every switch's latest state in Redis",
        Duration::from_secs(2),
        || async {
            all_in_redis_since(&redis, 20, back - 300)
                .await
                .then_some(())
        },
    )
    .await;
    let text = log_text(&lines);
    assert_eq!(text.matches("Redis unreachable").count(), 1, "{text}");
    assert_eq!(text.matches("Redis reachable again").count(), 1, "{text}");
    daemon.shutdown().await;
}

#[actix_web::test]
async fn redis_flushed_gets_every_switch_back_within_one_interval() {
    let redis = TestRedis::start();
    let daemon = start(config(redis.port, 30, 1.0), logging::discard()).await;
    eventually("all switches in Redis", Duration::from_secs(5), || async {
        all_in_redis_since(&redis, 30, 0).await.then_some(())
    })
    .await;
    let _: () = redis::cmd("FLUSHALL")
        .query_async(&mut redis.conn().await)
        .await
        .unwrap();
    assert!(redis.hash(0).await.is_empty());
    // One interval, plus one flush interval for the last sample's batch.
    eventually(
        "every switch back in Redis",
        Duration::from_millis(1_000 + 300),
        || async { all_in_redis_since(&redis, 30, 0).await.then_some(()) },
    )
    .await;
    daemon.shutdown().await;
}

#[actix_web::test]
async fn a_hung_redis_does_not_slow_reads_and_writes_resume_after_it() {
    let redis = TestRedis::start();
    let mut c = config(redis.port, 10, 0.2);
    c.redis.timeout_ms = 300;
    let daemon = start(c, logging::discard()).await;
    eventually("all switches in Redis", Duration::from_secs(5), || async {
        all_in_redis_since(&redis, 10, 0).await.then_some(())
    })
    .await;

    signal(redis.pid(), "STOP");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let hung = Instant::now();
    while hung.elapsed() < Duration::from_secs(3) {
        for url in [
            format!("http://{}/counters", daemon.generator_addr),
            format!("http://{}/telemetry/switch-3", daemon.metric_addr),
        ] {
            // A read that waited on Redis would hang here until the client gives up.
            let r = client
                .get(&url)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{url} while Redis hangs: {e}"));
            assert_eq!(r.status(), 200);
        }
    }
    signal(redis.pid(), "CONT");
    let resumed = now_ms();
    eventually("writes to resume", Duration::from_secs(5), || async {
        all_in_redis_since(&redis, 10, resumed).await.then_some(())
    })
    .await;
    daemon.shutdown().await;
}

#[actix_web::test]
async fn foreign_and_corrupt_data_is_skipped_with_one_warning_and_never_a_500() {
    let redis = TestRedis::start();
    let mut conn = redis.conn().await;
    let good = foreign_hash("1764290000.5");
    write_foreign(&redis, 3, "1764290000.5").await;
    let (log, lines) = capture_logger();
    let mut c = config(redis.port, 3, 0.2);
    c.telemetry.simulate = false;
    let daemon = start(c, log).await;
    let m = daemon.metric_addr;
    assert_eq!(
        get(&format!("http://{m}/telemetry/switch-1/latency_ms"))
            .await
            .json()["value"],
        0.5
    );

    let _: () = conn
        .hset("telemetry:switch-1", "latency_ms", "fast")
        .await
        .unwrap();
    let _: () = conn
        .hset("telemetry:switch-1", "packet_errors", "8")
        .await
        .unwrap();
    let _: () = conn.del("telemetry:switch-2").await.unwrap();
    let _: () = conn.set("telemetry:switch-2", "not a hash").await.unwrap();
    let _: () = conn
        .hset_multiple("telemetry:switch-999999", &good)
        .await
        .unwrap();
    let _: () = conn
        .hset("telemetry:switch-0", "bandwidth_in_mbps", "NaN")
        .await
        .unwrap();

    // The readable field of switch-1 still comes through.
    eventually(
        "switch-1's readable field",
        Duration::from_secs(3),
        || async {
            let r = get(&format!("http://{m}/telemetry/switch-1/packet_errors")).await;
            (r.json()["value"] == 8).then_some(())
        },
    )
    .await;
    // Let a few more reads pass: the warnings must not repeat.
    tokio::time::sleep(Duration::from_millis(800)).await;
    for url in [
        format!("http://{m}/telemetry/"),
        format!("http://{m}/telemetry/switch-0"),
        format!("http://{m}/telemetry/switch-1/latency_ms"),
        format!("http://{m}/telemetry/switch-2"),
        format!("http://{}/counters", daemon.generator_addr),
    ] {
        assert_eq!(get(&url).await.status, 200, "{url}");
    }
    assert_eq!(
        get(&format!("http://{m}/telemetry/switch-1/latency_ms"))
            .await
            .json()["value"],
        0.5
    );
    assert_eq!(
        get(&format!("http://{m}/telemetry/switch-0/bandwidth_in_mbps"))
            .await
            .json()["value"],
        10.0
    );
    assert_eq!(
        get(&format!("http://{m}/telemetry/switch-999999"))
            .await
            .status,
        404
    );
    let all = get(&format!("http://{m}/telemetry/")).await.json();
    assert_eq!(all["switches"].as_object().unwrap().len(), 3);

    let text = log_text(&lines);
    for key in [
        "telemetry:switch-0",
        "telemetry:switch-1",
        "telemetry:switch-2",
    ] {
        let warnings = text
            .lines()
            .filter(|l| l.contains("Skipping unreadable") && l.contains(key))
            .count();
        assert_eq!(warnings, 1, "{key}: {text}");
    }
    assert!(!text.contains("key=\"telemetry:switch-999999"), "{text}");
    daemon.shutdown().await;
}

#[actix_web::test]
async fn a_key_of_the_wrong_type_does_not_stop_the_writer_for_other_switches() {
    let redis = TestRedis::start();
    let mut conn = redis.conn().await;
    let _: () = conn.set("telemetry:switch-1", "not a hash").await.unwrap();
    let (log, lines) = capture_logger();
    let daemon = start(config(redis.port, 3, 0.2), log).await;
    let started = now_ms();
    for since in [started, now_ms()] {
        eventually(
            "switches 0 and 2 written",
            Duration::from_secs(5),
            || async {
                let fresh = redis_time(&redis, 0).await > Some(since)
                    && redis_time(&redis, 2).await > Some(since);
                fresh.then_some(())
            },
        )
        .await;
    }
    let kind: String = redis::cmd("TYPE")
        .arg("telemetry:switch-1")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(kind, "string", "another client's key is left alone");
    let text = log_text(&lines);
    assert_eq!(
        text.matches("Redis refused the key of a switch").count(),
        1,
        "{text}"
    );
    assert!(!text.contains("Redis unreachable"), "{text}");
    daemon.shutdown().await;
}

/// A server that wants a password, and none configured: `/readyz` says `NOAUTH` (not the
/// broken pipe Redis leaves when it drops an unauthenticated client's long command), the
/// failed reads are counted, and the log has one warning, not one per switch.
#[actix_web::test]
async fn a_missing_redis_password_is_reported_as_noauth_once_and_counted() {
    let redis = TestRedis::start_with(free_port(), &["--requirepass", "s3cret-pw"]);
    for simulate in [true, false] {
        let (log, lines) = capture_logger();
        let mut c = config(redis.port, 300, 0.2);
        c.telemetry.simulate = simulate;
        let daemon = start(c, log).await;
        let m = daemon.metric_addr;
        let body = eventually("NOAUTH in /readyz", Duration::from_secs(5), || async {
            let body = get(&format!("http://{m}/readyz")).await.json();
            let noauth = body["redis"]["error"]
                .as_str()
                .is_some_and(|e| e.contains("NOAUTH"));
            noauth.then_some(body)
        })
        .await;
        assert_eq!(
            body["redis"]["state"], "down",
            "simulate={simulate}: {body}"
        );
        // Several reads (one per 0.2 s interval) fail, each counted, none logged again.
        eventually(
            "three failed reads counted",
            Duration::from_secs(5),
            || async {
                let text = get(&format!("http://{m}/metrics")).await.body;
                let errors = metric(&text, "telemetryd_redis_read_errors_total")?;
                let up = metric(&text, "telemetryd_redis_up")?;
                (errors >= 3.0 && up == 0.0).then_some(())
            },
        )
        .await;
        let text = log_text(&lines);
        let warnings: Vec<&str> = text.lines().filter(|l| l.contains("level=WARN")).collect();
        assert_eq!(warnings.len(), 1, "simulate={simulate}: {text}");
        assert!(warnings[0].contains("NOAUTH"), "{}", warnings[0]);
        daemon.shutdown().await;
    }
}

/// A foreign `updated_at` far in the future would never age: it is served as stale, and
/// warned about once however many reads see it.
#[actix_web::test]
async fn a_foreign_stamp_in_the_future_is_stale_and_warned_once() {
    let redis = TestRedis::start();
    let mut conn = redis.conn().await;
    // Stamped 3 s ahead, within the tolerance: fresh for 3 s plus three intervals, however
    // slowly the test runs (it also runs under a coverage tracer).
    let now_s = format!("{:.3}", (now_ms() + 3_000) as f64 / 1000.0);
    write_foreign(&redis, 3, &now_s).await;
    let (log, lines) = capture_logger();
    let mut c = config(redis.port, 3, 1.0);
    c.telemetry.simulate = false;
    let daemon = start(c, log).await;
    let m = daemon.metric_addr;
    let stale = |path: &'static str| async move {
        let r = get(&format!("http://{m}{path}")).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        r.headers["x-telemetry-stale"].to_str().unwrap() == "true"
    };
    assert!(
        !stale("/telemetry/switch-1").await,
        "a fresh foreign sample"
    );

    let _: () = conn
        .hset("telemetry:switch-1", "updated_at", "10000000000000")
        .await
        .unwrap();
    eventually(
        "the future stamp served",
        Duration::from_secs(5),
        || async {
            let r = get(&format!("http://{m}/telemetry/switch-1/updated_at")).await;
            (r.json()["value"].as_f64() == Some(1e13)).then_some(())
        },
    )
    .await;
    assert!(stale("/telemetry/switch-1").await);
    assert!(stale("/telemetry/").await);
    assert!(
        !stale("/telemetry/switch-0").await,
        "other switches stay fresh"
    );
    let ready = get(&format!("http://{m}/readyz")).await.json();
    assert_eq!(ready["stale"], true, "{ready}");
    // Several more reads (one a second) see it; the warning is not repeated.
    let reads = |text: String| metric(&text, "telemetryd_redis_reads_total").unwrap();
    let before = reads(get(&format!("http://{m}/metrics")).await.body);
    eventually("three more reads", Duration::from_secs(6), || async {
        (reads(get(&format!("http://{m}/metrics")).await.body) >= before + 3.0).then_some(())
    })
    .await;
    let text = log_text(&lines);
    let warned: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("level=WARN") && l.contains("in the future"))
        .collect();
    assert_eq!(warned.len(), 1, "{text}");
    assert!(warned[0].contains("telemetry:switch-1"), "{}", warned[0]);
    daemon.shutdown().await;
}

/// With a day between samples, a `FLUSHALL` would leave Redis empty and the API saying
/// "confirmed" for up to a day: the cache's check between reads notices within seconds.
#[actix_web::test]
async fn a_flushed_redis_is_noticed_within_seconds_when_samples_are_a_day_apart() {
    let redis = TestRedis::start();
    let (log, lines) = capture_logger();
    let daemon = start(config(redis.port, 4, 86_400.0), log).await;
    let m = daemon.metric_addr;
    let readyz = || async { get(&format!("http://{m}/readyz")).await.json() };
    eventually("every switch confirmed", Duration::from_secs(5), || async {
        let r = readyz().await;
        (r["unconfirmed_switches"] == 0 && r["stale"] == false).then_some(())
    })
    .await;
    let _: () = redis::cmd("FLUSHALL")
        .query_async(&mut redis.conn().await)
        .await
        .unwrap();
    let r = eventually("the loss noticed", Duration::from_secs(4), || async {
        let r = readyz().await;
        (r["unconfirmed_switches"] == 4).then_some(r)
    })
    .await;
    assert_eq!(r["stale"], true, "{r}");
    let answer = get(&format!("http://{m}/telemetry/switch-3")).await;
    assert_eq!(answer.status, 200, "still served from the cache");
    assert_eq!(answer.headers["x-telemetry-stale"], "true");
    let text = log_text(&lines);
    assert_eq!(
        text.matches("Redis lost telemetry it had confirmed")
            .count(),
        1,
        "{text}"
    );
    daemon.shutdown().await;
}

/// A wrong password is reported as such, and the password itself
/// appears nowhere a client or an operator can read: not in the log, `/readyz`, `/metrics`.
#[actix_web::test]
async fn a_wrong_redis_password_is_reported_without_ever_showing_it() {
    let redis = TestRedis::start_with(free_port(), &["--requirepass", "right-pw"]);
    const WRONG: &str = "wr0ng-Secret-4711";
    for simulate in [true, false] {
        let (log, lines) = capture_logger();
        let mut c = config(redis.port, 3, 0.2);
        c.telemetry.simulate = simulate;
        c.redis.password = Some(telemetryd::config::Secret::new(WRONG));
        let daemon = start(c, log).await;
        let m = daemon.metric_addr;
        let ready = eventually(
            "a failed AUTH in /readyz",
            Duration::from_secs(5),
            || async {
                let r = get(&format!("http://{m}/readyz")).await;
                let error = r.json()["redis"]["error"].as_str().map(str::to_lowercase);
                error
                    .is_some_and(|e| e.contains("authentication failed"))
                    .then_some(r.body)
            },
        )
        .await;
        let metrics = get(&format!("http://{m}/metrics")).await.body;
        daemon.shutdown().await;
        for (what, text) in [
            ("readyz", ready),
            ("metrics", metrics),
            ("log", log_text(&lines)),
        ] {
            assert!(
                !text.contains(WRONG),
                "simulate={simulate}: {what} shows it: {text}"
            );
        }
    }
}

/// A daemon that only serves, with a day between full reads: the check between them is
/// what notices Redis going away and coming back, in `/readyz` and `telemetryd_redis_up`.
#[actix_web::test]
async fn a_serving_only_daemon_with_a_long_interval_sees_redis_go_and_return_within_seconds() {
    let mut redis = TestRedis::start();
    let port = redis.port;
    write_foreign(&redis, 3, "1764290000.5").await;
    let mut c = config(port, 3, 86_400.0);
    c.telemetry.simulate = false;
    let daemon = start(c, logging::discard()).await;
    let m = daemon.metric_addr;
    let state = || async {
        let ready = get(&format!("http://{m}/readyz")).await.json();
        let up = metric(
            &get(&format!("http://{m}/metrics")).await.body,
            "telemetryd_redis_up",
        );
        (ready["redis"]["state"].as_str().unwrap().to_string(), up)
    };
    eventually("Redis up", Duration::from_secs(5), || async {
        (state().await == ("up".to_string(), Some(1.0))).then_some(())
    })
    .await;
    redis.kill();
    eventually("Redis down", Duration::from_secs(5), || async {
        (state().await == ("down".to_string(), Some(0.0))).then_some(())
    })
    .await;
    let _back = TestRedis::start_on(port);
    eventually("Redis up again", Duration::from_secs(5), || async {
        (state().await == ("up".to_string(), Some(1.0))).then_some(())
    })
    .await;
    daemon.shutdown().await;
}
