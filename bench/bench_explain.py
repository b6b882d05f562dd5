#!/usr/bin/env python3
"""Throughput and peak memory of `bpfdoctor explain` on a large level-2 verifier log.

The log is real: a small XDP program whose loop is too long for the verifier is built with
clang and loaded with `bpftool -d prog loadall` (log level 1+2+4) in a private mount namespace
with its own bpffs, so nothing is pinned or mounted outside it. That yields ~450 MB of log on a
6.x kernel (the verifier gives up at 1M instructions: the log ends with a real error); copies
are concatenated up to the requested size. Each measurement runs `bpfdoctor explain FILE
--format json` in a subprocess and reads its peak RSS from getrusage(RUSAGE_CHILDREN) in a
fresh intermediate process. Generated files are deleted afterwards.

    python3 bench/bench_explain.py               # 200 MB, and 1 GB when the disk allows
    python3 bench/bench_explain.py --sizes 200   # just 200 MB
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROGRAM = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 64);
         __type(key, __u32); __type(value, __u64); } counts SEC(".maps");
SEC("xdp")
int bench_loop(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u64 acc = 0;
	for (int i = 0; i < 200; i++) {
		__u32 k = i & 63;
		__u64 *v = bpf_map_lookup_elem(&counts, &k);
		if (v) { if (*v & 1) acc += *v; else acc ^= i; }
		if (data + i + 1 <= end && ((unsigned char *)data)[i] == 7) acc++;
	}
	return acc & 1 ? XDP_PASS : XDP_DROP;
}
char LICENSE[] SEC("license") = "GPL";
"""


def generate_seed_log(workdir: Path) -> Path:
    """Build and load the program once; return the file holding bpftool's -d output."""
    clang = shutil.which("clang-19") or shutil.which("clang")
    if clang is None or shutil.which("bpftool") is None or shutil.which("unshare") is None:
        sys.exit("bench needs clang(-19), bpftool and unshare")
    src = workdir / "bench_loop.bpf.c"
    obj = workdir / "bench_loop.bpf.o"
    src.write_text(PROGRAM)
    subprocess.run([clang, "-O2", "-g", "-target", "bpf", "-c", str(src), "-o", str(obj)],
                   check=True)
    log = workdir / "seed.log"
    script = ('mount -t bpf bpf /sys/fs/bpf && exec bpftool -d prog loadall "$0" '
              "/sys/fs/bpf/bpfdoctor_bench")
    with log.open("wb") as out:
        subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script,
                        str(obj)], stdout=out, stderr=subprocess.STDOUT, check=False)
    if log.stat().st_size < 1 << 20:
        sys.exit(f"bpftool produced only {log.stat().st_size} bytes; see {log}")
    return log


def build(seed: Path, target: Path, size_mb: int) -> int:
    want = size_mb * 1_000_000
    written = 0
    with target.open("wb") as out:
        while written < want:
            with seed.open("rb") as src:
                shutil.copyfileobj(src, out, 8 << 20)
            written = out.tell()
    return written


def measure(path: Path) -> dict[str, float]:
    """Run explain in a fresh intermediate process so RUSAGE_CHILDREN sees only explain."""
    out = subprocess.run([sys.executable, __file__, "--measure", str(path)],
                         capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout))


def _measure_child(path: str) -> None:
    cmd = [sys.executable, "-m", "bpfdoctor", "explain", path, "--format", "json"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    doc = json.loads(proc.stdout)
    primary = doc["diagnoses"][0]["rule"] if doc["diagnoses"] else None
    print(json.dumps({"seconds": elapsed, "peak_rss_mb": peak_kib / 1024, "exit": proc.returncode,
                      "primary": primary, "lines": doc["stats"]["lines"]}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 1000],
                        help="log sizes in MB (default: 200 1000)")
    parser.add_argument("--dir", type=Path, default=None, help="where to write the logs")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        _measure_child(args.measure)
        return 0
    results = []
    with tempfile.TemporaryDirectory(prefix="bpfdoctor-bench-", dir=args.dir) as tmp:
        workdir = Path(tmp)
        seed = generate_seed_log(workdir)
        print(f"seed log: {seed.stat().st_size / 1e6:.0f} MB from bpftool -d", file=sys.stderr)
        for size in args.sizes:
            if shutil.disk_usage(workdir).free < (size + 200) * 1_000_000:
                print(f"skip {size} MB: not enough free disk", file=sys.stderr)
                continue
            path = workdir / f"level2-{size}mb.log"
            nbytes = build(seed, path, size)
            res = measure(path)
            path.unlink()
            res.update(size_mb=nbytes / 1e6, mb_per_s=nbytes / 1e6 / res["seconds"])
            results.append(res)
            print(f"{nbytes / 1e6:7.0f} MB  {res['seconds']:6.2f} s  "
                  f"{res['mb_per_s']:6.1f} MB/s  peak RSS {res['peak_rss_mb']:5.1f} MB  "
                  f"primary {res['primary']}", file=sys.stderr)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
