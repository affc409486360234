//! The Kafka record of one sample: JSON, self-describing, the same keys and units as
//! `GET /telemetry/{switch_id}` plus the switch's id. The record's key is the switch id,
//! so one switch's samples keep their order within a partition.
//!
//! ```json
//! {"switch_id":"switch-19","bandwidth_in_mbps":812.4,"bandwidth_out_mbps":790.1,
//!  "latency_ms":1.8,"packet_errors":37,"updated_at":1764290000.123}
//! ```

use serde::{Deserialize, Serialize};

use crate::model::{Metric, Sample, SwitchId, Value};

/// Longest record the archiver accepts; a sample's JSON is about 150 bytes.
pub const MAX_RECORD_BYTES: usize = 4_096;

#[derive(Serialize)]
struct Out<'a> {
    switch_id: SwitchId,
    bandwidth_in_mbps: f64,
    bandwidth_out_mbps: f64,
    latency_ms: f64,
    packet_errors: u64,
    updated_at: &'a Value,
}

/// Appends the record of `sample` to `out` (cleared first).
pub fn encode(sample: &Sample, out: &mut Vec<u8>) {
    out.clear();
    let record = Out {
        switch_id: sample.switch,
        bandwidth_in_mbps: sample.bandwidth_in_mbps,
        bandwidth_out_mbps: sample.bandwidth_out_mbps,
        latency_ms: sample.latency_ms,
        packet_errors: sample.packet_errors,
        updated_at: &sample.value(Metric::UpdatedAt),
    };
    // Writing plain numbers and a string into a Vec cannot fail; NaN would be `null`, which
    // the model never draws and `decode` refuses.
    let _ = serde_json::to_writer(out, &record);
}

/// The record's key: the switch's id.
pub fn key(switch: SwitchId, out: &mut String) {
    out.clear();
    switch.with_name(|name| out.push_str(name));
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct In {
    switch_id: String,
    bandwidth_in_mbps: f64,
    bandwidth_out_mbps: f64,
    latency_ms: f64,
    packet_errors: u64,
    updated_at: f64,
}

/// Why a record is not a sample.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RecordError {
    #[error("record of {0} bytes is over {MAX_RECORD_BYTES}")]
    TooLong(usize),
    #[error("not a sample record: {0}")]
    Json(String),
    #[error("switch_id is not switch-<n>")]
    SwitchId,
    #[error("{0} must be a finite number of at least 0")]
    Value(&'static str),
}

/// Reads a record back; anything but a well-formed sample is an error, never a panic.
pub fn decode(bytes: &[u8]) -> Result<Sample, RecordError> {
    if bytes.len() > MAX_RECORD_BYTES {
        return Err(RecordError::TooLong(bytes.len()));
    }
    let r: In = serde_json::from_slice(bytes).map_err(|e| RecordError::Json(e.to_string()))?;
    let switch = SwitchId::parse(&r.switch_id).ok_or(RecordError::SwitchId)?;
    for (name, v) in [
        ("bandwidth_in_mbps", r.bandwidth_in_mbps),
        ("bandwidth_out_mbps", r.bandwidth_out_mbps),
        ("latency_ms", r.latency_ms),
    ] {
        if !v.is_finite() || v < 0.0 {
            return Err(RecordError::Value(name));
        }
    }
    // Seconds with milliseconds; beyond 2^53 ms a float no longer holds them exactly.
    if !r.updated_at.is_finite() || !(0.0..9.0e12).contains(&r.updated_at) {
        return Err(RecordError::Value("updated_at"));
    }
    Ok(Sample {
        switch,
        bandwidth_in_mbps: r.bandwidth_in_mbps,
        bandwidth_out_mbps: r.bandwidth_out_mbps,
        latency_ms: r.latency_ms,
        packet_errors: r.packet_errors,
        updated_at_ms: (r.updated_at * 1000.0).round() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Sample {
        Sample {
            switch: SwitchId(19),
            bandwidth_in_mbps: 812.4,
            bandwidth_out_mbps: 790.125,
            latency_ms: 1.8,
            packet_errors: 37,
            updated_at_ms: 1_764_290_000_123,
        }
    }

    #[test]
    fn a_record_has_every_metric_and_reads_back_to_the_same_sample() {
        let mut out = Vec::new();
        encode(&sample(), &mut out);
        let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(json["switch_id"], "switch-19");
        assert_eq!(json["updated_at"], 1_764_290_000.123);
        assert_eq!(json["packet_errors"], 37);
        assert_eq!(json.as_object().unwrap().len(), 6);
        assert_eq!(decode(&out), Ok(sample()));
        for ms in [0, 1, 999, 1_764_290_000_005, 1_764_290_000_999] {
            let s = Sample {
                updated_at_ms: ms,
                ..sample()
            };
            encode(&s, &mut out);
            assert_eq!(decode(&out).unwrap().updated_at_ms, ms);
        }
        let mut k = String::new();
        key(SwitchId(19), &mut k);
        assert_eq!(k, "switch-19");
    }

    #[test]
    fn a_bad_record_is_an_error_naming_what_is_wrong() {
        let good = r#"{"switch_id":"switch-1","bandwidth_in_mbps":1,"bandwidth_out_mbps":1,"latency_ms":1,"packet_errors":1,"updated_at":1}"#;
        decode(good.as_bytes()).unwrap();
        for (bad, error) in [
            (good.replace("switch-1", "switch-01"), RecordError::SwitchId),
            (
                good.replace(r#""latency_ms":1"#, r#""latency_ms":-1"#),
                RecordError::Value("latency_ms"),
            ),
            (
                good.replace(r#""updated_at":1"#, r#""updated_at":1e300"#),
                RecordError::Value("updated_at"),
            ),
        ] {
            assert_eq!(decode(bad.as_bytes()), Err(error), "{bad}");
        }
        for bad in [
            "",
            "null",
            "[]",
            "{}",
            &good.replace(r#""packet_errors":1"#, r#""packet_errors":-1"#),
            &good.replace('}', r#","extra":1}"#),
        ] {
            assert!(
                matches!(decode(bad.as_bytes()), Err(RecordError::Json(_))),
                "{bad}"
            );
        }
        assert_eq!(
            decode(&vec![b' '; MAX_RECORD_BYTES + 1]),
            Err(RecordError::TooLong(MAX_RECORD_BYTES + 1))
        );
    }
}
