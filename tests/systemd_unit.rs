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
