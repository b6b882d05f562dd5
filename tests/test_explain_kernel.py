"""Live: load failing programs on this kernel with `bpftool -d prog loadall`, explain the real
output, check the diagnosis. Each load runs in a private mount namespace with its own bpffs,
so nothing is mounted or pinned outside it and nothing outlives the load."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from bpfdoctor.explain import explain_text

REPO = Path(__file__).resolve().parent.parent
MANIFEST = REPO / "fixtures" / "elf" / "manifest.toml"

pytestmark = [pytest.mark.kernel, pytest.mark.bpftool]


def load_with_bpftool(obj: Path, drop_caps: str | None = None) -> str:
    """bpftool -d output (libbpf debug + verifier log levels 1|2|4) of loading ``obj``.

    ``drop_caps`` ("perfmon,sys_admin") loads as a CAP_BPF-only service would, the way the
    fixture survey recorded it (manifest ``live_result.dropped_caps``)."""
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1) for a private bpffs")
    loader = ["bpftool", "-d", "prog", "loadall", str(obj), "/sys/fs/bpf/bpfdoctor_t"]
    if drop_caps:
        if shutil.which("setpriv") is None:
            pytest.skip("needs setpriv(1) to drop capabilities")
        caps = ",".join(f"-{c.strip()}" for c in drop_caps.split(","))
        loader = ["setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}", *loader]
    script = 'mount -t bpf bpf /sys/fs/bpf && exec "$@"'
    out = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", *loader],
        capture_output=True, text=True, errors="replace", timeout=120,
    )
    return out.stdout + out.stderr


def _fail_fixtures() -> list[Any]:
    if not MANIFEST.is_file():
        return [pytest.param(None, marks=pytest.mark.skip(reason="no fixtures/elf/manifest.toml"))]
    objects = tomllib.loads(MANIFEST.read_text())["object"]
    return [
        pytest.param(o, id=o["name"])
        for o in objects
        if o.get("kind") == "fail" and o.get("expected_category")
    ]


@pytest.mark.parametrize("fixture", _fail_fixtures())
def test_fail_fixture_live(fixture: dict[str, Any]) -> None:
    obj = REPO / "fixtures" / "elf" / fixture["object"]
    if not obj.is_file():
        pytest.skip(f"{obj} not built")
    log = load_with_bpftool(obj, fixture.get("live_result", {}).get("dropped_caps"))
    result = explain_text(log, source=fixture["name"])
    assert result.outcome == "failed", log[-2000:]
    assert result.diagnoses, f"no diagnosis for {fixture['name']}:\n{log[-2000:]}"
    primary = result.diagnoses[0]
    assert primary.category.value == fixture["expected_category"], (
        f"{fixture['name']}: {primary.rule} {primary.category.value}\n{log[-1500:]}"
    )
    if primary.rule.startswith("VF") and result.stats.insns_processed:
        assert primary.evidence


SEED_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("xdp")
int unrelocated(struct xdp_md *ctx)
{
    long *v;
    /* what an object looks like to a loader that does not relocate maps: r1 = 0 */
    asm volatile("r0 = 0\n r1 = 0 ll\n r2 = r10\n r2 += -4\n *(u32 *)(r10 -4) = r0\n"
             " call 1\n %0 = r0" : "=r"(v) :: "r0", "r1", "r2", "r3", "r4", "r5");
    return v ? 1 : 2;
}
char LICENSE[] SEC("license") = "GPL";
"""

UNKNOWN_HELPER_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("xdp")
int unknown_helper(struct xdp_md *ctx)
{
    asm volatile("call 999" ::: "r0", "r1", "r2", "r3", "r4", "r5");
    return 2;
}
char LICENSE[] SEC("license") = "GPL";
"""

PASS_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("xdp")
int pass(struct xdp_md *ctx) { return XDP_PASS; }
char LICENSE[] SEC("license") = "GPL";
"""


def _build(tmp_path: Path, name: str, source: str) -> Path:
    from conftest import clang_for_bpf

    clang = clang_for_bpf()
    assert clang is not None
    src = tmp_path / f"{name}.bpf.c"
    src.write_text(source)
    obj = tmp_path / f"{name}.bpf.o"
    subprocess.run([clang, "-O2", "-g", "-target", "bpf", "-c", str(src), "-o", str(obj)],
                   check=True, capture_output=True)
    return obj


@pytest.mark.clang
def test_seed_unrelocated_map_live(tmp_path: Path) -> None:
    result = explain_text(load_with_bpftool(_build(tmp_path, "seed", SEED_C)))
    d = result.diagnoses[0]
    assert (d.rule, d.category.value) == ("VF001", "map-ptr-scalar")
    assert dict(d.captures)["cause"] == "unrelocated-map"
    assert d.program == "unrelocated"
    assert d.insn is not None and d.source_line is not None and "seed.bpf.c" in d.source_line


@pytest.mark.clang
def test_unknown_helper_live(tmp_path: Path) -> None:
    result = explain_text(load_with_bpftool(_build(tmp_path, "unknown", UNKNOWN_HELPER_C)))
    d = result.diagnoses[0]
    assert (d.rule, d.category.value) == ("VF025", "helper-unavailable")
    assert dict(d.captures)["helper_id"] == "999"


@pytest.mark.clang
def test_successful_load_live(tmp_path: Path) -> None:
    result = explain_text(load_with_bpftool(_build(tmp_path, "pass", PASS_C)))
    assert result.outcome == "loaded"
    assert [d for d in result.diagnoses if d.severity.value == "error"] == []
    assert result.stats.insns_processed is not None
