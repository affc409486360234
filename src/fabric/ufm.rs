//! UFM Telemetry's output formats, for the ports of the switches that have a sample: CSV
//! (`/csv/metrics`), Prometheus text (`/metrics` on the generator listener) and JSON
//! (`/json/metrics`), optionally one shard of them. Pure functions, checked against golden
//! strings.
//!
//! What UFM's consumers rely on: the CSV has no quoting (they split on `\n` and `,`), ends
//! with a newline (they drop the last element), and its header never changes; `timestamp`
//! is in microseconds, GUIDs are `0x` and 16 hex digits, data counters count 4-byte words.
//! A switch's ports all share its node GUID as their port GUID, as on InfiniBand switches.

use std::io::Write;

use super::counters::COUNTERS;
use super::topology::guid_text;
use super::{Fabric, PortCounters};

/// Which rows a poller asks for: `?num_shards=N&shard=K&sharding_field=F`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub count: u32,
    pub index: u32,
    pub field: ShardField,
}

/// The field whose value decides a row's shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShardField {
    PortGuid,
    NodeGuid,
    PortNum,
}

impl ShardField {
    /// The names UFM takes for `sharding_field`.
    pub const NAMES: [&str; 3] = ["port_guid", "node_guid", "port_num"];

    pub fn parse(name: &str) -> Option<ShardField> {
        match name {
            "port_guid" => Some(ShardField::PortGuid),
            "node_guid" => Some(ShardField::NodeGuid),
            "port_num" => Some(ShardField::PortNum),
            _ => None,
        }
    }
}

impl Shard {
    /// Whether the row of port `port_num` of the switch with GUID `guid` is in this shard.
    /// A GUID's low bits are spread by the seed, so shards come out even.
    fn holds(&self, guid: u64, port_num: u16) -> bool {
        let value = match self.field {
            ShardField::PortGuid | ShardField::NodeGuid => guid,
            ShardField::PortNum => u64::from(port_num),
        };
        value % u64::from(self.count) == u64::from(self.index)
    }
}

/// One port's row: its switch's GUID, port number, counters and the sample's time.
pub struct Row {
    pub guid: u64,
    pub port_num: u16,
    pub at_ms: u64,
    pub counters: PortCounters,
}

/// Every port's row of the switches in `samples` ((switch number, sample time in Unix ms),
/// in switch order) that `shard` holds, in (switch, port) order; ports a fault took out of
/// the output are left out.
pub fn rows<'a>(
    fabric: &'a Fabric,
    samples: impl Iterator<Item = (u32, u64)> + 'a,
    shard: Option<Shard>,
) -> impl Iterator<Item = Row> + 'a {
    let faults = fabric.faults();
    samples.flat_map(move |(n, at_ms)| {
        let k = fabric.model.step(at_ms);
        let switch = fabric.topology.switches.get(n as usize);
        let guid = switch.map_or(0, |s| s.guid);
        let faults = faults.clone();
        let hidden = faults.clone();
        switch
            .into_iter()
            .flat_map(|s| s.ports.iter())
            .filter(move |p| shard.is_none_or(|s| s.holds(guid, p.num)))
            .filter(move |p| !hidden.hidden(n, p.num, k))
            .map(move |p| Row {
                guid,
                port_num: p.num,
                at_ms,
                counters: fabric.port(&faults, n, p, k),
            })
    })
}

/// The CSV header, with its newline.
pub fn csv_header() -> String {
    header(&ALL)
}

/// Every counter's column, in order.
const ALL: [usize; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

fn header(columns: &[usize]) -> String {
    let mut h = String::from("timestamp,source_id,tag,node_guid,port_guid,port_num");
    for &c in columns {
        h.push(',');
        h.push_str(COUNTERS[c]);
    }
    h.push('\n');
    h
}

/// `/csv/metrics`: the header, then one row per port, each line ending in `\n`.
pub fn csv(rows: impl Iterator<Item = Row>) -> Vec<u8> {
    csv_columns(rows, &ALL)
}

/// The CSV with only the counters `columns` (indices into [`COUNTERS`], in that order):
/// `/csv/cset/NAME`.
pub fn csv_columns(rows: impl Iterator<Item = Row>, columns: &[usize]) -> Vec<u8> {
    let mut out = header(columns).into_bytes();
    let mut int = itoa::Buffer::new();
    for r in rows {
        let guid = guid_text(r.guid);
        out.extend_from_slice(int.format(r.at_ms * 1000).as_bytes());
        for field in [&guid, "0", &guid, &guid] {
            out.push(b',');
            out.extend_from_slice(field.as_bytes());
        }
        out.push(b',');
        out.extend_from_slice(int.format(r.port_num).as_bytes());
        for &c in columns {
            out.push(b',');
            out.extend_from_slice(int.format(r.counters[c]).as_bytes());
        }
        out.push(b'\n');
    }
    out
}

/// `/metrics` (generator listener): one counter family per UFM counter, a series per port
/// labelled `source`, `node_guid`, `port_guid`, `port_num`, stamped with the sample's time
/// in milliseconds. A family's series are written together, as the text format requires.
pub fn prometheus(rows: &[Row]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows.len() * COUNTERS.len() * 120);
    let labels: Vec<String> = rows
        .iter()
        .map(|r| {
            let g = guid_text(r.guid);
            format!(
                "{{source=\"{g}\",node_guid=\"{g}\",port_guid=\"{g}\",port_num=\"{}\"}}",
                r.port_num
            )
        })
        .collect();
    let mut int = itoa::Buffer::new();
    for (i, name) in COUNTERS.iter().enumerate() {
        // Writing into memory cannot fail.
        let _ = writeln!(out, "# HELP {name} UFM port counter {name}.");
        let _ = writeln!(out, "# TYPE {name} counter");
        for (r, l) in rows.iter().zip(&labels) {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(l.as_bytes());
            out.push(b' ');
            out.extend_from_slice(int.format(r.counters[i]).as_bytes());
            out.push(b' ');
            out.extend_from_slice(int.format(r.at_ms).as_bytes());
            out.push(b'\n');
        }
    }
    out
}

/// `/json/metrics`: an array with one object per port, the CSV's columns as its keys
/// (GUIDs as text, every other value a number).
pub fn json(rows: impl Iterator<Item = Row>) -> Vec<u8> {
    let mut out = Vec::from(&b"["[..]);
    let mut int = itoa::Buffer::new();
    for (n, r) in rows.enumerate() {
        let guid = guid_text(r.guid);
        if n > 0 {
            out.push(b',');
        }
        let _ = write!(
            out,
            "{{\"timestamp\":{},\"source_id\":\"{guid}\",\"tag\":0,\"node_guid\":\"{guid}\",\
             \"port_guid\":\"{guid}\",\"port_num\":{}",
            r.at_ms * 1000,
            r.port_num
        );
        for (name, v) in COUNTERS.iter().zip(r.counters) {
            out.extend_from_slice(b",\"");
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"\":");
            out.extend_from_slice(int.format(v).as_bytes());
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> Row {
        let mut counters = [0u64; 16];
        for (i, c) in counters.iter_mut().enumerate() {
            *c = i as u64 * 10;
        }
        counters[0] = u64::MAX;
        Row {
            guid: 0xb8ce_f600_0000_002a,
            port_num: 3,
            at_ms: 1_765_000_000_123,
            counters,
        }
    }

    #[test]
    fn csv_rows_are_unquoted_and_every_line_ends_in_a_newline() {
        let body = String::from_utf8(csv([row()].into_iter())).unwrap();
        assert_eq!(
            body,
            "timestamp,source_id,tag,node_guid,port_guid,port_num,PortXmitDataExtended,\
             PortRcvDataExtended,PortXmitPktsExtended,PortRcvPktsExtended,\
             SymbolErrorCounterExtended,LinkErrorRecoveryCounterExtended,\
             LinkDownedCounterExtended,PortRcvErrorsExtended,\
             PortRcvRemotePhysicalErrorsExtended,PortRcvSwitchRelayErrorsExtended,\
             PortXmitDiscardsExtended,PortXmitConstraintErrorsExtended,\
             PortRcvConstraintErrorsExtended,ExcessiveBufferOverrunErrorsExtended,\
             VL15DroppedExtended,PortXmitWaitExtended\n\
             1765000000123000,0xb8cef6000000002a,0,0xb8cef6000000002a,0xb8cef6000000002a,3,\
             18446744073709551615,10,20,30,40,50,60,70,80,90,100,110,120,130,140,150\n"
        );
        assert_eq!(csv(std::iter::empty()), csv_header().into_bytes());
    }

    #[test]
    fn prometheus_groups_each_counter_family_with_a_millisecond_stamp() {
        let body = String::from_utf8(prometheus(&[row()])).unwrap();
        let lines: Vec<&str> = body.lines().collect();
        assert_eq!(lines.len(), 16 * 3);
        assert_eq!(
            &lines[..3],
            [
                "# HELP PortXmitDataExtended UFM port counter PortXmitDataExtended.",
                "# TYPE PortXmitDataExtended counter",
                "PortXmitDataExtended{source=\"0xb8cef6000000002a\",node_guid=\"0xb8cef6000000002a\",\
                 port_guid=\"0xb8cef6000000002a\",port_num=\"3\"} 18446744073709551615 1765000000123",
            ]
        );
        assert!(
            lines[47].starts_with("PortXmitWaitExtended{")
                && lines[47].ends_with(" 150 1765000000123")
        );
    }

    #[test]
    fn json_has_one_object_per_port_with_the_csv_columns() {
        let body = json([row(), row()].into_iter());
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let rows = v.as_array().unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["timestamp"], 1_765_000_000_123_000u64);
        assert_eq!(rows[0]["node_guid"], "0xb8cef6000000002a");
        assert_eq!(rows[0]["port_num"], 3);
        assert_eq!(rows[0]["PortXmitDataExtended"], u64::MAX);
        assert_eq!(rows[0]["PortXmitWaitExtended"], 150);
        assert_eq!(rows[0].as_object().unwrap().len(), 6 + 16);
    }

    #[test]
    fn shards_split_the_rows_with_none_lost_or_repeated() {
        let config = crate::fabric::topology::Shape {
            leaves: 20,
            spines: 10,
            ports_per_switch: 16,
            hosts_per_leaf: 8,
            link_gbps: 200,
        };
        let fabric = Fabric::new(&config, 3, std::time::Duration::from_secs(1));
        let samples = || (0..30u32).map(|n| (n, 1_790_000_000_000u64));
        let all: Vec<(u64, u16)> = rows(&fabric, samples(), None)
            .map(|r| (r.guid, r.port_num))
            .collect();
        assert_eq!(all.len(), fabric.port_count());
        for field in [ShardField::PortGuid, ShardField::PortNum] {
            let mut seen = Vec::new();
            for index in 0..4 {
                let shard = Shard {
                    count: 4,
                    index,
                    field,
                };
                let part: Vec<(u64, u16)> = rows(&fabric, samples(), Some(shard))
                    .map(|r| (r.guid, r.port_num))
                    .collect();
                assert!(!part.is_empty(), "{field:?} shard {index} empty");
                seen.extend(part);
            }
            seen.sort();
            let mut want = all.clone();
            want.sort();
            assert_eq!(seen, want);
        }
    }
}
