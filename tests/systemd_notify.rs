//! The daemon in-process under a systemd-like notify socket: READY=1 once serving, then
//! watchdog pings while the actors answer, STOPPING=1 at shutdown. A file of its own: the
//! environment it sets (NOTIFY_SOCKET, WATCHDOG_USEC) is the whole process's, so no other
//! test may run beside it.

mod common;

use std::time::{Duration, Instant};

use common::*;
use tokio::net::UnixDatagram;

/// The datagrams received on `socket` until one contains `want`, or the deadline. Async:
/// the daemon's watchdog runs on this test's thread.
async fn until(socket: &UnixDatagram, want: &str, within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        if let Ok(Ok(n)) = tokio::time::timeout(left, socket.recv(&mut buf)).await {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            let done = text.lines().any(|l| l == want);
            seen.push(text);
            if done {
                return seen;
            }
        }
    }
    panic!("no {want} within {within:?}; got {seen:?}");
}

#[actix_web::test]
async fn systemd_hears_ready_then_watchdog_pings_then_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify");
    let socket = UnixDatagram::bind(&path).unwrap();
    // SAFETY: this file's only test, so no other thread reads the environment meanwhile
    // (each integration-test file is its own process).
    unsafe {
        std::env::set_var("NOTIFY_SOCKET", &path);
        std::env::set_var("WATCHDOG_USEC", "200000");
        std::env::set_var("WATCHDOG_PID", std::process::id().to_string());
    }
    let redis = TestRedis::start();
    let daemon = start(config(redis.port, 3, 0.2), telemetryd::logging::discard()).await;
    let ready = until(&socket, "READY=1", Duration::from_secs(5)).await;
    assert!(
        ready.iter().any(|d| d
            .lines()
            .any(|l| l.starts_with("STATUS=Serving 3 switches"))),
        "{ready:?}"
    );
    // 200 ms watchdog: a ping every 100 ms, each after the actors answered.
    for _ in 0..3 {
        until(&socket, "WATCHDOG=1", Duration::from_secs(2)).await;
    }
    let (_, stopping) = futures_util::future::join(
        daemon.shutdown(),
        until(&socket, "STOPPING=1", Duration::from_secs(5)),
    )
    .await;
    assert!(!stopping.is_empty());
}
