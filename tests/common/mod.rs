//! Test fixtures: a real redis-server on a free port, the daemon in-process or as the built
//! binary, an HTTP client, and polling with a deadline instead of sleeps.

#![allow(dead_code)]

use std::future::Future;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use deadpool_redis::redis::{self, AsyncCommands};
use telemetryd::Config;

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A redis-server child process, without persistence, killed on drop.
pub struct TestRedis {
    pub port: u16,
    child: Option<Child>,
}

impl TestRedis {
    /// Starts redis-server on a free port and waits until it answers PING.
    pub fn start() -> TestRedis {
        TestRedis::start_on(free_port())
    }

    /// Starts redis-server on `port` (to bring a killed server back on the same address).
    pub fn start_on(port: u16) -> TestRedis {
        TestRedis::start_with(port, &[])
    }

    /// Starts redis-server on `port` with `extra` arguments (`--requirepass x`).
    pub fn start_with(port: u16, extra: &[&str]) -> TestRedis {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (scripts/test.sh installs it)");
        let redis = TestRedis {
            port,
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !redis.answers_ping() {
            assert!(
                Instant::now() < deadline,
                "redis-server on port {port} did not start"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        redis
    }

    fn answers_ping(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        // A server with a password answers `-NOAUTH ...`: it is up all the same.
        let mut buf = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok()
            && s.read_exact(&mut buf).is_ok()
            && (&buf == b"+PONG\r\n" || buf.starts_with(b"-NOAUTH"))
    }

    /// SIGKILLs the server (no shutdown, no save) and waits for it to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The server's process id, for SIGSTOP and SIGCONT.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("redis is running").id()
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// A client connection, as another writer (redis-cli, another daemon) would have.
    pub async fn conn(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .expect("connect to the test redis")
    }

    /// `HGETALL telemetry:switch-<n>` as strings.
    pub async fn hash(&self, switch: u32) -> std::collections::HashMap<String, String> {
        self.conn()
            .await
            .hgetall(format!("telemetry:switch-{switch}"))
            .await
            .unwrap()
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The daemon, in-process, stopped in order by `shutdown` or at once when dropped: a test
/// whose assertion fails leaves no daemon (listeners, ingest threads) behind.
pub struct Daemon(Option<telemetryd::RunningDaemon>);

impl Daemon {
    /// Stops the daemon in order (see `telemetryd::shutdown`).
    pub async fn shutdown(mut self) -> telemetryd::Stopped {
        self.0.take().expect("running").shutdown().await
    }
}

impl std::ops::Deref for Daemon {
    type Target = telemetryd::RunningDaemon;
    fn deref(&self) -> &telemetryd::RunningDaemon {
        self.0.as_ref().expect("running")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(daemon) = self.0.take() {
            daemon.abort();
        }
    }
}

/// Starts the daemon in-process with `config`, logging to `log`.
pub async fn start(config: Config, log: slog::Logger) -> Daemon {
    Daemon(Some(
        telemetryd::run(config, log)
            .await
            .expect("the daemon starts"),
    ))
}

/// A config for tests: both listeners on free ports, the given Redis port, a fixed seed,
/// no log file.
pub fn config(redis_port: u16, switches: u32, interval_s: f64) -> Config {
    let mut c = Config::default();
    c.generator_server.port = 0;
    c.metric_server.port = 0;
    c.generator_server.workers = Some(1);
    c.metric_server.workers = Some(1);
    c.redis.port = redis_port;
    c.redis.timeout_ms = 500;
    c.telemetry.switches = switches;
    c.telemetry.update_interval_seconds = interval_s;
    c.telemetry.seed = Some(7);
    c.logging.file = None;
    c.shutdown.timeout_seconds = 5.0;
    c
}

/// The value of one sample in a Prometheus text exposition: `series` is the metric name
/// with its labels exactly as written (`telemetryd_redis_up`, `x_total{a="b"}`). None when
/// no such sample exists; comment lines (HELP, TYPE) are never read.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (name, value) = l.rsplit_once(' ')?;
        (name == series).then(|| value.parse().expect("a sample value is a number"))
    })
}

/// Polls `probe` every 20 ms until it returns `Some`, or fails the test after `within`.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An HTTP response, read whole.
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Sends `method url` and reads the whole reply.
pub async fn request(method: &str, url: &str) -> Reply {
    let client = reqwest::Client::new();
    let r = client
        .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let content_type = headers
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    Reply {
        status,
        content_type,
        headers,
        body: r.text().await.unwrap(),
    }
}

pub async fn get(url: &str) -> Reply {
    request("GET", url).await
}

/// Parses `/counters` into a header and rows of cells.
pub fn parse_csv(body: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = body.split("\r\n").filter(|l| !l.is_empty());
    let header = lines.next().unwrap().split(',').map(String::from).collect();
    let rows = lines
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    (header, rows)
}

/// The built binary.
pub fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_telemetryd"))
}

/// A logger whose lines (logfmt, as the daemon writes them) the test can read back.
pub fn capture_logger() -> (slog::Logger, std::sync::Arc<std::sync::Mutex<Vec<u8>>>) {
    use slog::Drain;
    #[derive(Clone)]
    struct Buf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let drain = slog_logfmt::Logfmt::new(Buf(buf.clone()))
        .no_prefix()
        .print_msg(true)
        .print_level(true)
        .build();
    let drain = std::sync::Mutex::new(drain).fuse();
    (slog::Logger::root(drain, slog::o!()), buf)
}

/// The captured log as text.
pub fn log_text(buf: &std::sync::Arc<std::sync::Mutex<Vec<u8>>>) -> String {
    String::from_utf8_lossy(&buf.lock().unwrap()).into_owned()
}

/// Sends SIGSTOP/SIGCONT/... to a process.
pub fn signal(pid: u32, name: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success(), "kill -{name} {pid}");
}
