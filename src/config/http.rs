//! `http`: the limits both listeners put on clients.

use serde::{Deserialize, Serialize};

use super::problem::Problem;

/// Shortest `http.request_timeout_ms`: actix-web measures the timeout on a clock it
/// refreshes every 500 ms, so a shorter one fires anywhere between 0 and 500 ms late.
pub const MIN_REQUEST_TIMEOUT_MS: u64 = 1_000;

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

impl HttpConfig {
    /// This section's checks.
    pub(super) fn validate(&self, problems: &mut Vec<Problem>) {
        if self.request_timeout_ms < MIN_REQUEST_TIMEOUT_MS {
            problems.push(Problem::new(
                "http.request_timeout_ms",
                format!(
                    "must be at least {MIN_REQUEST_TIMEOUT_MS} (actix-web measures it on a \
                     clock refreshed every 500 ms), got {}",
                    self.request_timeout_ms
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(request_timeout_ms: u64) -> Vec<Problem> {
        let mut problems = Vec::new();
        HttpConfig {
            request_timeout_ms,
            ..HttpConfig::default()
        }
        .validate(&mut problems);
        problems
    }

    #[test]
    fn request_timeouts_under_one_second_are_rejected() {
        for ms in [0, 1, 999] {
            let p = problems(ms);
            assert_eq!(p.len(), 1, "{ms}");
            assert_eq!(p[0].key, "http.request_timeout_ms");
            assert!(
                p[0].message.ends_with(&format!("got {ms}")),
                "{}",
                p[0].message
            );
        }
        assert!(problems(1_000).is_empty());
    }
}
