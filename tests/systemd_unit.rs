//! The systemd unit, checked with systemd's own tools.

use std::process::Command;

const UNIT: &str = include_str!("../systemd/telemetryd.service");

/// The unit with its paths pointed at this build, as `scripts/install.sh` would lay it out.
fn unit_for_this_build() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/systemd/telemetry.yaml");
    let unit = UNIT
        .replace(
            "/usr/local/bin/telemetryd",
            env!("CARGO_BIN_EXE_telemetryd"),
        )
        .replace("/etc/telemetryd/telemetry.yaml", config);
    std::fs::write(dir.path().join("telemetryd.service"), unit).unwrap();
    dir
}

fn analyze(args: &[&str]) -> (bool, String) {
    let out = Command::new("systemd-analyze")
        .args(args)
        .output()
        .expect("systemd-analyze must be installed (scripts/test.sh installs it)");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn the_unit_passes_systemd_analyze_verify() {
    let dir = unit_for_this_build();
    let unit = dir.path().join("telemetryd.service");
    let (ok, text) = analyze(&["verify", unit.to_str().unwrap()]);
    assert!(ok, "{text}");
    // verify also prints warnings without failing; there should be none about our unit.
    assert!(!text.contains("telemetryd.service:"), "{text}");
}

#[test]
fn the_unit_exposure_score_is_at_most_2() {
    let dir = unit_for_this_build();
    let unit = dir.path().join("telemetryd.service");
    let (ok, text) = analyze(&[
        "security",
        "--offline=true",
        "--threshold=20",
        unit.to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    assert!(
        text.contains("Overall exposure level for telemetryd.service"),
        "{text}"
    );
}

#[test]
fn the_unit_is_a_notify_service_with_a_watchdog_and_config_check() {
    for line in [
        "Type=notify",
        "WatchdogSec=",
        "Restart=on-failure",
        "ExecStartPre=-/usr/local/bin/telemetryd --config /etc/telemetryd/telemetry.yaml --check-config",
        "RestartPreventExitStatus=78",
        "Wants=redis-server.service",
        "After=network.target redis-server.service",
    ] {
        assert!(UNIT.lines().any(|l| l.starts_with(line)), "missing {line}");
    }
}
