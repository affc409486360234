//! The built binary's logs: SIGHUP reopens the log file after rotation, SIGUSR1/2 are
//! ignored, request lines are capped per second with a latency summary for the rest.

mod common;

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A daemon started from the binary, logging to `log` (logging.file) and `stderr` (a file
/// too, so a chatty daemon never blocks on a full pipe). Killed on drop.
struct Daemon {
    child: Child,
    generator: u16,
    metric: u16,
    log: PathBuf,
    stderr: PathBuf,
    _dir: tempfile::TempDir,
}

impl Daemon {
    fn start(redis_port: u16) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let (generator, metric) = (free_port(), free_port());
        let log = dir.path().join("telemetry.log");
        let stderr = dir.path().join("stderr.log");
        let child = binary()
            .current_dir(dir.path())
            .env("TELEMETRYD_GENERATOR_SERVER__PORT", generator.to_string())
            .env("TELEMETRYD_METRIC_SERVER__PORT", metric.to_string())
            .env("TELEMETRYD_REDIS__PORT", redis_port.to_string())
            .env("TELEMETRYD_TELEMETRY__SWITCHES", "8")
            .env("TELEMETRYD_TELEMETRY__UPDATE_INTERVAL_SECONDS", "0.5")
            .env("TELEMETRYD_LOGGING__LEVEL", "info")
            .env("TELEMETRYD_LOGGING__FILE", log.to_str().unwrap())
            .stdout(Stdio::null())
            .stderr(File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        Daemon {
            child,
            generator,
            metric,
            log,
            stderr,
            _dir: dir,
        }
    }

    async fn wait_serving(&self) {
        let url = format!("http://127.0.0.1:{}/counters", self.generator);
        eventually("the daemon to serve", Duration::from_secs(20), || async {
            let r = reqwest::get(&url).await.ok()?;
            (r.status() == 200).then_some(())
        })
        .await;
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.metric)
    }

    fn signal(&self, name: &str) {
        common::signal(self.child.id(), name);
    }

    fn still_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "daemon still running after {within:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One logfmt line as its fields (`msg` included), quoted values unquoted.
fn fields(line: &str) -> HashMap<String, String> {
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
                    '\\' => value.extend(chars.next()),
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

/// Every line of the file at `path` as fields (none if it does not exist).
fn lines(path: &Path) -> Vec<HashMap<String, String>> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(fields)
        .collect()
}

/// The lines of `path` whose `msg` is `msg`.
fn with_msg(path: &Path, msg: &str) -> Vec<HashMap<String, String>> {
    lines(path)
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
    let mut daemon = Daemon::start(redis.port);
    daemon.wait_serving().await;
    let before = "/telemetry/switch-1/latency_ms";
    assert_eq!(get(&daemon.url(before)).await.status, 200);
    let log = daemon.log.clone();
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
    assert_eq!(get(&daemon.url(after)).await.status, 200);
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
    assert_eq!(get(&daemon.url("/healthz")).await.status, 200);
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
    let mut daemon = Daemon::start(redis.port);
    daemon.wait_serving().await;
    let log = daemon.log.clone();
    let dir = log.parent().unwrap().to_path_buf();
    let config = dir.join("logrotate.conf");
    std::fs::write(&config, readme_logrotate_config(&log, daemon.child.id())).unwrap();
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
        assert_eq!(get(&daemon.url(&path)).await.status, 200);
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
    let mut daemon = Daemon::start(redis.port);
    daemon.wait_serving().await;
    daemon.signal("USR1");
    daemon.signal("USR2");
    let log = daemon.log.clone();
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
        get(&daemon.url("/telemetry/switch-0/latency_ms"))
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
    let mut daemon = Daemon::start(redis.port);
    daemon.wait_serving().await;
    // 8 clients of 150 requests each: well over 100 lines a second on a debug build.
    let url = daemon.url("/telemetry/switch-3/latency_ms");
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
    let metrics = get(&daemon.url("/metrics")).await.body;
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
    let logged = with_msg(&daemon.stderr, "HTTP request.")
        .into_iter()
        .filter(|f| f["path"] == "/telemetry/switch-3/latency_ms")
        .count() as u64;
    let summaries: Vec<_> = with_msg(&daemon.stderr, "HTTP request summary.")
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
    assert!(!with_msg(&daemon.log, "HTTP request summary.").is_empty());
}
