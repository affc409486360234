//! Rendering the cache's state as the bytes clients get: CSV for `/counters`, JSON for
//! `/telemetry`. Pure functions, checked against golden strings.

use serde::Serialize;
use serde::ser::SerializeMap;

use super::SwitchState;
use crate::model::{METRICS, Metric, Sample, SwitchId, Value};

/// `/counters`: header `switch_id,<metrics...>,updated_at`, one row per switch with data,
/// by switch number, RFC 4180 quoting (by the csv crate), CRLF line ends as RFC 4180 says.
pub fn counters_csv(states: &[Option<SwitchState>]) -> Vec<u8> {
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::with_capacity(64 * (states.len() + 1)));
    let header = std::iter::once("switch_id").chain(METRICS.iter().map(|m| m.name()));
    // Writing to a Vec cannot fail; the csv crate only reports I/O errors.
    out.write_record(header).expect("writing to memory");
    // One scratch string for every value: no allocation per value.
    let mut field = String::with_capacity(32);
    for state in states.iter().flatten() {
        let sample = &state.sample;
        sample
            .switch
            .with_name(|name| out.write_field(name))
            .expect("writing to memory");
        for (_, value) in sample.values() {
            field.clear();
            value.push_text(&mut field);
            out.write_field(&field).expect("writing to memory");
        }
        out.write_record(None::<&[u8]>).expect("writing to memory");
    }
    out.into_inner().unwrap_or_default()
}

/// `/telemetry`: `{"switches": {"switch-0": {<metric>: <number>, ...}, ...}}`.
pub fn telemetry_json(states: &[Option<SwitchState>]) -> Vec<u8> {
    #[derive(Serialize)]
    struct All<'a> {
        switches: Switches<'a>,
    }
    struct Switches<'a>(&'a [Option<SwitchState>]);
    impl Serialize for Switches<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut map = s.serialize_map(None)?;
            for state in self.0.iter().flatten() {
                map.serialize_entry(&state.sample.switch, &Fields(&state.sample))?;
            }
            map.end()
        }
    }
    to_json(&All {
        switches: Switches(states),
    })
}

/// `/telemetry/{switch}`: the switch's metrics, as in `/telemetry`.
pub fn switch_json(sample: &Sample) -> Vec<u8> {
    to_json(&Fields(sample))
}

/// `/telemetry/{switch}/{metric}`: `{"switch_id": ..., "metric": ..., "value": <number>}`.
pub fn metric_json(switch: SwitchId, metric: Metric, value: Value) -> Vec<u8> {
    #[derive(Serialize)]
    struct One {
        switch_id: SwitchId,
        metric: &'static str,
        value: Value,
    }
    to_json(&One {
        switch_id: switch,
        metric: metric.name(),
        value,
    })
}

/// A sample's metrics as a JSON object in catalogue order.
struct Fields<'a>(&'a Sample);

impl Serialize for Fields<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(METRICS.len()))?;
        for (metric, value) in self.0.values() {
            map.serialize_entry(metric.name(), &value)?;
        }
        map.end()
    }
}

fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising these types cannot fail: string keys, finite numbers (the codec and the
    // model keep NaN and infinities out).
    serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(n: u32, errors: u64) -> Option<SwitchState> {
        Some(SwitchState {
            sample: Sample {
                switch: SwitchId(n),
                bandwidth_in_mbps: 41_234.5,
                bandwidth_out_mbps: 39_876.125,
                latency_ms: 0.213,
                packet_errors: errors,
                updated_at_ms: 1_764_290_000_123 + u64::from(n),
            },
            in_redis: true,
        })
    }

    #[test]
    fn counters_csv_has_the_documented_header_and_one_row_per_switch() {
        let csv = counters_csv(&[state(0, 7), None, state(2, 0)]);
        assert_eq!(
            String::from_utf8(csv).unwrap(),
            "switch_id,bandwidth_in_mbps,bandwidth_out_mbps,latency_ms,packet_errors,updated_at\r\n\
             switch-0,41234.5,39876.125,0.213,7,1764290000.123\r\n\
             switch-2,41234.5,39876.125,0.213,0,1764290000.125\r\n"
        );
    }

    #[test]
    fn counters_csv_of_an_empty_fabric_is_the_header_alone() {
        assert_eq!(
            counters_csv(&[]),
            b"switch_id,bandwidth_in_mbps,bandwidth_out_mbps,latency_ms,packet_errors,updated_at\r\n"
        );
    }

    #[test]
    fn telemetry_json_has_the_prototype_shape_with_numbers() {
        let json = telemetry_json(&[state(0, 7), state(1, 8)]);
        assert_eq!(
            String::from_utf8(json).unwrap(),
            r#"{"switches":{"switch-0":{"bandwidth_in_mbps":41234.5,"bandwidth_out_mbps":39876.125,"latency_ms":0.213,"packet_errors":7,"updated_at":1764290000.123},"switch-1":{"bandwidth_in_mbps":41234.5,"bandwidth_out_mbps":39876.125,"latency_ms":0.213,"packet_errors":8,"updated_at":1764290000.124}}}"#
        );
    }

    #[test]
    fn switch_and_metric_json_render_exactly() {
        let s = state(19, 3).unwrap().sample;
        assert_eq!(
            String::from_utf8(switch_json(&s)).unwrap(),
            r#"{"bandwidth_in_mbps":41234.5,"bandwidth_out_mbps":39876.125,"latency_ms":0.213,"packet_errors":3,"updated_at":1764290000.142}"#
        );
        assert_eq!(
            String::from_utf8(metric_json(
                s.switch,
                Metric::LatencyMs,
                s.value(Metric::LatencyMs)
            ))
            .unwrap(),
            r#"{"switch_id":"switch-19","metric":"latency_ms","value":0.213}"#
        );
    }
}
