#!/usr/bin/env bash
# Measures line coverage of src/ by the whole Rust test suite (cargo-tarpaulin, ptrace
# engine: this toolchain has no llvm-tools), prints it per module, and fails when the total
# is below the floor in .ci/coverage-floor. CI runs it after scripts/test.sh.
#
#   scripts/coverage.sh            # measure, report, enforce
#
# cargo-tarpaulin is installed once into a fixed root (about 4 minutes on 2 cores) and
# reused; a fresh machine installs it.
set -euo pipefail
cd "$(dirname "$0")/.."

tools=${TELEMETRYD_TOOLS_ROOT:-/var/cache/telemetryd-tools}
tarpaulin=$tools/bin/cargo-tarpaulin
if [ ! -x "$tarpaulin" ]; then
    echo "scripts/coverage.sh: installing cargo-tarpaulin into $tools"
    cargo install cargo-tarpaulin --locked --root "$tools"
fi

out=target/coverage
mkdir -p "$out"
# One test thread: tarpaulin follows each test binary under ptrace, and the tests start
# their own redis-servers and daemons on free ports.
"$tarpaulin" tarpaulin --engine ptrace --skip-clean --locked \
    --target-dir target/tarpaulin \
    --exclude-files 'benches/*' 'examples/*' 'tests/*' \
    --no-fail-fast --out Json --output-dir "$out" --timeout 300 -- --test-threads=1 \
    >"$out/tarpaulin.log" 2>&1 || {
    tail -50 "$out/tarpaulin.log"
    echo "scripts/coverage.sh: the suite failed under tarpaulin" >&2
    exit 1
}
python3 scripts/coverage_report.py "$out/tarpaulin-report.json" .ci/coverage-floor
