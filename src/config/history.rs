//! `history`: where `GET /telemetry/{switch}/{metric}/history` answers from: the archive's
//! database when `database` is set, otherwise a bounded window of recent samples in memory.

use serde::{Deserialize, Serialize};

use super::problem::Problem;
use super::secret::Secret;

/// Bytes one remembered sample costs in the in-memory window (five values and a stamp).
pub const WINDOW_BYTES_PER_SAMPLE: usize = 40;
/// Upper bound on `history.window`.
pub const MAX_WINDOW: usize = 100_000;
/// The in-memory window's total above which `Config::warnings` speaks up.
pub const WINDOW_WARN_BYTES: usize = 1 << 30;

/// History queries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HistoryConfig {
    /// `mysql://user@host:port/database` of the archive (MariaDB or MySQL), without the
    /// password (that is `password`). Unset: answer from memory.
    pub database: Option<String>,
    /// The database user's password; text whatever it looks like, never shown.
    pub password: Option<Secret>,
    /// A file holding the password, instead of `password`.
    pub password_file: Option<String>,
    /// Samples of each switch kept in memory when there is no database (0: none).
    pub window: usize,
    /// Most points one answer may hold; more is a 400.
    pub max_points: usize,
    /// Longest a database query may take, in milliseconds.
    pub timeout_ms: u64,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            database: None,
            password: None,
            password_file: None,
            window: 360,
            max_points: 10_000,
            timeout_ms: 5_000,
        }
    }
}

impl HistoryConfig {
    /// This section's checks.
    pub(super) fn validate(&self, problems: &mut Vec<Problem>) {
        let mut problem = |key: &str, message: String| {
            problems.push(Problem::new(format!("history.{key}"), message));
        };
        if let Some(url) = &self.database
            && let Err(why) = check_database_url(url)
        {
            problem("database", why);
        }
        if self.window > MAX_WINDOW {
            problem(
                "window",
                format!("must be at most {MAX_WINDOW}, got {}", self.window),
            );
        }
        if !(1..=1_000_000).contains(&self.max_points) {
            problem(
                "max_points",
                format!("must be 1 to 1000000, got {}", self.max_points),
            );
        }
        if self.timeout_ms == 0 {
            problem("timeout_ms", "must be at least 1, got 0".into());
        }
    }
}

/// A database URL's shape; a password in it is refused without being shown.
pub fn check_database_url(text: &str) -> Result<(), String> {
    let Some(rest) = text
        .strip_prefix("mysql://")
        .or_else(|| text.strip_prefix("mariadb://"))
    else {
        return Err("must start with mysql:// (or mariadb://)".into());
    };
    let (user, host) = rest.rsplit_once('@').unwrap_or(("", rest));
    if user.contains(':') {
        return Err("must not hold the password: put it in history.password".into());
    }
    let (host, database) = host.split_once('/').unwrap_or((host, ""));
    if host.is_empty() || database.is_empty() {
        return Err("must be mysql://[user[:password]@]host[:port]/database".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_history_value_is_named_and_the_url_is_not_shown() {
        let h = HistoryConfig {
            database: Some("postgres://u@h/db".into()),
            password: None,
            password_file: None,
            window: MAX_WINDOW + 1,
            max_points: 0,
            timeout_ms: 0,
        };
        let mut problems = Vec::new();
        h.validate(&mut problems);
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "history.database",
                "history.window",
                "history.max_points",
                "history.timeout_ms"
            ]
        );
        for bad in [
            "mysql://u@h/",
            "mysql:///db",
            "mysql://u@",
            "mysql://u:hunter2@h/db",
        ] {
            let why = check_database_url(bad).expect_err(bad);
            assert!(!why.contains("hunter2"), "{why}");
        }
        for good in ["mysql://u@127.0.0.1:3306/telemetry", "mariadb://h/db"] {
            check_database_url(good).unwrap();
        }
    }
}
