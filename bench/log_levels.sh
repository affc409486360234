#!/usr/bin/env bash
# bench/log_levels.sh: what request logging costs: the small route's throughput at log
# level INFO against WARNING, side by side.
#
#   bench/log_levels.sh            # BENCH_ROUNDS=3 rounds per level (2 minutes or so)
#
# Builds the release binary once (into this checkout's target/), starts its own
# redis-server on a free port, then runs the daemon (defaults, stderr to a file) at INFO and
# at WARNING in alternating order (INFO WARNING, WARNING INFO, ...), so drift on the
# machine favours neither, each round `wrk -t1 -c32 -d5s` on /telemetry/switch-2/latency_ms
# after a 1 s warm-up. Prints every round, the mean req/s per level and the ratio
# INFO/WARNING, with the request lines logged, skipped (counted in the summary lines) and
# dropped (queue full) at INFO. Raw outputs in bench/out/log_levels/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/bench/out/log_levels
ROUNDS=${BENCH_ROUNDS:-3}
ROUTE=/telemetry/switch-2/latency_ms
WRK=(wrk -t1 -c32 -d5s)

for v in $(compgen -e | grep '^TELEMETRYD_' || true); do unset "$v"; done
for tool in wrk redis-server redis-cli curl python3; do
    command -v "$tool" >/dev/null || { echo "$tool is needed (bench/run.sh installs it)" >&2; exit 2; }
done

echo "== building (release, once)" >&2
cargo build --release --locked --bin telemetryd >&2
BIN=$ROOT/target/release/telemetryd
rm -rf "$OUT"
mkdir -p "$OUT"

read -r REDIS_PORT GEN_PORT MET_PORT < <(python3 bench/probe.py freeports 3)
REDIS_PID="" DAEMON_PID=""
cleanup() {
    for p in "$DAEMON_PID" "$REDIS_PID"; do
        if [[ -n $p ]]; then kill "$p" 2>/dev/null || true; fi
    done
}
trap cleanup EXIT
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
    --logfile "$OUT/redis.log" &
REDIS_PID=$!
for _ in $(seq 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done

# round LEVEL N: one daemon at LEVEL, one measured wrk run; appends to $OUT/rounds.tsv.
round() {
    local level=$1 n=$2 log=$OUT/telemetryd-$1-$2.log rps lines skipped dropped
    (cd "$OUT" && exec env TELEMETRYD_LOGGING__LEVEL="$level" TELEMETRYD_LOGGING__FILE= \
        TELEMETRYD_REDIS__PORT="$REDIS_PORT" TELEMETRYD_GENERATOR_SERVER__PORT="$GEN_PORT" \
        TELEMETRYD_METRIC_SERVER__PORT="$MET_PORT" "$BIN" 2>"$log") &
    DAEMON_PID=$!
    for _ in $(seq 600); do
        curl -sf -o /dev/null "http://127.0.0.1:$MET_PORT/readyz" && break
        sleep 0.05
    done
    "${WRK[@]/-d5s/-d1s}" "http://127.0.0.1:$MET_PORT$ROUTE" >/dev/null # warm-up
    "${WRK[@]}" "http://127.0.0.1:$MET_PORT$ROUTE" >"$OUT/wrk-$level-$n.txt"
    kill -TERM "$DAEMON_PID"
    wait "$DAEMON_PID" || true
    DAEMON_PID=""
    rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$OUT/wrk-$level-$n.txt")
    lines=$(grep -c 'msg="HTTP request."' "$log" || true)
    skipped=$({ grep 'msg="HTTP request summary."' "$log" || true; } | sed -n 's/.* skipped=\([0-9]*\).*/\1/p' |
        awk '{s+=$1} END{print s+0}')
    dropped=$({ grep 'msg="Log lines dropped."' "$log" || true; } | sed -n 's/.* dropped=\([0-9]*\).*/\1/p' |
        awk '{s+=$1} END{print s+0}')
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$level" "$n" "$rps" "$lines" "$skipped" "$dropped" >>"$OUT/rounds.tsv"
    printf '%-8s round %s: %7s req/s  request lines %7s  skipped %8s  dropped %s\n' \
        "$level" "$n" "$rps" "$lines" "$skipped" "$dropped"
}

: >"$OUT/rounds.tsv"
echo "== small route, $ROUNDS rounds per level: ${WRK[*]} http://127.0.0.1:<metric port>$ROUTE"
for n in $(seq "$ROUNDS"); do
    if ((n % 2)); then round INFO "$n"; round WARNING "$n"; else round WARNING "$n"; round INFO "$n"; fi
done
awk -F'\t' '{s[$1]+=$3; c[$1]++}
    END {
        i = s["INFO"] / c["INFO"]; w = s["WARNING"] / c["WARNING"]
        printf "mean req/s: INFO %.0f, WARNING %.0f; INFO/WARNING %.2fx\n", i, w, i / w
    }' "$OUT/rounds.tsv"
