"""check --load on the live kernel: verdicts vs bpftool, expected categories, nothing left behind,
Ctrl-C, no privileges. Never attaches anything."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from bpfdoctor.check import run_check
from bpfdoctor.elf.object import BpfObject
from bpfdoctor.loadcheck import merge
from bpfdoctor.probe.loader.load import LoadOptions, load_object

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "fixtures" / "elf"
MANIFEST = tomllib.loads((FIX / "manifest.toml").read_text())["object"]
FAIL = [o for o in MANIFEST if o["kind"] == "fail"]
LOADFAIL = tomllib.loads((FIX / "loadfail" / "manifest.toml").read_text())["object"]
ALL = [o["object"] for o in MANIFEST] + [f"loadfail/{o['object']}" for o in LOADFAIL]
# bpftool's libbpf 1.1 stops before loading any program on these (big-endian objects, legacy
# `maps`, iproute2 map definitions, map_extra as __ulong, SEC names newer than 1.1); our loader
# handles them, so there is no bpftool verdict to compare with.
# The verifier walks a million instructions in these; bpftool -d prints every one of them (about
# 30 s each here). The fixtures manifest records bpftool's verdict for loop_too_complex
# (E2BIG), and nested_loops_too_large was compared once by hand (E2BIG both); the test below
# checks our verdict for them without re-running bpftool.
TOO_LARGE = ("fail/loop_too_complex.bpf.o", "loadfail/nested_loops_too_large.bpf.o")
LIBBPF_LIMITS = ("loader-unsupported", "section-unknown", "toolchain")
LIBBPF_11_CANNOT = ["arena.bpf.o", "be_core_relos.bpf.o", "be_maps_btf.bpf.o", "be_subprogs.bpf.o",
                    "be_xdp_lb.bpf.o", "iproute2_maps.bpf.o", "legacy_maps.bpf.o",
                    "new_sections.bpf.o"]


def _annotation(source: str, key: str) -> str | None:
    for line in (FIX / source).read_text().splitlines():
        if line.startswith(f"// {key}:"):
            return line.split(":", 1)[1].strip()
    return None


def _setpriv_drop(caps: str) -> list[str]:
    spec = ",".join(f"-{c.strip()}" for c in caps.split(","))
    return ["setpriv", f"--bounding-set={spec}", f"--inh-caps={spec}"]


def _cli(args: list[str], prefix: list[str] | None = None, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*(prefix or []), sys.executable, "-m", "bpfdoctor", *args],
                          capture_output=True, text=True, check=False, timeout=300, cwd=ROOT,
                          **kw)  # type: ignore[call-overload]


def _our_names() -> frozenset[str]:
    from bpfdoctor.probe.loader.maps import kernel_map_name

    names: set[str] = set()
    for path in [*FIX.glob("*.bpf.o"), *FIX.glob("fail/*.bpf.o"), *FIX.glob("loadfail/*.bpf.o")]:
        try:
            obj = BpfObject.open(path)
            names.update(p.name[:15] for p in obj.entry_programs)
            names.update(kernel_map_name(obj, m) for m in obj.maps)
        except Exception:
            continue
    return frozenset(names)


OUR_NAMES = _our_names()


def _new_ids(what: str, before: set[int]) -> set[int]:
    """Objects that appeared since ``before``. The kernel frees closed maps and programs after
    an RCU grace period or from a workqueue, so ask again for a while before calling it a leak."""
    new: set[int] = set()
    for _ in range(50):
        new = _ids(what) - before
        if not new:
            return new
        time.sleep(0.1)
    return new


def _ids(what: str) -> set[int]:
    """Ids of maps or programs whose names are ours (other sessions may load BPF meanwhile)."""
    out = subprocess.run(["bpftool", "-j", what, "show"], capture_output=True, text=True,
                         check=True).stdout
    return {int(e["id"]) for e in json.loads(out or "[]") if e.get("name", "") in OUR_NAMES}


@pytest.mark.kernel
@pytest.mark.parametrize("entry", FAIL, ids=[o["name"] for o in FAIL])
def test_failing_fixture_primary_category(entry: dict[str, object]) -> None:
    """Each failing fixture, loaded by us, has the expected category as its first finding from
    the load (caps dropped the way the survey dropped them for bpftool)."""
    drop = _annotation(str(entry["source"]), "survey-drop-caps")
    proc = _cli(["check", "--load", "-f", "json", f"fixtures/elf/{entry['object']}"],
                _setpriv_drop(drop) if drop else None)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    doc = json.loads(proc.stdout)
    loads = [p["load"] for p in doc["object"]["programs"] if "load" in p]
    failed = [ld for ld in loads if not ld["ok"]]
    assert failed, "the fixture is meant to fail"
    assert failed[0]["diagnoses"][0]["category"] == entry["expected_category"]
    load_findings = [f for f in doc["findings"] if f.get("source") == "load"]
    assert load_findings[0]["category"] == entry["expected_category"]


@pytest.mark.kernel
@pytest.mark.parametrize("entry", LOADFAIL, ids=[o["name"] for o in LOADFAIL])
def test_loadfail_program_diagnosed_from_live_log(entry: dict[str, str]) -> None:
    """The 16 programs written for --load: each fails here and its primary diagnosis, taken
    from the live verifier log, has the category its source names."""
    obj = BpfObject.open(FIX / "loadfail" / entry["object"])
    result = merge(run_check(obj), load_object(obj))
    (load,) = result.loads
    assert not load.ok and load.errno
    assert load.diagnoses[0].category.value == entry["expected_category"], load.verifier_log_tail
    assert load.insns_processed is not None
    assert result.verdict == "fail"


def test_loadfail_sources_and_objects_match() -> None:
    sources = {p.name.removesuffix(".c") for p in (FIX / "loadfail").glob("*.bpf.c")}
    objects = {p.name.removesuffix(".o") for p in (FIX / "loadfail").glob("*.bpf.o")}
    assert sources == objects == {o["object"].removesuffix(".o") for o in LOADFAIL}
    assert len(LOADFAIL) >= 15
    assert len({o["expected_category"] for o in LOADFAIL}) >= 12


@pytest.mark.clang
def test_loadfail_objects_are_fresh_builds() -> None:
    proc = subprocess.run([sys.executable, str(FIX / "loadfail" / "build.py"), "--check"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.kernel
@pytest.mark.bpftool
@pytest.mark.slow
def test_verdicts_match_bpftool_loadall() -> None:
    """Per program, our verdict equals what ``bpftool -d prog loadall`` (libbpf 1.1) does here.

    libbpf loads programs in ELF order and stops at the first failure, so we compare: when
    bpftool loads the object, every program; when it fails on program X, X and every program
    before it. Objects libbpf 1.1 cannot even open (legacy maps, big-endian, newer map
    attributes) give bpftool no per-program verdict and are counted apart.
    """
    from bpfdoctor.probe.loader.bpftool import load_with_bpftool

    compared = 0
    unopened = []
    for name in ALL:
        if name in TOO_LARGE:
            continue
        obj = BpfObject.open(FIX / name)
        ours = {p.program: p.ok for p in load_object(obj).programs}
        theirs = load_with_bpftool(obj)
        if theirs.error_category is not None:
            if theirs.error_category in LIBBPF_LIMITS:
                unopened.append(name)  # libbpf 1.1 itself cannot handle it: no verdict
            else:  # refused before any program (a map): so must at least one of ours be
                assert not all(ours.values()), f"{name}: bpftool failed, we loaded everything"
            continue
        for p in theirs.programs:
            assert ours.get(p.program) == p.ok, f"{name}: {p.program}: bpftool ok={p.ok}"
            compared += 1
    assert compared >= 60
    assert sorted(unopened) == sorted(LIBBPF_11_CANNOT), unopened


@pytest.mark.kernel
@pytest.mark.slow
@pytest.mark.parametrize("name", TOO_LARGE)
def test_too_large_programs_fail_with_e2big(name: str) -> None:
    """Same verdict and errno as bpftool (E2BIG) even though our full log is cut at the cap."""
    (attempt,) = load_object(BpfObject.open(FIX / name)).programs
    assert not attempt.ok and attempt.errno == "E2BIG"


@pytest.mark.kernel
@pytest.mark.bpftool
def test_nothing_left_behind() -> None:
    """No program, map or fd survives a run over objects that load, fail half-way, or fail
    in map creation."""
    progs, maps = _ids("prog"), _ids("map")
    fds = set(os.listdir("/proc/self/fd"))
    for name in ("maps_btf.bpf.o", "globals.bpf.o", "subprogs.bpf.o", "fail/map_flag_unsupported.bpf.o",
                 "fail/null_check_missing.bpf.o", "kfuncs.bpf.o", "core_missing_field.bpf.o"):
        obj = BpfObject.open(FIX / name)
        merge(run_check(obj), load_object(obj, LoadOptions()))
    assert set(os.listdir("/proc/self/fd")) == fds
    assert _new_ids("prog", progs) == set()
    assert _new_ids("map", maps) == set()


@pytest.mark.kernel
@pytest.mark.bpftool
def test_interrupted_run_leaves_nothing() -> None:
    """SIGINT while the verifier grinds through a 1M-instruction program: no traceback, and
    every map and program the run created is gone."""
    progs, maps = _ids("prog"), _ids("map")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bpfdoctor", "check", "--load", "--log-level", "2",
         "fixtures/elf/maps_btf.bpf.o", "fixtures/elf/fail/loop_too_complex.bpf.o",
         "fixtures/elf/loadfail/nested_loops_too_large.bpf.o"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (_ids("map") - maps):
        time.sleep(0.02)  # wait until the run holds maps of its own
    time.sleep(0.3)  # now inside the million-instruction verification
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode != 0, err
    assert "Traceback" not in err
    assert _new_ids("prog", progs) == set()
    assert _new_ids("map", maps) == set()


def _permission_run(prefix: list[str]) -> None:
    proc = _cli(["check", "--load", "-f", "json", "fixtures/elf/xdp_lb.bpf.o"], prefix,
                env={**os.environ, "HOME": "/tmp", "PYTHONPATH": str(ROOT / "src")})
    if "No module named" in proc.stderr or "Permission denied" in proc.stderr.splitlines()[0:1]:
        pytest.skip("this user cannot reach the Python install")
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    perm = [f for f in doc["findings"] if f["category"] == "permission"]
    assert perm, doc["findings"]
    assert "CAP_BPF" in perm[0]["message"] or "unprivileged_bpf_disabled" in perm[0]["message"]


@pytest.mark.kernel
def test_without_capabilities_permission_finding() -> None:
    """Root without any capability (as a hardened container would run it)."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv not installed")
    _permission_run(["setpriv", "--bounding-set=-all", "--inh-caps=-all"])


@pytest.mark.kernel
def test_as_nobody_permission_finding() -> None:
    """The brief's ``setpriv --reuid=65534``; skipped where uid 65534 cannot read Python."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv not installed")
    _permission_run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                     "--inh-caps=-all"])


@pytest.mark.kernel
def test_options_program_keep_logs_compare(tmp_path: Path) -> None:
    first = _cli(["check", "--load", "-f", "json", "--program", "tc_count", "--keep-logs",
                  str(tmp_path / "logs"), "fixtures/elf/subprogs.bpf.o"])
    assert first.returncode == 0, first.stderr
    doc = json.loads(first.stdout)
    loaded = [p["name"] for p in doc["object"]["programs"] if "load" in p]
    assert loaded == ["tc_count"]
    assert doc["object"]["programs"][0]["load"]["insns_processed"] > 0 or loaded
    assert (tmp_path / "logs" / "tc_count.log").read_text().count("processed") == 1
    saved = tmp_path / "before.json"
    saved.write_text(first.stdout)
    again = _cli(["check", "--load", "-f", "json", "--program", "tc_count", "--compare",
                  str(saved), "fixtures/elf/subprogs.bpf.o"])
    rows = json.loads(again.stdout)["compare"]
    assert {r["metric"] for r in rows} == {"insns_processed", "total_states", "peak_states"}
    assert all(r["before"] == r["after"] for r in rows)  # same kernel, same object
    bad = _cli(["check", "--load", "--program", "nope", "fixtures/elf/subprogs.bpf.o"])
    assert bad.returncode == 2 and "no such program" in bad.stderr
    lvl = _cli(["check", "--load", "--log-level", "3", "fixtures/elf/subprogs.bpf.o"])
    assert lvl.returncode == 2 and "--log-level" in lvl.stderr


@pytest.mark.kernel
@pytest.mark.bpftool
def test_bpftool_loader_option() -> None:
    proc = _cli(["check", "--load", "--loader", "bpftool", "-f", "json",
                 "fixtures/elf/fail/null_check_missing.bpf.o"])
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    ld = doc["object"]["programs"][0]["load"]
    assert ld["ok"] is False and ld["errno"] == "EACCES"
    assert ld["diagnoses"][0]["category"] == "null-check-missing"


@pytest.mark.kernel
def test_refused_btf_falls_back_like_libbpf() -> None:
    """isa_v4's BTF has a FUNC whose argument the kernel refuses: like libbpf, load without
    BTF (and say so) rather than fail."""
    result = load_object(BpfObject.open(FIX / "isa_v4.bpf.o"))
    assert all(p.ok for p in result.programs)
    assert any("loading without BTF" in s for s in result.steps)
