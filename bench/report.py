#!/usr/bin/env python3
"""BENCHMARKS.md from the figures bench/run.sh measured (standard library only).

  report.py [--results bench/out/results.json] [--notes bench/notes.md] [--out BENCHMARKS.md]
        derives the report's figures and the Targets verdicts from results.json and writes
        the report, with the hand-written sections of notes.md in their place
  report.py collect OUT.json
        reads NUL-separated (section, key, value) triples from stdin, as run.sh prints its
        CONF, R and CMD arrays, and writes them as results.json
  report.py kept-up LAG_FILE
        exits 0 when the ingest_lag reads in LAG_FILE saw every switch younger than 2 s
        (run.sh asks while it measures, to choose the next fabric size)

results.json holds what run.sh recorded, as text, and nothing derived:

  "config":   the knobs of the run (duration, connections, read_sizes, ...)
  "commands": the exact command behind a figure, under the figure's key
  "figures":  raw observations; the arithmetic on them is all in this file:
    K.rps K.p50 K.p99 K.reqs K.transfer K.non2xx K.sockerr
                    one wrk run K, as wrk printed them ("55737.12", "790.00us")
    K.before.C K.after.C
                    counter C read before and after the window K: "time" (unix s),
                    "cpu" (the server's utime+stime ticks), "daemon", "redis", "switches",
                    "writer", "cache" (ticks), "hset", "reads" (Redis calls), "preempted"
                    (involuntary context switches of telemetryd's HTTP threads), "lines"
    td.N.ROUTE.rR   telemetryd, N switches, round R; bl.N.ROUTE.rR the baseline;
    quiet.N.ROUTE   telemetryd with its ingest quiet; pin.KIND.rR the pinned rounds;
    td.N.small.info the small route at log level INFO; idle.N a window with no load
    bytes.N.BODY    size of a captured body; info.dropped / info.skipped: the daemon's drop reports / summary skips
    ing.ID.*        one ingest run: n, started, ready_at, hwm_kb, lag (ingest_lag's lines);
                    ing.order: the run ids in the order they ran
    rb.CMD          redis-benchmark's requests per second; fresh: probe.py freshness's line
    start.empty start.warm  start-up times in ms, space-separated
    machine and run: commit dirty dirty_files dirty_sha cpu nproc free os kernel rustc wrk
                    redis uptime_before uptime_after began ended phases interference
                    profile.NAME (probe.py perfcat tables)

Numbers are rounded and compared as bench/run.sh always shows them: a figure rounded for the
table is the figure later arithmetic and verdicts use (a ratio shown as 0.80x meets 0.8x).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NA = "n/a"

# Throughput target: telemetryd at least this fraction of the baseline's req/s.
RATIO_TARGET = 0.8
# Latency target for the small route, ms.
P99_TARGET_MS = 2.0
# An ingest run keeps up when no switch is older than this in Redis, ms.
MAX_AGE_MS = 2000
# The 100k target: under one core, peak RSS under this many MB; start-up under this many ms.
INGEST_TARGET_SWITCHES = 100000
RSS_TARGET_MB = 200
STARTUP_TARGET_MS = 200

GZ = "-H 'Accept-Encoding: gzip'"
SMALL = "`/telemetry/switch-7/latency_ms`"
# Read-path rows: label, telemetryd's route, the baseline's route, the body's bytes key.
READ_ROWS = [
    (f"{SMALL} (baseline `/small`)", "small", "small", "small"),
    (f"{SMALL} (baseline same dynamic route)", "small", "dyn", "small"),
    ("`/telemetry/`", "json", "json", "json"),
    ("`/counters`", "csv", "csv", "csv"),
    ("`/telemetry/`, gzip", "jsongz", "jsongz", "jsongz"),
    ("`/counters`, gzip", "csvgz", "csvgz", "csvgz"),
]
TD_ROUTES = ["small", "json", "csv", "jsongz", "csvgz"]
BL_ROUTES = ["small", "dyn", "json", "csv", "jsongz", "csvgz"]
# The big-body targets at the largest read size: route key, name.
BIG_TARGETS = [
    ("csv", "`/counters`"),
    ("json", "`/telemetry/`"),
    ("csvgz", "`/counters` with gzip"),
    ("jsongz", "`/telemetry/` with gzip"),
]
# Pinned rows: label, route, kind (pin.KIND).
PIN_ROWS = [
    ("telemetryd (ingest SCHED_BATCH, as shipped)", SMALL, "td.batch"),
    ("telemetryd (ingest normal, by chrt)", SMALL, "td.normal"),
    ("telemetryd (ingest quiet: interval 3600 s)", SMALL, "td.quiet"),
    ("baseline", "`/small` (static)", "bl.small"),
    ("baseline", "`/telemetry/switch-7/latency_ms` (dynamic)", "bl.dyn"),
]
PIN_KINDS = [kind for _, _, kind in PIN_ROWS]


# ---------------------------------------------------------------- numbers as shown


def number(text) -> float | None:
    """The value of a figure as shown, or None when it is missing or not a number."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def f0(x: float) -> str:
    return "%.0f" % x


def f2(x: float) -> str:
    return "%.2f" % x


def to_ms(wrk_latency: str) -> str:
    """wrk's latency ("790.00us", "1.76ms", "1.20s", "1.01m") in ms, two decimals."""
    m = re.fullmatch(r"([0-9.]+)([a-z]*)", wrk_latency.strip())
    if not m:
        return ""
    factor = {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}.get(m.group(2), 1)
    return f2(float(m.group(1)) * factor)


def ratio(a, b) -> str:
    """a/b to two decimals, "n/a" when either is missing or b is not positive."""
    x, y = number(a), number(b)
    if x is None or y is None or y <= 0:
        return NA
    return f2(x / y)


def awk_number(x: float) -> str:
    """A computed number printed the way awk's `print` does: integers whole, else %.6g."""
    return str(int(x)) if x == int(x) and abs(x) < 1e16 else "%.6g" % x


def median(values: list[str]) -> str:
    """The median of figures: the middle one as shown, or the mean of the two middle ones."""
    present = sorted((v for v in values if number(v) is not None), key=float)
    if not present:
        return ""
    n = len(present)
    if n % 2:
        return present[n // 2]
    return awk_number((float(present[n // 2 - 1]) + float(present[n // 2])) / 2)


def size(nbytes) -> str:
    """A body size: MB with two decimals, whole KB, or bytes."""
    b = number(nbytes)
    if b is None:
        return NA
    if b >= 1048576:
        return "%.2f MB" % (b / 1048576)
    if b >= 1024:
        return "%.0f KB" % (b / 1024)
    return "%d B" % b


def megabytes(kb) -> str:
    k = number(kb)
    return NA if k is None else f0(k / 1024)


def times(r: str) -> str:
    """A ratio as the Targets table shows it: "0.94x", or "n/a"."""
    return r if r == NA else r + "x"


def bold_verdict(met: bool) -> str:
    return "**met**" if met else "**not met**"


def below(value, limit: float) -> bool:
    """value < limit; a missing value is never below."""
    x = number(value)
    return x is not None and x < limit


# ---------------------------------------------------------------- the results model


@dataclass(frozen=True)
class Config:
    """The knobs of one run of bench/run.sh."""

    duration: int
    connections: int
    threads: int
    workers: int
    pin_rounds: int
    read_sizes: list[str]
    ingest_sizes: list[str]
    ingest_warmup: int
    ingest_samples: int
    ingest_every: int
    fresh_switches: str
    fresh_seconds: int
    startup_runs: int
    startup_switches: int
    interval: int
    clk_tck: int
    have_pinning: bool
    redis_port: str

    @staticmethod
    def from_dict(d: dict) -> Config:
        def i(k):
            return int(d[k])

        return Config(
            duration=i("duration"),
            connections=i("connections"),
            threads=i("threads"),
            workers=i("workers"),
            pin_rounds=i("pin_rounds"),
            read_sizes=str(d["read_sizes"]).split(),
            ingest_sizes=str(d["ingest_sizes"]).split(),
            ingest_warmup=i("ingest_warmup"),
            ingest_samples=i("ingest_samples"),
            ingest_every=i("ingest_every"),
            fresh_switches=str(d["fresh_switches"]),
            fresh_seconds=i("fresh_seconds"),
            startup_runs=i("startup_runs"),
            startup_switches=i("startup_switches"),
            interval=i("interval"),
            clk_tck=i("clk_tck"),
            have_pinning=str(d["have_pinning"]) == "1",
            redis_port=str(d["redis_port"]),
        )

    @property
    def first_read(self) -> str:
        return self.read_sizes[0]

    @property
    def last_read(self) -> str:
        return self.read_sizes[-1]


def as_text(value) -> str:
    if isinstance(value, float) and value == int(value):
        return str(int(value))
    return str(value)


class Results:
    """results.json: the run's configuration, raw figures and commands."""

    def __init__(self, data: dict):
        self.config = Config.from_dict(data["config"])
        self.figures = {k: as_text(v) for k, v in data["figures"].items()}
        self.commands = {k: as_text(v) for k, v in data["commands"].items()}

    @staticmethod
    def load(path: Path) -> Results:
        return Results(json.loads(Path(path).read_text()))

    def get(self, key: str, default: str = "") -> str:
        return self.figures.get(key, default)

    def command(self, key: str) -> str:
        """A figure's command; for a mean of rounds, round 1's (every round ran the same)."""
        return self.commands.get(key, self.commands.get(key + ".r1", ""))

    def delta(self, key: str, counter: str) -> float | None:
        a = number(self.figures.get(f"{key}.before.{counter}"))
        b = number(self.figures.get(f"{key}.after.{counter}"))
        return None if a is None or b is None else b - a

    def cpu_percent(self, key: str, counter: str) -> str:
        """CPU of a process or thread over window key, % of one core, from its ticks."""
        ticks, seconds = self.delta(key, counter), self.delta(key, "time")
        if ticks is None or not seconds:
            return NA
        return f0(ticks * 100 / self.config.clk_tck / seconds)


# ---------------------------------------------------------------- wrk runs


@dataclass(frozen=True)
class Load:
    """One wrk run's figures as shown: req/s and CPU whole, latencies in ms to 2 decimals."""

    rps: str
    p50: str
    p99: str
    cpu: str
    reqs: str
    non2xx: int = 0
    sockerr: str = ""


MISSING = Load(NA, NA, NA, NA, NA)


def wrk_run(res: Results, key: str) -> Load:
    """The wrk run recorded under key, or MISSING."""
    raw = number(res.get(f"{key}.rps"))
    if raw is None:
        return MISSING
    return Load(
        rps=f0(raw),
        p50=to_ms(res.get(f"{key}.p50")) or NA,
        p99=to_ms(res.get(f"{key}.p99")) or NA,
        cpu=res.cpu_percent(key, "cpu"),
        reqs=res.get(f"{key}.reqs") or NA,
        non2xx=int(res.get(f"{key}.non2xx") or 0),
        sockerr=res.get(f"{key}.sockerr"),
    )


def wrk_keys(res: Results) -> list[str]:
    """Every wrk run recorded, sorted."""
    return sorted(k[: -len(".rps")] for k in res.figures if k.endswith(".rps"))


def mean_of_rounds(res: Results, key: str) -> Load:
    """The two read-path rounds of a load (key.r1, key.r2) as one: the mean of each figure,
    over the rounds that ran."""
    rounds = [r for r in (wrk_run(res, f"{key}.r1"), wrk_run(res, f"{key}.r2")) if r is not MISSING]
    if not rounds:
        return MISSING

    def mean(field, fmt):
        values = [number(getattr(r, field)) for r in rounds]
        values = [v for v in values if v is not None]
        return fmt(sum(values) / len(values)) if values else NA

    return Load(
        rps=mean("rps", f0),
        p50=mean("p50", f2),
        p99=mean("p99", f2),
        cpu=mean("cpu", f0),
        reqs=mean("reqs", f0),
    )


def spread(res: Results, key: str) -> int | None:
    """How far the two rounds' req/s were apart, % of their mean."""
    a, b = number(wrk_run(res, f"{key}.r1").rps), number(wrk_run(res, f"{key}.r2").rps)
    if a is None or b is None or a + b == 0:
        return None
    return int(f0(100 * abs(a - b) / ((a + b) / 2)))


def largest_spread(res: Results) -> str:
    values = []
    for n in res.config.read_sizes:
        for side, routes in (("td", TD_ROUTES), ("bl", BL_ROUTES)):
            for route in routes:
                s = spread(res, f"{side}.{n}.{route}")
                if s is not None:
                    values.append(s)
    return str(max(values)) if values else NA


# ---------------------------------------------------------------- pinned rounds


@dataclass(frozen=True)
class Pinned:
    """A pinned kind over its rounds: each figure's median, and every round's in order."""

    rps: str
    p50: str
    p99: str
    cpu: str
    preempted: str
    all_rps: str
    all_p99: str
    all_preempted: str


def pinned(res: Results, kind: str) -> Pinned:
    keys = [f"pin.{kind}.r{r}" for r in range(1, res.config.pin_rounds + 1)]
    runs = [wrk_run(res, k) for k in keys]
    preempted = []
    for k in keys:
        d = res.delta(k, "preempted")
        preempted.append("" if d is None else f0(d))
    has_preempted = any(preempted)

    def med(values):
        return median(values) or NA

    def every(values):
        return ", ".join(v for v in values if v and v != NA)

    return Pinned(
        rps=med([r.rps for r in runs]),
        p50=med([r.p50 for r in runs]),
        p99=med([r.p99 for r in runs]),
        cpu=med([r.cpu for r in runs]),
        preempted=med(preempted) if has_preempted else NA,
        all_rps=every([r.rps for r in runs]),
        all_p99=every([r.p99 for r in runs]),
        all_preempted=every(preempted),
    )


# ---------------------------------------------------------------- ingest runs


@dataclass(frozen=True)
class Lag:
    """ingest_lag's reads of one run: each read's max age, the worst of each statistic."""

    maxes: list[str]
    max: str
    p50: str
    missing: str


def parse_lag(text: str) -> Lag:
    def column(name):
        return [m.group(1) for m in re.finditer(rf"{name}=([0-9]*)", text)]

    def worst(values):
        return max(values, key=lambda v: int(v) if v else 0) if values else ""

    maxes = column("max_ms")
    return Lag(maxes=maxes, max=worst(maxes), p50=worst(column("p50_ms")), missing=worst(column("missing")))


def kept_up(lag: Lag) -> bool:
    """Every read saw every switch, none older than 2 s."""
    oldest = int(lag.max) if lag.max else MAX_AGE_MS * 1000
    missing = int(lag.missing) if lag.missing else 1
    return oldest < MAX_AGE_MS and missing == 0


@dataclass(frozen=True)
class Ingest:
    """One ingest run's figures as shown."""

    id: str
    n: int
    lag: Lag
    ok: bool
    hset: str
    reads: str
    cpu: str
    switches: str
    writer: str
    cache: str
    redis: str
    hwm_kb: str
    ready_ms: str

    @property
    def label(self) -> str:
        return str(self.n) if self.id == str(self.n) else f"{self.n} (again)"

    @property
    def rss_mb(self) -> str:
        return megabytes(self.hwm_kb)


def ingest_run(res: Results, run_id: str) -> Ingest:
    key = f"ing.{run_id}"
    n = int(res.get(f"{key}.n"))
    lag = parse_lag(res.get(f"{key}.lag"))
    seconds = res.delta(key, "time")

    def rate(counter, less=0.0):
        d = res.delta(key, counter)
        return NA if d is None or not seconds else f0((d - less) / seconds)

    started, ready = number(res.get(f"{key}.started")), number(res.get(f"{key}.ready_at"))
    return Ingest(
        id=run_id,
        n=n,
        lag=lag,
        ok=kept_up(lag),
        hset=rate("hset"),
        # The daemon's read-back, whatever commands it uses; ingest_lag's own HGETs taken out.
        reads=rate("reads", res.config.ingest_samples * n),
        cpu=res.cpu_percent(key, "daemon"),
        switches=res.cpu_percent(key, "switches"),
        writer=res.cpu_percent(key, "writer"),
        cache=res.cpu_percent(key, "cache"),
        redis=res.cpu_percent(key, "redis"),
        hwm_kb=res.get(f"{key}.hwm_kb"),
        ready_ms=NA if started is None or ready is None else f0((ready - started) * 1000),
    )


def ingest_runs(res: Results) -> list[Ingest]:
    """Every ingest run, in the order they ran."""
    return [ingest_run(res, i) for i in res.get("ing.order").split()]


def sizes_run(runs: list[Ingest]) -> list[int]:
    return sorted({r.n for r in runs})


def runs_of(runs: list[Ingest], n: int) -> list[Ingest]:
    return [r for r in runs if r.n == n]


def largest_sustained(runs: list[Ingest]) -> str:
    """The largest size of which every run kept up."""
    good = [n for n in sizes_run(runs) if all(r.ok for r in runs_of(runs, n))]
    return str(max(good)) if good else "none"


def first_failure(runs: list[Ingest]) -> int | None:
    """The size at which the sizes tried in order first failed (repeats left out: they run
    after the sizes in order)."""
    return next((r.n for r in runs if r.id == str(r.n) and not r.ok), None)


def runs_verdict(passed: list[bool]) -> str:
    """A target checked on every run of a size."""
    both = " (both runs)" if len(passed) > 1 else ""
    if all(passed):
        return "**met**" + both
    if not any(passed):
        return "**not met**" + both
    return f"**not met**: passed in {sum(passed)} of {len(passed)} runs"


# ---------------------------------------------------------------- verdicts


def throughput_met(td_rps, bl_rps) -> bool:
    """telemetryd >= 0.8x the baseline, judged on the ratio as shown."""
    r = number(ratio(td_rps, bl_rps))
    return r is not None and r >= RATIO_TARGET


def whole_process_p99_verdict(td_p99: list[str], bl_p99: list[str]) -> str:
    """p99 < 2 ms at every size; when not, whether the baseline itself was over 2 ms at
    every size too (then the baseline is the limit)."""
    joined_bl = " / ".join(bl_p99)
    if td_p99 and all(below(v, P99_TARGET_MS) for v in td_p99):
        return bold_verdict(True)
    if bl_p99 and not any(below(v, P99_TARGET_MS) for v in bl_p99):
        return f"**not met**; the limit: the baseline's own p99 was {joined_bl} ms"
    return bold_verdict(False)


def pinned_p99_verdict(batch_p99: str, baseline_p99: str, quiet_p99: str) -> str:
    """The pinned p99 target: met, or not met and whether the baseline itself stayed under
    2 ms on the same core, or telemetryd did with its ingest quiet."""
    if below(batch_p99, P99_TARGET_MS):
        return bold_verdict(True)
    if not below(baseline_p99, P99_TARGET_MS):
        return f"**not met**; the limit: the baseline's own p99 was {baseline_p99} ms"
    if below(quiet_p99, P99_TARGET_MS):
        return "**not met** with the ingest sharing the core; met with it quiet"
    return bold_verdict(False)


def startup_met(medians: list[str]) -> bool:
    return bool(medians) and all(below(m, STARTUP_TARGET_MS) for m in medians)


# ---------------------------------------------------------------- sections


def header(res: Results) -> list[str]:
    f = res.figures
    began, ended = number(f.get("began")), number(f.get("ended"))
    elapsed = int(ended - began) if began is not None and ended is not None else 0
    dirty = ""
    if f.get("dirty", "0").strip() != "0":
        dirty = (
            f" plus the uncommitted changes in the working tree to {f.get('dirty_files')},"
            f" diff sha256 `{f.get('dirty_sha')}`"
        )
    return [
        "# Benchmarks",
        "",
        "telemetryd next to the limits of the machine it runs on. Every figure below was measured by",
        f"one run of `bench/run.sh` ({elapsed} s, commit `{f.get('commit')}`{dirty}); the raw",
        "outputs (wrk, ingest_lag, redis-benchmark, logs, captured bodies) are in `bench/out/` after",
        "a run. Re-run with:",
        "",
        "```sh",
        f"bench/run.sh          # ~{(elapsed + 59) // 60} minutes; installs wrk/redis if missing, builds, measures, rewrites this file",
        "```",
    ]


def memory_line(free: str) -> str:
    for line in free.splitlines():
        words = line.split()
        if words and words[0] == "Mem:" and len(words) >= 7:
            return f"{words[1]} total, {words[6]} available"
    return NA


def interference_rows(phases: str, seen: str) -> list[str]:
    """Each outside process seen above 10 % of a core, with the phase that was running."""
    marks = []
    for line in phases.splitlines():
        words = line.split()
        if words:
            marks.append((float(words[0]), " ".join(words[1:])))
    rows = []
    for line in seen.splitlines():
        words = line.split()
        if len(words) < 4:
            continue
        at, pid, comm, pct = float(words[0]), words[1], words[2], words[3]
        phase = "(before the first phase)"
        for t, name in marks:
            if t <= at:
                phase = name
        clock = time.strftime("%H:%M:%S", time.localtime(at))
        rows.append(f"| {clock} | {comm} (pid {pid}) | {pct} % | {phase} |")
    return rows


def machine(res: Results) -> list[str]:
    f = res.figures
    nproc = f.get("nproc")
    lines = [
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        f"| CPU | {f.get('cpu')}, `nproc` = {nproc} |",
        f"| memory | {memory_line(f.get('free', ''))} (`free -h`) |",
        f"| OS, kernel | {f.get('os')}, {f.get('kernel')} |",
        f"| toolchain | {f.get('rustc')}, release profile of Cargo.toml |",
        f"| load tools | {f.get('wrk')}; {f.get('redis')} |",
        f"| load before the run | `{f.get('uptime_before', '').removeprefix(' ')}` |",
        "",
        "`free -h` at the start:",
        "",
        "```",
        *f.get("free", "").splitlines(),
        "```",
        "",
    ]
    rows = interference_rows(f.get("phases", ""), f.get("interference", ""))
    if not rows:
        lines += [
            "No process outside the benchmark used more than 10 % of a core in any 2 s window during the",
            "run (`bench/probe.py monitor`, sampling /proc every 2 s).",
        ]
    else:
        lines += [
            "**Other processes used the CPU during the run** (`bench/probe.py monitor`, every 2 s window",
            "in which a process outside the benchmark used more than 10 % of a core); figures measured",
            "in these phases are disturbed by them:",
            "",
            "| time | process | CPU | phase running |",
            "|---|---|---:|---|",
            *rows,
        ]
    lines += [
        "",
        f"**wrk and the server under test share the same {nproc} cores** (there is no second machine,",
        "and every load targets 127.0.0.1): every requests/s figure below is \"server plus load",
        f"generator on {nproc} cores\", for telemetryd and baseline alike. The \"server CPU\" columns say",
        "how much of the machine the server itself took (100 % = one core).",
    ]
    return lines


def idle_cpu(res: Results, n: str, counter: str) -> str:
    return res.cpu_percent(f"idle.{n}", counter)


def read_row(res: Results, label: str, n: str, td_route: str, bl_route: str, body: str) -> str:
    t, b = f"td.{n}.{td_route}", f"bl.{n}.{bl_route}"
    tm, bm = mean_of_rounds(res, t), mean_of_rounds(res, b)
    t1, t2 = wrk_run(res, f"{t}.r1"), wrk_run(res, f"{t}.r2")
    b1, b2 = wrk_run(res, f"{b}.r1"), wrk_run(res, f"{b}.r2")
    return (
        f"| {label} | {n} | {size(res.get(f'bytes.{n}.{body}'))} "
        f"| **{tm.rps}** ({t1.rps}, {t2.rps}) | {tm.p50} | {tm.p99} | {tm.cpu} % "
        f"| **{bm.rps}** ({b1.rps}, {b2.rps}) | {bm.p50} | {bm.p99} | {bm.cpu} % "
        f"| **{ratio(tm.rps, bm.rps)}** |"
    )


def errors_line(res: Results) -> str:
    runs = {k: wrk_run(res, k) for k in wrk_keys(res)}
    non2xx = sum(r.non2xx for r in runs.values())
    sockerr = ";".join(f"{k}.sockerr {r.sockerr}" for k, r in runs.items() if r.sockerr and r.sockerr != "none")
    return f"Errors: {non2xx} non-2xx responses over all runs; socket errors: {sockerr or 'none'}."


def read_path(res: Results) -> list[str]:
    c = res.config
    idle = ", ".join(f"{idle_cpu(res, n, 'daemon')} % of a core at {n} switches" for n in c.read_sizes)
    lines = [
        "## a. Read path",
        "",
        f"wrk, {c.connections} connections, {c.threads} threads, {c.duration} s per run, `--latency`; servers run one",
        "at a time, never concurrently. Each load ran in two rounds per size, in alternating order",
        "(telemetryd then baseline, then baseline then telemetryd, each a fresh process); the table",
        "shows the mean of the two rounds (req/s of each round in parentheses; latencies are the mean",
        "of the two rounds' percentiles). The two rounds of one load differed by up to",
        f"{largest_spread(res)} % in req/s, which is the noise of this machine: read ratios near 0.8 with that in mind.",
        f"telemetryd: update interval {c.interval} s, log level WARNING,",
        f"{c.workers} workers per listener, its own Redis (so it keeps simulating, writing and re-reading",
        f"every switch while it serves; with no HTTP load that costs {idle} plus Redis's own CPU).",
        "Baseline: `examples/baseline.rs`, the same actix-web with the same features and",
        f"{c.workers} workers, no logging, no middleware, answering from memory with the bytes captured",
        "from telemetryd just before (same body, same `Content-Type`; the gzip bytes with",
        "`Content-Encoding: gzip` when `Accept-Encoding` asks). Latencies in ms.",
        "",
        "| route | switches | body | telemetryd req/s (round 1, 2) | p50 | p99 | server CPU | baseline req/s (round 1, 2) | p50 | p99 | server CPU | ratio telemetryd/baseline |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in c.read_sizes:
        for label, t, b, body in READ_ROWS:
            lines.append(read_row(res, label, n, t, b, body))
    static_rounds = ", ".join(
        wrk_run(res, f"bl.{n}.small.r{r}").rps for n in c.read_sizes for r in (1, 2)
    )
    lines += [
        "",
        errors_line(res),
        "",
        "How much of the spread is the machine: the baseline's `/small` does the same work at every",
        f"size, and its four rounds measured {static_rounds} req/s.",
        "",
        "The baseline's `/small` is a static path; telemetryd's small route has two dynamic",
        "segments, which actix-web matches with a regex. The second line of each size puts the",
        "baseline on the same dynamic route (same bytes), to separate the router's cost from the",
        "daemon's own.",
        "",
    ]
    return lines


def quiet(res: Results) -> list[str]:
    q = res.config.last_read
    lines = [
        "### Serving alone: telemetryd with its ingest quiet",
        "",
        f"The same five loads once more at {q} switches, against a telemetryd whose update interval",
        "is 3600 s: every switch is sampled once at start, and while wrk runs there is nothing to",
        "write, read back, publish or re-render. With a 1 s interval the daemon spends",
        f"{idle_cpu(res, q, 'daemon')} % of a core on ingest at this size (and Redis {idle_cpu(res, q, 'redis')} % more), on the 2 cores wrk and",
        "the server share; the baseline spends nothing. Baseline figures are the means above.",
        "",
        "| route | telemetryd, ingest quiet, req/s | p99 | server CPU | baseline req/s | ratio (quiet) | ratio with ingest at 1 s (above) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, t, b, _ in READ_ROWS:
        qr = wrk_run(res, f"quiet.{q}.{t}")
        bl = mean_of_rounds(res, f"bl.{q}.{b}")
        td = mean_of_rounds(res, f"td.{q}.{t}")
        lines.append(
            f"| {label} | {qr.rps} | {qr.p99} | {qr.cpu} % | {bl.rps} "
            f"| **{ratio(qr.rps, bl.rps)}** | {ratio(td.rps, bl.rps)} |"
        )
    lines.append("")
    return lines


def little_ms(connections: int, rps: str) -> str:
    """Mean latency in ms of `connections` requests in flight at rps (Little's law)."""
    r = number(rps)
    return NA if not r else f2(1000 * connections / r)


def pinning(res: Results) -> list[str]:
    c = res.config
    nproc = res.get("nproc")
    lines = [
        "### p99 with the load generator on a core of its own",
        "",
        f"With wrk and the server on the same {nproc} cores, every latency above includes waiting for",
        "wrk to yield the CPU. Here the server (1 worker per listener) runs on CPU 1 only",
        f"(`taskset -c 1`) and wrk (1 thread, {c.connections} connections, {c.duration} s) on CPU 0 only; {c.first_read} switches,",
        "telemetryd at a 1 s interval (its ingest shares CPU 1):",
        "",
        f"Medians of {c.pin_rounds} rounds (each round's figures in brackets); each round starts a fresh daemon",
        "and measures it with its ingest threads as shipped and switched by `chrt`, in alternating order. \"HTTP threads preempted\"",
        "counts the involuntary context switches of telemetryd's threads other than the three ingest",
        "threads during the run (in practice, the metric listener's one worker): how often something",
        "took the core from it. The second telemetryd row is the same daemon with `chrt --other` having",
        "put its ingest threads back to normal scheduling (as shipped they are `SCHED_BATCH`, see",
        "`src/threads.rs`). The third is a fresh daemon whose update interval is 3600 s: every",
        "switch sampled once at start, then no ingest while wrk runs, so the worker has the core to",
        "itself as the baseline does.",
        "",
        "| server | route | req/s | p50 | p99 | server CPU | HTTP threads preempted |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    kinds = {kind: pinned(res, kind) for kind in PIN_KINDS}
    for label, route, kind in PIN_ROWS:
        p = kinds[kind]
        preempted = p.preempted if p.preempted == NA else f"{p.preempted} ({p.all_preempted})"
        lines.append(
            f"| {label} | {route} | {p.rps} ({p.all_rps}) | {p.p50} | **{p.p99}** ({p.all_p99}) "
            f"| {p.cpu} % | {preempted} |"
        )
    td, bs, bd = kinds["td.batch"], kinds["bl.small"], kinds["bl.dyn"]
    conns = c.connections
    lines += [
        "",
        f"Ratio telemetryd/baseline (medians): {times(ratio(td.rps, bs.rps))} of the static route, {times(ratio(td.rps, bd.rps))} of the dynamic one.",
        f"wrk keeps {conns} requests in flight, so the mean latency is {conns} / throughput (Little's law):",
        f"{little_ms(conns, bs.rps)} ms for the baseline at {bs.rps} req/s on one core, {little_ms(conns, td.rps)} ms for telemetryd at {td.rps} req/s.",
        f"A p99 under 2 ms at {conns} connections needs a mean well under 2 ms (over {f0(conns / 0.002)} req/s from",
    ]
    if not below(bs.p99, P99_TARGET_MS):
        lines += [
            "one core) with a narrow spread; actix-web itself, answering from memory with no middleware,",
            f"had a p99 of {bs.p99} ms here, so the target is beyond what actix-web does on one core of this",
            "machine at this connection count, before telemetryd adds any work of its own.",
        ]
    else:
        lines.append(f"one core) with a narrow spread, which the baseline achieved here (p99 {bs.p99} ms).")
    lines.append("")
    return lines


def info_level(res: Results) -> list[str]:
    c = res.config
    n = c.first_read
    warn = mean_of_rounds(res, f"td.{n}.small")
    info = wrk_run(res, f"td.{n}.small.info")
    logged = res.delta("info", "lines")
    logged_s = NA if logged is None else f0(logged)
    requests = number(info.reqs)
    lost = 0 if requests is None or logged is None else max(int(requests - logged), 0)
    a, b = number(info.rps), number(warn.rps)
    fewer = NA if a is None or not b else f0(100 * (1 - a / b))
    log_bytes = number(res.get("info.bytes"))
    mib = NA if log_bytes is None else f0(log_bytes / 1048576)
    dropped = sum(int(x) for x in res.get("info.dropped").split())
    skipped = sum(int(x) for x in res.get("info.skipped").split())
    lines = [
        "### Cost of a log line per request (level INFO)",
        "",
        f"Same small route, {n} switches, log level INFO (stderr to a file, request lines and",
        "their summaries), otherwise as above; one run at INFO, against the mean of the two WARNING rounds:",
        "",
        "| level | req/s | p50 | p99 | server CPU | requests | request lines logged | requests without a line |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        f"| WARNING | {warn.rps} | {warn.p50} | {warn.p99} | {warn.cpu} % | {warn.reqs} | 0 | (not logged at this level) |",
        f"| INFO | {info.rps} | {info.p50} | {info.p99} | {info.cpu} % | {info.reqs} | {logged_s} | {lost} |",
        "",
        f"At INFO the small route serves {fewer} % fewer requests per second than at WARNING",
        f"({mib} MiB of log in {c.duration} s, to a file; journald would be slower still).",
    ]
    if lost > 0:
        lines += [
            f"{logged_s} of {info.reqs} requests got their line",
            f"({f0(logged / c.duration)} lines/s; a listener writes at most 100 a second, README \"Logs\");",
            f"{skipped} were skipped and counted in the summary lines (`msg=\"HTTP request summary.\"`, with",
            f"the route's p50/p99/max), {dropped} dropped by a full queue (`msg=\"Log lines dropped.\"`).",
        ]
    else:
        lines.append("Every request got its line.")
    lines.append("")
    return lines


def prototype(res: Results) -> list[str]:
    f, last = res.config.first_read, res.config.last_read
    return [
        "### Against the prototype",
        "",
        "The issue quotes the Python prototype at *about 60 requests/s for 100 switches*. For",
        "context (not the same machine, and 10 to 100 times more switches): telemetryd answered",
        f"{mean_of_rounds(res, f'td.{f}.small').rps} req/s on the small route and {mean_of_rounds(res, f'td.{f}.json').rps} req/s on the whole-fabric `/telemetry/` at {f} switches,",
        f"and {mean_of_rounds(res, f'td.{last}.json').rps} req/s on `/telemetry/` ({mean_of_rounds(res, f'td.{last}.jsongz').rps} with gzip) at {last} switches.",
    ]


def http_profile(res: Results) -> list[str]:
    if not res.get("profile.small"):
        return []
    return [
        "",
        "### Where telemetryd's time goes",
        "",
        "`perf record --call-graph dwarf` of the whole daemon for 4 s of the same load at",
        f"{res.get('profile.n')} switches (separate, unmeasured wrk runs); each sample is counted under the first",
        "matching frame in its stack, so the shares are of all samples of the process (the rest of",
        f"the {res.get('nproc')} cores went to wrk and the kernel's loopback work on wrk's side).",
        "",
        "Small route, `/telemetry/switch-7/latency_ms`:",
        "",
        *res.get("profile.small").splitlines(),
        "",
        "`/telemetry/` with gzip (a new snapshot at most every 100 ms, rendered, hashed and",
        "gzipped by the first request that needs it while the others wait for it):",
        "",
        *res.get("profile.jsongz").splitlines(),
    ]


def ingest_row(run: Ingest) -> str:
    per_switch = number(run.hwm_kb)
    per_switch_s = NA if per_switch is None else "%.2f KB" % (per_switch / run.n)
    lag = run.lag
    return (
        f"| {run.label} | {lag.max} | {lag.p50} | {lag.missing} | {'yes' if run.ok else 'no'} "
        f"| {run.hset} | {run.reads} | {run.cpu} % | {run.switches} / {run.writer} / {run.cache} % "
        f"| {run.redis} % | {run.rss_mb} MB | {per_switch_s} | {run.ready_ms} ms |"
    )


def ingest_limits(res: Results, runs: list[Ingest]) -> list[str]:
    """What limits ingest, from the first run of the largest size (and the one before)."""
    sizes = sizes_run(runs)
    big = runs_of(runs, sizes[-1])[0]
    before = runs_of(runs, sizes[-2] if len(sizes) > 1 else sizes[-1])[0]
    threads = [number(x) for x in (big.switches, big.writer, big.cache)]
    saturated = "; one of them is saturated" if max((t or 0) for t in threads) >= 90 else ""
    hset, reads = number(big.hset), number(big.reads)
    rb_hset, rb_hgetall = number(res_rate(res, "hset")), number(res_rate(res, "hgetall"))
    short = ""
    if hset is not None and hset < 0.98 * big.n:
        short = (
            " (%.1f %% short of one per switch per second: samples superseded in the writer before they"
            " were sent, or switch timers firing late on a busy thread; this harness does not tell the two"
            " apart)" % (100 * (1 - hset / big.n))
        )
    # The share of Redis's own capacity the daemon's commands took.
    redis_share = None
    if None not in (hset, reads) and rb_hset and rb_hgetall:
        redis_share = hset / rb_hset + reads / rb_hgetall
    redis_limit = (
        "is not what limits the daemon"
        if redis_share is not None and redis_share < 0.8
        else "is close to its own limit too"
    )
    lines = [
        "",
        "### What limits ingest",
        "",
        f"At {big.n} switches, the largest fabric run, the daemon used {big.cpu} % of a core: {big.switches} % on the",
        f"switches' thread (timers, sample model, sending each sample to the writer), {big.writer} % on the",
        f"writer's (HSET pipelines, up to 4 in flight, and their replies) and {big.cache} % on the cache's",
        f"(read-back, merging, snapshots){saturated}.",
        f"Redis took {big.hset} HSET/s for {big.n} switches{short},",
        f"plus {big.reads} hash reads/s from the cache's read-back of Redis each interval,",
        f"using {big.redis} % of a core; redis-benchmark shows it can take {res_rate(res, 'hset')} such HSET/s and",
        f"{res_rate(res, 'hgetall')} HGETALL/s on this machine, so Redis {redis_limit}.",
    ]
    if before.n != big.n:
        a, b = number(before.hwm_kb), number(big.hwm_kb)
        growth = NA if a is None or b is None else f2((b - a) / (big.n - before.n))
        lines += [
            f"Memory grows by {growth} KB of peak RSS per added switch between {before.n} and {big.n} switches",
            "(per switch the daemon holds an actor with its mailbox and timer, a cache slot, its share",
            "of each published snapshot, and an entry in the writer while a sample waits).",
        ]
    return lines


def res_rate(res: Results, command: str) -> str:
    """redis-benchmark's requests/s for a command, whole."""
    r = number(res.get(f"rb.{command}"))
    return "" if r is None else f0(r)


def ingest(res: Results) -> list[str]:
    c = res.config
    runs = ingest_runs(res)
    lines = [
        "",
        "## b. Ingest",
        "",
        f"Largest fabric the daemon keeps in Redis at a {c.interval} s interval. For each size: a fresh",
        f"daemon (empty Redis, level WARNING), {c.ingest_warmup} s after start, then {c.ingest_samples} reads of every switch's",
        "`updated_at` with `examples/ingest_lag.rs` (pipelined HGET, 1000 keys per pipeline),",
        f"{c.ingest_every} s apart. CPU is (utime+stime) from `/proc/<pid>/stat` over that window (100 % = one",
        "core), split by thread: the switch actors, the writer and the cache run on a thread (an",
        "actix arbiter) each, named `switches`, `redis-writer` and `cache`; the writer and the cache",
        "have their own Redis connections. Peak RSS is VmHWM. HSET/s is Redis's `INFO commandstats` over the window:",
        "every sample reaches Redis when it equals the number of switches. Hash reads/s are the",
        "HGETALL, HMGET and HGET calls over the window, less ingest_lag's own HGETs. Sizes stop at the first",
        "that fails; one size between the last pass and the first failure is tried in addition.",
        "",
        "| switches | max age in Redis (ms) | worst p50 age (ms) | missing | every switch < 2000 ms | HSET/s in Redis | hash reads/s (cache read-back) | daemon CPU | switches / writer / cache thread | redis-server CPU | peak RSS | RSS per switch | ready after |",
        "|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    in_table = [r for n in sizes_run(runs) for r in runs_of(runs, n)]
    lines += [ingest_row(r) for r in in_table]
    maxes = "; ".join(f"{r.label}: {' '.join(r.lag.maxes)} ms" for r in in_table)
    lines += [
        "",
        f"Max ages of the {c.ingest_samples} reads, per run: {maxes}.",
        "",
        f"**Largest fabric sustained: {largest_sustained(runs)} switches** at a {c.interval} s interval (of the sizes tried; every run of it",
        "passed). The last size that passed and the first that failed were each run a second time,",
        "from a fresh daemon, because near the limit one run can go either way.",
        "",
        "Redis's own capacity for the same commands on this machine (`redis-benchmark`, 50",
        "clients, pipelines of 100, shares the cores with redis-server):",
        "",
        "| command | requests/s |",
        "|---|---:|",
        f"| `HSET telemetry:bench:<n>` with the daemon's 5 fields | {res_rate(res, 'hset')} |",
        f"| `HGETALL telemetry:bench:<n>` | {res_rate(res, 'hgetall')} |",
        f"| `HGET telemetry:bench:<n> updated_at` | {res_rate(res, 'hget')} |",
    ]
    if runs:
        lines += ingest_limits(res, runs)
    if res.get("profile.ingest"):
        lines += [
            "",
            f"### Where the ingest threads' time goes at {res.get('profile.ingest.n')} switches",
            "",
            "`perf record --call-graph dwarf -t <switches>,<writer>,<cache thread>` for 5 s after the lag samples; each",
            "sample is counted under the first matching frame in its stack:",
            "",
            *res.get("profile.ingest").splitlines(),
        ]
    return lines


@dataclass(frozen=True)
class Freshness:
    changes: str
    polls: str
    p50: str
    p99: str
    max: str
    min: str


def parse_freshness(line: str) -> Freshness:
    """probe.py freshness's line: changes= polls= p50_ms= p99_ms= max_ms= min_ms=."""
    values = dict(w.split("=", 1) for w in line.split() if "=" in w)
    return Freshness(
        *(values.get(k, NA) for k in ("changes", "polls", "p50_ms", "p99_ms", "max_ms", "min_ms"))
    )


def freshness_and_startup(res: Results) -> list[str]:
    c = res.config
    fr = parse_freshness(res.get("fresh"))
    empty, warm = res.get("start.empty"), res.get("start.warm")
    return [
        "",
        "## c. Freshness",
        "",
        "Time from a sample being taken (its `updated_at`) to the API showing it: 1000 switches at",
        f"{c.interval} s, no other load; `bench/probe.py freshness` polls",
        f"`/telemetry/switch-<n>/updated_at` for switches {c.fresh_switches} (switch-0 and four others, so",
        f"phases differ) every 5 ms for {c.fresh_seconds} s over one keep-alive connection and, for every change",
        "of a value, records (wall clock when first seen - updated_at). Polling every 5 ms adds up",
        "to 5 ms.",
        "",
        "| changes seen | polls | p50 | p99 | max | min |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {fr.changes} | {fr.polls} | {fr.p50} ms | {fr.p99} ms | {fr.max} ms | {fr.min} ms |",
        "",
        "The path: the writer flushes at least every 50 ms (`redis.flush_interval_ms`), the cache",
        "shows a sample once Redis confirmed it, and publishes at most one snapshot per 100 ms.",
        "",
        "## d. Start-up",
        "",
        f"Time from exec to `GET /readyz` answering 200 on both listeners, {c.startup_switches} switches",
        f"(`bench/probe.py startup` execs the daemon and polls both ports every 1 ms), {c.startup_runs} runs each:",
        "",
        "| Redis | runs (ms) | median |",
        "|---|---|---:|",
        f"| empty (FLUSHALL before each run) | {empty} | **{median(empty.split())} ms** |",
        f"| holding the previous run's fabric | {warm} | **{median(warm.split())} ms** |",
    ]


def hand_written(notes: str) -> list[str]:
    """The sections kept by hand in bench/notes.md: from its first heading on."""
    lines = notes.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("## ")), len(lines))
    kept = lines[start:]
    while kept and not kept[-1].strip():
        kept.pop()
    if not kept:
        return []
    return [
        "",
        *kept,
        "",
        "(Sections above written by hand in `bench/notes.md`; not measured by this run of",
        "`bench/run.sh`.)",
    ]


def ingest_targets(res: Results) -> list[str]:
    runs = ingest_runs(res)
    target = [r for r in runs_of(runs, INGEST_TARGET_SWITCHES) if r.lag.max]
    if not target:
        failed = first_failure(runs)
        if failed is not None and failed < INGEST_TARGET_SWITCHES:
            why = f"not run: {failed} switches already failed"
        else:
            why = "not run (100000 not among the sizes tried)"
        return [f"| 100k switches at 1 s (lag < 2 s, < 1 core, < 200 MB) | {why} | **not met** |"]

    def each(fmt):
        return "; ".join(fmt(r) for r in target)

    lag = each(lambda r: f"max age {r.lag.max} ms, {r.lag.missing} missing, {r.hset} HSET/s")
    cpu = each(lambda r: f"{r.cpu} % (threads: switches {r.switches} %, writer {r.writer} %, cache {r.cache} %)")
    rss = each(lambda r: f"peak {r.rss_mb} MB")
    return [
        f"| 100k switches at 1 s: every switch younger than 2 s in Redis | {lag} | {runs_verdict([r.ok for r in target])} |",
        f"| 100k switches at 1 s: under one core | {cpu} | {runs_verdict([below(r.cpu, 100) for r in target])} |",
        f"| 100k switches at 1 s: RSS under 200 MB | {rss} | {runs_verdict([below(r.rss_mb, RSS_TARGET_MB) for r in target])} |",
    ]


def targets(res: Results) -> list[str]:
    c = res.config
    last, nproc = c.last_read, res.get("nproc")
    lines = [
        "",
        "## Targets",
        "",
        "From the issue, each with the number measured above.",
        "",
        "| target | measured | |",
        "|---|---|---|",
    ]
    for n in c.read_sizes:
        td, bl = mean_of_rounds(res, f"td.{n}.small"), mean_of_rounds(res, f"bl.{n}.small")
        dyn = mean_of_rounds(res, f"bl.{n}.dyn")
        lines.append(
            f"| small route >= 0.8x baseline, {n} switches (p99 at {c.connections} connections with wrk on the same cores, see below) "
            f"| {times(ratio(td.rps, bl.rps))} ({td.rps} vs {bl.rps} req/s; {times(ratio(td.rps, dyn.rps))} against the baseline's dynamic route), "
            f"p99 {td.p99} ms (baseline {bl.p99} ms) | {bold_verdict(throughput_met(td.rps, bl.rps))} |"
        )
    for key, name in BIG_TARGETS:
        td, bl = mean_of_rounds(res, f"td.{last}.{key}"), mean_of_rounds(res, f"bl.{last}.{key}")
        lines.append(
            f"| {name} at {last} switches >= 0.8x baseline serving the same bytes "
            f"| {times(ratio(td.rps, bl.rps))} ({td.rps} vs {bl.rps} req/s) | {bold_verdict(throughput_met(td.rps, bl.rps))} |"
        )
    # The p99 target as the issue sets it: the whole process on this machine, wrk included.
    td_p99 = [mean_of_rounds(res, f"td.{n}.small").p99 for n in c.read_sizes]
    bl_p99 = [mean_of_rounds(res, f"bl.{n}.small").p99 for n in c.read_sizes]
    lines.append(
        f"| small route p99 < 2 ms at {c.connections} connections, whole process with wrk on the same {nproc} cores ({' / '.join(c.read_sizes)} switches) "
        f"| telemetryd {' / '.join(td_p99)} ms; baseline {' / '.join(bl_p99)} ms | {whole_process_p99_verdict(td_p99, bl_p99)} |"
    )
    if not c.have_pinning:
        lines.append(
            f"| small route p99 < 2 ms at {c.connections} connections, wrk on a core of its own | not measured: no taskset or fewer than 2 cores | **not met** |"
        )
    else:
        td, tq = pinned(res, "td.batch"), pinned(res, "td.quiet")
        bs, bd = pinned(res, "bl.small"), pinned(res, "bl.dyn")
        lines.append(
            f"| small route p99 < 2 ms at {c.connections} connections, wrk on a core of its own ({c.first_read} switches, median of {c.pin_rounds} rounds) "
            f"| telemetryd {td.p99} ms (rounds: {td.all_p99}), with its ingest quiet {tq.p99} ms; baseline {bs.p99} ms static, {bd.p99} ms dynamic "
            f"| {pinned_p99_verdict(td.p99, bs.p99, tq.p99)} |"
        )
    lines += ingest_targets(res)
    empty, warm = median(res.get("start.empty").split()), median(res.get("start.warm").split())
    lines.append(
        f"| start-up < 200 ms at {c.startup_switches} switches | median {empty} ms with empty Redis, {warm} ms with Redis holding the fabric "
        f"| {bold_verdict(startup_met([empty, warm]))} |"
    )
    bl, dyn, td = (mean_of_rounds(res, f"{k}.{last}.{r}") for k, r in (("bl", "small"), ("bl", "dyn"), ("td", "small")))
    if not below(bl.p99, P99_TARGET_MS):
        lines += [
            "",
            f"On p99: with wrk on the same {nproc} cores, the baseline itself answers the small route with a p99 of",
            f"{bl.p99} ms at {c.connections} connections ({dyn.p99} ms on the dynamic route), so \"p99 < 2 ms\" is out of",
            f"reach of actix-web itself on this machine under this load; telemetryd's p99 was {td.p99} ms.",
        ]
    return lines


def commands(res: Results) -> list[str]:
    c = res.config
    cmd = res.command
    lines = [
        "",
        "## Commands",
        "",
        "Everything above came from `bench/run.sh`, which ran, in this order:",
        "",
        "```sh",
        cmd("build"),
        cmd("redis"),
        "",
        "# a. read path: each daemon / baseline started alone, then its wrk runs; per size:",
        "#    telemetryd, [INFO run], baseline, baseline again, telemetryd again (same commands)",
    ]
    for n in c.read_sizes:
        lines.append(f"(cd bench/out && {cmd(f'daemon.read.{n}')})")
        lines += [cmd(f"td.{n}.{r}") for r in TD_ROUTES]
        if n == c.first_read:
            lines.append(f"(cd bench/out && {cmd('daemon.info')})")
            lines.append(cmd(f"td.{n}.small.info"))
        lines.append(cmd(f"baseline.{n}"))
        lines += [cmd(f"bl.{n}.{r}") for r in BL_ROUTES]
    lines.append(f"# telemetryd with its ingest quiet, {c.last_read} switches")
    lines.append(f"(cd bench/out && {cmd('daemon.quiet')})")
    lines += [cmd(f"quiet.{c.last_read}.{r}") for r in TD_ROUTES]
    if c.have_pinning:
        lines += [
            "# small route, server on CPU 1, wrk on CPU 0",
            f"(cd bench/out && {cmd('daemon.pinned')})",
            "# each round, in alternating order:",
            cmd("pin.chrt.batch"),
            cmd("pin.td.batch"),
            cmd("pin.chrt.normal"),
            cmd("pin.td.normal"),
            f"(cd bench/out && {cmd('daemon.pinned.quiet')})",
            cmd("pin.td.quiet"),
            cmd("baseline.pinned"),
            cmd("pin.bl.small"),
            cmd("pin.bl.dyn"),
        ]
    lines += [cmd(f"profile.{r}") for r in ("small", "jsongz") if cmd(f"profile.{r}")]
    order = " ".join(str(r.n) for r in ingest_runs(res))
    lines += [
        "",
        f"# b. ingest, N in order: {order}",
        f"(cd bench/out && {cmd('daemon.ingest')})",
        f"target/release/examples/ingest_lag --port {c.redis_port} --switches N   # {c.ingest_samples} times, {c.ingest_every} s apart, from {c.ingest_warmup} s after start",
    ]
    if res.get("profile.ingest"):
        lines.append(
            "perf record -F 199 --call-graph dwarf,32768 -t <switches>,<writer>,<cache thread> -- sleep 5"
            f"   # at {res.get('profile.ingest.n')} switches, after the lag samples"
        )
    lines += [
        cmd("rb.hset"),
        cmd("rb.hgetall"),
        cmd("rb.hget"),
        "",
        "# c. freshness",
        f"(cd bench/out && {cmd('daemon.fresh')})",
        cmd("fresh"),
        "",
        f"# d. start-up ({c.startup_runs} runs after redis-cli FLUSHALL, {c.startup_runs} without)",
        f"(cd bench/out && {cmd('startup')})",
        "```",
        "",
        f"Load average after the run: `{res.get('uptime_after').removeprefix(' ')}`.",
    ]
    return lines


def render(res: Results, notes: str) -> str:
    """BENCHMARKS.md for one run's results and the hand-written sections."""
    lines = header(res) + [""] + machine(res) + [""] + read_path(res) + quiet(res)
    if res.config.have_pinning:
        lines += pinning(res)
    lines += info_level(res) + prototype(res) + http_profile(res)
    lines += ingest(res) + freshness_and_startup(res) + hand_written(notes)
    lines += targets(res) + commands(res)
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- command line


def collect(stream, out: Path) -> None:
    """results.json from run.sh's NUL-separated (section, key, value) triples."""
    fields = stream.read().split("\0")
    data = {"config": {}, "figures": {}, "commands": {}}
    for section, key, value in zip(fields[0::3], fields[1::3], fields[2::3]):
        data[section][key] = value
    for section in data.values():
        section_sorted = dict(sorted(section.items()))
        section.clear()
        section.update(section_sorted)
    Path(out).write_text(json.dumps(data, indent=1) + "\n")


def main(argv: list[str]) -> int:
    if argv[:1] == ["collect"] and len(argv) == 2:
        collect(sys.stdin, Path(argv[1]))
        return 0
    if argv[:1] == ["kept-up"] and len(argv) == 2:
        return 0 if kept_up(parse_lag(Path(argv[1]).read_text())) else 1
    parser = argparse.ArgumentParser(description="Renders BENCHMARKS.md from bench/run.sh's results.")
    parser.add_argument("--results", default=ROOT / "bench/out/results.json", type=Path)
    parser.add_argument("--notes", default=ROOT / "bench/notes.md", type=Path)
    parser.add_argument("--out", default=ROOT / "BENCHMARKS.md", type=Path)
    args = parser.parse_args(argv)
    notes = args.notes.read_text() if args.notes.exists() else ""
    args.out.write_text(render(Results.load(args.results), notes))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
