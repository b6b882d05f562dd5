"""Benchmark: Btf.from_bytes(vmlinux) + name index vs ``bpftool btf dump ... format raw``.

Run: ``python3 bench/bench_btf.py [--runs N] [--btf PATH]``. Prints medians in ms and the
ratio (ours / bpftool). Also times a cold ``python3 -c 'import bpfdoctor.btf; parse'`` to show
what a CLI invocation pays. Not a test: timings never gate CI.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bpfdoctor.btf import Btf


def _median_ms(fn: object, runs: int) -> float:
    assert callable(fn)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--btf", type=Path, default=Path("/sys/kernel/btf/vmlinux"))
    args = ap.parse_args()
    if not args.btf.exists():
        print(f"{args.btf} does not exist", file=sys.stderr)
        return 2
    data = args.btf.read_bytes()
    load = os.getloadavg()[0]
    print(f"load average (1 min): {load:.2f} on {os.cpu_count()} CPUs")

    def ours() -> None:
        Btf.from_bytes(data, source=str(args.btf)).build_index()

    ours()  # warm up allocator and imports
    bpftool = shutil.which("bpftool")
    cmd = [bpftool or "bpftool", "btf", "dump", "file", str(args.btf), "format", "raw"]

    def run_bpftool() -> None:
        subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)

    # Interleave the two so that load from other processes hits both alike.
    ours_samples: list[float] = []
    tool_samples: list[float] = []
    for _ in range(args.runs):
        ours_samples.append(_median_ms(ours, 1))
        if bpftool is not None:
            tool_samples.append(_median_ms(run_bpftool, 1))
    ours_ms = statistics.median(ours_samples)
    btf = Btf.from_bytes(data)
    print(f"types: {btf.type_count}, blob: {len(data)} bytes")
    print(
        f"bpfdoctor parse+index (median of {args.runs}): {ours_ms:8.2f} ms"
        f" (min {min(ours_samples):.2f})"
    )
    btf.build_index()
    names = [
        "task_struct",
        "sk_buff",
        "bpf_prog_type",
        "pid_t",
        "xdp_md",
        "list_head",
        "bpf_map",
        "file",
        "inode",
        "net_device",
    ]
    start = time.perf_counter()
    for name in names:  # first lookups: each scans the string section once
        btf.find(name)
    uncached = (time.perf_counter() - start) * 1000 / len(names)
    print(f"bpfdoctor find(name), first time per name:    {uncached:8.3f} ms")
    if tool_samples:
        tool_ms = statistics.median(tool_samples)
        print(
            f"bpftool btf dump format raw (median of {args.runs}): {tool_ms:8.2f} ms"
            f" (min {min(tool_samples):.2f})"
        )
        print(
            f"ratio ours/bpftool: median {ours_ms / tool_ms:.2f},"
            f" best-of {min(ours_samples) / min(tool_samples):.2f}"
        )
    else:
        print("bpftool not found: no comparison")

    script = (
        "import time;t=time.perf_counter();from bpfdoctor.btf import Btf;"
        f"b=Btf.from_bytes(open({str(args.btf)!r},'rb').read());b.build_index();"
        "print((time.perf_counter()-t)*1000)"
    )
    cold = [
        float(
            subprocess.run(
                [sys.executable, "-c", script], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(5)
    ]
    start_ms = _median_ms(
        lambda: subprocess.run([sys.executable, "-c", script], capture_output=True, check=True), 5
    )
    print(f"cold import+read+parse+index in a fresh interpreter: {statistics.median(cold):8.2f} ms")
    print(f"whole fresh interpreter process (python startup included): {start_ms:8.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
