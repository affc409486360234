//! Whatever a client sends, the daemon answers 4xx (never 5xx), stays up and keeps
//! answering correct requests; slow clients are cut off. Whatever a config file holds, the
//! loader returns an error instead of panicking.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use telemetryd::{Config, logging};

/// Sends raw bytes on a fresh connection, closes its sending side, and returns the status
/// code of the reply, or None when the server closed the connection without one. Async:
/// the daemon under test shares this runtime thread.
async fn raw(addr: SocketAddr, request: &[u8]) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(request).await;
    let _ = s.shutdown().await;
    let mut reply = Vec::new();
    let mut chunk = [0u8; 256];
    let read_head = async {
        while !reply.windows(2).any(|w| w == b"\r\n") {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => reply.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read_head)
        .await
        .expect("no reply within 10 s");
    let head = String::from_utf8_lossy(&reply[..reply.len().min(64)]).into_owned();
    head.strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|c| c.parse().ok())
}

async fn still_serving(daemon: &telemetryd::RunningDaemon) {
    let r = get(&format!(
        "http://{}/telemetry/switch-1/latency_ms",
        daemon.metric_addr
    ))
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        get(&format!("http://{}/counters", daemon.generator_addr))
            .await
            .status,
        200
    );
}

#[actix_web::test]
async fn malformed_requests_get_4xx_and_the_daemon_keeps_serving() {
    let redis = TestRedis::start();
    let daemon = start(config(redis.port, 3, 1.0), logging::discard()).await;
    let m = daemon.metric_addr;
    let long = "a".repeat(100_000);
    let cases: Vec<(String, Vec<u8>)> = vec![
        (
            "over-long path".into(),
            format!("GET /telemetry/{long} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes(),
        ),
        (
            "percent junk".into(),
            b"GET /telemetry/%ff%fe%00%zz/%2e%2e HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        ),
        (
            "raw invalid UTF-8".into(),
            b"GET /telemetry/\xff\xfe\xc3 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        ),
        (
            "huge header".into(),
            format!("GET /telemetry/ HTTP/1.1\r\nHost: x\r\nX-Big: {long}\r\n\r\n").into_bytes(),
        ),
        (
            "many headers".into(),
            format!(
                "GET /telemetry/ HTTP/1.1\r\n{}\r\n",
                "X-A: b\r\n".repeat(500)
            )
            .into_bytes(),
        ),
        (
            "huge query".into(),
            format!("GET /telemetry/?q={long} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes(),
        ),
        (
            "unknown method".into(),
            b"BREW /telemetry/ HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        ),
        (
            "garbage".into(),
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec(),
        ),
        (
            "bad version".into(),
            b"GET /telemetry/ HTTP/9.9\r\n\r\n".to_vec(),
        ),
        (
            "body on GET".into(),
            b"GET /telemetry/ HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello".to_vec(),
        ),
        (
            "negative length".into(),
            b"POST /telemetry/ HTTP/1.1\r\nContent-Length: -1\r\n\r\n".to_vec(),
        ),
        (
            "traversal".into(),
            b"GET /telemetry/../../etc/passwd HTTP/1.1\r\n\r\n".to_vec(),
        ),
    ];
    for (name, bytes) in &cases {
        if let Some(status) = raw(m, bytes).await {
            assert!((400..500).contains(&status), "{name}: {status}");
        }
        still_serving(&daemon).await;
    }
    // The well-formed ones of these have a definite answer.
    assert_eq!(
        raw(m, b"GET /telemetry/%ff%fe HTTP/1.1\r\nHost: x\r\n\r\n").await,
        Some(404)
    );
    assert_eq!(
        raw(m, b"BREW /telemetry/ HTTP/1.1\r\nHost: x\r\n\r\n").await,
        Some(405)
    );
    let long_path = format!(
        "GET /telemetry/{} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(10_000)
    );
    assert_eq!(raw(m, long_path.as_bytes()).await, Some(414));
    let big_header = format!(
        "GET /telemetry/ HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    assert_eq!(raw(m, big_header.as_bytes()).await, Some(431));
    daemon.shutdown().await;
}

#[actix_web::test]
async fn ten_thousand_random_requests_get_no_5xx() {
    let redis = TestRedis::start();
    let daemon = start(config(redis.port, 5, 1.0), logging::discard()).await;
    let addrs = [daemon.metric_addr, daemon.generator_addr];
    let mut rng = rand::rngs::StdRng::seed_from_u64(20261128);
    let methods = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "G\tET", "get", "",
    ];
    let pieces = [
        "telemetry",
        "counters",
        "switch-1",
        "switch-4",
        "switch-5",
        "switch-01",
        "latency_ms",
        "updated_at",
        "%00",
        "%ff",
        "%2F",
        "..",
        ".",
        "",
        "?",
        "#",
        "%",
        "healthz",
        "readyz",
        "\u{e9}",
        "switch-\u{661}",
    ];
    let (mut answered, mut closed) = (0, 0);
    for i in 0..10_000 {
        let mut path = String::new();
        for _ in 0..rng.random_range(0..5) {
            path.push('/');
            path.push_str(pieces[rng.random_range(0..pieces.len())]);
            if rng.random_bool(0.1) {
                let junk: String = (0..rng.random_range(1..20))
                    .map(|_| rng.random_range(0x21u8..0x7f) as char)
                    .collect();
                path.push_str(&junk);
            }
        }
        if path.is_empty() || rng.random_bool(0.05) {
            path.insert(0, '/');
        }
        let method = methods[rng.random_range(0..methods.len())];
        let mut request = format!("{method} {path} HTTP/1.1\r\nHost: x\r\n").into_bytes();
        if rng.random_bool(0.05) {
            request.extend((0..rng.random_range(1..200)).map(|_| rng.random::<u8>()));
        }
        request.extend_from_slice(b"\r\n");
        match raw(addrs[i % 2], &request).await {
            Some(status) => {
                assert!(
                    status < 500,
                    "{status} for {:?}",
                    String::from_utf8_lossy(&request)
                );
                answered += 1;
            }
            None => closed += 1,
        }
    }
    assert!(
        answered > 9_000,
        "answered {answered}, closed without a reply {closed}"
    );
    still_serving(&daemon).await;
    daemon.shutdown().await;
}

#[actix_web::test]
async fn a_client_that_never_finishes_its_request_is_cut_off() {
    let redis = TestRedis::start();
    let mut c = config(redis.port, 2, 1.0);
    c.http.request_timeout_ms = 1_000;
    let daemon = start(c, logging::discard()).await;
    // Async I/O: the daemon's listeners share this test's runtime thread.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut slow = tokio::net::TcpStream::connect(daemon.metric_addr)
        .await
        .unwrap();
    slow.write_all(b"GET /telemetry/ HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut reply = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut reply)).await;
    assert!(read.is_ok(), "connection held for {:?}", started.elapsed());
    let text = String::from_utf8_lossy(&reply);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
    still_serving(&daemon).await;
    daemon.shutdown().await;
}

proptest! {
    // A fixed seed, so CI is never red by chance (see src/model.rs).
    #![proptest_config(ProptestConfig {
        cases: 2_000,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x7e1e_3e7d),
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_text_as_config_is_loaded_or_rejected_without_panic(text in "\\PC{0,200}") {
        let _ = Config::from_yaml(&text);
    }

    #[test]
    fn yaml_shaped_configs_are_loaded_or_rejected_with_named_keys(
        section in prop::sample::select(vec!["telemetry", "redis", "logging", "generator_server", "metric_server", "http", "shutdown", "bogus"]),
        key in prop::sample::select(vec!["switches", "update_interval_seconds", "seed", "port", "host", "level", "file", "db", "timeout_ms", "batch_size", "workers", "x"]),
        value in prop::sample::select(vec!["0", "-1", "1e400", ".nan", "~", "[]", "{}", "'str'", "99999999999999999999", "0.0001", "true", "INFO", "\"\""]),
    ) {
        let yaml = format!("{section}:\n  {key}: {value}\n");
        if let Err(e) = Config::from_yaml(&yaml) {
            prop_assert!(!e.problems.is_empty());
            for p in &e.problems {
                prop_assert!(!p.key.is_empty() && !p.message.is_empty(), "{yaml}: {e}");
            }
        }
    }
}
