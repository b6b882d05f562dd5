#!/usr/bin/env python3
"""Time ``check --load`` (our bpf() loader) against ``bpftool prog loadall`` on the same objects.

Both run in one go, object after object, as subprocesses (what a user types), N times each;
the median per object and the totals are printed. bpftool runs in a private mount namespace
with its own bpffs (it must pin what it loads), so it pays for ``unshare`` + ``mount`` too;
that overhead is measured separately (``true`` in the same wrapper) and reported.

Usage: sudo python3 bench/bench_load.py [--repeat N] [OBJ...]   (default: every fixture)
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WRAP = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
        'd=$(mktemp -d) && mount -t bpf bpf "$d" && shift && "$@" "$d/p"; r=$?; exit $r', "sh", "x"]


def timed(argv: list[str]) -> tuple[float, int]:
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, check=False, cwd=ROOT)
    return time.perf_counter() - start, proc.returncode


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("objects", nargs="*")
    args = ap.parse_args()
    objs = args.objects or sorted(str(p.relative_to(ROOT)) for p in (ROOT / "fixtures/elf").rglob("*.bpf.o"))
    ours_total = theirs_total = 0.0
    print(f"{'object':48} {'check --load':>13} {'bpftool loadall':>16}  rc(ours/bpftool)")
    for obj in objs:
        ours = [timed([sys.executable, "-m", "bpfdoctor", "check", "--load", "-f", "json", obj])
                for _ in range(args.repeat)]
        theirs = [timed([*WRAP, "bpftool", "prog", "loadall", obj]) for _ in range(args.repeat)]
        o = statistics.median(t for t, _ in ours)
        b = statistics.median(t for t, _ in theirs)
        ours_total += o
        theirs_total += b
        print(f"{obj:48} {o:12.3f}s {b:15.3f}s  {ours[0][1]}/{theirs[0][1]}")
    wrap = statistics.median(timed([*WRAP, "true"])[0] for _ in range(5))
    start = statistics.median(timed([sys.executable, "-m", "bpfdoctor", "--help"])[0] for _ in range(3))
    print(f"{'TOTAL (' + str(len(objs)) + ' objects, medians)':48} {ours_total:12.3f}s {theirs_total:15.3f}s")
    print(f"fixed costs: python start + bpfdoctor import {start:.3f}s per run; "
          f"bpftool's namespace+bpffs wrapper {wrap:.3f}s per run")


if __name__ == "__main__":
    main()
