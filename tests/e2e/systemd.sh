#!/usr/bin/env bash
# End-to-end test of telemetryd under a real systemd: boots Debian bookworm in
# systemd-nspawn (private network: only lo), installs the daemon with scripts/install.sh
# --root, and checks the unit as systemd runs it: Type=notify readiness, request logs and
# their journald priorities, Redis, restart after SIGKILL, the watchdog, a real Prometheus
# scraping /metrics, the archiver's unit (telemetryd-archive) streaming through a tansu
# broker into the container's MariaDB, a clean stop.
#
# Needs root (debootstrap, nspawn, nsenter) and the Debian package mirror; installs
# systemd-container and debootstrap with apt-get when missing. The container root is built
# once and cached (about 80 s, 500 MB); every run boots a throw-away copy of it.
#
#   tests/e2e/systemd.sh
#   TELEMETRYD_BIN=target/release/telemetryd tests/e2e/systemd.sh     # default: target/debug/telemetryd
#   TELEMETRYD_E2E_ROOTFS=/somewhere/rootfs tests/e2e/systemd.sh       # default: /var/tmp/telemetryd-e2e-rootfs
#
# Prints one "ok - NAME" / "not ok - NAME" line per check (details on "#" lines), then
# "N passed, M failed"; exits non-zero if a check failed or the script itself broke.
set -euo pipefail
set -E

started_at=$SECONDS
orig_pwd=$(pwd)
cd "$(dirname "$0")/../.."
repo=$(pwd)

suite=bookworm
packages=systemd,dbus,redis-server,curl,procps,iproute2,prometheus,mariadb-server
cache=${TELEMETRYD_E2E_ROOTFS:-/var/tmp/telemetryd-e2e-rootfs}
stamp="$cache/.telemetryd-e2e-complete"
stamp_content="debootstrap --variant=minbase --include=$packages $suite"
if [ -n "${TELEMETRYD_BIN:-}" ]; then
    case "$TELEMETRYD_BIN" in
        /*) bin=$TELEMETRYD_BIN ;;
        *) bin="$orig_pwd/$TELEMETRYD_BIN" ;;
    esac
else
    bin="$repo/target/debug/telemetryd"
fi
# The daemon reads every TELEMETRYD_* variable as configuration (install.sh runs its
# --check-config), and these two are not keys of it.
unset TELEMETRYD_BIN TELEMETRYD_E2E_ROOTFS

passed=0 failed=0 finished=0 err_line=""
work="" nspawn_pid="" pid1=""
machine="telemetryd-e2e-$$"

say() { echo "# $*"; }
# Indents a block of detail lines as TAP comments.
details() { sed -e 's/^/#   /'; }
pass() { passed=$((passed + 1)); echo "ok - $1"; }
fail() {
    failed=$((failed + 1))
    echo "not ok - $1"
    shift
    local line
    for line in "$@"; do printf '%s\n' "$line" | details; done
}

# wait_for SECONDS DESCRIPTION CMD...: runs CMD every 0.1 s until it succeeds; returns 1
# (after saying what it waited for) when SECONDS pass first.
wait_for() {
    local limit=$1 what=$2
    shift 2
    local deadline=$((SECONDS + limit))
    until "$@"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            say "gave up after ${limit}s waiting for: $what"
            return 1
        fi
        sleep 0.1
    done
}

# ct CMD...: runs CMD inside the container (every namespace of its PID 1) with a clean
# environment, so nothing of the host's (pager, locale, SYSTEMD_*) leaks in.
ct() {
    nsenter -t "$pid1" -a \
        env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        SYSTEMD_PAGER=cat SYSTEMD_COLORS=0 LANG=C.UTF-8 "$@"
}
# HTTP status of GET URL inside the container's network namespace ("000": no answer).
http_code() { ct curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$1" || true; }
prop() { ct systemctl show -p "$1" --value telemetryd; }
unit_journal() { ct journalctl -u telemetryd --no-pager -q -o cat "$@"; }
# The journal cursor after the last telemetryd entry, to read only what follows it.
journal_cursor() {
    ct journalctl -u telemetryd --no-pager -q -n 1 -o cat --show-cursor |
        sed -n 's/^-- cursor: //p' | tail -n 1
}
since() { # since CURSOR [journalctl args...]: unit lines after CURSOR (all if empty)
    local cursor=$1
    shift
    if [ -n "$cursor" ]; then unit_journal --after-cursor="$cursor" "$@"; else unit_journal "$@"; fi
}
journal_tail() { unit_journal -n 25 2>&1 || true; }
# Journal checks read the journal whole, then search it: `journalctl | grep -q` fails under
# pipefail whenever grep stops reading early and journalctl dies of SIGPIPE.

container_alive() { [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; }
nspawn_gone() { ! kill -0 "$nspawn_pid" 2>/dev/null; }

cleanup() {
    local rc=$?
    set +e
    trap - ERR
    if [ "$finished" != 1 ]; then
        failed=$((failed + 1))
        echo "not ok - the test script ran to its end"
        echo "#   aborted with exit status $rc${err_line:+ at line $err_line}"
        if [ -n "$work" ] && [ -s "$work/boot.log" ]; then
            say "last lines of the container's console:"
            tail -n 20 "$work/boot.log" | details
        fi
    fi
    if container_alive; then
        if [ -n "$pid1" ] && kill -0 "$pid1" 2>/dev/null; then
            # SIGRTMIN+4 asks systemd to power off when its bus is not up (yet).
            ct systemctl poweroff --no-block >/dev/null 2>&1 || kill -s RTMIN+4 "$pid1" 2>/dev/null
        fi
        if ! wait_for 30 "the container to power off" nspawn_gone; then
            say "powering off took too long; terminating systemd-nspawn ($nspawn_pid)"
            kill -TERM "$nspawn_pid" 2>/dev/null
            wait_for 10 "systemd-nspawn to exit" nspawn_gone ||
                kill -KILL "$nspawn_pid" 2>/dev/null
        fi
        wait "$nspawn_pid" 2>/dev/null
    fi
    if [ -n "$work" ] && [ -d "$work" ]; then
        if findmnt -rn -o TARGET | grep -qF "$work"; then
            say "not removing $work: something is still mounted under it"
        else
            rm -rf --one-file-system "$work"
        fi
    fi
    say "took $((SECONDS - started_at)) s"
    echo "$passed passed, $failed failed"
    if [ "$failed" -gt 0 ] || [ "$rc" -ne 0 ]; then exit 1; fi
    exit 0
}
trap 'err_line=$LINENO' ERR
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- Prerequisites -----------------------------------------------------------------------

if [ "$(id -u)" -ne 0 ]; then
    echo "tests/e2e/systemd.sh: must run as root (debootstrap, systemd-nspawn, nsenter)" >&2
    exit 1
fi
if [ ! -x "$bin" ]; then
    echo "tests/e2e/systemd.sh: no telemetryd binary at $bin (build it first, or set TELEMETRYD_BIN)" >&2
    exit 1
fi

missing=()
command -v systemd-nspawn >/dev/null 2>&1 || missing+=(systemd-container)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

# The Debian mirror this machine uses: the URIs of the deb822 stanza that carries the plain
# suite (not -security / -updates), else the first URIs line, else the legacy sources.list.
mirror() {
    local m=""
    m=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk -v suite="$suite" '
        /^[[:space:]]*$/ { if (uri != "" && ok) { print uri; exit } uri = ""; ok = 0; next }
        /^URIs:/ { uri = $2 }
        /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) ok = 1 }
        END { if (uri != "" && ok) print uri }' | head -n 1)
    [ -n "$m" ] || m=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' \
        /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
    [ -n "$m" ] || m=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' \
        /etc/apt/sources.list 2>/dev/null | head -n 1)
    [ -n "$m" ] || { echo "tests/e2e/systemd.sh: no Debian mirror in /etc/apt/sources.list*" >&2; return 1; }
    echo "$m"
}

# --- The cached container root ---------------------------------------------------------

mkdir -p "$(dirname "$cache")"
exec 9>"$cache.lock"
flock 9 # one builder at a time; concurrent runs wait here, then reuse it
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$stamp_content" ]; then
    [ -e "$cache" ] && say "discarding the incomplete or outdated container root $cache"
    rm -rf --one-file-system "$cache" "$cache.partial"
    url=$(mirror)
    say "building the container root $cache from $url (once; about 80 s)"
    build_started=$SECONDS
    if ! debootstrap --variant=minbase --include="$packages" "$suite" "$cache.partial" "$url" \
        >"$cache.debootstrap.log" 2>&1; then
        tail -n 30 "$cache.debootstrap.log" | details
        rm -rf --one-file-system "$cache.partial"
        echo "tests/e2e/systemd.sh: debootstrap failed; log in $cache.debootstrap.log" >&2
        exit 1
    fi
    # No apt caches or package lists in the copies; keep the image small.
    rm -rf "$cache.partial"/var/cache/apt/archives/*.deb "$cache.partial"/var/lib/apt/lists/*
    echo "$stamp_content" >"$cache.partial/${stamp##*/}"
    mv "$cache.partial" "$cache"
    say "container root built in $((SECONDS - build_started)) s"
fi
flock -u 9

# --- A throw-away copy with telemetryd installed -----------------------------------------

work=$(mktemp -d /var/tmp/telemetryd-e2e.XXXXXX)
root="$work/rootfs"
copy_started=$SECONDS
cp -a --reflink=auto "$cache" "$root"
say "copied the container root in $((SECONDS - copy_started)) s"

scripts/install.sh --root "$root" --binary "$bin" | details
chroot "$root" systemctl enable redis-server.service 2>&1 | details
# Prometheus scrapes only telemetryd, every second, and listens on the container's lo. Its
# check starts it; it does not start at boot, so the checks before it run without it.
cat >"$root/etc/prometheus/prometheus.yml" <<'EOF'
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: telemetryd
    authorization:
      credentials: tmd_e2e-prometheus-token
    static_configs:
      - targets: ['127.0.0.1:8080']
EOF
echo 'ARGS="--config.file=/etc/prometheus/prometheus.yml --web.listen-address=127.0.0.1:9090"' \
    >"$root/etc/default/prometheus"
chroot "$root" systemctl disable prometheus.service 2>&1 | details
# The archive check's broker: the tansu scripts/test.sh builds (a Kafka-protocol broker; any
# Kafka would do). MariaDB comes with the container root.
tansu_bin=$(command -v tansu || echo /var/cache/telemetryd-tools/tansu/bin/tansu)
install -m 0755 "$tansu_bin" "$root/usr/local/bin/tansu"
chroot "$root" systemctl enable mariadb.service 2>&1 | details

# --- Boot ---------------------------------------------------------------------------------

boot_started=$SECONDS
systemd-nspawn --register=no --keep-unit --console=read-only -D "$root" -M "$machine" \
    --private-network --boot >"$work/boot.log" 2>&1 &
nspawn_pid=$!

container_pid1() {
    container_alive || return 2
    local p
    p=$(ps --ppid "$nspawn_pid" -o pid= | tr -d ' ' | head -n 1)
    [ -n "$p" ] && [ "$(cat "/proc/$p/comm" 2>/dev/null)" = systemd ] && pid1=$p
}
if ! wait_for 30 "the container's systemd to start" container_pid1; then
    echo "tests/e2e/systemd.sh: the container did not boot" >&2
    exit 1
fi
# systemd's own socket: until it exists, systemctl cannot even ask how far boot got.
private_socket() { [ -S "/proc/$pid1/root/run/systemd/private" ]; }
wait_for 30 "the container's systemd to listen" private_socket || true
state=$(timeout 120 nsenter -t "$pid1" -a systemctl is-system-running --wait 2>&1) || true
say "container booted in $((SECONDS - boot_started)) s: $state"
case "$state" in
    running) ;;
    degraded) ct systemctl --failed --no-legend 2>&1 | details ;;
    *)
        echo "tests/e2e/systemd.sh: the container's systemd is '$state', not running" >&2
        exit 1
        ;;
esac
ct systemctl daemon-reload

# --- Checks -------------------------------------------------------------------------------

# a. Type=notify: `systemctl start` returns only after READY=1, which the daemon sends once
#    both listeners are bound, so both answer right away, with no sleep in between.
rc=0
out=$(ct timeout 60 systemctl start telemetryd 2>&1) || rc=$?
counters=$(http_code http://127.0.0.1:9001/counters)
telemetry=$(http_code http://127.0.0.1:8080/telemetry/)
if [ "$rc" -eq 0 ] && [ "$counters" = 200 ] && [ "$telemetry" = 200 ]; then
    pass "systemctl start returns 0 after READY=1: /counters and /telemetry/ answer 200 at once"
else
    fail "systemctl start returns 0 after READY=1: /counters and /telemetry/ answer 200 at once" \
        "systemctl start exit status $rc ${out:+($out)}" \
        "GET :9001/counters -> $counters, GET :8080/telemetry/ -> $telemetry" \
        "$(journal_tail)"
fi

# b. The unit as systemd sees it.
show=$(ct systemctl show -p Type,NRestarts,ActiveState,SubState telemetryd 2>&1 || true)
restarts_before=$(prop NRestarts 2>/dev/null || echo 0)
if grep -qx 'Type=notify' <<<"$show" && grep -qx 'ActiveState=active' <<<"$show"; then
    pass "the unit is Type=notify and active"
else
    fail "the unit is Type=notify and active" "$show"
fi

# b2. Under the unit's sandbox (SystemCallFilter), the three ingest threads are named and
#     scheduled SCHED_BATCH (policy 3), and the daemon logged no warning about it.
ingest_threads() {
    local main
    main=$(prop MainPID)
    # comm, then field 41 of stat (the policy): the 39th field after "pid (comm) ".
    ct sh -c "for t in /proc/$main/task/*; do echo \"\$(cat \$t/comm) \$(sed 's/^.*) //' \$t/stat | cut -d' ' -f39)\"; done"
}
threads=$(ingest_threads 2>&1 || true)
sched_warnings=$(unit_journal | grep -F 'Cannot schedule' || true)
if grep -qx 'switches 3' <<<"$threads" && grep -qx 'redis-writer 3' <<<"$threads" &&
    grep -qx 'cache 3' <<<"$threads" && [ -z "$sched_warnings" ]; then
    pass "threads switches, redis-writer and cache run SCHED_BATCH under the unit's syscall filter"
else
    fail "threads switches, redis-writer and cache run SCHED_BATCH under the unit's syscall filter" \
        "threads (name policy):" "$threads" "warnings: ${sched_warnings:-(none)}"
fi

# c. Requests are logged (up to 100 lines a second per listener), with their latency.
for path in /telemetry/switch-2 /telemetry/switch-2/latency_ms /nope; do
    http_code "http://127.0.0.1:8080$path" >/dev/null
done
http_code http://127.0.0.1:9001/counters >/dev/null
request_lines() {
    [ "$(unit_journal | grep -F 'msg="HTTP request."' | grep -cF 'latency_us=')" -ge 6 ]
}
if wait_for 10 "6 request lines in the journal" request_lines; then
    pass "journalctl -u telemetryd has request lines with msg=\"HTTP request.\" and latency_us="
    unit_journal | grep -F 'msg="HTTP request."' | tail -n 2 | details
else
    fail "journalctl -u telemetryd has request lines with msg=\"HTTP request.\" and latency_us=" \
        "$(journal_tail)"
fi

# d. The <N> prefixes become journald priorities: INFO lines are filed at info, never at
#    warning or above, and no raw prefix is left in a message.
warning_info=$(unit_journal -p warning | grep -F 'level=INFO' || true)
info_info=$(unit_journal -p info..info | grep -cF 'level=INFO' || true)
raw_prefix=$(unit_journal | grep -E '^<[0-9]>' || true)
if [ -z "$warning_info" ] && [ "$info_info" -gt 0 ] && [ -z "$raw_prefix" ]; then
    pass "journalctl -p warning has no level=INFO line ($info_info INFO lines filed at info)"
else
    fail "journalctl -p warning has no level=INFO line ($info_info INFO lines filed at info)" \
        "INFO lines at warning or above:" "${warning_info:-(none)}" \
        "lines still starting with <N>:" "${raw_prefix:-(none)}"
fi

# e. Every switch is in the container's Redis.
redis_hashes() {
    local n
    for n in 0 1 2 3 4; do
        [ "$(ct redis-cli --no-raw hgetall "telemetry:switch-$n" 2>/dev/null | wc -l)" -eq 10 ] || return 1
    done
}
if wait_for 10 "telemetry:switch-0..4 in Redis" redis_hashes; then
    pass "redis has the hashes telemetry:switch-0..4, 5 fields each"
else
    fail "redis has the hashes telemetry:switch-0..4, 5 fields each" \
        "keys: $(ct redis-cli --scan --pattern 'telemetry:*' 2>&1 | tr '\n' ' ')" \
        "hgetall telemetry:switch-0:" "$(ct redis-cli hgetall telemetry:switch-0 2>&1)" \
        "$(journal_tail)"
fi

# e2. systemctl reload: SIGHUP (ExecReload), which reopens the log file; the process stays.
reload_cursor=$(journal_cursor)
reload_pid=$(prop MainPID)
reload_logged() { grep -q 'msg="No log file to reopen." signal=SIGHUP\|msg="Log file reopened."' <<<"$(since "$reload_cursor" 2>&1)"; }
if ct systemctl reload telemetryd && wait_for 10 "the reload logged" reload_logged &&
    [ "$(prop MainPID)" = "$reload_pid" ] && [ "$(prop ActiveState)" = active ] &&
    [ "$(http_code http://127.0.0.1:8080/healthz)" = 200 ]; then
    pass "systemctl reload: SIGHUP logged, same MainPID $reload_pid, still serving"
else
    fail "systemctl reload: SIGHUP logged, same MainPID, still serving" \
        "MainPID before: $reload_pid, now: $(prop MainPID)" "$(journal_tail)"
fi

# f. SIGKILL of the main process: Restart=on-failure brings it back.
old_pid=$(prop MainPID)
restarted() {
    local pid
    pid=$(prop MainPID) || return 1
    [ "$(prop NRestarts)" -gt "$restarts_before" ] && [ "$pid" != 0 ] && [ "$pid" != "$old_pid" ] &&
        [ "$(prop ActiveState)" = active ] &&
        [ "$(http_code http://127.0.0.1:9001/counters)" = 200 ] &&
        [ "$(http_code http://127.0.0.1:8080/telemetry/)" = 200 ]
}
if [ "$old_pid" != 0 ] && ct kill -9 "$old_pid" && wait_for 30 "a restart after SIGKILL" restarted; then
    pass "kill -9 of MainPID $old_pid: systemd restarts it (NRestarts $restarts_before -> $(prop NRestarts), MainPID $(prop MainPID)), both ports answer"
else
    fail "kill -9 of MainPID: systemd restarts it, both ports answer" \
        "MainPID before: $old_pid" \
        "$(ct systemctl show -p NRestarts,MainPID,ActiveState,SubState,Result telemetryd 2>&1)" \
        "$(journal_tail)"
fi

# h. The watchdog: systemd asked for it, the daemon saw it, and its pings arrive.
watchdog_usec=$(prop WatchdogUSec 2>&1 || true)
first_ping=$(prop WatchdogTimestampMonotonic 2>/dev/null || echo 0)
pinged_again() {
    local t
    t=$(prop WatchdogTimestampMonotonic) && [ "$t" -gt "$first_ping" ]
}
if [ -n "$watchdog_usec" ] && [ "$watchdog_usec" != 0 ] && [ "$watchdog_usec" != infinity ] &&
    grep -qF 'msg="Watchdog enabled."' <<<"$(unit_journal 2>&1)" &&
    wait_for 15 "another WATCHDOG=1 ping" pinged_again; then
    pass "the watchdog: WatchdogUSec=$watchdog_usec, \"Watchdog enabled.\" logged, pings arrive"
else
    fail "the watchdog: WatchdogUSec non-zero, \"Watchdog enabled.\" logged, pings arrive" \
        "WatchdogUSec=$watchdog_usec, WatchdogTimestampMonotonic $first_ping -> $(prop WatchdogTimestampMonotonic 2>&1)" \
        "$(unit_journal | grep -F Watchdog || echo 'no Watchdog line in the journal')"
fi

# i. A real Prometheus scrapes /metrics: its query API has telemetry_latency_seconds of
#    every switch, and up{job="telemetryd"} is 1.
# prom_query PROMQL: the JSON answer of Prometheus's instant query API ("" if none).
prom_query() {
    ct curl -s --max-time 5 -G --data-urlencode "query=$1" \
        http://127.0.0.1:9090/api/v1/query 2>/dev/null || true
}
latency_json="" up_json=""
prometheus_scraped() {
    local n
    latency_json=$(prom_query telemetry_latency_seconds)
    up_json=$(prom_query 'up{job="telemetryd"}')
    grep -qF '"status":"success"' <<<"$latency_json" || return 1
    for n in 0 1 2 3 4; do
        grep -qF "\"switch\":\"switch-$n\"" <<<"$latency_json" || return 1
    done
    grep -qF '"status":"success"' <<<"$up_json" &&
        grep -qE '"value":\[[0-9.e+]+,"1"\]' <<<"$up_json"
}
# i0. Tokens from a systemd credential (LoadCredential=, the README's drop-in): /metrics
#     then needs a token, which Prometheus sends (authorization: in its scrape job).
token_hash=$(printf %s tmd_e2e-prometheus-token | sha256sum | cut -d' ' -f1)
printf -- '- {name: prometheus, scope: read, sha256: %s}\n' "$token_hash" \
    >"$root/etc/telemetryd/tokens.yaml"
chmod 0600 "$root/etc/telemetryd/tokens.yaml"
mkdir -p "$root/etc/systemd/system/telemetryd.service.d"
cat >"$root/etc/systemd/system/telemetryd.service.d/credentials.conf" <<'EOF'
[Service]
LoadCredential=tokens:/etc/telemetryd/tokens.yaml
Environment=TELEMETRYD_AUTH__TOKENS_FILE=%d/tokens
EOF
ct systemctl daemon-reload
rc=0 out=""
out=$(ct timeout 60 systemctl restart telemetryd 2>&1) || rc=$?
anonymous=$(http_code http://127.0.0.1:8080/metrics)
with_token=$(ct curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
    -H 'Authorization: Bearer tmd_e2e-prometheus-token' http://127.0.0.1:8080/metrics || true)
# Read whole, then searched: `grep -q` would stop reading early, and under pipefail the
# SIGPIPE of journalctl would fail the pipeline.
journal=$(unit_journal 2>&1 || true)
if [ "$rc" -eq 0 ] && [ "$anonymous" = 401 ] && [ "$with_token" = 200 ] &&
    grep -qF 'msg="Bearer tokens required." tokens=1' <<<"$journal" &&
    ! grep -qF tmd_e2e-prometheus-token <<<"$journal"; then
    pass "tokens from a systemd credential: /metrics 401 without a token, 200 with it, none logged"
else
    fail "tokens from a systemd credential: /metrics 401 without a token, 200 with it" \
        "systemctl restart: exit status $rc ${out:+($out)}" \
        "GET /metrics: $anonymous without a token, $with_token with it" "$(journal_tail)"
fi

prometheus_check='Prometheus scrapes 127.0.0.1:8080/metrics with its token: telemetry_latency_seconds of switch-0..4, up{job="telemetryd"} == 1'
rc=0 out=""
promtool=$(ct promtool check config /etc/prometheus/prometheus.yml 2>&1) || rc=$?
[ "$rc" -ne 0 ] || out=$(ct timeout 60 systemctl start prometheus 2>&1) || rc=$?
if [ "$rc" -eq 0 ] &&
    wait_for 60 "telemetry_latency_seconds of switch-0..4 and up == 1 in Prometheus" prometheus_scraped; then
    pass "$prometheus_check ($(grep -o '"switch":"switch-[0-9]*"' <<<"$latency_json" | sort -u | wc -l) series)"
    say "up{job=\"telemetryd\"}: $up_json"
else
    fail "$prometheus_check" \
        "promtool check config: $promtool" "systemctl start prometheus: exit status $rc ${out:+($out)}" \
        "$(ct systemctl show -p ActiveState,SubState,Result,ExecMainStatus prometheus 2>&1)" \
        "query telemetry_latency_seconds -> ${latency_json:-(no answer)}" \
        "query up{job=\"telemetryd\"} -> ${up_json:-(no answer)}" \
        "targets: $(ct curl -s --max-time 5 http://127.0.0.1:9090/api/v1/targets 2>&1 |
            grep -oE '"(scrapeUrl|health|lastError)":"([^"\\]|\\.)*"' | tr '\n' ' ')" \
        "$(ct journalctl -u prometheus --no-pager -q -o cat -n 15 2>&1)"
fi

# The later checks read without a token.
rm -f "$root/etc/systemd/system/telemetryd.service.d/credentials.conf"
ct systemctl daemon-reload

# l. The archiver's own unit: the daemon streams to a broker, `systemctl start
#    telemetryd-archive` returns after READY=1, rows arrive in MariaDB, the history route
#    answers from them, a SIGKILLed archiver is restarted and goes on, and it stops cleanly.
archive_prop() { ct systemctl show -p "$1" --value telemetryd-archive; }
archive_journal() { ct journalctl -u telemetryd-archive --no-pager -q -o cat "$@"; }
rows() { ct mariadb -N -B -e 'SELECT COUNT(*) FROM telemetry.samples' 2>/dev/null || echo 0; }
archive_check="telemetryd-archive: Type=notify start, rows in MariaDB, history from them"
rc=0 out="" rows_before=0
ct systemd-run --unit=tansu /usr/local/bin/tansu broker --listener-url tcp://127.0.0.1:9092 \
    --advertised-listener-url tcp://127.0.0.1:9092 --storage-engine memory://tansu/ 2>&1 | details ||
    rc=1
broker_up() { ct tansu topic list --broker tcp://127.0.0.1:9092 >/dev/null 2>&1; }
wait_for 30 "tansu to answer" broker_up || rc=1
ct tansu topic create telemetry.samples --partitions 4 --broker tcp://127.0.0.1:9092 2>&1 | details ||
    rc=1
mariadb_up() { ct mariadb -e 'SELECT 1' >/dev/null 2>&1; }
wait_for 60 "MariaDB to answer" mariadb_up || rc=1
ct mariadb -e "CREATE DATABASE telemetry; CREATE USER 'telemetryd'@'%' IDENTIFIED BY 'e2e-pw';
    GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX ON telemetry.* TO 'telemetryd'@'%';" \
    2>&1 | details || rc=1
cat >>"$root/etc/telemetryd/telemetry.yaml" <<'EOF'

kafka:
  brokers: [127.0.0.1:9092]
history:
  database: mysql://telemetryd@127.0.0.1:3306/telemetry
  password: e2e-pw
EOF
[ "$rc" -ne 0 ] || out=$(ct timeout 60 systemctl restart telemetryd 2>&1) || rc=$?
[ "$rc" -ne 0 ] || out=$(ct timeout 60 systemctl start telemetryd-archive 2>&1) || rc=$?
archived() { [ "$(rows)" -gt "$rows_before" ]; }
history_from_database() {
    ct curl -s --max-time 5 'http://127.0.0.1:8080/telemetry/switch-1/latency_ms/history' |
        grep -qE '"points":\[\{.*"source":"database"'
}
if [ "$rc" -eq 0 ] && [ "$(archive_prop Type)" = notify ] &&
    [ "$(archive_prop ActiveState)" = active ] &&
    wait_for 60 "rows in telemetry.samples" archived &&
    wait_for 30 "history of switch-1 from the database" history_from_database &&
    grep -qF 'msg=Archiving. topic=telemetry.samples' <<<"$(archive_journal 2>&1)"; then
    pass "$archive_check ($(rows) rows)"
else
    fail "$archive_check" "systemctl: exit status $rc ${out:+($out)}" \
        "$(ct systemctl show -p Type,ActiveState,Result telemetryd-archive 2>&1)" \
        "rows: $(rows)" "$(archive_journal -n 20 2>&1)" "$(journal_tail)"
fi

archive_check="telemetryd-archive: SIGKILL -> restarted by systemd, archiving again"
main_before=$(archive_prop MainPID)
ct kill -9 "$main_before" 2>&1 | details || true
archive_restarted() {
    [ "$(archive_prop NRestarts)" = 1 ] && [ "$(archive_prop ActiveState)" = active ]
}
if wait_for 30 "the archiver to be restarted" archive_restarted &&
    rows_before=$(rows) && wait_for 60 "more rows after the restart" archived; then
    pass "$archive_check (MainPID $main_before -> $(archive_prop MainPID), $(rows) rows)"
else
    fail "$archive_check" "$(ct systemctl show -p NRestarts,ActiveState,MainPID telemetryd-archive 2>&1)" \
        "rows: $(rows) (before: $rows_before)" "$(archive_journal -n 20 2>&1)"
fi

archive_check="telemetryd-archive: systemctl stop: exit 0, inactive, msg=Stopped."
rc=0
out=$(ct timeout 60 systemctl stop telemetryd-archive 2>&1) || rc=$?
if [ "$rc" -eq 0 ] && [ "$(archive_prop ActiveState)" = inactive ] &&
    [ "$(archive_prop Result)" = success ] && grep -qx '.*msg=Stopped\.' <<<"$(archive_journal 2>&1)"; then
    pass "$archive_check"
else
    fail "$archive_check" "systemctl stop exit status $rc ${out:+($out)}" \
        "$(ct systemctl show -p ActiveState,Result telemetryd-archive 2>&1)" "$(archive_journal -n 10 2>&1)"
fi

# l. The instance template: telemetryd@shard1 reads /etc/telemetryd/shard1.yaml (its own
#    ports, shard 1 of 2), starts as a notify service beside telemetryd, says which shard
#    it is, and stops cleanly.
cat >"$root/etc/telemetryd/shard1.yaml" <<'YAML'
generator_server: {host: 127.0.0.1, port: 9011}
metric_server: {host: 127.0.0.1, port: 8081}
telemetry: {switches: 5, update_interval_seconds: 1, shard: {index: 1, count: 2}}
redis: {host: 127.0.0.1, port: 6379}
YAML
shard_check="telemetryd@shard1: the template unit starts shard 1 of 2 from its own config, stops cleanly"
rc=0
out=$(ct timeout 60 systemctl start telemetryd@shard1 2>&1) || rc=$?
shard_ready=$(ct curl -s --max-time 5 http://127.0.0.1:8081/readyz || true)
shard_journal() { ct journalctl -u telemetryd@shard1 --no-pager -q -o cat 2>&1 || true; }
stop_rc=0
[ "$rc" -ne 0 ] || ct timeout 60 systemctl stop telemetryd@shard1 >/dev/null 2>&1 || stop_rc=$?
if [ "$rc" -eq 0 ] && grep -q '"shard":{"count":2,"index":1' <<<"$shard_ready" &&
    grep 'Simulating one shard' <<<"$(shard_journal)" | grep -q ' shard=1' &&
    [ "$stop_rc" -eq 0 ] && [ "$(ct systemctl show -p Result --value telemetryd@shard1)" = success ]; then
    pass "$shard_check"
else
    fail "$shard_check" "systemctl start exit status $rc ${out:+($out)}; stop $stop_rc" \
        "readyz: $shard_ready" "$(shard_journal | tail -n 15)"
fi

# g. A clean stop: exit 0, inactive (not failed), and the daemon says it flushed everything.
cursor=$(journal_cursor)
rc=0
out=$(ct timeout 60 systemctl stop telemetryd 2>&1) || rc=$?
stopped_line() { grep -F 'msg=Stopped.' <<<"$(since "$cursor" 2>&1)" | grep -F 'outcome=clean' >/dev/null; }
state=$(ct systemctl show -p ActiveState,Result telemetryd 2>&1 | tr '\n' ' ' || true)
if [ "$rc" -eq 0 ] && [ "$(prop ActiveState)" = inactive ] && [ "$(prop Result)" = success ] &&
    wait_for 10 "msg=Stopped. ... outcome=clean in the journal" stopped_line; then
    pass "systemctl stop: exit 0, inactive, $(since "$cursor" | grep -F 'msg=Stopped.' | tail -n 1)"
else
    fail "systemctl stop: exit 0, inactive (not failed), msg=Stopped. with outcome=clean" \
        "systemctl stop exit status $rc ${out:+($out)}; $state" \
        "journal since the stop:" "$(since "$cursor" 2>&1 | tail -n 20)"
fi

# j. A config error is reported once and not restarted in a loop: the daemon exits 78 and
#    the unit says RestartPreventExitStatus=78.
cp "$root/etc/telemetryd/telemetry.yaml" "$root/etc/telemetryd/telemetry.yaml.good"
printf 'telemetry:\n  switches: 0\n' >"$root/etc/telemetryd/telemetry.yaml"
rc=0
out=$(ct timeout 60 systemctl start telemetryd 2>&1) || rc=$?
failed_state() { [ "$(prop ActiveState)" = failed ]; }
restarted() { [ "$(prop NRestarts)" != 0 ]; }
# Negative check: give systemd three RestartSec=1s periods to (wrongly) restart it.
if [ "$rc" -ne 0 ] && wait_for 10 "the unit to fail" failed_state &&
    ! wait_for 3 "no restart (expected to time out)" restarted >/dev/null &&
    grep -qF 'telemetry.switches: must be at least 1' <<<"$(unit_journal 2>&1)"; then
    pass "a config error: start fails, the journal names telemetry.switches, no restart (NRestarts=$(prop NRestarts))"
else
    fail "a config error: start fails, the journal names the key, no restart" \
        "systemctl start exit status $rc ${out:+($out)}" \
        "$(ct systemctl show -p ActiveState,Result,NRestarts,ExecMainStatus telemetryd 2>&1)" \
        "$(unit_journal -n 15 2>&1)"
fi
mv "$root/etc/telemetryd/telemetry.yaml.good" "$root/etc/telemetryd/telemetry.yaml"

# k. The uninstall path: removes binary, unit and docs, keeps the config unless --purge.
scripts/uninstall.sh --root "$root" | details
if [ ! -e "$root/usr/local/bin/telemetryd" ] && [ ! -e "$root/etc/systemd/system/telemetryd.service" ] &&
    [ -e "$root/etc/telemetryd/telemetry.yaml" ]; then
    scripts/uninstall.sh --purge --root "$root" | details
    if [ ! -e "$root/etc/telemetryd" ]; then
        pass "scripts/uninstall.sh removes binary and unit, keeps the config; --purge removes it"
    else
        fail "scripts/uninstall.sh --purge removes /etc/telemetryd" "$(ls -la "$root/etc/telemetryd" 2>&1)"
    fi
else
    fail "scripts/uninstall.sh removes binary and unit and keeps the config" \
        "$(ls -la "$root/usr/local/bin" "$root/etc/systemd/system" "$root/etc/telemetryd" 2>&1)"
fi

finished=1
