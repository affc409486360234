//! `archive`: what `telemetryd archive` does: the consumer group it joins, how it batches
//! rows into the database (`history.database`), how long rows are kept, and where it
//! serves its own `/metrics` and `/healthz`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::problem::Problem;

/// The archiver.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArchiveConfig {
    /// Kafka consumer group; archivers in one group share the topic's partitions.
    pub group: String,
    /// This archiver's static member id in the group (`group.instance.id`), unique per
    /// archiver: restarted with the same id, it takes its partitions back at once instead
    /// of waiting for the broker to expire its old membership. Unset: a dynamic member.
    pub instance_id: Option<String>,
    /// Most rows in one `INSERT`.
    pub batch_size: usize,
    /// Longest a record waits for its batch, in milliseconds.
    pub batch_wait_ms: u64,
    /// Rows older than this are deleted (humantime: `7d`, `12h`); empty: kept for ever.
    pub retention: String,
    /// Most rows one retention `DELETE` removes.
    pub retention_batch: u64,
    /// IP address of the archiver's `/metrics` and `/healthz` listener.
    pub host: String,
    /// Its port (0: any free port).
    pub port: u16,
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        ArchiveConfig {
            group: "telemetryd-archive".into(),
            instance_id: None,
            batch_size: 5_000,
            batch_wait_ms: 200,
            retention: "7d".into(),
            retention_batch: 5_000,
            host: "127.0.0.1".into(),
            port: 9102,
        }
    }
}

impl ArchiveConfig {
    pub fn batch_wait(&self) -> Duration {
        Duration::from_millis(self.batch_wait_ms)
    }

    /// How long rows are kept; None: for ever (valid after validation).
    pub fn retention(&self) -> Option<Duration> {
        let text = self.retention.trim();
        (!text.is_empty())
            .then(|| humantime::parse_duration(text).ok())
            .flatten()
    }

    /// This section's checks.
    pub(super) fn validate(&self, problems: &mut Vec<Problem>) {
        let mut problem = |key: &str, message: String| {
            problems.push(Problem::new(format!("archive.{key}"), message));
        };
        if self.group.trim().is_empty() {
            problem("group", "must not be empty".into());
        }
        if let Some(id) = &self.instance_id
            && let Err(why) = check_instance_id(id)
        {
            problem("instance_id", why);
        }
        if !(1..=100_000).contains(&self.batch_size) {
            problem(
                "batch_size",
                format!("must be 1 to 100000, got {}", self.batch_size),
            );
        }
        if !(1..=60_000).contains(&self.batch_wait_ms) {
            problem(
                "batch_wait_ms",
                format!("must be 1 to 60000, got {}", self.batch_wait_ms),
            );
        }
        let retention = self.retention.trim();
        if !retention.is_empty() {
            match humantime::parse_duration(retention) {
                Ok(d) if d >= Duration::from_secs(60) => {}
                Ok(_) => problem(
                    "retention",
                    format!("must be at least 1m, got {retention:?}"),
                ),
                Err(e) => problem(
                    "retention",
                    format!("must be a duration like 7d or 12h: {e}"),
                ),
            }
        }
        if self.retention_batch == 0 {
            problem("retention_batch", "must be at least 1, got 0".into());
        }
        if self.host.parse::<std::net::IpAddr>().is_err() {
            problem(
                "host",
                format!("must be an IP address, got {:?}", self.host),
            );
        }
    }
}

/// Kafka's rule for a `group.instance.id`: 1 to 249 of `[A-Za-z0-9._-]`.
fn check_instance_id(id: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if id.is_empty() || id.len() > 249 || !id.chars().all(allowed) {
        return Err(format!(
            "must be 1 to 249 letters, digits, '.', '_' or '-', got {id:?}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_archive_value_is_named() {
        let a = ArchiveConfig {
            group: " ".into(),
            instance_id: Some("archiver 1".into()),
            batch_size: 0,
            batch_wait_ms: 0,
            retention: "soon".into(),
            retention_batch: 0,
            host: "localhost".into(),
            port: 0,
        };
        let mut problems = Vec::new();
        a.validate(&mut problems);
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "archive.group",
                "archive.instance_id",
                "archive.batch_size",
                "archive.batch_wait_ms",
                "archive.retention",
                "archive.retention_batch",
                "archive.host"
            ]
        );
        let defaults = ArchiveConfig::default();
        assert_eq!(defaults.retention(), Some(Duration::from_secs(7 * 86_400)));
        let forever = ArchiveConfig {
            retention: String::new(),
            ..defaults
        };
        assert_eq!(forever.retention(), None);
    }
}
