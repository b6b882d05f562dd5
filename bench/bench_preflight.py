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


def run(jobs: int, forced: bool = False) -> tuple[float, PreflightReport]:
    start = time.perf_counter()
    kwargs = {"min_parallel_seconds": 0.0} if forced else {}
    report = run_matrix(objects(), targets(), jobs=jobs, **kwargs)
    return time.perf_counter() - start, report


def cold_run(jobs: int, forced: bool = False) -> dict[str, Any]:
    """One matrix in a fresh interpreter, as a CI invocation sees it (no warm caches)."""
    code = (
        "import json, resource, sys, time; sys.path.insert(0, sys.argv[1]); "
        "t0 = time.perf_counter(); import bench_preflight as b; "
        "wall, rep = b.run(int(sys.argv[2]), sys.argv[3] == '1'); "
        "ru = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]; "
        "cpu = sum(r.ru_utime + r.ru_stime for r in ru); "
        "print(json.dumps({'wall': wall, 'total': time.perf_counter() - t0, 'jobs': rep.jobs, "
        "'cpu': cpu, "
        "'cells': [[c.target.kind, c.seconds, c.status] for c in rep.cells]}))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent), str(jobs),
                          "1" if forced else "0"],
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
    configs = [("serial", 1, False), (f"{args.jobs} workers, adaptive (default)", args.jobs, False),
               (f"{args.jobs} workers, forced", args.jobs, True)]
    runs: dict[str, list[dict[str, Any]]] = {}
    for label, jobs, forced in configs:
        runs[label] = [cold_run(jobs, forced) for _ in range(args.repeat)]
        walls = [r["wall"] for r in runs[label]]
        totals = [r["total"] for r in runs[label]]
        used = sorted({r["jobs"] for r in runs[label]})
        cpu = min(r["cpu"] for r in runs[label])
        print(f"wall, {label:32s}: best {min(walls):.3f}s  median {statistics.median(walls):.3f}s"
              f"  (with imports: best {min(totals):.3f}s; CPU incl. workers {cpu:.2f}s; "
              f"processes used: {used})")
    best = {label: min(r["wall"] for r in rs) for label, rs in runs.items()}
    for label in list(best)[1:]:
        print(f"speed-up vs serial, {label}: {best['serial'] / best[label]:.2f}x")

    n_cells = len(objs) * len(tgts)
    serial_cpu = min(r["cpu"] for r in runs["serial"])
    print(f"per check, CPU (serial process CPU incl. imports / cells): "
          f"{serial_cpu / n_cells * 1e3:.2f} ms; load average now {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores (wall times above are only meaningful on an idle machine)")
    cells = runs["serial"][-1]["cells"]
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
