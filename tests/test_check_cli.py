"""``bpfdoctor check``: CONTRACT.md JSON, text tables, exit codes, bad input through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bpfdoctor.cli import app
from bpfdoctor.errors import ElfError, InputError
from bpfdoctor.model import Category

ELF = Path(__file__).resolve().parent.parent / "fixtures" / "elf"
XDP_LB = str(ELF / "xdp_lb.bpf.o")
LEGACY = str(ELF / "legacy_maps.bpf.o")
GPL_FAIL = str(ELF / "fail" / "gpl_helper_proprietary.bpf.o")
CATEGORIES = {c.value for c in Category}

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, ["check", *args])


def bpfdoctor(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bpfdoctor", *args], capture_output=True, text=True, cwd=cwd,
        timeout=120,
    )


def test_json_follows_the_contract():
    result = run(XDP_LB, "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["schema"] == "bpfdoctor.check/1"
    assert doc["target"] == {"kind": "none", "kernel": None}
    assert doc["verdict"] == "unknown"
    assert doc["findings"] == []
    obj = doc["object"]
    for key in ("path", "sha256", "license", "isa", "programs", "maps", "btf", "core_relocations",
                "requirements"):
        assert key in obj
    assert obj["license"] == "GPL" and len(obj["sha256"]) == 64
    prog = next(p for p in obj["programs"] if p["name"] == "xdp_load_balancer")
    assert {"name", "section", "type", "attach_type", "attach_target", "insns", "helpers",
            "kfuncs", "maps"} <= set(prog)
    assert prog["type"] == "xdp" and prog["section"] == "xdp"
    assert "bpf_map_lookup_elem" in prog["helpers"]
    assert "backends" in prog["maps"]
    m = next(m for m in obj["maps"] if m["name"] == "backends")
    assert {"name", "type", "key_size", "value_size", "max_entries", "flags", "pinning"} <= set(m)
    assert obj["btf"]["present"] is True and "STRUCT" in obj["btf"]["kinds"]
    kinds = {r["kind"] for r in obj["requirements"]}
    assert {"helper", "prog_type", "map_type", "isa"} <= kinds
    for r in obj["requirements"]:
        assert set(r) >= {"kind", "name", "min_kernel"}


def test_several_objects_give_a_json_list(tmp_path):
    out = tmp_path / "report.json"
    result = run(XDP_LB, LEGACY, "--format", "json", "--output", str(out))
    assert result.exit_code == 0
    assert result.stdout == ""
    docs = json.loads(out.read_text())
    assert isinstance(docs, list) and len(docs) == 2
    assert [d["object"]["path"] for d in docs] == [XDP_LB, LEGACY]


def test_findings_carry_contract_categories_and_exit_codes():
    result = run(LEGACY, "--format", "json")
    assert result.exit_code == 0  # a warning is below the default --fail-on error
    doc = json.loads(result.stdout)
    finding = doc["findings"][0]
    assert finding["category"] == "loader-unsupported" and finding["severity"] == "warning"
    assert set(finding) >= {"rule", "category", "severity", "program", "message", "fixes", "evidence"}
    assert run(LEGACY, "--format", "json", "--fail-on", "warning").exit_code == 1

    gpl = run(GPL_FAIL, "--format", "json")
    assert gpl.exit_code == 1
    doc = json.loads(gpl.stdout)
    assert doc["verdict"] == "fail"
    assert [f["category"] for f in doc["findings"]] == ["gpl-only"]
    assert all(f["category"] in CATEGORIES for f in doc["findings"])
    # the finding points at the offending call, with the C line from .BTF.ext line_info
    loc = doc["findings"][0]["location"]
    assert loc["file"].endswith("gpl_helper_proprietary.bpf.c")
    assert "bpf_probe_read_kernel" in loc["text"]
    text = run(GPL_FAIL).stdout
    assert "gpl_helper_proprietary.bpf.c:" in text and "GPL" in text


def test_text_report_has_the_tables():
    result = run(str(ELF / "maps_btf.bpf.o"))
    assert result.exit_code == 0
    text = result.stdout
    for heading in ("Programs", "Maps", "Requirements", "array_of_maps", "bpf_tail_call", "by_name"):
        assert heading in text
    core = run(str(ELF / "core_relos.bpf.o")).stdout
    assert "CO-RE relocations" in core and "byte_off struct task_struct" in core


def test_unknown_section_is_a_finding(tmp_path):
    data = (ELF / "legacy_maps.bpf.o").read_bytes()
    # rename section "socket" (and ".relsocket", which shares the string) to "sockeX"
    obj = tmp_path / "renamed.o"
    obj.write_bytes(data.replace(b"socket\0", b"sockeX\0"))
    result = run(str(obj), "--format", "json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    cats = {f["category"] for f in doc["findings"]}
    assert "section-unknown" in cats
    assert any(p["type"] == "unknown" for p in doc["object"]["programs"])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "empty.o", "empty file"),
        (lambda d: d / "text.o", "not an ELF file"),
        (lambda d: d / "x86.o", "x86_64"),
        (lambda d: d / "cut.o", "runs past the end"),
        (lambda d: d, "is a directory"),
        (lambda d: d / "missing.o", "no such file"),
    ],
    ids=["empty", "not-elf", "x86_64", "truncated", "directory", "missing"],
)
def test_bad_input_one_line_exit_2(tmp_path, make, message):
    (tmp_path / "empty.o").write_bytes(b"")
    (tmp_path / "text.o").write_text("hello\n")
    x86 = bytearray((ELF / "xdp_lb.bpf.o").read_bytes())
    x86[18:20] = (62).to_bytes(2, "little")
    (tmp_path / "x86.o").write_bytes(bytes(x86))
    data = (ELF / "xdp_lb.bpf.o").read_bytes()
    (tmp_path / "cut.o").write_bytes(data[: len(data) // 3])
    target = make(tmp_path)

    in_process = run(str(target))
    assert isinstance(in_process.exception, ElfError)
    assert message in str(in_process.exception)

    proc = bpfdoctor("check", str(target))
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("bpfdoctor: error:") and message in lines[0]


def test_bad_options():
    result = run(XDP_LB, "--format", "yaml")
    assert isinstance(result.exception, InputError)
    result = run(XDP_LB, "--fail-on", "fatal")
    assert isinstance(result.exception, InputError)
    proc = bpfdoctor("check", XDP_LB, "--format", "yaml")
    assert proc.returncode == 2 and "--format" in proc.stderr


def test_subprocess_json_and_exit_code():
    proc = bpfdoctor("check", "--format", "json", GPL_FAIL)
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["verdict"] == "fail"
    ok = bpfdoctor("check", XDP_LB)
    assert ok.returncode == 0 and "xdp_load_balancer" in ok.stdout


def test_run_check_api_accepts_object_or_path():
    from bpfdoctor.check import run_check
    from bpfdoctor.elf import BpfObject

    by_path = run_check(XDP_LB)
    by_obj = run_check(BpfObject.open(XDP_LB))
    assert by_path.to_json() == by_obj.to_json()
    assert by_path.target.kind == "none"
