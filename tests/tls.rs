//! HTTPS on a listener, with a certificate the test makes (openssl) and a real client
//! (curl) that trusts only that certificate.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use telemetryd::logging;

/// A self-signed certificate for 127.0.0.1 and its key, in `dir`.
fn certificate(dir: &Path) -> (String, String) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    self_signed(
        &cert,
        &key,
        "telemetryd-test",
        &["-addext", "subjectAltName=IP:127.0.0.1"],
    );
    (cert, key)
}

/// `curl` with `args`: (exit code, HTTP status, body). Run off the test's event loop, which
/// the in-process daemon's listeners share.
async fn curl(args: &[&str]) -> (i32, String, String) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let out = Command::new("curl")
            .args(["-s", "--max-time", "5", "-w", "\n%{http_code}"])
            .args(&args)
            .output()
            .expect("curl must be installed");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
        (
            out.status.code().unwrap_or(-1),
            status.to_string(),
            body.to_string(),
        )
    })
    .await
    .unwrap()
}

#[actix_web::test]
async fn a_listener_with_a_certificate_speaks_https_only_and_the_other_stays_plain() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    let redis = TestRedis::start();
    let mut c = config(redis.port, 3, 0.2);
    c.metric_server.tls_cert = Some(cert.clone());
    c.metric_server.tls_key = Some(key);
    let daemon = start(c, logging::discard()).await;
    let m = daemon.metric_addr;

    let url = format!("https://127.0.0.1:{}/telemetry/switch-1", m.port());
    let (code, status, body) = curl(&["--cacert", &cert, &url]).await;
    assert_eq!((code, status.as_str()), (0, "200"), "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(json["latency_ms"].is_number(), "{body}");
    // TLS 1.3 and 1.2 both.
    let (code, status, _) = curl(&["--cacert", &cert, "--tlsv1.2", "--tls-max", "1.2", &url]).await;
    assert_eq!((code, status.as_str()), (0, "200"));

    // A client that does not trust the certificate is refused by the handshake.
    let (code, _, _) = curl(&[&url]).await;
    assert_eq!(code, 60, "curl: peer certificate cannot be authenticated");
    // Plain HTTP to the TLS port gets no HTTP answer.
    let (code, status, _) = curl(&[&format!("http://127.0.0.1:{}/telemetry/", m.port())]).await;
    assert_ne!(
        status, "200",
        "plain HTTP answered on the HTTPS port (curl {code})"
    );

    // The other listener is plain HTTP as before.
    let counters = get(&format!("http://{}/counters", daemon.generator_addr)).await;
    assert_eq!(counters.status, 200);
}
