"""`check OBJ --target ...`: object-vs-kernel checks against every target kind.

- every fixture against version targets and a saved profile: exact error codes from
  fixtures/elf/expected_findings.toml;
- a synthetic kernel BTF (built with BtfBuilder) for CO-RE and attach-target checks;
- the host's /sys/kernel/btf/vmlinux as a ``btf:`` target;
- ground truth on the live kernel: for every feature fixture, ``check --live`` with this
  machine's bpftool/libbpf as loader predicts what ``bpftool prog loadall`` does.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bpfdoctor.btf import BtfBuilder
from bpfdoctor.btf.types import BtfLinkage
from bpfdoctor.check import run_check
from bpfdoctor.checks import run_checks
from bpfdoctor.checks.target import PinnedMap, Target
from bpfdoctor.cli import app
from bpfdoctor.elf.object import BpfObject
from bpfdoctor.kernelprofile import HostFacts, KernelProfile
from bpfdoctor.model import Category, Severity, TargetInfo
from bpfdoctor.targetload import resolve_target
from bpfdoctor.targets import parse_loader, parse_target

REPO = Path(__file__).resolve().parent.parent
ELF = REPO / "fixtures" / "elf"
EXPECTED = tomllib.loads((ELF / "expected_findings.toml").read_text())
PROFILE = REPO / "fixtures" / "profiles" / "live-6.18-lockdown.json"


def _cases() -> list[tuple[str, str, list[str]]]:
    out = []
    for target in EXPECTED["target"]:
        for obj, codes in target["errors"].items():
            out.append((target["spec"], obj, codes))
    return out


@pytest.mark.parametrize(("spec", "obj", "codes"), _cases(),
                         ids=[f"{s}-{o}" for s, o, _ in _cases()])
def test_expected_findings(spec: str, obj: str, codes: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    result = run_check(ELF / f"{obj}.bpf.o", parse_target(spec))
    got = sorted({f.rule for f in result.findings if f.severity is Severity.ERROR})
    assert got == codes
    assert result.verdict == ("fail" if codes else "pass")


def test_every_fixture_is_expected() -> None:
    objects = {p.name[: -len(".bpf.o")] for p in ELF.glob("*.bpf.o")}
    for target in EXPECTED["target"]:
        assert set(target["errors"]) == objects, target["spec"]


def test_registry_metadata_is_complete() -> None:
    from bpfdoctor import inventory
    from bpfdoctor.checks.registry import ALL_CHECKS, OBJECT_CHECKS

    ob_codes = {v for k, v in vars(inventory).items() if isinstance(v, str) and
                re.fullmatch(r"OB\d{3}", v)}
    assert ob_codes == set(OBJECT_CHECKS)
    for code, info in ALL_CHECKS.items():
        assert re.fullmatch(r"(KC|OB|LO)\d{3}", code)
        assert info.code == code and info.title and info.explanation
        assert isinstance(info.category, Category)


# -- messages say what and where the answer came from ------------------------------------


def test_version_target_names_versions_and_source() -> None:
    result = run_check(ELF / "maps_btf.bpf.o", parse_target("kernel:5.4"))
    ringbuf = [f for f in result.findings if f.rule == "KC009" and "ringbuf" in f.message]
    assert ringbuf and "5.8" in ringbuf[0].message
    assert ringbuf[0].source == "version-table"
    assert ringbuf[0].category is Category.MAP_UNSUPPORTED
    assert any("perf" in fix.lower() for fix in ringbuf[0].fixes)


def test_printk_with_four_arguments_on_5_15() -> None:
    res = run_check(ELF / "printk.bpf.o", parse_target("kernel:5.15"))
    errors = [f for f in res.findings if f.severity is Severity.ERROR]
    assert [(f.rule, f.program) for f in errors] == [("KC003", "print_four")]
    assert "bpf_trace_vprintk" in errors[0].message and "5.16" in errors[0].message
    assert any("3 arguments" in fix for fix in errors[0].fixes)
    assert not [f for f in run_check(ELF / "printk.bpf.o", parse_target("kernel:5.16")).findings
                if f.severity is Severity.ERROR]


def test_printk_without_tracing_in_kconfig(tmp_path: Path) -> None:
    doc = json.loads(PROFILE.read_text())
    doc["kconfig"]["values"]["CONFIG_BPF_EVENTS"] = "n"
    prof = tmp_path / "no-bpf-events.json"
    prof.write_text(json.dumps(doc))
    res = run_check(ELF / "printk.bpf.o", parse_target(f"profile:{prof}"))
    tracing = [f for f in res.findings if f.rule == "KC024"]
    assert tracing and tracing[0].category is Category.TRACING_UNAVAILABLE
    assert tracing[0].severity is Severity.ERROR and "CONFIG_BPF_EVENTS" in tracing[0].message


def test_loader_choices_change_the_verdict() -> None:
    legacy = ELF / "legacy_maps.bpf.o"
    codes = lambda spec: {f.rule for f in run_check(legacy, parse_target(spec)).findings  # noqa: E731
                          if f.severity is Severity.ERROR}
    assert "KC029" in codes("kernel:6.1,loader=libbpf")
    assert "KC029" not in codes("kernel:6.1,loader=iproute2")
    old = {f.rule: f for f in run_check(legacy, parse_target("kernel:6.1,loader=libbpf=0.8")).findings}
    assert "KC037" in old and old["KC037"].severity is Severity.WARNING
    assert "KC030" not in codes("kernel:6.1,loader=iproute2-legacy")  # no BTF-defined maps
    assert "KC030" in {f.rule for f in run_check(ELF / "maps_btf.bpf.o",
                                                parse_target("kernel:6.1,loader=iproute2-legacy")).findings}
    assert "KC032" in {f.rule for f in run_check(ELF / "xdp_lb.bpf.o",
                                                parse_target("kernel:6.1,loader=bcc")).findings}


def test_old_libbpf_section_and_map_attrs() -> None:
    res = run_check(ELF / "new_sections.bpf.o", parse_target("kernel:6.18,loader=libbpf=1.1"))
    unknown = [f for f in res.findings if f.rule == "KC042"]
    assert unknown and all(f.category is Category.SECTION_UNKNOWN for f in unknown)
    assert any("tcx/" in f.message for f in unknown)
    arena = run_check(ELF / "arena.bpf.o", parse_target("kernel:6.18,loader=libbpf=1.1"))
    assert any(f.rule == "KC039" and "enum64" in f.message for f in arena.findings)
    current = run_check(ELF / "arena.bpf.o", parse_target("kernel:6.18"))
    assert not [f for f in current.findings if f.severity is Severity.ERROR]


# -- synthetic kernel BTF: CO-RE and BTF attach targets --------------------------------------


def _kernel_btf(tmp_path: Path, *, with_tgid: bool, with_func: bool) -> Path:
    b = BtfBuilder()
    u32 = b.add_int("unsigned int", 4)
    i32 = b.add_int("int", 4, signed=True)
    ts = b.add_struct("task_struct", 0)  # placeholder id for the self pointer
    ptr = b.add_ptr(ts)
    members: list[tuple[str, int, int]] = [("__state", u32, 0), ("flags", u32, 32),
                                            ("pid", i32, 64)]
    if with_tgid:
        members.append(("tgid", i32, 96))
    members.append(("real_parent", ptr, 128))
    real = b.add_struct("task_struct", 24, members)
    assert real
    proto = b.add_func_proto(i32, [("x", i32)])
    if with_func:
        b.add_func("do_unlinkat", proto, BtfLinkage.GLOBAL)
    b.add_func("bpf_fentry_test1", proto, BtfLinkage.GLOBAL)
    path = tmp_path / "vmlinux.btf"
    path.write_bytes(b.encode())
    return path


def test_core_relocation_missing_field_is_named(tmp_path: Path) -> None:
    btf = _kernel_btf(tmp_path, with_tgid=False, with_func=True)
    res = run_check(ELF / "core_relos.bpf.o", parse_target(f"btf:{btf},kernel=6.1"))
    core = [f for f in res.findings if f.rule == "KC016" and f.severity is Severity.ERROR]
    assert core, [f.message for f in res.findings]
    assert any("tgid" in f.message and "task_struct" in f.message for f in core)
    assert all(f.category is Category.CORE_RELO and f.source == "btf" for f in core)


def test_core_relocations_resolve_when_fields_exist() -> None:
    vmlinux = Path("/sys/kernel/btf/vmlinux")
    if not vmlinux.exists():
        pytest.skip("no kernel BTF on this host")
    res = run_check(ELF / "core_relos.bpf.o", parse_target(f"btf:{vmlinux}"))
    assert not [f for f in res.findings if f.rule == "KC016" and f.severity is Severity.ERROR]
    missing = run_check(ELF / "core_missing_field.bpf.o", parse_target(f"btf:{vmlinux}"))
    assert [f for f in missing.findings if f.rule == "KC016" and f.severity is Severity.ERROR]


def test_fentry_target_missing_from_btf(tmp_path: Path) -> None:
    btf = _kernel_btf(tmp_path, with_tgid=True, with_func=False)
    res = run_check(ELF / "fentry_missing.bpf.o", parse_target(f"btf:{btf}"))
    missing = [f for f in res.findings if f.rule == "KC018"]
    assert missing and missing[0].category is Category.ATTACH_FAILED
    assert "do_unlinkat_bpfdoctor_typo" in missing[0].message


def test_btf_target_without_version_does_not_guess(tmp_path: Path) -> None:
    btf = _kernel_btf(tmp_path, with_tgid=True, with_func=True)
    res = run_check(ELF / "isa_v4.bpf.o", parse_target(f"btf:{btf}"))
    # the synthetic BTF has no UAPI enums and no version: nothing is known, nothing is claimed
    assert not [f for f in res.findings if f.rule.startswith("KC") and f.severity is Severity.ERROR]


def test_needs_kernel_btf_when_target_has_none() -> None:
    profile = json.loads(PROFILE.read_text())
    profile["btf"]["vmlinux"]["present"] = False
    target = resolve_target(parse_target(f"profile:{PROFILE}"))
    from dataclasses import replace

    from bpfdoctor.kernelprofile import BtfFacts

    no_btf = replace(target, profile=replace(target.profile, btf=BtfFacts(vmlinux_present=False)))
    found = run_checks(BpfObject.open(ELF / "core_relos.bpf.o"), no_btf)
    assert any(f.rule == "KC017" and f.category is Category.VMLINUX_BTF_MISSING for f in found)


# -- pinned maps ------------------------------------------------------------------------------


def _target_with_pins(pins: tuple[PinnedMap, ...], loader: str = "libbpf") -> Target:
    profile = KernelProfile(captured_at="2026-12-03T00:00:00Z",
                            host=HostFacts(kernel_release="6.18.0"))
    return Target(info=TargetInfo(kind="live", kernel="6.18.0", name="live"), profile=profile,
                  facts_source="live", kernel_version="6.18.0", pinned_maps=pins,
                  loader=parse_loader(loader))


def test_pinned_map_mismatch_names_each_field() -> None:
    obj = BpfObject.open(ELF / "maps_btf.bpf.o")
    pin = PinnedMap(path="/sys/fs/bpf/shared_config", name="shared_config", type="hash",
                    key_size=8, value_size=4, max_entries=64, flags=0)
    found = [f for f in run_checks(obj, _target_with_pins((pin,))) if f.rule == "KC027"]
    assert len(found) == 1
    assert found[0].category is Category.PINNED_MAP_MISMATCH
    assert "key_size 8 (pinned) vs 4 (object)" in found[0].message
    same = PinnedMap(path="/sys/fs/bpf/shared_config", name="shared_config", type="hash",
                     key_size=4, value_size=4, max_entries=64, flags=0)
    assert not [f for f in run_checks(obj, _target_with_pins((same,))) if f.rule == "KC027"]


def test_pinned_bss_without_mmapable_under_cilium() -> None:
    obj = BpfObject.open(ELF / "globals.bpf.o")
    bss = next(m for m in obj.global_data if m.name == ".bss")
    pin = PinnedMap(path="/sys/fs/bpf/bss", name="bss", type="array", key_size=4,
                    value_size=bss.value_size or 4, max_entries=1, flags=0)
    found = [f for f in run_checks(obj, _target_with_pins((pin,), "cilium-ebpf"))
             if f.rule == "KC027"]
    assert found and "BPF_F_MMAPABLE" in found[0].message and "1024" in found[0].message


# -- the CLI ----------------------------------------------------------------------------------


runner = CliRunner()


def test_cli_kernel_version_json_and_exit_code() -> None:
    res = runner.invoke(app, ["check", str(ELF / "maps_btf.bpf.o"), "--kernel-version", "5.4",
                              "--format", "json"])
    assert res.exit_code == 1, res.output
    doc = json.loads(res.stdout)
    assert doc["schema"] == "bpfdoctor.check/1"
    assert doc["target"]["kind"] == "kernel-version" and doc["target"]["kernel"] == "5.4"
    assert doc["verdict"] == "fail"
    cats = {f["category"] for f in doc["findings"]}
    assert {"map-unsupported", "helper-unavailable", "prog-type-unsupported"} <= cats
    ok = runner.invoke(app, ["check", str(ELF / "xdp_lb.bpf.o"), "--kernel-version", "6.1"])
    assert ok.exit_code == 0, ok.output


def test_cli_several_targets_give_several_results() -> None:
    res = runner.invoke(app, ["check", str(ELF / "xdp_lb.bpf.o"), "-t", "kernel:5.4",
                              "-t", "kernel:6.1", "--format", "json"])
    docs = json.loads(res.stdout)
    assert [d["target"]["kernel"] for d in docs] == ["5.4", "6.1"]
    assert [d["verdict"] for d in docs] == ["fail", "pass"]


@pytest.mark.parametrize("argv", [
    ["--loader", "libbpf"],
    ["--kconfig", "x.config"],
    ["--kernel-version", "five"],
    ["--profile", "/nonexistent/profile.json"],
    ["--kernel-btf", "/etc/hostname"],
    ["-t", "bogus:1"],
])
def test_cli_bad_target_options_exit_2(argv: list[str]) -> None:
    proc = subprocess.run([sys.executable, "-m", "bpfdoctor", "check", str(ELF / "xdp_lb.bpf.o"),
                           *argv], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip()


def test_malformed_profile_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "p.json"
    bad.write_text('{"schema": "bpfdoctor.profile/1", "captured_at": 3}')
    proc = subprocess.run([sys.executable, "-m", "bpfdoctor", "check", str(ELF / "xdp_lb.bpf.o"),
                           "--profile", str(bad)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1


# -- ground truth on this kernel ------------------------------------------------------------


def _bpftool_loader() -> str:
    out = subprocess.run(["bpftool", "version"], capture_output=True, text=True).stdout
    m = re.search(r"bpftool v(\d+\.\d+)", out)
    return f"bpftool={m.group(1)}" if m else "bpftool"


def _bpftool_loadall(obj: Path) -> tuple[bool, str]:
    """`bpftool prog loadall` in a private mount namespace with its own bpffs: nothing pinned
    outlives the call, whatever happens."""
    script = 'mount -t bpf bpf /sys/fs/bpf || exit 97; bpftool prog loadall "$1" /sys/fs/bpf/t'
    proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                           script, "sh", str(obj)], capture_output=True, text=True, timeout=120)
    if proc.returncode == 97:
        pytest.skip("cannot mount a private bpffs")
    return proc.returncode == 0, proc.stdout + proc.stderr


# Categories a check may report for an object that loads: the problem shows only at attach
# (kprobes not configured here) -- a real attach would fail, not the load.
ATTACH_ONLY = {Category.ATTACH_FAILED}


@pytest.mark.kernel
@pytest.mark.bpftool
@pytest.mark.parametrize("obj", sorted(p.name for p in ELF.glob("*.bpf.o")))
def test_live_check_predicts_bpftool_loadall(obj: str) -> None:
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed")
    loaded, output = _bpftool_loadall(ELF / obj)
    result = run_check(ELF / obj, parse_target(f"live,loader={_bpftool_loader()}"))
    errors = [f for f in result.findings if f.severity is Severity.ERROR]
    if loaded:
        wrong = [f for f in errors if f.category not in ATTACH_ONLY]
        assert not wrong, f"{obj} loads here but check says: {[f.message for f in wrong]}"
    else:
        assert errors, f"{obj} fails here ({output.strip().splitlines()[-3:]}) but check passes"
        manifest = tomllib.loads((ELF / "manifest.toml").read_text())
        row = next(o for o in manifest["object"] if o["object"] == obj)
        expected = row.get("expected_category") or row["live_result"].get("category")
        if expected:
            assert errors[0].category.value == expected or expected in {
                f.category.value for f in errors}, (expected, [f.message for f in errors])


def test_check_docs_are_up_to_date() -> None:
    out = subprocess.run([sys.executable, str(REPO / "tools" / "gen_check_docs.py"), "--check"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_ksyscall_targets_the_arch_syscall_wrapper() -> None:
    from dataclasses import replace

    obj = BpfObject.open(ELF / "tracing.bpf.o")
    base = _target_with_pins(())
    host = replace(base.profile.host, arch="x86_64")
    profile = replace(base.profile, host=host, kconfig={"CONFIG_KPROBES": "y", "CONFIG_FPROBE": "y"})
    fns = frozenset({"do_unlinkat", "tcp_v4_connect", "vfs_read", "__x64_sys_openat"})
    target = replace(base, profile=profile, functions=fns)
    missing = [f for f in run_checks(obj, target) if f.rule == "KC019"]
    assert not [f for f in missing if "sys_openat" in f.message]
    without = replace(target, functions=fns - {"__x64_sys_openat"})
    missing = [f for f in run_checks(obj, without) if f.rule == "KC019"]
    assert any("__x64_sys_openat" in f.message for f in missing)


def test_check_speaks_the_preflight_formats() -> None:
    import xml.etree.ElementTree as ET

    import jsonschema

    objs = [str(ELF / "maps_btf.bpf.o"), str(ELF / "xdp_lb.bpf.o")]
    res = runner.invoke(app, ["check", *objs, "-t", "kernel:5.4", "-t", "kernel:6.1",
                              "--format", "sarif"])
    assert res.exit_code == 1, res.output
    doc = json.loads(res.stdout)
    schema = json.loads((REPO / "tests" / "schemas" / "sarif-2.1.0.json").read_text())
    jsonschema.Draft4Validator(schema).validate(doc)
    rules = {r["ruleId"] for r in doc["runs"][0]["results"]}
    assert {"KC009", "KC033"} <= rules
    junit = runner.invoke(app, ["check", *objs, "--kernel-version", "5.4", "--format", "junit"])
    root = ET.fromstring(junit.stdout)
    assert root.tag == "testsuites" and int(root.get("failures", "0")) >= 1
    gh = runner.invoke(app, ["check", objs[1], "--kernel-version", "5.4", "--format", "github"])
    assert gh.exit_code == 1
    assert any(line.startswith("::error ") and "KC033" in line for line in gh.stdout.splitlines())
