#!/usr/bin/env bash
# Installs telemetryd as a systemd service:
#   /usr/local/bin/telemetryd, /etc/systemd/system/telemetryd.service,
#   /etc/systemd/system/telemetryd-archive.service (the archiver; not enabled),
#   /etc/systemd/system/telemetryd@.service (sharded instances, /etc/telemetryd/<name>.yaml;
#   not enabled),
#   /etc/telemetryd/telemetry.yaml (kept if it exists), /usr/local/share/doc/telemetryd/README.md
# then reloads systemd. Usage: scripts/install.sh [--binary PATH] [--root DIR]
#   --binary PATH  install this binary instead of building target/release/telemetryd
#   --root DIR     install under DIR (a container's root) and skip the reload
set -euo pipefail
cd "$(dirname "$0")/.."

binary="" root=""
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) binary="$2"; shift 2 ;;
        --root) root="$2"; shift 2 ;;
        *) echo "usage: $0 [--binary PATH] [--root DIR]" >&2; exit 2 ;;
    esac
done
if [ -z "$binary" ]; then
    cargo build --release --locked
    binary=target/release/telemetryd
fi

install -D -m 0755 "$binary" "$root/usr/local/bin/telemetryd"
install -D -m 0644 systemd/telemetryd.service "$root/etc/systemd/system/telemetryd.service"
install -D -m 0644 systemd/telemetryd-archive.service \
    "$root/etc/systemd/system/telemetryd-archive.service"
scripts/template-unit.sh >"$root/etc/systemd/system/telemetryd@.service"
chmod 0644 "$root/etc/systemd/system/telemetryd@.service"
if [ ! -e "$root/etc/telemetryd/telemetry.yaml" ]; then
    install -D -m 0644 systemd/telemetry.yaml "$root/etc/telemetryd/telemetry.yaml"
fi
install -D -m 0644 README.md "$root/usr/local/share/doc/telemetryd/README.md"
"$root/usr/local/bin/telemetryd" --config "$root/etc/telemetryd/telemetry.yaml" --check-config

if [ -z "$root" ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    echo "Installed. Start it with: systemctl enable --now telemetryd"
else
    echo "Installed under ${root:-/}; run 'systemctl daemon-reload' where systemd runs."
fi
