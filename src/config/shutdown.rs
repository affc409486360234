//! `shutdown`: the bound on the stop sequence.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::problem::Problem;

/// Longest `shutdown.timeout_seconds` (one hour).
pub const MAX_SHUTDOWN_SECONDS: f64 = 3_600.0;

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

    /// This section's checks.
    pub(super) fn validate(&self, problems: &mut Vec<Problem>) {
        let stop = self.timeout_seconds;
        if !stop.is_finite() || stop <= 0.0 || stop > MAX_SHUTDOWN_SECONDS {
            problems.push(Problem::new(
                "shutdown.timeout_seconds",
                format!(
                    "must be a number of seconds above 0 and at most {MAX_SHUTDOWN_SECONDS}, got {stop}"
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shutdown_timeouts_outside_0_to_an_hour_are_rejected() {
        for (seconds, bad) in [
            (0.0, true),
            (-1.0, true),
            (f64::NAN, true),
            (3_601.0, true),
            (0.5, false),
            (3_600.0, false),
        ] {
            let mut problems = Vec::new();
            ShutdownConfig {
                timeout_seconds: seconds,
            }
            .validate(&mut problems);
            assert_eq!(!problems.is_empty(), bad, "{seconds}");
        }
    }
}
