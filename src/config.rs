//! Configuration: defaults, then the YAML file, then `TELEMETRYD_*` environment variables
//! (figment), then a validation step that reports every problem with the key it concerns.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Yaml};
use serde::{Deserialize, Serialize};

/// The file read when `--config` is not given, relative to the working directory.
pub const DEFAULT_CONFIG_FILE: &str = "telemetry.yaml";
/// Prefix of the environment variables that override keys; `__` separates sections, as in
/// `TELEMETRYD_TELEMETRY__SWITCHES=1000`.
pub const ENV_PREFIX: &str = "TELEMETRYD_";
/// Upper bound on `telemetry.switches`: well above any fabric, low enough that a typo
/// cannot make the daemon allocate all memory.
pub const MAX_SWITCHES: u32 = 1_000_000;
/// Upper bound on `telemetry.update_interval_seconds` (one day).
pub const MAX_INTERVAL_SECONDS: f64 = 86_400.0;

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
}

/// One HTTP listener.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to bind, an IP address (`127.0.0.1`, `0.0.0.0`, `::1`).
    pub host: String,
    /// TCP port; 0 picks a free port (for tests).
    pub port: u16,
    /// Worker threads for this listener; defaults to the number of CPU cores.
    #[serde(default)]
    pub workers: Option<usize>,
}

impl ServerConfig {
    fn with_port(port: u16) -> ServerConfig {
        ServerConfig {
            host: "127.0.0.1".into(),
            port,
            workers: None,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig::with_port(0)
    }
}

/// The simulated fabric.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Number of switches, `switch-0` ... `switch-{N-1}`.
    pub switches: u32,
    /// Seconds between two samples of one switch; fractions allowed (0.1).
    pub update_interval_seconds: f64,
    /// Seed of the sample model; the same seed gives the same values. Random when unset.
    pub seed: Option<u64>,
    /// Whether this daemon simulates the switches. With `false` it only serves what other
    /// writers (another telemetryd, a collector) keep in Redis.
    pub simulate: bool,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            switches: 5,
            update_interval_seconds: 10.0,
            seed: None,
            simulate: true,
        }
    }
}

impl TelemetryConfig {
    /// The update interval as a `Duration` (valid after validation).
    pub fn interval(&self) -> Duration {
        Duration::from_secs_f64(self.update_interval_seconds)
    }
}

/// Logging.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingConfig {
    /// Lowest level logged: DEBUG, INFO, WARNING, ERROR or CRITICAL (any case).
    pub level: LogLevel,
    /// A file that receives the same lines as stderr, appended to; none when unset or empty.
    pub file: Option<PathBuf>,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig {
            level: LogLevel::Info,
            file: None,
        }
    }
}

/// A log level, spelled as Python's logging module spells it (the prototype's config).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum LogLevel {
    Debug,
    Info,
    Warning,
    Error,
    Critical,
}

impl TryFrom<String> for LogLevel {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        match text.to_ascii_uppercase().as_str() {
            "DEBUG" | "TRACE" => Ok(LogLevel::Debug),
            "INFO" => Ok(LogLevel::Info),
            "WARNING" | "WARN" => Ok(LogLevel::Warning),
            "ERROR" => Ok(LogLevel::Error),
            "CRITICAL" => Ok(LogLevel::Critical),
            _ => Err(format!(
                "unknown log level {text:?}, expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL"
            )),
        }
    }
}

impl From<LogLevel> for String {
    fn from(level: LogLevel) -> String {
        format!("{level:?}").to_ascii_uppercase()
    }
}

/// The Redis server and how the writer talks to it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    /// Host name or address of the Redis server.
    pub host: String,
    /// Port of the Redis server.
    pub port: u16,
    /// Database number (`SELECT`).
    pub db: i64,
    /// ACL user name, if the server requires one.
    pub username: Option<String>,
    /// Password, if the server requires one.
    pub password: Option<String>,
    /// How long one write (a pipelined batch) or read may take before it counts as failed
    /// and is retried, in milliseconds.
    pub timeout_ms: u64,
    /// Largest number of switch samples sent in one pipeline.
    pub batch_size: usize,
    /// Longest time a sample waits before its batch is sent, in milliseconds.
    pub flush_interval_ms: u64,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            host: "127.0.0.1".into(),
            port: 6379,
            db: 0,
            username: None,
            password: None,
            timeout_ms: 1_000,
            batch_size: 1_000,
            flush_interval_ms: 50,
        }
    }
}

impl RedisConfig {
    /// The per-operation timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// Limits on HTTP clients, so slow or idle ones cannot hold connections forever.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Time a client has to send its whole request head; a slower one gets 408 and is
    /// disconnected. Milliseconds, at least 1000.
    pub request_timeout_ms: u64,
    /// Time an idle keep-alive connection stays open. Seconds; 0 disables keep-alive.
    pub keep_alive_seconds: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            request_timeout_ms: 5_000,
            keep_alive_seconds: 30,
        }
    }
}

/// Stopping.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShutdownConfig {
    /// Longest time from SIGTERM to exit: in-flight requests and the final flush to Redis
    /// share it. Keep it below systemd's TimeoutStopSec.
    pub timeout_seconds: f64,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig {
            timeout_seconds: 10.0,
        }
    }
}

impl ShutdownConfig {
    /// The bound as a `Duration` (valid after validation).
    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout_seconds)
    }
}

/// One thing wrong with the configuration, and the key it concerns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key, as in the YAML file (`telemetry.switches`).
    pub key: String,
    /// What is wrong, and where the value came from when known.
    pub message: String,
}

/// Every problem found while loading and validating a configuration.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration:")?;
        for p in &self.problems {
            write!(f, "\n  {}: {}", p.key, p.message)?;
        }
        Ok(())
    }
}

impl ConfigError {
    fn one(key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            problems: vec![Problem {
                key: key.into(),
                message: message.into(),
            }],
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
        // TELEMETRYD_FAULTS is the test suite's fault injection (debug builds), not a key.
        let env = Env::prefixed(env_prefix).split("__").ignore(&["faults"]);
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match path {
            Some(path) if !path.is_file() => {
                return Err(ConfigError::one(
                    "--config",
                    format!("{} does not exist or is not a file", path.display()),
                ));
            }
            Some(path) => figment = figment.merge(Yaml::file_exact(path)),
            None if Path::new(DEFAULT_CONFIG_FILE).is_file() => {
                figment = figment.merge(Yaml::file_exact(DEFAULT_CONFIG_FILE))
            }
            None => {}
        }
        let config: Config = figment
            .merge(env)
            .extract()
            .map_err(|e| from_figment(e, env_prefix))?;
        config.validate()?;
        Ok(config)
    }

    /// Parses a YAML document alone (no file, no environment) and validates it.
    pub fn from_yaml(yaml: &str) -> Result<Config, ConfigError> {
        let config: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Yaml::string(yaml))
            .extract()
            .map_err(|e| from_figment(e, ENV_PREFIX))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every value that types alone cannot, and reports all problems at once.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        let mut problem = |key: &str, message: String| {
            problems.push(Problem {
                key: key.into(),
                message,
            });
        };

        let t = &self.telemetry;
        if t.switches == 0 {
            problem("telemetry.switches", "must be at least 1, got 0".into());
        } else if t.switches > MAX_SWITCHES {
            problem(
                "telemetry.switches",
                format!("must be at most {MAX_SWITCHES}, got {}", t.switches),
            );
        }
        let interval = t.update_interval_seconds;
        if !interval.is_finite() || interval <= 0.0 {
            problem(
                "telemetry.update_interval_seconds",
                format!("must be a positive number of seconds, got {interval}"),
            );
        } else if interval > MAX_INTERVAL_SECONDS {
            problem(
                "telemetry.update_interval_seconds",
                format!("must be at most {MAX_INTERVAL_SECONDS} (one day), got {interval}"),
            );
        } else if interval < 0.001 {
            problem(
                "telemetry.update_interval_seconds",
                format!("must be at least 0.001 (one millisecond), got {interval}"),
            );
        }

        for (section, server) in [
            ("generator_server", &self.generator_server),
            ("metric_server", &self.metric_server),
        ] {
            if server.host.parse::<std::net::IpAddr>().is_err() {
                problem(
                    &format!("{section}.host"),
                    format!(
                        "must be an IP address such as 127.0.0.1, got {:?}",
                        server.host
                    ),
                );
            }
            if server.workers == Some(0) {
                problem(
                    &format!("{section}.workers"),
                    "must be at least 1, got 0".into(),
                );
            }
        }
        if let (Ok(a), Ok(b)) = (self.generator_server.addr(), self.metric_server.addr())
            && a.port() != 0
            && a == b
        {
            problem(
                "metric_server.port",
                format!("{b} is also generator_server's address; the two need their own"),
            );
        }

        let r = &self.redis;
        if r.host.trim().is_empty() {
            problem("redis.host", "must not be empty".into());
        }
        if r.port == 0 {
            problem("redis.port", "must be a port from 1 to 65535, got 0".into());
        }
        if r.db < 0 {
            problem("redis.db", format!("must be 0 or more, got {}", r.db));
        }
        if r.timeout_ms == 0 {
            problem("redis.timeout_ms", "must be at least 1, got 0".into());
        }
        if r.batch_size == 0 {
            problem("redis.batch_size", "must be at least 1, got 0".into());
        }
        if r.flush_interval_ms == 0 {
            problem(
                "redis.flush_interval_ms",
                "must be at least 1, got 0".into(),
            );
        }

        if self.http.request_timeout_ms == 0 {
            problem(
                "http.request_timeout_ms",
                "must be at least 1, got 0".into(),
            );
        }

        let stop = self.shutdown.timeout_seconds;
        if !stop.is_finite() || stop <= 0.0 || stop > 3_600.0 {
            problem(
                "shutdown.timeout_seconds",
                format!("must be a number of seconds above 0 and at most 3600, got {stop}"),
            );
        }

        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError { problems })
        }
    }

    /// The configured log file, treating an empty path as none.
    pub fn log_file(&self) -> Option<&Path> {
        self.logging
            .file
            .as_deref()
            .filter(|p| !p.as_os_str().is_empty())
    }
}

impl ServerConfig {
    /// The socket address to bind.
    pub fn addr(&self) -> Result<SocketAddr, std::net::AddrParseError> {
        Ok(SocketAddr::new(self.host.parse()?, self.port))
    }
}

/// Turns figment's errors (one per bad value) into problems naming the key and the source.
fn from_figment(error: figment::Error, env_prefix: &str) -> ConfigError {
    let problems = error
        .into_iter()
        .map(|e| {
            let mut path = e.path.clone();
            let message = match &e.kind {
                figment::error::Kind::UnknownField(field, expected) => {
                    if path.last() != Some(field) {
                        path.push(field.clone());
                    }
                    format!("unknown key; expected one of: {}", expected.join(", "))
                }
                kind => kind.to_string(),
            };
            let source = e.metadata.as_ref().map(|m| match &m.source {
                Some(figment::Source::File(file)) => format!("in {}", file.display()),
                _ if m.name.contains("environment") => format!(
                    "in environment variable {env_prefix}{}",
                    path.join("__").to_ascii_uppercase()
                ),
                _ => format!("in {}", m.name),
            });
            let key = if path.is_empty() {
                "(top level)".into()
            } else {
                path.join(".")
            };
            let message = match source {
                Some(source) if !source.contains("Serialized") => format!("{message} ({source})"),
                _ => message,
            };
            Problem { key, message }
        })
        .collect();
    ConfigError { problems }
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
        }
    }
}

#[cfg(test)]
mod tests {
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
    fn zero_switches_is_rejected_naming_the_key() {
        let p = problems("telemetry: {switches: 0}");
        assert_eq!(
            p,
            vec![Problem {
                key: "telemetry.switches".into(),
                message: "must be at least 1, got 0".into()
            }]
        );
    }

    #[test]
    fn zero_or_negative_intervals_are_rejected() {
        assert_eq!(
            keys("telemetry: {update_interval_seconds: 0}"),
            ["telemetry.update_interval_seconds"]
        );
        assert_eq!(
            keys("telemetry: {update_interval_seconds: -1.5}"),
            ["telemetry.update_interval_seconds"]
        );
        assert_eq!(
            keys("telemetry: {update_interval_seconds: .nan}"),
            ["telemetry.update_interval_seconds"]
        );
    }

    #[test]
    fn unknown_keys_are_rejected_naming_the_key() {
        let p = problems("telemetry: {switchs: 3}");
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].key, "telemetry.switchs");
        assert!(p[0].message.contains("unknown key"), "{}", p[0].message);
        assert_eq!(keys("colour: blue"), ["colour"]);
    }

    #[test]
    fn wrong_types_are_rejected_naming_the_key() {
        let p = problems("telemetry: {switches: many}");
        assert_eq!(p[0].key, "telemetry.switches");
        assert!(p[0].message.contains("invalid type"), "{}", p[0].message);
        assert_eq!(keys("redis: {port: 70000}"), ["redis.port"]);
    }

    #[test]
    fn unknown_log_levels_are_rejected_naming_the_key() {
        let p = problems("logging: {level: LOUD}");
        assert_eq!(p[0].key, "logging.level");
        assert!(
            p[0].message.contains("unknown log level \"LOUD\""),
            "{}",
            p[0].message
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
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
    fn listeners_need_ip_addresses_and_distinct_ports() {
        assert_eq!(
            keys("generator_server: {host: not-an-ip, port: 1}"),
            ["generator_server.host"]
        );
        assert_eq!(
            keys(
                "generator_server: {host: 127.0.0.1, port: 9000}\nmetric_server: {host: 127.0.0.1, port: 9000}"
            ),
            ["metric_server.port"]
        );
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
                    .contains("TDTEST_A_TELEMETRY__SWITCHES"),
                "{e}"
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
        let text = include_str!("../telemetry.yaml");
        let c = Config::from_yaml(text).unwrap();
        assert_eq!(c.generator_server.port, 9001);
        assert_eq!(c.metric_server.port, 8080);
    }
}
