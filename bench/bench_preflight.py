#!/usr/bin/env python3
"""Preflight matrix benchmark: every fixture object against 20 targets.

Prints the wall time of the whole matrix on all cores and on one, and the cost of one check
(one object x one target cell, measured inside the worker) overall and per target kind.
Targets: this machine (live), no target, the hand-written Debian 6.1 profile, this kernel's
BTF, and 16 kernel versions from 4.14 to 6.12.

    python3 bench/bench_preflight.py [--jobs N] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from bpfdoctor.preflight import PreflightReport, run_matrix  # noqa: E402
from bpfdoctor.targets import TargetSpec, parse_target  # noqa: E402

VERSIONS = ("4.14", "4.19", "5.4", "5.8", "5.10", "5.11", "5.13", "5.15", "5.17", "6.0", "6.1",
            "6.2", "6.4", "6.6", "6.8", "6.12")


def targets() -> list[TargetSpec]:
    out = [parse_target("live"), parse_target("none"),
           parse_target(f"profile:{REPO / 'tests/data/debian-6.1.profile.json'},name=debian-6.1")]
    vmlinux = Path("/sys/kernel/btf/vmlinux")
    if vmlinux.exists():
        release = os.uname().release.split("-")[0]
        out.append(parse_target(f"btf:{vmlinux},kernel={release},name=this-btf"))
    else:
        out.append(parse_target("kernel:6.18,name=no-btf-fallback"))
    out += [parse_target(f"kernel:{v}") for v in VERSIONS]
    assert len(out) == 20
    return out


def objects() -> list[Path]:
    return sorted((REPO / "fixtures" / "elf").glob("**/*.bpf.o"))


def run(jobs: int) -> tuple[float, PreflightReport]:
    start = time.perf_counter()
    report = run_matrix(objects(), targets(), jobs=jobs)
    return time.perf_counter() - start, report


def cold_run(jobs: int) -> dict[str, float]:
    """One matrix in a fresh interpreter, as a CI invocation sees it (no warm caches)."""
    code = (
        "import json, sys, time; sys.path.insert(0, sys.argv[1]); "
        "t0 = time.perf_counter(); import bench_preflight as b; "
        "wall, rep = b.run(int(sys.argv[2])); "
        "print(json.dumps({'wall': wall, 'total': time.perf_counter() - t0, "
        "'cells': [[c.target.kind, c.seconds, c.status] for c in rep.cells]}))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent), str(jobs)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    objs, tgts = objects(), targets()
    print(f"matrix: {len(objs)} objects x {len(tgts)} targets = {len(objs) * len(tgts)} cells; "
          f"each run in a fresh interpreter")
    runs: dict[int, list[dict[str, Any]]] = {}
    for jobs in sorted({1, args.jobs}):
        runs[jobs] = [cold_run(jobs) for _ in range(args.repeat)]
        walls = [r["wall"] for r in runs[jobs]]
        totals = [r["total"] for r in runs[jobs]]
        print(f"wall, {jobs} worker(s): best {min(walls):.3f}s  median "
              f"{statistics.median(walls):.3f}s  (matrix only; with imports: best "
              f"{min(totals):.3f}s)  [{args.repeat} runs]")
    if len(runs) > 1:
        best1 = min(r["wall"] for r in runs[1])
        bestn = min(r["wall"] for r in runs[args.jobs])
        print(f"speed-up with {args.jobs} workers: {best1 / bestn:.2f}x")

    cells = runs[1][-1]["cells"]
    per = [c[1] for c in cells]
    print(f"per check (one cell, 1 worker, inside the worker): mean "
          f"{statistics.mean(per) * 1e3:.2f} ms, median {statistics.median(per) * 1e3:.2f} ms, "
          f"max {max(per) * 1e3:.2f} ms")
    by_kind: dict[str, list[float]] = defaultdict(list)
    for kind, seconds, _ in cells:
        by_kind[kind].append(seconds)
    for kind, times in sorted(by_kind.items()):
        print(f"  {kind:15s} {len(times):4d} cells  mean {statistics.mean(times) * 1e3:8.2f} ms  "
              f"median {statistics.median(times) * 1e3:7.2f} ms  total {sum(times):.3f}s")
    statuses: dict[str, int] = defaultdict(int)
    for _, _, status in cells:
        statuses[status] += 1
    print("cells: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))


if __name__ == "__main__":
    main()
