#!/usr/bin/env bash
# bench/access.sh: what access control costs on the small route
# (GET /telemetry/switch-1/latency_ms on the metric listener), side by side:
#
#   plain        no tokens, no rate limit                                  (A)
#   auth         one read token, sent by the client                        (B)
#   auth_limit   the token and auth.rate_per_second 1000000, burst 1000000:
#                every request goes through the limiter, none is refused   (C)
#   tls          HTTPS (metric_server.tls_cert/tls_key), no tokens         (D)
#   tls_auth_limit   HTTPS with the token and the limiter of C
#   plain_close  as plain, every request on a new connection (Connection: close)
#   tls_close    as tls, every request on a new connection: a TLS handshake each
#                (resumed: wrk reuses its session)
#
#   bench/access.sh                               # exports HEAD, builds it once
#   TELEMETRYD_BIN=/path/to/telemetryd BENCH_COMMIT=<its commit> bench/access.sh
#
# Without TELEMETRYD_BIN the binary is built from a clean export of HEAD
# (`git archive HEAD` into /var/tmp/bench-src-access, then
# `CARGO_TARGET_DIR=/var/tmp/bench-target cargo build --release --locked --bin telemetryd`),
# so uncommitted changes are not measured.
#
# Starts its own redis-server (--save '' --appendonly no) on a free port and, per round and
# variant, a fresh daemon: 100 switches at a 1 s interval, log level WARNING, 1 worker per
# listener (so the daemon's HTTP worker and wrk's one thread share the 2 cores the same
# way in every variant), TLS only on the metric listener (a P-256 certificate made with
# openssl in a temp dir).
#
# 1. Rounds: per variant, checks (200 with the token, 401 without it, the RateLimit
#    headers, https verified), a 1 s warm-up, then `wrk -t1 -c32 -d5s --latency`; after
#    it wrk must report no non-2xx answer and /metrics no rate-limited request. Variants
#    run in alternating order (forward in odd rounds, backward in even ones), so drift on
#    the machine favours none. wrk's p99 includes its coordinated-omission correction: a
#    stall of one connection counts as the requests it held up.
# 2. The first request on BENCH_FIRST_CONNECTIONS new connections, one after the other,
#    with curl: plain, TLS 1.3, TLS 1.2 (connection ready to the first byte of the answer).
# 3. TLS handshakes one after the other, openssl s_time: full (-new) and resumed (-reuse).
#    wrk's reconnects resume their TLS session, so tls_close measures resumed handshakes.
# 4. Instructions per request of the HTTP worker under callgrind, keep-alive variants
#    (BENCH_CALLGRIND=0 skips it): a figure the machine's load does not move.
#
# Prints every round, the median req/s, p99 and daemon CPU per request per variant, the
# ratios to plain, and the figures of 2-4.
#
# Raw outputs in bench/out/access/ (wrk, s_time and callgrind outputs, daemon logs,
# configs, checks.txt, commands.txt, rounds.tsv, first_request.txt, summary.txt,
# interference.txt). About 5 minutes.
# Knobs (environment): BENCH_ROUNDS=5 BENCH_DURATION=5 BENCH_CONNECTIONS=32
#   BENCH_FIRST_CONNECTIONS=100 BENCH_CALLGRIND=1
#   BENCH_VARIANTS="plain auth auth_limit tls tls_auth_limit plain_close tls_close"
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/bench/out/access
ROUNDS=${BENCH_ROUNDS:-5}
DURATION=${BENCH_DURATION:-5}
CONNS=${BENCH_CONNECTIONS:-32}
VARIANTS=(${BENCH_VARIANTS:-plain auth auth_limit tls tls_auth_limit plain_close tls_close})
SWITCHES=100
ROUTE=/telemetry/switch-1/latency_ms
BEGAN=$(date +%s.%N)

BIN=${TELEMETRYD_BIN:-}
BIN_GIVEN=$BIN
for v in $(compgen -e | grep '^TELEMETRYD_' || true); do unset "$v"; done
for tool in wrk redis-server redis-cli curl openssl python3; do
    command -v "$tool" >/dev/null || { echo "$tool is needed" >&2; exit 2; }
done

HEAD_COMMIT=$(git rev-parse --short HEAD)
# The commit the measured binary was built from: HEAD when built here; with TELEMETRYD_BIN,
# say it in BENCH_COMMIT (the figures belong to that commit).
COMMIT=${BENCH_COMMIT:-$HEAD_COMMIT}
if [[ -n $BIN && -z ${BENCH_COMMIT:-} ]]; then COMMIT="unknown (TELEMETRYD_BIN given; HEAD is $HEAD_COMMIT)"; fi
if [[ -z $BIN ]]; then
    echo "== exporting $COMMIT to /var/tmp/bench-src-access and building (release, once)" >&2
    rm -rf /var/tmp/bench-src-access
    mkdir -p /var/tmp/bench-src-access
    git archive HEAD | tar -x -C /var/tmp/bench-src-access
    (cd /var/tmp/bench-src-access &&
        CARGO_TARGET_DIR=/var/tmp/bench-target cargo build --release --locked --bin telemetryd >&2)
    BIN=/var/tmp/bench-target/release/telemetryd
fi
[[ -x $BIN ]] || { echo "no binary at $BIN" >&2; exit 1; }

rm -rf "$OUT"
mkdir -p "$OUT"
CMDS=$OUT/commands.txt
{
    echo "commit $COMMIT (the binary's; HEAD of the checkout at the run: $HEAD_COMMIT)"
    if [[ -n $BIN_GIVEN ]]; then
        echo "binary $BIN (given as TELEMETRYD_BIN)"
    else
        echo "binary $BIN (git archive HEAD | tar -x -C /var/tmp/bench-src-access;" \
            "CARGO_TARGET_DIR=/var/tmp/bench-target cargo build --release --locked --bin telemetryd)"
    fi
    echo "binary sha256 $(sha256sum "$BIN" | cut -c1-16)"
    echo "$("$BIN" --version 2>&1 | head -1)"
    echo "nproc $(nproc); $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
    echo "$(wrk --version 2>&1 | head -1)"
    echo "$(redis-server --version)"
    echo "$(openssl version)"
    echo "uptime before: $(uptime)"
    echo "rounds $ROUNDS, variants ${VARIANTS[*]}"
    echo
} >"$CMDS"

: >"$OUT/interference.txt"
python3 "$ROOT/bench/probe.py" monitor --root $$ --interval 2 --threshold 10 \
    --out "$OUT/interference.txt" &
MON_PID=$!

TMP=$(mktemp -d /tmp/telemetryd-access.XXXXXX)
read -r REDIS_PORT GEN_PORT MET_PORT < <(python3 bench/probe.py freeports 3)
REDIS_PID="" DAEMON_PID=""
cleanup() {
    local p
    for p in "$DAEMON_PID" "$REDIS_PID" "$MON_PID"; do
        [[ -n $p ]] && kill "$p" 2>/dev/null || true
    done
    for p in "$DAEMON_PID" "$REDIS_PID"; do
        [[ -n $p ]] && wait "$p" 2>/dev/null || true
    done
    rm -rf "$TMP"
    return 0
}
trap cleanup EXIT

redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
    --logfile "$OUT/redis.log" &
REDIS_PID=$!
for _ in $(seq 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done

# The certificate (P-256, self-signed, for 127.0.0.1) and the token.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>"$OUT/openssl.log"
echo "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout key.pem -out cert.pem" >>"$CMDS"
"$BIN" token new bench >"$TMP/token.txt"
TOKEN=$(sed -n 's/^token: //p' "$TMP/token.txt")
ENTRY=$(grep -- '- {name: bench' "$TMP/token.txt" | sed 's/^ *//')
[[ -n $TOKEN && -n $ENTRY ]] || { echo "telemetryd token new printed no token" >&2; exit 1; }
echo "$BIN token new bench   # entry: $ENTRY" >>"$CMDS"
echo >>"$CMDS"

has() { [[ $1 == *"$2"* ]]; }
scheme() { if has "$1" tls; then echo https; else echo http; fi; }

# The config of each variant.
for v in "${VARIANTS[@]}"; do
    tls=""
    has "$v" tls && tls=", tls_cert: $TMP/cert.pem, tls_key: $TMP/key.pem"
    {
        echo "generator_server: {host: 127.0.0.1, port: $GEN_PORT, workers: 1}"
        echo "metric_server: {host: 127.0.0.1, port: $MET_PORT, workers: 1$tls}"
        echo "telemetry: {switches: $SWITCHES, update_interval_seconds: 1, seed: 42}"
        echo "logging: {level: WARNING, file: ''}"
        echo "redis: {host: 127.0.0.1, port: $REDIS_PORT}"
        if has "$v" auth; then
            echo "auth:"
            echo "  tokens:"
            echo "    $ENTRY"
            if has "$v" limit; then
                echo "  rate_per_second: 1000000"
                echo "  burst: 1000000"
            fi
        fi
    } >"$OUT/config-$v.yaml"
    "$BIN" --config "$OUT/config-$v.yaml" --check-config >/dev/null
done

# wrk's command line of variant V, into the array WRK_CMD (the token as given).
wrk_cmd() {
    local v=$1 secs=$2
    WRK_CMD=(wrk -t1 "-c$CONNS" "-d${secs}s" --latency)
    has "$v" auth && WRK_CMD+=(-H "Authorization: Bearer $TOKEN")
    has "$v" close && WRK_CMD+=(-H "Connection: close")
    WRK_CMD+=("$(scheme "$v")://127.0.0.1:$MET_PORT$ROUTE")
    return 0
}
for v in "${VARIANTS[@]}"; do
    wrk_cmd "$v" "$DURATION"
    q=$(printf '%q ' "${WRK_CMD[@]}")
    printf '%s: %s\n' "$v" "${q//$TOKEN/<token>}" >>"$CMDS"
done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# check V N WHAT EXPECTED ACTUAL: one line in checks.txt; a mismatch stops the run.
check() {
    printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >>"$OUT/checks.txt"
    [[ $4 == "$5" ]] || { echo "check failed: $1 round $2: $3: expected $4, got $5" >&2; exit 1; }
}

# round V N: a fresh daemon for variant V, checks, warm-up, one measured wrk run.
round() {
    local v=$1 n=$2 log=$OUT/telemetryd-$1-$2.log base code hdr t0 t1 c0 c1 limited
    base="$(scheme "$v")://127.0.0.1:$MET_PORT"
    (cd "$OUT" && exec "$BIN" --config "$OUT/config-$v.yaml" 2>"$log") &
    DAEMON_PID=$!
    for _ in $(seq 600); do
        curl -skf -o /dev/null "$base/readyz" && break
        sleep 0.05
    done
    local auth=(-H "Authorization: Bearer $TOKEN")
    code=$(curl -sk -o /dev/null -w '%{http_code}' "${auth[@]}" "$base$ROUTE")
    check "$v" "$n" "with the token" 200 "$code"
    if has "$v" auth; then
        code=$(curl -sk -o /dev/null -w '%{http_code}' "$base$ROUTE")
        check "$v" "$n" "without a token" 401 "$code"
    fi
    hdr=$(curl -sk -D - -o /dev/null "${auth[@]}" "$base$ROUTE" | tr -d '\r' |
        sed -n 's/^ratelimit-limit: *//Ip')
    if has "$v" limit; then check "$v" "$n" "ratelimit-limit" 1000000 "$hdr"; else check "$v" "$n" "ratelimit-limit" "" "$hdr"; fi
    if has "$v" tls; then
        code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$TMP/cert.pem" "$base/healthz" || true)
        check "$v" "$n" "https, verified against the certificate" 200 "$code"
    fi
    wrk_cmd "$v" 1
    "${WRK_CMD[@]}" >"$OUT/warmup-$v-$n.txt"
    wrk_cmd "$v" "$DURATION"
    t0=$(date +%s.%N)
    c0=$(cpu_ticks "$DAEMON_PID")
    "${WRK_CMD[@]}" >"$OUT/wrk-$v-$n.txt"
    c1=$(cpu_ticks "$DAEMON_PID")
    t1=$(date +%s.%N)
    limited=$(curl -sk "${auth[@]}" "$base/metrics" | { grep '^telemetryd_http_rate_limited_total' || true; } |
        awk '{s += $NF} END {print s + 0}')
    check "$v" "$n" "rate-limited requests (/metrics)" 0 "$limited"
    kill -TERM "$DAEMON_PID"
    wait "$DAEMON_PID" || true
    DAEMON_PID=""
    python3 - "$OUT/wrk-$v-$n.txt" "$v" "$n" "$t0" "$t1" "$c0" "$c1" "$(getconf CLK_TCK)" \
        >>"$OUT/rounds.tsv" <<'EOF'
import re, sys
path, v, n, t0, t1, c0, c1, tck = sys.argv[1:]
text = open(path).read()
def ms(s):
    m = re.match(r"([\d.]+)(us|ms|s)$", s)
    return float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
rps = float(re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M).group(1))
reqs = int(re.search(r"^\s+(\d+) requests in", text, re.M).group(1))
p50 = ms(re.search(r"^\s+50%\s+(\S+)", text, re.M).group(1))
p99 = ms(re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1))
m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
non2xx = int(m.group(1)) if m else 0
m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
errors = sum(map(int, m.groups())) if m else 0
cpu_s = (int(c1) - int(c0)) / int(tck)
print("\t".join(map(str, [v, n, round(rps), reqs, p50, p99, non2xx, errors,
                          round(cpu_s / reqs * 1e6, 2), t0, t1])))
EOF
    tail -1 "$OUT/rounds.tsv" | awk -F'\t' '{printf "%-15s round %s: %7s req/s  p50 %6.2f ms  p99 %6.2f ms  non-2xx %s  socket errors %s  daemon CPU %5.1f us/req\n", $1, $2, $3, $5, $6, $7, $8, $9}'
    check "$v" "$n" "non-2xx answers (wrk)" 0 "$(tail -1 "$OUT/rounds.tsv" | cut -f7)"
}

printf 'variant\tround\treq_s\trequests\tp50_ms\tp99_ms\tnon2xx\tsocket_errors\tdaemon_cpu_us_per_req\tt0\tt1\n' >"$OUT/rounds.tsv"
: >"$OUT/checks.txt"
echo "== $ROUNDS rounds, ${VARIANTS[*]}; wrk -t1 -c$CONNS -d${DURATION}s --latency <scheme>://127.0.0.1:<metric port>$ROUTE"
for n in $(seq "$ROUNDS"); do
    if ((n % 2)); then order=("${VARIANTS[@]}"); else
        order=()
        for ((i = ${#VARIANTS[@]} - 1; i >= 0; i--)); do order+=("${VARIANTS[i]}"); done
    fi
    for v in "${order[@]}"; do round "$v" "$n"; done
done
# The first request on a new connection: time from the connection ready (TCP connected, or
# the TLS handshake done) to the first byte of the answer, FIRST_CONNS connections one after
# the other, by curl (which, like most clients, delays its ACKs).
first_requests() {
    local v=$1 label=$2 start_var=$3
    shift 3
    local base
    base="$(scheme "$v")://127.0.0.1:$MET_PORT"
    (cd "$OUT" && exec "$BIN" --config "$OUT/config-$v.yaml" 2>"$OUT/telemetryd-first-$label.log") &
    DAEMON_PID=$!
    for _ in $(seq 600); do
        curl -skf -o /dev/null "$base/readyz" && break
        sleep 0.05
    done
    echo "$label: for i in \$(seq $FIRST_CONNS); do curl -sk $* -o /dev/null -w '%{$start_var} %{time_starttransfer}\\n' $base$ROUTE; done" >>"$CMDS"
    for _ in $(seq "$FIRST_CONNS"); do
        curl -sk "$@" -o /dev/null -w "$label %{$start_var} %{time_starttransfer}\n" "$base$ROUTE"
    done >>"$OUT/first_request.txt"
    kill -TERM "$DAEMON_PID"
    wait "$DAEMON_PID" || true
    DAEMON_PID=""
}
FIRST_CONNS=${BENCH_FIRST_CONNECTIONS:-100}
: >"$OUT/first_request.txt"
echo >>"$CMDS"
echo "== the first request on $FIRST_CONNS new connections each (curl)"
if [[ -f $OUT/config-plain.yaml ]]; then first_requests plain plain time_connect; fi
if [[ -f $OUT/config-tls.yaml ]]; then
    first_requests tls tls1.3 time_appconnect --tlsv1.3
    first_requests tls tls1.2 time_appconnect --tlsv1.2 --tls-max 1.2
fi
# TLS handshakes without resumption: wrk reconnects resuming its TLS 1.3 session (its
# ClientHello carries the ticket), so tls_close measures resumed handshakes. openssl s_time,
# one connection after the other, each a GET of the route: -new, a full handshake each
# (certificate and signature); -reuse, resuming the first session. Connections per second
# of wall clock, and the daemon's CPU per connection.
if [[ -f $OUT/config-tls.yaml ]]; then
    echo "== TLS handshakes (openssl s_time, 5 s each)"
    echo >>"$CMDS"
    : >"$OUT/handshakes.tsv"
    for mode in new reuse; do
        base="https://127.0.0.1:$MET_PORT"
        (cd "$OUT" && exec "$BIN" --config "$OUT/config-tls.yaml" 2>"$OUT/telemetryd-s_time-$mode.log") &
        DAEMON_PID=$!
        for _ in $(seq 600); do
            curl -skf -o /dev/null "$base/readyz" && break
            sleep 0.05
        done
        echo "s_time $mode: openssl s_time -connect 127.0.0.1:$MET_PORT -www $ROUTE -$mode -time 5" >>"$CMDS"
        t0=$(date +%s.%N)
        c0=$(cpu_ticks "$DAEMON_PID")
        openssl s_time -connect "127.0.0.1:$MET_PORT" -www "$ROUTE" "-$mode" -time 5 >"$OUT/s_time-$mode.txt" 2>&1
        c1=$(cpu_ticks "$DAEMON_PID")
        t1=$(date +%s.%N)
        kill -TERM "$DAEMON_PID"
        wait "$DAEMON_PID" || true
        DAEMON_PID=""
        conns=$(grep -E '^[0-9]+ connections in .* real seconds' "$OUT/s_time-$mode.txt" | awk '{print $1}')
        python3 -c "
c, t0, t1, c0, c1, tck = $conns, $t0, $t1, $c0, $c1, $(getconf CLK_TCK)
print('$mode\t%d\t%.0f\t%.1f' % (c, c / (t1 - t0), (c1 - c0) / tck / c * 1e6))" >>"$OUT/handshakes.tsv"
        tail -1 "$OUT/handshakes.tsv" | awk -F'\t' '{printf "s_time -%s: %s connections, %s per second, daemon CPU %s us per connection\n", $1, $2, $3, $4}'
    done
fi

# Instructions per request, counted by callgrind (which the machine's load does not move):
# the daemon of each keep-alive variant under valgrind, wrk for 10 s, then SIGINT; the
# busiest thread (the HTTP worker), user space only, divided by the requests answered.
CALLGRIND=${BENCH_CALLGRIND:-1}
if ((CALLGRIND)) && command -v valgrind >/dev/null; then
    echo "== instructions per request (callgrind)"
    echo >>"$CMDS"
    : >"$OUT/callgrind.tsv"
    for v in plain auth auth_limit tls tls_auth_limit; do
        [[ -f $OUT/config-$v.yaml ]] || continue
        base="$(scheme "$v")://127.0.0.1:$MET_PORT"
        (cd "$OUT" && exec valgrind --tool=callgrind --separate-threads=yes \
            --callgrind-out-file="$OUT/callgrind-$v.out" \
            "$BIN" --config "$OUT/config-$v.yaml" 2>"$OUT/callgrind-$v.log") &
        DAEMON_PID=$!
        for _ in $(seq 600); do
            curl -skf -o /dev/null "$base/readyz" && break
            sleep 0.1
        done
        wrk_cmd "$v" 10
        q=$(printf '%q ' "${WRK_CMD[@]}")
        echo "callgrind $v: valgrind --tool=callgrind --separate-threads=yes $BIN --config config-$v.yaml; ${q//$TOKEN/<token>}" >>"$CMDS"
        "${WRK_CMD[@]}" >"$OUT/callgrind-wrk-$v.txt"
        kill -INT "$DAEMON_PID"
        wait "$DAEMON_PID" || true
        DAEMON_PID=""
        reqs=$(awk '/requests in/ {print $1}' "$OUT/callgrind-wrk-$v.txt")
        ir=$(for f in "$OUT/callgrind-$v.out"-*; do grep -m1 '^summary:' "$f" | awk '{print $2}'; done | sort -n | tail -1)
        printf '%s\t%s\t%s\n' "$v" "$reqs" "$ir" >>"$OUT/callgrind.tsv"
        echo "$v: $((ir / reqs)) instructions per request ($reqs requests)"
    done
fi
kill "$MON_PID" 2>/dev/null || true
echo "uptime after: $(uptime)" >>"$CMDS"
ELAPSED=$(python3 -c "import time; print(round(time.time() - $BEGAN))")
echo "runtime ${ELAPSED} s" >>"$CMDS"

python3 - "$OUT" "$COMMIT" "$ELAPSED" >"$OUT/summary.txt" <<'EOF'
import statistics as st, sys
out, commit, elapsed = sys.argv[1:]
rows = [l.rstrip("\n").split("\t") for l in open(out + "/rounds.tsv")][1:]
others = []
for line in open(out + "/interference.txt"):
    t, _pid, _comm, pct = line.split()
    others.append((float(t), float(pct)))
def others_pct(t0, t1):
    # mean CPU (% of a core) of processes outside the benchmark, 2 s samples in the window
    n = max(1, int((t1 + 2 - t0) // 2))
    return sum(p for t, p in others if t0 <= t <= t1 + 2) / n
order, by = [], {}
for r in rows:
    v = r[0]
    if v not in by:
        order.append(v)
        by[v] = []
    by[v].append(dict(n=int(r[1]), rps=int(r[2]), p50=float(r[4]), p99=float(r[5]),
                      cpu=float(r[8]), others=others_pct(float(r[9]), float(r[10]))))
print(f"commit {commit}, runtime {elapsed} s")
print("variant          req/s per round (others' CPU %)                 median   p99 median  daemon CPU us/req median")
for v in order:
    rs = sorted(by[v], key=lambda r: r["n"])
    per = ", ".join(f"{r['rps']} ({r['others']:.0f})" for r in rs)
    print(f"{v:16} {per:48} {st.median(r['rps'] for r in rs):8.0f} {st.median(r['p99'] for r in rs):8.2f} ms {st.median(r['cpu'] for r in rs):8.2f}")
print()
print("ratios of the medians (and per round, each against the same round's reference)")
def ratio(v, ref):
    if v not in by or ref not in by:
        return
    a = st.median(r["rps"] for r in by[v]) / st.median(r["rps"] for r in by[ref])
    refs = {r["n"]: r["rps"] for r in by[ref]}
    per = [r["rps"] / refs[r["n"]] for r in sorted(by[v], key=lambda r: r["n"]) if r["n"] in refs]
    print(f"  {v}/{ref}: {a:.3f}  (per round {', '.join(f'{x:.2f}' for x in per)}; median {st.median(per):.3f})")
for v in order:
    if v != "plain":
        ratio(v, "plain")
for v, ref in (("tls_auth_limit", "tls"), ("tls_auth_limit", "auth_limit"), ("tls_close", "plain_close")):
    ratio(v, ref)
print()
print("the first request on a new connection: connection ready (TCP, or TLS handshake done) to first byte, curl")
first = {}
for line in open(out + "/first_request.txt"):
    label, a, b = line.split()
    first.setdefault(label, []).append((float(b) - float(a)) * 1000)
for label, ms in first.items():
    ms.sort()
    slow = sum(1 for x in ms if x > 30)
    print(f"  {label:7} {len(ms)} connections: median {st.median(ms):.2f} ms, max {ms[-1]:.2f} ms, over 30 ms: {slow}")
import os
if os.path.exists(out + "/handshakes.tsv"):
    print()
    print("TLS handshakes, one connection after the other (openssl s_time, 5 s; a GET each)")
    for line in open(out + "/handshakes.tsv"):
        mode, conns, rate, cpu = line.split()
        print(f"  -{mode:5} {conns} connections, {rate}/s, daemon CPU {cpu} us per connection")
if os.path.exists(out + "/callgrind.tsv"):
    print()
    print("instructions per request, the HTTP worker thread (callgrind, wrk 10 s)")
    ir = {}
    for line in open(out + "/callgrind.tsv"):
        v, reqs, total = line.split()
        ir[v] = int(total) / int(reqs)
    for v, x in ir.items():
        ref = "tls" if v == "tls_auth_limit" else "plain"
        rel = f"  {v}/{ref} {x / ir[ref]:.3f}" if ref in ir and v != ref else ""
        print(f"  {v:15} {x:8.0f}{rel}")
EOF
cat "$OUT/summary.txt"
