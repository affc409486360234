#!/usr/bin/env bash
# Removes what scripts/install.sh installed. The config in /etc/telemetryd stays unless
# --purge is given. Usage: scripts/uninstall.sh [--purge] [--root DIR]
set -euo pipefail
purge="" root=""
while [ $# -gt 0 ]; do
    case "$1" in
        --purge) purge=1; shift ;;
        --root) root="$2"; shift 2 ;;
        *) echo "usage: $0 [--purge] [--root DIR]" >&2; exit 2 ;;
    esac
done
if [ -z "$root" ] && [ -d /run/systemd/system ]; then
    systemctl disable --now telemetryd.service telemetryd-archive.service 2>/dev/null || true
    systemctl stop 'telemetryd@*.service' 2>/dev/null || true
fi
rm -f "$root/usr/local/bin/telemetryd" "$root/etc/systemd/system/telemetryd.service" \
    "$root/etc/systemd/system/telemetryd-archive.service" \
    "$root/etc/systemd/system/telemetryd@.service"
rm -rf "$root/usr/local/share/doc/telemetryd"
[ -z "$purge" ] || rm -rf "$root/etc/telemetryd"
if [ -z "$root" ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
fi
echo "Uninstalled${purge:+ (config purged)}."
