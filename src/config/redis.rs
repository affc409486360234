//! `redis`: the Redis server, the credentials (read as text, the password a [`Secret`]) and
//! how the writer batches.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use deadpool_redis::redis::ClientTlsConfig;

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
    /// Speak TLS to Redis (`rediss://`): Redis's certificate must chain to `tls_ca_file`
    /// (the system's roots without it) and name `host`.
    pub tls: bool,
    /// PEM file of the certificate authorities that sign Redis's certificate.
    pub tls_ca_file: Option<String>,
    /// PEM client certificate chain, for a Redis that asks for one (`tls-auth-clients`).
    pub tls_cert_file: Option<String>,
    /// PEM private key of `tls_cert_file`; read at start, never shown.
    pub tls_key_file: Option<String>,
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
            tls: false,
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
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
        self.validate_tls(&mut problem);
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

    /// The TLS files are read and parsed now, so a missing or bad one stops the start
    /// naming its key rather than failing every connection later.
    fn validate_tls(&self, problem: &mut impl FnMut(&str, String)) {
        let files = [
            ("tls_ca_file", &self.tls_ca_file),
            ("tls_cert_file", &self.tls_cert_file),
            ("tls_key_file", &self.tls_key_file),
        ];
        if !self.tls {
            for (key, file) in files {
                if file.is_some() {
                    problem(key, "is used only with redis.tls: true".into());
                }
            }
            return;
        }
        if let Some(ca) = &self.tls_ca_file
            && let Err(why) = crate::tls::read_ca(ca.as_ref())
        {
            problem("tls_ca_file", why);
        }
        if let Err((key, why)) = self.client_certificate() {
            problem(key, why);
        }
    }

    fn client_certificate(&self) -> Result<Option<ClientTlsConfig>, (&'static str, String)> {
        match (&self.tls_cert_file, &self.tls_key_file) {
            (None, None) => Ok(None),
            (Some(cert), Some(key)) => crate::tls::read_client(cert.as_ref(), key.as_ref())
                .map(Some)
                .map_err(|e| ("tls_cert_file", e)),
            (Some(_), None) => Err(("tls_key_file", "must be set with tls_cert_file".into())),
            (None, Some(_)) => Err(("tls_cert_file", "must be set with tls_key_file".into())),
        }
    }

    /// The certificates `redis.tls` connects with: the CA file's and the client's, read from
    /// their files. An error names the key at fault and never holds key material.
    pub fn tls_certificates(
        &self,
    ) -> Result<crate::tls::RedisCertificates, (&'static str, String)> {
        let root = match &self.tls_ca_file {
            Some(ca) => Some(crate::tls::read_ca(ca.as_ref()).map_err(|e| ("tls_ca_file", e))?),
            None => None,
        };
        let client = self.client_certificate()?;
        Ok(crate::tls::RedisCertificates {
            client_tls: client,
            root_cert: root,
        })
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
