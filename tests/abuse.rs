//! Abusive clients against the built binary: pipelined floods that never read, more
//! connections than the descriptor limit allows, connections that never send a byte. The
//! daemon's memory is read from /proc/<pid>/status, as an operator would.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{DaemonProcess, Listener, TestRedis, eventually, free_port, get, logfmt_file, metric};

/// Starts `command` (the binary, or a wrapper that execs it) with 100 switches every
/// second and `env` on top, and waits until both listeners answer.
async fn start(command: Command, redis: &TestRedis, env: &[(&str, &str)]) -> DaemonProcess {
    let daemon = DaemonProcess::builder(redis.port)
        .command(command)
        .switches(100)
        .interval(1.0)
        .envs(env)
        .start();
    daemon.wait_serving().await;
    daemon
}

/// The value of the series `name{listener="<listener>"}` in the daemon's /metrics.
async fn listener_metric(daemon: &DaemonProcess, name: &str, listener: &str) -> f64 {
    let text = get(&daemon.url(Listener::Metric, "/metrics")).await.body;
    let series = format!("{name}{{listener=\"{listener}\"}}");
    metric(&text, &series).unwrap_or_else(|| panic!("{series} not in /metrics:\n{text}"))
}

/// How many lines of the daemon's log file have message `msg` and field `listener` =
/// `listener`.
fn count_logged(daemon: &DaemonProcess, msg: &str, listener: &str) -> usize {
    logfmt_file(daemon.log_path())
        .iter()
        .filter(|fields| field(fields, "msg") == Some(msg))
        .filter(|fields| field(fields, "listener") == Some(listener))
        .count()
}

fn field<'a>(fields: &'a HashMap<String, String>, key: &str) -> Option<&'a str> {
    fields.get(key).map(String::as_str)
}

/// Opens `n` connections to `port` without waiting for each to be accepted (connections
/// past the listener's limit wait in its backlog).
fn open_idle(port: u16, n: usize) -> Vec<socket2::Socket> {
    use socket2::{Domain, SockAddr, Socket, Type};
    let addr = SockAddr::from(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    (0..n)
        .map(|_| {
            let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
            s.set_nonblocking(true).unwrap();
            match s.connect(&addr) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
                Err(e) => panic!("connect: {e}"),
            }
            s
        })
        .collect()
}

/// Sends `n` pipelined GETs of `path` at once and reads the answers: how many were 200.
fn pipeline(port: u16, path: &str, n: usize) -> usize {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    let writer = {
        let mut s = s.try_clone().unwrap();
        let all = request.repeat(n);
        std::thread::spawn(move || s.write_all(all.as_bytes()).unwrap())
    };
    let mut answers = Vec::new();
    let mut buf = vec![0; 1 << 16];
    let status = b"HTTP/1.1 200 OK\r\n";
    let mut answered = 0;
    while answered < n {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(k) => {
                // Only where a status line not counted yet can start.
                let from = answers.len().saturating_sub(status.len() - 1);
                answers.extend_from_slice(&buf[..k]);
                answered += answers[from..]
                    .windows(status.len())
                    .filter(|w| *w == status)
                    .count();
            }
        }
    }
    writer.join().unwrap();
    answered
}

const FLOOD_CLIENTS: usize = 20;
const FLOOD_REQUESTS: usize = 50_000;

#[actix_web::test]
async fn pipelined_requests_never_read_are_bounded_and_their_memory_returns_after() {
    let redis = TestRedis::start();
    let daemon = start(common::binary(), &redis, &[]).await;
    // Warm up the paths the flood takes (the body rendered, each worker's pools filled), so
    // that what the flood leaves behind is measured, not the daemon's start-up.
    // A client that pipelines and reads gets every answer, from a handler that answers at
    // once and from one that waits on an actor (/healthz) alike.
    for _ in 0..2 {
        assert_eq!(pipeline(daemon.metric, "/telemetry/", 1000), 1000);
    }
    assert_eq!(pipeline(daemon.metric, "/healthz", 500), 500);
    let start = daemon.rss_mb();

    // Each client writes its requests until the daemon stops reading (the write times out)
    // and holds the connection until told to close it.
    let request = b"GET /telemetry/ HTTP/1.1\r\nHost: x\r\n\r\n".repeat(FLOOD_REQUESTS);
    let (close_tx, close_rx) = std::sync::mpsc::channel::<()>();
    let close_rx = std::sync::Arc::new(std::sync::Mutex::new(close_rx));
    let (sent_tx, sent_rx) = std::sync::mpsc::channel::<usize>();
    let port = daemon.metric;
    let clients: Vec<_> = (0..FLOOD_CLIENTS)
        .map(|_| {
            let (request, sent_tx, close_rx) = (request.clone(), sent_tx.clone(), close_rx.clone());
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                s.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
                let mut sent = 0;
                while sent < request.len() {
                    match s.write(&request[sent..]) {
                        Ok(n) => sent += n,
                        Err(_) => break,
                    }
                }
                sent_tx.send(sent).unwrap();
                let _ = close_rx.lock().unwrap().recv();
                drop(s);
            })
        })
        .collect();
    let mut peak = start;
    let mut sent = Vec::new();
    while sent.len() < FLOOD_CLIENTS {
        peak = peak.max(daemon.rss_mb());
        if let Ok(n) = sent_rx.recv_timeout(Duration::from_millis(50)) {
            sent.push(n);
        }
    }
    // The daemon keeps answering others meanwhile.
    let health = daemon.url(Listener::Metric, "/healthz");
    assert_eq!(get(&health).await.status, 200);
    peak = peak.max(daemon.rss_mb());
    let open = listener_metric(&daemon, "telemetryd_http_open_connections", "metric_server").await;
    assert!(open >= FLOOD_CLIENTS as f64, "{open} connections open");
    drop(close_tx);
    for c in clients {
        c.join().unwrap();
    }
    let after = eventually(
        "the daemon's memory to return",
        Duration::from_secs(10),
        || async {
            let rss = daemon.rss_mb();
            (rss <= start + 10.0).then_some(rss)
        },
    )
    .await;
    eprintln!(
        "RSS {start:.0} MB at start, {peak:.0} MB peak, {after:.0} MB after; {} of {} MB sent",
        sent.iter().sum::<usize>() / 1_000_000,
        FLOOD_CLIENTS * request.len() / 1_000_000
    );
    // Before the fix: 51 MB -> 562 MB during the same flood, 555 MB after.
    assert!(
        peak <= start + 60.0,
        "RSS rose from {start:.0} to {peak:.0} MB"
    );
}

#[actix_web::test]
async fn a_client_that_reads_none_of_its_answers_is_disconnected_after_the_keep_alive_time() {
    let redis = TestRedis::start();
    let env = [("TELEMETRYD_HTTP__KEEP_ALIVE_SECONDS", "1")];
    let daemon = start(common::binary(), &redis, &env).await;
    let mut s = TcpStream::connect(("127.0.0.1", daemon.metric)).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
    let request = b"GET /telemetry/ HTTP/1.1\r\nHost: x\r\n\r\n".repeat(FLOOD_REQUESTS);
    let mut sent = 0;
    while sent < request.len() {
        match s.write(&request[sent..]) {
            Ok(n) => sent += n,
            Err(_) => break,
        }
    }
    let blocked = Instant::now();
    // The client holds its connection open and reads nothing; the daemon closes it.
    let open = || async {
        listener_metric(&daemon, "telemetryd_http_open_connections", "metric_server").await
    };
    eventually(
        "the connection to be closed",
        Duration::from_secs(10),
        || async { (open().await <= 1.0).then_some(()) },
    )
    .await;
    assert!(
        blocked.elapsed() < Duration::from_secs(8),
        "{:?}",
        blocked.elapsed()
    );
    drop(s);
}

#[actix_web::test]
async fn a_listener_at_its_connection_limit_leaves_the_other_answering_and_logs_once() {
    let redis = TestRedis::start();
    let mut prlimit = Command::new("prlimit");
    prlimit.args(["--nofile=256:256", env!("CARGO_BIN_EXE_telemetryd")]);
    let daemon = start(prlimit, &redis, &[("TELEMETRYD_LOGGING__LEVEL", "INFO")]).await;
    let limit = listener_metric(
        &daemon,
        "telemetryd_http_connection_limit",
        "generator_server",
    )
    .await;
    assert!(
        (2.0..256.0).contains(&limit),
        "generator limit {limit} under 256 descriptors"
    );

    // More sockets than the descriptor limit: without a cap the daemon would run out and
    // neither listener would accept.
    let held = open_idle(daemon.generator, 300);
    let open = eventually(
        "the generator listener to reach its limit",
        Duration::from_secs(10),
        || async {
            let open = listener_metric(
                &daemon,
                "telemetryd_http_open_connections",
                "generator_server",
            )
            .await;
            (open >= limit).then_some(open)
        },
    )
    .await;
    assert_eq!(open, limit);
    let health = daemon.url(Listener::Metric, "/healthz");
    for _ in 0..5 {
        let started = Instant::now();
        assert_eq!(get(&health).await.status, 200);
        assert!(started.elapsed() < Duration::from_secs(1));
    }
    const REACHED: &str = "Connection limit reached; new connections wait until some close.";
    const AGAIN: &str = "Below the connection limit again.";
    eventually("the limit to be logged", Duration::from_secs(5), || async {
        (count_logged(&daemon, REACHED, "generator_server") > 0).then_some(())
    })
    .await;
    assert_eq!(count_logged(&daemon, REACHED, "generator_server"), 1);
    assert_eq!(count_logged(&daemon, REACHED, "metric_server"), 0);
    assert_eq!(
        listener_metric(
            &daemon,
            "telemetryd_http_connection_limit_reached_total",
            "generator_server"
        )
        .await,
        1.0
    );

    drop(held);
    let counters = daemon.url(Listener::Generator, "/counters");
    eventually(
        "the generator listener to answer again",
        Duration::from_secs(10),
        || async {
            let r = reqwest::get(&counters).await.ok()?;
            (r.status() == 200).then_some(())
        },
    )
    .await;
    // The connections that waited in the backlog are accepted (and close) once the held
    // ones are gone, which may reach the limit again: each change is logged once, so the
    // lines alternate and the last says the listener is below its limit.
    let limit_lines = || {
        logfmt_file(daemon.log_path())
            .iter()
            .filter(|fields| field(fields, "listener") == Some("generator_server"))
            .filter_map(|fields| match field(fields, "msg") {
                Some(REACHED) => Some(true),
                Some(AGAIN) => Some(false),
                _ => None,
            })
            .collect::<Vec<bool>>()
    };
    let changes = eventually(
        "the resumption to be logged",
        Duration::from_secs(5),
        || async {
            let changes = limit_lines();
            (changes.last() == Some(&false)).then_some(changes)
        },
    )
    .await;
    let alternating = (0..changes.len()).map(|i| i % 2 == 0).collect::<Vec<_>>();
    assert_eq!(changes, alternating, "reached (true) / below again (false)");
}

#[test]
fn a_descriptor_limit_that_leaves_none_for_connections_exits_1_saying_so() {
    let out = Command::new("prlimit")
        .args(["--nofile=48:48", env!("CARGO_BIN_EXE_telemetryd")])
        .env("TELEMETRYD_GENERATOR_SERVER__PORT", free_port().to_string())
        .env("TELEMETRYD_METRIC_SERVER__PORT", free_port().to_string())
        .env("TELEMETRYD_LOGGING__FILE", "")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let reason = stderr
        .lines()
        .find_map(|l| l.strip_prefix("telemetryd: cannot listen on "))
        .unwrap_or_else(|| panic!("no start error in:\n{stderr}"));
    assert!(
        reason.contains("(generator_server): the file-descriptor limit (48) leaves none"),
        "{reason}"
    );
}

#[actix_web::test]
async fn a_connection_that_sends_nothing_gets_408_at_the_request_timeout_and_memory_returns() {
    let redis = TestRedis::start();
    let env = [("TELEMETRYD_HTTP__REQUEST_TIMEOUT_MS", "2000")];
    let daemon = start(common::binary(), &redis, &env).await;
    let start = daemon.rss_mb();

    let opened = Instant::now();
    let mut idle = open_idle(daemon.metric, 900);
    eventually("900 connections open", Duration::from_secs(10), || async {
        let open =
            listener_metric(&daemon, "telemetryd_http_open_connections", "metric_server").await;
        (open >= 900.0).then_some(())
    })
    .await;
    let held = daemon.rss_mb();

    // The first one, read: a 408 once its 2 s are up (actix-web's clock ticks every
    // 500 ms), then the daemon closes it.
    let first = idle.remove(0);
    first.set_nonblocking(false).unwrap();
    let mut first: TcpStream = first.into();
    first
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = Vec::new();
    first.read_to_end(&mut answer).unwrap();
    let waited = opened.elapsed();
    let answer = String::from_utf8_lossy(&answer);
    let status_line = answer.lines().next().unwrap_or_default();
    assert_eq!(status_line, "HTTP/1.1 408 Request Timeout", "{answer}");
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_secs(6),
        "408 after {waited:?}"
    );

    drop(idle);
    let after = eventually(
        "the daemon's memory to return",
        Duration::from_secs(10),
        || async {
            let rss = daemon.rss_mb();
            (rss <= start + 5.0).then_some(rss)
        },
    )
    .await;
    eprintln!(
        "RSS {start:.0} MB at start, {held:.0} MB with 900 idle connections, {after:.0} MB after"
    );
    eventually(
        "every idle connection closed",
        Duration::from_secs(5),
        || async {
            let open =
                listener_metric(&daemon, "telemetryd_http_open_connections", "metric_server").await;
            (open <= 1.0).then_some(())
        },
    )
    .await;
}
