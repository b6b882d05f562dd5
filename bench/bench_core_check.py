#!/usr/bin/env python3
"""CO-RE against a kernel's BTF: ``bpfdoctor check OBJ --kernel-btf VMLINUX`` next to
``bpftool gen min_core_btf VMLINUX OUT OBJ`` on the same inputs, in one run.

Both read the whole vmlinux BTF and resolve every CO-RE relocation of the object against it
(bpftool to keep the types the relocations touch, bpfdoctor to report the ones that fail, and
all its other checks). The object is the fixture with the most CO-RE relocations that bpftool
can open (it refuses big-endian objects on a little-endian host).

Rows, medians of N runs:

* bpftool: the ``bpftool gen min_core_btf`` process;
* bpfdoctor CLI: ``python -m bpfdoctor check --format json`` process (interpreter start and
  imports included; byte-code cached);
* bpfdoctor in-process: ``run_check`` with the target resolved afresh each run (reading and
  indexing the vmlinux BTF included), then the CO-RE relocations alone.

Issue 5's target is "no slower"; the ratio printed is bpfdoctor / bpftool.

    python3 bench/bench_core_check.py [--runs 7] [--btf /sys/kernel/btf/vmlinux] [--object O]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SRC = str(REPO / "src")
FIXTURES = REPO / "fixtures" / "elf"
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ENV.update(PYTHONPATH=SRC, CI="true",
           PYTHONPYCACHEPREFIX=os.path.join(tempfile.gettempdir(), "bpfdoctor-bench-pycache"))


def median_ms(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def core_count(path: Path) -> int:
    from bpfdoctor.elf.object import BpfObject

    try:
        obj = BpfObject.open(path)
        ext = obj.btf_ext
        return sum(len(r) for r in ext.core_relos.values()) if ext is not None else 0
    except Exception:  # a fixture that does not open has no relocations to time
        return -1


def bpftool_accepts(btf: Path, obj: Path, out: Path) -> bool:
    res = subprocess.run(["bpftool", "gen", "min_core_btf", str(btf), str(out), str(obj)],
                         capture_output=True)
    return res.returncode == 0


def pick_object(btf: Path, out: Path) -> Path:
    ranked = sorted(FIXTURES.glob("**/*.bpf.o"), key=core_count, reverse=True)
    for obj in ranked:
        if bpftool_accepts(btf, obj, out):
            return obj
        print(f"  skipping {obj.relative_to(REPO)}: bpftool cannot open it", file=sys.stderr)
    sys.exit("no fixture that bpftool gen min_core_btf accepts")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--btf", type=Path, default=Path("/sys/kernel/btf/vmlinux"))
    ap.add_argument("--object", type=Path, default=None)
    args = ap.parse_args()
    if shutil.which("bpftool") is None:
        sys.exit("bpftool is not installed")
    if not args.btf.exists():
        sys.exit(f"{args.btf} does not exist")
    sys.path.insert(0, SRC)
    from bpfdoctor.btf import Btf, calc_relos
    from bpfdoctor.check import run_check
    from bpfdoctor.elf.object import BpfObject
    from bpfdoctor.targetload import _resolve
    from bpfdoctor.targets import parse_target

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "min.btf"
        obj = args.object or pick_object(args.btf, out)
        n_relos = core_count(obj)
        spec = parse_target(f"btf:{args.btf}")

        def tool() -> None:
            subprocess.run(["bpftool", "gen", "min_core_btf", str(args.btf), str(out),
                            str(obj)], check=True, capture_output=True)

        def cli() -> None:
            subprocess.run([sys.executable, "-m", "bpfdoctor", "check", str(obj),
                            "--kernel-btf", str(args.btf), "--format", "json"],
                           capture_output=True, env=ENV)

        def in_process() -> None:
            _resolve.cache_clear()
            run_check(obj, spec)

        raw = args.btf.read_bytes()

        def core_only() -> None:
            target = Btf.from_bytes(raw)
            o = BpfObject.open(obj)
            assert o.btf is not None and o.btf_ext is not None
            calc_relos(o.btf_ext.core_relos, o.btf, target)

        cli()  # warm the byte-code cache
        t_tool = median_ms(tool, args.runs)
        t_cli = median_ms(cli, args.runs)
        t_proc = median_ms(in_process, args.runs)
        try:
            t_core: float | None = median_ms(core_only, args.runs)
        except (TypeError, AttributeError, AssertionError) as exc:
            print(f"  CO-RE-only timing unavailable: {exc}", file=sys.stderr)
            t_core = None

    print(f"object: {obj.relative_to(REPO) if obj.is_relative_to(REPO) else obj} "
          f"({n_relos} CO-RE relocations); kernel BTF: {args.btf} "
          f"({args.btf.stat().st_size} bytes); median of {args.runs} runs")
    print(f"  bpftool gen min_core_btf       {t_tool:8.1f} ms")
    print(f"  bpfdoctor check (CLI process)  {t_cli:8.1f} ms   ratio {t_cli / t_tool:5.1f}x")
    print(f"  bpfdoctor run_check in-process {t_proc:8.1f} ms   ratio {t_proc / t_tool:5.1f}x")
    if t_core is not None:
        print(f"  bpfdoctor BTF + CO-RE only     {t_core:8.1f} ms   ratio {t_core / t_tool:5.1f}x")
    print("target (issue 5): no slower than bpftool -> "
          f"{'met' if t_cli <= t_tool else 'NOT met'} for the CLI, "
          f"{'met' if t_proc <= t_tool else 'NOT met'} in-process")


if __name__ == "__main__":
    main()
