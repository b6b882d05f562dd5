"""Knowledge base: coverage of every UAPI name, known facts, and a reproducible generator."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.version import Version

from bpfdoctor.errors import InputError
from bpfdoctor.knowledge import uapi
from bpfdoctor.knowledge.kb import KINDS, KnowledgeBase, parse_kernel_version

ROOT = Path(__file__).resolve().parent.parent
KB = KnowledgeBase.load()


# -- coverage: every name the UAPI knows has an entry with a version ------------------------


@pytest.mark.parametrize(
    ("kind", "names"),
    [
        ("helper", lambda: uapi.helpers().values()),
        ("prog_type", lambda: uapi.prog_types().values()),
        ("map_type", lambda: uapi.map_types().values()),
        ("attach_type", lambda: uapi.attach_types().values()),
        ("link_type", lambda: uapi.link_types().values()),
        ("map_flag", lambda: uapi.map_flags().keys()),
    ],
)
def test_every_uapi_name_has_a_version(kind: str, names: object) -> None:
    missing = [n for n in names() if KB.min_kernel(kind, n) is None]  # type: ignore[operator]
    assert missing == []


def test_helper_count_matches_uapi() -> None:
    assert KB.names("helper") == frozenset(uapi.helpers().values())
    assert len(KB.names("helper")) == 211


def test_every_entry_has_a_parsable_version_and_a_source() -> None:
    for kind in KINDS:
        for name in KB.names(kind):
            e = KB.entry(kind, name)
            assert e is not None and e.min_kernel is not None, (kind, name)
            assert Version(e.min_kernel) >= Version("3.15"), (kind, name)
            assert e.source, (kind, name)


def test_helper_versions_follow_helper_ids() -> None:
    """Helper ids are append-only, so a later id never predates an earlier one."""
    ids = uapi.helpers()
    versions = [Version(KB.min_kernel("helper", ids[i]) or "0") for i in sorted(ids)]
    assert versions == sorted(versions)


# -- spot checks against known facts --------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "name", "version"),
    [
        ("helper", "bpf_map_lookup_elem", "3.19"),
        ("helper", "bpf_ringbuf_output", "5.8"),
        ("helper", "bpf_probe_read_kernel", "5.5"),
        ("helper", "bpf_trace_vprintk", "5.16"),
        ("helper", "bpf_loop", "5.17"),
        ("helper", "bpf_csum_level", "5.8"),
        ("helper", "bpf_jiffies64", "5.6"),
        ("helper", "bpf_tcp_gen_syncookie", "5.4"),
        ("helper", "bpf_get_prandom_u32", "4.1"),
        ("map_type", "ringbuf", "5.8"),
        ("map_type", "hash", "3.19"),
        ("prog_type", "lsm", "5.7"),
        ("prog_type", "xdp", "4.8"),
        ("prog_type", "tracing", "5.5"),
        ("map_flag", "BPF_F_MMAPABLE", "5.5"),
        ("map_flag", "BPF_F_STACK_BUILD_ID", "4.17"),
        ("attach_type", "cgroup_inet4_getpeername", "5.8"),
        ("link_type", "kprobe_multi", "5.18"),
        ("btf_kind", "ENUM64", "6.0"),
        ("btf_kind", "DECL_TAG", "5.16"),
        ("isa", "v2", "4.14"),
        ("isa", "v3", "5.1"),
        ("isa", "v4", "6.6"),
        ("feature", "global_data", "5.2"),
        ("feature", "bpf_to_bpf_calls", "4.16"),
        ("feature", "bounded_loops", "5.3"),
        ("feature", "large_insn_limit", "5.2"),
        ("feature", "ringbuf", "5.8"),
        ("feature", "bpf_token", "6.9"),
        ("feature", "mmapable_arrays", "5.5"),
        ("feature", "fentry_fexit", "5.5"),
        ("feature", "kprobe_multi", "5.18"),
        ("feature", "uprobe_multi", "6.6"),
        ("feature", "tcx", "6.6"),
        ("feature", "netkit", "6.7"),
        ("feature", "arena", "6.9"),
    ],
)
def test_known_versions(kind: str, name: str, version: str) -> None:
    assert KB.min_kernel(kind, name) == version


def test_gpl_only_spot_checks() -> None:
    gpl = KB.gpl_only_helpers()
    for name in ("bpf_probe_read", "bpf_trace_printk", "bpf_perf_event_output", "bpf_get_stack"):
        assert name in gpl, name
    for name in ("bpf_map_lookup_elem", "bpf_ringbuf_output", "bpf_tail_call", "bpf_ktime_get_ns"):
        assert name not in gpl, name
    entry = KB.entry("helper", "bpf_map_lookup_elem")
    assert entry is not None and entry.gpl_only is False


def test_lockdown_helpers() -> None:
    assert KB.lockdown_helpers("integrity") == frozenset({"bpf_probe_write_user"})
    assert {
        "bpf_probe_read_kernel",
        "bpf_probe_read",
        "bpf_probe_write_user",
    } <= KB.lockdown_helpers()
    assert KB.lockdown_helpers("none") == frozenset()
    with pytest.raises(InputError):
        KB.lockdown_helpers("paranoid")


def test_helpers_for_prog_type() -> None:
    xdp = KB.helpers_for_prog_type("xdp")
    assert xdp is not None
    assert {"bpf_redirect_map", "bpf_xdp_adjust_head", "bpf_map_lookup_elem"} <= xdp
    assert "bpf_skb_store_bytes" not in xdp
    sched_cls = KB.helpers_for_prog_type("sched_cls")
    assert sched_cls is not None and "bpf_skb_store_bytes" in sched_cls
    kprobe = KB.helpers_for_prog_type("kprobe")
    assert kprobe is not None and {"bpf_override_return", "bpf_probe_read_kernel"} <= kprobe
    assert KB.helpers_for_prog_type("ext") is None
    assert KB.helpers_for_prog_type("no_such_type") is None
    # bpf_bind is offered to connect hooks only (sock_addr_func_proto).
    connect = KB.helpers_for_prog_type("cgroup_sock_addr", "cgroup_inet4_connect")
    bind = KB.helpers_for_prog_type("cgroup_sock_addr", "cgroup_inet4_bind")
    assert connect is not None and bind is not None
    assert "bpf_bind" in connect and "bpf_bind" not in bind


def test_every_loadable_prog_type_has_base_helpers() -> None:
    for prog_type in uapi.prog_types().values():
        helpers = KB.helpers_for_prog_type(prog_type)
        if helpers is None or prog_type == "lirc_mode2":
            continue
        assert "bpf_map_lookup_elem" in helpers, prog_type


def test_supported_at() -> None:
    assert KB.supported_at("helper", "bpf_ringbuf_output", "5.8") is True
    assert KB.supported_at("helper", "bpf_ringbuf_output", "5.4.0-150-generic") is False
    assert KB.supported_at("map_type", "ringbuf", "v6.1") is True
    assert KB.supported_at("prog_type", "lsm", "4.19") is False
    assert KB.supported_at("prog_type", "xdp", "4.20") is True
    assert KB.supported_at("helper", "bpf_no_such_helper", "6.1") is None


def test_name_spellings_are_normalized() -> None:
    assert KB.min_kernel("helper", "map_lookup_elem") == "3.19"
    assert KB.min_kernel("helper", "BPF_FUNC_ringbuf_output") == "5.8"
    assert KB.min_kernel("prog_type", "BPF_PROG_TYPE_XDP") == "4.8"
    assert KB.min_kernel("map_type", "BPF_MAP_TYPE_RINGBUF") == "5.8"
    assert KB.min_kernel("map_flag", "mmapable") == "5.5"
    assert KB.min_kernel("btf_kind", "BTF_KIND_FLOAT") == "5.13"
    assert KB.min_kernel("attach_type", "BPF_TRACE_FENTRY") == "5.5"


def test_unknown_kind_is_an_input_error() -> None:
    with pytest.raises(InputError, match="unknown knowledge kind"):
        KB.min_kernel("kfunc", "bpf_obj_new")


@pytest.mark.parametrize("bad", ["", "linux", "5", "five.ten", "-5.4"])
def test_bad_kernel_version_is_an_input_error(bad: str) -> None:
    with pytest.raises(InputError, match="not a kernel version"):
        KB.supported_at("helper", "bpf_loop", bad)


@settings(max_examples=60)
@given(st.text(max_size=30))
def test_kernel_version_parser_never_crashes(text: str) -> None:
    try:
        v = parse_kernel_version(text)
    except InputError:
        return
    assert v.release[0] >= 0


@settings(max_examples=60)
@given(
    st.integers(min_value=3, max_value=7),
    st.integers(min_value=0, max_value=30),
    st.sampled_from(["", ".0", ".12", "-91-generic", ".44-fc-v1147", "+"]),
)
def test_supported_at_is_monotonic(major: int, minor: int, suffix: str) -> None:
    """If a target has a helper, every newer target has it too."""
    version = f"{major}.{minor}{suffix}"
    newer = f"{major}.{minor + 1}"
    for name in ("bpf_loop", "bpf_map_lookup_elem", "bpf_cgrp_storage_get"):
        if KB.supported_at("helper", name, version):
            assert KB.supported_at("helper", name, newer)


def test_disagreements_are_recorded() -> None:
    csum = KB.entry("helper", "bpf_csum_level")
    assert csum is not None and csum.disagreement and "5.7" in csum.disagreement
    syscall = KB.entry("prog_type", "syscall")
    assert syscall is not None and syscall.min_kernel == "5.14" and syscall.disagreement


def test_docs_feature_table_matches_the_data() -> None:
    """docs/knowledge.md lists every feature with the version and confidence the data has."""
    doc = (ROOT / "docs" / "knowledge.md").read_text()
    rows = dict(
        (m.group(1), (m.group(2), m.group(3)))
        for m in re.finditer(r"^\| `([a-z0-9_]+)` \| ([0-9.]+) \| (high|medium) \|$", doc, re.M)
    )
    expected = {}
    for name in KB.names("feature"):
        e = KB.entry("feature", name)
        assert e is not None
        expected[name] = (e.min_kernel, e.confidence)
    assert rows == expected


# -- the generator is reproducible from the committed excerpts ------------------------------


def test_generator_reproduces_committed_data(tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    shutil.copytree(ROOT / "tools" / "knowledge_sources", sources)
    out = tmp_path / "knowledge.json"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "gen_knowledge.py"),
            "--sources",
            str(sources),
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    committed = (ROOT / "src" / "bpfdoctor" / "knowledge" / "knowledge.json").read_text()
    assert json.loads(out.read_text()) == json.loads(committed)
    assert out.read_text() == committed


def test_generator_rejects_versions_against_id_order(tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    shutil.copytree(ROOT / "tools" / "knowledge_sources", sources)
    corrections = sources / "helper_version_corrections.tsv"
    corrections.write_text(
        "\n".join(
            line
            for line in corrections.read_text().splitlines()
            if not line.startswith("csum_level")
        )
        + "\n"
    )
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "gen_knowledge.py"),
            "--sources",
            str(sources),
            "--out",
            str(tmp_path / "k.json"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    assert "bpf_csum_level" in proc.stderr


# -- ground truth on this kernel ------------------------------------------------------------


@pytest.mark.kernel
def test_probe_excerpt_matches_this_kernel_for_xdp() -> None:
    """Re-ask the running kernel about a few XDP helpers (only meaningful on 6.18)."""
    import platform

    if not platform.release().startswith("6.18."):
        pytest.skip("the committed probe excerpt was recorded on 6.18")
    sys.path.insert(0, str(ROOT / "tools"))
    import gen_knowledge_probe as probe

    v = probe.Variant("xdp")
    ids = uapi.helper_ids()
    xdp = KB.helpers_for_prog_type("xdp")
    assert xdp is not None
    for name in ("bpf_xdp_adjust_head", "bpf_redirect_map", "bpf_skb_store_bytes"):
        err, log, _ = probe._load(v, 0, -1, ids[name], b"GPL")
        assert (probe._classify(err, log) != "not_allowed") == (name in xdp), name


def test_generator_rejects_versions_against_enum_order(tmp_path: Path) -> None:
    """Attach types are append-only too: sk_lookup cannot be newer than the later xdp value."""
    sources = tmp_path / "sources"
    shutil.copytree(ROOT / "tools" / "knowledge_sources", sources)
    manual = sources / "manual_versions.tsv"
    manual.write_text(
        manual.read_text().replace(
            "attach_type\tsk_lookup\t5.9\t", "attach_type\tsk_lookup\t6.12\t"
        )
    )
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "gen_knowledge.py"),
            "--sources",
            str(sources),
            "--out",
            str(tmp_path / "k.json"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    assert "attach_type" in proc.stderr and "sk_lookup" in proc.stderr


def test_capability_tiers() -> None:
    assert "bpf_trace_printk" in KB.capability_helpers("CAP_PERFMON")
    assert "bpf_probe_read_kernel" in KB.capability_helpers("CAP_PERFMON")
    assert "bpf_loop" in KB.capability_helpers("CAP_BPF")
    assert "bpf_spin_lock" in KB.capability_helpers("CAP_BPF")
    lookup = KB.entry("helper", "bpf_map_lookup_elem")
    assert lookup is not None and lookup.capability is None
    assert not KB.capability_helpers("CAP_BPF") & KB.capability_helpers("CAP_PERFMON")


def test_prog_type_helper_sets_are_consistent() -> None:
    """Every helper is callable from some program type; every set names only UAPI helpers."""
    every_helper = frozenset(uapi.helpers().values())
    seen: set[str] = set()
    for prog_type in uapi.prog_types().values():
        helpers = KB.helpers_for_prog_type(prog_type)
        if helpers is None:
            continue
        assert helpers <= every_helper, prog_type
        seen |= helpers
    assert seen == every_helper


def test_incomplete_sets_say_what_was_added_from_source() -> None:
    tracing = KB.prog_type_helpers("tracing")
    assert tracing is not None and not tracing.complete
    assert "bpf_get_func_arg" in tracing.added_from_source
    xdp = KB.prog_type_helpers("xdp")
    assert xdp is not None and xdp.complete and xdp.probed_on
    assert xdp.restricted.get("bpf_copy_from_user") == "sleepable_only"
