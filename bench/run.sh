#!/usr/bin/env bash
# bench/run.sh: benchmarks telemetryd next to the machine's limit and writes BENCHMARKS.md.
#
#   bench/run.sh
#
# One command: installs wrk, redis-server/redis-tools (and linux-perf, optional) with apt
# when missing, builds the release binary and the bench examples once, starts its own
# redis-server on a free port (no persistence), then measures, one server at a time:
#
#   a. read path: wrk against telemetryd and against examples/baseline.rs serving the same
#      captured bytes (1k and 10k switches; small route, /telemetry/, /counters, gzip)
#   b. ingest: the largest fabric whose every switch is younger than 2 intervals in Redis
#   c. freshness: sample produced -> visible in the API
#   d. start-up: exec -> /readyz 200 on both listeners
#
# Every load targets 127.0.0.1 and is bounded (wrk -d, fixed sample counts). Raw outputs go
# to bench/out/ (wrk outputs, captured bodies, logs, perf data). This script only measures:
# every figure as read and every command go to bench/out/results.json, and bench/report.py
# derives the report's figures and verdicts from it and writes BENCHMARKS.md, with the
# hand-written sections of bench/notes.md (`python3 bench/report.py` re-renders it alone).
# Knobs (environment, never TELEMETRYD_*, which the daemon would parse as config):
#   BENCH_DURATION=10 BENCH_CONNECTIONS=64 BENCH_THREADS=2 BENCH_WORKERS=2 BENCH_PIN_ROUNDS=3
#   BENCH_READ_SIZES="1000 10000" BENCH_INGEST_SIZES="10000 50000 100000 150000" BENCH_INGEST_WARMUP=30
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/bench/out
REPORT=$ROOT/BENCHMARKS.md
DURATION=${BENCH_DURATION:-10}
PIN_ROUNDS=${BENCH_PIN_ROUNDS:-3}
((PIN_ROUNDS >= 1)) || { echo "BENCH_PIN_ROUNDS must be at least 1" >&2; exit 2; }
CONNS=${BENCH_CONNECTIONS:-64}
THREADS=${BENCH_THREADS:-2}
WORKERS=${BENCH_WORKERS:-2}
READ_SIZES=${BENCH_READ_SIZES:-"1000 10000"}
INGEST_SIZES=${BENCH_INGEST_SIZES:-"10000 50000 100000 150000"}
INGEST_WARMUP=${BENCH_INGEST_WARMUP:-30}
INGEST_SAMPLES=5
INGEST_EVERY=3
FRESH_SWITCHES="0,200,400,600,800"
FRESH_SECONDS=20
STARTUP_RUNS=5
STARTUP_SWITCHES=10000
INTERVAL=1
SEED=42
REPORT_PY=(python3 "$ROOT/bench/report.py")

# Whatever the caller's environment holds, the daemon must see only our configuration.
for v in $(compgen -e | grep '^TELEMETRYD_' || true); do unset "$v"; done

log() {
    printf '\n== %s\n' "$*" >&2
    [[ -d ${OUT:-/nonexistent} ]] && printf '%s %s\n' "$(date +%s)" "$*" >>"$OUT/phases.txt"
    return 0
}

# ---------------------------------------------------------------- tools and build
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v redis-server >/dev/null || need+=(redis-server)
command -v redis-benchmark >/dev/null || need+=(redis-tools)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
if ((${#need[@]})); then
    log "installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
if ! command -v perf >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf >/dev/null 2>&1 || true
fi
HAVE_PERF=0
perf_check=$(mktemp)
if command -v perf >/dev/null && perf record -q -o "$perf_check" -- true >/dev/null 2>&1; then
    HAVE_PERF=1
fi
rm -f "$perf_check"

declare -A CONF   # the run's knobs
declare -A R      # figures as measured (raw: bench/report.py does the arithmetic)
declare -A CMD    # exact command per figure key
R[began]=$(date +%s)
CONF[duration]=$DURATION CONF[connections]=$CONNS CONF[threads]=$THREADS CONF[workers]=$WORKERS
CONF[pin_rounds]=$PIN_ROUNDS CONF[read_sizes]=$READ_SIZES CONF[ingest_sizes]=$INGEST_SIZES
CONF[ingest_warmup]=$INGEST_WARMUP CONF[ingest_samples]=$INGEST_SAMPLES CONF[ingest_every]=$INGEST_EVERY
CONF[fresh_switches]=$FRESH_SWITCHES CONF[fresh_seconds]=$FRESH_SECONDS CONF[startup_runs]=$STARTUP_RUNS
CONF[startup_switches]=$STARTUP_SWITCHES CONF[interval]=$INTERVAL CONF[clk_tck]=$(getconf CLK_TCK)
# What is built: the commit, plus any uncommitted change to the daemon's sources.
R[commit]=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
R[dirty]=$(git status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null | wc -l)
R[dirty_files]=$(git status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null | awk '{print $2}' | paste -sd' ')
R[dirty_sha]=$(git diff HEAD -- src Cargo.toml Cargo.lock 2>/dev/null | sha256sum | cut -c1-12)
log "building (release, binary and examples)"
CMD[build]="cargo build --release --locked --bins --examples"
${CMD[build]}
BIN=$ROOT/target/release/telemetryd
BASELINE=$ROOT/target/release/examples/baseline
INGEST_LAG=$ROOT/target/release/examples/ingest_lag
PROBE=(python3 "$ROOT/bench/probe.py")

rm -rf "$OUT"
mkdir -p "$OUT/wrk"
# Anything else using the CPU while we measure is recorded (a shared machine).
: >"$OUT/interference.txt"
"${PROBE[@]}" monitor --root $$ --interval 2 --threshold 10 --out "$OUT/interference.txt" &
MON_PID=$!
# The daemon runs in $OUT, where no telemetry.yaml is: defaults plus our environment.

# ---------------------------------------------------------------- machine
R[uptime_before]=$(uptime)
R[nproc]=$(nproc)
R[cpu]=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
R[kernel]=$(uname -srm)
R[os]=$(sed -n 's/^PRETTY_NAME="\(.*\)"/\1/p' /etc/os-release)
R[rustc]=$(rustc -V)
R[wrk]=$(wrk -v 2>&1 | head -1 || true)
R[redis]=$(redis-server --version)
R[free]=$(free -h)

# ---------------------------------------------------------------- processes
REDIS_PID=""
DAEMON_PID=""
BASE_PID=""
cleanup() {
    for p in "$DAEMON_PID" "$BASE_PID" "$REDIS_PID" "${MON_PID:-}"; do
        if [[ -n $p ]]; then kill "$p" 2>/dev/null || true; fi
    done
}
trap cleanup EXIT

# stop PID: SIGTERM, wait up to 30 s, then SIGKILL.
stop() {
    local pid=$1
    [[ -z $pid ]] && return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 300); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

read -r REDIS_PORT GEN_PORT MET_PORT BASE_PORT < <("${PROBE[@]}" freeports 4)
CONF[redis_port]=$REDIS_PORT
rcli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }

log "redis-server on 127.0.0.1:$REDIS_PORT"
CMD[redis]="redis-server --bind 127.0.0.1 --port $REDIS_PORT --save '' --appendonly no --daemonize no"
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --daemonize no \
    --logfile "$OUT/redis.log" &
REDIS_PID=$!
for _ in $(seq 100); do rcli ping >/dev/null 2>&1 && break; sleep 0.1; done
rcli ping >/dev/null

# The daemon's configuration for N switches at log level LEVEL, as env assignments.
daemon_env() {
    echo "TELEMETRYD_TELEMETRY__SWITCHES=$1 TELEMETRYD_TELEMETRY__UPDATE_INTERVAL_SECONDS=$INTERVAL" \
        "TELEMETRYD_TELEMETRY__SEED=$SEED TELEMETRYD_LOGGING__LEVEL=$2 TELEMETRYD_LOGGING__FILE=" \
        "TELEMETRYD_REDIS__PORT=$REDIS_PORT" \
        "TELEMETRYD_GENERATOR_SERVER__PORT=$GEN_PORT TELEMETRYD_METRIC_SERVER__PORT=$MET_PORT" \
        "TELEMETRYD_GENERATOR_SERVER__WORKERS=$WORKERS TELEMETRYD_METRIC_SERVER__WORKERS=$WORKERS"
}
daemon_cmd() { echo "env $(daemon_env "$1" "$2") target/release/telemetryd 2>LOGFILE"; }

# start_daemon N LEVEL STDERR_FILE
start_daemon() {
    # shellcheck disable=SC2046
    (cd "$OUT" && exec env $(daemon_env "$1" "$2") "$BIN" 2>"$3") &
    DAEMON_PID=$!
}
stop_daemon() { stop "$DAEMON_PID"; DAEMON_PID=""; }

wait_ready() {
    for _ in $(seq 1200); do
        if curl -sf -o /dev/null "http://127.0.0.1:$GEN_PORT/readyz" &&
            curl -sf -o /dev/null "http://127.0.0.1:$MET_PORT/readyz"; then
            return 0
        fi
        kill -0 "$DAEMON_PID" 2>/dev/null || { echo "telemetryd exited" >&2; return 1; }
        sleep 0.05
    done
    echo "telemetryd not ready after 60 s" >&2
    return 1
}

# CPU ticks (utime+stime) of a process or thread stat file.
ticks() { sed 's/^.*) //' "$1" | awk '{print $12+$13}'; }
now() { date +%s.%N; }
# mark KEY WHEN NAME=VALUE...: counters read at the start (WHEN=before) or end (after) of the
# window KEY, with the time, as R[KEY.WHEN.NAME]; bench/report.py takes the differences.
mark() {
    local key=$1 when=$2 kv
    shift 2
    R[$key.$when.time]=$(now)
    for kv in "$@"; do R[$key.$when.${kv%%=*}]=${kv#*=}; done
}

# ---------------------------------------------------------------- wrk
show_cmd() { # quotes arguments with spaces for display
    local out="" a
    for a in "$@"; do
        if [[ $a == *" "* ]]; then out+="'$a' "; else out+="$a "; fi
    done
    echo "${out% }"
}

# load KEY SERVER_PID URL [wrk args...]: one bounded wrk run, parsed into R[KEY.*].
load() {
    local key=$1 pid=$2 url=$3
    shift 3
    # LOAD_PREFIX (e.g. "taskset -c 0") and LOAD_THREADS change how wrk runs, for one call.
    # shellcheck disable=SC2206
    local cmd=(${LOAD_PREFIX:-} wrk -t"${LOAD_THREADS:-$THREADS}" -c"$CONNS" -d"${DURATION}s" --latency "$@" "$url")
    local f=$OUT/wrk/$key.txt
    log "wrk $key"
    mark "$key" before cpu="$(ticks "/proc/$pid/stat")"
    "${cmd[@]}" >"$f" 2>&1
    mark "$key" after cpu="$(ticks "/proc/$pid/stat")"
    cat "$f" >&2
    CMD[$key]=$(show_cmd "${cmd[@]}")
    # As wrk prints them (req/s with decimals, latencies with their unit).
    R[$key.rps]=$(awk '/^Requests\/sec:/{print $2}' "$f")
    R[$key.p50]=$(awk '$1=="50%"{print $2}' "$f")
    R[$key.p99]=$(awk '$1=="99%"{print $2}' "$f")
    R[$key.reqs]=$(awk '/requests in/{print $1}' "$f")
    R[$key.transfer]=$(awk '/^Transfer\/sec:/{print $2}' "$f")
    R[$key.non2xx]=$(awk '/Non-2xx/{print $NF}' "$f")
    R[$key.sockerr]=$(grep -o 'Socket errors:.*' "$f" || true)
}

# capture N: the bodies telemetryd sends, for the baseline.
capture() {
    local dir=$OUT/bodies-$1 m="http://127.0.0.1:$MET_PORT" g="http://127.0.0.1:$GEN_PORT"
    mkdir -p "$dir"
    curl -sf -D "$dir/small.headers" -o "$dir/small.body" "$m/telemetry/switch-7/latency_ms"
    curl -sf -D "$dir/telemetry.headers" -o "$dir/telemetry.body" "$m/telemetry/"
    curl -sf -D "$dir/telemetry.gz.headers" -o "$dir/telemetry.body.gz" -H 'Accept-Encoding: gzip' "$m/telemetry/"
    curl -sf -D "$dir/counters.headers" -o "$dir/counters.body" "$g/counters"
    curl -sf -D "$dir/counters.gz.headers" -o "$dir/counters.body.gz" -H 'Accept-Encoding: gzip' "$g/counters"
    for n in small telemetry counters; do
        grep -i '^content-type:' "$dir/$n.headers" | sed 's/^[^:]*: *//' | tr -d '\r' >"$dir/$n.type"
    done
    for n in telemetry counters; do
        grep -qi '^content-encoding: *gzip' "$dir/$n.gz.headers" || {
            echo "telemetryd did not gzip $n" >&2
            return 1
        }
        gzip -t <"$dir/$n.body.gz"
    done
    R[bytes.$1.small]=$(stat -c %s "$dir/small.body")
    R[bytes.$1.json]=$(stat -c %s "$dir/telemetry.body")
    R[bytes.$1.jsongz]=$(stat -c %s "$dir/telemetry.body.gz")
    R[bytes.$1.csv]=$(stat -c %s "$dir/counters.body")
    R[bytes.$1.csvgz]=$(stat -c %s "$dir/counters.body.gz")
}

# profile_http NAME URL [wrk args]: perf of the daemon during a separate, unmeasured wrk run.
profile_http() {
    local name=$1 url=$2 wrk_pid
    shift 2
    log "profile of telemetryd under the $name load"
    wrk -t"$THREADS" -c"$CONNS" -d8s "$@" "$url" >"$OUT/wrk/profile-$name.txt" &
    wrk_pid=$!
    sleep 2
    perf record -q -F 299 --call-graph dwarf,16384 -p "$DAEMON_PID" -o "$OUT/perf-$name.data" -- sleep 4 >/dev/null 2>&1 || true
    wait "$wrk_pid" || true
    perf script -i "$OUT/perf-$name.data" 2>/dev/null >"$OUT/perf-$name.txt" || true
    R[profile.$name]=$("${PROBE[@]}" perfcat "$OUT/perf-$name.txt" http || true)
    CMD[profile.$name]="perf record -F 299 --call-graph dwarf,16384 -p <telemetryd pid> -- sleep 4   # during: $(show_cmd wrk -t"$THREADS" -c"$CONNS" -d8s "$@" "$url")"
    rm -f "$OUT/perf-$name.txt"
}

# ---------------------------------------------------------------- a. read path
GZ=(-H 'Accept-Encoding: gzip')
FIRST_READ=${READ_SIZES%% *}
LAST_READ=${READ_SIZES##* }
TD_ROUTES="small json csv jsongz csvgz"
BL_ROUTES="small dyn json csv jsongz csvgz"

# td_round N ROUND: telemetryd alone, its five loads (keys td.N.ROUTE.rROUND).
td_round() {
    local N=$1 r=$2 M G
    log "read path, $N switches, round $r: telemetryd"
    rcli flushall >/dev/null
    start_daemon "$N" WARNING "$OUT/telemetryd-read-$N-r$r.log"
    CMD[daemon.read.$N]=$(daemon_cmd "$N" WARNING)
    wait_ready
    sleep 2
    M=http://127.0.0.1:$MET_PORT
    G=http://127.0.0.1:$GEN_PORT
    if [[ $r == 1 ]]; then
        # What the daemon costs with no HTTP load (ingest + cache sync at 1 s), for context.
        mark "idle.$N" before daemon="$(ticks "/proc/$DAEMON_PID/stat")" redis="$(ticks "/proc/$REDIS_PID/stat")"
        sleep 5
        mark "idle.$N" after daemon="$(ticks "/proc/$DAEMON_PID/stat")" redis="$(ticks "/proc/$REDIS_PID/stat")"
        capture "$N"
    fi
    wrk -t"$THREADS" -c"$CONNS" -d2s "$M/telemetry/switch-7/latency_ms" >/dev/null # warm-up
    load "td.$N.small.r$r" "$DAEMON_PID" "$M/telemetry/switch-7/latency_ms"
    load "td.$N.json.r$r" "$DAEMON_PID" "$M/telemetry/"
    load "td.$N.csv.r$r" "$DAEMON_PID" "$G/counters"
    load "td.$N.jsongz.r$r" "$DAEMON_PID" "$M/telemetry/" "${GZ[@]}"
    load "td.$N.csvgz.r$r" "$DAEMON_PID" "$G/counters" "${GZ[@]}"
    if ((HAVE_PERF)) && [[ $N == "$LAST_READ" && $r == 2 ]]; then
        profile_http small "$M/telemetry/switch-7/latency_ms"
        profile_http jsongz "$M/telemetry/" "${GZ[@]}"
        R[profile.n]=$N
    fi
    stop_daemon
}

# bl_round N ROUND: the baseline alone with telemetryd's captured bodies, six loads.
bl_round() {
    local N=$1 r=$2 B
    log "read path, $N switches, round $r: baseline"
    "$BASELINE" --dir "$OUT/bodies-$N" --port "$BASE_PORT" --workers "$WORKERS" &
    BASE_PID=$!
    CMD[baseline.$N]="target/release/examples/baseline --dir bench/out/bodies-$N --port $BASE_PORT --workers $WORKERS"
    for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$BASE_PORT/small" && break; sleep 0.05; done
    B=http://127.0.0.1:$BASE_PORT
    # The baseline must send what telemetryd sent.
    curl -sf "$B/counters" | cmp - "$OUT/bodies-$N/counters.body"
    curl -sf -H 'Accept-Encoding: gzip' "$B/telemetry/" | cmp - "$OUT/bodies-$N/telemetry.body.gz"
    wrk -t"$THREADS" -c"$CONNS" -d2s "$B/small" >/dev/null # warm-up
    load "bl.$N.small.r$r" "$BASE_PID" "$B/small"
    load "bl.$N.dyn.r$r" "$BASE_PID" "$B/telemetry/switch-7/latency_ms"
    load "bl.$N.json.r$r" "$BASE_PID" "$B/telemetry/"
    load "bl.$N.csv.r$r" "$BASE_PID" "$B/counters"
    load "bl.$N.jsongz.r$r" "$BASE_PID" "$B/telemetry/" "${GZ[@]}"
    load "bl.$N.csvgz.r$r" "$BASE_PID" "$B/counters" "${GZ[@]}"
    stop "$BASE_PID"
    BASE_PID=""
}

# info_run N: the small route once more with a log line per request.
info_run() {
    local N=$1
    log "read path, $N switches: telemetryd at INFO (a log line per request)"
    rcli flushall >/dev/null
    start_daemon "$N" INFO "$OUT/telemetryd-info.log"
    CMD[daemon.info]=$(daemon_cmd "$N" INFO)
    wait_ready
    sleep 3
    R[info.before.lines]=$(grep -c 'msg="HTTP request."' "$OUT/telemetryd-info.log" || true)
    load "td.$N.small.info" "$DAEMON_PID" "http://127.0.0.1:$MET_PORT/telemetry/switch-7/latency_ms"
    sleep 2 # let the log thread drain its queue
    R[info.after.lines]=$(grep -c 'msg="HTTP request."' "$OUT/telemetryd-info.log" || true)
    stop_daemon # the summary of the last interval is written at stop
    # Request lines past the per-listener cap are counted in the summary lines; lines a full
    # queue dropped, in the drop reports.
    R[info.skipped]=$({ grep 'msg="HTTP request summary."' "$OUT/telemetryd-info.log" || true; } |
        sed -n 's/.* skipped=\([0-9]*\).*/\1/p')
    R[info.dropped]=$({ grep 'msg="Log lines dropped."' "$OUT/telemetryd-info.log" || true; } |
        sed -n 's/.* dropped=\([0-9]*\).*/\1/p')
    R[info.bytes]=$(stat -c %s "$OUT/telemetryd-info.log")
}

# Two rounds per size, in alternating order (telemetryd first, then baseline first), so
# drift on the machine does not favour either; the tables show the mean of the rounds.
for N in $READ_SIZES; do
    td_round "$N" 1
    [[ $N == "$FIRST_READ" ]] && info_run "$N"
    bl_round "$N" 1
    bl_round "$N" 2
    td_round "$N" 2
done

# quiet_round N: telemetryd with its ingest quiet (update interval 3600 s: every switch
# sampled once at start, then nothing to write, read back or re-render while wrk runs), the
# five loads once (keys quiet.N.ROUTE): what serving alone costs, next to the baseline.
quiet_round() {
    local N=$1 M G
    log "read path, $N switches: telemetryd with its ingest quiet"
    rcli flushall >/dev/null
    # shellcheck disable=SC2046
    (cd "$OUT" && exec env $(daemon_env "$N" WARNING) TELEMETRYD_TELEMETRY__UPDATE_INTERVAL_SECONDS=3600 \
        "$BIN" 2>"$OUT/telemetryd-quiet-$N.log") &
    DAEMON_PID=$!
    CMD[daemon.quiet]="$(daemon_cmd "$N" WARNING | sed 's/ target/ TELEMETRYD_TELEMETRY__UPDATE_INTERVAL_SECONDS=3600 target/')"
    wait_ready
    sleep 2
    M=http://127.0.0.1:$MET_PORT
    G=http://127.0.0.1:$GEN_PORT
    wrk -t"$THREADS" -c"$CONNS" -d2s "$M/telemetry/switch-7/latency_ms" >/dev/null # warm-up
    load "quiet.$N.small" "$DAEMON_PID" "$M/telemetry/switch-7/latency_ms"
    load "quiet.$N.json" "$DAEMON_PID" "$M/telemetry/"
    load "quiet.$N.csv" "$DAEMON_PID" "$G/counters"
    load "quiet.$N.jsongz" "$DAEMON_PID" "$M/telemetry/" "${GZ[@]}"
    load "quiet.$N.csvgz" "$DAEMON_PID" "$G/counters" "${GZ[@]}"
    stop_daemon
}

# ingest_threads: SWITCHES_TID, WRITER_TID and CACHE_TID of the running daemon, found by
# the names the daemon gives its ingest threads (src/threads.rs).
thread_named() {
    local t
    for t in /proc/"$DAEMON_PID"/task/*; do
        if [[ $(cat "$t/comm" 2>/dev/null) == "$1" ]]; then basename "$t"; return 0; fi
    done
    echo "no thread named $1 in telemetryd" >&2
    return 1
}
ingest_threads() {
    SWITCHES_TID=$(thread_named switches)
    WRITER_TID=$(thread_named redis-writer)
    CACHE_TID=$(thread_named cache)
}

# preempted PID [TID...]: involuntary context switches so far of PID's threads, except the
# TIDs listed (the ingest threads): in a pinned round, those of the busy HTTP worker.
preempted() {
    local pid=$1 total=0 t n
    shift
    for t in /proc/"$pid"/task/*; do
        [[ " $* " == *" ${t##*/} "* ]] && continue
        n=$(awk '/^nonvoluntary_ctxt_switches/{print $2}' "$t/status" 2>/dev/null)
        total=$((total + ${n:-0}))
    done
    echo "$total"
}

# set_ingest_policy batch|normal: the running daemon's ingest threads to SCHED_BATCH (as
# shipped) or SCHED_OTHER, with chrt.
set_ingest_policy() {
    local flag=--batch tid
    [[ $1 == normal ]] && flag=--other
    for tid in "$SWITCHES_TID" "$WRITER_TID" "$CACHE_TID"; do chrt "$flag" -p 0 "$tid"; done
    CMD[pin.chrt.$1]="for tid in <switches> <redis-writer> <cache>; do chrt $flag -p 0 \$tid; done"
}

# pinned_load KEY URL: one wrk run from CPU 0 against the running daemon, counting how often
# its HTTP threads were preempted (R[KEY.before.preempted], R[KEY.after.preempted]).
pinned_load() {
    local p0
    p0=$(preempted "$DAEMON_PID" "$SWITCHES_TID" "$WRITER_TID" "$CACHE_TID")
    LOAD_PREFIX="taskset -c 0" LOAD_THREADS=1 load "$1" "$DAEMON_PID" "$2"
    R[$1.before.preempted]=$p0
    R[$1.after.preempted]=$(preempted "$DAEMON_PID" "$SWITCHES_TID" "$WRITER_TID" "$CACHE_TID")
}

# pinned_round N: the small route with the server (1 worker per listener) on CPU 1 and wrk
# (1 thread) on CPU 0, PIN_ROUNDS rounds: a fresh daemon measured with its ingest threads as
# shipped (SCHED_BATCH, pin.td.batch) and switched to normal scheduling with chrt
# (pin.td.normal), the two in alternating order from round to round, then the baseline's
# static and dynamic routes (pin.bl.small / pin.bl.dyn); keys pin.KIND.rROUND.
pinned_round() {
    local N=$1 B r mode modes
    for r in $(seq "$PIN_ROUNDS"); do
        log "small route, $N switches, server on CPU 1 and wrk on CPU 0, round $r of $PIN_ROUNDS"
        rcli flushall >/dev/null
        # shellcheck disable=SC2046
        (cd "$OUT" && exec env $(daemon_env "$N" WARNING) TELEMETRYD_GENERATOR_SERVER__WORKERS=1 \
            TELEMETRYD_METRIC_SERVER__WORKERS=1 taskset -c 1 "$BIN" 2>"$OUT/telemetryd-pinned-r$r.log") &
        DAEMON_PID=$!
        CMD[daemon.pinned]="$(daemon_cmd "$N" WARNING | sed 's/ target/ TELEMETRYD_GENERATOR_SERVER__WORKERS=1 TELEMETRYD_METRIC_SERVER__WORKERS=1 taskset -c 1 target/')"
        wait_ready
        ingest_threads
        sleep 2
        if ((r % 2)); then modes="batch normal"; else modes="normal batch"; fi
        for mode in $modes; do
            set_ingest_policy "$mode"
            sleep 1
            pinned_load "pin.td.$mode.r$r" "http://127.0.0.1:$MET_PORT/telemetry/switch-7/latency_ms"
        done
        stop_daemon
        # The same daemon with its ingest quiet (interval 3600 s: one sample per switch at
        # start, then nothing to write, read back or publish): how much of the tail is the
        # ingest sharing the worker's core.
        rcli flushall >/dev/null
        # shellcheck disable=SC2046
        (cd "$OUT" && exec env $(daemon_env "$N" WARNING) TELEMETRYD_GENERATOR_SERVER__WORKERS=1 \
            TELEMETRYD_METRIC_SERVER__WORKERS=1 TELEMETRYD_TELEMETRY__UPDATE_INTERVAL_SECONDS=3600 \
            taskset -c 1 "$BIN" 2>"$OUT/telemetryd-pinned-quiet-r$r.log") &
        DAEMON_PID=$!
        CMD[daemon.pinned.quiet]="$(daemon_cmd "$N" WARNING | sed 's/ target/ TELEMETRYD_GENERATOR_SERVER__WORKERS=1 TELEMETRYD_METRIC_SERVER__WORKERS=1 TELEMETRYD_TELEMETRY__UPDATE_INTERVAL_SECONDS=3600 taskset -c 1 target/')"
        wait_ready
        ingest_threads
        sleep 2
        pinned_load "pin.td.quiet.r$r" "http://127.0.0.1:$MET_PORT/telemetry/switch-7/latency_ms"
        stop_daemon
        taskset -c 1 "$BASELINE" --dir "$OUT/bodies-$N" --port "$BASE_PORT" --workers 1 &
        BASE_PID=$!
        CMD[baseline.pinned]="taskset -c 1 target/release/examples/baseline --dir bench/out/bodies-$N --port $BASE_PORT --workers 1"
        for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$BASE_PORT/small" && break; sleep 0.05; done
        B=http://127.0.0.1:$BASE_PORT
        LOAD_PREFIX="taskset -c 0" LOAD_THREADS=1 load "pin.bl.small.r$r" "$BASE_PID" "$B/small"
        LOAD_PREFIX="taskset -c 0" LOAD_THREADS=1 load "pin.bl.dyn.r$r" "$BASE_PID" "$B/telemetry/switch-7/latency_ms"
        stop "$BASE_PID"
        BASE_PID=""
    done
}

quiet_round "$LAST_READ"
CONF[have_pinning]=0
if command -v taskset >/dev/null && (($(nproc) >= 2)); then
    CONF[have_pinning]=1
    pinned_round "$FIRST_READ"
fi

# ---------------------------------------------------------------- b. ingest
calls() { rcli info commandstats | tr -d '\r' | sed -n "s/^cmdstat_$1:calls=\([0-9]*\),.*/\1/p"; }
# Every hash-read command Redis has served (HGETALL, HMGET, HGET), as one count.
reads() {
    local total=0 c n
    for c in hgetall hmget hget; do
        n=$(calls "$c")
        total=$((total + ${n:-0}))
    done
    echo "$total"
}

# ingest_counters ID before|after: the counters around an ingest run's lag samples: CPU
# ticks of the daemon, its three ingest threads and redis-server, Redis's HSET and hash reads.
ingest_counters() {
    local t=/proc/$DAEMON_PID/task
    mark "ing.$1" "$2" daemon="$(ticks "/proc/$DAEMON_PID/stat")" redis="$(ticks "/proc/$REDIS_PID/stat")" \
        switches="$(ticks "$t/$SWITCHES_TID/stat")" writer="$(ticks "$t/$WRITER_TID/stat")" \
        cache="$(ticks "$t/$CACHE_TID/stat")" hset="$(calls hset)" reads="$(reads)"
}

# ingest N [ID]: runs the daemon INGEST_WARMUP s, then samples the lag; sets R[ing.ID.*]
# (ID defaults to N; a repeated size gets its own ID) and KEPT_UP (1 or 0).
ingest() {
    local N=$1 id=${2:-$1}
    R[ing.$id.n]=$N
    log "ingest, $N switches"
    rcli flushall >/dev/null
    start_daemon "$N" WARNING "$OUT/telemetryd-ingest-$id.log"
    CMD[daemon.ingest]=$(daemon_cmd N WARNING)
    R[ing.$id.started]=$(now)
    wait_ready
    R[ing.$id.ready_at]=$(now)
    ingest_threads
    sleep "$(awk -v w="$INGEST_WARMUP" -v a="${R[ing.$id.ready_at]}" -v s="${R[ing.$id.started]}" 'BEGIN{d=w-(a-s); printf "%.3f", (d>0)?d:0}')"
    ingest_counters "$id" before
    : >"$OUT/ingest-lag-$id.txt"
    for _ in $(seq "$INGEST_SAMPLES"); do
        sleep "$INGEST_EVERY"
        "$INGEST_LAG" --port "$REDIS_PORT" --switches "$N" | tee -a "$OUT/ingest-lag-$id.txt" >&2
    done
    ingest_counters "$id" after
    R[ing.$id.hwm_kb]=$(awk '/^VmHWM:/{print $2}' "/proc/$DAEMON_PID/status")
    R[ing.$id.rss_kb]=$(awk '/^VmRSS:/{print $2}' "/proc/$DAEMON_PID/status")
    R[ing.$id.lag]=$(cat "$OUT/ingest-lag-$id.txt")
    KEPT_UP=0
    "${REPORT_PY[@]}" kept-up "$OUT/ingest-lag-$id.txt" && KEPT_UP=1
    if ((HAVE_PERF)) && [[ $KEPT_UP == 0 || $N == "${INGEST_SIZES##* }" ]] && [[ -z ${R[profile.ingest]:-} ]]; then
        log "profile of the ingest threads at $N switches"
        perf record -q -F 199 --call-graph dwarf,32768 -t "$SWITCHES_TID,$WRITER_TID,$CACHE_TID" -o "$OUT/perf-ingest.data" -- sleep 5 >/dev/null 2>&1 || true
        perf script -i "$OUT/perf-ingest.data" 2>/dev/null >"$OUT/perf-ingest.txt" || true
        R[profile.ingest]=$("${PROBE[@]}" perfcat "$OUT/perf-ingest.txt" ingest \
            "$SWITCHES_TID=switches thread" "$WRITER_TID=writer thread" "$CACHE_TID=cache thread" || true)
        R[profile.ingest.n]=$N
        rm -f "$OUT/perf-ingest.txt"
    fi
    stop_daemon
    INGESTED+=("$id")
    R[ing.order]=${INGESTED[*]}
}

INGESTED=()
last_ok=""
first_bad=""
for N in $INGEST_SIZES; do
    ingest "$N"
    if ((KEPT_UP)); then last_ok=$N; else first_bad=$N; break; fi
done
# Between the last fabric that kept up and the first that did not: one more point.
if [[ -n $last_ok && -n $first_bad ]]; then
    mid=$(((last_ok + first_bad) / 2))
    mid=$((mid / 5000 * 5000))
    if ((mid > last_ok && mid < first_bad)); then
        ingest "$mid"
        ((KEPT_UP)) && last_ok=$mid
    fi
fi
# The sizes at the edge once more: one run at the knee can go either way.
[[ -n $last_ok ]] && ingest "$last_ok" "${last_ok}r2"
[[ -n $first_bad ]] && ingest "$first_bad" "${first_bad}r2"

log "Redis's own rate for the daemon's commands (redis-benchmark, pipelined)"
rcli flushall >/dev/null
BENCH_HSET=(redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -P 100 -n 1000000 -r 100000 -q
    hset 'telemetry:bench:__rand_int__' bandwidth_in_mbps 41234.5 bandwidth_out_mbps 39876.125
    latency_ms 0.213 packet_errors 7 updated_at 1764290000.123)
BENCH_HGETALL=(redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -P 100 -n 1000000 -r 100000 -q
    hgetall 'telemetry:bench:__rand_int__')
BENCH_HGET=(redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -P 100 -n 1000000 -r 100000 -q
    hget 'telemetry:bench:__rand_int__' updated_at)
# The last "requests per second" redis-benchmark printed, as printed.
rb_rate() { tr '\r' '\n' | { grep 'requests per second' || true; } | tail -1 | sed 's/.*: \([0-9.]*\) requests per second.*/\1/'; }
R[rb.hset]=$("${BENCH_HSET[@]}" 2>&1 | tee "$OUT/redis-benchmark-hset.txt" | rb_rate)
R[rb.hgetall]=$("${BENCH_HGETALL[@]}" 2>&1 | tee "$OUT/redis-benchmark-hgetall.txt" | rb_rate)
CMD[rb.hset]=$(show_cmd "${BENCH_HSET[@]}")
CMD[rb.hgetall]=$(show_cmd "${BENCH_HGETALL[@]}")
R[rb.hget]=$("${BENCH_HGET[@]}" 2>&1 | tee "$OUT/redis-benchmark-hget.txt" | rb_rate)
CMD[rb.hget]=$(show_cmd "${BENCH_HGET[@]}")
rcli flushall >/dev/null

# ---------------------------------------------------------------- c. freshness
log "freshness, 1000 switches"
start_daemon 1000 WARNING "$OUT/telemetryd-fresh.log"
CMD[daemon.fresh]=$(daemon_cmd 1000 WARNING)
wait_ready
sleep 3
FRESH_CMD=("${PROBE[@]}" freshness --port "$MET_PORT" --switches "$FRESH_SWITCHES" --seconds "$FRESH_SECONDS" --period-ms 5)
R[fresh]=$("${FRESH_CMD[@]}")
echo "${R[fresh]}" >&2
CMD[fresh]="python3 bench/probe.py freshness --port $MET_PORT --switches $FRESH_SWITCHES --seconds $FRESH_SECONDS --period-ms 5"
stop_daemon

# ---------------------------------------------------------------- d. start-up
log "start-up, $STARTUP_SWITCHES switches"
startup_once() {
    # shellcheck disable=SC2046
    (cd "$OUT" && env $(daemon_env "$STARTUP_SWITCHES" WARNING) "${PROBE[@]}" startup \
        --ports "$GEN_PORT,$MET_PORT" -- "$BIN")
}
empty=()
for _ in $(seq "$STARTUP_RUNS"); do
    rcli flushall >/dev/null
    empty+=("$(startup_once)")
done
warm=()
for _ in $(seq "$STARTUP_RUNS"); do warm+=("$(startup_once)"); done
R[start.empty]="${empty[*]}"
R[start.warm]="${warm[*]}"
CMD[startup]="env $(daemon_env "$STARTUP_SWITCHES" WARNING) python3 bench/probe.py startup --ports $GEN_PORT,$MET_PORT -- target/release/telemetryd"
echo "start-up ms, empty Redis: ${empty[*]}; Redis holding the fabric: ${warm[*]}" >&2

stop "$REDIS_PID"
REDIS_PID=""
R[ended]=$(date +%s)
stop "$MON_PID"
MON_PID=""
# Each outside process seen above 10 % of a core, and the phases they are matched to.
R[interference]=$(cat "$OUT/interference.txt" 2>/dev/null || true)
R[phases]=$(cat "$OUT/phases.txt" 2>/dev/null || true)
R[uptime_after]=$(uptime)

# ---------------------------------------------------------------- results and report
log "writing $OUT/results.json and $REPORT"
{
    for k in "${!CONF[@]}"; do printf 'config\0%s\0%s\0' "$k" "${CONF[$k]}"; done
    for k in "${!R[@]}"; do printf 'figures\0%s\0%s\0' "$k" "${R[$k]}"; done
    for k in "${!CMD[@]}"; do printf 'commands\0%s\0%s\0' "$k" "${CMD[$k]}"; done
} | "${REPORT_PY[@]}" collect "$OUT/results.json"
"${REPORT_PY[@]}" --results "$OUT/results.json" --notes "$ROOT/bench/notes.md" --out "$REPORT"
log "done in $((R[ended] - R[began])) s: $REPORT"
