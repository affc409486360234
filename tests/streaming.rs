//! The daemon's Kafka writer against a real Kafka-protocol broker (tansu) and a real
//! redis-server: every sample as a record keyed by its switch, and a broker that goes away
//! slowing nothing else, with what was dropped counted.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::kafka::TestKafka;
use common::*;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use telemetryd::logging;
use telemetryd::stream::record;

const TOPIC: &str = "telemetry.samples";

fn consumer(broker: &str, group: &str) -> BaseConsumer {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    c.subscribe(&[TOPIC]).unwrap();
    c
}

type Records = Vec<(String, telemetryd::model::Sample)>;

/// Records read by a fresh `group` until `enough` says so, or the test fails after
/// `within`. The consumer blocks, so it runs off the test's event loop.
async fn consume_until(
    broker: &TestKafka,
    group: &'static str,
    within: Duration,
    mut enough: impl FnMut(&Records) -> bool + Send + 'static,
) -> Records {
    let broker = broker.broker();
    tokio::task::spawn_blocking(move || {
        let c = consumer(&broker, group);
        let deadline = Instant::now() + within;
        let mut got = Vec::new();
        while !enough(&got) {
            assert!(
                Instant::now() < deadline,
                "only {} records after {within:?}",
                got.len()
            );
            if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
                let key = String::from_utf8(m.key().unwrap().to_vec()).unwrap();
                let sample = record::decode(m.payload().unwrap()).expect("a sample record");
                got.push((key, sample));
            }
        }
        got
    })
    .await
    .expect("the consumer thread")
}

async fn text(url: &str) -> String {
    get(url).await.body
}

#[actix_web::test]
async fn every_sample_is_a_record_keyed_by_its_switch_in_order() {
    let redis = TestRedis::start();
    let broker = TestKafka::start();
    broker.create_topic(TOPIC, 4);
    let mut c = config(redis.port, 4, 0.1);
    c.kafka.brokers = vec![broker.broker()];
    let daemon = start(c, logging::discard()).await;
    let m = daemon.metric_addr;
    let records = consume_until(&broker, "test-order", Duration::from_secs(30), |got| {
        let mut per_switch: HashMap<&str, usize> = HashMap::new();
        for (key, _) in got {
            *per_switch.entry(key.as_str()).or_default() += 1;
        }
        per_switch.len() == 4 && per_switch.values().all(|&n| n >= 10)
    })
    .await;
    let mut last: HashMap<String, u64> = HashMap::new();
    for (key, sample) in &records {
        assert_eq!(*key, sample.switch.to_string(), "the key is the switch id");
        let before = last.insert(key.clone(), sample.updated_at_ms).unwrap_or(0);
        assert!(
            sample.updated_at_ms > before,
            "{key}: samples of a switch in order"
        );
    }
    let ready = get(&format!("http://{m}/readyz")).await.json();
    assert_eq!(ready["kafka"]["state"], "up", "{ready}");
    let metrics = text(&format!("http://{m}/metrics")).await;
    let delivered = metric(
        &metrics,
        r#"telemetryd_kafka_records_total{outcome="delivered"}"#,
    );
    assert!(
        delivered.unwrap() >= records.len() as f64 - 4.0,
        "{delivered:?}"
    );
    assert_eq!(metric(&metrics, "telemetryd_kafka_up"), Some(1.0));
}

#[actix_web::test]
async fn a_broker_away_slows_nothing_and_the_dropped_samples_are_counted() {
    let redis = TestRedis::start();
    let mut broker = TestKafka::start();
    broker.create_topic(TOPIC, 2);
    let mut c = config(redis.port, 50, 0.1);
    c.kafka.brokers = vec![broker.broker()];
    c.kafka.queue_capacity = 100;
    c.kafka.batch_size = 100;
    let (log, lines) = capture_logger();
    let daemon = start(c, log).await;
    let m = daemon.metric_addr;
    let ready = |want: &'static str| async move {
        let r = get(&format!("http://{m}/readyz")).await.json();
        (r["kafka"]["state"] == want).then_some(r)
    };
    eventually("kafka up", Duration::from_secs(20), || ready("up")).await;

    broker.stop();
    let down = eventually("kafka down", Duration::from_secs(30), || ready("down")).await;
    assert!(down["kafka"]["error"].is_string(), "{down}");
    // Thirty seconds without a broker: 500 samples a second against a queue of 100.
    let outage = Instant::now();
    let before = redis.hash(7).await["updated_at"].parse::<f64>().unwrap();
    while outage.elapsed() < Duration::from_secs(30) {
        let asked = Instant::now();
        let r = get(&format!("http://{m}/telemetry/switch-7")).await;
        assert_eq!(r.status, 200);
        assert!(
            asked.elapsed() < Duration::from_secs(1),
            "a read took {:?}",
            asked.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let after = redis.hash(7).await["updated_at"].parse::<f64>().unwrap();
    assert!(
        after - before > 28.0,
        "Redis writes went on: {before} -> {after}"
    );
    let metrics = text(&format!("http://{m}/metrics")).await;
    let dropped = metric(
        &metrics,
        r#"telemetryd_kafka_records_total{outcome="dropped"}"#,
    )
    .expect("a drop counter");
    assert!(dropped > 10_000.0, "dropped {dropped}");
    let held = metric(&metrics, "telemetryd_kafka_queued_samples").unwrap();
    assert!(
        held <= 100.0 + 1_000.0,
        "held {held}: the queue and librdkafka's stay bounded"
    );
    assert_eq!(metric(&metrics, "telemetryd_kafka_up"), Some(0.0));

    broker.start_again();
    broker.create_topic(TOPIC, 2);
    eventually("kafka up again", Duration::from_secs(60), || ready("up")).await;
    consume_until(&broker, "test-outage", Duration::from_secs(30), |got| {
        got.len() >= 50
    })
    .await;
    let log = log_text(&lines);
    let count = |message: &str| log.lines().filter(|l| l.contains(message)).count();
    assert_eq!(
        count("msg=\"Kafka unreachable; queueing samples and retrying.\""),
        1,
        "{log}"
    );
    assert_eq!(
        count("msg=\"Kafka queue full; dropping the oldest samples.\""),
        1,
        "{log}"
    );
    assert_eq!(count("msg=\"Kafka reachable again.\""), 1, "{log}");
}
