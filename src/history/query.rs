//! A history request's parameters, checked and bounded before anything is read, and the
//! series it answers: raw samples, or buckets of `step` with min, avg, max and count.

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;

use crate::model::{Metric, SwitchId, now_unix_ms};

/// The range when `from` is not given: the hour before `to`.
pub const DEFAULT_RANGE: Duration = Duration::from_secs(3600);
/// The parameters a history request takes.
pub const PARAMETERS: [&str; 3] = ["from", "to", "step"];

/// A checked request: `from_ms <= t < to_ms`, bucketed by `step_ms` when given.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HistoryQuery {
    pub switch: SwitchId,
    pub metric: Metric,
    pub from_ms: u64,
    pub to_ms: u64,
    pub step_ms: Option<u64>,
}

/// A parameter that is wrong, and why (a 400 naming it).
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("{parameter}: {message}")]
pub struct BadParameter {
    pub parameter: String,
    pub message: String,
}

fn bad(parameter: &str, message: impl Into<String>) -> BadParameter {
    BadParameter {
        parameter: parameter.chars().take(100).collect(),
        message: message.into(),
    }
}

/// RFC 3339 (`2026-12-02T19:00:00Z`) or Unix seconds (`1764702000`, fractions allowed).
fn parse_time(parameter: &str, text: &str) -> Result<u64, BadParameter> {
    if let Ok(seconds) = text.parse::<f64>() {
        if seconds.is_finite() && (0.0..9.0e9).contains(&seconds) {
            return Ok((seconds * 1000.0).round() as u64);
        }
        return Err(bad(parameter, "Unix seconds must be from 0 to 9e9"));
    }
    humantime::parse_rfc3339(text)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as u64)
        .ok_or_else(|| {
            bad(
                parameter,
                "must be RFC 3339 (2026-12-02T19:00:00Z) or Unix seconds",
            )
        })
}

/// `300`, `5m`, `1h30m`: at least one second.
fn parse_step(text: &str) -> Result<u64, BadParameter> {
    let step = match text.parse::<f64>() {
        Ok(seconds) if (0.0..1e10).contains(&seconds) => Duration::from_secs_f64(seconds),
        Ok(_) => return Err(bad("step", "must be from 1 s to 1e10 s")),
        Err(_) => humantime::parse_duration(text)
            .map_err(|_| bad("step", "must be seconds (300) or a duration (5m, 1h)"))?,
    };
    if step < Duration::from_secs(1) {
        return Err(bad("step", "must be at least 1 s"));
    }
    Ok(step.as_millis().min(u64::MAX as u128) as u64)
}

impl HistoryQuery {
    /// Checks the parameters; at most `max_points` points may come back (buckets, or with
    /// no step, samples: that bound is checked when they are read).
    pub fn parse(
        switch: SwitchId,
        metric: Metric,
        params: &HashMap<String, String>,
        max_points: usize,
    ) -> Result<HistoryQuery, BadParameter> {
        if let Some(unknown) = params.keys().find(|k| !PARAMETERS.contains(&k.as_str())) {
            return Err(bad(unknown, "unknown parameter; expected from, to, step"));
        }
        let to_ms = match params.get("to") {
            Some(text) => parse_time("to", text)?,
            None => now_unix_ms(),
        };
        let from_ms = match params.get("from") {
            Some(text) => parse_time("from", text)?,
            None => to_ms.saturating_sub(DEFAULT_RANGE.as_millis() as u64),
        };
        if from_ms >= to_ms {
            return Err(bad("from", "must be before to"));
        }
        let step_ms = params.get("step").map(|s| parse_step(s)).transpose()?;
        if let Some(step) = step_ms {
            let buckets = (to_ms - from_ms).div_ceil(step);
            if buckets > max_points as u64 {
                return Err(bad(
                    "step",
                    format!(
                        "{buckets} buckets is over the limit of {max_points}; take a longer step"
                    ),
                ));
            }
        }
        Ok(HistoryQuery {
            switch,
            metric,
            from_ms,
            to_ms,
            step_ms,
        })
    }

    /// The error when more than `max_points` samples fall in a range without a step.
    pub fn too_many_samples(max_points: usize) -> BadParameter {
        bad(
            "step",
            format!("more than {max_points} samples in the range; give a step or a shorter range"),
        )
    }
}

/// One point of a series. Times are Unix seconds, as `updated_at` everywhere.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Point {
    /// One sample.
    Sample { t: f64, value: f64 },
    /// The samples of `[t, t + step)`.
    Bucket {
        t: f64,
        min: f64,
        avg: f64,
        max: f64,
        count: u64,
    },
}

/// A series, oldest first.
pub type Series = Vec<Point>;

/// Raw `(ms, value)` samples, oldest first, as points: one each, or buckets of `step_ms`.
pub fn points(samples: &[(u64, f64)], step_ms: Option<u64>) -> Series {
    let Some(step) = step_ms else {
        return samples
            .iter()
            .map(|&(ms, value)| Point::Sample {
                t: ms as f64 / 1000.0,
                value,
            })
            .collect();
    };
    let mut out: Series = Vec::new();
    let mut current: Option<(u64, f64, f64, f64, u64)> = None;
    let flush = |out: &mut Series, (start, min, sum, max, count): (u64, f64, f64, f64, u64)| {
        out.push(Point::Bucket {
            t: start as f64 / 1000.0,
            min,
            avg: sum / count as f64,
            max,
            count,
        })
    };
    for &(ms, v) in samples {
        let start = ms / step * step;
        match &mut current {
            Some((s, min, sum, max, count)) if *s == start => {
                *min = min.min(v);
                *max = max.max(v);
                *sum += v;
                *count += 1;
            }
            _ => {
                if let Some(done) = current.take() {
                    flush(&mut out, done);
                }
                current = Some((start, v, v, v, 1));
            }
        }
    }
    if let Some(done) = current {
        flush(&mut out, done);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn parse(pairs: &[(&str, &str)]) -> Result<HistoryQuery, BadParameter> {
        HistoryQuery::parse(SwitchId(1), Metric::LatencyMs, &params(pairs), 1000)
    }

    #[test]
    fn times_are_rfc3339_or_unix_seconds_and_steps_durations_or_seconds() {
        let q = parse(&[
            ("from", "2025-12-02T19:00:00Z"),
            ("to", "1764705600"),
            ("step", "5m"),
        ])
        .unwrap();
        assert_eq!(
            (q.from_ms, q.to_ms, q.step_ms),
            (1_764_702_000_000, 1_764_705_600_000, Some(300_000))
        );
        let q = parse(&[
            ("from", "1764702000.5"),
            ("to", "2025-12-02T20:00:00.250Z"),
            ("step", "60"),
        ])
        .unwrap();
        assert_eq!(
            (q.from_ms, q.to_ms, q.step_ms),
            (1_764_702_000_500, 1_764_705_600_250, Some(60_000))
        );
        let q = parse(&[]).unwrap();
        assert_eq!(q.to_ms - q.from_ms, 3_600_000);
        assert_eq!(q.step_ms, None);
    }

    #[test]
    fn every_bad_parameter_is_named() {
        for (pairs, parameter) in [
            (vec![("from", "yesterday")], "from"),
            (vec![("to", "-5")], "to"),
            (vec![("to", "NaN")], "to"),
            (vec![("from", "20"), ("to", "10")], "from"),
            (vec![("from", "10"), ("to", "10")], "from"),
            (vec![("step", "0.5")], "step"),
            (vec![("step", "fast")], "step"),
            // An hour in 1 s buckets is 3,600 points, over the limit of 1,000.
            (vec![("step", "1")], "step"),
            (vec![("stepp", "5m")], "stepp"),
        ] {
            assert_eq!(parse(&pairs).unwrap_err().parameter, parameter, "{pairs:?}");
        }
    }

    #[test]
    fn buckets_hold_min_avg_max_and_count_of_their_samples() {
        let samples = [
            (0, 1.0),
            (5_000, 3.0),
            (10_000, 10.0),
            (25_000, 4.0),
            (29_999, 6.0),
        ];
        assert_eq!(
            points(&samples, Some(10_000)),
            [
                Point::Bucket {
                    t: 0.0,
                    min: 1.0,
                    avg: 2.0,
                    max: 3.0,
                    count: 2
                },
                Point::Bucket {
                    t: 10.0,
                    min: 10.0,
                    avg: 10.0,
                    max: 10.0,
                    count: 1
                },
                Point::Bucket {
                    t: 20.0,
                    min: 4.0,
                    avg: 5.0,
                    max: 6.0,
                    count: 2
                },
            ]
        );
        assert_eq!(
            points(&samples[..1], None),
            [Point::Sample { t: 0.0, value: 1.0 }]
        );
        assert!(points(&[], Some(1000)).is_empty());
    }
}
