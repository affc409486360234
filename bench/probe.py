#!/usr/bin/env python3
"""Small measuring helpers for bench/run.sh (standard library only, 127.0.0.1 only).

  probe.py freeports N                      N free TCP ports on 127.0.0.1
  probe.py freshness --port P --switches 0,200 --seconds 20 --period-ms 5
        polls /telemetry/switch-<n>/updated_at; for every change of the value prints
        (wall clock when first seen - updated_at) statistics in ms
  probe.py startup --ports A,B -- CMD ARGS...
        runs CMD (environment inherited) and prints the ms from exec until GET /readyz
        answers 200 on every port; then SIGTERMs CMD and waits for it
  probe.py perfcat FILE PROFILE             groups `perf script` stacks into categories
  probe.py monitor --root PID --out FILE [--interval 2] [--threshold 10]
        until PID exits, every interval appends "unix_time pid comm cpu%" for each process
        outside PID's tree (kernel threads aside) that used more than threshold % of a core
"""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time


def freeports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    print(" ".join(map(str, ports)))


def pct(sorted_values, q):
    if not sorted_values:
        return float("nan")
    i = round((len(sorted_values) - 1) * q)
    return sorted_values[i]


def freshness(argv):
    args = dict(zip(argv[::2], argv[1::2]))
    port = int(args["--port"])
    switches = [int(s) for s in args.get("--switches", "0").split(",")]
    seconds = float(args.get("--seconds", "20"))
    period = float(args.get("--period-ms", "5")) / 1000.0
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    last = {s: None for s in switches}
    delays = []
    polls = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        round_start = time.monotonic()
        for s in switches:
            conn.request("GET", f"/telemetry/switch-{s}/updated_at")
            resp = conn.getresponse()
            body = resp.read()
            seen = time.time()
            polls += 1
            if resp.status != 200:
                continue
            value = json.loads(body)["value"]
            if last[s] is not None and value != last[s]:
                delays.append((seen - value) * 1000.0)
            last[s] = value
        rest = period - (time.monotonic() - round_start)
        if rest > 0:
            time.sleep(rest)
    delays.sort()
    print(
        "changes=%d polls=%d p50_ms=%.0f p99_ms=%.0f max_ms=%.0f min_ms=%.0f"
        % (
            len(delays),
            polls,
            pct(delays, 0.5),
            pct(delays, 0.99),
            delays[-1] if delays else float("nan"),
            delays[0] if delays else float("nan"),
        )
    )


def ready(port):
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/readyz")
        status = conn.getresponse().status
        conn.close()
        return status == 200
    except OSError:
        return False


def startup(argv):
    sep = argv.index("--")
    args = dict(zip(argv[:sep:2], argv[1:sep:2]))
    ports = [int(p) for p in args["--ports"].split(",")]
    cmd = argv[sep + 1 :]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    waiting = set(ports)
    elapsed = None
    while waiting:
        if proc.poll() is not None:
            print("startup: process exited with %d" % proc.returncode, file=sys.stderr)
            sys.exit(1)
        for p in list(waiting):
            if ready(p):
                waiting.discard(p)
        if not waiting:
            elapsed = (time.monotonic() - t0) * 1000.0
            break
        if time.monotonic() - t0 > 60:
            print("startup: not ready after 60 s", file=sys.stderr)
            proc.kill()
            sys.exit(1)
        time.sleep(0.001)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    print("%.1f" % elapsed)


# Stack categories for `perf script` output: the first category whose key occurs anywhere in
# a sample's stack takes the sample.
PROFILES = {
    "http": [
        ("kernel: socket writes", ["__send", "sendto", "writev"]),
        ("kernel: socket reads", ["recvfrom", "__libc_recv", "readv"]),
        ("request log: match_pattern() matches the path again, for the metric label", ["match_pattern", "_root_rmap_fn"]),
        ("actix-web router: regex match of the path", ["regex"]),
        ("request log: slog record built and queued (even when filtered out)", ["slog"]),
        ("request metrics: per-worker handles (RequestMetrics)", ["RequestMetrics"]),
        ("handler: path extraction, snapshot lookup, JSON body", ["one_metric", "metric_json", "actix_router::de"]),
        ("shared body: render / gzip / hash", ["render::", "flate2", "miniz", "SharedBody"]),
        ("copy of the body into actix-http's write buffer (memcpy)", ["memcpy", "memmove"]),
        ("epoll wait", ["epoll_wait"]),
    ],
    "ingest": [
        ("cache: read-back of Redis each interval (pipelines, decode, merge)",
         ["apply_read", "codec::decode", "read_hashes", "read_stamps", "unknown_stamps", "parse_updated_at"]),
        ("writer: HSET pipelines (build, encode, send)", ["write_samples", "hset_pipeline"]),
        ("redis client: reply parsing / connection driver", ["redis::", "combine::"]),
        ("writer: other (Produced handler, pending map)", ["RedisWriter"]),
        ("cache: Stored handler / publish snapshot", ["CacheActor", "Snapshot::new"]),
        ("switch actors: sample model", ["next_sample", "SwitchModel"]),
        ("switch actors: timers, mailboxes", ["SwitchActor"]),
        ("tokio timers", ["time::wheel", "TimerEntry"]),
        ("epoll wait", ["epoll_wait"]),
    ],
}


OTHER = {
    "http": "other: actix-http / actix-web internals (parse, dispatch, encode), allocator",
    "ingest": "other",
}


def thread_of(header, names):
    words = header.split()
    name = words[0] if words else "?"
    # `perf script` headers read "<comm> <tid> [cpu] ...": named threads first.
    if len(words) > 1 and words[1] in names:
        return names[words[1]]
    # The daemon names its ingest threads (src/threads.rs); actix names the rest.
    ingest = {"switches": "switches thread", "redis-writer": "writer thread", "cache": "cache thread"}
    if name in ingest:
        return ingest[name]
    if header.startswith("telemetryd-log"):
        return "log thread (telemetryd-log)"
    if header.startswith("actix-rt"):
        return "HTTP workers (actix-rt threads)"
    if header.startswith("actix-server"):
        return "acceptor (actix-server)"
    if header.startswith("telemetryd"):
        return "main thread (signals, supervision)"
    return name


def perfcat(path, profile, names=()):
    """names: "TID=label" strings naming threads whose comm does not tell them apart."""
    names = dict(n.split("=", 1) for n in names)
    text = open(path, errors="replace").read()
    samples = [s for s in text.split("\n\n") if s.strip()]
    total = len(samples)
    by_thread = {}
    for s in samples:
        header = s.lstrip().split("\n", 1)[0]
        thread = thread_of(header, names)
        cats = by_thread.setdefault(thread, {})
        if profile == "http" and thread in ("switches thread", "writer thread", "cache thread"):
            name = "ingest: " + thread
        else:
            for name, keys in PROFILES[profile]:
                if any(k in s for k in keys):
                    break
            else:
                name = OTHER.get(profile, "other")
        cats[name] = cats.get(name, 0) + 1
    print("| thread | where (first match in the stack) | share of samples |")
    print("|---|---|---:|")
    for thread, cats in sorted(by_thread.items(), key=lambda kv: -sum(kv[1].values())):
        n = sum(cats.values())
        print("| **%s** | all | **%.1f %%** |" % (thread, 100.0 * n / total))
        for name, c in sorted(cats.items(), key=lambda kv: -kv[1]):
            if 100.0 * c / total >= 0.5:
                print("| | %s | %.1f %% |" % (name, 100.0 * c / total))
    print()
    print("(%d samples)" % total)


def proc_table():
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                raw = f.read()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        table[int(name)] = (comm, int(fields[1]), int(fields[11]) + int(fields[12]))
    return table


def monitor(argv):
    args = dict(zip(argv[::2], argv[1::2]))
    root = int(args["--root"])
    interval = float(args.get("--interval", "2"))
    threshold = float(args.get("--threshold", "10"))
    out = args["--out"]
    tck = os.sysconf("SC_CLK_TCK")
    before = proc_table()
    t_before = time.monotonic()
    while os.path.exists("/proc/%d" % root):
        time.sleep(interval)
        now = proc_table()
        t_now = time.monotonic()
        parent = {pid: row[1] for pid, row in now.items()}

        def ours(pid):
            seen = 0
            while pid > 1 and seen < 64:
                if pid == root:
                    return True
                pid = parent.get(pid, 0)
                seen += 1
            return False

        with open(out, "a") as f:
            for pid, (comm, ppid, ticks) in now.items():
                # addr2line: the helpers `perf script` (ours) spawns, which outlive it and
                # so leave our process tree.
                if pid == 2 or ppid == 2 or comm == "addr2line" or ours(pid):
                    continue
                old = before.get(pid)
                used = ticks - (old[2] if old and old[0] == comm else 0)
                pct = 100.0 * used / tck / (t_now - t_before)
                if pct > threshold:
                    f.write("%.0f %d %s %.0f\n" % (time.time(), pid, comm.replace(" ", "_"), pct))
        before, t_before = now, t_now


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        sys.exit(2)
    cmd, rest = sys.argv[1], sys.argv[2:]
    if cmd == "freeports":
        freeports(int(rest[0]))
    elif cmd == "freshness":
        freshness(rest)
    elif cmd == "startup":
        startup(rest)
    elif cmd == "monitor":
        monitor(rest)
    elif cmd == "perfcat":
        perfcat(rest[0], rest[1], rest[2:])
    else:
        print(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
