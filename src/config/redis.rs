//! `redis`: the Redis server, the credentials (read as text, the password a [`Secret`]) and
//! how the writer batches.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::problem::Problem;
use super::secret::{Secret, option_text};

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
    /// ACL user name, if the server requires one; text whatever it looks like.
    #[serde(deserialize_with = "option_text")]
    pub username: Option<String>,
    /// Password, if the server requires one; text whatever it looks like, never shown.
    pub password: Option<Secret>,
    /// A file holding the password (a systemd credential, say): read at start, its last
    /// line end dropped; instead of `password`.
    pub password_file: Option<String>,
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
            password_file: None,
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

    /// This section's checks.
    pub(super) fn validate(&self, problems: &mut Vec<Problem>) {
        let mut problem = |key: &str, message: String| {
            problems.push(Problem::new(format!("redis.{key}"), message));
        };
        if self.host.trim().is_empty() {
            problem("host", "must not be empty".into());
        }
        if self.port == 0 {
            problem("port", "must be a port from 1 to 65535, got 0".into());
        }
        if self.db < 0 {
            problem("db", format!("must be 0 or more, got {}", self.db));
        }
        for (key, value) in [
            ("timeout_ms", self.timeout_ms),
            ("batch_size", self.batch_size as u64),
            ("flush_interval_ms", self.flush_interval_ms),
        ] {
            if value == 0 {
                problem(key, "must be at least 1, got 0".into());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_redis_value_is_named() {
        let r = RedisConfig {
            host: " ".into(),
            port: 0,
            db: -1,
            timeout_ms: 0,
            batch_size: 0,
            flush_interval_ms: 0,
            ..RedisConfig::default()
        };
        let mut problems = Vec::new();
        r.validate(&mut problems);
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "redis.host",
                "redis.port",
                "redis.db",
                "redis.timeout_ms",
                "redis.batch_size",
                "redis.flush_interval_ms"
            ]
        );
        assert!(problems.iter().all(|p| p.message.starts_with("must ")));
    }
}
