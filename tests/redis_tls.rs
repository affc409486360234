//! The Redis link over TLS (`redis.tls`): a real redis-server started with `--tls-port` and
//! certificates this test makes with openssl (a CA, Redis's certificate for 127.0.0.1, a
//! client certificate, and a second CA nobody trusts).

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use telemetryd::{Config, logging};

/// The files of one test: `ca`, Redis's `server` pair signed by it, a `client` pair signed
/// by it, and `other-ca`, an authority that signed nothing here.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let pki = Pki {
            dir: tempfile::tempdir().unwrap(),
        };
        for ca in ["ca", "other-ca"] {
            let (cert, key) = (
                pki.path(&format!("{ca}.crt")),
                pki.path(&format!("{ca}.key")),
            );
            self_signed(&cert, &key, &format!("telemetryd-test-{ca}"), &[]);
        }
        pki.issue("server", "subjectAltName=IP:127.0.0.1");
        pki.issue("client", "extendedKeyUsage=clientAuth");
        pki
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// A key and a certificate `name.key`/`name.crt` signed by `ca`, with `extension`.
    fn issue(&self, name: &str, extension: &str) {
        let (key, csr, cert) = (
            self.path(&format!("{name}.key")),
            self.path(&format!("{name}.csr")),
            self.path(&format!("{name}.crt")),
        );
        openssl(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            &format!("/CN=telemetryd-test-{name}"),
            "-keyout",
            &key,
            "-out",
            &csr,
        ]);
        let ext = self.dir.path().join(format!("{name}.ext"));
        std::fs::write(&ext, format!("{extension}\n")).unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &self.path("ca.crt"),
            "-CAkey",
            &self.path("ca.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &ext.display().to_string(),
            "-out",
            &cert,
        ]);
    }

    /// A redis-server with a plain port (the test's own view of the data) and a TLS port
    /// that asks clients for a certificate when `client_certs`.
    fn redis(&self, client_certs: bool) -> (TestRedis, u16) {
        let tls_port = free_port();
        let (port, cert, key, ca) = (
            tls_port.to_string(),
            self.path("server.crt"),
            self.path("server.key"),
            self.path("ca.crt"),
        );
        let auth = if client_certs { "yes" } else { "no" };
        let redis = TestRedis::start_with(
            free_port(),
            &[
                "--tls-port",
                &port,
                "--tls-cert-file",
                &cert,
                "--tls-key-file",
                &key,
                "--tls-ca-cert-file",
                &ca,
                "--tls-auth-clients",
                auth,
            ],
        );
        (redis, tls_port)
    }

    fn config(&self, tls_port: u16, ca: &str, client: bool) -> Config {
        let mut c = config(tls_port, 20, 0.2);
        c.redis.tls = true;
        c.redis.tls_ca_file = Some(self.path(ca));
        if client {
            c.redis.tls_cert_file = Some(self.path("client.crt"));
            c.redis.tls_key_file = Some(self.path("client.key"));
        }
        c
    }
}

/// `/readyz`'s Redis state once it is `want`: (state, error).
async fn redis_state(m: std::net::SocketAddr, want: &str) -> (String, String) {
    eventually(
        &format!("Redis {want}"),
        Duration::from_secs(20),
        || async {
            let r = get(&format!("http://{m}/readyz")).await;
            let redis = &r.json()["redis"];
            (redis["state"] == want).then(|| {
                (
                    want.to_string(),
                    redis["error"].as_str().unwrap_or_default().to_string(),
                )
            })
        },
    )
    .await
}

#[actix_web::test]
async fn the_daemon_writes_and_serves_through_redis_over_tls_with_a_client_certificate() {
    let pki = Pki::new();
    let (redis, tls_port) = pki.redis(true);
    let (log, lines) = capture_logger();
    let daemon = start(pki.config(tls_port, "ca.crt", true), log).await;
    let m = daemon.metric_addr;
    redis_state(m, "up").await;
    // What the switches wrote through TLS is in Redis, and the cache read it back through
    // TLS: the served values are Redis's.
    let stored = eventually("switch 19 stored", Duration::from_secs(20), || async {
        let h = redis.hash(19).await;
        (h.len() == 5).then_some(h)
    })
    .await;
    assert_eq!(stored.len(), 5);
    let served = get(&format!("http://{m}/telemetry/switch-19")).await;
    assert_eq!(served.status, 200);
    assert!(served.json()["latency_ms"].is_number());
    // Every connection the daemon holds came in on the TLS port.
    let clients = redis_cli_plain(redis.port, "CLIENT", "LIST");
    let daemon_ports: Vec<&str> = clients
        .lines()
        .filter(|l| !l.contains("cmd=client"))
        .filter_map(|l| l.split(' ').find_map(|f| f.strip_prefix("laddr=")))
        .collect();
    assert!(!daemon_ports.is_empty(), "{clients}");
    for laddr in &daemon_ports {
        assert_eq!(*laddr, format!("127.0.0.1:{tls_port}"), "{clients}");
    }
    let text = log_text(&lines);
    let key = std::fs::read_to_string(pki.path("client.key")).unwrap();
    let body = key.lines().nth(1).unwrap();
    assert!(!text.contains(body), "key material in the log");
    let serving = text
        .lines()
        .map(logfmt)
        .find(|l| l["msg"] == "Serving.")
        .expect("the Serving line");
    assert_eq!(serving["redis"], format!("rediss://127.0.0.1:{tls_port}/0"));
    daemon.shutdown().await;
}

fn redis_cli_plain(port: u16, a: &str, b: &str) -> String {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string(), a, b])
        .output()
        .expect("redis-cli must be installed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[actix_web::test]
async fn a_redis_that_asks_for_a_client_certificate_refuses_a_daemon_without_one() {
    let pki = Pki::new();
    let (redis, tls_port) = pki.redis(true);
    let (log, lines) = capture_logger();
    let daemon = start(pki.config(tls_port, "ca.crt", false), log).await;
    let (_, error) = redis_state(daemon.metric_addr, "down").await;
    assert!(redis.hash(1).await.is_empty(), "nothing written");
    let text = log_text(&lines);
    // The reason is Redis's TLS alert, in /readyz and in the one warning.
    assert!(error.contains("CertificateRequired"), "{error}");
    let warning = text
        .lines()
        .map(logfmt)
        .find(|l| l["level"] == "WARN")
        .expect("a warning");
    assert!(warning["error"].contains("CertificateRequired"), "{text}");
    daemon.shutdown().await;
}

#[actix_web::test]
async fn a_redis_certificate_from_an_untrusted_authority_is_refused_and_named() {
    let pki = Pki::new();
    let (redis, tls_port) = pki.redis(false);
    let daemon = start(
        pki.config(tls_port, "other-ca.crt", false),
        logging::discard(),
    )
    .await;
    let (_, error) = redis_state(daemon.metric_addr, "down").await;
    assert!(error.contains("UnknownIssuer"), "the reason: {error}");
    assert!(redis.hash(1).await.is_empty(), "nothing written");
    daemon.shutdown().await;

    // The same server with the right CA and no client certificate (it does not ask for
    // one): up.
    let daemon = start(pki.config(tls_port, "ca.crt", false), logging::discard()).await;
    redis_state(daemon.metric_addr, "up").await;
    daemon.shutdown().await;
}

/// The problems `config` has, as (key, message).
fn problems(config: &Config) -> Vec<(String, String)> {
    match config.validate() {
        Ok(()) => Vec::new(),
        Err(e) => e.problems.into_iter().map(|p| (p.key, p.message)).collect(),
    }
}

#[test]
fn bad_redis_tls_settings_are_named_by_their_keys() {
    let pki = Pki::new();
    let keys = |c: &Config| -> Vec<String> { problems(c).into_iter().map(|p| p.0).collect() };

    let good = pki.config(6380, "ca.crt", true);
    assert!(problems(&good).is_empty(), "{:?}", problems(&good));

    let mut c = good.clone();
    c.redis.tls = false;
    assert_eq!(
        keys(&c),
        [
            "redis.tls_ca_file",
            "redis.tls_cert_file",
            "redis.tls_key_file"
        ]
    );

    let mut c = good.clone();
    c.redis.tls_ca_file = Some("/nonexistent/ca.pem".into());
    assert_eq!(keys(&c), ["redis.tls_ca_file"]);

    // A key file given as the CA: no certificate in it.
    let mut c = good.clone();
    c.redis.tls_ca_file = Some(pki.path("client.key"));
    assert_eq!(keys(&c), ["redis.tls_ca_file"]);

    let mut c = good.clone();
    c.redis.tls_key_file = None;
    assert_eq!(keys(&c), ["redis.tls_key_file"]);

    // The server's key with the client's certificate: they do not go together, and the
    // message shows no key material.
    let mut c = good.clone();
    c.redis.tls_key_file = Some(pki.path("server.key"));
    let found = problems(&c);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0, "redis.tls_cert_file");
    assert!(found[0].1.contains("do not go together"), "{}", found[0].1);
    let key = std::fs::read_to_string(pki.path("server.key")).unwrap();
    assert!(!found[0].1.contains(key.lines().nth(1).unwrap()));
}

#[test]
fn a_bad_redis_tls_file_stops_the_daemon_with_exit_78_naming_the_key() {
    let pki = Pki::new();
    let out = binary()
        .args(["--check-config"])
        .env("TELEMETRYD_REDIS__TLS", "true")
        .env("TELEMETRYD_REDIS__TLS_CA_FILE", "/nonexistent/ca.pem")
        .env("TELEMETRYD_REDIS__TLS_CERT_FILE", pki.path("client.crt"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Printed as `  key: message` lines.
    let keys: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("  ")?.split_once(": "))
        .map(|(key, _)| key)
        .collect();
    assert_eq!(
        keys,
        ["redis.tls_ca_file", "redis.tls_key_file"],
        "{stderr}"
    );
}
