//! `telemetry`: the simulated fabric (how many switches, how often), its checks, and the
//! warning when it asks for more than this daemon was measured to sustain.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::problem::Problem;
use crate::model::Shard;

/// Upper bound on `telemetry.switches`: well above any fabric, low enough that a typo
/// cannot make the daemon allocate all memory.
pub const MAX_SWITCHES: u32 = 1_000_000;
/// Upper bound on `telemetry.update_interval_seconds` (one day).
pub const MAX_INTERVAL_SECONDS: f64 = 86_400.0;
/// Lower bound on `telemetry.update_interval_seconds`: the timers run on a millisecond
/// clock.
pub const MIN_INTERVAL_SECONDS: f64 = 0.001;
/// Switch samples per second (switches / update_interval_seconds) this daemon was measured
/// to sustain here: 150,000 switches at 1 s, every switch younger than 1.3 s in Redis
/// (BENCHMARKS.md, 2 cores). Beyond it the daemon starts, with a warning.
pub const MEASURED_SAMPLES_PER_SECOND: f64 = 150_000.0;

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
    /// `{index, count}`: this instance simulates only the switches `n` with
    /// `n % count == index`, and serves every switch (the others from Redis). None: all.
    pub shard: Option<Shard>,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            switches: 5,
            update_interval_seconds: 10.0,
            seed: None,
            simulate: true,
            shard: None,
        }
    }
}

impl TelemetryConfig {
    /// The update interval as a `Duration` (valid after validation).
    pub fn interval(&self) -> Duration {
        Duration::from_secs_f64(self.update_interval_seconds)
    }

    /// This section's checks.
    pub(super) fn validate(&self, problems: &mut Vec<Problem>) {
        let mut problem = |key: &str, message: String| {
            problems.push(Problem::new(format!("telemetry.{key}"), message));
        };
        if self.switches == 0 {
            problem("switches", "must be at least 1, got 0".into());
        } else if self.switches > MAX_SWITCHES {
            problem(
                "switches",
                format!("must be at most {MAX_SWITCHES}, got {}", self.switches),
            );
        }
        if let Some(shard) = self.shard {
            if shard.count == 0 || shard.count > self.switches.max(1) {
                problem(
                    "shard",
                    format!(
                        "count must be 1 to telemetry.switches ({}), got {}",
                        self.switches, shard.count
                    ),
                );
            } else if shard.index >= shard.count {
                problem(
                    "shard",
                    format!(
                        "index must be less than count ({}), got {}",
                        shard.count, shard.index
                    ),
                );
            }
        }
        let interval = self.update_interval_seconds;
        if !interval.is_finite() || interval <= 0.0 {
            problem(
                "update_interval_seconds",
                format!("must be a positive number of seconds, got {interval}"),
            );
        } else if interval > MAX_INTERVAL_SECONDS {
            problem(
                "update_interval_seconds",
                format!("must be at most {MAX_INTERVAL_SECONDS} (one day), got {interval}"),
            );
        } else if interval < MIN_INTERVAL_SECONDS {
            problem(
                "update_interval_seconds",
                format!(
                    "must be at least {MIN_INTERVAL_SECONDS} (one millisecond), got {interval}"
                ),
            );
        }
    }

    /// Valid but doubtful settings: a sample rate beyond the measured one.
    pub(super) fn warnings(&self, warnings: &mut Vec<Problem>) {
        // Rounded: 150 switches at 0.001 s is 150,000 per second, whatever f64 makes of it.
        let rate = (f64::from(self.switches) / self.update_interval_seconds).round();
        if rate > MEASURED_SAMPLES_PER_SECOND {
            warnings.push(Problem::new(
                "telemetry.switches",
                format!(
                    "{} switches every {} s (telemetry.update_interval_seconds) is {} samples \
                     per second, beyond the {} per second this daemon was measured to sustain; \
                     samples will fall behind",
                    self.switches, self.update_interval_seconds, rate, MEASURED_SAMPLES_PER_SECOND
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn telemetry(switches: u32, update_interval_seconds: f64) -> TelemetryConfig {
        TelemetryConfig {
            switches,
            update_interval_seconds,
            ..TelemetryConfig::default()
        }
    }

    fn keys(t: &TelemetryConfig) -> Vec<String> {
        let mut problems = Vec::new();
        t.validate(&mut problems);
        problems.into_iter().map(|p| p.key).collect()
    }

    #[test]
    fn switches_and_intervals_out_of_range_are_rejected_naming_the_key() {
        assert_eq!(keys(&telemetry(0, 1.0)), ["telemetry.switches"]);
        assert_eq!(
            keys(&telemetry(MAX_SWITCHES + 1, 1.0)),
            ["telemetry.switches"]
        );
        for interval in [0.0, -1.5, f64::NAN, f64::INFINITY, 0.0009, 86_401.0] {
            assert_eq!(
                keys(&telemetry(5, interval)),
                ["telemetry.update_interval_seconds"],
                "{interval}"
            );
        }
        assert!(keys(&telemetry(MAX_SWITCHES, 0.001)).is_empty());
    }

    #[test]
    fn a_sample_rate_beyond_the_measured_one_is_a_warning_naming_both_keys() {
        let mut warnings = Vec::new();
        telemetry(1_000_000, 0.001).warnings(&mut warnings);
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].key, "telemetry.switches");
        assert_eq!(
            warnings[0].message,
            "1000000 switches every 0.001 s (telemetry.update_interval_seconds) is \
             1000000000 samples per second, beyond the 150000 per second this daemon was \
             measured to sustain; samples will fall behind"
        );
    }

    #[test]
    fn the_measured_sample_rate_itself_is_no_warning() {
        for (switches, interval) in [(150_000, 1.0), (150, 0.001), (5, 10.0)] {
            let mut warnings = Vec::new();
            telemetry(switches, interval).warnings(&mut warnings);
            assert!(
                warnings.is_empty(),
                "{switches} at {interval}: {warnings:?}"
            );
        }
        let mut warnings = Vec::new();
        telemetry(151, 0.001).warnings(&mut warnings);
        assert_eq!(warnings.len(), 1);
    }
}
