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
# to bench/out/ (wrk outputs, captured bodies, logs, perf data), the report to BENCHMARKS.md.
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
CLK_TCK=$(getconf CLK_TCK)
BEGAN=$(date +%s)

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

declare -A R      # results
declare -A CMD    # exact command per result key
# What is built: the commit, plus any uncommitted change to the daemon's sources.
R[commit]=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
R[dirty]=$(git status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null | wc -l)
R[dirty_files]=$(git status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null | awk '{print $2}' | paste -sd' ')
R[dirty_sha]=$(git diff HEAD -- src Cargo.toml Cargo.lock 2>/dev/null | sha256sum | cut -c1-12)
log "building (release, binary and examples)"
BUILD_CMD="cargo build --release --locked --bins --examples"
$BUILD_CMD
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
rcli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }

log "redis-server on 127.0.0.1:$REDIS_PORT"
REDIS_CMD="redis-server --bind 127.0.0.1 --port $REDIS_PORT --save '' --appendonly no --daemonize no"
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
calc() { awk "BEGIN{printf \"$1\", $2}"; }
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END{print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}'; }

# ---------------------------------------------------------------- wrk
to_ms() { # 790.00us | 1.76ms | 1.20s | 1.01m
    awk '{v=$1; u=v; sub(/[0-9.]+/,"",u); sub(/[a-z]+$/,"",v);
          f=(u=="us")?0.001:(u=="ms")?1:(u=="s")?1000:(u=="m")?60000:1; printf "%.2f", v*f}'
}
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
    local f=$OUT/wrk/$key.txt c0 c1 t0 t1
    log "wrk $key"
    c0=$(ticks "/proc/$pid/stat"); t0=$(now)
    "${cmd[@]}" >"$f" 2>&1
    c1=$(ticks "/proc/$pid/stat"); t1=$(now)
    cat "$f" >&2
    CMD[$key]=$(show_cmd "${cmd[@]}")
    R[$key.rps]=$(awk '/^Requests\/sec:/{printf "%.0f", $2}' "$f")
    R[$key.p50]=$(awk '$1=="50%"{print $2}' "$f" | to_ms)
    R[$key.p99]=$(awk '$1=="99%"{print $2}' "$f" | to_ms)
    R[$key.reqs]=$(awk '/requests in/{print $1}' "$f")
    R[$key.transfer]=$(awk '/^Transfer\/sec:/{print $2}' "$f")
    R[$key.non2xx]=$(awk '/Non-2xx/{print $NF}' "$f")
    R[$key.non2xx]=${R[$key.non2xx]:-0}
    R[$key.sockerr]=$(grep -o 'Socket errors:.*' "$f" || echo none)
    R[$key.cpu]=$(calc "%.0f" "($c1-$c0)*100/$CLK_TCK/($t1-$t0)")
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
        local c0 r0 t0 c1 r1 t1
        c0=$(ticks "/proc/$DAEMON_PID/stat"); r0=$(ticks "/proc/$REDIS_PID/stat"); t0=$(now)
        sleep 5
        c1=$(ticks "/proc/$DAEMON_PID/stat"); r1=$(ticks "/proc/$REDIS_PID/stat"); t1=$(now)
        R[idle.$N.cpu]=$(calc "%.0f" "($c1-$c0)*100/$CLK_TCK/($t1-$t0)")
        R[idle.$N.redis]=$(calc "%.0f" "($r1-$r0)*100/$CLK_TCK/($t1-$t0)")
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
    local N=$1 lines0 lines1
    log "read path, $N switches: telemetryd at INFO (a log line per request)"
    rcli flushall >/dev/null
    start_daemon "$N" INFO "$OUT/telemetryd-info.log"
    CMD[daemon.info]=$(daemon_cmd "$N" INFO)
    wait_ready
    sleep 3
    lines0=$(grep -c 'msg="HTTP request."' "$OUT/telemetryd-info.log" || true)
    load "td.$N.small.info" "$DAEMON_PID" "http://127.0.0.1:$MET_PORT/telemetry/switch-7/latency_ms"
    sleep 2 # let the log thread drain its queue
    lines1=$(grep -c 'msg="HTTP request."' "$OUT/telemetryd-info.log" || true)
    R[info.lines]=$((lines1 - lines0))
    stop_daemon # the summary of the last interval is written at stop
    R[info.skipped]=$({ grep 'msg="HTTP request summary."' "$OUT/telemetryd-info.log" || true; } |
        sed -n 's/.* skipped=\([0-9]*\).*/\1/p' | awk '{s+=$1} END{print s+0}')
    R[info.dropped]=$({ grep 'msg="Log lines dropped."' "$OUT/telemetryd-info.log" || true; } |
        sed -n 's/.* dropped=\([0-9]*\).*/\1/p' | awk '{s+=$1} END{print s+0}')
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
    for k in $(for r in $TD_ROUTES; do echo "td.$N.$r"; done) $(for r in $BL_ROUTES; do echo "bl.$N.$r"; done); do
        for f in rps p50 p99 cpu reqs; do
            R[$k.$f]=$(awk -v a="${R[$k.r1.$f]}" -v b="${R[$k.r2.$f]}" -v f="$f" \
                'BEGIN{ m=(a+b)/2; if (f=="rps"||f=="cpu"||f=="reqs") printf "%.0f", m; else printf "%.2f", m }')
        done
        R[$k.spread]=$(awk -v a="${R[$k.r1.rps]}" -v b="${R[$k.r2.rps]}" 'BEGIN{d=a-b; if(d<0)d=-d; printf "%.0f", 100*d/((a+b)/2)}')
        CMD[$k]=${CMD[$k.r1]}
    done
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
# its HTTP threads were preempted (R[KEY.preempted]).
pinned_load() {
    local p0
    p0=$(preempted "$DAEMON_PID" "$SWITCHES_TID" "$WRITER_TID" "$CACHE_TID")
    LOAD_PREFIX="taskset -c 0" LOAD_THREADS=1 load "$1" "$DAEMON_PID" "$2"
    R[$1.preempted]=$(($(preempted "$DAEMON_PID" "$SWITCHES_TID" "$WRITER_TID" "$CACHE_TID") - p0))
}

# pinned_round N: the small route with the server (1 worker per listener) on CPU 1 and wrk
# (1 thread) on CPU 0, PIN_ROUNDS rounds: a fresh daemon measured with its ingest threads as
# shipped (SCHED_BATCH, pin.td.batch) and switched to normal scheduling with chrt
# (pin.td.normal), the two in alternating order from round to round, then the baseline's
# static and dynamic routes (pin.bl.small / pin.bl.dyn). Medians over the rounds in
# R[pin.KIND.{rps,p50,p99,cpu,preempted}].
pinned_round() {
    local N=$1 B r kind f mode modes
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
    for kind in td.batch td.normal td.quiet bl.small bl.dyn; do
        CMD[pin.$kind]=${CMD[pin.$kind.r1]}
        for f in rps p50 p99 cpu preempted; do
            [[ -n ${R[pin.$kind.r1.$f]:-} ]] || continue
            R[pin.$kind.$f]=$(for r in $(seq "$PIN_ROUNDS"); do echo "${R[pin.$kind.r$r.$f]}"; done | paste -sd' ' | median)
            R[pin.$kind.all.$f]=$(for r in $(seq "$PIN_ROUNDS"); do echo "${R[pin.$kind.r$r.$f]}"; done | paste -sd' ' | sed 's/ /, /g')
        done
    done
}

quiet_round "$LAST_READ"
HAVE_PINNING=0
if command -v taskset >/dev/null && (($(nproc) >= 2)); then
    HAVE_PINNING=1
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

# ingest N [ID]: runs the daemon INGEST_WARMUP s, then samples the lag; sets R[ing.ID.*]
# (ID defaults to N; a repeated size gets its own ID).
ingest() {
    local N=$1 id=${2:-$1}
    R[ing.$id.n]=$N
    log "ingest, $N switches"
    rcli flushall >/dev/null
    start_daemon "$N" WARNING "$OUT/telemetryd-ingest-$id.log"
    CMD[daemon.ingest]=$(daemon_cmd N WARNING)
    local started ready_at
    started=$(now)
    wait_ready
    ready_at=$(now)
    ingest_threads
    R[ing.$id.ready_ms]=$(calc "%.0f" "($ready_at-$started)*1000")
    sleep "$(awk -v w="$INGEST_WARMUP" -v a="$ready_at" -v s="$started" 'BEGIN{d=w-(a-s); printf "%.3f", (d>0)?d:0}')"
    local c0 r0 m0 h0 g0 t0 c1 r1 m1 h1 g1 t1
    c0=$(ticks "/proc/$DAEMON_PID/stat"); r0=$(ticks "/proc/$REDIS_PID/stat")
    m0=$(ticks "/proc/$DAEMON_PID/task/$SWITCHES_TID/stat"); h0=$(calls hset); g0=$(reads); t0=$(now)
    local k0 w0 k1 w1
    k0=$(ticks "/proc/$DAEMON_PID/task/$CACHE_TID/stat"); w0=$(ticks "/proc/$DAEMON_PID/task/$WRITER_TID/stat")
    : >"$OUT/ingest-lag-$id.txt"
    for _ in $(seq "$INGEST_SAMPLES"); do
        sleep "$INGEST_EVERY"
        "$INGEST_LAG" --port "$REDIS_PORT" --switches "$N" | tee -a "$OUT/ingest-lag-$id.txt" >&2
    done
    c1=$(ticks "/proc/$DAEMON_PID/stat"); r1=$(ticks "/proc/$REDIS_PID/stat")
    m1=$(ticks "/proc/$DAEMON_PID/task/$SWITCHES_TID/stat"); h1=$(calls hset); g1=$(reads); t1=$(now)
    k1=$(ticks "/proc/$DAEMON_PID/task/$CACHE_TID/stat"); w1=$(ticks "/proc/$DAEMON_PID/task/$WRITER_TID/stat")
    R[ing.$id.window_s]=$(calc "%.0f" "$t1-$t0")
    R[ing.$id.cpu]=$(calc "%.0f" "($c1-$c0)*100/$CLK_TCK/($t1-$t0)")
    R[ing.$id.main]=$(calc "%.0f" "($m1-$m0)*100/$CLK_TCK/($t1-$t0)")
    R[ing.$id.cachet]=$(calc "%.0f" "($k1-$k0)*100/$CLK_TCK/($t1-$t0)")
    R[ing.$id.writert]=$(calc "%.0f" "($w1-$w0)*100/$CLK_TCK/($t1-$t0)")
    R[ing.$id.redis]=$(calc "%.0f" "($r1-$r0)*100/$CLK_TCK/($t1-$t0)")
    R[ing.$id.hset]=$(calc "%.0f" "($h1-$h0)/($t1-$t0)")
    # The daemon's read-back, whatever commands it uses; ingest_lag's own HGETs taken out.
    R[ing.$id.reads]=$(calc "%.0f" "($g1-$g0-$INGEST_SAMPLES*$N)/($t1-$t0)")
    R[ing.$id.hwm_kb]=$(awk '/^VmHWM:/{print $2}' "/proc/$DAEMON_PID/status")
    R[ing.$id.rss_kb]=$(awk '/^VmRSS:/{print $2}' "/proc/$DAEMON_PID/status")
    R[ing.$id.max]=$(sed -n 's/.*max_ms=\([0-9]*\).*/\1/p' "$OUT/ingest-lag-$id.txt" | sort -n | tail -1)
    R[ing.$id.p50]=$(sed -n 's/.*p50_ms=\([0-9]*\).*/\1/p' "$OUT/ingest-lag-$id.txt" | sort -n | tail -1)
    R[ing.$id.missing]=$(sed -n 's/.*missing=\([0-9]*\).*/\1/p' "$OUT/ingest-lag-$id.txt" | sort -n | tail -1)
    R[ing.$id.maxes]=$(sed -n 's/.*max_ms=\([0-9]*\).*/\1/p' "$OUT/ingest-lag-$id.txt" | paste -sd' ')
    if [[ ${R[ing.$id.max]:-999999} -lt 2000 && ${R[ing.$id.missing]:-1} -eq 0 ]]; then
        R[ing.$id.ok]=yes
    else
        R[ing.$id.ok]=no
    fi
    if ((HAVE_PERF)) && [[ ${R[ing.$id.ok]} == no || $N == "${INGEST_SIZES##* }" ]] && [[ -z ${R[profile.ingest]:-} ]]; then
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
}

INGESTED=()
last_ok=""
first_bad=""
for N in $INGEST_SIZES; do
    ingest "$N"
    if [[ ${R[ing.$N.ok]} == yes ]]; then last_ok=$N; else first_bad=$N; break; fi
done
# Between the last fabric that kept up and the first that did not: one more point.
if [[ -n $last_ok && -n $first_bad ]]; then
    mid=$(((last_ok + first_bad) / 2))
    mid=$((mid / 5000 * 5000))
    if ((mid > last_ok && mid < first_bad)); then
        ingest "$mid"
        [[ ${R[ing.$mid.ok]} == yes ]] && last_ok=$mid
    fi
fi
# The sizes at the edge once more: one run at the knee can go either way.
[[ -n $last_ok ]] && ingest "$last_ok" "${last_ok}r2"
[[ -n $first_bad ]] && ingest "$first_bad" "${first_bad}r2"
# Sustained: every run of that size kept every switch younger than 2 s.
R[ing.largest]=none
for id in "${INGESTED[@]}"; do
    n=${R[ing.$id.n]}
    all=yes
    for other in "${INGESTED[@]}"; do
        [[ ${R[ing.$other.n]} == "$n" && ${R[ing.$other.ok]} != yes ]] && all=no
    done
    if [[ $all == yes ]] && [[ ${R[ing.largest]} == none || $n -gt ${R[ing.largest]} ]]; then
        R[ing.largest]=$n
    fi
done
# Distinct sizes run, ascending; ids of one size's runs.
SIZES_RUN=$(for id in "${INGESTED[@]}"; do echo "${R[ing.$id.n]}"; done | sort -n | uniq | paste -sd' ')
runs_of() { for id in "${INGESTED[@]}"; do if [[ ${R[ing.$id.n]} == "$1" ]]; then echo "$id"; fi; done; }

log "Redis's own rate for the daemon's commands (redis-benchmark, pipelined)"
rcli flushall >/dev/null
BENCH_HSET=(redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -P 100 -n 1000000 -r 100000 -q
    hset 'telemetry:bench:__rand_int__' bandwidth_in_mbps 41234.5 bandwidth_out_mbps 39876.125
    latency_ms 0.213 packet_errors 7 updated_at 1764290000.123)
BENCH_HGETALL=(redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -P 100 -n 1000000 -r 100000 -q
    hgetall 'telemetry:bench:__rand_int__')
BENCH_HGET=(redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -P 100 -n 1000000 -r 100000 -q
    hget 'telemetry:bench:__rand_int__' updated_at)
rb_rate() { tr '\r' '\n' | { grep 'requests per second' || true; } | tail -1 | sed 's/.*: \([0-9.]*\) requests per second.*/\1/'; }
R[rb.hset]=$("${BENCH_HSET[@]}" 2>&1 | tee "$OUT/redis-benchmark-hset.txt" | rb_rate | awk '{printf "%.0f", $1}')
R[rb.hgetall]=$("${BENCH_HGETALL[@]}" 2>&1 | tee "$OUT/redis-benchmark-hgetall.txt" | rb_rate | awk '{printf "%.0f", $1}')
CMD[rb.hset]=$(show_cmd "${BENCH_HSET[@]}")
CMD[rb.hgetall]=$(show_cmd "${BENCH_HGETALL[@]}")
R[rb.hget]=$("${BENCH_HGET[@]}" 2>&1 | tee "$OUT/redis-benchmark-hget.txt" | rb_rate | awk '{printf "%.0f", $1}')
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
R[start.empty.median]=$(echo "${empty[*]}" | median)
R[start.warm.median]=$(echo "${warm[*]}" | median)
CMD[startup]="env $(daemon_env "$STARTUP_SWITCHES" WARNING) python3 bench/probe.py startup --ports $GEN_PORT,$MET_PORT -- target/release/telemetryd"
echo "start-up ms, empty Redis: ${empty[*]}; Redis holding the fabric: ${warm[*]}" >&2

stop "$REDIS_PID"
REDIS_PID=""
R[elapsed]=$(($(date +%s) - BEGAN))
stop "$MON_PID"
MON_PID=""
# Each outside process seen above 10 % of a core, with the phase that was running.
R[interference]=$(awk 'NR==FNR {t[NR]=$1; $1=""; ph[NR]=substr($0,2); n=NR; next}
    { p="(before the first phase)"; for (i=1;i<=n;i++) if (t[i]<=$1) p=ph[i];
      printf "| %s | %s (pid %s) | %s %% | %s |\n", strftime("%H:%M:%S",$1), $3, $2, $4, p }' \
    "$OUT/phases.txt" "$OUT/interference.txt" 2>/dev/null || true)
R[uptime_after]=$(uptime)

# ---------------------------------------------------------------- report
log "writing $REPORT"
KEEP=""
if [[ -f $REPORT ]]; then
    KEEP=$(awk '/^## /{keep = ($0 ~ /^## (Micro-benchmarks|Open gaps)/)} keep' "$REPORT" |
        sed '/^(Sections\{0,1\} \(above \)\{0,1\}carried over as written/,$d' | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}')
fi
{
    for k in "${!R[@]}"; do printf '%s=%q\n' "$k" "${R[$k]}"; done | sort
} >"$OUT/results.txt"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b>0) printf "%.2f", a/b; else print "n/a" }'; }
yesno() { if [[ $1 == 1 ]]; then echo "**met**"; else echo "**not met**"; fi; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN{print (a>=b)?1:0}'; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN{print (a<b)?1:0}'; }
kb() { awk -v b="$1" 'BEGIN{ if (b>=1048576) printf "%.2f MB", b/1048576; else if (b>=1024) printf "%.0f KB", b/1024; else printf "%d B", b }'; }
mb() { awk -v k="$1" 'BEGIN{printf "%.0f", k/1024}'; }
row() { # row LABEL N ROUTE_KEY BASELINE_KEY BYTES_KEY
    local t=td.$2.$3 b=bl.$2.$4
    echo "| $1 | $2 | $(kb "${R[bytes.$2.$5]}") | **${R[$t.rps]}** (${R[$t.r1.rps]}, ${R[$t.r2.rps]}) | ${R[$t.p50]} | ${R[$t.p99]} | ${R[$t.cpu]} % | **${R[$b.rps]}** (${R[$b.r1.rps]}, ${R[$b.r2.rps]}) | ${R[$b.p50]} | ${R[$b.p99]} | ${R[$b.cpu]} % | **$(ratio "${R[$t.rps]}" "${R[$b.rps]}")** |"
}
# pin_verdict: the pinned p99 target's verdict: met, or not met and whether the baseline
# itself (actix-web answering from memory) stayed under 2 ms on the same core.
pin_verdict() {
    if [[ $(lt "${R[pin.td.batch.p99]}" 2) == 1 ]]; then
        yesno 1
    elif [[ $(lt "${R[pin.bl.small.p99]}" 2) == 0 ]]; then
        echo "**not met**; the limit: the baseline's own p99 was ${R[pin.bl.small.p99]} ms"
    elif [[ $(lt "${R[pin.td.quiet.p99]}" 2) == 1 ]]; then
        echo "**not met** with the ingest sharing the core; met with it quiet"
    else
        yesno 0
    fi
}
LAST_READ=${READ_SIZES##* }
MINUTES=$(((R[elapsed] + 59) / 60))
cat >"$REPORT" <<EOF
# Benchmarks

telemetryd next to the limits of the machine it runs on. Every figure below was measured by
one run of \`bench/run.sh\` (${R[elapsed]} s, commit \`${R[commit]}\`$([[ ${R[dirty]} != 0 ]] && echo " plus the uncommitted changes in the working tree to ${R[dirty_files]}, diff sha256 \`${R[dirty_sha]}\`" || true)); the raw
outputs (wrk, ingest_lag, redis-benchmark, logs, captured bodies) are in \`bench/out/\` after
a run. Re-run with:

\`\`\`sh
bench/run.sh          # ~${MINUTES} minutes; installs wrk/redis if missing, builds, measures, rewrites this file
\`\`\`

## Machine

| | |
|---|---|
| CPU | ${R[cpu]}, \`nproc\` = ${R[nproc]} |
| memory | $(echo "${R[free]}" | awk '/^Mem:/{print $2" total, "$7" available"}') (\`free -h\`) |
| OS, kernel | ${R[os]}, ${R[kernel]} |
| toolchain | ${R[rustc]}, release profile of Cargo.toml |
| load tools | ${R[wrk]}; ${R[redis]} |
| load before the run | \`${R[uptime_before]## }\` |

\`free -h\` at the start:

\`\`\`
${R[free]}
\`\`\`

$(if [[ -z ${R[interference]} ]]; then
    echo "No process outside the benchmark used more than 10 % of a core in any 2 s window during the"
    echo "run (\`bench/probe.py monitor\`, sampling /proc every 2 s)."
else
    echo "**Other processes used the CPU during the run** (\`bench/probe.py monitor\`, every 2 s window"
    echo "in which a process outside the benchmark used more than 10 % of a core); figures measured"
    echo "in these phases are disturbed by them:"
    echo
    echo "| time | process | CPU | phase running |"
    echo "|---|---|---:|---|"
    echo "${R[interference]}"
fi)

**wrk and the server under test share the same ${R[nproc]} cores** (there is no second machine,
and every load targets 127.0.0.1): every requests/s figure below is "server plus load
generator on ${R[nproc]} cores", for telemetryd and baseline alike. The "server CPU" columns say
how much of the machine the server itself took (100 % = one core).

## a. Read path

wrk, ${CONNS} connections, ${THREADS} threads, ${DURATION} s per run, \`--latency\`; servers run one
at a time, never concurrently. Each load ran in two rounds per size, in alternating order
(telemetryd then baseline, then baseline then telemetryd, each a fresh process); the table
shows the mean of the two rounds (req/s of each round in parentheses; latencies are the mean
of the two rounds' percentiles). The two rounds of one load differed by up to
$(for k in "${!R[@]}"; do [[ $k == *.spread ]] && echo "${R[$k]}"; done | sort -n | tail -1 || true) % in req/s, which is the noise of this machine: read ratios near 0.8 with that in mind.
telemetryd: update interval ${INTERVAL} s, log level WARNING,
${WORKERS} workers per listener, its own Redis (so it keeps simulating, writing and re-reading
every switch while it serves; with no HTTP load that costs $(for N in $READ_SIZES; do printf '%s %% of a core at %s switches, ' "${R[idle.$N.cpu]}" "$N"; done | sed 's/, $//') plus Redis's own CPU).
Baseline: \`examples/baseline.rs\`, the same actix-web with the same features and
${WORKERS} workers, no logging, no middleware, answering from memory with the bytes captured
from telemetryd just before (same body, same \`Content-Type\`; the gzip bytes with
\`Content-Encoding: gzip\` when \`Accept-Encoding\` asks). Latencies in ms.

| route | switches | body | telemetryd req/s (round 1, 2) | p50 | p99 | server CPU | baseline req/s (round 1, 2) | p50 | p99 | server CPU | ratio telemetryd/baseline |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
EOF
{
    for N in $READ_SIZES; do
        row "\`/telemetry/switch-7/latency_ms\` (baseline \`/small\`)" "$N" small small small
        row "\`/telemetry/switch-7/latency_ms\` (baseline same dynamic route)" "$N" small dyn small
        row "\`/telemetry/\`" "$N" json json json
        row "\`/counters\`" "$N" csv csv csv
        row "\`/telemetry/\`, gzip" "$N" jsongz jsongz jsongz
        row "\`/counters\`, gzip" "$N" csvgz csvgz csvgz
    done
    echo
    echo "Errors: $(for k in "${!R[@]}"; do [[ $k == *.non2xx ]] && echo "${R[$k]}"; done | awk '{s+=$1} END{print s+0}') non-2xx responses over all runs; socket errors: $(for k in "${!R[@]}"; do [[ $k == *.sockerr && ${R[$k]} != none ]] && echo "$k ${R[$k]}"; done | paste -sd';' | sed 's/^$/none/')."
    echo
    echo "How much of the spread is the machine: the baseline's \`/small\` does the same work at every"
    echo "size, and its four rounds measured $(for N in $READ_SIZES; do printf '%s %s ' "${R[bl.$N.small.r1.rps]}" "${R[bl.$N.small.r2.rps]}"; done | xargs | sed 's/ /, /g') req/s."
    echo
    echo "The baseline's \`/small\` is a static path; telemetryd's small route has two dynamic"
    echo "segments, which actix-web matches with a regex. The second line of each size puts the"
    echo "baseline on the same dynamic route (same bytes), to separate the router's cost from the"
    echo "daemon's own."
    echo
    Q=$LAST_READ
    echo "### Serving alone: telemetryd with its ingest quiet"
    echo
    echo "The same five loads once more at ${Q} switches, against a telemetryd whose update interval"
    echo "is 3600 s: every switch is sampled once at start, and while wrk runs there is nothing to"
    echo "write, read back, publish or re-render. With a 1 s interval the daemon spends"
    echo "${R[idle.$Q.cpu]} % of a core on ingest at this size (and Redis ${R[idle.$Q.redis]} % more), on the 2 cores wrk and"
    echo "the server share; the baseline spends nothing. Baseline figures are the means above."
    echo
    echo "| route | telemetryd, ingest quiet, req/s | p99 | server CPU | baseline req/s | ratio (quiet) | ratio with ingest at 1 s (above) |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    for k in "small:\`/telemetry/switch-7/latency_ms\` (baseline \`/small\`):small" "small:\`/telemetry/switch-7/latency_ms\` (baseline same dynamic route):dyn" "json:\`/telemetry/\`:json" "csv:\`/counters\`:csv" "jsongz:\`/telemetry/\`, gzip:jsongz" "csvgz:\`/counters\`, gzip:csvgz"; do
        t=${k%%:*}; rest=${k#*:}; name=${rest%:*}; b=${rest##*:}
        echo "| $name | ${R[quiet.$Q.$t.rps]} | ${R[quiet.$Q.$t.p99]} | ${R[quiet.$Q.$t.cpu]} % | ${R[bl.$Q.$b.rps]} | **$(ratio "${R[quiet.$Q.$t.rps]}" "${R[bl.$Q.$b.rps]}")** | $(ratio "${R[td.$Q.$t.rps]}" "${R[bl.$Q.$b.rps]}") |"
    done
    echo
    if ((HAVE_PINNING)); then
        echo "### p99 with the load generator on a core of its own"
        echo
        echo "With wrk and the server on the same ${R[nproc]} cores, every latency above includes waiting for"
        echo "wrk to yield the CPU. Here the server (1 worker per listener) runs on CPU 1 only"
        echo "(\`taskset -c 1\`) and wrk (1 thread, ${CONNS} connections, ${DURATION} s) on CPU 0 only; ${FIRST_READ} switches,"
        echo "telemetryd at a 1 s interval (its ingest shares CPU 1):"
        echo
        echo "Medians of ${PIN_ROUNDS} rounds (each round's figures in brackets); each round starts a fresh daemon"
        echo "and measures it with its ingest threads as shipped and switched by \`chrt\`, in alternating order. \"HTTP threads preempted\""
        echo "counts the involuntary context switches of telemetryd's threads other than the three ingest"
        echo "threads during the run (in practice, the metric listener's one worker): how often something"
        echo "took the core from it. The second telemetryd row is the same daemon with \`chrt --other\` having"
        echo "put its ingest threads back to normal scheduling (as shipped they are \`SCHED_BATCH\`, see"
        echo "\`src/threads.rs\`). The third is a fresh daemon whose update interval is 3600 s: every"
        echo "switch sampled once at start, then no ingest while wrk runs, so the worker has the core to"
        echo "itself as the baseline does."
        echo
        echo "| server | route | req/s | p50 | p99 | server CPU | HTTP threads preempted |"
        echo "|---|---|---:|---:|---:|---:|---:|"
        pin_row() { # LABEL ROUTE KIND
            local k=pin.$3
            echo "| $1 | $2 | ${R[$k.rps]} (${R[$k.all.rps]}) | ${R[$k.p50]} | **${R[$k.p99]}** (${R[$k.all.p99]}) | ${R[$k.cpu]} % | ${R[$k.preempted]:-n/a}$([[ -n ${R[$k.preempted]:-} ]] && echo " (${R[$k.all.preempted]})") |"
        }
        pin_row "telemetryd (ingest SCHED_BATCH, as shipped)" "\`/telemetry/switch-7/latency_ms\`" td.batch
        pin_row "telemetryd (ingest normal, by chrt)" "\`/telemetry/switch-7/latency_ms\`" td.normal
        pin_row "telemetryd (ingest quiet: interval 3600 s)" "\`/telemetry/switch-7/latency_ms\`" td.quiet
        pin_row "baseline" "\`/small\` (static)" bl.small
        pin_row "baseline" "\`/telemetry/switch-7/latency_ms\` (dynamic)" bl.dyn
        echo
        echo "Ratio telemetryd/baseline (medians): $(ratio "${R[pin.td.batch.rps]}" "${R[pin.bl.small.rps]}")x of the static route, $(ratio "${R[pin.td.batch.rps]}" "${R[pin.bl.dyn.rps]}")x of the dynamic one."
        echo "wrk keeps ${CONNS} requests in flight, so the mean latency is ${CONNS} / throughput (Little's law):"
        echo "$(awk -v c="$CONNS" -v r="${R[pin.bl.small.rps]}" 'BEGIN{printf "%.2f", 1000*c/r}') ms for the baseline at ${R[pin.bl.small.rps]} req/s on one core, $(awk -v c="$CONNS" -v r="${R[pin.td.batch.rps]}" 'BEGIN{printf "%.2f", 1000*c/r}') ms for telemetryd at ${R[pin.td.batch.rps]} req/s."
        echo "A p99 under 2 ms at ${CONNS} connections needs a mean well under 2 ms (over $(awk -v c="$CONNS" 'BEGIN{printf "%.0f", c/0.002}') req/s from"
        if [[ $(lt "${R[pin.bl.small.p99]}" 2) == 0 ]]; then
            echo "one core) with a narrow spread; actix-web itself, answering from memory with no middleware,"
            echo "had a p99 of ${R[pin.bl.small.p99]} ms here, so the target is beyond what actix-web does on one core of this"
            echo "machine at this connection count, before telemetryd adds any work of its own."
        else
            echo "one core) with a narrow spread, which the baseline achieved here (p99 ${R[pin.bl.small.p99]} ms)."
        fi
        echo
    fi
    F=$FIRST_READ
    echo "### Cost of a log line per request (level INFO)"
    echo
    echo "Same small route, ${F} switches, log level INFO (stderr to a file, request lines and"
    echo "their summaries), otherwise as above; one run at INFO, against the mean of the two WARNING rounds:"
    echo
    lost=$(awk -v r="${R[td.$F.small.info.reqs]}" -v l="${R[info.lines]}" 'BEGIN{d=r-l; print (d>0)?d:0}')
    echo "| level | req/s | p50 | p99 | server CPU | requests | request lines logged | requests without a line |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    echo "| WARNING | ${R[td.$F.small.rps]} | ${R[td.$F.small.p50]} | ${R[td.$F.small.p99]} | ${R[td.$F.small.cpu]} % | ${R[td.$F.small.reqs]} | 0 | (not logged at this level) |"
    echo "| INFO | ${R[td.$F.small.info.rps]} | ${R[td.$F.small.info.p50]} | ${R[td.$F.small.info.p99]} | ${R[td.$F.small.info.cpu]} % | ${R[td.$F.small.info.reqs]} | ${R[info.lines]} | $lost |"
    echo
    echo "At INFO the small route serves $(awk -v a="${R[td.$F.small.info.rps]}" -v b="${R[td.$F.small.rps]}" 'BEGIN{printf "%.0f", 100*(1-a/b)}') % fewer requests per second than at WARNING"
    echo "($(awk -v b="${R[info.bytes]}" 'BEGIN{printf "%.0f", b/1048576}') MiB of log in ${DURATION} s, to a file; journald would be slower still)."
    if ((lost > 0)); then
        echo "${R[info.lines]} of ${R[td.$F.small.info.reqs]} requests got their line"
        echo "($(awk -v l="${R[info.lines]}" -v d="$DURATION" 'BEGIN{printf "%.0f", l/d}') lines/s; a listener writes at most 100 a second, README \"Logs\");"
        echo "${R[info.skipped]} were skipped and counted in the summary lines (\`msg=\"HTTP request summary.\"\`, with"
        echo "the route's p50/p99/max), ${R[info.dropped]} dropped by a full queue (\`msg=\"Log lines dropped.\"\`)."
    else
        echo "Every request got its line."
    fi
    echo
    echo "### Against the prototype"
    echo
    echo "The issue quotes the Python prototype at *about 60 requests/s for 100 switches*. For"
    echo "context (not the same machine, and 10 to 100 times more switches): telemetryd answered"
    echo "${R[td.$F.small.rps]} req/s on the small route and ${R[td.$F.json.rps]} req/s on the whole-fabric \`/telemetry/\` at ${F} switches,"
    echo "and ${R[td.$LAST_READ.json.rps]} req/s on \`/telemetry/\` (${R[td.$LAST_READ.jsongz.rps]} with gzip) at ${LAST_READ} switches."
    if [[ -n ${R[profile.small]:-} ]]; then
        echo
        echo "### Where telemetryd's time goes"
        echo
        echo "\`perf record --call-graph dwarf\` of the whole daemon for 4 s of the same load at"
        echo "${R[profile.n]} switches (separate, unmeasured wrk runs); each sample is counted under the first"
        echo "matching frame in its stack, so the shares are of all samples of the process (the rest of"
        echo "the ${R[nproc]} cores went to wrk and the kernel's loopback work on wrk's side)."
        echo
        echo "Small route, \`/telemetry/switch-7/latency_ms\`:"
        echo
        echo "${R[profile.small]}"
        echo
        echo "\`/telemetry/\` with gzip (a new snapshot at most every 100 ms, rendered, hashed and"
        echo "gzipped by the first request that needs it while the others wait for it):"
        echo
        echo "${R[profile.jsongz]}"
    fi
} >>"$REPORT"

{
    echo
    echo "## b. Ingest"
    echo
    echo "Largest fabric the daemon keeps in Redis at a ${INTERVAL} s interval. For each size: a fresh"
    echo "daemon (empty Redis, level WARNING), ${INGEST_WARMUP} s after start, then ${INGEST_SAMPLES} reads of every switch's"
    echo "\`updated_at\` with \`examples/ingest_lag.rs\` (pipelined HGET, 1000 keys per pipeline),"
    echo "${INGEST_EVERY} s apart. CPU is (utime+stime) from \`/proc/<pid>/stat\` over that window (100 % = one"
    echo "core), split by thread: the switch actors, the writer and the cache run on a thread (an"
    echo "actix arbiter) each, named \`switches\`, \`redis-writer\` and \`cache\`; the writer and the cache"
    echo "have their own Redis connections. Peak RSS is VmHWM. HSET/s is Redis's \`INFO commandstats\` over the window:"
    echo "every sample reaches Redis when it equals the number of switches. Hash reads/s are the"
    echo "HGETALL, HMGET and HGET calls over the window, less ingest_lag's own HGETs. Sizes stop at the first"
    echo "that fails; one size between the last pass and the first failure is tried in addition."
    echo
    echo "| switches | max age in Redis (ms) | worst p50 age (ms) | missing | every switch < 2000 ms | HSET/s in Redis | hash reads/s (cache read-back) | daemon CPU | switches / writer / cache thread | redis-server CPU | peak RSS | RSS per switch | ready after |"
    echo "|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    for N in $SIZES_RUN; do
        for id in $(runs_of "$N"); do
            label=$N
            [[ $id != "$N" ]] && label="$N (again)"
            echo "| $label | ${R[ing.$id.max]} | ${R[ing.$id.p50]} | ${R[ing.$id.missing]} | ${R[ing.$id.ok]} | ${R[ing.$id.hset]} | ${R[ing.$id.reads]} | ${R[ing.$id.cpu]} % | ${R[ing.$id.main]} / ${R[ing.$id.writert]} / ${R[ing.$id.cachet]} % | ${R[ing.$id.redis]} % | $(mb "${R[ing.$id.hwm_kb]}") MB | $(awk -v k="${R[ing.$id.hwm_kb]}" -v n="$N" 'BEGIN{printf "%.2f KB", k/n}') | ${R[ing.$id.ready_ms]} ms |"
        done
    done
    echo
    echo "Max ages of the ${INGEST_SAMPLES} reads, per run: $(for N in $SIZES_RUN; do for id in $(runs_of "$N"); do printf '%s%s: %s ms; ' "$N" "$([[ $id != "$N" ]] && echo " (again)" || true)" "${R[ing.$id.maxes]}"; done; done | sed 's/; $//')."
    echo
    echo "**Largest fabric sustained: ${R[ing.largest]} switches** at a ${INTERVAL} s interval (of the sizes tried; every run of it"
    echo "passed). The last size that passed and the first that failed were each run a second time,"
    echo "from a fresh daemon, because near the limit one run can go either way."
    echo
    echo "Redis's own capacity for the same commands on this machine (\`redis-benchmark\`, 50"
    echo "clients, pipelines of 100, shares the cores with redis-server):"
    echo
    echo "| command | requests/s |"
    echo "|---|---:|"
    echo "| \`HSET telemetry:bench:<n>\` with the daemon's 5 fields | ${R[rb.hset]} |"
    echo "| \`HGETALL telemetry:bench:<n>\` | ${R[rb.hgetall]} |"
    echo "| \`HGET telemetry:bench:<n> updated_at\` | ${R[rb.hget]} |"
    B=$(echo "$SIZES_RUN" | tr ' ' '\n' | tail -1)
    A=$(echo "$SIZES_RUN" | tr ' ' '\n' | tail -2 | head -1)
    echo
    echo "### What limits ingest"
    echo
    echo "At ${B} switches, the largest fabric run, the daemon used ${R[ing.$B.cpu]} % of a core: ${R[ing.$B.main]} % on the"
    echo "switches' thread (timers, sample model, sending each sample to the writer), ${R[ing.$B.writert]} % on the"
    echo "writer's (HSET pipelines, up to 4 in flight, and their replies) and ${R[ing.$B.cachet]} % on the cache's"
    echo "(read-back, merging, snapshots)$(awk -v a="${R[ing.$B.main]}" -v b="${R[ing.$B.writert]}" -v c="${R[ing.$B.cachet]}" 'BEGIN{m=a; if (b>m) m=b; if (c>m) m=c; if (m>=90) printf "; one of them is saturated"}')."
    echo "Redis took ${R[ing.$B.hset]} HSET/s for ${B} switches$(awk -v h="${R[ing.$B.hset]}" -v n="$B" 'BEGIN{if (h<0.98*n) printf " (%.1f %% short of one per switch per second: samples superseded in the writer before they were sent, or switch timers firing late on a busy thread; this harness does not tell the two apart)", 100*(1-h/n)}'),"
    echo "plus ${R[ing.$B.reads]} hash reads/s from the cache's read-back of Redis each interval,"
    echo "using ${R[ing.$B.redis]} % of a core; redis-benchmark shows it can take ${R[rb.hset]} such HSET/s and"
    echo "${R[rb.hgetall]} HGETALL/s on this machine, so Redis $(awk -v h="${R[ing.$B.hset]}" -v g="${R[ing.$B.reads]}" -v a="${R[rb.hset]}" -v b="${R[rb.hgetall]}" 'BEGIN{ if (h/a+g/b < 0.8) printf "is not what limits the daemon"; else printf "is close to its own limit too"}')."
    if [[ $A != "$B" ]]; then
        echo "Memory grows by $(awk -v a="${R[ing.$A.hwm_kb]}" -v b="${R[ing.$B.hwm_kb]}" -v na="$A" -v nb="$B" 'BEGIN{printf "%.2f", (b-a)/(nb-na)}') KB of peak RSS per added switch between ${A} and ${B} switches"
        echo "(per switch the daemon holds an actor with its mailbox and timer, a cache slot, its share"
        echo "of each published snapshot, and an entry in the writer while a sample waits)."
    fi
    if [[ -n ${R[profile.ingest]:-} ]]; then
        echo
        echo "### Where the ingest threads' time goes at ${R[profile.ingest.n]} switches"
        echo
        echo "\`perf record --call-graph dwarf -t <switches>,<writer>,<cache thread>\` for 5 s after the lag samples; each"
        echo "sample is counted under the first matching frame in its stack:"
        echo
        echo "${R[profile.ingest]}"
    fi
} >>"$REPORT"

read -r f_n f_polls f_p50 f_p99 f_max f_min < <(echo "${R[fresh]}" | sed 's/[a-z0-9_]*=//g')
{
    echo
    echo "## c. Freshness"
    echo
    echo "Time from a sample being taken (its \`updated_at\`) to the API showing it: 1000 switches at"
    echo "${INTERVAL} s, no other load; \`bench/probe.py freshness\` polls"
    echo "\`/telemetry/switch-<n>/updated_at\` for switches $FRESH_SWITCHES (switch-0 and four others, so"
    echo "phases differ) every 5 ms for ${FRESH_SECONDS} s over one keep-alive connection and, for every change"
    echo "of a value, records (wall clock when first seen - updated_at). Polling every 5 ms adds up"
    echo "to 5 ms."
    echo
    echo "| changes seen | polls | p50 | p99 | max | min |"
    echo "|---:|---:|---:|---:|---:|---:|"
    echo "| $f_n | $f_polls | $f_p50 ms | $f_p99 ms | $f_max ms | $f_min ms |"
    echo
    echo "The path: the writer flushes at least every 50 ms (\`redis.flush_interval_ms\`), the cache"
    echo "shows a sample once Redis confirmed it, and publishes at most one snapshot per 100 ms."
    echo
    echo "## d. Start-up"
    echo
    echo "Time from exec to \`GET /readyz\` answering 200 on both listeners, ${STARTUP_SWITCHES} switches"
    echo "(\`bench/probe.py startup\` execs the daemon and polls both ports every 1 ms), ${STARTUP_RUNS} runs each:"
    echo
    echo "| Redis | runs (ms) | median |"
    echo "|---|---|---:|"
    echo "| empty (FLUSHALL before each run) | ${R[start.empty]} | **${R[start.empty.median]} ms** |"
    echo "| holding the previous run's fabric | ${R[start.warm]} | **${R[start.warm.median]} ms** |"
} >>"$REPORT"

# A section kept by hand in the previous report (criterion micro-benchmarks) is carried over.
if [[ -n $KEEP ]]; then
    {
        echo
        echo "$KEEP"
        echo
        echo "(Sections above carried over as written from the previous BENCHMARKS.md; not measured by this run of"
        echo "\`bench/run.sh\`.)"
    } >>"$REPORT"
fi

# Targets.
small_ok() { # N: the throughput half of the small-route target (p99: the pinned row)
    ge "$(ratio "${R[td.$1.small.rps]}" "${R[bl.$1.small.rps]}")" 0.8
}
big_ok() { # key
    [[ $(ge "$(ratio "${R[td.$LAST_READ.$1.rps]}" "${R[bl.$LAST_READ.$1.rps]}")" 0.8) == 1 ]] && echo 1 || echo 0
}
if [[ -n ${R[ing.100000.max]:-} ]]; then
    ids=$(runs_of 100000)
    nruns=$(echo "$ids" | wc -w)
    all_ok() { # all_ok TEST: 1 when TEST (a function of an id) holds for every 100k run
        local id
        for id in $ids; do [[ $("$1" "$id") == 1 ]] || { echo 0; return; }; done
        echo 1
    }
    lag_ok() { [[ ${R[ing.$1.ok]} == yes ]] && echo 1 || echo 0; }
    cpu_ok() { lt "${R[ing.$1.cpu]}" 100; }
    rss_ok() { lt "$(mb "${R[ing.$1.hwm_kb]}")" 200; }
    verdict() { # verdict TEST
        local passed=0 id
        for id in $ids; do [[ $("$1" "$id") == 1 ]] && passed=$((passed + 1)); done
        if ((passed == nruns)); then echo "**met**$( ((nruns > 1)) && echo " (both runs)")"
        elif ((passed == 0)); then echo "**not met**$( ((nruns > 1)) && echo " (both runs)")"
        else echo "**not met**: passed in $passed of $nruns runs"; fi
    }
    each() { # each FORMAT-FUNCTION: the values of every 100k run, "; "-separated
        local id
        for id in $ids; do "$1" "$id"; done | paste -sd';' | sed 's/;/; /g'
    }
    f_lag() { echo "max age ${R[ing.$1.max]} ms, ${R[ing.$1.missing]} missing, ${R[ing.$1.hset]} HSET/s"; }
    f_cpu() { echo "${R[ing.$1.cpu]} % (threads: switches ${R[ing.$1.main]} %, writer ${R[ing.$1.writert]} %, cache ${R[ing.$1.cachet]} %)"; }
    f_rss() { echo "peak $(mb "${R[ing.$1.hwm_kb]}") MB"; }
    ing_line="| 100k switches at 1 s: every switch younger than 2 s in Redis | $(each f_lag) | $(verdict lag_ok) |
| 100k switches at 1 s: under one core | $(each f_cpu) | $(verdict cpu_ok) |
| 100k switches at 1 s: RSS under 200 MB | $(each f_rss) | $(verdict rss_ok) |"
else
    if [[ -n $first_bad ]] && ((first_bad < 100000)); then why="not run: ${first_bad} switches already failed"; else why="not run (100000 not among the sizes tried)"; fi
    ing_line="| 100k switches at 1 s (lag < 2 s, < 1 core, < 200 MB) | $why | **not met** |"
fi
{
    echo
    echo "## Targets"
    echo
    echo "From the issue, each with the number measured above."
    echo
    echo "| target | measured | |"
    echo "|---|---|---|"
    for N in $READ_SIZES; do
        echo "| small route >= 0.8x baseline, ${N} switches (p99 at ${CONNS} connections with wrk on the same cores, see below) | $(ratio "${R[td.$N.small.rps]}" "${R[bl.$N.small.rps]}")x (${R[td.$N.small.rps]} vs ${R[bl.$N.small.rps]} req/s; $(ratio "${R[td.$N.small.rps]}" "${R[bl.$N.dyn.rps]}")x against the baseline's dynamic route), p99 ${R[td.$N.small.p99]} ms (baseline ${R[bl.$N.small.p99]} ms) | $(yesno "$(small_ok "$N")") |"
    done
    for k in "csv:\`/counters\`" "json:\`/telemetry/\`" "csvgz:\`/counters\` with gzip" "jsongz:\`/telemetry/\` with gzip"; do
        key=${k%%:*}
        name=${k#*:}
        echo "| $name at ${LAST_READ} switches >= 0.8x baseline serving the same bytes | $(ratio "${R[td.$LAST_READ.$key.rps]}" "${R[bl.$LAST_READ.$key.rps]}")x (${R[td.$LAST_READ.$key.rps]} vs ${R[bl.$LAST_READ.$key.rps]} req/s) | $(yesno "$(big_ok "$key")") |"
    done
    # The p99 target as the issue sets it: the whole process on this machine, wrk included.
    local_td=$(for N in $READ_SIZES; do echo "${R[td.$N.small.p99]}"; done | paste -sd/ | sed 's#/# / #g')
    local_bl=$(for N in $READ_SIZES; do echo "${R[bl.$N.small.p99]}"; done | paste -sd/ | sed 's#/# / #g')
    td_max=$(for N in $READ_SIZES; do echo "${R[td.$N.small.p99]}"; done | sort -g | tail -1)
    bl_min=$(for N in $READ_SIZES; do echo "${R[bl.$N.small.p99]}"; done | sort -g | head -1)
    if [[ $(lt "$td_max" 2) == 1 ]]; then
        verdict=$(yesno 1)
    elif [[ $(lt "$bl_min" 2) == 0 ]]; then
        verdict="**not met**; the limit: the baseline's own p99 was ${local_bl} ms"
    else
        verdict=$(yesno 0)
    fi
    echo "| small route p99 < 2 ms at ${CONNS} connections, whole process with wrk on the same ${R[nproc]} cores (${READ_SIZES// / \/ } switches) | telemetryd ${local_td} ms; baseline ${local_bl} ms | $verdict |"
    if ((!HAVE_PINNING)); then
        echo "| small route p99 < 2 ms at ${CONNS} connections, wrk on a core of its own | not measured: no taskset or fewer than 2 cores | **not met** |"
    else
        echo "| small route p99 < 2 ms at ${CONNS} connections, wrk on a core of its own (${FIRST_READ} switches, median of ${PIN_ROUNDS} rounds) | telemetryd ${R[pin.td.batch.p99]} ms (rounds: ${R[pin.td.batch.all.p99]}), with its ingest quiet ${R[pin.td.quiet.p99]} ms; baseline ${R[pin.bl.small.p99]} ms static, ${R[pin.bl.dyn.p99]} ms dynamic | $(pin_verdict) |"
    fi
    echo "$ing_line"
    echo "| start-up < 200 ms at ${STARTUP_SWITCHES} switches | median ${R[start.empty.median]} ms with empty Redis, ${R[start.warm.median]} ms with Redis holding the fabric | $(yesno "$(lt "$(printf '%s\n' "${R[start.empty.median]}" "${R[start.warm.median]}" | sort -n | tail -1)" 200)") |"
    N=$LAST_READ
    if [[ $(lt "${R[bl.$N.small.p99]}" 2) == 0 ]]; then
        echo
        echo "On p99: with wrk on the same ${R[nproc]} cores, the baseline itself answers the small route with a p99 of"
        echo "${R[bl.$N.small.p99]} ms at ${CONNS} connections (${R[bl.$N.dyn.p99]} ms on the dynamic route), so \"p99 < 2 ms\" is out of"
        echo "reach of actix-web itself on this machine under this load; telemetryd's p99 was ${R[td.$N.small.p99]} ms."
    fi
    echo
    echo "## Commands"
    echo
    echo "Everything above came from \`bench/run.sh\`, which ran, in this order:"
    echo
    echo '```sh'
    echo "$BUILD_CMD"
    echo "$REDIS_CMD"
    echo
    echo "# a. read path: each daemon / baseline started alone, then its wrk runs; per size:"
    echo "#    telemetryd, [INFO run], baseline, baseline again, telemetryd again (same commands)"
    for N in $READ_SIZES; do
        echo "(cd bench/out && ${CMD[daemon.read.$N]})"
        for r in small json csv jsongz csvgz; do echo "${CMD[td.$N.$r]}"; done
        if [[ $N == "$FIRST_READ" ]]; then
            echo "(cd bench/out && ${CMD[daemon.info]})"
            echo "${CMD[td.$N.small.info]}"
        fi
        echo "${CMD[baseline.$N]}"
        for r in small dyn json csv jsongz csvgz; do echo "${CMD[bl.$N.$r]}"; done
    done
    echo "# telemetryd with its ingest quiet, ${LAST_READ} switches"
    echo "(cd bench/out && ${CMD[daemon.quiet]})"
    for r in small json csv jsongz csvgz; do echo "${CMD[quiet.$LAST_READ.$r]}"; done
    if ((HAVE_PINNING)); then
        echo "# small route, server on CPU 1, wrk on CPU 0"
        echo "(cd bench/out && ${CMD[daemon.pinned]})"
        echo "# each round, in alternating order:"
        echo "${CMD[pin.chrt.batch]}"
        echo "${CMD[pin.td.batch]}"
        echo "${CMD[pin.chrt.normal]}"
        echo "${CMD[pin.td.normal]}"
        echo "(cd bench/out && ${CMD[daemon.pinned.quiet]})"
        echo "${CMD[pin.td.quiet]}"
        echo "${CMD[baseline.pinned]}"
        echo "${CMD[pin.bl.small]}"
        echo "${CMD[pin.bl.dyn]}"
    fi
    for r in small jsongz; do if [[ -n ${CMD[profile.$r]:-} ]]; then echo "${CMD[profile.$r]}"; fi; done
    echo
    echo "# b. ingest, N in order: $(for id in "${INGESTED[@]}"; do echo "${R[ing.$id.n]}"; done | paste -sd' ')"
    echo "(cd bench/out && ${CMD[daemon.ingest]})"
    echo "target/release/examples/ingest_lag --port $REDIS_PORT --switches N   # ${INGEST_SAMPLES} times, ${INGEST_EVERY} s apart, from ${INGEST_WARMUP} s after start"
    [[ -z ${R[profile.ingest]:-} ]] || echo "perf record -F 199 --call-graph dwarf,32768 -t <switches>,<writer>,<cache thread> -- sleep 5   # at ${R[profile.ingest.n]} switches, after the lag samples"
    echo "${CMD[rb.hset]}"
    echo "${CMD[rb.hgetall]}"
    echo "${CMD[rb.hget]}"
    echo
    echo "# c. freshness"
    echo "(cd bench/out && ${CMD[daemon.fresh]})"
    echo "${CMD[fresh]}"
    echo
    echo "# d. start-up (${STARTUP_RUNS} runs after redis-cli FLUSHALL, ${STARTUP_RUNS} without)"
    echo "(cd bench/out && ${CMD[startup]})"
    echo '```'
    echo
    echo "Load average after the run: \`${R[uptime_after]## }\`."
} >>"$REPORT"

log "done in ${R[elapsed]} s: $REPORT"
