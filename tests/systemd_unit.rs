//! The systemd units (the daemon's and the archiver's), checked with systemd's own tools.

use std::process::Command;

const UNIT: &str = include_str!("../systemd/telemetryd.service");
const ARCHIVE_UNIT: &str = include_str!("../systemd/telemetryd-archive.service");

/// Both units, by file name.
const UNITS: [(&str, &str); 2] = [
    ("telemetryd.service", UNIT),
    ("telemetryd-archive.service", ARCHIVE_UNIT),
];

/// Both units with their paths pointed at this build, as `scripts/install.sh` would lay
/// them out.
fn unit_for_this_build() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in UNITS {
        std::fs::write(dir.path().join(name), for_this_build(text)).unwrap();
    }
    dir
}

fn for_this_build(unit: &str) -> String {
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/systemd/telemetry.yaml");
    unit.replace(
        "/usr/local/bin/telemetryd",
        env!("CARGO_BIN_EXE_telemetryd"),
    )
    .replace("/etc/telemetryd/telemetry.yaml", config)
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
fn both_units_pass_systemd_analyze_verify() {
    let dir = unit_for_this_build();
    for (name, _) in UNITS {
        let unit = dir.path().join(name);
        let (ok, text) = analyze(&["verify", unit.to_str().unwrap()]);
        assert!(ok, "{name}: {text}");
        // verify also prints warnings without failing; there should be none about our unit.
        assert!(!text.contains(&format!("{name}:")), "{text}");
    }
}

#[test]
fn both_units_exposure_scores_are_at_most_2() {
    let dir = unit_for_this_build();
    for (name, _) in UNITS {
        let unit = dir.path().join(name);
        let (ok, text) = analyze(&[
            "security",
            "--offline=true",
            "--threshold=20",
            unit.to_str().unwrap(),
        ]);
        assert!(ok, "{name}: {text}");
        assert!(
            text.contains(&format!("Overall exposure level for {name}")),
            "{text}"
        );
    }
}

/// `scripts/template-unit.sh`'s template, as instance `shard0` of this build.
fn template_instance() -> (tempfile::TempDir, std::path::PathBuf, String) {
    let out = Command::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scripts/template-unit.sh"
    ))
    .output()
    .expect("scripts/template-unit.sh runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("shard0.yaml");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/systemd/telemetry.yaml"),
        &config,
    )
    .unwrap();
    let unit = dir.path().join("telemetryd@shard0.service");
    let built = text
        .replace(
            "/usr/local/bin/telemetryd",
            env!("CARGO_BIN_EXE_telemetryd"),
        )
        .replace(
            "/etc/telemetryd/%i.yaml",
            &dir.path().join("%i.yaml").display().to_string(),
        );
    std::fs::write(&unit, built).unwrap();
    (dir, unit, text)
}

#[test]
fn the_instance_template_is_the_daemon_unit_with_a_config_per_instance() {
    let (_dir, unit, text) = template_instance();
    let (ok, report) = analyze(&["verify", unit.to_str().unwrap()]);
    assert!(ok, "{report}");
    assert!(!report.contains("telemetryd@shard0.service:"), "{report}");
    let (ok, report) = analyze(&[
        "security",
        "--offline=true",
        "--threshold=20",
        unit.to_str().unwrap(),
    ]);
    assert!(ok, "{report}");
    // Everything else is the daemon's unit line for line.
    let lines = |t: &str| t.lines().map(String::from).collect::<Vec<_>>();
    let (mine, daemon) = (lines(&text), lines(UNIT));
    assert_eq!(mine.len(), daemon.len());
    let changed: Vec<(&String, &String)> =
        daemon.iter().zip(&mine).filter(|(a, b)| a != b).collect();
    assert_eq!(changed.len(), 5, "{changed:#?}");
    assert!(mine.contains(
        &"ExecStart=/usr/local/bin/telemetryd --config /etc/telemetryd/%i.yaml".to_string()
    ));
    assert!(mine.contains(&"LogsDirectory=telemetryd-%i".to_string()));
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

#[test]
fn the_archive_unit_runs_the_archive_mode_as_a_notify_service_and_a_static_member() {
    for line in [
        "Type=notify",
        "WatchdogSec=",
        "Restart=on-failure",
        "ExecStart=/usr/local/bin/telemetryd archive --config /etc/telemetryd/telemetry.yaml",
        "RestartPreventExitStatus=78",
        "Environment=TELEMETRYD_ARCHIVE__INSTANCE_ID=archive-%H",
    ] {
        assert!(
            ARCHIVE_UNIT.lines().any(|l| l.starts_with(line)),
            "missing {line}"
        );
    }
}
