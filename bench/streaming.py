#!/usr/bin/env python3
"""Measuring helpers for bench/streaming.sh (127.0.0.1 only).

Standard library, plus confluent_kafka for `watermarks` (streaming.sh installs it).

  streaming.py freeports N
        N free TCP ports on 127.0.0.1
  streaming.py watermarks --broker HOST:PORT --topic T
        JSON: each partition's high watermark and their sum, and the records read from
        the beginning to the end by a consumer of its own (the records in the topic)
  streaming.py lagwatch --socket S --seconds 30 --out FILE
        every second: now - MIN over switches of MAX(updated_at) in `samples` (ms), read
        with the mariadb client as root through S; JSON with every sample, max, median
  streaming.py waitrows --metrics URL --target N --since UNIX_S [--timeout 600]
        polls the archiver's telemetryd_archive_rows_total every 50 ms until it reaches N;
        JSON: when the first row and the last were counted
  streaming.py genhistory --switches 100 --hours 24 --step 10 --end-ms MS --out FILE
        a tab-separated file of `samples` rows for LOAD DATA (the schema's column order)
  streaming.py tosql --table T --rows 5000 IN.tsv OUT.sql
        the rows of IN.tsv as multi-row INSERTs of at most ROWS rows each
  streaming.py histlat --port P --path PATH [--n 2000] [--warmup 50]
        GET PATH N times in a row on one keep-alive connection; JSON latency percentiles
        and what the last answer held
  streaming.py metric URL NAME [LABEL=VALUE]
        the sum of the Prometheus samples called NAME at URL (those with LABEL=VALUE)
  streaming.py threads PID FILE
        CPU seconds so far of each thread of PID, summed by thread name, as JSON to FILE
  streaming.py report OUTDIR
        reads OUTDIR/figures.tsv and the JSON files beside it; prints the summary
"""

import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request


def opts(argv):
    out, rest, i = {}, [], 0
    while i < len(argv):
        if argv[i].startswith("--"):
            out[argv[i][2:]] = argv[i + 1]
            i += 2
        else:
            rest.append(argv[i])
            i += 1
    return out, rest


def pct(values, q):
    """Nearest-rank percentile of an unsorted list."""
    if not values:
        return float("nan")
    s = sorted(values)
    i = min(len(s) - 1, max(0, int(-(-q * len(s) // 1)) - 1))
    return s[i]


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


def watermarks(o):
    """The high watermarks, and the records actually there: read to the end by a consumer
    of its own (tansu 0.6's high watermark is the last batch's base offset + 1, short of
    the records of that batch, so the sum undercounts)."""
    from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING

    topic = o["topic"]
    c = Consumer({"bootstrap.servers": o["broker"], "group.id": "streaming-bench-count",
                  "enable.auto.commit": False, "fetch.max.bytes": 52428800})
    try:
        md = c.list_topics(topic, timeout=10)
        parts = sorted(md.topics[topic].partitions)
        highs = {}
        for p in parts:
            _, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            highs[p] = high
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        count, ends = 0, {p: 0 for p in parts}
        idle_until = time.time() + float(o.get("idle", "3"))
        while time.time() < idle_until:
            msgs = c.consume(10000, 0.5)
            for m in msgs:
                if m.error():
                    continue
                count += 1
                ends[m.partition()] = max(ends[m.partition()], m.offset() + 1)
            if msgs:
                idle_until = time.time() + float(o.get("idle", "3"))
    finally:
        c.close()
    print(json.dumps({"partitions": highs, "watermark_total": sum(highs.values()),
                      "consumed": count, "end_offsets": ends,
                      "end_offset_total": sum(ends.values())}))


LAG_SQL = ("SELECT MIN(m), COUNT(*), MAX(m) FROM (SELECT MAX(updated_at) m FROM samples "
           "GROUP BY switch_id) t")


def mariadb(sock, sql, database="telemetry"):
    out = subprocess.run(
        ["mariadb", "--no-defaults", f"--socket={sock}", "-uroot", "--batch",
         "--skip-column-names", database, "-e", sql],
        check=True, capture_output=True, text=True)
    return out.stdout


def lagwatch(o):
    seconds = int(o.get("seconds", "30"))
    samples = []
    start = time.time()
    for k in range(seconds):
        # The statement reads one consistent snapshot taken when it starts: "now" is then.
        sent = time.time()
        row = mariadb(o["socket"], LAG_SQL).split()
        took = time.time() - sent
        oldest, switches = (int(row[0]) if row[0] != "NULL" else None), int(row[1])
        newest = int(row[2]) if row[2] != "NULL" else None
        lag = None if oldest is None else sent * 1000 - oldest
        fresh = None if newest is None else sent * 1000 - newest
        samples.append({"t": round(sent - start, 3), "lag_ms": lag and round(lag, 1),
                        "newest_age_ms": fresh and round(fresh, 1),
                        "switches": switches, "query_ms": round(took * 1000, 1)})
        next_at = start + k + 1
        time.sleep(max(0.0, next_at - time.time()))
    lags = [s["lag_ms"] for s in samples if s["lag_ms"] is not None]
    half = len(lags) // 2
    res = {
        "samples": samples,
        "n": len(lags),
        "max_ms": max(lags) if lags else None,
        "median_ms": statistics.median(lags) if lags else None,
        "min_ms": min(lags) if lags else None,
        # Bounded, not growing: the second half's median against the first half's.
        "first_half_median_ms": statistics.median(lags[:half]) if half else None,
        "second_half_median_ms": statistics.median(lags[half:]) if half else None,
        "switches_seen_min": min(s["switches"] for s in samples),
        # the newest row of all: what the pipeline adds past the sampling interval
        "newest_age_median_ms": statistics.median(
            [s["newest_age_ms"] for s in samples if s["newest_age_ms"] is not None] or [0]),
        "query_ms_max": max(s["query_ms"] for s in samples),
    }
    with open(o["out"], "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps({k: v for k, v in res.items() if k != "samples"}))


def prom_sum(url, name, label=None):
    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode()
    total, found = 0.0, False
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        metric = line.split("{", 1)[0].split(" ", 1)[0]
        if label:
            k, v = label.split("=", 1)
            if f'{k}="{v}"' not in line:
                continue
        if metric == name:
            total += float(line.rsplit(" ", 1)[1])
            found = True
    return total if found else None


def waitrows(o):
    target = int(o["target"])
    since = float(o["since"])
    deadline = time.time() + float(o.get("timeout", "600"))
    first = None
    trace = []
    while time.time() < deadline:
        try:
            rows = prom_sum(o["metrics"], "telemetryd_archive_rows_total")
        except OSError:
            rows = None
        now = time.time()
        if rows:
            if first is None:
                first = (now, rows)
            if not trace or trace[-1][1] != rows:
                trace.append((round(now - since, 3), rows))
            if rows >= target:
                print(json.dumps({"done": now, "first": first[0], "first_rows": first[1],
                                  "rows": rows, "target": target, "trace": trace}))
                return
        time.sleep(0.05)
    print(json.dumps({"done": None, "first": first and first[0], "rows": trace and trace[-1][1],
                      "target": target, "trace": trace}))
    sys.exit(1)


def genhistory(o):
    """100 switches x 24 h x 10 s, values in the model's ranges (the query reads one)."""
    import random

    rnd = random.Random(42)
    switches, hours, step = int(o["switches"]), float(o["hours"]), int(o["step"])
    end = int(o["end-ms"])
    n = int(hours * 3600 / step)
    step_ms = step * 1000
    with open(o["out"], "w") as f:
        for s in range(switches):
            errors = 0
            base = end - n * step_ms + rnd.randrange(step_ms)
            lines = []
            for i in range(n):
                errors += rnd.randrange(3)
                lines.append(f"{s}\t{base + i * step_ms}\t{rnd.uniform(0, 1e5):.3f}\t"
                             f"{rnd.uniform(0, 1e5):.3f}\t{rnd.lognormvariate(-1.6, 0.35):.4f}\t"
                             f"{errors}\n")
            f.writelines(lines)
    print(switches * n)


def tosql(o, rest):
    table, per = o["table"], int(o.get("rows", "5000"))
    src, dst = rest
    cols = ("switch_id, updated_at, bandwidth_in_mbps, bandwidth_out_mbps, latency_ms, "
            "packet_errors")
    n = 0
    with open(src) as f, open(dst, "w") as out:
        batch = []

        def flush():
            if batch:
                out.write(f"INSERT INTO {table} ({cols}) VALUES " + ",".join(batch) + ";\n")
                batch.clear()

        for line in f:
            v = line.rstrip("\n").split("\t")
            batch.append("(" + ",".join(v) + ")")
            n += 1
            if len(batch) == per:
                flush()
        flush()
    print(n)


def histlat(o):
    port, path = int(o["port"]), o["path"]
    n, warm = int(o.get("n", "2000")), int(o.get("warmup", "50"))
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    lat, statuses, body = [], {}, b""
    for i in range(warm + n):
        t0 = time.perf_counter()
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        dt = (time.perf_counter() - t0) * 1000
        if i >= warm:
            lat.append(dt)
            statuses[r.status] = statuses.get(r.status, 0) + 1
    doc = json.loads(body)
    points = doc.get("points", [])
    res = {
        "n": n, "statuses": statuses,
        "p50_ms": pct(lat, 0.50), "p90_ms": pct(lat, 0.90), "p99_ms": pct(lat, 0.99),
        "max_ms": max(lat), "mean_ms": statistics.fmean(lat),
        "points": len(points), "samples_counted": sum(p.get("count", 0) for p in points),
        "source": doc.get("source"), "bytes": len(body),
    }
    print(json.dumps(res))


def threads(pid, out):
    """CPU seconds so far of each thread of PID, summed by thread name, as JSON."""
    tck = os.sysconf("SC_CLK_TCK")
    by_name = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        by_name[name] = by_name.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tck
    with open(out, "w") as f:
        json.dump(by_name, f, indent=1, sort_keys=True)


def thread_deltas(before, after):
    a, b = read_json(before) or {}, read_json(after) or {}
    d = {k: round(b[k] - a.get(k, 0.0), 2) for k in b}
    return sorted(d.items(), key=lambda kv: -kv[1])


def interference(outdir):
    """Other processes' CPU (probe.py monitor: samples over 10 % of a core, every 2 s),
    per phase of phases.txt: the mean % of a core they used."""
    phases = []
    try:
        with open(os.path.join(outdir, "phases.txt")) as f:
            for line in f:
                t, _, name = line.rstrip("\n").partition(" ")
                phases.append((float(t), name))
        with open(os.path.join(outdir, "interference.txt")) as f:
            samples = [line.split() for line in f if line.strip()]
    except OSError:
        return []
    res = []
    for i, (t, name) in enumerate(phases):
        end = phases[i + 1][0] if i + 1 < len(phases) else float("inf")
        used = [float(s[3]) for s in samples if t <= float(s[0]) < end]
        secs = (min(end, time.time()) - t)
        # each sample is the mean % over the 2 s before it
        res.append((name, sum(used) * 2 / secs if secs > 0 else 0.0,
                    sorted({s[2] for s in samples if t <= float(s[0]) < end})))
    return res


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def report(outdir):
    fig = {}
    with open(os.path.join(outdir, "figures.tsv")) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("\t")
            fig[k] = v

    def num(k):
        try:
            return float(fig[k])
        except (KeyError, ValueError):
            return None

    print(f"commit {fig.get('commit')} (working tree; uncommitted changes to: "
          f"{fig.get('dirty_files') or 'none'}); binary {fig.get('binary')} "
          f"sha256 {fig.get('binary_sha256')}")
    print(f"runtime {fig.get('runtime_s')} s; {fig.get('knobs')}\n")
    print("1. streaming + archive lag (now - oldest per-switch newest row), 1 s interval")
    print("| switches | lag median | lag max | 1st/2nd half median | newest row's age, median "
          "| rows/s archived | dropped | archiver CPU | daemon CPU | broker CPU | mariadbd CPU |")
    for n in fig.get("stream_sizes", "").split():
        lag = read_json(os.path.join(outdir, f"lag-{n}.json")) or {}
        secs = num(f"stream.{n}.window_s") or float("nan")
        rows = (num(f"stream.{n}.rows_after") or 0) - (num(f"stream.{n}.rows_before") or 0)

        def cpu(who):
            t = num(f"stream.{n}.cpu.{who}")
            return f"{t / secs * 100:.0f} %" if t is not None else "-"

        print(f"| {n} | {lag.get('median_ms')} | {lag.get('max_ms')} | "
              f"{lag.get('first_half_median_ms')} / {lag.get('second_half_median_ms')} | "
              f"{lag.get('newest_age_median_ms')} | {rows / secs:.0f} | {fig.get(f'stream.{n}.dropped')} | {cpu('archiver')} | "
              f"{cpu('daemon')} | {cpu('broker')} | {cpu('mariadbd')} |")
    print()
    rec = num("rate.records")
    if rec:
        print("2. archiver rows/s against bulk loads of the same rows (same mariadbd)")
        print(f"records in topic {rec:.0f} (read to the end; sum of high watermarks "
              f"{fig.get('rate.watermark_total')})")
        runs = {}
        for tag in ("a1", "a2", "b20000"):
            if num(f"rate.{tag}.done") is None:
                continue
            t_all = num(f"rate.{tag}.done") - num(f"rate.{tag}.exec")
            t_steady = num(f"rate.{tag}.done") - num(f"rate.{tag}.first")
            a_all = rec / t_all
            a_steady = (rec - num(f"rate.{tag}.first_rows")) / t_steady
            runs[tag] = (a_all, a_steady)
            cpu = ", ".join(f"{w} {num(f'rate.{tag}.cpu.{w}') / t_all * 100:.0f} %"
                            for w in ("archiver", "mariadbd", "broker"))
            print(f"archiver {tag}: {t_all:.2f} s from exec = {a_all:.0f} rows/s; after its "
                  f"first batch ({num(f'rate.{tag}.first_rows'):.0f} rows, at "
                  f"{num(f'rate.{tag}.first') - num(f'rate.{tag}.exec'):.2f} s) "
                  f"{t_steady:.2f} s = {a_steady:.0f} rows/s; rows {fig.get(f'rate.{tag}.rows')}"
                  f"; CPU (of a core, over the time from exec): {cpu}")
        for r in ("1", "2"):
            for kind, label in (("load_data", "LOAD DATA LOCAL INFILE"),
                                ("insert", "INSERT x 5000 rows")):
                t = num(f"rate.{kind}.{r}")
                if t:
                    print(f"{label} round {r}: {t:.2f} s = {rec / t:.0f} rows/s "
                          f"(rows {fig.get(f'rate.{kind}.{r}.rows')})")
        a = [runs[t] for t in ("a1", "a2") if t in runs]
        loads = [rec / num(f"rate.load_data.{r}") for r in ("1", "2") if num(f"rate.load_data.{r}")]
        ins = [rec / num(f"rate.insert.{r}") for r in ("1", "2") if num(f"rate.insert.{r}")]
        if a and loads:
            a_all = statistics.fmean(x[0] for x in a)
            a_steady = statistics.fmean(x[1] for x in a)
            print(f"means: archiver {a_all:.0f} rows/s from exec, {a_steady:.0f} after the first "
                  f"batch; LOAD DATA {statistics.fmean(loads):.0f}; INSERT "
                  f"{statistics.fmean(ins):.0f}")
            print(f"ratio to LOAD DATA: {a_all / statistics.fmean(loads):.2f}x from exec, "
                  f"{a_steady / statistics.fmean(loads):.2f}x after the first batch; "
                  f"to INSERT: {a_all / statistics.fmean(ins):.2f}x, "
                  f"{a_steady / statistics.fmean(ins):.2f}x")
        print()
    print(f"3. daemon CPU, {fig.get('cpu_switches')} switches at 1 s, with and without "
          "kafka.brokers")
    on, off = [], []
    for r in fig.get("cpu_rounds", "").split():
        arm, i = r.split(":")
        t = num(f"cpu.{arm}.{i}.cpu_s")
        w = num(f"cpu.{arm}.{i}.window_s")
        share = t / w
        (on if arm == "kafka" else off).append(share)
        extra = ""
        if arm == "kafka":
            extra = (f" delivered {fig.get(f'cpu.{arm}.{i}.delivered')} dropped "
                     f"{fig.get(f'cpu.{arm}.{i}.dropped')} broker "
                     f"{(num(f'cpu.{arm}.{i}.broker_cpu_s') or 0) / w * 100:.0f} %")
        print(f"  round {i} {arm}: {t:.2f} CPU s in {w:.2f} s = {share * 100:.1f} % of a core"
              f"{extra}")
    for r in fig.get("cpu_rounds", "").split():
        arm, i = r.split(":")
        d = thread_deltas(os.path.join(outdir, f"threads-{arm}-{i}-before.json"),
                          os.path.join(outdir, f"threads-{arm}-{i}-after.json"))
        print(f"  threads, round {i} {arm} (CPU s): " +
              ", ".join(f"{k} {v}" for k, v in d if v >= 0.05))
    if on and off:
        print(f"  mean with Kafka {statistics.fmean(on) * 100:.1f} %, without "
              f"{statistics.fmean(off) * 100:.1f} %: ratio "
              f"{statistics.fmean(on) / statistics.fmean(off):.3f}x")
    print()
    h = read_json(os.path.join(outdir, "history-latency.json"))
    if h:
        print("4. history: one switch, 24 h of 10 s samples, step=300")
        print(f"rows loaded {fig.get('history.rows')}, points {h['points']}, samples counted "
              f"{h['samples_counted']}, statuses {h['statuses']}")
        print(f"sequential, one connection, {h['n']} requests: p50 {h['p50_ms']:.2f} ms, "
              f"p90 {h['p90_ms']:.2f} ms, p99 {h['p99_ms']:.2f} ms, max {h['max_ms']:.2f} ms")
    print(f"LOAD DATA of the {fig.get('history.rows')} rows: {fig.get('history.load_s')} s")
    wrk = os.path.join(outdir, "history-wrk.txt")
    if os.path.exists(wrk):
        with open(wrk) as f:
            print("wrk:", "".join(l for l in f if "%" in l or "Requests/sec" in l).strip())
    print("\nother processes on the machine (probe.py monitor), mean % of a core per phase:")
    for name, share, who in interference(outdir):
        print(f"  {share:5.0f} %  {name}  {' '.join(who)}")


def main():
    cmd, argv = sys.argv[1], sys.argv[2:]
    o, rest = opts(argv)
    if cmd == "freeports":
        freeports(int(argv[0]))
    elif cmd == "watermarks":
        watermarks(o)
    elif cmd == "lagwatch":
        lagwatch(o)
    elif cmd == "waitrows":
        waitrows(o)
    elif cmd == "genhistory":
        genhistory(o)
    elif cmd == "tosql":
        tosql(o, rest)
    elif cmd == "histlat":
        histlat(o)
    elif cmd == "metric":
        v = prom_sum(argv[0], argv[1], argv[2] if len(argv) > 2 else None)
        print("" if v is None else f"{v:.0f}")
    elif cmd == "threads":
        threads(int(argv[0]), argv[1])
    elif cmd == "report":
        report(argv[0])
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
