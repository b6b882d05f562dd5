"""Pure parts of the probe layer: BTF scan, host-file parsers, state rules, report."""

from __future__ import annotations

import errno
import os
import struct

import pytest

from bpfdoctor import kfacts
from bpfdoctor.btf import Btf, BtfBuilder, BtfKind, BtfLinkage
from bpfdoctor.errors import BtfError
from bpfdoctor.kernelprofile import (
    BtfFacts,
    Feature,
    HostFacts,
    KernelProfile,
    ProbeMeta,
    SecurityFacts,
)
from bpfdoctor.model import Category, FeatureState
from bpfdoctor.probe import asm, host
from bpfdoctor.probe.features import ProbeContext, classify_failure, expand_groups
from bpfdoctor.probe.kconfig import Kconfig, parse_kconfig
from bpfdoctor.probe.live import LiveProber
from bpfdoctor.probe.problems import find_problems
from bpfdoctor.probe.render import render_text
from bpfdoctor.probe.syscall import SyscallResult, errno_name

S, U, D, N = (FeatureState.SUPPORTED, FeatureState.UNSUPPORTED, FeatureState.DENIED,
              FeatureState.UNKNOWN)


def kernel_like_btf() -> bytes:
    b = BtfBuilder()
    i = b.add_int("int", 4, signed=True)
    b.add_enum("bpf_prog_type", [("BPF_PROG_TYPE_UNSPEC", 0), ("BPF_PROG_TYPE_SOCKET_FILTER", 1),
                                 ("BPF_PROG_TYPE_XDP", 6), ("BPF_PROG_TYPE_LIRC_MODE2", 20),
                                 ("__MAX_BPF_PROG_TYPE", 21)])
    b.add_enum("bpf_func_id", [("BPF_FUNC_unspec", 0), ("BPF_FUNC_map_lookup_elem", 1),
                               ("__BPF_FUNC_MAX_ID", 2)])
    b.add_enum("bpf_map_type", [("BPF_MAP_TYPE_CGROUP_STORAGE_DEPRECATED", 19),
                                ("BPF_MAP_TYPE_CGROUP_STORAGE", 19)])
    b.add_enum64("big", [("BIG_ONE", 1 << 40)])
    proto = b.add_func_proto(i, [("x", i)])
    f1 = b.add_func("bpf_rcu_read_lock", proto, BtfLinkage.GLOBAL)
    f2 = b.add_func("not_a_kfunc", proto, BtfLinkage.GLOBAL)
    b.add_decl_tag("bpf_kfunc", f1, -1)
    b.add_decl_tag("bpf_kfunc", f2, 0)  # tag on a parameter, not the function
    b.add_struct("s", 4, [("a", i, 0)])
    return b.encode()


def test_shared_btf_reader_gives_enums_funcs_and_kfuncs() -> None:
    btf = Btf.from_bytes(kernel_like_btf())
    assert kfacts.enum_values(btf, "bpf_prog_type")["BPF_PROG_TYPE_XDP"] == 6
    assert kfacts.enum_values(btf, "big") == {"BIG_ONE": 1 << 40}
    assert kfacts.enum_values(btf, "missing") == {}
    lock = btf.find("bpf_rcu_read_lock", BtfKind.FUNC)
    assert kfacts.kfunc_ids(btf) == {"bpf_rcu_read_lock": lock[0]}
    assert btf.find("not_a_kfunc", BtfKind.FUNC)
    assert btf.find("int", BtfKind.FUNC) == []  # right name, wrong kind
    assert {"INT", "ENUM", "ENUM64", "FUNC", "FUNC_PROTO", "DECL_TAG", "STRUCT"} <= \
        set(kfacts.kind_names(btf))
    assert kfacts.has_string(btf, "bpf_kfunc") and not kfacts.has_string(btf, "bpf_kfun")
    assert not kfacts.has_string(btf, "kfunc")  # a suffix of a string is not a whole string


def test_btf_facts_names_follow_libbpf_and_skip_sentinels() -> None:
    btf = Btf.from_bytes(kernel_like_btf())
    assert kfacts.enum_ids(btf, "prog_types") == {"socket_filter": 1, "xdp": 6,
                                                  "lirc_mode2": 20}
    assert kfacts.enum_ids(btf, "helpers") == {"bpf_map_lookup_elem": 1}
    assert kfacts.enum_ids(btf, "map_types") == {"cgroup_storage": 19}
    kc = parse_kconfig("CONFIG_BPF=y\n# CONFIG_BPF_LIRC_MODE2 is not set\n")
    facts = kfacts.group_features(btf, kc.values, "prog_types", "no CAP_BPF")
    assert facts["xdp"].state is S and facts["xdp"].source == "btf"
    assert "from BTF" in (facts["xdp"].reason or "") and "no CAP_BPF" in (facts["xdp"].reason
                                                                          or "")
    assert facts["lirc_mode2"].state is U and "CONFIG_BPF_LIRC_MODE2" in (
        facts["lirc_mode2"].reason or "")
    # this BTF's enum lacks kprobe: an append-only enum without it means no such type
    assert facts["kprobe"].state is U and "not in this kernel's enum" in (
        facts["kprobe"].reason or "")
    assert set(kfacts.group_features(btf, kc.values, "kfuncs")) == {"bpf_rcu_read_lock"}
    # without a config nothing is compiled out
    assert kfacts.group_features(btf, None, "prog_types")["lirc_mode2"].state is S


def test_kfacts_map_flags_and_btf_kinds() -> None:
    b = BtfBuilder()
    b.add_int("int", 4)
    b.add_enum("", [("BPF_F_NO_PREALLOC", 1), ("BPF_F_MMAPABLE", 1024)])
    btf = Btf.from_bytes(b.encode())
    flags = kfacts.map_flags(btf, "no CAP_BPF")
    assert set(flags) == {"no_prealloc", "mmapable"}
    assert flags["mmapable"].reason == "from BTF: BPF_F_MMAPABLE is defined; no CAP_BPF"
    kinds = kfacts.group_features(btf, None, "btf_kinds")
    assert set(kinds) == {"btf"}  # INT and ENUM are not probe keys; unused kinds left out
    assert set(kfacts.btf_kinds(["STRUCT", "FLOAT", "INT"])) == {"btf", "struct", "float"}
    everything = kfacts.btf_features(btf, None)
    assert set(everything) == {"map_flags", "btf_kinds"}  # no bpf_* enums: nothing claimed


@pytest.mark.skipif(not os.path.exists("/sys/kernel/btf/vmlinux"), reason="no vmlinux BTF")
def test_btf_only_probe_reads_the_kernel_like_from_kernel() -> None:
    """One reading of BTF: the probe without bpf() says what kfacts says, plus why."""
    from bpfdoctor.probe import capture as cap
    from bpfdoctor.probe.kconfig import read_host_kconfig

    groups = ["prog_types", "map_types", "helpers", "attach", "link_types", "kfuncs"]
    p = cap.capture(groups, btf_only=True)
    kc, _ = read_host_kconfig()
    with open("/sys/kernel/btf/vmlinux", "rb") as fh:
        shared = kfacts.btf_features(Btf.from_bytes(fh.read()),
                                     kc.values if kc.source else None)
    for group in groups:
        assert p.features[group].keys() == shared[group].keys(), group
        for name, want in shared[group].items():
            got = p.features[group][name]
            assert (got.state, got.source) == (want.state, want.source), (group, name)
            assert (got.reason or "").startswith(want.reason or ""), (group, name)


@pytest.mark.parametrize(("blob", "message"), [
    (b"", "header truncated"),
    (b"\x00\x00" + b"\x00" * 30, "bad BTF magic"),
    (struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, 1000, 0, 0), "past the end"),
])
def test_malformed_btf_is_one_line_error(blob: bytes, message: str) -> None:
    with pytest.raises(BtfError, match=message) as exc:
        Btf.from_bytes(blob, source="/sys/kernel/btf/vmlinux")
    assert "\n" not in str(exc.value)


def test_truncated_btf_type_is_one_line_error() -> None:
    b = BtfBuilder()
    b.add_raw(4, "s", vlen=5, size_type=4)  # a struct claiming 5 members, none written
    with pytest.raises(BtfError, match=r"type \[1\]") as exc:
        Btf.from_bytes(b.encode())
    assert "\n" not in str(exc.value)


def test_shared_btf_reader_reads_big_endian() -> None:
    b = BtfBuilder()
    b.add_int("int", 4)
    b.add_enum("e", [("A", 7)])
    b.add_enum("bpf_map_type", [("BPF_MAP_TYPE_HASH", 1)])
    btf = Btf.from_bytes(b.encode("big"))
    assert kfacts.enum_values(btf, "e") == {"A": 7}
    assert kfacts.enum_ids(btf, "map_types") == {"hash": 1}
    assert kfacts.has_string(btf, "A")


@pytest.mark.skipif(not os.path.exists("/sys/kernel/btf/vmlinux"), reason="no vmlinux BTF")
def test_vmlinux_btf_on_this_kernel_agrees_with_uapi_table() -> None:
    from bpfdoctor.knowledge import uapi

    with open("/sys/kernel/btf/vmlinux", "rb") as fh:
        btf = Btf.from_bytes(fh.read())
    assert kfacts.enum_ids(btf, "prog_types")["xdp"] == 6
    ours = kfacts.enum_ids(btf, "helpers")
    assert ours["bpf_map_lookup_elem"] == 1
    assert "bpf_unspec" not in ours
    assert set(uapi.helper_ids()) <= set(ours)


MOUNTINFO = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
45 23 0:22 /fs/bpf /sys/fs/bpf rw,relatime - sysfs sysfs rw
60 23 0:50 / /sys/fs/bpf rw,nosuid - bpf bpf rw,delegate_cmds=map_create:prog_load,delegate_maps=any
61 23 0:51 / /sys/kernel/tracing rw - tracefs tracefs rw
62 23 0:52 / /sys/kernel/debug rw - debugfs debugfs rw
63 23 0:53 / /mnt/with\\040space rw - bpf none rw
"""


def test_mountinfo_finds_bpffs_delegation_and_tracefs() -> None:
    mounts = host.parse_mountinfo(MOUNTINFO)
    bpffs = [host.bpffs_mount(p, o) for p, t, o in mounts if t == "bpf"]
    assert [m.path for m in bpffs] == ["/sys/fs/bpf", "/mnt/with space"]
    assert bpffs[0].delegate_cmds == "map_create:prog_load"
    assert bpffs[0].delegate_maps == "any"
    assert bpffs[0].delegate_progs is None and bpffs[0].delegates
    assert not bpffs[1].delegates
    assert [p for p, t, _ in mounts if t == "tracefs"] == ["/sys/kernel/tracing"]


def test_capabilities_by_name() -> None:
    status = "Name:\tpython3\nCapEff:\t000001fffeffffff\n"
    caps = host.parse_capabilities(status)
    assert "CAP_BPF" in caps and "CAP_PERFMON" in caps and "CAP_SYS_ADMIN" in caps
    assert "CAP_SYS_RESOURCE" not in caps  # bit 24 clear
    assert host.parse_capabilities("CapEff:\t0000000000000000\n") == ()
    assert host.parse_capabilities("no caps line") == ()


def test_lockdown_and_cmdline_parsers() -> None:
    assert host.parse_lockdown("none [integrity] confidentiality\n") == "integrity"
    assert host.parse_lockdown("[none] integrity confidentiality") == "none"
    assert host.lockdown_from_dmesg(
        "[0.03] Kernel is locked down from Kernel configuration; see man kernel_lockdown.7"
    ) == "integrity"
    assert host.lockdown_from_dmesg("nothing here") is None
    cmd = "BOOT_IMAGE=/vmlinuz root=/dev/sda lockdown=confidentiality bpf_jit_harden=2 -- x=1"
    assert host.parse_cmdline(cmd) == {"lockdown": "confidentiality", "bpf_jit_harden": "2"}


def test_memcg_accounting_version_gate() -> None:
    assert host.memcg_accounting("5.11.0") and host.memcg_accounting("6.1.0-27-amd64")
    assert not host.memcg_accounting("5.10.200")


def _ctx(caps: tuple[str, ...], lockdown: str | None = None) -> ProbeContext:
    return ProbeContext("6.18.0", Kconfig({"CONFIG_BPF_KPROBE_OVERRIDE": "n"}, "x"),
                        SecurityFacts(lockdown, "test", ("lockdown", "bpf"), "test", caps),
                        {"kernel.unprivileged_bpf_disabled": "2"})


def test_denials_name_the_missing_capability_or_the_policy() -> None:
    f = classify_failure(_ctx(()), errno.EPERM, "", "a socket filter")
    assert f.state is D
    assert "missing capability CAP_BPF" in (f.reason or "")
    assert "unprivileged_bpf_disabled=2" in (f.reason or "")
    f = classify_failure(_ctx(("CAP_BPF", "CAP_PERFMON", "CAP_NET_ADMIN", "CAP_SYS_ADMIN"),
                              "integrity"), errno.EPERM, "", "an lsm program")
    assert f.state is D and "lockdown (integrity)" in (f.reason or "")
    f = classify_failure(_ctx(("CAP_BPF",)), errno.EINVAL, "", "a lirc_mode2 program")
    assert f.state is U and f.reason == "EINVAL"
    f = classify_failure(_ctx(("CAP_BPF",)), errno.E2BIG, "", "x")
    assert f.state is U


def _res(err: int, log: str) -> SyscallResult:
    return SyscallResult(None, err, log)


@pytest.mark.parametrize(("log", "err", "state"), [
    ("0: (85) call bpf_x#4\nprogram of this type cannot use helper bpf_x#4\nprocessed 1 insns",
     errno.EINVAL, U),
    ("0: (85) call bpf_x#4\nunknown func bpf_x#4\nprocessed 1 insns", errno.EINVAL, U),
    ("0: (85) call unknown#999\ninvalid func unknown#999\nprocessed 1 insns", errno.EINVAL, U),
    ("helper call is not allowed in probe\n", errno.EINVAL, U),
    ("0: (85) call bpf_x#4\nR1 type=ctx expected=fp\nprocessed 1 insns", errno.EACCES, S),
    ("cannot call GPL-restricted function from non-GPL compatible program\n", errno.EINVAL, S),
    ("", errno.EPERM, D),
])
def test_helper_wordings(log: str, err: int, state: FeatureState) -> None:
    prober = LiveProber(_ctx(("CAP_BPF", "CAP_PERFMON"), None))
    assert prober.classify_helper("socket_filter", "bpf_x", _res(err, log)).state is state


def test_lockdown_removed_helper_is_denied_only_where_lockdown_applies() -> None:
    log = ("0: (85) call bpf_probe_write_user#36\nprogram of this type cannot use helper "
           "bpf_probe_write_user#36\nprocessed 1 insns")
    locked = LiveProber(_ctx(("CAP_BPF",), "integrity"))
    f = locked.classify_helper("kprobe", "bpf_probe_write_user", _res(errno.EINVAL, log))
    assert f.state is D and (f.reason or "").startswith("lockdown (integrity) removes")
    f = locked.classify_helper("xdp", "bpf_probe_write_user", _res(errno.EINVAL, log))
    assert f.state is U  # XDP never had it, lockdown or not
    free = LiveProber(_ctx(("CAP_BPF",), "none"))
    f = free.classify_helper("kprobe", "bpf_probe_write_user", _res(errno.EINVAL, log))
    assert f.state is U
    f = free.classify_helper("kprobe", "bpf_override_return",
                             _res(errno.EINVAL, "unknown func bpf_override_return#58\n"))
    assert f.state is U and f.reason == "CONFIG_BPF_KPROBE_OVERRIDE is not set"


def test_expand_groups_adds_dependencies_in_order() -> None:
    assert expand_groups(["helpers"]) == ["prog_types", "helpers"]
    assert expand_groups(None)[0] == "prog_types"


def test_errno_names() -> None:
    assert errno_name(1) == "EPERM" and errno_name(524) == "ENOTSUPP"
    assert errno_name(99999) == "E99999"


def test_asm_encodings() -> None:
    assert asm.exit_insn() == bytes([0x95, 0, 0, 0, 0, 0, 0, 0])
    assert asm.mov64_imm(0, 1) == bytes([0xB7, 0, 0, 0, 1, 0, 0, 0])
    assert asm.call_helper(1) == bytes([0x85, 0, 0, 0, 1, 0, 0, 0])
    assert len(asm.ld_map_fd(1, 3)) == 16 and asm.ld_map_fd(1, 3)[1] == 0x11


def _profile(**features: dict[str, Feature]) -> KernelProfile:
    return KernelProfile(
        "2026-12-03T00:00:00Z", HostFacts("6.1.0", arch="x86_64"),
        SecurityFacts("integrity", "dmesg", ("lockdown",), "dmesg", ("CAP_BPF",),
                      memcg_accounting=True),
        btf=BtfFacts(vmlinux_present=False), features=features,
        probe=ProbeMeta("0", tuple(features), True, 1.0))


def test_problems_come_first_and_carry_categories() -> None:
    p = _profile(
        prog_types={"xdp": Feature(S), "lsm": Feature(D, "EPERM: lockdown", "live"),
                    "lirc_mode2": Feature(U, "CONFIG_BPF_LIRC_MODE2 is not set")},
        helpers={"bpf_probe_write_user": Feature(
            S, by_prog_type={"kprobe": Feature(D, "lockdown (integrity) removes it")})},
        tracing={"kprobe": Feature(U, "CONFIG_KPROBES is not set")},
    )
    problems = find_problems(p)
    cats = [x.category for x in problems]
    assert Category.VMLINUX_BTF_MISSING in cats
    assert Category.HELPER_UNAVAILABLE in cats
    assert Category.ATTACH_FAILED in cats
    assert Category.PROG_TYPE_UNSUPPORTED in cats
    assert [x.severity.value for x in problems] == sorted(
        (x.severity.value for x in problems), key=["error", "warning", "info"].index)
    text = render_text(p)
    assert text.index("Problems") < text.index("Features:")
    assert "lsm: denied — EPERM: lockdown" in text
    assert "xdp" not in text.split("Features:")[1]  # supported items are not listed


def test_capture_without_btf_or_bpf_lists_items_as_denied(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A container without /sys/kernel/btf and without CAP_BPF: nothing is silently empty."""
    from bpfdoctor.probe import capture as cap

    monkeypatch.setattr(cap.host, "btf_facts", lambda release: (BtfFacts(), None))
    monkeypatch.setattr(cap, "live_access", lambda ctx: Feature(
        D, "EPERM loading a socket filter: missing capability CAP_BPF", "live"))
    p = cap.capture(["prog_types", "helpers", "isa", "kfuncs"])
    assert p.probe.live is False
    assert p.state("prog_types", "xdp") is D
    assert "no vmlinux BTF" in (p.feature("prog_types", "xdp").reason or "")  # type: ignore[union-attr]
    assert p.state("helpers", "bpf_map_lookup_elem") is D
    assert p.state("isa", "v4") is D
    assert p.features["kfuncs"] == {}
    problems = find_problems(p)
    assert problems[0].category is Category.PERMISSION or \
        problems[0].category is Category.VMLINUX_BTF_MISSING
    assert any(x.category is Category.VMLINUX_BTF_MISSING for x in problems)
