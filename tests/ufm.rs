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

/// UFM's counters in the CSV's column order.
use telemetryd::fabric::COUNTERS as CSV_COUNTERS;

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

/// Switch `n`'s per-switch sample at some step k against its ports' rows at k - 1 and k:
/// its bandwidth is the words its ports carried in the step (x 32 bits / 0.5 s), in and out.
/// Returns (bandwidth in, bandwidth out) in Mbit/s and k.
async fn bandwidth_is_the_sum_of_its_ports(
    g: std::net::SocketAddr,
    m: std::net::SocketAddr,
    n: usize,
) -> (f64, f64, u64) {
    let interval_ms = 500u64;
    let guid = get(&format!("http://{g}/fabric")).await.json()["switches"][n]["node_guid"]
        .as_str()
        .unwrap()
        .to_string();
    // Words the switch sent and received, by step.
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
                let sample = get(&format!("http://{m}/telemetry/switch-{n}"))
                    .await
                    .json();
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
    assert_eq!(rx.0, mbps(rx.1), "switch-{n} in, step {k}");
    assert_eq!(tx.0, mbps(tx.1), "switch-{n} out, step {k}");
    (rx.0, tx.0, k)
}

#[actix_web::test]
async fn a_switch_bandwidth_is_the_sum_of_what_its_ports_carried_in_the_step() {
    let redis = TestRedis::start();
    let daemon = start(fabric_config(redis.port, 0.5), logging::discard()).await;
    let (_, tx, _) =
        bandwidth_is_the_sum_of_its_ports(daemon.generator_addr, daemon.metric_addr, 3).await;
    assert!(tx > 0.0);
    daemon.shutdown().await;
}

/// `/metrics` (UFM) and `/json/metrics` as rows keyed like the CSV's: (node GUID, port) ->
/// (sample time in ms, the 16 counters in CSV order).
type Values = HashMap<(String, u16), (u64, Vec<u64>)>;

fn prometheus_values(body: &str) -> Values {
    let mut out: Values = HashMap::new();
    let order: HashMap<&str, usize> = CSV_COUNTERS
        .iter()
        .enumerate()
        .map(|(i, c)| (*c, i))
        .collect();
    for line in body.lines().filter(|l| !l.starts_with('#')) {
        let (name, rest) = line.split_once('{').unwrap();
        let (labels, values) = rest.split_once("} ").unwrap();
        let label = |key: &str| {
            labels
                .split(',')
                .find_map(|kv| kv.strip_prefix(&format!("{key}=\"")))
                .unwrap()
                .trim_end_matches('"')
                .to_string()
        };
        let (value, at) = values.split_once(' ').unwrap();
        let entry = out
            .entry((label("node_guid"), label("port_num").parse().unwrap()))
            .or_insert((at.parse().unwrap(), vec![0; 16]));
        entry.1[order[name]] = value.parse().unwrap();
    }
    out
}

fn json_values(body: &str) -> Values {
    let rows: serde_json::Value = serde_json::from_str(body).unwrap();
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                (
                    r["node_guid"].as_str().unwrap().to_string(),
                    r["port_num"].as_u64().unwrap() as u16,
                ),
                (
                    r["timestamp"].as_u64().unwrap() / 1000,
                    CSV_COUNTERS
                        .iter()
                        .map(|c| r[*c].as_u64().unwrap())
                        .collect(),
                ),
            )
        })
        .collect()
}

fn csv_values(rows: &Rows) -> Values {
    rows.iter()
        .map(|(key, cells)| {
            (
                key.clone(),
                (
                    cells[0].parse::<u64>().unwrap() / 1000,
                    cells[KEY_COLUMNS..]
                        .iter()
                        .map(|v| v.parse().unwrap())
                        .collect(),
                ),
            )
        })
        .collect()
}

/// The three UFM outputs, once they show the same samples: they then agree port for port.
async fn the_three_outputs_agree(g: std::net::SocketAddr) -> Values {
    eventually(
        "the CSV, /metrics and JSON at one snapshot",
        Duration::from_secs(20),
        || async {
            let csv =
                csv_values(&split_rows(&get(&format!("http://{g}/csv/metrics")).await.body).1);
            let prom = prometheus_values(&get(&format!("http://{g}/metrics")).await.body);
            let json = json_values(&get(&format!("http://{g}/json/metrics")).await.body);
            (csv == prom && csv == json).then_some(csv)
        },
    )
    .await
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

/// POSTs `body` (JSON) to `url`, with `token` as bearer when given.
async fn post(url: &str, body: &str, token: Option<&str>) -> Reply {
    let mut req = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    Reply {
        status,
        content_type: String::new(),
        headers,
        body: r.text().await.unwrap(),
    }
}

/// The CSV rows of the first body whose switches' samples are all at or past `step`.
async fn rows_at(g: std::net::SocketAddr, step: u64, interval_ms: u64) -> (u64, Rows) {
    eventually(
        &format!("a body at step {step}"),
        Duration::from_secs(20),
        || async {
            let (_, rows) = split_rows(&get(&format!("http://{g}/csv/metrics")).await.body);
            let steps: Vec<u64> = rows
                .values()
                .map(|c| c[0].parse::<u64>().unwrap() / 1000 / interval_ms)
                .collect();
            let k = *steps.iter().min()?;
            (k >= step && steps.iter().all(|s| *s == k)).then_some((k, rows))
        },
    )
    .await
}

fn counter(rows: &Rows, guid: &str, port: u16, column: usize) -> u64 {
    rows[&(guid.to_string(), port)][KEY_COLUMNS + column]
        .parse()
        .unwrap()
}

/// The step `unix_s` (a fault's `from`) falls in, as the CSV's timestamps count steps.
fn step_of(unix_s: f64, interval_ms: u64) -> u64 {
    (unix_s * 1000.0).round() as u64 / interval_ms
}

#[actix_web::test]
async fn a_link_down_stops_both_directions_and_counts_one_link_down_at_each_end() {
    let redis = TestRedis::start();
    let interval_ms = 500;
    let daemon = start(fabric_config(redis.port, 0.5), logging::discard()).await;
    let g = daemon.generator_addr;
    let fabric = get(&format!("http://{g}/fabric")).await.json();
    let leaf = fabric["switches"][0]["node_guid"]
        .as_str()
        .unwrap()
        .to_string();
    let port5 = &fabric["switches"][0]["ports"][4];
    assert_eq!(port5["port_num"], 5);
    let spine = port5["peer"]["node_guid"].as_str().unwrap().to_string();
    let spine_port = port5["peer"]["port_num"].as_u64().unwrap() as u16;
    let (_, before) = rows_at(g, 0, interval_ms).await;

    let made = post(
        &format!("http://{g}/fabric/faults"),
        r#"{"kind": "link_down", "switch": "switch-0", "port": 5, "duration_s": 5}"#,
        None,
    )
    .await;
    assert_eq!(made.status, 201, "{}", made.body);
    let fault = &made.json()["faults"][0];
    assert_eq!(fault["kind"], "link_down");
    let from = step_of(fault["from"].as_f64().unwrap(), interval_ms);
    let to = step_of(fault["to"].as_f64().unwrap(), interval_ms);
    assert_eq!(to - from, 10, "5 s of 0.5 s steps");

    // Two bodies inside the fault: nothing moved either way on the link.
    let (k1, a) = rows_at(g, from + 1, interval_ms).await;
    assert!(
        k1 < to - 1,
        "the test fell behind: step {k1}, fault ends at {to}"
    );
    let (_, b) = rows_at(g, k1 + 1, interval_ms).await;
    for (guid, port) in [(&leaf, 5u16), (&spine, spine_port)] {
        assert_eq!(
            counter(&a, guid, port, 0),
            counter(&b, guid, port, 0),
            "xmit"
        );
        assert_eq!(
            counter(&a, guid, port, 1),
            counter(&b, guid, port, 1),
            "rcv"
        );
        assert_eq!(
            counter(&b, guid, port, 6),
            counter(&before, guid, port, 6) + 1,
            "link downed"
        );
    }
    // Another uplink of the leaf still carries traffic.
    assert!(counter(&b, &leaf, 6, 0) > counter(&a, &leaf, 6, 0));
    // The leaf's own bandwidth is what its ports carried, port 5 nothing; and the three
    // outputs show the frozen link alike.
    bandwidth_is_the_sum_of_its_ports(g, daemon.metric_addr, 0).await;
    let all = the_three_outputs_agree(g).await;
    assert_eq!(
        all[&(leaf.clone(), 5)].1[6],
        counter(&before, &leaf, 5, 6) + 1
    );
    // After it: moving again, from where it stopped, both ends still in agreement.
    let (_, c) = rows_at(g, to + 1, interval_ms).await;
    assert!(counter(&c, &leaf, 5, 0) > counter(&b, &leaf, 5, 0));
    assert_eq!(counter(&c, &leaf, 5, 0), counter(&c, &spine, spine_port, 1));
    let listed = get(&format!("http://{g}/fabric/faults")).await.json();
    assert_eq!(listed["faults"].as_array().unwrap().len(), 1);
    daemon.shutdown().await;
}

#[actix_web::test]
async fn bursts_congestion_gone_ports_and_resets_show_in_every_output() {
    let redis = TestRedis::start();
    let interval_ms = 500;
    let daemon = start(fabric_config(redis.port, 0.5), logging::discard()).await;
    let (g, m) = (daemon.generator_addr, daemon.metric_addr);
    let fabric = get(&format!("http://{g}/fabric")).await.json();
    let guid = |n: usize| {
        fabric["switches"][n]["node_guid"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (_, before) = rows_at(g, 0, interval_ms).await;
    let errors_before =
        get(&format!("http://{m}/telemetry/switch-1")).await.json()["packet_errors"]
            .as_u64()
            .unwrap();

    let made = post(
        &format!("http://{g}/fabric/faults"),
        r#"[{"kind": "symbol_errors", "switch": "switch-1", "port": 2, "count": 1000},
            {"kind": "congestion", "switch": "switch-1", "port": 5, "throughput": 0.1, "duration_s": 30},
            {"kind": "port_gone", "switch": "switch-2", "port": 3, "duration_s": 30},
            {"kind": "switch_gone", "switch": "switch-4", "duration_s": 30},
            {"kind": "reset", "switch": "switch-0", "port": 1}]"#,
        None,
    )
    .await;
    assert_eq!(made.status, 201, "{}", made.body);
    let from = step_of(
        made.json()["faults"][0]["from"].as_f64().unwrap(),
        interval_ms,
    );
    let (k, after) = rows_at(g, from, interval_ms).await;
    let (_, later) = rows_at(g, k + 1, interval_ms).await;

    // The burst: 1,000 symbol errors and 250 receive errors more, in the per-switch API too.
    assert!(counter(&after, &guid(1), 2, 4) >= counter(&before, &guid(1), 2, 4) + 1000);
    assert!(counter(&after, &guid(1), 2, 7) >= counter(&before, &guid(1), 2, 7) + 250);
    // A switch's own sample, once it is one of a step the fault covers.
    let sample_after = |n: u32, step: u64| async move {
        eventually(
            "the switch's sample after the fault",
            Duration::from_secs(20),
            || async {
                let s = get(&format!("http://{m}/telemetry/switch-{n}"))
                    .await
                    .json();
                let at = (s["updated_at"].as_f64().unwrap() * 1000.0).round() as u64 / interval_ms;
                (at >= step).then_some(s)
            },
        )
        .await
    };
    let errors = sample_after(1, from).await["packet_errors"]
        .as_u64()
        .unwrap();
    assert!(errors >= errors_before + 250, "{errors_before} -> {errors}");
    // Congestion (port 5 goes to switch-3, which stays): a tenth of the traffic, and the
    // wait climbing by about 0.9 s a second.
    let sent = |r: &Rows, port| counter(r, &guid(1), port, 0);
    let wait = |r: &Rows| counter(r, &guid(1), 5, 15);
    assert!(
        wait(&later) - wait(&after) >= 400_000,
        "{} -> {}",
        wait(&after),
        wait(&later)
    );
    let congested = sent(&later, 5) - sent(&after, 5);
    let free = sent(&later, 7) - sent(&after, 7);
    assert!(congested > 0 && congested < free, "{congested} vs {free}");
    // Gone: the port, and every port of the spine, out of every output.
    assert!(!after.contains_key(&(guid(2), 3)) && after.contains_key(&(guid(2), 4)));
    assert!(!after.keys().any(|(g, _)| *g == guid(4)));
    assert_eq!(after.len(), PORTS - 1 - 6);
    let prom = get(&format!("http://{g}/metrics")).await.body;
    assert!(!prom.contains(&guid(4)));
    let json = get(&format!("http://{g}/json/metrics")).await.json();
    assert_eq!(json.as_array().unwrap().len(), PORTS - 7);
    // The spine carries nothing while gone (from the fault's second step: the first one's
    // sample counts the step before it).
    let spine = sample_after(4, from + 1).await;
    assert_eq!(spine["bandwidth_out_mbps"], 0.0, "{spine}");
    assert_eq!(spine["bandwidth_in_mbps"], 0.0, "{spine}");
    // Every fault shows the same in /metrics and /json/metrics as in the CSV: the burst, the
    // congested wait, the reset, the gone rows.
    let all = the_three_outputs_agree(g).await;
    assert!(all[&(guid(1), 2)].1[4] >= counter(&before, &guid(1), 2, 4) + 1000);
    assert!(!all.contains_key(&(guid(2), 3)) && !all.keys().any(|(x, _)| *x == guid(4)));
    // The congested leaf's own bandwidth is still what its ports carried.
    let (_, out, _) = bandwidth_is_the_sum_of_its_ports(g, m, 1).await;
    assert!(out > 0.0);
    // The reset: the port counts from 0 again.
    assert!(counter(&after, &guid(0), 1, 0) < counter(&before, &guid(0), 1, 0));
    assert_eq!(counter(&after, &guid(0), 1, 4), 0);
    // Counted by kind in the daemon's own metrics.
    let own = get(&format!("http://{m}/metrics")).await.body;
    assert_eq!(
        metric(&own, r#"telemetryd_fabric_faults_total{kind="congestion"}"#),
        Some(1.0)
    );
    daemon.shutdown().await;
}

#[actix_web::test]
async fn injecting_a_fault_needs_an_admin_token_and_a_bad_event_is_named() {
    let redis = TestRedis::start();
    let mut c = fabric_config(redis.port, 0.5);
    c.auth.tokens = vec![
        telemetryd::config::TokenConfig {
            name: "dash".into(),
            scope: telemetryd::config::Scope::Read,
            sha256: telemetryd::auth::sha256_hex(b"read-token"),
            rate_per_second: None,
            burst: None,
        },
        telemetryd::config::TokenConfig {
            name: "ops".into(),
            scope: telemetryd::config::Scope::Admin,
            sha256: telemetryd::auth::sha256_hex(b"admin-token"),
            rate_per_second: None,
            burst: None,
        },
    ];
    let daemon = start(c, logging::discard()).await;
    let url = format!("http://{}/fabric/faults", daemon.generator_addr);
    let event = r#"{"kind": "link_down", "switch": "switch-0", "port": 5}"#;
    assert_eq!(post(&url, event, None).await.status, 401);
    let refused = post(&url, event, Some("read-token")).await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.json()["scope_needed"], "admin");
    for (body, field) in [
        (
            r#"{"kind": "meteor", "switch": "switch-0", "port": 5}"#,
            "kind",
        ),
        (
            r#"{"kind": "link_down", "switch": "switch-9", "port": 5}"#,
            "switch",
        ),
        (
            r#"{"kind": "link_down", "switch": "switch-0", "port": 99}"#,
            "port",
        ),
        (r#"{"kind": "link_down", "switch": "switch-0"}"#, "port"),
        (
            r#"{"kind": "symbol_errors", "switch": "switch-0", "port": 1}"#,
            "count",
        ),
        (
            r#"{"kind": "congestion", "switch": "switch-0", "port": 1, "throughput": 2}"#,
            "throughput",
        ),
        (
            r#"{"kind": "flap", "switch": "switch-0", "port": 5, "duration_s": 10}"#,
            "period_s",
        ),
        (
            r#"{"kind": "link_down", "switch": "switch-0", "port": 5, "colour": 1}"#,
            "body",
        ),
        ("[]", "body"),
        ("not json", "body"),
    ] {
        let r = post(&url, body, Some("admin-token")).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert_eq!(r.json()["parameter"], field, "{body}: {}", r.body);
    }
    // Nothing was injected by any of them; the admin's event is.
    let listed = reqwest::Client::new()
        .get(&url)
        .bearer_auth("read-token")
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(listed["faults"].as_array().unwrap().len(), 0);
    let flap =
        r#"{"kind": "flap", "switch": "switch-0", "port": 5, "duration_s": 4, "period_s": 2}"#;
    let made = post(&url, flap, Some("admin-token")).await;
    assert_eq!(made.status, 201, "{}", made.body);
    assert_eq!(
        made.json()["faults"].as_array().unwrap().len(),
        2,
        "two downs in 4 s"
    );
    daemon.shutdown().await;
}

#[actix_web::test]
async fn a_scenario_file_replays_the_same_faults_from_each_start() {
    let redis = TestRedis::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scenario.yaml");
    std::fs::write(
        &path,
        "events:\n\
         - {at_s: 1, kind: link_down, switch: switch-0, port: 5, duration_s: 2}\n\
         - {at_s: 2, kind: symbol_errors, switch: switch-3, port: 2, count: 500}\n\
         - {at_s: 3, kind: flap, switch: switch-1, port: 6, duration_s: 4, period_s: 1}\n",
    )
    .unwrap();
    let mut runs = Vec::new();
    for _ in 0..2 {
        let mut c = fabric_config(redis.port, 0.5);
        c.fabric.scenario = Some(path.display().to_string());
        let (log, lines) = capture_logger();
        let daemon = start(c, log).await;
        let listed = get(&format!("http://{}/fabric/faults", daemon.generator_addr))
            .await
            .json();
        let faults = listed["faults"].as_array().unwrap().clone();
        let start = faults[0]["from_step"].as_u64().unwrap() - 2;
        // Every fault relative to the start: the same in both runs.
        let relative: Vec<(String, String, u64, Option<u64>)> = faults
            .iter()
            .map(|f| {
                (
                    f["kind"].as_str().unwrap().to_string(),
                    f["switch"].as_str().unwrap().to_string(),
                    f["from_step"].as_u64().unwrap() - start,
                    f["to_step"].as_u64().map(|t| t - start),
                )
            })
            .collect();
        let text = log_text(&lines);
        let line = text
            .lines()
            .map(logfmt)
            .find(|l| l["msg"] == "Faults injected.")
            .expect("the injection logged");
        assert_eq!(line["source"], "scenario");
        assert_eq!(line["faults"], "6");
        runs.push(relative);
        daemon.shutdown().await;
    }
    assert_eq!(runs[0], runs[1]);
    assert_eq!(runs[0].len(), 1 + 1 + 4, "a flap of 4 s at 1 s: four downs");
    assert_eq!(
        runs[0][0],
        ("link_down".into(), "switch-0".into(), 2, Some(6))
    );

    // A scenario naming a port the fabric lacks stops the start, naming the key.
    std::fs::write(
        &path,
        "events:\n- {kind: link_down, switch: switch-0, port: 42}\n",
    )
    .unwrap();
    let mut c = fabric_config(redis.port, 0.5);
    c.fabric.scenario = Some(path.display().to_string());
    let err = c.validate().unwrap_err();
    assert_eq!(err.problems.len(), 1);
    assert_eq!(err.problems[0].key, "fabric.scenario");
    assert!(
        err.problems[0]
            .message
            .contains("event 1 (link_down): port"),
        "{}",
        err.problems[0].message
    );
}

#[actix_web::test]
async fn every_port_is_kept_in_redis_with_its_switch_as_the_csv_shows_it() {
    let redis = TestRedis::start();
    let interval_ms = 500;
    let daemon = start(fabric_config(redis.port, 0.5), logging::discard()).await;
    let g = daemon.generator_addr;
    let guid = get(&format!("http://{g}/fabric")).await.json()["switches"][1]["node_guid"]
        .as_str()
        .unwrap()
        .to_string();
    // A body and Redis at the same step of switch-1.
    let (hash, rows) = eventually(
        "Redis and the CSV at one step",
        Duration::from_secs(20),
        || {
            let guid = guid.clone();
            let redis = &redis;
            async move {
                let (_, rows) = split_rows(&get(&format!("http://{g}/csv/metrics")).await.body);
                let hash = redis.hash(1).await;
                let stored: f64 = hash.get("updated_at")?.parse().ok()?;
                let shown = rows[&(guid.clone(), 1)][0].parse::<u64>().ok()? / 1000;
                ((stored * 1000.0).round() as u64 / interval_ms == shown / interval_ms)
                    .then_some((hash, rows))
            }
        },
    )
    .await;
    let ports: Vec<&String> = hash.keys().filter(|k| k.starts_with("port:")).collect();
    assert_eq!(ports.len(), 8, "a leaf's eight ports: {ports:?}");
    for n in 1..=8u16 {
        let stored: Vec<&str> = hash[&format!("port:{n}")].split(',').collect();
        assert_eq!(stored.len(), 16);
        assert_eq!(stored, rows[&(guid.clone(), n)][KEY_COLUMNS..], "port {n}");
    }
    // The metric fields are still there, as before.
    assert!(hash.contains_key("bandwidth_in_mbps") && hash.contains_key("latency_ms"));
    daemon.shutdown().await;
}

#[actix_web::test]
async fn a_counter_set_file_picks_the_columns_of_cset_and_leaves_them_out_of_xcset() {
    let redis = TestRedis::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("errors.cset"),
        "# link health\nSymbolErrorCounterExtended\nLinkDownedCounterExtended  # flaps\n\nPortXmitWaitExtended\n",
    )
    .unwrap();
    let mut c = fabric_config(redis.port, 0.5);
    c.fabric.counter_sets = Some(dir.path().display().to_string());
    let daemon = start(c, logging::discard()).await;
    let g = daemon.generator_addr;

    let body = get(&format!("http://{g}/csv/cset/errors")).await;
    assert_eq!(body.status, 200);
    let (header, rows) = split_rows(&body.body);
    assert_eq!(
        &header[KEY_COLUMNS..],
        [
            "SymbolErrorCounterExtended",
            "LinkDownedCounterExtended",
            "PortXmitWaitExtended"
        ]
    );
    assert_eq!(rows.len(), PORTS);
    assert!(rows.values().all(|cells| cells.len() == KEY_COLUMNS + 3));

    let (header, rows) = split_rows(&get(&format!("http://{g}/csv/xcset/errors")).await.body);
    assert_eq!(header.len(), KEY_COLUMNS + 13);
    assert!(!header.iter().any(|h| h == "PortXmitWaitExtended"));
    assert_eq!(rows.len(), PORTS);
    // Sharded like the whole CSV.
    let (_, part) = split_rows(
        &get(&format!(
            "http://{g}/csv/cset/errors?num_shards=2&shard=0&sharding_field=port_num"
        ))
        .await
        .body,
    );
    assert!(!part.is_empty() && part.len() < PORTS);

    let unknown = get(&format!("http://{g}/csv/cset/nope")).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["error"], "no such route");
    daemon.shutdown().await;

    // A counter UFM does not have is a config error naming the file and line.
    std::fs::write(
        dir.path().join("bad.cset"),
        "PortXmitDataExtended\nPortBogus\n",
    )
    .unwrap();
    let mut c = fabric_config(redis.port, 0.5);
    c.fabric.counter_sets = Some(dir.path().display().to_string());
    let err = c.validate().unwrap_err();
    assert_eq!(err.problems.len(), 1);
    assert_eq!(err.problems[0].key, "fabric.counter_sets");
    assert!(
        err.problems[0]
            .message
            .contains("bad.cset:2: \"PortBogus\""),
        "{}",
        err.problems[0].message
    );
}

#[actix_web::test]
async fn a_flap_downs_the_link_once_per_period_at_both_ends() {
    let redis = TestRedis::start();
    let interval_ms = 500;
    let daemon = start(fabric_config(redis.port, 0.5), logging::discard()).await;
    let g = daemon.generator_addr;
    let fabric = get(&format!("http://{g}/fabric")).await.json();
    let leaf = fabric["switches"][1]["node_guid"]
        .as_str()
        .unwrap()
        .to_string();
    let port6 = &fabric["switches"][1]["ports"][5];
    let spine = port6["peer"]["node_guid"].as_str().unwrap().to_string();
    let spine_port = port6["peer"]["port_num"].as_u64().unwrap() as u16;
    let (_, before) = rows_at(g, 0, interval_ms).await;
    let made = post(
        &format!("http://{g}/fabric/faults"),
        r#"{"kind": "flap", "switch": "switch-1", "port": 6, "duration_s": 3, "period_s": 1}"#,
        None,
    )
    .await;
    assert_eq!(made.status, 201, "{}", made.body);
    let faults = made.json()["faults"].as_array().unwrap().clone();
    assert_eq!(faults.len(), 3, "three periods of 1 s in 3 s");
    let last = step_of(faults[2]["to"].as_f64().unwrap(), interval_ms);
    let (_, after) = rows_at(g, last, interval_ms).await;
    for (guid, port) in [(&leaf, 6u16), (&spine, spine_port)] {
        assert_eq!(
            counter(&after, guid, port, 6),
            counter(&before, guid, port, 6) + 3,
            "{guid} {port}"
        );
    }
    // Up again: traffic moves, both ends agree, and the three outputs show it alike.
    let all = the_three_outputs_agree(g).await;
    assert_eq!(
        all[&(leaf.clone(), 6)].1[0],
        all[&(spine.clone(), spine_port)].1[1]
    );
    daemon.shutdown().await;
}
