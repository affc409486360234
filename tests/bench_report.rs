//! The benchmark report's own tests (bench/test_report.py), run with the rest of the suite.

use std::process::Command;

/// bench/report.py derives the figures and verdicts of BENCHMARKS.md from bench/run.sh's
/// results; its unittest suite renders a fixture of the last run and checks the tables.
#[test]
fn the_benchmark_report_renders_its_fixture_and_verdicts_as_its_tests_expect() {
    let out = Command::new("python3")
        // -B: no __pycache__ left in bench/.
        .args(["-B", "bench/test_report.py", "-v"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("python3 must be installed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "bench/test_report.py failed:\n{stderr}"
    );
    // unittest's summary line: tests ran (a file that defines none would pass too).
    let ran = stderr
        .lines()
        .find_map(|l| {
            l.strip_prefix("Ran ")?
                .split(' ')
                .next()?
                .parse::<u32>()
                .ok()
        })
        .expect("unittest prints how many tests ran");
    assert!(ran > 0, "no test ran:\n{stderr}");
}
