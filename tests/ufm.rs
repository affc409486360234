//! The UFM-compatible mode (`fabric.enabled`) against the real daemon and real Redis, read
//! the way UFM's consumers read it: pandas (`read_csv` on the URL), a parser that splits on
//! `\n` and `,` and drops the last element, and prometheus_client's text parser.

mod common;

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use common::*;
use telemetryd::{Config, logging};

/// Columns before the counters.
const KEY_COLUMNS: usize = 6;

/// A fabric daemon's config: the default fat tree (3 leaves, 2 spines, 8 ports, 4 hosts
/// per leaf: 36 cabled switch ports), sampled every `interval_s`.
fn fabric_config(redis_port: u16, interval_s: f64) -> Config {
    let mut c = config(redis_port, 5, interval_s);
    c.fabric.enabled = true;
    c
}

const PORTS: usize = 3 * 8 + 2 * 6;

/// Runs `script` with python3, the body on stdin; its stdout.
fn python(script: &str, input: &str) -> String {
    use std::io::Write;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 must be installed");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A body's rows by (node_guid, port_num), each its cells.
type Rows = HashMap<(String, u16), Vec<String>>;

/// The CSV body as UFM's streaming plugin reads it: split on `\n`, the last element
/// dropped, each line split on `,`; rows keyed by (node_guid, port_num).
fn split_rows(body: &str) -> (Vec<String>, Rows) {
    let mut lines: Vec<&str> = body.split('\n').collect();
    lines.pop();
    let header: Vec<String> = lines[0].split(',').map(String::from).collect();
    let rows = lines[1..]
        .iter()
        .map(|l| {
            let cells: Vec<String> = l.split(',').map(String::from).collect();
            ((cells[3].clone(), cells[5].parse().unwrap()), cells)
        })
        .collect();
    (header, rows)
}

#[actix_web::test]
async fn the_csv_is_read_whole_by_pandas_and_by_a_split_parser() {
    let redis = TestRedis::start();
    let daemon = start(fabric_config(redis.port, 0.5), logging::discard()).await;
    let url = format!("http://{}/csv/metrics", daemon.generator_addr);
    let reply = get(&url).await;
    assert_eq!(reply.status, 200);
    assert!(reply.content_type.starts_with("text/csv"));
    assert!(reply.body.ends_with('\n') && !reply.body.contains('"'));

    let (header, rows) = split_rows(&reply.body);
    assert_eq!(
        &header[..KEY_COLUMNS],
        [
            "timestamp",
            "source_id",
            "tag",
            "node_guid",
            "port_guid",
            "port_num"
        ]
    );
    assert_eq!(header.len(), KEY_COLUMNS + 16);
    assert_eq!(header[KEY_COLUMNS], "PortXmitDataExtended");
    assert_eq!(header[KEY_COLUMNS + 15], "PortXmitWaitExtended");
    assert_eq!(rows.len(), PORTS, "no row lost");
    for cells in rows.values() {
        assert_eq!(cells.len(), header.len());
        // Microseconds since the epoch, 16 digits until 2286.
        assert_eq!(cells[0].len(), 16, "{cells:?}");
        assert!(cells[3].starts_with("0x") && cells[3].len() == 18);
        for v in &cells[KEY_COLUMNS..] {
            v.parse::<u64>().unwrap();
        }
    }

    // pandas, on the URL itself (off this test's event loop, which serves it).
    let script = r#"
import sys, pandas
df = pandas.read_csv(sys.stdin.read().strip())
counters = df.columns[6:]
print(len(df), len(df.columns))
print(all(str(df[c].dtype) in ("int64", "uint64") for c in counters))
print(str(df["port_num"].dtype), df["node_guid"].str.len().unique().tolist())
print(int(df["timestamp"].min() > 1_700_000_000_000_000))
"#;
    let out = tokio::task::spawn_blocking(move || python(script, &url))
        .await
        .unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], format!("{PORTS} 22"));
    assert_eq!(lines[1], "True", "integer counters");
    assert_eq!(lines[2], "int64 [18]");
    assert_eq!(lines[3], "1");
    daemon.shutdown().await;
}

#[actix_web::test]
async fn prometheus_client_parses_every_port_counter_with_ufm_labels() {
    let redis = TestRedis::start();
    let daemon = start(fabric_config(redis.port, 0.5), logging::discard()).await;
    let reply = get(&format!("http://{}/metrics", daemon.generator_addr)).await;
    assert_eq!(reply.status, 200);
    let script = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
fams = list(text_string_to_metric_families(sys.stdin.read()))
print(len(fams))
for f in fams:
    labels = sorted(f.samples[0].labels)
    print(f.name, f.type, len(f.samples), ",".join(labels), int(f.samples[0].timestamp > 1.7e9))
"#;
    let body = reply.body.clone();
    let out = tokio::task::spawn_blocking(move || python(script, &body))
        .await
        .unwrap();
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("16"));
    let first: Vec<&str> = lines.next().unwrap().split(' ').collect();
    assert_eq!(
        first,
        [
            "PortXmitDataExtended",
            "counter",
            &PORTS.to_string(),
            "node_guid,port_guid,port_num,source",
            "1"
        ]
    );
    assert!(lines.all(|l| l.split(' ').nth(2) == Some(&PORTS.to_string())));
    // The daemon's own metrics stay on the metrics listener.
    let own = get(&format!("http://{}/metrics", daemon.metric_addr)).await;
    assert!(metric(&own.body, "telemetryd_redis_up").is_some());
    assert!(metric(&reply.body, "telemetryd_redis_up").is_none());
    daemon.shutdown().await;
}

/// (switch GUID, port) -> (far switch GUID, far port) for every switch-to-switch link of
/// `/fabric`, and every GUID there.
fn links(fabric: &serde_json::Value) -> Vec<((String, u16), (String, u16))> {
    let mut out = Vec::new();
    for s in fabric["switches"].as_array().unwrap() {
        for p in s["ports"].as_array().unwrap() {
            if p["peer"]["type"] == "switch" {
                out.push((
                    (
                        s["node_guid"].as_str().unwrap().to_string(),
                        p["port_num"].as_u64().unwrap() as u16,
                    ),
                    (
                        p["peer"]["node_guid"].as_str().unwrap().to_string(),
                        p["peer"]["port_num"].as_u64().unwrap() as u16,
                    ),
                ));
            }
        }
    }
    out
}

#[actix_web::test]
async fn both_ends_of_every_link_agree_and_counters_never_fall() {
    let redis = TestRedis::start();
    let interval_ms = 500;
    let daemon = start(fabric_config(redis.port, 0.5), logging::discard()).await;
    let g = daemon.generator_addr;
    let fabric = get(&format!("http://{g}/fabric")).await.json();
    assert_eq!(fabric["switches"].as_array().unwrap().len(), 5);
    assert_eq!(fabric["hosts"], 12);
    let links = links(&fabric);
    assert_eq!(links.len(), 2 * 12, "12 uplinks, seen from both ends");

    let step = |cells: &Vec<String>| cells[0].parse::<u64>().unwrap() / 1000 / interval_ms;
    let mut checked = 0;
    let mut before: Option<Rows> = None;
    // Every switch samples on the same step grid: once a body holds every port at one step,
    // what each end transmits is what the other receives.
    let rows = eventually(
        "a body with every switch at one step",
        Duration::from_secs(20),
        || async {
            let (_, rows) = split_rows(&get(&format!("http://{g}/csv/metrics")).await.body);
            let steps: std::collections::HashSet<u64> = rows.values().map(step).collect();
            (steps.len() == 1).then_some(rows)
        },
    )
    .await;
    for (here, there) in &links {
        let (a, b) = (&rows[here], &rows[there]);
        assert_eq!(
            a[KEY_COLUMNS],
            b[KEY_COLUMNS + 1],
            "xmit {here:?} = rcv {there:?}"
        );
        assert_eq!(a[KEY_COLUMNS + 2], b[KEY_COLUMNS + 3], "packets");
        checked += 1;
    }
    assert_eq!(checked, links.len());
    // Three more bodies: no counter of any port ever falls.
    for _ in 0..3 {
        let (_, rows) = split_rows(&get(&format!("http://{g}/csv/metrics")).await.body);
        if let Some(before) = &before {
            for (key, cells) in &rows {
                for (i, (old, new)) in before[key].iter().zip(cells).enumerate().skip(KEY_COLUMNS) {
                    assert!(
                        new.parse::<u64>().unwrap() >= old.parse::<u64>().unwrap(),
                        "column {i} of {key:?} fell"
                    );
                }
            }
        }
        before = Some(rows);
        tokio::time::sleep(Duration::from_millis(interval_ms)).await;
    }
    daemon.shutdown().await;
}

#[actix_web::test]
async fn a_switch_bandwidth_is_the_sum_of_what_its_ports_carried_in_the_step() {
    let redis = TestRedis::start();
    let interval_ms = 500u64;
    let daemon = start(fabric_config(redis.port, 0.5), logging::discard()).await;
    let (g, m) = (daemon.generator_addr, daemon.metric_addr);
    let guid = get(&format!("http://{g}/fabric")).await.json()["switches"][3]["node_guid"]
        .as_str()
        .unwrap()
        .to_string();
    // Words switch-3 (a spine) sent and received, by step.
    let sums: std::rc::Rc<std::cell::RefCell<HashMap<u64, (u64, u64)>>> = Default::default();
    let (rx, tx, k) = eventually(
        "two consecutive steps and the sample",
        Duration::from_secs(20),
        || {
            let guid = guid.clone();
            let sums = sums.clone();
            async move {
                let body = get(&format!("http://{g}/csv/metrics")).await.body;
                let (_, rows) = split_rows(&body);
                let mine: Vec<&Vec<String>> = rows.values().filter(|c| c[3] == guid).collect();
                let k = mine[0][0].parse::<u64>().unwrap() / 1000 / interval_ms;
                let word = |c: &Vec<String>, i: usize| c[KEY_COLUMNS + i].parse::<u64>().unwrap();
                let tx = mine.iter().map(|c| word(c, 0)).sum::<u64>();
                let rx = mine.iter().map(|c| word(c, 1)).sum::<u64>();
                sums.borrow_mut().insert(k, (rx, tx));
                let sample = get(&format!("http://{m}/telemetry/switch-3")).await.json();
                let at = (sample["updated_at"].as_f64().unwrap() * 1000.0).round() as u64;
                let before = *sums.borrow().get(&(k.wrapping_sub(1)))?;
                (at / interval_ms == k).then(|| {
                    (
                        (sample["bandwidth_in_mbps"].as_f64().unwrap(), rx - before.0),
                        (
                            sample["bandwidth_out_mbps"].as_f64().unwrap(),
                            tx - before.1,
                        ),
                        k,
                    )
                })
            }
        },
    )
    .await;
    let mbps = |words: u64| ((words as f64 * 32.0 / 0.5 / 1e6) * 1000.0).round() / 1000.0;
    assert_eq!(rx.0, mbps(rx.1), "in, step {k}");
    assert_eq!(tx.0, mbps(tx.1), "out, step {k}");
    assert!(tx.0 > 0.0);
    daemon.shutdown().await;
}

#[actix_web::test]
async fn shards_split_the_ports_and_bad_shard_parameters_are_named() {
    let redis = TestRedis::start();
    let daemon = start(fabric_config(redis.port, 0.5), logging::discard()).await;
    let g = daemon.generator_addr;
    for path in ["csv", "json"] {
        let mut total = 0;
        for shard in 0..3 {
            let r = get(&format!(
                "http://{g}/{path}/metrics?num_shards=3&shard={shard}&sharding_field=port_num"
            ))
            .await;
            assert_eq!(r.status, 200);
            let n = if path == "csv" {
                split_rows(&r.body).1.len()
            } else {
                r.json().as_array().unwrap().len()
            };
            assert!(n > 0, "shard {shard} empty");
            total += n;
        }
        assert_eq!(total, PORTS);
    }
    let bad = get(&format!("http://{g}/csv/metrics?num_shards=2&shard=5")).await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["parameter"], "shard", "{}", bad.body);
    let bad = get(&format!(
        "http://{g}/csv/metrics?num_shards=2&shard=1&sharding_field=x"
    ))
    .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["parameter"], "sharding_field");
    daemon.shutdown().await;
}

#[actix_web::test]
async fn without_a_fabric_the_ufm_routes_do_not_exist() {
    let redis = TestRedis::start();
    let daemon = start(config(redis.port, 3, 0.5), logging::discard()).await;
    let g = daemon.generator_addr;
    for path in ["/csv/metrics", "/json/metrics", "/metrics", "/fabric"] {
        let r = get(&format!("http://{g}{path}")).await;
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.json()["error"], "no such route");
    }
    daemon.shutdown().await;
}

#[test]
fn a_fabric_whose_switch_count_disagrees_is_a_config_error_naming_it() {
    let mut c = Config::default();
    c.fabric.enabled = true;
    c.telemetry.switches = 7;
    c.telemetry.seed = Some(1);
    let err = c.validate().unwrap_err();
    let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["telemetry.switches"]);
    c.telemetry.switches = 5;
    c.telemetry.simulate = false;
    c.telemetry.seed = None;
    let err = c.validate().unwrap_err();
    let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["telemetry.seed"]);
}
