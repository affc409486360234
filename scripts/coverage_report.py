#!/usr/bin/env python3
"""Reads cargo-tarpaulin's JSON report and prints line coverage of src/ per module (a
top-level file, or a folder of src/), then the total; exits 1 when the total is below the
floor (a percentage, the first number in the floor file).

    scripts/coverage_report.py target/coverage/tarpaulin-report.json .ci/coverage-floor
"""
import json
import sys
from collections import defaultdict


def module_of(parts):
    """`src/cache/bodies.rs` -> `cache/`, `src/config.rs` -> `config.rs`."""
    rel = parts[parts.index("src") + 1:]
    return rel[0] + "/" if len(rel) > 1 else rel[0]


def per_module(report):
    """{module: [covered, coverable]} over the files of src/."""
    totals = defaultdict(lambda: [0, 0])
    for f in report["files"]:
        parts = list(f["path"])
        if "src" not in parts:
            continue
        covered = sum(1 for t in f["traces"] if t["stats"].get("Line", 0) > 0)
        coverable = len(f["traces"])
        entry = totals[module_of(parts)]
        entry[0] += covered
        entry[1] += coverable
    return dict(totals)


def percent(covered, coverable):
    return 100.0 * covered / coverable if coverable else 100.0


def render(modules):
    lines = ["| module | lines covered | coverage |", "|---|---|---|"]
    for name in sorted(modules):
        c, n = modules[name]
        lines.append(f"| `{name}` | {c} / {n} | {percent(c, n):.1f} % |")
    c = sum(v[0] for v in modules.values())
    n = sum(v[1] for v in modules.values())
    lines.append(f"| **total** | {c} / {n} | **{percent(c, n):.2f} %** |")
    return "\n".join(lines), percent(c, n)


def main(report_path, floor_path):
    with open(report_path) as f:
        report = json.load(f)
    with open(floor_path) as f:
        floor = float(f.read().split()[0])
    table, total = render(per_module(report))
    print(table)
    if total < floor:
        print(f"coverage {total:.2f} % is below the floor of {floor} % ({floor_path})",
              file=sys.stderr)
        return 1
    print(f"coverage {total:.2f} % (floor {floor} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
