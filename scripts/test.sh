#!/usr/bin/env bash
# Runs the whole test suite: unit tests, integration tests against a real redis-server,
# the binary's CLI, signals and logs, and the systemd unit checks.
# Installs what a fresh Debian machine lacks: redis-server, systemd-analyze, promtool,
# logrotate, mariadb-server, openssl and curl (the TLS tests) with apt-get, schemathesis,
# pandas and prometheus-client with pip, and the tansu Kafka
# broker with cargo.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v logrotate >/dev/null 2>&1 || missing+=(logrotate)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || missing+=(mariadb-server)
if [ ${#missing[@]} -gt 0 ]; then
    echo "scripts/test.sh: installing ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# schemathesis (PyPI) checks the daemon against its OpenAPI description.
scripts_dir=$(python3 -c "import sysconfig; print(sysconfig.get_path('scripts'))")
if ! command -v schemathesis >/dev/null 2>&1 && [ ! -x "$scripts_dir/schemathesis" ]; then
    echo "scripts/test.sh: installing schemathesis"
    python3 -m pip install --quiet schemathesis
fi
# pandas and prometheus_client read the UFM-compatible endpoints as UFM's consumers do
# (tests/ufm.rs).
if ! python3 -c 'import pandas, prometheus_client' >/dev/null 2>&1; then
    echo "scripts/test.sh: installing pandas and prometheus-client"
    python3 -m pip install --quiet pandas prometheus-client
fi

# tansu (crates.io): the Kafka-protocol broker tests/archive.rs runs; built once per
# machine into a fixed root (about 10 minutes on 2 cores).
tansu_root=/var/cache/telemetryd-tools/tansu
if [ ! -x "$tansu_root/bin/tansu" ]; then
    echo "scripts/test.sh: installing tansu"
    CARGO_TARGET_DIR=/var/tmp/tansu-build \
        cargo install tansu --locked --features dynostore --root "$tansu_root"
fi
export PATH="$tansu_root/bin:$PATH"

if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --locked --all-targets --no-fail-fast "$@"
else
    cargo test --locked --all-targets --no-fail-fast "$@"
fi
tests/e2e/systemd.sh
