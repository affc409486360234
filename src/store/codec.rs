//! The Redis layout: one hash per switch, `telemetry:switch-<n>`, one field per metric,
//! values as decimal text; with `fabric.enabled` also one field per cabled port,
//! `port:<n>`, its 16 counters joined by commas. Encoding is exact; decoding accepts what another writer may have
//! put there and reports each field it cannot read.

use crate::model::{FUTURE_TOLERANCE_MS, METRICS, Metric, Sample, SwitchId, now_unix_ms};

/// Prefix of every key the daemon writes.
pub const KEY_PREFIX: &str = "telemetry:";

/// The key of a switch's hash, e.g. `telemetry:switch-19`. Built from a parsed id only, so
/// nothing a client sends becomes key material.
pub fn switch_key(switch: SwitchId) -> String {
    format!("{KEY_PREFIX}{switch}")
}

/// The hash fields of a sample, in catalogue order: `HSET key f1 v1 f2 v2 ...`.
pub fn fields(sample: &Sample) -> impl Iterator<Item = (&'static str, String)> + '_ {
    sample
        .values()
        .map(|(metric, value)| (metric.name(), value.to_string()))
}

/// Writes a sample's key and then its values (catalogue order) into `out`, one after the
/// other, and returns where each ends: `out[..ends[0]]` is the key and
/// `out[ends[i]..ends[i + 1]]` the value of `METRICS[i]`. The writer reuses one buffer for
/// a whole batch instead of allocating six strings per sample, its largest cost at 100,000
/// switches.
pub fn encode_into(sample: &Sample, out: &mut String) -> [usize; METRICS.len() + 1] {
    out.clear();
    let mut ends = [0; METRICS.len() + 1];
    out.push_str(KEY_PREFIX);
    sample.switch.with_name(|name| out.push_str(name));
    ends[0] = out.len();
    for (i, (_, value)) in sample.values().enumerate() {
        value.push_text(out);
        ends[i + 1] = out.len();
    }
    ends
}

/// The hash field of a switch's port `n` (`fabric.enabled`): `port:<n>`.
pub fn port_field(n: u16) -> String {
    format!("port:{n}")
}

/// A port's counters as its field's value: UFM's 16 counters in CSV column order, joined
/// by commas (`out` cleared first).
pub fn encode_port(counters: &[u64; 16], out: &mut String) {
    out.clear();
    let mut int = itoa::Buffer::new();
    for (i, v) in counters.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(int.format(*v));
    }
}

/// A switch's hash as `HMGET key <every metric>` returns it: one value per metric, in
/// catalogue order, `None` where the field is absent.
pub type RawFields = Vec<Option<Vec<u8>>>;

/// What a switch's hash in Redis says.
#[derive(Debug, PartialEq)]
pub enum Decoded {
    /// No hash (never written, expired, or Redis restarted empty).
    Missing,
    /// A complete sample, with a note for each field that could not be read (those fields
    /// kept the value the cache already had).
    Sample {
        sample: Sample,
        problems: Vec<String>,
    },
    /// Not enough readable fields to make a sample, and nothing cached to fill the gaps.
    Unreadable { problems: Vec<String> },
}

/// Reads a switch's hash. Fields that are missing or unreadable take their value from
/// `known` (what the cache holds), so one bad field written by another client does not
/// hide the others. Fields that are not metrics are never read.
pub fn decode(switch: SwitchId, hash: &RawFields, known: Option<&Sample>) -> Decoded {
    decode_at(switch, hash, known, now_unix_ms())
}

/// [`decode`] at the time `now_ms`: a stamp more than `FUTURE_TOLERANCE_MS` after it is
/// served (as stale, see `Snapshot`) and reported as a problem, so it is warned about once.
fn decode_at(switch: SwitchId, hash: &RawFields, known: Option<&Sample>, now_ms: u64) -> Decoded {
    if hash.iter().all(Option::is_none) {
        return Decoded::Missing;
    }
    let mut problems = Vec::new();
    let mut sample = known.copied().unwrap_or(Sample {
        switch,
        bandwidth_in_mbps: f64::NAN,
        bandwidth_out_mbps: f64::NAN,
        latency_ms: f64::NAN,
        packet_errors: 0,
        updated_at_ms: 0,
    });
    let mut incomplete = false;
    for (i, metric) in METRICS.into_iter().enumerate() {
        let raw = hash.get(i).and_then(Option::as_deref);
        let parsed = raw.map(|bytes| parse_field(metric, bytes, &mut sample));
        match (parsed, known) {
            (Some(Ok(())), _) => {}
            (Some(Err(why)), _) => {
                problems.push(format!("{}: {why}", metric.name()));
                incomplete |= known.is_none();
            }
            (None, Some(_)) => {}
            (None, None) => {
                problems.push(format!("{}: missing", metric.name()));
                incomplete = true;
            }
        }
    }
    if incomplete {
        Decoded::Unreadable { problems }
    } else {
        let ahead_ms = sample.updated_at_ms.saturating_sub(now_ms);
        if ahead_ms > FUTURE_TOLERANCE_MS {
            problems.push(format!(
                "updated_at: {} s in the future; served as stale",
                ahead_ms / 1000
            ));
        }
        Decoded::Sample { sample, problems }
    }
}

/// Parses one field into `sample`, or says why it cannot.
fn parse_field(metric: Metric, bytes: &[u8], sample: &mut Sample) -> Result<(), String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())?;
    let shown = || text.chars().take(40).collect::<String>();
    match metric {
        Metric::PacketErrors => {
            sample.packet_errors = text
                .parse()
                .map_err(|_| format!("{:?} is not a whole number of packets", shown()))?;
        }
        Metric::UpdatedAt => {
            let seconds = parse_non_negative(text)
                .ok_or_else(|| format!("{:?} is not a Unix time in seconds", shown()))?;
            if seconds > 1e13 {
                return Err(format!("{:?} is too far in the future", shown()));
            }
            sample.updated_at_ms = (seconds * 1000.0).round() as u64;
        }
        Metric::BandwidthInMbps | Metric::BandwidthOutMbps | Metric::LatencyMs => {
            let value = parse_non_negative(text)
                .ok_or_else(|| format!("{:?} is not a finite number >= 0", shown()))?;
            match metric {
                Metric::BandwidthInMbps => sample.bandwidth_in_mbps = value,
                Metric::BandwidthOutMbps => sample.bandwidth_out_mbps = value,
                _ => sample.latency_ms = value,
            }
        }
    }
    Ok(())
}

/// An `updated_at` field as Unix milliseconds: decimal seconds, finite, not negative, and
/// not absurdly far in the future.
pub fn parse_updated_at(bytes: &[u8]) -> Option<u64> {
    let seconds = parse_non_negative(std::str::from_utf8(bytes).ok()?)?;
    (seconds <= 1e13).then(|| (seconds * 1000.0).round() as u64)
}

/// A finite, non-negative decimal number. Rejects `NaN` and `inf`, which Rust's parser
/// accepts but JSON cannot carry.
fn parse_non_negative(text: &str) -> Option<f64> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_field_holds_its_sixteen_counters_joined_by_commas() {
        let mut counters = [0u64; 16];
        counters[0] = u64::MAX;
        counters[15] = 42;
        let mut out = String::from("left over");
        encode_port(&counters, &mut out);
        assert_eq!(out, "18446744073709551615,0,0,0,0,0,0,0,0,0,0,0,0,0,0,42");
        assert_eq!(port_field(7), "port:7");
    }

    fn sample() -> Sample {
        Sample {
            switch: SwitchId(19),
            bandwidth_in_mbps: 41_234.5,
            bandwidth_out_mbps: 39_876.125,
            latency_ms: 0.213,
            packet_errors: 1_234,
            updated_at_ms: 1_764_290_000_123,
        }
    }

    /// What HMGET returns for a hash holding `pairs` (other fields are not asked for).
    fn hash(pairs: &[(&str, &str)]) -> RawFields {
        Metric::names()
            .map(|name| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.as_bytes().to_vec())
            })
            .collect()
    }

    #[test]
    fn keys_and_fields_follow_the_documented_layout() {
        assert_eq!(switch_key(SwitchId(19)), "telemetry:switch-19");
        let f: Vec<_> = fields(&sample()).collect();
        assert_eq!(
            f,
            [
                ("bandwidth_in_mbps", "41234.5".to_string()),
                ("bandwidth_out_mbps", "39876.125".to_string()),
                ("latency_ms", "0.213".to_string()),
                ("packet_errors", "1234".to_string()),
                ("updated_at", "1764290000.123".to_string()),
            ]
        );
    }

    #[test]
    fn encode_into_lays_out_the_key_and_the_same_values_as_fields() {
        let s = sample();
        let mut out = String::new();
        let ends = encode_into(&s, &mut out);
        assert_eq!(&out[..ends[0]], switch_key(s.switch));
        let values: Vec<String> = fields(&s).map(|(_, v)| v).collect();
        for (i, v) in values.iter().enumerate() {
            assert_eq!(&out[ends[i]..ends[i + 1]], v);
        }
    }

    #[test]
    fn what_is_encoded_decodes_to_the_same_sample() {
        let s = sample();
        let raw: RawFields = fields(&s).map(|(_, v)| Some(v.into_bytes())).collect();
        assert_eq!(
            decode(s.switch, &raw, None),
            Decoded::Sample {
                sample: s,
                problems: vec![]
            }
        );
    }

    #[test]
    fn an_empty_hash_is_missing() {
        assert_eq!(
            decode(SwitchId(1), &vec![None; 5], Some(&sample())),
            Decoded::Missing
        );
    }

    #[test]
    fn a_bad_field_keeps_the_known_value_and_is_reported() {
        let known = sample();
        let raw = hash(&[
            ("latency_ms", "fast"),
            ("packet_errors", "99"),
            ("extra", "x"),
        ]);
        let Decoded::Sample { sample, problems } = decode(known.switch, &raw, Some(&known)) else {
            panic!("expected a sample");
        };
        assert_eq!(sample.latency_ms, known.latency_ms);
        assert_eq!(sample.packet_errors, 99);
        assert_eq!(
            problems,
            ["latency_ms: \"fast\" is not a finite number >= 0"]
        );
    }

    #[test]
    fn non_finite_negative_and_non_utf8_values_are_rejected() {
        for bad in ["NaN", "inf", "-1", "1e400"] {
            let raw = hash(&[("bandwidth_in_mbps", bad)]);
            let Decoded::Sample { problems, .. } = decode(SwitchId(0), &raw, Some(&sample()))
            else {
                panic!()
            };
            assert_eq!(problems.len(), 1, "{bad}");
        }
        let mut raw: RawFields = vec![None; 5];
        raw[2] = Some(vec![0xff, 0xfe]);
        let Decoded::Sample { problems, .. } = decode(SwitchId(0), &raw, Some(&sample())) else {
            panic!()
        };
        assert_eq!(problems, ["latency_ms: not UTF-8 text"]);
    }

    #[test]
    fn an_incomplete_hash_with_nothing_known_is_unreadable() {
        let raw = hash(&[("latency_ms", "1.5")]);
        let Decoded::Unreadable { problems } = decode(SwitchId(0), &raw, None) else {
            panic!()
        };
        assert_eq!(problems.len(), 4);
    }
}
