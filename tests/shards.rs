//! Sharded instances (`telemetry.shard`) on one real redis-server: each simulates its share
//! of the switches and serves them all. (Redis Cluster is not there yet.)

mod common;

use std::time::Duration;

use common::*;
use telemetryd::model::Shard;
use telemetryd::{Config, logging};

fn shard_config(redis_port: u16, index: u32) -> Config {
    let mut c = config(redis_port, 10, 0.2);
    c.telemetry.shard = Some(Shard { index, count: 2 });
    c
}

#[actix_web::test]
async fn two_shards_split_the_switches_and_each_serves_every_switch() {
    let redis = TestRedis::start();
    let a = start(shard_config(redis.port, 0), logging::discard()).await;
    // Alone, shard 0 writes the even switches and nothing else.
    eventually(
        "shard 0's switches in Redis",
        Duration::from_secs(10),
        || async {
            let mut ok = true;
            for n in (0..10).step_by(2) {
                ok &= !redis.hash(n).await.is_empty();
            }
            ok.then_some(())
        },
    )
    .await;
    for n in (1..10).step_by(2) {
        assert!(
            redis.hash(n).await.is_empty(),
            "switch-{n} written by shard 0"
        );
    }
    let ready = get(&format!("http://{}/readyz", a.metric_addr))
        .await
        .json();
    assert_eq!(ready["shard"]["index"], 0);
    assert_eq!(ready["shard"]["count"], 2);
    assert_eq!(ready["shard"]["shards"][0]["switches_with_data"], 5);
    assert_eq!(ready["shard"]["shards"][1]["switches_with_data"], 0);

    let b = start(shard_config(redis.port, 1), logging::discard()).await;
    // Within an interval or two, both serve all ten, and agree on what each switch says.
    for daemon in [&a, &b] {
        let m = daemon.metric_addr;
        eventually("every switch served", Duration::from_secs(10), || async {
            let ready = get(&format!("http://{m}/readyz")).await.json();
            let shards = &ready["shard"]["shards"];
            (shards[0]["switches_with_data"] == 5 && shards[1]["switches_with_data"] == 5)
                .then_some(())
        })
        .await;
        for n in 0..10 {
            let r = get(&format!("http://{m}/telemetry/switch-{n}")).await;
            assert_eq!(r.status, 200, "switch-{n}: {}", r.body);
        }
        let text = get(&format!("http://{m}/metrics")).await.body;
        assert!(
            metric(
                &text,
                r#"telemetryd_shard_oldest_sample_age_seconds{shard="1"}"#
            )
            .unwrap()
                < 2.0
        );
    }
    let own = get(&format!("http://{}/metrics", b.metric_addr)).await.body;
    assert_eq!(
        metric(&own, r#"telemetryd_shard{index="1",count="2"}"#),
        Some(1.0)
    );
    // Shard 1 stops: its switches age in Redis while shard 0's stay fresh.
    b.shutdown().await;
    let m = a.metric_addr;
    let stale = eventually(
        "shard 1's switches ageing",
        Duration::from_secs(10),
        || async {
            let ready = get(&format!("http://{m}/readyz")).await.json();
            let age = |i: usize| ready["shard"]["shards"][i]["oldest_sample_age_ms"].as_u64();
            (age(1)? > 1_000).then(|| (age(0).unwrap(), age(1).unwrap()))
        },
    )
    .await;
    assert!(stale.0 < 1_000, "shard 0 stays fresh: {stale:?}");
    a.shutdown().await;
}

#[test]
fn a_shard_outside_its_count_or_the_fabric_is_named() {
    for (index, count) in [(2, 2), (0, 0), (0, 11)] {
        let mut c = config(6379, 10, 1.0);
        c.telemetry.shard = Some(Shard { index, count });
        let err = c.validate().unwrap_err();
        let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["telemetry.shard"], "{index}/{count}");
    }
    let mut c = config(6379, 10, 1.0);
    c.telemetry.shard = Some(Shard { index: 3, count: 4 });
    assert!(c.validate().is_ok());
}
