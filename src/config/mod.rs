//! Configuration: defaults, then the YAML file, then `TELEMETRYD_*` environment variables
//! (figment), then validation; every problem is reported with its key and where it came from.
//!
//! One file per section, each with its struct, defaults and own checks: `server`
//! (`generator_server`, `metric_server`), `telemetry`, `logging`, `redis`, `http`,
//! `shutdown`. [`Config`] combines them and adds the checks that span sections; `load`
//! reads the sources; `problem` and `secret` are the types they share.

mod archive;
mod auth;
mod fabric;
mod history;
mod http;
mod kafka;
mod load;
mod logging;
mod problem;
mod redis;
mod secret;
mod server;
mod shutdown;
mod telemetry;

use std::path::Path;

use serde::{Deserialize, Serialize};

pub use archive::ArchiveConfig;
pub use auth::{AuthConfig, Scope, TokenConfig, parse_sha256, valid_token_name};
pub use fabric::{FabricConfig, MAX_PORTS};
pub use history::{HistoryConfig, MAX_WINDOW, WINDOW_BYTES_PER_SAMPLE, check_database_url};
pub use http::{HttpConfig, MIN_REQUEST_TIMEOUT_MS};
pub use kafka::{COMPRESSIONS, KafkaConfig};
pub use logging::{LogLevel, LoggingConfig};
pub use problem::{ConfigError, Problem};
pub use redis::RedisConfig;
pub use secret::{REDACTED, Secret};
pub use server::ServerConfig;
pub use shutdown::{MAX_SHUTDOWN_SECONDS, ShutdownConfig};
pub use telemetry::{
    MAX_INTERVAL_SECONDS, MAX_SWITCHES, MEASURED_SAMPLES_PER_SECOND, MIN_INTERVAL_SECONDS,
    TelemetryConfig,
};

/// The file read when `--config` is not given, relative to the working directory.
pub const DEFAULT_CONFIG_FILE: &str = "telemetry.yaml";
/// Prefix of the environment variables that override keys; `__` separates sections, as in
/// `TELEMETRYD_TELEMETRY__SWITCHES=1000`.
pub const ENV_PREFIX: &str = "TELEMETRYD_";
/// Every key that holds a secret (a [`Secret`]). Their values are read as text whatever
/// they look like, and no error, `--check-config` output or log line shows them; the tests
/// check each key listed here, and that every `Secret` in the config is listed.
pub const SECRET_KEYS: &[&str] = &["redis.password", "history.password"];
/// Keys that are not secret but are text whatever they look like (a user name `1234`).
pub const TEXT_KEYS: &[&str] = &["redis.username"];

/// `section.password_file` into `section.password`: the file's text less its last line end.
fn read_secret(
    section: &str,
    file: &Option<String>,
    secret: &mut Option<Secret>,
    problems: &mut Vec<Problem>,
) {
    let Some(path) = file.as_deref() else { return };
    let key = format!("{section}.password_file");
    if secret.is_some() {
        problems.push(Problem::new(
            key,
            format!("set {section}.password or {section}.password_file, not both"),
        ));
        return;
    }
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let text = text.strip_suffix('\n').unwrap_or(&text);
            *secret = Some(Secret::new(text.strip_suffix('\r').unwrap_or(text)));
        }
        Err(e) => problems.push(Problem::new(key, format!("cannot read {path}: {e}"))),
    }
}

/// The whole configuration. Every section and key is optional; defaults are the
/// prototype's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The generator API: `GET /counters` (CSV).
    pub generator_server: ServerConfig,
    /// The metrics API: `GET /telemetry/...` (JSON).
    pub metric_server: ServerConfig,
    /// The simulated fabric.
    pub telemetry: TelemetryConfig,
    /// Log level and optional log file.
    pub logging: LoggingConfig,
    /// Where telemetry is stored.
    pub redis: RedisConfig,
    /// Limits both HTTP listeners put on clients.
    pub http: HttpConfig,
    /// How the daemon stops.
    pub shutdown: ShutdownConfig,
    /// Streaming every sample to Kafka (off unless brokers are given).
    pub kafka: KafkaConfig,
    /// Where history queries answer from.
    pub history: HistoryConfig,
    /// `telemetryd archive`: Kafka to the database.
    pub archive: ArchiveConfig,
    /// Bearer tokens and which routes stay open.
    pub auth: AuthConfig,
    /// The UFM-compatible mode: a fat tree with per-port counters.
    pub fabric: FabricConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            generator_server: ServerConfig::with_port(9001),
            metric_server: ServerConfig::with_port(8080),
            telemetry: TelemetryConfig::default(),
            logging: LoggingConfig::default(),
            redis: RedisConfig::default(),
            http: HttpConfig::default(),
            shutdown: ShutdownConfig::default(),
            kafka: KafkaConfig::default(),
            history: HistoryConfig::default(),
            archive: ArchiveConfig::default(),
            auth: AuthConfig::default(),
            fabric: FabricConfig::default(),
        }
    }
}

impl Config {
    /// Loads defaults, then `path` (or `telemetry.yaml` in the working directory when it
    /// exists), then the environment, and validates the result.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_from(path, ENV_PREFIX)
    }

    /// As [`Config::load`], with another environment prefix (for tests).
    pub fn load_from(path: Option<&Path>, env_prefix: &str) -> Result<Config, ConfigError> {
        load::load(path, env_prefix)
    }

    /// Parses a YAML document alone (no file, no environment) and validates it.
    pub fn from_yaml(yaml: &str) -> Result<Config, ConfigError> {
        load::from_yaml(yaml)
    }

    /// Checks every value that types alone cannot, and reports all problems at once.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let problems = self.check(&[]);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError { problems })
        }
    }

    /// Reads the secrets kept in files (`redis.password_file`, `history.password_file`)
    /// into their keys. A problem names the key and the file, never what is in it.
    fn read_secret_files(&mut self) -> Vec<Problem> {
        let mut problems = Vec::new();
        read_secret(
            "redis",
            &self.redis.password_file,
            &mut self.redis.password,
            &mut problems,
        );
        read_secret(
            "history",
            &self.history.password_file,
            &mut self.history.password,
            &mut problems,
        );
        problems
    }

    /// Each section's own checks, then those across sections. `reset` lists keys the loader
    /// already rejected and put back to their defaults: a check across sections that reads
    /// one of them is skipped, as it would judge a value nobody wrote.
    fn check(&self, reset: &[String]) -> Vec<Problem> {
        let mut problems = Vec::new();
        self.generator_server
            .validate("generator_server", &mut problems);
        self.metric_server.validate("metric_server", &mut problems);
        self.telemetry.validate(&mut problems);
        self.redis.validate(&mut problems);
        self.http.validate(&mut problems);
        self.shutdown.validate(&mut problems);
        self.kafka.validate(&mut problems);
        self.history.validate(&mut problems);
        self.archive.validate(&mut problems);
        self.auth.validate(&mut problems);
        let interval = (MIN_INTERVAL_SECONDS..=MAX_INTERVAL_SECONDS)
            .contains(&self.telemetry.update_interval_seconds)
            .then(|| self.telemetry.interval());
        self.fabric.validate(interval, &mut problems);

        let written = |section: &str| {
            !reset
                .iter()
                .any(|key| key == section || key.starts_with(&format!("{section}.")))
        };
        if written("generator_server")
            && written("metric_server")
            && let (Ok(a), Ok(b)) = (self.generator_server.addr(), self.metric_server.addr())
            && server::overlap(a, b)
        {
            problems.push(Problem::new(
                "metric_server.port",
                format!(
                    "{b} overlaps generator_server's {a}; the two listeners need their own \
                     port, or addresses that do not cover each other"
                ),
            ));
        }
        if self.fabric.enabled
            && written("telemetry")
            && u64::from(self.telemetry.switches) != self.fabric.switches()
        {
            problems.push(Problem::new(
                "telemetry.switches",
                format!(
                    "must be fabric.leaves + fabric.spines = {} with fabric.enabled, got {}",
                    self.fabric.switches(),
                    self.telemetry.switches
                ),
            ));
        }
        if self.fabric.enabled && !self.telemetry.simulate && self.telemetry.seed.is_none() {
            problems.push(Problem::new(
                "telemetry.seed",
                "must be set with fabric.enabled and telemetry.simulate: false: the port \
                 counters served follow from the seed the simulating daemon uses",
            ));
        }
        // Anyone who can reach a non-loopback address would read everything: only with
        // tokens, or when the config says so.
        if !self.auth.enabled() && !self.auth.allow_anonymous && written("auth") {
            for (section, server) in [
                ("generator_server", &self.generator_server),
                ("metric_server", &self.metric_server),
            ] {
                if written(section)
                    && let Ok(addr) = server.addr()
                    && !addr.ip().is_loopback()
                {
                    problems.push(Problem::new(
                        "auth.tokens",
                        format!(
                            "{section} listens on {addr}, beyond loopback, and no token is \
                             configured: add auth.tokens, or set auth.allow_anonymous: true"
                        ),
                    ));
                }
            }
        }
        problems
    }

    /// Valid settings beyond what this daemon was measured to handle, by key; the daemon
    /// logs them at WARNING at start and `--check-config` prints them.
    pub fn warnings(&self) -> Vec<Problem> {
        let mut warnings = Vec::new();
        self.telemetry.warnings(&mut warnings);
        let window =
            self.telemetry.switches as usize * self.history.window * WINDOW_BYTES_PER_SAMPLE;
        if self.history.database.is_none() && window > history::WINDOW_WARN_BYTES {
            warnings.push(Problem::new(
                "history.window",
                format!(
                    "{} samples of {} switches keep about {} MiB in memory",
                    self.history.window,
                    self.telemetry.switches,
                    window >> 20
                ),
            ));
        }
        warnings
    }

    /// The configured log file, treating an empty path as none.
    pub fn log_file(&self) -> Option<&Path> {
        self.logging
            .file
            .as_deref()
            .filter(|p| !p.as_os_str().is_empty())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn problems(yaml: &str) -> Vec<Problem> {
        Config::from_yaml(yaml)
            .expect_err("config should be rejected")
            .problems
    }

    fn keys(yaml: &str) -> Vec<String> {
        problems(yaml).into_iter().map(|p| p.key).collect()
    }

    #[test]
    fn a_password_file_is_read_and_a_bad_one_is_named_without_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "s3cret-from-file\r\n").unwrap();
        let f = file.display();
        let c = Config::from_yaml(&format!("redis: {{password_file: {f}}}")).unwrap();
        assert_eq!(c.redis.password.unwrap().expose(), "s3cret-from-file");
        assert_eq!(
            keys(&format!("redis: {{password: x, password_file: {f}}}")),
            ["redis.password_file"]
        );
        let missing = problems("history: {password_file: /nonexistent/pw}");
        assert_eq!(missing[0].key, "history.password_file");
        assert!(missing[0].message.contains("/nonexistent/pw"));
        let both = format!(
            "{:?}",
            problems(&format!("redis: {{password: x, password_file: {f}}}"))
        );
        assert!(!both.contains("s3cret-from-file"), "{both}");
    }

    #[test]
    fn the_prototype_config_loads_with_its_values() {
        let c = Config::from_yaml(
            "generator_server: {host: 127.0.0.1, port: 9001}\n\
             metric_server: {host: 127.0.0.1, port: 8080}\n\
             telemetry: {switches: 5, update_interval_seconds: 10}\n\
             logging: {level: INFO, file: /tmp/telemetry.log}\n\
             redis: {host: 127.0.0.1, port: 6379, db: 0}\n",
        )
        .unwrap();
        assert_eq!(c.telemetry.switches, 5);
        assert_eq!(c.telemetry.interval(), Duration::from_secs(10));
        assert_eq!(c.logging.level, LogLevel::Info);
        assert_eq!(c.log_file(), Some(Path::new("/tmp/telemetry.log")));
        assert_eq!(
            c.generator_server.addr().unwrap().to_string(),
            "127.0.0.1:9001"
        );
        assert_eq!(
            c.metric_server.addr().unwrap().to_string(),
            "127.0.0.1:8080"
        );
    }

    #[test]
    fn an_empty_file_gives_the_defaults() {
        assert_eq!(Config::from_yaml("").unwrap(), Config::default());
    }

    #[test]
    fn fractional_intervals_are_accepted() {
        let c = Config::from_yaml("telemetry: {update_interval_seconds: 0.1}").unwrap();
        assert_eq!(c.telemetry.interval(), Duration::from_millis(100));
    }

    #[test]
    fn log_levels_accept_any_case_and_python_names() {
        for (text, level) in [("debug", LogLevel::Debug), ("Warning", LogLevel::Warning)] {
            let c = Config::from_yaml(&format!("logging: {{level: {text}}}")).unwrap();
            assert_eq!(c.logging.level, level);
        }
    }

    #[test]
    fn zero_switches_is_rejected_naming_the_key_and_its_source() {
        assert_eq!(
            problems("telemetry: {switches: 0}"),
            [Problem::new(
                "telemetry.switches",
                "must be at least 1, got 0 (in YAML source string)"
            )]
        );
    }

    #[test]
    fn unknown_keys_are_rejected_naming_the_key() {
        let p = problems("telemetry: {switchs: 3}");
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].key, "telemetry.switchs");
        assert!(
            p[0].message
                .starts_with("unknown key; expected one of: switches,")
        );
        assert_eq!(keys("colour: blue"), ["colour"]);
    }

    #[test]
    fn wrong_types_are_rejected_naming_the_key() {
        let p = problems("telemetry: {switches: many}");
        assert_eq!(p[0].key, "telemetry.switches");
        assert!(p[0].message.starts_with("invalid type"), "{}", p[0].message);
        assert_eq!(keys("redis: {port: 70000}"), ["redis.port"]);
        assert_eq!(keys("telemetry: 5"), ["telemetry"]);
    }

    #[test]
    fn unknown_log_levels_are_rejected_naming_the_key() {
        let p = problems("logging: {level: LOUD}");
        assert_eq!(p[0].key, "logging.level");
        assert!(
            p[0].message.starts_with("unknown log level \"LOUD\""),
            "{}",
            p[0].message
        );
    }

    #[test]
    fn every_invalid_value_is_reported_at_once() {
        assert_eq!(
            keys(
                "telemetry: {switches: 0, update_interval_seconds: 0}\nredis: {batch_size: 0, port: 0}"
            ),
            [
                "telemetry.switches",
                "telemetry.update_interval_seconds",
                "redis.port",
                "redis.batch_size"
            ]
        );
    }

    #[test]
    fn every_bad_key_is_reported_across_and_within_sections() {
        assert_eq!(
            keys(
                "telemetry: {switches: many, switchs: 3, seed: x}\n\
                 redis: {port: abc, colour: blue}\n\
                 bogus: 1\n"
            ),
            [
                "bogus",
                "redis.colour",
                "redis.port",
                "telemetry.seed",
                "telemetry.switches",
                "telemetry.switchs",
            ]
        );
    }

    #[test]
    fn bad_types_and_invalid_values_are_reported_together() {
        assert_eq!(
            keys("telemetry: {switches: 0, seed: abc}\nhttp: {request_timeout_ms: 1}"),
            [
                "telemetry.seed",
                "telemetry.switches",
                "http.request_timeout_ms"
            ]
        );
    }

    #[test]
    fn a_key_put_back_to_its_default_is_not_judged_across_sections() {
        // generator_server.port is rejected; its default, 9001, is not what was written, so
        // the listeners are not said to overlap.
        assert_eq!(
            keys("generator_server: {port: abc}\nmetric_server: {port: 9001}"),
            ["generator_server.port"]
        );
    }

    #[test]
    fn a_config_of_garbage_stops_after_a_bounded_number_of_problems() {
        let yaml: String = (0..500).map(|n| format!("key{n}: 1\n")).collect();
        let p = problems(&yaml);
        assert_eq!(p.len(), 51);
        assert_eq!(p[50].key, "(top level)");
    }

    #[test]
    fn request_timeouts_under_one_second_are_rejected() {
        assert_eq!(
            keys("http: {request_timeout_ms: 1}"),
            ["http.request_timeout_ms"]
        );
        Config::from_yaml("http: {request_timeout_ms: 1000}").unwrap();
    }

    #[test]
    fn listeners_need_ip_addresses_and_addresses_that_do_not_overlap() {
        assert_eq!(
            keys("generator_server: {host: not-an-ip, port: 1}"),
            ["generator_server.host"]
        );
        for (a, b) in [
            ("127.0.0.1", "127.0.0.1"),
            ("0.0.0.0", "127.0.0.1"),
            ("127.0.0.1", "0.0.0.0"),
            ("'::'", "127.0.0.1"),
            ("'::1'", "'::'"),
        ] {
            assert_eq!(
                keys(&format!(
                    "generator_server: {{host: {a}, port: 9000}}\nmetric_server: {{host: {b}, port: 9000}}\nauth: {{allow_anonymous: true}}"
                )),
                ["metric_server.port"],
                "{a} {b}"
            );
        }
        Config::from_yaml(
            "generator_server: {host: 0.0.0.0, port: 0}\nmetric_server: {host: 127.0.0.1, port: 0}\nauth: {allow_anonymous: true}",
        )
        .unwrap();
        Config::from_yaml(
            "generator_server: {host: 0.0.0.0, port: 9000}\nmetric_server: {host: '::1', port: 9000}\nauth: {allow_anonymous: true}",
        )
        .unwrap();
    }

    #[test]
    fn the_sample_rate_warning_reaches_config_warnings() {
        let c = Config::from_yaml(
            "telemetry: {switches: 1000000, update_interval_seconds: 0.001}\nhistory: {window: 0}",
        )
        .unwrap();
        let keys: Vec<_> = c.warnings().into_iter().map(|w| w.key).collect();
        assert_eq!(keys, ["telemetry.switches"]);
        assert!(Config::default().warnings().is_empty());
        // 1,000,000 switches x 360 samples x 40 bytes: 13 GiB.
        let c = Config::from_yaml("telemetry: {switches: 1000000}").unwrap();
        let keys: Vec<_> = c.warnings().into_iter().map(|w| w.key).collect();
        assert_eq!(keys, ["history.window"]);
        let c =
            Config::from_yaml("telemetry: {switches: 1000000}\nhistory: {database: mysql://h/db}")
                .unwrap();
        assert!(c.warnings().is_empty());
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API, not ours
    fn environment_overrides_the_file_and_names_its_variable_on_error() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("t.yaml", "telemetry: {switches: 5}")?;
            jail.set_env("TDTEST_A_TELEMETRY__SWITCHES", "1000");
            let c = Config::load_from(Some(Path::new("t.yaml")), "TDTEST_A_").unwrap();
            assert_eq!(c.telemetry.switches, 1000);
            jail.set_env("TDTEST_A_TELEMETRY__SWITCHES", "lots");
            let e = Config::load_from(Some(Path::new("t.yaml")), "TDTEST_A_").unwrap_err();
            assert_eq!(e.problems[0].key, "telemetry.switches");
            assert!(
                e.problems[0]
                    .message
                    .ends_with("(in environment variable TDTEST_A_TELEMETRY__SWITCHES)"),
                "{e}"
            );
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API, not ours
    fn every_bad_key_names_its_file_or_environment_variable() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("t.yaml", "redis: {port: abc}\ntelemetry: {switches: 0}\n")?;
            jail.set_env("TDTEST_C_HTTP__NOPE", "1");
            jail.set_env("TDTEST_C_TELEMETRY__SEED", "lots");
            jail.set_env("TDTEST_C_SHUTDOWN__TIMEOUT_SECONDS", "0");
            let e = Config::load_from(Some(Path::new("t.yaml")), "TDTEST_C_").unwrap_err();
            let sources: Vec<(&str, String)> = e
                .problems
                .iter()
                .map(|p| {
                    let source = p.message.rsplit_once(" (in ").expect("a source").1;
                    (p.key.as_str(), source.trim_end_matches(')').to_string())
                })
                .collect();
            assert_eq!(
                sources,
                [
                    (
                        "http.nope",
                        "environment variable TDTEST_C_HTTP__NOPE".into()
                    ),
                    ("redis.port", "t.yaml".into()),
                    (
                        "telemetry.seed",
                        "environment variable TDTEST_C_TELEMETRY__SEED".into()
                    ),
                    ("telemetry.switches", "t.yaml".into()),
                    (
                        "shutdown.timeout_seconds",
                        "environment variable TDTEST_C_SHUTDOWN__TIMEOUT_SECONDS".into()
                    ),
                ]
            );
            Ok(())
        });
    }

    #[test]
    fn a_missing_config_file_is_an_error() {
        let e = Config::load_from(Some(Path::new("/nonexistent/t.yaml")), "TDTEST_B_").unwrap_err();
        assert_eq!(e.problems[0].key, "--config");
    }

    #[test]
    fn the_repository_default_file_is_valid() {
        let text = include_str!("../../telemetry.yaml");
        let c = Config::from_yaml(text).unwrap();
        assert_eq!(c.generator_server.port, 9001);
        assert_eq!(c.metric_server.port, 8080);
    }

    /// Every key of the config (`section.key`), from the defaults' own serialization.
    fn every_key() -> Vec<String> {
        let defaults = serde_json::to_value(Config::default()).unwrap();
        let mut keys = Vec::new();
        for (section, fields) in defaults.as_object().unwrap() {
            for key in fields.as_object().unwrap().keys() {
                keys.push(format!("{section}.{key}"));
            }
        }
        keys
    }

    /// `value` as the only key of a YAML document.
    fn yaml_with(key: &str, value: &str) -> String {
        let (section, name) = key.split_once('.').unwrap();
        format!("{section}:\n  {name}: {value}\n")
    }

    /// The secret at `key`; one arm per key in SECRET_KEYS (a test fails for a key without).
    fn secret<'c>(config: &'c Config, key: &str) -> Option<&'c Secret> {
        match key {
            "redis.password" => config.redis.password.as_ref(),
            "history.password" => config.history.password.as_ref(),
            _ => None,
        }
    }

    /// The text at a text key or secret key.
    fn text(config: &Config, key: &str) -> Option<String> {
        if SECRET_KEYS.contains(&key) {
            return secret(config, key).map(|s| s.expose().to_string());
        }
        let (section, name) = key.split_once('.').unwrap();
        let json = serde_json::to_value(config).unwrap();
        json[section][name].as_str().map(str::to_string)
    }

    #[test]
    fn secret_keys_lists_every_secret_in_the_config() {
        // A string at every key: the config shows REDACTED exactly where a Secret holds it.
        let probe = "probe-value-2718281828";
        for key in every_key() {
            let Ok(config) = Config::from_yaml(&yaml_with(&key, probe)) else {
                continue; // not a key that takes text
            };
            let (section, name) = key.split_once('.').unwrap();
            let shown = serde_json::to_value(&config).unwrap()[section][name].clone();
            assert_eq!(
                shown == REDACTED,
                SECRET_KEYS.contains(&key.as_str()),
                "{key} shows {shown}"
            );
        }
        for key in SECRET_KEYS.iter().chain(TEXT_KEYS) {
            assert!(every_key().iter().any(|k| k == key), "{key} is not a key");
        }
    }

    /// Values YAML or figment would read as something else than text.
    const NOT_TEXT_LOOKING: &[&str] = &[
        "12345678", "0123", "1.50", "1e3", "0x1F", "-7", "true", "no", "hunter2",
    ];

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API, not ours
    fn secrets_and_user_names_are_their_text_as_written_from_yaml_and_environment() {
        for key in SECRET_KEYS.iter().chain(TEXT_KEYS) {
            for value in NOT_TEXT_LOOKING {
                let c = Config::from_yaml(&yaml_with(key, value)).unwrap();
                assert_eq!(text(&c, key).as_deref(), Some(*value), "{key} in YAML");
                figment::Jail::expect_with(|jail| {
                    jail.set_env(format!("TDTEST_D_{}", key.replace('.', "__")), value);
                    let c = Config::load_from(None, "TDTEST_D_").unwrap();
                    assert_eq!(text(&c, key).as_deref(), Some(*value), "{key} in env");
                    Ok(())
                });
            }
        }
    }

    /// Values to look for in every output: distinct enough not to appear by chance.
    const LEAKS: &[&str] = &["31415926535", "hunter2-Zq9"];

    /// Fails when `text` shows any of LEAKS.
    fn assert_no_leak(text: &str, context: &str) {
        for leak in LEAKS {
            assert!(!text.contains(leak), "{context} shows the secret: {text}");
        }
    }

    #[test]
    fn secrets_are_in_no_debug_dump_and_no_error() {
        for key in SECRET_KEYS {
            for leak in LEAKS {
                // Accepted: neither Debug nor serialization shows it.
                let c = Config::from_yaml(&yaml_with(key, leak)).unwrap();
                assert_eq!(secret(&c, key).map(Secret::expose), Some(*leak), "{key}");
                assert_no_leak(&format!("{c:?}"), "Debug");
                assert_no_leak(&serde_json::to_string(&c).unwrap(), "serialization");

                // Beside other problems, of type and of value.
                let yaml = format!(
                    "{}telemetry: {{switches: 0, bogus: 1}}\n",
                    yaml_with(key, leak)
                );
                let e = Config::from_yaml(&yaml).unwrap_err();
                assert_eq!(e.problems.len(), 2, "{e}");
                assert_no_leak(&e.to_string(), "another key's error");

                // The secret key itself wrong, or the YAML around it broken.
                let (section, name) = key.split_once('.').unwrap();
                for yaml in [
                    yaml_with(key, &format!("[{leak}]")),
                    yaml_with(key, &format!("{{a: {leak}}}")),
                    format!("{section}:\n  {name}: \"{leak}\n"),
                    format!("{section}: {{{name}: {leak}\n"),
                    format!("{section}:\n\t{name}: {leak}\n"),
                    format!("{section}:\n  {name}: {leak}\n  {name}: {leak}\n"),
                    format!("{section}:\n  {name}: {leak}\n {leak}: x"),
                ] {
                    match Config::from_yaml(&yaml) {
                        Ok(c) => assert_no_leak(&format!("{c:?}"), &yaml),
                        Err(e) => assert_no_leak(&e.to_string(), &yaml),
                    }
                }
                let e = Config::from_yaml(&yaml_with(key, &format!("[{leak}]"))).unwrap_err();
                assert_eq!(e.problems[0].key, *key);
            }
        }
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API, not ours
    fn a_secret_from_the_environment_is_in_no_error() {
        for key in SECRET_KEYS {
            figment::Jail::expect_with(|jail| {
                let var = format!("TDTEST_E_{}", key.replace('.', "__").to_uppercase());
                jail.set_env(format!("{var}__X"), LEAKS[0]);
                let e = Config::load_from(None, "TDTEST_E_").unwrap_err();
                assert_eq!(e.problems[0].key, *key);
                assert_no_leak(&e.to_string(), "a map at the secret key");
                Ok(())
            });
        }
    }

    /// The README's configuration table: (key, default, meaning) per row.
    fn readme_table() -> Vec<(String, String, String)> {
        let readme = include_str!("../../README.md");
        let section = readme
            .split("\n## Configuration\n")
            .nth(1)
            .expect("a Configuration section")
            .split("\n## ")
            .next()
            .unwrap();
        section
            .lines()
            .filter(|l| l.starts_with("| `"))
            .map(|line| {
                let cells: Vec<&str> = line.trim_matches('|').splitn(3, " | ").collect();
                let [key, default, meaning] = cells[..] else {
                    panic!("not a key row: {line}");
                };
                (
                    key.trim().trim_matches('`').to_string(),
                    default.trim().to_string(),
                    meaning.trim().to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn the_readme_table_lists_every_key_and_nothing_else() {
        let mut in_readme: Vec<String> = readme_table().into_iter().map(|row| row.0).collect();
        let mut in_code = every_key();
        in_readme.sort();
        in_code.sort();
        assert_eq!(in_readme, in_code);
    }

    #[test]
    fn the_readme_table_gives_the_code_defaults() {
        let defaults = serde_json::to_value(Config::default()).unwrap();
        for (key, default, _) in readme_table() {
            if let Some(literal) = default.strip_prefix('`') {
                // A value: written at its key, it loads as the default.
                let literal = literal.split('`').next().unwrap();
                let (section, name) = key.split_once('.').unwrap();
                let loaded = Config::from_yaml(&yaml_with(&key, literal))
                    .unwrap_or_else(|e| panic!("{key}: README's {literal} does not load: {e}"));
                assert_eq!(
                    serde_json::to_value(loaded).unwrap()[section][name],
                    defaults[section][name],
                    "{key}: README says {literal}"
                );
            } else {
                // A description ("none", "random", "CPU cores"): the key is unset by default.
                let (section, name) = key.split_once('.').unwrap();
                assert!(
                    defaults[section][name].is_null(),
                    "{key}: README says {default}, the code {}",
                    defaults[section][name]
                );
            }
        }
    }

    #[test]
    fn the_readme_gives_the_limits_the_validation_enforces() {
        let meaning = |key: &str| {
            readme_table()
                .into_iter()
                .find(|row| row.0 == key)
                .unwrap()
                .2
        };
        assert!(
            meaning("http.request_timeout_ms")
                .contains(&format!("at least {MIN_REQUEST_TIMEOUT_MS}"))
        );
        assert!(meaning("telemetry.switches").contains("1 to 1,000,000"));
        assert!(meaning("telemetry.update_interval_seconds").contains("0.001 to 86400"));
    }
}
