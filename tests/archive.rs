//! `telemetryd archive` against a real tansu broker and a real MariaDB: every sample
//! archived exactly once through crashes, database outages and a shared group.

mod common;

use std::time::Duration;

use common::kafka::TestKafka;
use common::mariadb::TestMariaDb;
use common::{DaemonProcess, binary, eventually, free_port, get, metric};
use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use telemetryd::archive::{self, Archiver};
use telemetryd::config::Secret;
use telemetryd::model::{Sample, SwitchId};
use telemetryd::stream::record;
use telemetryd::{Config, logging};

const TOPIC: &str = "telemetry.samples";

/// A broker with the topic in `partitions` partitions, and a database.
fn backends(partitions: u32) -> (TestKafka, TestMariaDb) {
    let kafka = TestKafka::start();
    kafka.create_topic(TOPIC, partitions);
    (kafka, TestMariaDb::start())
}

/// An archiver process (for SIGKILL); returns it and its listener's port.
fn archiver_process(
    kafka: &TestKafka,
    db: &TestMariaDb,
    extra: &[(&str, &str)],
) -> (DaemonProcess, u16) {
    let port = free_port();
    let mut command = binary();
    command.arg("archive");
    let p = DaemonProcess::builder(6379)
        .command(command)
        .env(
            "TELEMETRYD_KAFKA__BROKERS",
            &format!("[{}]", kafka.broker()),
        )
        .env("TELEMETRYD_HISTORY__DATABASE", &db.url())
        .env("TELEMETRYD_HISTORY__PASSWORD", db.password())
        .env("TELEMETRYD_ARCHIVE__PORT", &port.to_string())
        .env("TELEMETRYD_ARCHIVE__BATCH_WAIT_MS", "50")
        .envs(extra)
        .start();
    (p, port)
}

/// The archiver's config for these backends; `adjust` changes it further.
fn archive_config(kafka: &TestKafka, db: &TestMariaDb, adjust: impl FnOnce(&mut Config)) -> Config {
    let mut c = Config::default();
    c.logging.file = None;
    c.kafka.brokers = vec![kafka.broker()];
    c.history.database = Some(db.url());
    c.history.password = Some(Secret::new(db.password()));
    c.archive.port = 0;
    c.archive.batch_wait_ms = 50;
    c.shutdown.timeout_seconds = 5.0;
    adjust(&mut c);
    c
}

/// An archiver in this process (its lines traced by the coverage run); stopped in order
/// by `shutdown`, or with the test.
async fn archiver(
    kafka: &TestKafka,
    db: &TestMariaDb,
    adjust: impl FnOnce(&mut Config),
) -> Archiver {
    archive::run(archive_config(kafka, db, adjust), logging::discard())
        .await
        .expect("the archiver starts")
}

fn sample(n: u64, updated_at_ms: u64) -> Sample {
    Sample {
        switch: SwitchId((n % 50) as u32),
        bandwidth_in_mbps: 100.0 + n as f64,
        bandwidth_out_mbps: 50.0,
        latency_ms: 1.5,
        packet_errors: n,
        updated_at_ms,
    }
}

/// Produces samples `from..to`, each distinct, keyed by switch as the daemon does.
async fn produce(kafka: &TestKafka, from: u64, to: u64) {
    produce_to(kafka.broker(), from, to).await
}

async fn produce_to(broker: String, from: u64, to: u64) {
    // One record per batch: tansu, asked to fetch from an offset inside a batch, answers
    // from the next batch on (reproduced with librdkafka 2.16: a fetch at 50 of a 100-record
    // batch gets offsets 100 on). A consumer resuming at a committed offset, as a restarted
    // or rebalanced archiver does, would lose the rest of that batch to the broker; Kafka
    // itself returns the whole batch and the client skips what it has.
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", broker)
        .set("batch.num.messages", "1")
        .create()
        .unwrap();
    let now = telemetryd::model::now_unix_ms();
    // Every record in flight at once (librdkafka batches them), each delivery awaited.
    let deliveries: Vec<_> = (from..to)
        .map(|n| {
            let s = sample(n, now + n);
            let (mut payload, mut key) = (Vec::new(), String::new());
            record::encode(&s, &mut payload);
            record::key(s.switch, &mut key);
            let producer = producer.clone();
            async move { produce_raw(&producer, &key, &payload).await }
        })
        .collect();
    futures_util::future::join_all(deliveries).await;
}

async fn produce_raw(producer: &FutureProducer, key: &str, payload: &[u8]) {
    producer
        .send(
            FutureRecord::to(TOPIC).key(key).payload(payload),
            Duration::from_secs(10),
        )
        .await
        .expect("record delivered");
}

/// (rows, distinct samples) in the archive.
fn counts(db: &TestMariaDb) -> (u64, u64) {
    let out =
        db.sql("SELECT COUNT(*), COUNT(DISTINCT switch_id, updated_at) FROM telemetry.samples");
    let mut it = out.split_whitespace().map(|v| v.parse().unwrap());
    (it.next().unwrap(), it.next().unwrap())
}

/// Waits until the archive holds `n` rows (the table may not exist yet).
async fn wait_rows(db: &TestMariaDb, n: u64, within: Duration) {
    eventually(&format!("{n} rows archived"), within, || async {
        let out =
            db.sql("SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'samples'");
        (out.trim() == "1" && counts(db).0 == n).then_some(())
    })
    .await;
}

#[actix_web::test]
async fn every_sample_is_archived_once_after_the_archiver_is_killed_mid_stream() {
    let (kafka, db) = backends(4);
    // A static member, as the unit runs it: restarted, it is given its partitions back.
    let id = ("TELEMETRYD_ARCHIVE__INSTANCE_ID", "archiver-1");
    let (mut first, _) =
        archiver_process(&kafka, &db, &[("TELEMETRYD_ARCHIVE__BATCH_SIZE", "50"), id]);
    // Records keep coming while the archiver is killed, between its batches or inside one.
    let producing = actix_web::rt::spawn(produce_to(kafka.broker(), 0, 3_000));
    let archived_at_kill = eventually("100 rows archived", Duration::from_secs(60), || async {
        let out =
            db.sql("SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'samples'");
        let rows = if out.trim() == "1" { counts(&db).0 } else { 0 };
        (rows >= 100).then_some(rows)
    })
    .await;
    first.signal("KILL");
    first.wait_exit(Duration::from_secs(5));
    producing.await.unwrap();
    assert!(
        archived_at_kill < 3_000,
        "killed after {archived_at_kill} rows: not mid-stream"
    );
    let (second, _) = archiver_process(&kafka, &db, &[id]);
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while counts(&db).0 != 3_000 {
        assert!(
            std::time::Instant::now() < deadline,
            "{} of 3000 rows after 90 s; the restarted archiver said:\n{}\ntansu said:\n{}",
            counts(&db).0,
            second.stderr(),
            kafka.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(counts(&db), (3_000, 3_000));
}

#[actix_web::test]
async fn no_sample_is_lost_while_the_database_is_away() {
    let (kafka, mut db) = backends(2);
    let _archiver = archiver(&kafka, &db, |_| {}).await;
    produce(&kafka, 0, 500).await;
    wait_rows(&db, 500, Duration::from_secs(60)).await;
    db.stop();
    produce(&kafka, 500, 1_000).await;
    // The outage itself (the 30 s), not a wait for a state; the archiver keeps
    // retrying meanwhile in this process.
    tokio::time::sleep(Duration::from_secs(30)).await;
    db.start_again();
    wait_rows(&db, 1_000, Duration::from_secs(60)).await;
    assert_eq!(counts(&db), (1_000, 1_000));
}

#[actix_web::test]
async fn two_archivers_in_one_group_share_the_partitions_and_archive_everything_once() {
    let (kafka, db) = backends(4);
    let a = archiver(&kafka, &db, |_| {}).await;
    let b = archiver(&kafka, &db, |_| {}).await;
    // Both in the group, the four partitions split between them, before any record.
    let assigned = |addr: std::net::SocketAddr| async move {
        let health = get(&format!("http://{addr}/healthz")).await.json();
        let partitions: Vec<i64> = health["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_i64().unwrap())
            .collect();
        partitions
    };
    eventually("the partitions shared", Duration::from_secs(60), || async {
        let (mut pa, pb) = (assigned(a.addr).await, assigned(b.addr).await);
        let shared = !pa.is_empty() && !pb.is_empty();
        pa.extend(pb);
        pa.sort_unstable();
        (shared && pa == [0, 1, 2, 3]).then_some(())
    })
    .await;
    produce(&kafka, 0, 2_000).await;
    wait_rows(&db, 2_000, Duration::from_secs(90)).await;
    assert_eq!(counts(&db), (2_000, 2_000));
    for addr in [a.addr, b.addr] {
        let url = format!("http://{addr}/metrics");
        eventually(
            "each archiver wrote rows",
            Duration::from_secs(30),
            || async {
                let body = get(&url).await.body;
                (metric(&body, "telemetryd_archive_rows_total").unwrap_or(0.0) > 0.0).then_some(())
            },
        )
        .await;
    }
    a.shutdown().await;
    b.shutdown().await;
}

#[actix_web::test]
async fn a_bad_record_is_counted_and_skipped() {
    let (kafka, db) = backends(1);
    let archiver = archiver(&kafka, &db, |_| {}).await;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", kafka.broker())
        .create()
        .unwrap();
    produce_raw(&producer, "switch-1", b"{not a sample").await;
    produce(&kafka, 0, 10).await;
    wait_rows(&db, 10, Duration::from_secs(60)).await;
    let url = format!("http://{}/metrics", archiver.addr);
    let body = get(&url).await.body;
    assert_eq!(
        metric(&body, "telemetryd_archive_bad_records_total"),
        Some(1.0),
        "{body}"
    );
}

#[actix_web::test]
async fn retention_deletes_rows_older_than_it_and_keeps_the_rest() {
    let (kafka, db) = backends(1);
    db.sql(
        "CREATE TABLE telemetry.samples (switch_id INT UNSIGNED NOT NULL, \
         updated_at BIGINT UNSIGNED NOT NULL, bandwidth_in_mbps DOUBLE NOT NULL, \
         bandwidth_out_mbps DOUBLE NOT NULL, latency_ms DOUBLE NOT NULL, \
         packet_errors BIGINT UNSIGNED NOT NULL, PRIMARY KEY (switch_id, updated_at), \
         KEY samples_by_time (updated_at)) ENGINE = InnoDB; \
         INSERT INTO telemetry.samples VALUES (1, 1000, 1, 1, 1, 1), (2, 2000, 1, 1, 1, 1), (3, 3000, 1, 1, 1, 1);",
    );
    let _archiver = archiver(&kafka, &db, |c| {
        c.archive.retention = "1m".into();
        c.archive.retention_batch = 2;
    })
    .await;
    produce(&kafka, 0, 5).await;
    wait_rows(&db, 5, Duration::from_secs(60)).await;
    let old = db.sql("SELECT COUNT(*) FROM telemetry.samples WHERE updated_at < 10000");
    assert_eq!(old.trim(), "0");
}

/// Every record on the topic for `switch`, read by a fresh group until one stamped at or
/// after `until_ms` arrives (a switch's records keep their order in its partition).
fn streamed(broker: &str, switch: u32, until_ms: u64) -> Vec<Sample> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker)
        .set("group.id", "test-history-oracle")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[TOPIC]).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut got = Vec::new();
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} records of switch-{switch} read",
            got.len()
        );
        let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let s = record::decode(m.payload().unwrap()).expect("the daemon's records decode");
        if s.switch.0 != switch {
            continue;
        }
        if s.updated_at_ms >= until_ms {
            return got;
        }
        got.push(s);
    }
}

#[actix_web::test]
async fn history_from_the_archive_is_every_sample_the_daemon_streamed() {
    let (kafka, db) = backends(2);
    let _archiver = archiver(&kafka, &db, |_| {}).await;
    let redis = common::TestRedis::start();
    let mut c = common::config(redis.port, 3, 0.1);
    c.kafka.brokers = vec![kafka.broker()];
    c.history.database = Some(db.url());
    c.history.password = Some(Secret::new(db.password()));
    let from_ms = telemetryd::model::now_unix_ms();
    let daemon = common::start(c, logging::discard()).await;
    let m = daemon.metric_addr;
    eventually(
        "three seconds of samples",
        Duration::from_secs(10),
        || async { (telemetryd::model::now_unix_ms() > from_ms + 3_000).then_some(()) },
    )
    .await;
    let to_ms = telemetryd::model::now_unix_ms() - 500;
    let broker = kafka.broker();
    // The consumer blocks: off this test's event loop.
    let expected = tokio::task::spawn_blocking(move || streamed(&broker, 1, to_ms))
        .await
        .unwrap();
    let expected: Vec<&Sample> = expected
        .iter()
        .filter(|s| s.updated_at_ms >= from_ms)
        .collect();
    assert!(expected.len() >= 20, "only {} samples", expected.len());

    let range = format!(
        "from={}&to={}",
        from_ms as f64 / 1000.0,
        to_ms as f64 / 1000.0
    );
    let url = format!("http://{m}/telemetry/switch-1/latency_ms/history?{range}");
    let body = eventually("the range archived", Duration::from_secs(30), || async {
        let r = get(&url).await;
        let body = r.json();
        (r.status == 200 && body["points"].as_array().unwrap().len() == expected.len())
            .then_some(body)
    })
    .await;
    assert_eq!(body["source"], "database", "{body}");
    let got: Vec<(u64, f64)> = body["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                (p["t"].as_f64().unwrap() * 1000.0).round() as u64,
                p["value"].as_f64().unwrap(),
            )
        })
        .collect();
    let want: Vec<(u64, f64)> = expected
        .iter()
        .map(|s| (s.updated_at_ms, s.latency_ms))
        .collect();
    assert_eq!(got, want, "the archive's series is the stream's");

    // Bucketed: every sample counted once, each bucket's extremes the stream's.
    let buckets = get(&format!("{url}&step=1")).await.json();
    let buckets = buckets["points"].as_array().unwrap();
    let total: u64 = buckets.iter().map(|b| b["count"].as_u64().unwrap()).sum();
    assert_eq!(total as usize, expected.len());
    for b in buckets {
        let start = (b["t"].as_f64().unwrap() * 1000.0).round() as u64;
        let inside: Vec<f64> = want
            .iter()
            .filter(|(t, _)| (start..start + 1000).contains(t))
            .map(|&(_, v)| v)
            .collect();
        assert_eq!(inside.len() as u64, b["count"].as_u64().unwrap(), "{b}");
        let max = inside.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        assert_eq!(b["max"].as_f64().unwrap(), max, "{b}");
    }
    daemon.shutdown().await;
}

#[test]
fn the_readme_grants_the_archiver_exactly_the_rights_the_tests_run_it_with() {
    let readme = include_str!("../README.md");
    let grant = readme
        .lines()
        .find_map(|l| l.trim().strip_prefix("GRANT "))
        .expect("the README's GRANT line");
    let rights = grant.split(" ON ").next().unwrap();
    assert_eq!(rights, common::mariadb::PRIVILEGES);
}

#[actix_web::test]
async fn a_stopped_daemon_closes_its_history_connections_instead_of_dropping_them() {
    let db = TestMariaDb::start();
    let aborted = || {
        db.sql("SHOW GLOBAL STATUS LIKE 'Aborted_clients'")
            .split_whitespace()
            .last()
            .and_then(|v| v.parse::<u64>().ok())
            .expect("Aborted_clients")
    };
    let redis = common::TestRedis::start();
    let mut c = common::config(redis.port, 2, 0.2);
    c.history.database = Some(db.url());
    c.history.password = Some(Secret::new(db.password()));
    let before = aborted();
    let daemon = common::start(c, logging::discard()).await;
    // Queries open the pool's connections (a missing table is an answer all the same).
    for _ in 0..3 {
        let r = get(&format!(
            "http://{}/telemetry/switch-1/latency_ms/history",
            daemon.metric_addr
        ))
        .await;
        assert!(r.status == 200 || r.status == 503, "{}", r.body);
    }
    let open = db.sql("SHOW GLOBAL STATUS LIKE 'Threads_connected'");
    daemon.shutdown().await;
    assert_eq!(
        aborted(),
        before,
        "connections dropped unclosed (open before: {open})"
    );
}
