#!/usr/bin/env bash
# Prints telemetryd@.service, the template unit of sharded instances (README: "Sharded
# instances"), made from systemd/telemetryd.service so that the two never drift apart:
# instance %i reads /etc/telemetryd/%i.yaml and may log under /var/log/telemetryd-%i (its
# own: with DynamicUser, /var/log/telemetryd is the main unit's).
# Usage: scripts/template-unit.sh [UNIT] > telemetryd@.service
set -euo pipefail
unit=${1:-"$(dirname "$0")/../systemd/telemetryd.service"}
sed -e 's|^# telemetryd: .*|# telemetryd@%i: one sharded instance of telemetryd, configured by /etc/telemetryd/%i.yaml.|' \
    -e 's|^Description=.*|Description=telemetryd instance %i (switch telemetry simulator and API)|' \
    -e 's|/etc/telemetryd/telemetry.yaml|/etc/telemetryd/%i.yaml|g' \
    -e 's|^LogsDirectory=telemetryd$|LogsDirectory=telemetryd-%i|' \
    "$unit"
