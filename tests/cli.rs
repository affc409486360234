//! The `telemetryd` binary: command line, config errors, exit codes, signals and logs.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

/// Runs the binary with `args` and `env`, from an empty directory (so no telemetry.yaml
/// is picked up by accident), and returns its exit code and stderr.
fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let (code, _, stderr) = run_command(binary(), args, env);
    (code, stderr)
}

/// As `run`, with any command (the binary under another user), and stdout too.
fn run_command(mut command: Command, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = command
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir.path())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The (key, message) lines under `header` in the binary's stderr, as it prints problems
/// and warnings: `  key: message`.
fn listed(stderr: &str, header: &str) -> Vec<(String, String)> {
    stderr
        .lines()
        .skip_while(|l| *l != header)
        .skip(1)
        .map_while(|l| l.strip_prefix("  "))
        .map(|l| {
            let (key, message) = l.split_once(": ").expect("key: message");
            (key.to_string(), message.to_string())
        })
        .collect()
}

fn problems(stderr: &str) -> Vec<(String, String)> {
    listed(stderr, "telemetryd: invalid configuration:")
}

fn problem_keys(stderr: &str) -> Vec<String> {
    problems(stderr).into_iter().map(|p| p.0).collect()
}

fn with_config(yaml: &str, env: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, yaml).unwrap();
    run(&["--config", path.to_str().unwrap(), "--check-config"], env)
}

#[test]
fn bad_configs_exit_78_with_one_message_naming_the_key() {
    for (yaml, key, says) in [
        (
            "telemetry: {switches: 0}",
            "telemetry.switches",
            "must be at least 1",
        ),
        (
            "telemetry: {update_interval_seconds: 0}",
            "telemetry.update_interval_seconds",
            "positive",
        ),
        (
            "telemetry: {update_interval_seconds: -2}",
            "telemetry.update_interval_seconds",
            "positive",
        ),
        (
            "telemetry: {switches: five}",
            "telemetry.switches",
            "invalid type",
        ),
        (
            "telemetry: {switchez: 5}",
            "telemetry.switchez",
            "unknown key",
        ),
        (
            "logging: {level: LOUD}",
            "logging.level",
            "unknown log level",
        ),
        ("redis: {port: -1}", "redis.port", "invalid"),
        (
            "generator_server: {host: localhost-ish}",
            "generator_server.host",
            "IP address",
        ),
        ("telemetry: [1, 2", "(top level)", "line 2 column 1"),
    ] {
        let (code, stderr) = with_config(yaml, &[]);
        assert_eq!(code, 78, "{yaml}: {stderr}");
        assert!(
            stderr.contains(key) && stderr.contains(says),
            "{yaml}: {stderr}"
        );
        assert!(
            stderr.starts_with("telemetryd: invalid configuration:"),
            "{stderr}"
        );
    }
}

#[test]
fn environment_overrides_are_validated_and_named() {
    let (code, stderr) = with_config("", &[("TELEMETRYD_TELEMETRY__SWITCHES", "0")]);
    assert_eq!(code, 78, "{stderr}");
    assert!(
        stderr.contains("telemetry.switches: must be at least 1"),
        "{stderr}"
    );
    let (code, stderr) = with_config("", &[("TELEMETRYD_REDIS__PORT", "sixty")]);
    assert_eq!(code, 78, "{stderr}");
    assert!(stderr.contains("TELEMETRYD_REDIS__PORT"), "{stderr}");
}

#[test]
fn every_bad_key_is_listed_with_its_file_or_environment_variable() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(&file, "telemetry: {switches: many}\nredis: {port: abc}\n").unwrap();
    let (code, _, stderr) = run_command(
        binary(),
        &["--config", file.to_str().unwrap(), "--check-config"],
        &[
            ("TELEMETRYD_TELEMETRY__SEED", "x"),
            ("TELEMETRYD_HTTP__REQUEST_TIMEOUT_MS", "1"),
        ],
    );
    assert_eq!(code, 78, "{stderr}");
    let in_file = format!("(in {})", file.display());
    let sources: Vec<(String, String)> = problems(&stderr)
        .into_iter()
        .map(|(key, message)| {
            let source = message.rsplit_once(" (in ").expect("a source").1;
            (key, format!("(in {source}"))
        })
        .collect();
    assert_eq!(
        sources,
        [
            ("redis.port".into(), in_file.clone()),
            (
                "telemetry.seed".into(),
                "(in environment variable TELEMETRYD_TELEMETRY__SEED)".into()
            ),
            ("telemetry.switches".into(), in_file),
            (
                "http.request_timeout_ms".into(),
                "(in environment variable TELEMETRYD_HTTP__REQUEST_TIMEOUT_MS)".into()
            ),
        ],
        "{stderr}"
    );
}

/// A value to look for in every output: distinct enough not to appear by chance.
const SECRET: &str = "31415926535";

/// The environment variable that sets `key`.
fn variable(key: &str) -> String {
    format!("TELEMETRYD_{}", key.replace('.', "__").to_uppercase())
}

#[test]
fn numeric_secrets_are_accepted_and_never_printed() {
    for key in telemetryd::config::SECRET_KEYS {
        let var = variable(key);
        let (code, stdout, stderr) = run_command(binary(), &["--check-config"], &[(&var, SECRET)]);
        assert_eq!(code, 0, "{key}: {stderr}");
        assert!(
            !stdout.contains(SECRET) && !stderr.contains(SECRET),
            "{stdout}{stderr}"
        );

        // Beside another key's problem.
        let (code, stdout, stderr) = run_command(
            binary(),
            &["--check-config"],
            &[(&var, SECRET), ("TELEMETRYD_TELEMETRY__SWITCHES", "0")],
        );
        assert_eq!(problem_keys(&stderr), ["telemetry.switches"], "{stderr}");
        assert_eq!(code, 78);
        assert!(
            !stdout.contains(SECRET) && !stderr.contains(SECRET),
            "{stdout}{stderr}"
        );

        // The secret key itself of the wrong type, from the environment and from a file.
        let (code, _, stderr) = run_command(
            binary(),
            &["--check-config"],
            &[(&format!("{var}__X"), SECRET)],
        );
        assert_eq!(
            (code, problem_keys(&stderr)),
            (78, vec![key.to_string()]),
            "{stderr}"
        );
        assert!(!stderr.contains(SECRET), "{stderr}");
        let (section, name) = key.split_once('.').unwrap();
        let (code, stderr) = with_config(&format!("{section}: {{{name}: [{SECRET}]}}"), &[]);
        assert_eq!(
            (code, problem_keys(&stderr)),
            (78, vec![key.to_string()]),
            "{stderr}"
        );
        assert!(!stderr.contains(SECRET), "{stderr}");
    }
}

#[actix_web::test]
async fn a_numeric_redis_password_authenticates_and_stays_out_of_the_logs() {
    use deadpool_redis::redis::{self, AsyncCommands};
    let password = "12345678";
    let redis = TestRedis::start();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg(password)
        .query_async(&mut redis.conn().await)
        .await
        .unwrap();
    let mut daemon = DaemonProcess::builder(redis.port)
        .env("TELEMETRYD_REDIS__PASSWORD", password)
        .start();
    daemon.wait_serving().await;
    let url = format!("redis://:{password}@127.0.0.1:{}/0", redis.port);
    let conn = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    eventually("every switch in Redis", Duration::from_secs(10), || {
        let mut conn = conn.clone();
        async move {
            let keys: Vec<String> = conn.keys("telemetry:switch-*").await.ok()?;
            (keys.len() == 8).then_some(())
        }
    })
    .await;
    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(Duration::from_secs(10)).code(), Some(0));
    let stderr = daemon.stderr();
    let file = std::fs::read_to_string(daemon.log_path()).unwrap();
    assert!(stderr.contains("msg=Stopped."), "{stderr}");
    assert!(
        !stderr.contains(password) && !file.contains(password),
        "{stderr}"
    );
}

#[test]
fn overlapping_listeners_are_rejected_by_check_config() {
    let port = free_port().to_string();
    for (generator, metric) in [
        ("0.0.0.0", "127.0.0.1"),
        ("127.0.0.1", "0.0.0.0"),
        ("::", "127.0.0.1"),
        ("::1", "::"),
    ] {
        let (code, stderr) = run(
            &["--check-config"],
            &[
                ("TELEMETRYD_GENERATOR_SERVER__HOST", generator),
                ("TELEMETRYD_METRIC_SERVER__HOST", metric),
                ("TELEMETRYD_GENERATOR_SERVER__PORT", &port),
                ("TELEMETRYD_METRIC_SERVER__PORT", &port),
                ("TELEMETRYD_AUTH__ALLOW_ANONYMOUS", "true"),
            ],
        );
        assert_eq!(code, 78, "{generator} {metric}: {stderr}");
        assert_eq!(problem_keys(&stderr), ["metric_server.port"], "{stderr}");
    }
}

/// The binary, as an unprivileged user when the tests run as root (root writes into
/// read-only directories).
fn unprivileged_binary(owner_of_tempdir: u32) -> Command {
    if owner_of_tempdir != 0 {
        return binary();
    }
    let mut setpriv = Command::new("setpriv");
    setpriv.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        env!("CARGO_BIN_EXE_telemetryd"),
    ]);
    setpriv
}

#[test]
fn an_unwritable_log_file_is_rejected_by_check_config() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = tempfile::tempdir().unwrap();
    let read_only = dir.path().join("read-only");
    std::fs::create_dir(&read_only).unwrap();
    for (path, mode) in [(dir.path(), 0o755), (read_only.as_path(), 0o555)] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let uid = std::fs::metadata(dir.path()).unwrap().uid();
    for (file, why) in [
        (dir.path().to_path_buf(), "Is a directory"),
        (dir.path().join("missing/telemetry.log"), "No such file"),
        (read_only.join("telemetry.log"), "Permission denied"),
    ] {
        let (code, _, stderr) = run_command(
            unprivileged_binary(uid),
            &["--check-config"],
            &[("TELEMETRYD_LOGGING__FILE", file.to_str().unwrap())],
        );
        assert_eq!(code, 78, "{}: {stderr}", file.display());
        let problems = problems(&stderr);
        assert_eq!(problems.len(), 1, "{stderr}");
        assert_eq!(problems[0].0, "logging.file");
        assert!(problems[0].1.contains(why), "{stderr}");
    }
}

#[test]
fn check_config_leaves_no_log_file_behind() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("telemetry.log");
    let (code, stderr) = run(
        &["--check-config"],
        &[("TELEMETRYD_LOGGING__FILE", file.to_str().unwrap())],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(!file.exists());
    // A file that was there stays, untouched.
    std::fs::write(&file, "kept\n").unwrap();
    let (code, _) = run(
        &["--check-config"],
        &[("TELEMETRYD_LOGGING__FILE", file.to_str().unwrap())],
    );
    assert_eq!(code, 0);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "kept\n");
}

#[test]
fn check_config_prints_a_sample_rate_beyond_the_measured_one_as_a_warning() {
    let (code, stdout, stderr) = run_command(
        binary(),
        &["--check-config"],
        &[
            ("TELEMETRYD_TELEMETRY__SWITCHES", "1000000"),
            ("TELEMETRYD_TELEMETRY__UPDATE_INTERVAL_SECONDS", "0.001"),
            // Else the in-memory history's size at a million switches warns too.
            ("TELEMETRYD_HISTORY__WINDOW", "0"),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.trim(), "telemetryd: configuration is valid");
    let warnings = listed(&stderr, "telemetryd: configuration warnings:");
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert_eq!(warnings[0].0, "telemetry.switches");
    assert!(
        warnings[0].1.starts_with("1000000 switches every 0.001 s (telemetry.update_interval_seconds) is 1000000000 samples per second"),
        "{stderr}"
    );
}

#[actix_web::test]
async fn the_daemon_logs_a_sample_rate_beyond_the_measured_one_at_warning() {
    let redis = TestRedis::start();
    // 151 switches every millisecond: 151,000 samples per second, just past the measure.
    // The warning comes at start: the daemon is stopped as soon as it is there, not left
    // to run at a rate this machine cannot sustain.
    let mut daemon = DaemonProcess::builder(redis.port)
        .switches(151)
        .interval(0.001)
        .start();
    eventually("the start-up warning", Duration::from_secs(20), || async {
        daemon
            .stderr()
            .contains("Configuration beyond what was measured.")
            .then_some(())
    })
    .await;
    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(Duration::from_secs(10)).code(), Some(0));
    let stderr = daemon.stderr();
    let warnings: Vec<_> = stderr
        .lines()
        .map(logfmt)
        .filter(|f| {
            f.get("msg").map(String::as_str) == Some("Configuration beyond what was measured.")
        })
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert_eq!(warnings[0]["level"], "WARNING");
    assert_eq!(warnings[0]["key"], "telemetry.switches");
    assert!(
        warnings[0]["warning"].starts_with("151 switches every 0.001 s"),
        "{stderr}"
    );
}

#[test]
fn a_missing_config_file_is_an_error() {
    let (code, stderr) = run(&["--config", "/nonexistent/telemetry.yaml"], &[]);
    assert_eq!(code, 78);
    assert!(stderr.contains("/nonexistent/telemetry.yaml"), "{stderr}");
}

#[test]
fn check_config_accepts_the_repository_default() {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/telemetry.yaml");
    let (code, stderr) = run(&["--config", file, "--check-config"], &[]);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn version_and_help_describe_the_binary() {
    let out = binary().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        format!("telemetryd {}", env!("CARGO_PKG_VERSION"))
    );
    let out = binary().arg("--help").output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(
        help.contains("--config") && help.contains("--check-config"),
        "{help}"
    );
    let (code, _) = run(&["--no-such-flag"], &[]);
    assert_eq!(code, 2);
}

/// `sh -c 'WATCHDOG_PID=$$ exec telemetryd'`: the daemon sees its own pid in WATCHDOG_PID,
/// as systemd sets it.
fn with_watchdog_pid() -> Command {
    let mut sh = Command::new("sh");
    sh.args([
        "-c",
        &format!("WATCHDOG_PID=$$ exec {}", env!("CARGO_BIN_EXE_telemetryd")),
    ]);
    sh
}

#[actix_web::test]
async fn sigterm_stops_cleanly_with_every_switch_in_redis_and_exit_0() {
    let redis = TestRedis::start();
    let mut daemon = DaemonProcess::builder(redis.port).start();
    daemon.wait_serving().await;
    daemon.signal("TERM");
    let status = daemon.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
    let stderr = daemon.stderr();
    assert!(stderr.contains("signal=SIGTERM"), "{stderr}");
    // Plain logfmt values, no Debug formatting: `outcome=clean flushed=N took_ms=N`.
    let stopped = stderr
        .lines()
        .find_map(|l| l.split_once(" msg=Stopped. ").map(|(_, fields)| fields))
        .unwrap_or_else(|| panic!("no stop line in:\n{stderr}"));
    let fields: Vec<(&str, &str)> = stopped
        .split(' ')
        .map(|f| {
            f.split_once('=')
                .unwrap_or_else(|| panic!("not logfmt: {stopped}"))
        })
        .collect();
    let keys: Vec<&str> = fields.iter().map(|(k, _)| *k).collect();
    assert_eq!(keys, ["outcome", "flushed", "took_ms"], "{stopped}");
    assert_eq!(fields[0].1, "clean");
    fields[1].1.parse::<u64>().unwrap();
    fields[2].1.parse::<u64>().unwrap();
    for n in 0..8 {
        assert_eq!(redis.hash(n).await.len(), 5, "switch-{n} in Redis");
    }
}

#[actix_web::test]
async fn sigint_stops_cleanly_too() {
    let redis = TestRedis::start();
    let mut daemon = DaemonProcess::builder(redis.port).start();
    daemon.wait_serving().await;
    daemon.signal("INT");
    assert_eq!(daemon.wait_exit(Duration::from_secs(10)).code(), Some(0));
}

#[actix_web::test]
async fn a_taken_port_exits_1_naming_the_listener_and_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let (code, stderr) = run(
        &[],
        &[
            ("TELEMETRYD_METRIC_SERVER__PORT", port.as_str()),
            ("TELEMETRYD_GENERATOR_SERVER__PORT", "0"),
            ("TELEMETRYD_LOGGING__FILE", ""),
        ],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot listen on 127.0.0.1:{port} (metric_server)"
        )),
        "{stderr}"
    );
    assert!(stderr.to_lowercase().contains("in use"), "{stderr}");
}

#[actix_web::test]
async fn requests_are_logged_with_latency_to_stderr_and_the_log_file() {
    let redis = TestRedis::start();
    let mut daemon = DaemonProcess::builder(redis.port).start();
    daemon.wait_serving().await;
    let r = get(&daemon.url(Listener::Metric, "/telemetry/switch-3/latency_ms")).await;
    assert_eq!(r.status, 200);
    daemon.signal("TERM");
    daemon.wait_exit(Duration::from_secs(10));
    let stderr = daemon.stderr();
    let file = std::fs::read_to_string(daemon.log_path()).unwrap();
    for text in [&stderr, &file] {
        let line = text
            .lines()
            .find(|l| l.contains("path=/telemetry/switch-3/latency_ms"))
            .unwrap_or_else(|| panic!("no request line in:\n{text}"));
        assert!(line.contains("level=INFO msg=\"HTTP request.\""), "{line}");
        assert!(
            line.contains("method=GET") && line.contains("status=200"),
            "{line}"
        );
        assert!(
            line.contains(" bytes=") && line.contains(" latency_us="),
            "{line}"
        );
        assert!(!line.contains('\u{1b}'), "no colour codes: {line}");
    }
}

#[actix_web::test]
async fn under_journald_lines_carry_syslog_priorities() {
    let redis = TestRedis::start();
    let mut daemon = DaemonProcess::builder(redis.port)
        .env("JOURNAL_STREAM", "8:12345")
        .start();
    daemon.wait_serving().await;
    daemon.signal("TERM");
    daemon.wait_exit(Duration::from_secs(10));
    let stderr = daemon.stderr();
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("<6>level=INFO msg=Starting.")),
        "{stderr}"
    );
    assert!(stderr.lines().all(|l| l.starts_with('<')), "{stderr}");
}

#[actix_web::test]
async fn without_redis_the_binary_starts_and_says_so() {
    let mut daemon = DaemonProcess::builder(free_port()).start();
    daemon.wait_serving().await;
    let r = get(&daemon.url(Listener::Metric, "/telemetry/")).await;
    assert_eq!(r.json()["switches"].as_object().unwrap().len(), 8);
    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(Duration::from_secs(10)).code(), Some(0));
    let stderr = daemon.stderr();
    assert!(
        stderr.contains(
            "level=WARNING msg=\"Redis unreachable; serving from the cache and retrying.\""
        ),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("Redis unreachable").count(),
        1,
        "one line per state change: {stderr}"
    );
}

#[actix_web::test]
async fn a_second_signal_while_stopping_exits_at_once_with_130() {
    let redis = TestRedis::start();
    let mut daemon = DaemonProcess::builder(redis.port)
        .env("TELEMETRYD_REDIS__TIMEOUT_MS", "20000")
        .env("TELEMETRYD_SHUTDOWN__TIMEOUT_SECONDS", "60")
        .start();
    daemon.wait_serving().await;
    // A hung Redis makes the final flush wait for its 20 s timeout, once a write is stuck
    // in it and every switch's sample waits behind that write.
    common::signal(redis.pid(), "STOP");
    let metrics = daemon.url(Listener::Metric, "/metrics");
    eventually(
        "samples pending behind a stuck write",
        Duration::from_secs(10),
        || async {
            let text = get(&metrics).await.body;
            let pending = text
                .lines()
                .find_map(|l| l.strip_prefix("telemetryd_writer_pending_samples "))?;
            // All 8 switches pending: no write has drained them for a whole interval.
            (pending.trim() == "8").then_some(())
        },
    )
    .await;
    daemon.signal("TERM");
    // The listeners close first: once they refuse connections, the daemon is stopping.
    let url = daemon.url(Listener::Generator, "/counters");
    eventually(
        "the listeners to close",
        Duration::from_secs(10),
        || async { reqwest::get(&url).await.is_err().then_some(()) },
    )
    .await;
    assert!(daemon.still_running(), "still flushing");
    daemon.signal("TERM");
    let status = daemon.wait_exit(Duration::from_secs(3));
    assert_eq!(status.code(), Some(130));
    common::signal(redis.pid(), "CONT");
    assert!(daemon.stderr().contains("Second signal; exiting at once."));
}

#[actix_web::test]
async fn a_panicking_actor_ends_the_process_with_70_for_systemd_to_restart() {
    let redis = TestRedis::start();
    let mut daemon = DaemonProcess::builder(redis.port)
        .env("TELEMETRYD_FAULTS", "panic-writer")
        .start();
    let status = daemon.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(70));
    let stderr = daemon.stderr();
    assert!(
        stderr.contains("level=CRITICAL msg=\"Panic; exiting"),
        "{stderr}"
    );
    assert!(stderr.contains("injected writer panic"), "{stderr}");
}

/// A notify socket as systemd's (`NOTIFY_SOCKET`): what a process under test tells it.
struct NotifySocket {
    socket: std::os::unix::net::UnixDatagram,
    _dir: tempfile::TempDir,
    path: String,
}

impl NotifySocket {
    fn bind() -> NotifySocket {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let socket = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        NotifySocket {
            socket,
            path: path.display().to_string(),
            _dir: dir,
        }
    }

    /// The next message, within 10 s.
    fn next(&self) -> String {
        let mut buf = [0u8; 4096];
        let n = self
            .socket
            .recv(&mut buf)
            .expect("a notification within 10 s");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    /// Three watchdog pings, then, after `stop`, STOPPING=1 (pings before it skipped);
    /// then keeps reading as systemd does (a full socket would block the pings).
    fn pings_then_stopping(&self, stop: impl FnOnce()) {
        for _ in 0..3 {
            assert_eq!(self.next().trim(), "WATCHDOG=1");
        }
        stop();
        let stopping = loop {
            let m = self.next();
            if m.trim() != "WATCHDOG=1" {
                break m;
            }
        };
        assert_eq!(stopping.trim(), "STOPPING=1");
        let drain = self.socket.try_clone().unwrap();
        std::thread::spawn(move || while drain.recv(&mut [0u8; 4096]).is_ok() {});
    }
}

#[actix_web::test]
async fn systemd_hears_ready_watchdog_pings_and_stopping_over_notify_socket() {
    let redis = TestRedis::start();
    let notify = NotifySocket::bind();
    let mut daemon = DaemonProcess::builder(redis.port)
        .command(with_watchdog_pid())
        .env("NOTIFY_SOCKET", &notify.path)
        .env("WATCHDOG_USEC", "400000")
        .start();
    let ready = notify.next();
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready}");
    assert!(ready.contains("STATUS=Serving 8 switches"), "{ready}");
    // Both listeners answer by the time READY=1 is sent.
    for listener in [Listener::Generator, Listener::Metric] {
        assert_eq!(get(&daemon.url(listener, "/readyz")).await.status, 200);
    }
    // Watchdog pings at half of WATCHDOG_USEC, each after the actors answered.
    notify.pings_then_stopping(|| daemon.signal("TERM"));
    assert_eq!(daemon.wait_exit(Duration::from_secs(10)).code(), Some(0));
}

#[actix_web::test]
async fn sigterm_lets_a_request_in_flight_finish() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let redis = TestRedis::start();
    // 20,000 switches: /telemetry/ is megabytes, still being sent when SIGTERM arrives.
    let mut daemon = DaemonProcess::builder(redis.port).switches(20000).start();
    daemon.wait_serving().await;
    let full = get(&daemon.url(Listener::Metric, "/telemetry/"))
        .await
        .body
        .len();
    assert!(full > 2_000_000, "{full}");

    // A small receive window keeps most of the body in the server's send path.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut conn = socket
        .connect(([127, 0, 0, 1], daemon.metric).into())
        .await
        .unwrap();
    conn.write_all(b"GET /telemetry/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    // Read only the start of the answer: the rest waits in the server's send path.
    let mut start = vec![0u8; 1024];
    let n = conn.read(&mut start).await.unwrap();
    assert!(String::from_utf8_lossy(&start[..n]).starts_with("HTTP/1.1 200"));
    daemon.signal("TERM");
    let url = daemon.url(Listener::Generator, "/counters");
    eventually(
        "new connections refused",
        Duration::from_secs(10),
        || async { reqwest::get(&url).await.is_err().then_some(()) },
    )
    .await;
    let mut rest = Vec::new();
    conn.read_to_end(&mut rest).await.unwrap();
    let head = String::from_utf8_lossy(&start[..n]).into_owned();
    let body_start = head.find("\r\n\r\n").unwrap() + 4;
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .expect("a content-length")
        .trim()
        .parse()
        .unwrap();
    let received = n - body_start + rest.len();
    assert_eq!(received, length, "the request in flight was cut short");
    assert_eq!(daemon.wait_exit(Duration::from_secs(10)).code(), Some(0));
}

#[actix_web::test]
async fn the_archiver_tells_systemd_ready_pings_its_watchdog_and_says_stopping() {
    let notify = NotifySocket::bind();
    // Neither the broker nor the database answers: the archiver is up (and says so) while
    // it retries them, so its watchdog keeps pinging.
    let port = common::free_port();
    let mut command = Command::new("sh");
    command.args([
        "-c",
        &format!(
            "WATCHDOG_PID=$$ exec {} archive",
            env!("CARGO_BIN_EXE_telemetryd")
        ),
    ]);
    let mut archiver = DaemonProcess::builder(6379)
        .command(command)
        .env(
            "TELEMETRYD_KAFKA__BROKERS",
            &format!("[127.0.0.1:{}]", common::free_port()),
        )
        .env(
            "TELEMETRYD_HISTORY__DATABASE",
            &format!(
                "mysql://archiver@127.0.0.1:{}/telemetry",
                common::free_port()
            ),
        )
        .env("TELEMETRYD_ARCHIVE__PORT", &port.to_string())
        .env("NOTIFY_SOCKET", &notify.path)
        .env("WATCHDOG_USEC", "400000")
        .start();
    let ready = notify.next();
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready}");
    // Its listener answers by the time READY=1 is sent: not archiving, no database.
    let health = get(&format!("http://127.0.0.1:{port}/healthz")).await;
    assert_eq!(health.status, 503, "{}", health.body);
    assert_ne!(health.json()["database"], "up", "{}", health.body);
    notify.pings_then_stopping(|| archiver.signal("TERM"));
    let exit = archiver.wait_exit(Duration::from_secs(10));
    assert_eq!(exit.code(), Some(0), "{}", archiver.stderr());
}

#[test]
fn a_listener_beyond_loopback_without_tokens_exits_78_unless_anonymous_is_allowed() {
    let (code, stderr) = with_config("metric_server: {host: 0.0.0.0}", &[]);
    assert_eq!(code, 78, "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.trim_start().starts_with("auth.tokens:"))
        .unwrap_or_else(|| panic!("no auth.tokens problem: {stderr}"));
    assert!(
        line.contains("metric_server listens on 0.0.0.0:8080"),
        "{line}"
    );
    let (code, stderr) = with_config(
        "metric_server: {host: 0.0.0.0}\nauth: {allow_anonymous: true}",
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
}

#[actix_web::test]
async fn token_new_prints_a_token_whose_printed_hash_the_daemon_accepts() {
    let (code, stdout, stderr) = run_command(binary(), &["token", "new", "grafana"], &[]);
    assert_eq!(code, 0, "{stderr}");
    let token = stdout
        .lines()
        .find_map(|l| l.strip_prefix("token: "))
        .expect("a token line")
        .to_string();
    // The entry it prints is YAML for auth.tokens: loaded as such, it lets the token in.
    let entry: String = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("- {name:"))
        .collect();
    let yaml = format!("auth:\n  tokens:\n{entry}\n");
    let redis = TestRedis::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.yaml");
    std::fs::write(&path, &yaml).unwrap();
    let mut command = binary();
    command.args(["--config", path.to_str().unwrap()]);
    let mut daemon = DaemonProcess::builder(redis.port).command(command).start();
    daemon.wait_serving().await;
    let url = daemon.url(Listener::Metric, "/telemetry/switch-1");
    let client = reqwest::Client::new();
    let with = client.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(with.status().as_u16(), 200);
    let without = client.get(&url).send().await.unwrap();
    assert_eq!(without.status().as_u16(), 401);
    daemon.signal("TERM");
    daemon.wait_exit(Duration::from_secs(10));
    let logs = std::fs::read_to_string(daemon.log_path()).unwrap() + &daemon.stderr();
    assert!(!logs.contains(&token), "the token in a log");
    assert!(logs.contains("token=grafana"), "{logs}");
    // Two runs, two tokens.
    let (_, again, _) = run_command(binary(), &["token", "new", "grafana"], &[]);
    assert!(!again.contains(&token));
}

#[test]
fn a_listener_with_a_missing_certificate_or_no_key_is_a_config_error() {
    let (code, stderr) = with_config(
        "metric_server: {tls_cert: /nonexistent/cert.pem, tls_key: /nonexistent/key.pem}",
        &[],
    );
    assert_eq!(code, 78, "{stderr}");
    assert_eq!(
        problem_keys(&stderr),
        ["metric_server.tls_cert"],
        "{stderr}"
    );
    assert!(stderr.contains("/nonexistent/cert.pem"), "{stderr}");
    let (code, stderr) = with_config("generator_server: {tls_cert: /etc/hostname}", &[]);
    assert_eq!(code, 78, "{stderr}");
    assert_eq!(
        problem_keys(&stderr),
        ["generator_server.tls_key"],
        "{stderr}"
    );
}
