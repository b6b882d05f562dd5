"""Real loader, environment and toolchain output (``fixtures/logs/loader/``) through ``explain``.

Every log there was captured on the project's VM (kernel 6.18, lockdown=integrity, no kprobes,
bpftool 7.1 / libbpf 1.1, iproute2 6.1); ``manifest.toml`` says what ran and which CONTRACT.md
category a correct diagnosis puts first. The live tests at the end rebuild a few of the same
failures from source and check that what the tools print today is still diagnosed the same way.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from bpfdoctor.explain import explain_text
from bpfdoctor.model import Category, Severity
from bpfdoctor.rules.loader import load_catalogue

LOADER_LOGS = Path(__file__).resolve().parent.parent / "fixtures" / "logs" / "loader"
MANIFEST: list[dict[str, Any]] = tomllib.loads((LOADER_LOGS / "manifest.toml").read_text())["case"]
CATALOGUE = load_catalogue()
MY_PREFIXES = ("LD", "EN", "BT", "TC")


@pytest.mark.parametrize("case", MANIFEST, ids=[c["id"] for c in MANIFEST])
def test_real_loader_log_primary_diagnosis(case: dict[str, Any]) -> None:
    text = (LOADER_LOGS / f"{case['id']}.log").read_text()
    result = explain_text(text, source=case["id"])
    if case["category"]:
        assert result.diagnoses, f"{case['id']}: no diagnosis"
        primary = result.diagnoses[0]
        assert primary.category.value == case["category"], [
            (d.rule, d.category.value) for d in result.diagnoses
        ]
        assert primary.message and not re.search(r"\{\w+\}", primary.message), primary.message
        assert primary.evidence, "a diagnosis must point at the lines it comes from"
    else:
        # the command worked, or nothing in the log names a cause: claim no error
        assert not [d for d in result.diagnoses if d.severity is Severity.ERROR], [
            d.rule for d in result.diagnoses
        ]
    if case["outcome"] == "failed" and case["category"]:
        assert result.outcome == "failed"


def test_manifest_and_log_files_agree() -> None:
    listed = [c["id"] for c in MANIFEST]
    assert len(listed) == len(set(listed)), "duplicate ids"
    on_disk = {p.stem for p in LOADER_LOGS.glob("*.log")}
    assert on_disk == set(listed)
    for case in MANIFEST:
        assert case["outcome"] in {"failed", "loaded"}
        if case["category"]:
            Category(case["category"])
        first = (LOADER_LOGS / f"{case['id']}.log").read_text().splitlines()[0]
        assert first.startswith("$ "), f"{case['id']}: first line must be the command"


def test_btf_rejected_by_the_kernel_is_a_warning_when_libbpf_carries_on() -> None:
    text = (LOADER_LOGS / "bpftool-btf-rejected-invalid-name.log").read_text()
    d = explain_text(text).diagnoses[0]
    assert (d.rule, d.severity) == ("BT006", Severity.WARNING)
    assert dict(d.captures)["cause"] == "invalid-name"


def test_unprivileged_eperm_is_not_blamed_on_memlock() -> None:
    text = (LOADER_LOGS / "bpftool-unprivileged.log").read_text()
    result = explain_text(text)
    assert result.diagnoses[0].rule == "EN001"
    assert all(d.category is not Category.MEMLOCK for d in result.diagnoses)


def test_root_eperm_on_modern_kernel_points_at_lockdown_not_ulimit() -> None:
    text = (LOADER_LOGS / "bpftool-d-fentry-lockdown.log").read_text()
    d = explain_text(text).diagnoses[0]
    assert d.category is Category.PERMISSION
    assert "lockdown" in d.message.lower()


def test_token_warning_never_outranks_the_real_error() -> None:
    log = (
        "libbpf: object 'shift_constrain': failed (-95) to create BPF token from '/sys/fs/bpf', "
        "skipping optional step...\n"
        "libbpf: map 'events': failed to create: Invalid argument(-22)\n"
    )
    result = explain_text(log)
    assert result.diagnoses[0].rule == "LD021"
    assert [d.rule for d in result.diagnoses][-1] == "EN010"
    alone = explain_text(log.splitlines()[0] + "\n").diagnoses[0]
    assert (alone.rule, alone.severity) == ("EN010", Severity.WARNING)


def test_pinned_map_mismatch_outranks_the_create_failure_it_causes() -> None:
    text = (LOADER_LOGS / "tc-pinned-map-flags-differ.log").read_text()
    rules = [d.rule for d in explain_text(text).diagnoses]
    assert rules[0] == "LD005"
    assert "LD021" not in rules[:1]


def test_catalogue_size_and_coverage() -> None:
    mine = [r for r in CATALOGUE.rules if r.code.startswith(MY_PREFIXES)]
    assert len(mine) >= 30
    wanted = {
        Category.PERMISSION,
        Category.MEMLOCK,
        Category.BTF_REJECTED,
        Category.CORE_RELO,
        Category.VMLINUX_BTF_MISSING,
        Category.MODULE_BTF_MISSING,
        Category.PINNED_MAP_MISMATCH,
        Category.MAP_UNSUPPORTED,
        Category.PROG_TYPE_UNSUPPORTED,
        Category.LOADER_UNSUPPORTED,
        Category.SECTION_UNKNOWN,
        Category.ATTACH_FAILED,
        Category.TOKEN_CREATE,
        Category.TRACING_UNAVAILABLE,
        Category.TOOLCHAIN,
        Category.HELPER_UNAVAILABLE,
    }
    assert wanted <= {r.category for r in mine}, wanted - {r.category for r in mine}


@pytest.mark.parametrize(
    "rule", [r for r in CATALOGUE.rules if r.code.startswith(MY_PREFIXES)], ids=lambda r: r.code
)
def test_rule_has_real_sourced_cases_both_ways(rule: Any) -> None:
    kinds = {case.should_match for case in rule.cases}
    assert kinds == {True, False}, f"{rule.code} needs match and no_match cases"
    for case in rule.cases:
        if case.should_match:
            assert case.source, f"{rule.code}: every match case says where its log came from"


# --- live: rebuild a failure, run the real tool, explain what it printed --------------------

_PROGRAMS = {
    "legacy_maps": (
        "loader-unsupported",
        """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct legacy_def { unsigned int type, key_size, value_size, max_entries, map_flags; };
struct legacy_def SEC("maps") counts = { BPF_MAP_TYPE_ARRAY, 4, 8, 1, 0 };
SEC("xdp") int xdp_count(struct xdp_md *ctx)
{
    __u32 k = 0; __u64 *v = bpf_map_lookup_elem(&counts, &k);
    if (v) *v += 1;
    return XDP_PASS;
}
char LICENSE[] SEC("license") = "GPL";
""",
    ),
    "unknown_section": (
        "section-unknown",
        """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("xdp-prog1") int xdp_prog1(struct xdp_md *ctx) { return XDP_PASS; }
char LICENSE[] SEC("license") = "GPL";
""",
    ),
    "fentry_missing": (
        "attach-failed",
        """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("fentry/bpfdoctor_no_such_function") int f_missing(void *ctx) { return 0; }
char LICENSE[] SEC("license") = "GPL";
""",
    ),
}


def _build(clang: str, tmp_path: Path, name: str, source: str) -> Path:
    src = tmp_path / f"{name}.bpf.c"
    obj = tmp_path / f"{name}.bpf.o"
    src.write_text(source)
    multiarch = (
        subprocess.run(
            ["gcc", "-print-multiarch"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if shutil.which("gcc")
        else ""
    )
    cmd = [clang, "-g", "-O2", "-target", "bpf", "-c", str(src), "-o", str(obj)]
    if multiarch:
        cmd[1:1] = [f"-I/usr/include/{multiarch}"]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return obj


@pytest.mark.clang
@pytest.mark.bpftool
@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(_PROGRAMS))
def test_live_bpftool_failure_is_diagnosed(name: str, tmp_path: Path) -> None:
    from conftest import clang_for_bpf

    clang = clang_for_bpf()
    assert clang is not None
    category, source = _PROGRAMS[name]
    obj = _build(clang, tmp_path, name, source)
    # the pin path is not on bpffs: even an unexpected successful load leaves nothing behind
    out = subprocess.run(
        ["bpftool", "prog", "load", str(obj), str(tmp_path / "pin")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert out.returncode != 0
    text = f"$ bpftool prog load {obj.name} PIN\n{out.stdout}{out.stderr}"
    result = explain_text(text)
    assert result.diagnoses, text
    assert result.diagnoses[0].category.value == category, (text, result.diagnoses)
    assert re.search(r"libbpf|Error", text)


def test_token_failure_before_eperm_is_named_as_a_possible_reason() -> None:
    log = (
        "libbpf: object 'm': failed (-1) to create BPF token from '/sys/fs/bpf', "
        "skipping optional step...\n"
        "libbpf: prog 'p': BPF program load failed: -EPERM\n"
    )
    result = explain_text(log)
    assert result.diagnoses[0].category is Category.PERMISSION
    token = [d for d in result.diagnoses if d.rule == "EN010"]
    assert token and dict(token[0].captures)["cause"] == "then-eperm"
