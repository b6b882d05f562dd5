#!/usr/bin/env python3
"""Time ``check --load`` (our bpf() loader) against ``bpftool prog loadall`` on the same objects.

Both run in one go, object after object, as subprocesses (what a user types), N times each;
the median per object and the totals are printed. A third column times our loader alone,
in-process (``load_object``: BTF, maps, relocation, every BPF_PROG_LOAD, no explain, no
Python start-up), which is the part comparable to what bpftool does. bpftool runs in a private mount namespace
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
        'd=$(mktemp -d) && mount -t bpf bpf "$d" && mount -t bpf bpf /sys/fs/bpf && shift && '
        '"$@" "$d/p"; r=$?; exit $r', "sh", "x"]  # /sys/fs/bpf: for maps with pinning=by_name


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
    sys.path.insert(0, str(ROOT / "src"))
    from bpfdoctor.elf.object import BpfObject
    from bpfdoctor.probe.loader.load import load_object

    ours_total = theirs_total = inproc_total = 0.0
    print(f"{'object':52} {'check --load':>12} {'loader only':>12} {'bpftool':>10}  rc(ours/bpftool)")
    for obj in objs:
        inproc = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            load_object(BpfObject.open(ROOT / obj))
            inproc.append(time.perf_counter() - start)
        ours = [timed([sys.executable, "-m", "bpfdoctor", "check", "--load", "-f", "json", obj])
                for _ in range(args.repeat)]
        theirs = [timed([*WRAP, "bpftool", "prog", "loadall", obj]) for _ in range(args.repeat)]
        o = statistics.median(t for t, _ in ours)
        b = statistics.median(t for t, _ in theirs)
        i = statistics.median(inproc)
        ours_total += o
        theirs_total += b
        inproc_total += i
        print(f"{obj:52} {o:11.3f}s {i:11.3f}s {b:9.3f}s  {ours[0][1]}/{theirs[0][1]}")
    wrap = statistics.median(timed([*WRAP, "true"])[0] for _ in range(5))
    start = statistics.median(timed([sys.executable, "-m", "bpfdoctor", "--help"])[0] for _ in range(3))
    label = f"TOTAL ({len(objs)} objects, medians of {args.repeat})"
    print(f"{label:52} {ours_total:11.3f}s {inproc_total:11.3f}s {theirs_total:9.3f}s")
    print(f"fixed costs: python start + bpfdoctor import {start:.3f}s per run; "
          f"bpftool's namespace+bpffs wrapper {wrap:.3f}s per run")


if __name__ == "__main__":
    main()
