#!/usr/bin/env bash
# bench/fabric.sh: the UFM-compatible mode at issue #15's size, 2,000 switches of 64 ports
# (1,332 leaves with 32 hosts each, 668 spines: 127,872 cabled ports) sampled every 1 s.
#
#   bench/fabric.sh                       # builds the release binary and the baseline once
#   TELEMETRYD_BIN=/path/to/telemetryd BASELINE_BIN=/path/to/baseline bench/fabric.sh
#
# Starts its own redis-server on a free port, and measures, one after the other:
#   1. freshness: BENCH_FABRIC_CHECKS times, 1 s apart, every switch's updated_at in Redis
#      (its ports are written in the same HSET), and the port fields Redis holds
#   2. CPU of the daemon and redis-server over BENCH_FABRIC_WINDOW s, no HTTP load
#   3. memory: the daemon's RSS before any UFM body is asked for, against a daemon with the
#      same 2,000 switches and no fabric; then after /csv/metrics is rendered
#   4. /csv/metrics against examples/baseline.rs serving the bytes telemetryd sent, wrk
#      -t1 -c8 for BENCH_FABRIC_DURATION s, BENCH_FABRIC_ROUNDS rounds in alternating order
#
# Raw outputs go to bench/out/fabric/ (gitignored); the summary is printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/bench/out/fabric
LEAVES=1332 SPINES=668 RADIX=64 HOSTS=32
SWITCHES=$((LEAVES + SPINES))
WARMUP=${BENCH_FABRIC_WARMUP:-20}
WINDOW=${BENCH_FABRIC_WINDOW:-20}
CHECKS=${BENCH_FABRIC_CHECKS:-10}
ROUNDS=${BENCH_FABRIC_ROUNDS:-3}
DURATION=${BENCH_FABRIC_DURATION:-10}
BIN=${TELEMETRYD_BIN:-}
BASELINE=${BASELINE_BIN:-}
for v in $(compgen -e | grep '^TELEMETRYD_' || true); do unset "$v"; done

log() { printf '\n== %s %s\n' "$(date +%T)" "$*" >&2; }
need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v redis-cli >/dev/null || need+=(redis-tools)
command -v wrk >/dev/null || need+=(wrk)
command -v curl >/dev/null || need+=(curl)
if ((${#need[@]})); then
    log "installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [[ -z $BIN || -z $BASELINE ]]; then
    log "building the release binary and the baseline"
    CARGO_TARGET_DIR=/var/tmp/bench-target cargo build --release --locked --bin telemetryd --example baseline
    BIN=${BIN:-/var/tmp/bench-target/release/telemetryd}
    BASELINE=${BASELINE:-/var/tmp/bench-target/release/examples/baseline}
fi

rm -rf "$OUT"
mkdir -p "$OUT/bodies" "$OUT/wrk"
FIG=$OUT/figures.tsv
: >"$FIG"
fig() { printf '%s\t%s\n' "$1" "$2" >>"$FIG"; }
fig commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
fig dirty "$(git status --porcelain -- src Cargo.toml Cargo.lock | awk '{print $2}' | paste -sd' ')"
fig uptime_before "$(uptime)"
read -r REDIS_PORT GEN_PORT MET_PORT BASE_PORT < <(python3 -c '
import socket
s = [socket.socket() for _ in range(4)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')

REDIS_PID="" DAEMON_PID="" BASE_PID=""
cleanup() {
    for p in "$DAEMON_PID" "$BASE_PID" "$REDIS_PID"; do
        [[ -n $p ]] && kill "$p" 2>/dev/null || true
    done
}
trap cleanup EXIT
stop() {
    local pid=$1
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
}
cpu_s() { awk -v t="$(getconf CLK_TCK)" '{print ($14 + $15) / t}' "/proc/$1/stat"; }
rss_kb() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }

redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no >"$OUT/redis.log" 2>&1 &
REDIS_PID=$!
until redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; do sleep 0.05; done

# start_daemon LOG fabric|plain: the daemon, ready.
start_daemon() {
    local fabric=false
    [[ $2 == fabric ]] && fabric=true
    (cd "$OUT" && exec env TELEMETRYD_TELEMETRY__SWITCHES=$SWITCHES \
        TELEMETRYD_TELEMETRY__UPDATE_INTERVAL_SECONDS=1 TELEMETRYD_TELEMETRY__SEED=42 \
        TELEMETRYD_FABRIC__ENABLED=$fabric TELEMETRYD_FABRIC__LEAVES=$LEAVES \
        TELEMETRYD_FABRIC__SPINES=$SPINES TELEMETRYD_FABRIC__PORTS_PER_SWITCH=$RADIX \
        TELEMETRYD_FABRIC__HOSTS_PER_LEAF=$HOSTS TELEMETRYD_LOGGING__FILE= \
        TELEMETRYD_LOGGING__LEVEL=WARNING TELEMETRYD_REDIS__PORT="$REDIS_PORT" \
        TELEMETRYD_GENERATOR_SERVER__PORT="$GEN_PORT" TELEMETRYD_METRIC_SERVER__PORT="$MET_PORT" \
        "$BIN" 2>"$OUT/$1") &
    DAEMON_PID=$!
    for _ in $(seq 600); do
        curl -sf -o /dev/null "http://127.0.0.1:$MET_PORT/readyz" && return 0
        sleep 0.1
    done
    echo "the daemon did not get ready" >&2
    exit 1
}

# ---------------------------------------------------------------- plain, for memory
log "memory: $SWITCHES switches without a fabric"
redis-cli -p "$REDIS_PORT" flushall >/dev/null
start_daemon daemon-plain.log plain
sleep "$WARMUP"
fig rss_kb.plain "$(rss_kb "$DAEMON_PID")"
stop "$DAEMON_PID"

# ---------------------------------------------------------------- fabric
log "fabric: $SWITCHES switches x $RADIX ports at 1 s"
redis-cli -p "$REDIS_PORT" flushall >/dev/null
start_daemon daemon-fabric.log fabric
fig ports "$(curl -sf "http://127.0.0.1:$GEN_PORT/fabric" | python3 -c '
import json, sys
print(sum(len(s["ports"]) for s in json.load(sys.stdin)["switches"]))')"
sleep "$WARMUP"
fig rss_kb.fabric_idle "$(rss_kb "$DAEMON_PID")"

log "1. freshness"
for c in $(seq "$CHECKS"); do
    now=$(date +%s.%N)
    seq 0 $((SWITCHES - 1)) | sed 's/^/HGET telemetry:switch-/; s/$/ updated_at/' |
        redis-cli -p "$REDIS_PORT" >"$OUT/stamps-$c.txt"
    fig "fresh.$c.max_age_ms" "$(awk -v now="$now" 'BEGIN{m=0} {a=(now-$1)*1000; if (a>m) m=a} END{printf "%.0f", m}' "$OUT/stamps-$c.txt")"
    fig "fresh.$c.stamps" "$(grep -c . "$OUT/stamps-$c.txt")"
    sleep 1
done
seq 0 $((SWITCHES - 1)) | sed 's/^/HLEN telemetry:switch-/' | redis-cli -p "$REDIS_PORT" >"$OUT/hlen.txt"
# Five metric fields per switch; the rest are ports.
fig ports_in_redis "$(awk -v n=$SWITCHES '{s+=$1} END{print s - 5*n}' "$OUT/hlen.txt")"
fig redis_used_memory "$(redis-cli -p "$REDIS_PORT" info memory | awk -F: '/^used_memory:/{print $2}' | tr -d '\r')"

log "2. CPU over $WINDOW s"
c0d=$(cpu_s "$DAEMON_PID") c0r=$(cpu_s "$REDIS_PID") t0=$(date +%s.%N)
sleep "$WINDOW"
c1d=$(cpu_s "$DAEMON_PID") c1r=$(cpu_s "$REDIS_PID") t1=$(date +%s.%N)
fig cpu.window_s "$(python3 -c "print(round($t1 - $t0, 2))")"
fig cpu.daemon_s "$(python3 -c "print(round($c1d - $c0d, 2))")"
fig cpu.redis_s "$(python3 -c "print(round($c1r - $c0r, 2))")"

log "3. the CSV rendered"
t0=$(date +%s.%N)
curl -sf -D "$OUT/bodies/counters.headers" -o "$OUT/bodies/counters.body" "http://127.0.0.1:$GEN_PORT/csv/metrics"
t1=$(date +%s.%N)
fig csv.first_s "$(python3 -c "print(round($t1 - $t0, 3))")"
fig csv.bytes "$(stat -c %s "$OUT/bodies/counters.body")"
fig csv.rows "$(($(grep -c . "$OUT/bodies/counters.body") - 1))"
fig rss_kb.fabric_csv "$(rss_kb "$DAEMON_PID")"
curl -sf -D "$OUT/bodies/small.headers" -o "$OUT/bodies/small.body" "http://127.0.0.1:$MET_PORT/telemetry/switch-7/latency_ms"
curl -sf -D "$OUT/bodies/telemetry.headers" -o "$OUT/bodies/telemetry.body" "http://127.0.0.1:$MET_PORT/telemetry/"
for n in small telemetry counters; do
    grep -i '^content-type:' "$OUT/bodies/$n.headers" | sed 's/^[^:]*: *//' | tr -d '\r' >"$OUT/bodies/$n.type"
done
"$BASELINE" --dir "$OUT/bodies" --port "$BASE_PORT" --workers 2 >"$OUT/baseline.log" 2>&1 &
BASE_PID=$!
until curl -sf -o /dev/null "http://127.0.0.1:$BASE_PORT/small"; do sleep 0.05; done

log "4. /csv/metrics against the baseline, $ROUNDS rounds"
load() { # NAME URL
    wrk -t1 -c8 -d"${DURATION}s" --latency "$2" >"$OUT/wrk/$1.txt"
    fig "wrk.$1.rps" "$(awk '/^Requests\/sec:/{print $2}' "$OUT/wrk/$1.txt")"
    fig "wrk.$1.p99" "$(awk '$1=="99%"{print $2}' "$OUT/wrk/$1.txt")"
    fig "wrk.$1.non2xx" "$(awk '/Non-2xx/{print $NF}' "$OUT/wrk/$1.txt")"
}
for r in $(seq "$ROUNDS"); do
    if ((r % 2)); then order="td base"; else order="base td"; fi
    for who in $order; do
        if [[ $who == td ]]; then
            c0=$(cpu_s "$DAEMON_PID")
            load "td.$r" "http://127.0.0.1:$GEN_PORT/csv/metrics"
            fig "wrk.td.$r.daemon_cpu_s" "$(python3 -c "print(round($(cpu_s "$DAEMON_PID") - $c0, 2))")"
        else
            load "base.$r" "http://127.0.0.1:$BASE_PORT/counters"
        fi
    done
done
fig rss_kb.fabric_after_load "$(rss_kb "$DAEMON_PID")"
stop "$BASE_PID"
BASE_PID=""
stop "$DAEMON_PID"
DAEMON_PID=""
fig uptime_after "$(uptime)"

python3 - "$FIG" "$ROUNDS" <<'PY'
import statistics, sys
fig = dict(line.rstrip("\n").split("\t", 1) for line in open(sys.argv[1]) if "\t" in line)
rounds = int(sys.argv[2])
ports = int(fig["ports"])
print(f"commit {fig['commit']} (uncommitted: {fig['dirty'] or 'none'}); {ports} ports")
ages = [int(fig[f"fresh.{c}.max_age_ms"]) for c in range(1, 100) if f"fresh.{c}.max_age_ms" in fig]
print(f"1. freshness: max age of any switch (and its ports) in Redis over {len(ages)} checks: "
      f"{max(ages)} ms (per check: {ages}); port fields in Redis {fig['ports_in_redis']}; "
      f"Redis used_memory {int(fig['redis_used_memory']) / 2**20:.0f} MiB")
w = float(fig["cpu.window_s"])
print(f"2. CPU over {w} s: daemon {float(fig['cpu.daemon_s']) / w * 100:.0f} % of a core, "
      f"redis-server {float(fig['cpu.redis_s']) / w * 100:.0f} %")
plain, idle, csv = (int(fig[f"rss_kb.{k}"]) for k in ("plain", "fabric_idle", "fabric_csv"))
print(f"3. RSS: no fabric {plain / 1024:.0f} MiB, fabric before any UFM body {idle / 1024:.0f} MiB "
      f"({(idle - plain) * 1024 / ports:.0f} bytes per port), after /csv/metrics "
      f"{csv / 1024:.0f} MiB; the CSV {int(fig['csv.bytes']) / 2**20:.1f} MiB, {fig['csv.rows']} rows, "
      f"first answer in {fig['csv.first_s']} s; after the load {int(fig['rss_kb.fabric_after_load']) / 1024:.0f} MiB")
td = [float(fig[f"wrk.td.{r}.rps"]) for r in range(1, rounds + 1)]
base = [float(fig[f"wrk.base.{r}.rps"]) for r in range(1, rounds + 1)]
print(f"4. /csv/metrics req/s, telemetryd {td} (median {statistics.median(td)}), baseline {base} "
      f"(median {statistics.median(base)}): {statistics.median(td) / statistics.median(base):.2f}x; "
      f"p99 telemetryd {[fig[f'wrk.td.{r}.p99'] for r in range(1, rounds + 1)]}, "
      f"baseline {[fig[f'wrk.base.{r}.p99'] for r in range(1, rounds + 1)]}")
PY
