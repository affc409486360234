//! The OpenAPI description of the metrics API: served, browsable, and true to what the
//! daemon answers (schemathesis with every check, against the real binary; the other tests
//! drive the daemon in-process).

mod common;

use std::process::Command;

use common::*;

#[actix_web::test]
async fn openapi_json_describes_every_route_and_swagger_ui_is_served() {
    let redis = TestRedis::start();
    let daemon = start(config(redis.port, 5, 1.0), telemetryd::logging::discard()).await;
    let base = format!("http://{}", daemon.metric_addr);
    let spec = get(&format!("{base}/openapi.json")).await;
    assert_eq!(spec.status, 200);
    assert_eq!(spec.content_type, "application/json");
    let spec = spec.json();
    assert!(
        spec["openapi"].as_str().unwrap().starts_with("3."),
        "{spec}"
    );
    let mut paths: Vec<&str> = spec["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    paths.sort_unstable();
    let mut documented = telemetryd::http::routes::DOCUMENTED.to_vec();
    documented.sort_unstable();
    assert_eq!(paths, documented);
    let metrics = &spec["components"]["schemas"]["MetricName"]["enum"];
    assert_eq!(
        metrics,
        &serde_json::json!([
            "bandwidth_in_mbps",
            "bandwidth_out_mbps",
            "latency_ms",
            "packet_errors",
            "updated_at"
        ])
    );
    // The bearer scheme, and the gate's and the limiter's answers on every operation.
    assert_eq!(
        spec["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    for (path, item) in spec["paths"].as_object().unwrap() {
        let responses = item["get"]["responses"].as_object().unwrap();
        let probe = path == "/healthz" || path == "/readyz";
        for status in ["401", "403", "429"] {
            let want = !(probe && status == "429");
            assert_eq!(responses.contains_key(status), want, "{path} {status}");
        }
        assert!(item["get"]["security"].is_array(), "{path}");
    }

    let docs = get(&format!("{base}/docs/")).await;
    assert_eq!(docs.status, 200);
    assert!(docs.body.contains("swagger-ui"), "{}", docs.body);
    let bundle = get(&format!("{base}/docs/swagger-ui-bundle.js")).await;
    assert_eq!(
        bundle.status, 200,
        "the UI's assets are built in, not fetched from a CDN"
    );
    assert!(bundle.body.len() > 100_000);
    let redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = redirect.get(format!("{base}/docs")).send().await.unwrap();
    assert_eq!(
        (
            r.status().as_u16(),
            r.headers()["location"].to_str().unwrap()
        ),
        (308, "/docs/")
    );
}

#[actix_web::test]
async fn schemathesis_with_every_check_and_a_token_finds_no_failure() {
    let redis = TestRedis::start();
    // A daemon with a bearer token, as one exposed beyond loopback runs: schemathesis sends
    // the token, and its ignored_auth check asks without one (a 401 is what it wants).
    const TOKEN: &str = "tmd_schemathesis-token";
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("auth.yaml");
    std::fs::write(
        &config,
        format!(
            "auth:\n  tokens:\n    - {{name: schemathesis, scope: read, sha256: {}}}\n",
            telemetryd::auth::sha256_hex(TOKEN.as_bytes())
        ),
    )
    .unwrap();
    let mut command = binary();
    command.args(["--config", config.to_str().unwrap()]);
    let daemon = DaemonProcess::builder(redis.port)
        .command(command)
        .switches(5)
        .interval(1.0)
        .env("TELEMETRYD_LOGGING__LEVEL", "WARNING")
        .start();
    daemon.wait_serving().await;
    let document = reqwest::Client::new()
        .get(daemon.url(Listener::Metric, "/openapi.json"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(document.status().as_u16(), 200);
    let spec = dir.path().join("openapi.json");
    std::fs::write(&spec, document.text().await.unwrap()).unwrap();
    let spec = spec.to_str().unwrap().to_string();
    let base = daemon.url(Listener::Metric, "");
    let header = format!("Authorization: Bearer {TOKEN}");
    let run = |extra: &[&str]| {
        let out = Command::new(schemathesis())
            .args([
                "run",
                &spec,
                "--url",
                &base,
                "--header",
                &header,
                "--checks",
                "all",
                "--seed",
                "20261128",
                "--no-color",
            ])
            .args(extra)
            .output()
            .expect("schemathesis must be installed (scripts/test.sh installs it with pip)");
        let report = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{report}");
        assert!(!report.contains("FAILURES"), "{report}");
        report
    };
    let report = run(&["--exclude-path-regex", "/history$"]);
    assert!(report.contains("No issues found"), "{report}");
    assert!(report.contains("Tested: 7"), "{report}");
    // The history route's parameters depend on each other (`from` before `to`, at most
    // `history.max_points` buckets), which a schema cannot say: schema-valid requests may
    // rightly get a 400 there (schemathesis warns that most do). Every other check still
    // runs on it.
    let report = run(&[
        "--include-path-regex",
        "/history$",
        "--exclude-checks",
        "positive_data_acceptance",
    ]);
    assert!(report.contains("Tested: 1"), "{report}");
}

/// The schemathesis command: on PATH, or where pip put it for this python3.
fn schemathesis() -> std::path::PathBuf {
    let scripts = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let beside_python = std::path::Path::new(&scripts).join("schemathesis");
    if beside_python.is_file() {
        beside_python
    } else {
        "schemathesis".into()
    }
}

/// The API's description and its UI are routes like the others: HEAD answers as GET does
/// (same length, no body), any other method gets the JSON 405, a file the UI lacks a 404.
#[actix_web::test]
async fn openapi_and_docs_answer_head_like_get_and_405_to_other_methods() {
    let redis = TestRedis::start();
    let daemon = start(config(redis.port, 5, 1.0), telemetryd::logging::discard()).await;
    let base = format!("http://{}", daemon.metric_addr);
    let client = reqwest::Client::new();
    for path in ["/openapi.json", "/docs/", "/docs/swagger-ui-bundle.js"] {
        let got = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(got.status().as_u16(), 200, "GET {path}");
        let length = got.headers()["content-length"].clone();
        let head = client.head(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(head.status().as_u16(), 200, "HEAD {path}");
        assert_eq!(head.headers()["content-length"], length, "HEAD {path}");
        assert!(head.bytes().await.unwrap().is_empty());
        for method in ["POST", "DELETE"] {
            let r = request(method, &format!("{base}{path}")).await;
            assert_eq!(r.status, 405, "{method} {path}");
            assert_eq!(r.json()["error"], "method not allowed", "{method} {path}");
            assert_eq!(r.headers["allow"], "GET, HEAD");
        }
    }
    let init = get(&format!("{base}/docs/swagger-initializer.js")).await;
    assert!(init.body.contains("\"/openapi.json\""), "{}", init.body);
    let missing = get(&format!("{base}/docs/no-such-file.js")).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error"], "no such route");
}
