//! Test fixtures: a real redis-server on a free port, the daemon in-process or as the built
//! binary, an HTTP client, a logfmt reader, and polling with a deadline instead of sleeps.

#![allow(dead_code)]

pub mod kafka;
pub mod mariadb;

use std::collections::HashMap;
use std::future::Future;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use deadpool_redis::redis::{self, AsyncCommands};
use telemetryd::Config;

/// Runs `openssl` with `args` (the TLS tests make their certificates with it); fails the
/// test with openssl's own words when it fails.
#[allow(dead_code)]
pub fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl must be installed (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A self-signed P-256 certificate `cert` with key `key`, common name `cn`, valid two days;
/// `extra` adds arguments (`-addext subjectAltName=IP:127.0.0.1`).
#[allow(dead_code)]
pub fn self_signed(cert: &str, key: &str, cn: &str, extra: &[&str]) {
    let subject = format!("/CN={cn}");
    let mut args = vec![
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "2",
        "-subj",
        &subject,
        "-keyout",
        key,
        "-out",
        cert,
    ];
    args.extend_from_slice(extra);
    openssl(&args);
}

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
    pub async fn hash(&self, switch: u32) -> HashMap<String, String> {
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

/// One of the daemon's two listeners.
#[derive(Clone, Copy, Debug)]
pub enum Listener {
    /// `generator_server`: `/counters`.
    Generator,
    /// `metric_server`: `/telemetry/...`, `/metrics`.
    Metric,
}

/// How to start the built binary as a daemon; see [`DaemonProcess::builder`].
pub struct DaemonBuilder {
    command: Command,
    /// `TELEMETRYD_*` (and other) variables in the order set: a later one wins.
    env: Vec<(String, String)>,
}

impl DaemonBuilder {
    /// Sets an environment variable for the daemon (a later setting of a key wins).
    pub fn env(mut self, key: &str, value: &str) -> DaemonBuilder {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Sets each of `vars`, as `env` does.
    pub fn envs(self, vars: &[(&str, &str)]) -> DaemonBuilder {
        vars.iter().fold(self, |b, (k, v)| b.env(k, v))
    }

    /// `telemetry.switches` (8 unless set).
    pub fn switches(self, n: u32) -> DaemonBuilder {
        self.env("TELEMETRYD_TELEMETRY__SWITCHES", &n.to_string())
    }

    /// `telemetry.update_interval_seconds` (0.2 unless set).
    pub fn interval(self, seconds: f64) -> DaemonBuilder {
        self.env(
            "TELEMETRYD_TELEMETRY__UPDATE_INTERVAL_SECONDS",
            &seconds.to_string(),
        )
    }

    /// Runs `command` instead of the binary: a wrapper that execs it (`prlimit`,
    /// `setpriv`, `sh -c 'WATCHDOG_PID=$$ exec ...'`), so the child's pid is the daemon's.
    pub fn command(mut self, command: Command) -> DaemonBuilder {
        self.command = command;
        self
    }

    /// Spawns the daemon in a new temporary directory (so no telemetry.yaml is picked up
    /// by accident), on two free ports, logging to `telemetry.log` there. Does not wait.
    pub fn start(mut self) -> DaemonProcess {
        let dir = tempfile::tempdir().unwrap();
        let (generator, metric) = (free_port(), free_port());
        let log = dir.path().join("telemetry.log");
        // A file rather than a pipe: a chatty daemon never blocks on a full pipe, and the
        // test can read it while the daemon runs.
        let stderr = dir.path().join("stderr.log");
        let child = self
            .command
            .current_dir(dir.path())
            .env("TELEMETRYD_GENERATOR_SERVER__PORT", generator.to_string())
            .env("TELEMETRYD_METRIC_SERVER__PORT", metric.to_string())
            .env("TELEMETRYD_LOGGING__FILE", &log)
            .envs(self.env)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        DaemonProcess {
            child,
            generator,
            metric,
            log,
            stderr,
            _dir: dir,
        }
    }
}

/// The built binary running as a daemon, with its own temporary directory, free ports and
/// log file; killed on drop, so a failed assertion leaves no process behind.
pub struct DaemonProcess {
    child: Child,
    /// The generator listener's port.
    pub generator: u16,
    /// The metric listener's port.
    pub metric: u16,
    log: PathBuf,
    stderr: PathBuf,
    _dir: tempfile::TempDir,
}

impl DaemonProcess {
    /// A daemon using Redis on `redis_port`, with 8 switches every 0.2 s unless set.
    pub fn builder(redis_port: u16) -> DaemonBuilder {
        DaemonBuilder {
            command: binary(),
            env: Vec::new(),
        }
        .env("TELEMETRYD_REDIS__PORT", &redis_port.to_string())
        .switches(8)
        .interval(0.2)
    }

    /// Waits (up to 20 s) until both listeners answer `/healthz` with 200.
    pub async fn wait_serving(&self) {
        self.wait_for_200("/healthz").await;
    }

    /// Waits (up to 20 s) until both listeners answer `/readyz` with 200: the cache holds
    /// every switch.
    pub async fn wait_ready(&self) {
        self.wait_for_200("/readyz").await;
    }

    async fn wait_for_200(&self, path: &str) {
        for listener in [Listener::Generator, Listener::Metric] {
            let url = self.url(listener, path);
            eventually(
                &format!("200 from {url}"),
                Duration::from_secs(20),
                || async {
                    let r = reqwest::get(&url).await.ok()?;
                    (r.status() == 200).then_some(())
                },
            )
            .await;
        }
    }

    /// `http://127.0.0.1:<port of listener><path>`.
    pub fn url(&self, listener: Listener, path: &str) -> String {
        let port = match listener {
            Listener::Generator => self.generator,
            Listener::Metric => self.metric,
        };
        format!("http://127.0.0.1:{port}{path}")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends the signal `name` (`TERM`, `HUP`, ...).
    pub fn signal(&self, name: &str) {
        signal(self.pid(), name);
    }

    pub fn still_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits for the process to end, failing the test if it still runs after `within`.
    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "still running after {within:?}: {}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The log file (`logging.file`).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The file the daemon's stderr goes to.
    pub fn stderr_path(&self) -> &Path {
        &self.stderr
    }

    /// What the daemon wrote to stderr so far (all of it once it has exited).
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap()
    }

    /// Resident memory in MB (VmRSS in /proc/<pid>/status, as an operator would read it).
    pub fn rss_mb(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/<pid>/status");
        kb / 1024.0
    }
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The fields of one logfmt line (`msg` included): `key=value` or `key="quoted value"`,
/// quoted values unescaped as slog-logfmt escapes them (Rust's `{:?}` of a string).
pub fn logfmt(line: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if_eq(&' ').is_some() {}
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        if key.is_empty() {
            return out;
        }
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some('n') => value.push('\n'),
                        Some('r') => value.push('\r'),
                        Some('t') => value.push('\t'),
                        Some('0') => value.push('\0'),
                        Some('u') => {
                            // `\u{1b}`
                            let hex: String =
                                chars.by_ref().skip(1).take_while(|&c| c != '}').collect();
                            value.extend(
                                u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32),
                            );
                        }
                        other => value.extend(other),
                    },
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = chars.by_ref().take_while(|&c| c != ' ').collect();
        }
        out.insert(key, value);
    }
}

/// Every line of the file at `path` as its logfmt fields (none if it does not exist).
pub fn logfmt_file(path: &Path) -> Vec<HashMap<String, String>> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(logfmt)
        .collect()
}
