//! The HTTP API of a running daemon, backed by a real redis-server.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use deadpool_redis::redis::AsyncCommands;
use telemetryd::logging;

const HEADER: &str =
    "switch_id,bandwidth_in_mbps,bandwidth_out_mbps,latency_ms,packet_errors,updated_at";

#[actix_web::test]
async fn counters_has_one_row_per_switch_under_the_documented_header() {
    let redis = TestRedis::start();
    let daemon = start(config(redis.port, 12, 1.0), logging::discard()).await;
    let reply = get(&format!("http://{}/counters", daemon.generator_addr)).await;
    assert_eq!(reply.status, 200);
    assert!(
        reply.content_type.starts_with("text/csv"),
        "{}",
        reply.content_type
    );
    let (header, rows) = parse_csv(&reply.body);
    assert_eq!(header.join(","), HEADER);
    assert_eq!(rows.len(), 12);
    for (n, row) in rows.iter().enumerate() {
        assert_eq!(
            row[0],
            format!("switch-{n}"),
            "rows are ordered by switch number"
        );
        assert_eq!(row.len(), header.len());
        for cell in &row[1..] {
            cell.parse::<f64>()
                .unwrap_or_else(|_| panic!("not a number: {cell}"));
        }
    }
    daemon.shutdown().await;
}

#[actix_web::test]
async fn json_routes_agree_with_counters_and_with_redis() {
    let redis = TestRedis::start();
    // A long interval keeps the values still while the routes are compared.
    let daemon = start(config(redis.port, 4, 60.0), logging::discard()).await;
    let m = daemon.metric_addr;
    // Wait until every switch's first sample is confirmed in Redis.
    eventually("all switches in Redis", Duration::from_secs(10), || async {
        let mut all = true;
        for n in 0..4 {
            all &= !redis.hash(n).await.is_empty();
        }
        all.then_some(())
    })
    .await;

    let csv = get(&format!("http://{}/counters", daemon.generator_addr))
        .await
        .body;
    let (header, rows) = parse_csv(&csv);
    let all = get(&format!("http://{m}/telemetry/")).await;
    assert_eq!(all.content_type, "application/json");
    assert_eq!(
        all.headers["x-telemetry-stale"], "false",
        "every switch confirmed in Redis"
    );
    let all = all.json();
    assert_eq!(
        get(&format!("http://{m}/telemetry")).await.json(),
        all,
        "with and without slash"
    );
    let switches = all["switches"].as_object().unwrap();
    assert_eq!(switches.len(), 4);

    for row in rows {
        let id = &row[0];
        let from_json = &switches[id];
        let one = get(&format!("http://{m}/telemetry/{id}")).await.json();
        assert_eq!(&one, from_json, "/telemetry/{id} agrees with /telemetry/");
        let n: u32 = id.strip_prefix("switch-").unwrap().parse().unwrap();
        let stored = redis.hash(n).await;
        for (metric, cell) in header.iter().zip(&row).skip(1) {
            let json_value = from_json[metric.as_str()].as_f64().unwrap();
            assert_eq!(
                cell.parse::<f64>().unwrap(),
                json_value,
                "{id} {metric}: CSV vs JSON"
            );
            assert_eq!(
                stored[metric].parse::<f64>().unwrap(),
                json_value,
                "{id} {metric}: Redis vs JSON"
            );
            let single = get(&format!("http://{m}/telemetry/{id}/{metric}"))
                .await
                .json();
            assert_eq!(single["switch_id"], id.as_str());
            assert_eq!(single["metric"], metric.as_str());
            assert_eq!(single["value"].as_f64().unwrap(), json_value);
        }
    }
    daemon.shutdown().await;
}

#[actix_web::test]
async fn prototype_urls_keep_working() {
    let redis = TestRedis::start();
    let daemon = start(config(redis.port, 20, 1.0), logging::discard()).await;
    let reply = get(&format!(
        "http://{}/telemetry/switch-19/latency_ms",
        daemon.metric_addr
    ))
    .await;
    assert_eq!(reply.status, 200);
    let v = reply.json();
    assert_eq!(v["switch_id"], "switch-19");
    assert_eq!(v["metric"], "latency_ms");
    assert!(v["value"].as_f64().unwrap() > 0.0);
    for metric in [
        "packet_errors",
        "updated_at",
        "bandwidth_in_mbps",
        "bandwidth_out_mbps",
    ] {
        let r = get(&format!(
            "http://{}/telemetry/switch-0/{metric}",
            daemon.metric_addr
        ))
        .await;
        assert_eq!(r.status, 200, "{metric}");
        assert!(r.json()["value"].is_number(), "{metric}");
    }
    daemon.shutdown().await;
}

#[actix_web::test]
async fn unknown_switches_metrics_and_routes_get_json_404s_and_wrong_methods_405() {
    let redis = TestRedis::start();
    let daemon = start(config(redis.port, 3, 1.0), logging::discard()).await;
    let m = daemon.metric_addr;
    let g = daemon.generator_addr;

    let r = get(&format!("http://{m}/telemetry/switch-3")).await;
    assert_eq!(
        (r.status, r.content_type.as_str()),
        (404, "application/json")
    );
    assert_eq!(r.json()["switch_id"], "switch-3");
    assert_eq!(r.json()["error"], "no such switch");
    let r = get(&format!("http://{m}/telemetry/switch-01/latency_ms")).await;
    assert_eq!(
        (r.status, r.json()["switch_id"].clone()),
        (404, "switch-01".into())
    );

    // The 404s echo what the client asked for, percent-escapes decoded, even the ones
    // the router keeps encoded (%2F, %25, %2B).
    let r = get(&format!("http://{m}/telemetry/a%2Fb%2Bc%25")).await;
    assert_eq!(
        (r.status, r.json()["switch_id"].clone()),
        (404, "a/b+c%".into())
    );
    let r = get(&format!("http://{m}/telemetry/a%2Fb/latency_ms")).await;
    assert_eq!(
        (r.status, r.json()["switch_id"].clone()),
        (404, "a/b".into())
    );
    let r = get(&format!("http://{m}/telemetry/switch-1/x%25%2F")).await;
    assert_eq!((r.status, r.json()["metric"].clone()), (404, "x%/".into()));

    let r = get(&format!("http://{m}/telemetry/switch-1/latency")).await;
    assert_eq!(r.status, 404);
    let body = r.json();
    assert_eq!(body["metric"], "latency");
    let listed: Vec<&str> = body["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        [
            "bandwidth_in_mbps",
            "bandwidth_out_mbps",
            "latency_ms",
            "packet_errors",
            "updated_at"
        ]
    );

    for url in [
        format!("http://{m}/nope"),
        format!("http://{m}/telemetryx"),
        format!("http://{m}/telemetry//latency_ms"),
        format!("http://{m}/telemetry/switch-1/"),
        format!("http://{m}/telemetry/switch-1/latency_ms/x"),
        format!("http://{g}/telemetry/"),
        format!("http://{m}/counters"),
    ] {
        let r = get(&url).await;
        assert_eq!(
            (r.status, r.json()["error"].clone()),
            (404, "no such route".into()),
            "{url}"
        );
    }

    for (method, url) in [
        ("POST", format!("http://{m}/telemetry/")),
        ("DELETE", format!("http://{m}/telemetry/switch-1")),
        ("PUT", format!("http://{m}/telemetry/switch-1/latency_ms")),
        ("POST", format!("http://{g}/counters")),
    ] {
        let r = request(method, &url).await;
        assert_eq!(r.status, 405, "{method} {url}");
        assert_eq!(r.content_type, "application/json");
        assert_eq!(r.headers["allow"], "GET, HEAD");
        assert_eq!(r.json()["method"], method);
    }

    let head = request("HEAD", &format!("http://{g}/counters")).await;
    assert_eq!((head.status, head.body.as_str()), (200, ""));
    daemon.shutdown().await;
}

#[actix_web::test]
async fn values_change_across_intervals_and_counters_never_decrease() {
    let redis = TestRedis::start();
    let daemon = start(config(redis.port, 5, 0.1), logging::discard()).await;
    let url = format!("http://{}/telemetry/", daemon.metric_addr);
    let read = || async {
        let v = get(&url).await.json();
        v["switches"].as_object().unwrap().clone()
    };
    let first = read().await;
    let mut previous = first.clone();
    let mut changed: HashMap<String, bool> = HashMap::new();
    // Keep reading until every switch has moved on from its first sample, checking at each
    // read that no counter went down.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while changed.len() < 5 {
        assert!(
            std::time::Instant::now() < deadline,
            "switches that moved: {changed:?}"
        );
        let now = read().await;
        for (id, m) in &now {
            let before = previous[id]["packet_errors"].as_u64().unwrap();
            let after = m["packet_errors"].as_u64().unwrap();
            assert!(
                after >= before,
                "{id}: packet_errors went from {before} to {after}"
            );
            assert!(m["updated_at"].as_f64() >= previous[id]["updated_at"].as_f64());
            if m["updated_at"] != first[id]["updated_at"] {
                assert_ne!(
                    m["bandwidth_in_mbps"], first[id]["bandwidth_in_mbps"],
                    "{id}"
                );
                changed.insert(id.clone(), true);
            }
        }
        previous = now;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    daemon.shutdown().await;
}

#[actix_web::test]
async fn a_value_written_by_another_client_shows_up_within_one_interval() {
    let redis = TestRedis::start();
    // A serving-only daemon: every value it shows comes from Redis.
    let mut c = config(redis.port, 3, 1.0);
    c.telemetry.simulate = false;
    let daemon = start(c, logging::discard()).await;
    let m = daemon.metric_addr;
    assert_eq!(
        get(&format!("http://{m}/telemetry/switch-1")).await.status,
        404
    );

    let mut conn = redis.conn().await;
    let _: () = conn
        .hset_multiple(
            "telemetry:switch-1",
            &[
                ("bandwidth_in_mbps", "1200.5"),
                ("bandwidth_out_mbps", "800"),
                ("latency_ms", "12.25"),
                ("packet_errors", "42"),
                ("updated_at", "1764290000.123"),
            ],
        )
        .await
        .unwrap();
    // Within one interval, plus the same again for a read that was already under way.
    let value = eventually(
        "the foreign value in the API",
        Duration::from_secs(2),
        || async {
            let r = get(&format!("http://{m}/telemetry/switch-1/latency_ms")).await;
            (r.status == 200).then(|| r.json()["value"].as_f64().unwrap())
        },
    )
    .await;
    assert_eq!(value, 12.25);

    // A later change by the same client shows up too.
    let _: () = conn
        .hset("telemetry:switch-1", "packet_errors", "43")
        .await
        .unwrap();
    eventually(
        "the second foreign value",
        Duration::from_secs(2),
        || async {
            let r = get(&format!("http://{m}/telemetry/switch-1/packet_errors")).await;
            (r.json()["value"] == 43).then_some(())
        },
    )
    .await;
    daemon.shutdown().await;
}

#[actix_web::test]
async fn without_redis_the_daemon_serves_live_data_and_writes_every_switch_when_redis_appears() {
    let port = free_port();
    let daemon = start(config(port, 6, 0.2), logging::discard()).await;
    let url = format!("http://{}/counters", daemon.generator_addr);
    let (_, rows) = parse_csv(&get(&url).await.body);
    assert_eq!(rows.len(), 6, "all switches served with no Redis at all");
    let first_errors: Vec<String> = rows.iter().map(|r| r[5].clone()).collect();
    eventually(
        "live data without Redis",
        Duration::from_secs(5),
        || async {
            let (_, rows) = parse_csv(&get(&url).await.body);
            let moved = rows
                .iter()
                .zip(&first_errors)
                .all(|(r, first)| &r[5] != first);
            moved.then_some(())
        },
    )
    .await;

    let redis = TestRedis::start_on(port);
    eventually("every switch in Redis", Duration::from_secs(10), || async {
        let mut all = true;
        for n in 0..6 {
            all &= redis.hash(n).await.len() == 5;
        }
        all.then_some(())
    })
    .await;
    daemon.shutdown().await;
}

#[actix_web::test]
async fn big_bodies_carry_etags_answer_304_and_gzip_when_asked() {
    let redis = TestRedis::start();
    // A long interval keeps the content still between the requests.
    let daemon = start(config(redis.port, 50, 60.0), logging::discard()).await;
    let client = reqwest::Client::new();
    for url in [
        format!("http://{}/counters", daemon.generator_addr),
        format!("http://{}/telemetry/", daemon.metric_addr),
    ] {
        let plain = client.get(&url).send().await.unwrap();
        let etag = plain.headers()["etag"].to_str().unwrap().to_string();
        assert_eq!(plain.headers()["vary"], "accept-encoding");
        let plain_body = plain.bytes().await.unwrap();

        let again = client
            .get(&url)
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{url}");
        assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
        assert!(again.bytes().await.unwrap().is_empty());

        let zipped = client
            .get(&url)
            .header("accept-encoding", "gzip, deflate")
            .send()
            .await
            .unwrap();
        assert_eq!(zipped.headers()["content-encoding"], "gzip", "{url}");
        let gz_etag = zipped.headers()["etag"].to_str().unwrap().to_string();
        assert_ne!(gz_etag, etag, "another representation, another tag");
        let compressed = zipped.bytes().await.unwrap();
        assert!(
            compressed.len() < plain_body.len() / 2,
            "{} vs {}",
            compressed.len(),
            plain_body.len()
        );
        let mut unzipped = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(&compressed[..]),
            &mut unzipped,
        )
        .unwrap();
        assert_eq!(unzipped, plain_body);

        let refused = client
            .get(&url)
            .header("accept-encoding", "gzip;q=0, identity")
            .send()
            .await
            .unwrap();
        assert!(refused.headers().get("content-encoding").is_none());
        let stale_tag = client
            .get(&url)
            .header("if-none-match", "\"0000000000000000\"")
            .send()
            .await
            .unwrap();
        assert_eq!(stale_tag.status(), 200);
    }
    daemon.shutdown().await;
}
