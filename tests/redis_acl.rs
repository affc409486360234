//! The daemon as the least-privileged Redis user the README documents, its password read
//! from a file: it writes and serves every switch, and the user can do nothing else.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

/// The README's `ACL SETUSER telemetryd ...` line, with `password`.
fn readme_acl(password: &str) -> Vec<String> {
    let readme = include_str!("../README.md");
    let line = readme
        .lines()
        .find(|l| l.starts_with("ACL SETUSER telemetryd "))
        .expect("the README's ACL line");
    line.split_whitespace()
        .map(|w| {
            if w.starts_with('>') {
                format!(">{password}")
            } else {
                w.to_string()
            }
        })
        .collect()
}

fn redis_cli(port: u16, auth: &[&str], args: &[String]) -> String {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(auth)
        .args(args)
        .output()
        .expect("redis-cli must be installed");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[actix_web::test]
async fn the_daemon_runs_as_the_readme_acl_user_with_its_password_from_a_file() {
    let redis = TestRedis::start();
    const PASSWORD: &str = "acl-test-password";
    assert_eq!(
        redis_cli(redis.port, &[], &readme_acl(PASSWORD)).trim(),
        "OK"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("redis.password");
    std::fs::write(&file, format!("{PASSWORD}\n")).unwrap();

    for simulate in [true, false] {
        let mut c = config(redis.port, 20, 0.2);
        c.redis.username = Some("telemetryd".into());
        c.redis.password_file = Some(file.display().to_string());
        c.telemetry.simulate = simulate;
        let (log, lines) = capture_logger();
        let daemon = start(c, log).await;
        let m = daemon.metric_addr;
        eventually("ready, Redis up", Duration::from_secs(20), || async {
            let r = get(&format!("http://{m}/readyz")).await;
            (r.status == 200 && r.json()["redis"]["state"] == "up").then_some(())
        })
        .await;
        let text = log_text(&lines);
        assert!(!text.contains("NOPERM"), "{text}");
        assert!(!text.contains(PASSWORD), "the password in a log line");
        daemon.shutdown().await;
    }
    // Every switch was written under the user's rights.
    assert_eq!(redis.hash(19).await.len(), 5);
    // And the user can do nothing else.
    let auth = [
        "--user",
        "telemetryd",
        "--pass",
        PASSWORD,
        "--no-auth-warning",
    ];
    let denied = redis_cli(redis.port, &auth, &["FLUSHALL".into()]);
    assert!(denied.contains("NOPERM"), "{denied}");
    let other = redis_cli(
        redis.port,
        &auth,
        &["SET".into(), "other".into(), "1".into()],
    );
    assert!(other.contains("NOPERM"), "{other}");
}
