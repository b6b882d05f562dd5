"""Probe speed: bpfdoctor's full probe against `bpftool feature probe kernel`, and the
BTF-only (unprivileged) probe. Prints medians of N runs, and how much each one probes.

    python3 bench/bench_probe.py [--runs 5]

Targets (issue 4): full probe no slower than bpftool while probing more; BTF-only probe
under 150 ms. Wall-clock figures include interpreter start-up for the CLI rows; the
in-process rows time ``capture()`` alone.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

SRC = str(Path(__file__).resolve().parent.parent / "src")
# Byte-code caching on, kept outside the tree: with PYTHONDONTWRITEBYTECODE (set on some CI
# images) every CLI start recompiles ~80 modules, which is not what users pay.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ENV.update(PYTHONPATH=SRC, CI="true",
           PYTHONPYCACHEPREFIX=os.path.join(tempfile.gettempdir(), "bpfdoctor-bench-pycache"))


def timed(fn: Callable[[], object], runs: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        t = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), result


def run(cmd: list[str]) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, env=ENV, check=True).stdout


def count_profile(doc: dict[str, object]) -> tuple[int, int]:
    """(items, items including per-program-type helper answers)."""
    features = doc["features"]
    assert isinstance(features, dict)
    items = sum(len(g) for g in features.values())
    per_type = sum(len(f.get("by_prog_type", {})) for g in features.values() for f in g.values())
    return items, items + per_type


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    runs = ap.parse_args().runs
    sys.path.insert(0, SRC)
    from bpfdoctor.probe.capture import capture

    run([sys.executable, "-m", "bpfdoctor", "probe", "--btf-only", "-o", os.devnull])  # warm
    rows: list[tuple[str, float, str]] = []
    if shutil.which("bpftool"):
        ms, out = timed(lambda: run(["bpftool", "feature", "probe", "kernel"]), runs)
        assert isinstance(out, str)
        answers = sum(1 for line in out.splitlines()
                      if " is available" in line or " is NOT available" in line
                      or line.startswith("\t- ") or " is set to " in line
                      or " is not set" in line)
        rows.append(("bpftool feature probe kernel (CLI)", ms, f"{answers} answers"))
    ms, out = timed(lambda: run([sys.executable, "-m", "bpfdoctor", "probe", "--format",
                                 "json"]), runs)
    assert isinstance(out, str)
    items, with_types = count_profile(json.loads(out))
    rows.append(("bpfdoctor probe --format json (CLI)", ms,
                 f"{items} items, {with_types} answers with helpers per program type"))
    ms, prof = timed(capture, runs)
    rows.append(("capture() full, in-process", ms,
                 f"live={getattr(getattr(prof, 'probe', None), 'live', None)}"))
    ms, _ = timed(lambda: capture(btf_only=True), runs)
    rows.append(("capture(btf_only=True), in-process", ms, "no bpf() calls"))
    ms, out = timed(lambda: run([sys.executable, "-m", "bpfdoctor", "probe", "--btf-only",
                                 "--format", "json"]), runs)
    rows.append(("bpfdoctor probe --btf-only (CLI)", ms, ""))
    if shutil.which("setpriv") and os.geteuid() == 0:
        ms, out = timed(lambda: run(["setpriv", "--bounding-set=-all", "--inh-caps=-all",
                                     sys.executable, "-m", "bpfdoctor", "probe", "--format",
                                     "json"]), runs)
        assert isinstance(out, str)
        doc = json.loads(out)
        rows.append(("bpfdoctor probe, no capabilities (CLI)", ms,
                     f"live={doc['probe']['live']}, {count_profile(doc)[0]} items"))
    ms, _ = timed(lambda: run([sys.executable, "-c", "pass"]), runs)
    rows.append(("python3 -c pass (interpreter start-up)", ms, "floor for the CLI rows"))
    width = max(len(r[0]) for r in rows)
    print(f"median of {runs} runs, {os.uname().release}, load {os.getloadavg()[0]:.2f}")
    for name, ms, note in rows:
        print(f"  {name:<{width}}  {ms:8.1f} ms  {note}")


if __name__ == "__main__":
    main()
