#!/usr/bin/env python3
"""Time ``bpfdoctor check`` on the largest ELF fixture and print the figures.

* in-process: ``run_check`` + JSON and text rendering, median of N runs (a fresh BpfObject
  each time, so nothing is cached between runs);
* the same split into phases (ELF image, programs + relocations, maps, BTF + CO-RE,
  inventory) for the first run, to show where the time goes;
* one cold subprocess ``python -m bpfdoctor check --format json`` (interpreter start and
  imports included), median of a few.

    python3 bench/bench_check.py [--runs N] [--object PATH]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures" / "elf"


def largest_fixture() -> Path:
    objs = sorted(FIXTURES.glob("**/*.o"), key=lambda p: p.stat().st_size, reverse=True)
    if not objs:
        sys.exit("no fixtures under fixtures/elf")
    return objs[0]


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument("--object", type=Path, default=None)
    args = parser.parse_args()
    path = (args.object or largest_fixture()).resolve()

    from bpfdoctor.check import run_check
    from bpfdoctor.commands.common import dump_json
    from bpfdoctor.elf import BpfObject
    from bpfdoctor.inventory import object_json
    from bpfdoctor.report.inventory_text import render

    data = path.read_bytes()
    shown = path.relative_to(REPO) if path.resolve().is_relative_to(REPO) else path
    print(f"object: {shown} ({len(data)} bytes)")

    # phases, one run
    obj = None

    def image() -> None:
        nonlocal obj
        obj = BpfObject.from_bytes(data, str(path))

    phases = {"ELF image": timed(image)}
    assert obj is not None
    phases["programs + relocations"] = timed(lambda: (obj.programs, obj.relocations))
    phases["BTF + BTF.ext"] = timed(lambda: (obj.btf, obj.btf_ext))
    phases["maps"] = timed(lambda: obj.maps)
    phases["inventory (incl. CO-RE describe)"] = timed(lambda: object_json(obj))
    for name, secs in phases.items():
        print(f"  phase {name:34s} {secs * 1000:8.2f} ms")

    def in_process_json() -> None:
        dump_json(run_check(BpfObject.from_bytes(data, str(path))).to_json())

    def in_process_text() -> None:
        render(run_check(BpfObject.from_bytes(data, str(path))))

    in_process_json()  # warm imports and caches of the knowledge base
    json_times = [timed(in_process_json) for _ in range(args.runs)]
    text_times = [timed(in_process_text) for _ in range(max(3, args.runs // 3))]
    print(
        f"in-process check --format json: median {statistics.median(json_times) * 1000:.2f} ms "
        f"(min {min(json_times) * 1000:.2f}, max {max(json_times) * 1000:.2f}, n={len(json_times)})"
    )
    print(
        f"in-process check (text tables):  median {statistics.median(text_times) * 1000:.2f} ms "
        f"(n={len(text_times)})"
    )

    cold = []
    for _ in range(args.cold_runs):
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "bpfdoctor", "check", "--format", "json", str(path)],
            capture_output=True,
        )
        cold.append(time.perf_counter() - t0)
        if proc.returncode not in (0, 1):
            sys.exit(f"bpfdoctor check failed: {proc.stderr.decode(errors='replace')}")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    bare = time.perf_counter() - t0
    print(
        f"cold subprocess check --format json: median {statistics.median(cold) * 1000:.1f} ms "
        f"(n={len(cold)}; bare python start {bare * 1000:.1f} ms)"
    )


if __name__ == "__main__":
    main()
