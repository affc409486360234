#!/usr/bin/env bash
# Instructions per request, counted by callgrind, each server with one worker under valgrind:
# - the small route: telemetryd's /telemetry/switch-7/latency_ms against the baseline's
#   static /small and its dynamic /telemetry/switch-7/latency_ms;
# - a big body with gzip: telemetryd's /counters against the baseline's, same bytes.
#
#   bench/callgrind.sh            # after `cargo build --release --bins --examples`
#
# Instruction counts do not move with the machine's load the way req/s do, so this is the
# number to compare between commits for the per-request cost. Only the busiest thread (the
# HTTP worker) is counted, user space only; its total over a 10 s wrk run divided by the
# requests answered includes the worker's start-up, a few hundred instructions per request.
# Needs valgrind, wrk and redis-server; writes bench/out/callgrind/.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$PWD/bench/out/callgrind
BIN=$PWD/target/release/telemetryd
BASELINE=$PWD/target/release/examples/baseline
BODIES=$PWD/bench/out/bodies-1000
REDIS_PORT=${BENCH_REDIS_PORT:-6395}
PORT=18180
rm -rf "$OUT" && mkdir -p "$OUT"
for tool in valgrind wrk redis-server callgrind_annotate; do
    command -v "$tool" >/dev/null || { echo "bench/callgrind.sh: $tool is missing" >&2; exit 2; }
done
[[ -x $BIN && -x $BASELINE ]] || { echo "build first: cargo build --release --bins --examples" >&2; exit 2; }

redis-server --port "$REDIS_PORT" --save '' --appendonly no --daemonize no >"$OUT/redis.log" 2>&1 &
REDIS_PID=$!
SERVER_PID=""
cleanup() {
    [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null || true
    kill "$REDIS_PID" 2>/dev/null || true
}
trap cleanup EXIT

# measure NAME URL COMMAND...: runs COMMAND under callgrind (with the environment in the
# array SERVER_ENV), waits for READY_URL (default URL) to answer, loads URL with wrk for 10 s
# (with the arguments in WRK_ARGS), stops it with SIGINT and prints the worker thread's
# instructions per request.
SERVER_ENV=()
WRK_ARGS=()
READY_URL=""
measure() {
    local name=$1 url=$2 reqs ir
    shift 2
    env "${SERVER_ENV[@]}" valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$OUT/$name.out" \
        "$@" 2>"$OUT/$name.valgrind.log" &
    SERVER_PID=$!
    for _ in $(seq 300); do curl -sf -o /dev/null "${READY_URL:-$url}" && break; sleep 0.2; done
    wrk -t1 -c8 -d10s "${WRK_ARGS[@]}" "$url" >"$OUT/$name.wrk.txt"
    kill -INT "$SERVER_PID"
    wait "$SERVER_PID" || true
    SERVER_PID=""
    reqs=$(awk '/requests in/ {print $1}' "$OUT/$name.wrk.txt")
    # The busiest thread's file is the HTTP worker's.
    ir=$(for f in "$OUT/$name.out"-*; do grep -m1 '^summary:' "$f" | awk '{print $2}'; done | sort -n | tail -1)
    echo "$name: $((ir / reqs)) instructions per request ($reqs requests, $ir instructions)"
}

if [[ ! -f $BODIES/small.body ]]; then
    echo "no captured bodies in $BODIES: run bench/run.sh once first" >&2
    exit 2
fi
for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
# 1000 switches with the ingest quiet (one sample each at start), one worker per listener.
TD_ENV=(TELEMETRYD_TELEMETRY__SWITCHES=1000 TELEMETRYD_TELEMETRY__UPDATE_INTERVAL_SECONDS=3600
    TELEMETRYD_TELEMETRY__SEED=42 TELEMETRYD_LOGGING__LEVEL=WARNING TELEMETRYD_LOGGING__FILE=
    TELEMETRYD_REDIS__PORT="$REDIS_PORT" TELEMETRYD_GENERATOR_SERVER__PORT=$((PORT + 1))
    TELEMETRYD_METRIC_SERVER__PORT=$PORT TELEMETRYD_GENERATOR_SERVER__WORKERS=1
    TELEMETRYD_METRIC_SERVER__WORKERS=1)
# Once every switch has its sample (readyz), the snapshot changes no more: what is counted is
# serving, not rendering.
SERVER_ENV=("${TD_ENV[@]}")
READY_URL=http://127.0.0.1:$PORT/readyz
measure telemetryd "http://127.0.0.1:$PORT/telemetry/switch-7/latency_ms" "$BIN"
WRK_ARGS=(-H "Accept-Encoding: gzip")
measure telemetryd-counters-gzip "http://127.0.0.1:$((PORT + 1))/counters" "$BIN"
WRK_ARGS=()
SERVER_ENV=()
READY_URL=""
measure baseline-static "http://127.0.0.1:$PORT/small" \
    "$BASELINE" --dir "$BODIES" --port "$PORT" --workers 1
measure baseline-dynamic "http://127.0.0.1:$PORT/telemetry/switch-7/latency_ms" \
    "$BASELINE" --dir "$BODIES" --port "$PORT" --workers 1
WRK_ARGS=(-H "Accept-Encoding: gzip")
measure baseline-counters-gzip "http://127.0.0.1:$PORT/counters" \
    "$BASELINE" --dir "$BODIES" --port "$PORT" --workers 1
echo "per-function detail: callgrind_annotate --inclusive=yes $OUT/<name>.out-<thread>"
