"""kernelprofile: round trip, strict validation, and the CLI's one-line exit 2 on bad files."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpfdoctor import kernelprofile as kp
from bpfdoctor.errors import ProbeError
from bpfdoctor.kernelprofile import (
    BpffsMount,
    BtfFacts,
    Feature,
    FsFacts,
    HostFacts,
    KernelProfile,
    ProbeMeta,
    SecurityFacts,
)
from bpfdoctor.model import FeatureState

S, U, D, N = (FeatureState.SUPPORTED, FeatureState.UNSUPPORTED, FeatureState.DENIED,
              FeatureState.UNKNOWN)


def sample() -> KernelProfile:
    return KernelProfile(
        captured_at="2026-12-03T06:00:00Z",
        host=HostFacts("6.1.0-27-amd64", "#1 SMP Debian", "x86_64", "Debian 12",
                       {"lockdown": "integrity"}, 0),
        security=SecurityFacts("integrity", "securityfs", ("lockdown", "bpf"), "securityfs",
                               ("CAP_BPF", "CAP_PERFMON"), 8 << 20, None, True),
        kconfig={"CONFIG_BPF": "y", "CONFIG_KPROBES": "n", "CONFIG_NET_CLS_BPF": "m"},
        kconfig_source="/boot/config-6.1.0-27-amd64",
        sysctls={"kernel.unprivileged_bpf_disabled": "2", "net.core.bpf_jit_limit": None},
        btf=BtfFacts("/sys/kernel/btf/vmlinux", True, 5_000_000, True, None, ("INT", "STRUCT"),
                     ("nf_tables",), {"/boot/vmlinux-6.1.0-27-amd64": False}),
        filesystems=FsFacts(
            (BpffsMount("/sys/fs/bpf", ("rw", "delegate_cmds=any"), "any"),),
            ("/sys/kernel/tracing",), (), Feature(S, None, "host"),
            Feature(D, "permission denied", "host")),
        features={
            "prog_types": {"xdp": Feature(S, None, "live", "4.8"),
                           "lsm": Feature(D, "EPERM: lockdown", "live")},
            "helpers": {"bpf_probe_write_user": Feature(
                D, "lockdown", "live", by_prog_type={"kprobe": Feature(D, "lockdown"),
                                                     "xdp": Feature(U, "cannot use helper")})},
            "kfuncs": {"bpf_rcu_read_lock": Feature(S, "from BTF", "btf")},
        },
        probe=ProbeMeta("0.1.0", ("prog_types", "helpers", "kfuncs"), True, 123.4),
    )


def test_round_trip_through_file(tmp_path: Path) -> None:
    p = sample()
    path = tmp_path / "k.json"
    kp.save(p, path)
    back = kp.load(path)
    assert back == p
    assert back.to_json() == p.to_json()
    assert back.helper_state("bpf_probe_write_user", "xdp") == Feature(U, "cannot use helper")
    assert back.helper_state("bpf_probe_write_user", "tc") is not None
    assert back.kconfig_value("KPROBES") == "n"
    assert back.kernel_version == (6, 1, 0)
    assert back.kfuncs == ("bpf_rcu_read_lock",)
    assert back.state("prog_types", "nope") is N


def test_contract_shape() -> None:
    doc = sample().to_json()
    assert doc["schema"] == "bpfdoctor.profile/1"
    assert doc["host"]["kernel_release"] == "6.1.0-27-amd64"
    assert doc["features"]["prog_types"]["lsm"] == {
        "state": "denied", "reason": "EPERM: lockdown", "source": "live"}
    for group in doc["features"].values():
        for item in group.values():
            assert item["state"] in {"supported", "unsupported", "denied", "unknown"}


def _mutate(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    doc = json.loads(json.dumps(doc))
    *parents, last = path.split(".")
    cur = doc
    for k in parents:
        cur = cur[k]
    if value is KeyError:
        del cur[last]
    else:
        cur[last] = value
    return doc


@pytest.mark.parametrize(("path", "value", "message"), [
    ("schema", "bpfdoctor.check/1", "not a bpfdoctor kernel profile"),
    ("schema", "bpfdoctor.profile/9", "version 'bpfdoctor.profile/9' is not supported"),
    ("schema", KeyError, "not a bpfdoctor kernel profile"),
    ("features.prog_types.xdp.state", "maybe",
     "features.prog_types.xdp.state: 'maybe' is not one of"),
    ("features.prog_types.xdp", "supported", "features.prog_types.xdp: expected an object"),
    ("features", KeyError, "missing field 'features'"),
    ("host.kernel_release", 6, "host.kernel_release: expected a string"),
    ("host.kernel_release", "linux", "is not a kernel release"),
    ("security.capabilities", "CAP_BPF", "security.capabilities: expected a list"),
    ("security.memlock.soft", "8M", "security.memlock.soft: expected an integer"),
    ("btf.vmlinux.present", "yes", "btf.vmlinux.present: expected true/false"),
    ("filesystems.bpffs", [{"options": []}], "filesystems.bpffs[0]: missing field 'path'"),
    ("probe.duration_ms", "fast", "probe.duration_ms: expected a number"),
])
def test_malformed_fields_name_the_path(path: str, value: Any, message: str) -> None:
    doc = _mutate(sample().to_json(), path, value)
    with pytest.raises(ProbeError, match=re.escape(message)) as exc:
        KernelProfile.from_json(doc, "k.json")
    assert "\n" not in str(exc.value)
    assert str(exc.value).startswith("k.json: ")


def test_non_json_and_binary_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ProbeError, match="not JSON"):
        kp.load(bad)
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(ProbeError, match="not a text file"):
        kp.load(binary)
    with pytest.raises(ProbeError, match="cannot read profile"):
        kp.load(tmp_path / "missing.json")
    with pytest.raises(ProbeError, match="expected an object"):
        kp.loads("[1, 2]", "list.json")


@settings(max_examples=60, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c,
                                                                       max_size=3),
                    max_leaves=12))
def test_arbitrary_json_never_escapes_as_another_error(doc: Any) -> None:
    with contextlib.suppress(ProbeError):
        KernelProfile.from_json(doc, "fuzz")


@settings(max_examples=40, deadline=None)
@given(path=st.sampled_from(["host", "security", "kconfig", "btf", "filesystems", "features",
                             "probe", "sysctls", "captured_at"]),
       value=st.none() | st.integers() | st.text(max_size=5) | st.lists(st.integers(),
                                                                          max_size=2))
def test_any_wrong_section_type_is_a_probe_error(path: str, value: Any) -> None:
    doc = _mutate(sample().to_json(), path, value)
    try:
        KernelProfile.from_json(doc, "fuzz")
    except ProbeError as exc:
        assert "\n" not in str(exc)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bpfdoctor", *args], capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize(("content", "message"), [
    (json.dumps({"schema": "bpfdoctor.check/1", "object": {}}), "not a bpfdoctor kernel profile"),
    ("{\"schema\": \"bpfdoctor.profile/1\"", "not JSON"),
    (json.dumps({"schema": "bpfdoctor.profile/1", "captured_at": "x",
                 "host": {"kernel_release": "6.1"}, "features": {"isa": {"v4": {"state": "yes"}}}}),
     "features.isa.v4.state: 'yes' is not one of"),
])
def test_cli_rejects_bad_profile_with_one_line_exit_2(tmp_path: Path, content: str,
                                                      message: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    out = _cli("probe", "--from", str(bad))
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1, out.stderr
    assert out.stderr.startswith(f"bpfdoctor: error: {bad}: ")
    assert message in out.stderr
    assert "Traceback" not in out.stderr


def test_cli_reports_a_saved_profile(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    kp.save(sample(), path)
    out = _cli("probe", "--from", str(path))
    assert out.returncode == 0, out.stderr
    assert "Kernel 6.1.0-27-amd64 (x86_64)" in out.stdout
    assert "lsm: denied — EPERM: lockdown" in out.stdout
    out = _cli("probe", "--from", str(path), "--format", "json")
    assert kp.loads(out.stdout) == sample()


def test_probe_cli_bad_only_and_format_exit_2() -> None:
    out = _cli("probe", "--only", "helpers,nope")
    assert out.returncode == 2
    assert out.stderr.strip() == ("bpfdoctor: error: --only: unknown group 'nope' (known: "
                                  "prog_types, map_types, map_flags, helpers, isa, verifier, "
                                  "program_features, btf_kinds, kfuncs, attach, link_types, "
                                  "token, tracing)")
    out = _cli("probe", "--format", "xml")
    assert out.returncode == 2 and "unknown format 'xml'" in out.stderr


def test_probe_btf_only_json_is_a_valid_profile(tmp_path: Path) -> None:
    """Runs anywhere (no bpf() calls): the JSON written is readable by kernelprofile."""
    saved = tmp_path / "p.json"
    out = _cli("probe", "--btf-only", "--format", "json", "--save", str(saved))
    assert out.returncode == 0, out.stderr
    printed = kp.loads(out.stdout, "stdout")
    assert kp.load(saved).host == printed.host
    assert printed.probe.live is False
    for items in printed.features.values():
        for f in items.values():
            if f.state is not S:
                assert f.reason, f
