"""CO-RE resolution (relocate.py) against target BTF that differs from the local one.

Small local/target pairs are made with BtfBuilder so every expected number can be worked out by
hand; the clang/bpftool tests then compare with libbpf itself on the running kernel's BTF.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from bpfdoctor.btf import (
    POISON_IMM,
    Btf,
    BtfBuilder,
    BtfExt,
    CoreRelo,
    CoreReloKind,
    calc_relo,
    calc_relos,
)
from bpfdoctor.btf.relocate import essential_name, find_candidates
from test_btf_support import VMLINUX, compile_bpf, section

K = CoreReloKind


def _local() -> tuple[Btf, dict[str, int]]:
    b = BtfBuilder()
    i: dict[str, int] = {}
    i["int"] = b.add_int("int", 4, signed=True)
    i["uint"] = b.add_int("unsigned int", 4)
    i["char"] = b.add_int("char", 1, signed=True, char=True)
    i["fwd"] = b.add_fwd("task___old")
    i["ptr"] = b.add_ptr(i["fwd"])
    i["name"] = b.add_array(i["char"], i["uint"], 8)
    i["task"] = b.add_struct(
        "task___old",
        32,
        [
            ("pid", i["int"], 0),
            ("tgid", i["int"], 32),
            ("parent", i["ptr"], 64),
            ("gone", i["int"], 128),
            ("bits", i["uint"], 160, 3),
            ("name", i["name"], 192),
        ],
    )
    i["mode"] = b.add_enum("mode___x", [("MODE_A___x", 1), ("MODE_C", 3)])
    i["anon"] = b.add_struct("", 4, [("x", i["int"], 0)])
    i["small"] = b.add_struct("small", 4, [("a", i["int"], 0)])
    i["slong"] = b.add_int("long", 8, signed=True)
    i["ulong"] = b.add_int("unsigned long", 8)
    i["sized"] = b.add_struct("sized", 8, [("s", i["int"], 0), ("u", i["uint"], 32)])
    return b.build(source="local"), i


def _target(endian: str = "little") -> tuple[Btf, dict[str, int]]:
    b = BtfBuilder()
    i: dict[str, int] = {}
    i["int"] = b.add_int("int", 4, signed=True)
    i["uint"] = b.add_int("unsigned int", 4)
    i["char"] = b.add_int("char", 1, signed=True, char=True)
    i["long"] = b.add_int("long", 8, signed=True)
    i["ulong"] = b.add_int("unsigned long", 8)
    i["ptr"] = b.add_ptr(0)  # patched below: pointer to task
    i["name"] = b.add_array(i["char"], i["uint"], 16)
    i["u"] = b.add_union("", 8, [("parent", i["ptr"], 0), ("raw", i["ulong"], 0)])
    i["task"] = b.add_struct(
        "task",
        64,
        [
            ("x", i["long"], 0),
            ("pid", i["int"], 64),
            ("tgid", i["int"], 96),
            ("", i["u"], 128),
            ("bits", i["uint"], 200, 5),
            ("name", i["name"], 256),
        ],
    )
    i["mode"] = b.add_enum64("mode", [("MODE_B", 20), ("MODE_A", 10)])
    i["small"] = b.add_struct("small", 4, [("a", i["int"], 0)])
    i["sized"] = b.add_struct("sized", 16, [("s", i["long"], 0), ("u", i["ulong"], 64)])
    # Fix the forward-declared pointer now that task has an id.
    b._types[i["ptr"] - 1] = type(b._types[0])(0, b._types[i["ptr"] - 1].info, i["task"], ())
    return b.build(endian=endian, source="target"), i  # type: ignore[arg-type]


def run(kind: CoreReloKind, access: str, root: str = "task", endian: str = "little"):  # type: ignore[no-untyped-def]
    local, li = _local()
    targ, _ = _target(endian)
    return calc_relo(CoreRelo(5, li[root], access, kind), local, targ)


def test_essential_names() -> None:
    assert essential_name("task_struct___old") == "task_struct"
    assert essential_name("a___b___c") == "a___b"
    assert essential_name("plain") == "plain"
    assert essential_name("foo____bar") == "foo____bar"  # ____ is not a flavor separator
    assert essential_name("___x") == "___x"


def test_candidates_by_essential_name_and_kind() -> None:
    local, li = _local()
    targ, ti = _target()
    assert find_candidates(local, li["task"], targ) == (ti["task"],)  # not the FWD-less ptr
    assert find_candidates(local, li["mode"], targ) == (ti["mode"],)  # ENUM finds ENUM64
    assert find_candidates(local, li["anon"], targ) == ()


def test_field_offset_moves() -> None:
    r = run(K.FIELD_BYTE_OFFSET, "0:0")
    assert r.ok and (r.orig_value, r.new_value) == (0, 8)
    assert r.target is not None and r.target.format() == "byte_off struct task.pid (0:1 @ offset 8)"
    assert (r.orig_size, r.new_size, r.mem_size_mismatch) == (4, 4, False)
    assert "-> byte_off struct task.pid" in r.describe()


def test_field_found_through_anonymous_union() -> None:
    r = run(K.FIELD_BYTE_OFFSET, "0:2")
    assert r.ok and r.new_value == 16
    assert r.target is not None and r.target.raw == (0, 3, 0)


def test_missing_field_exists_is_zero_not_poison() -> None:
    r = run(K.FIELD_EXISTS, "0:3")
    assert r.ok and not r.poisoned and (r.orig_value, r.new_value) == (1, 0)
    assert r.missing == "task.gone"
    assert r.reason == "struct task has no field 'gone'"


def test_missing_field_offset_is_poisoned() -> None:
    r = run(K.FIELD_BYTE_OFFSET, "0:3")
    assert not r.ok and r.poisoned and r.new_value is None and r.error is None
    assert r.missing == "task.gone"
    assert "instruction poisoned" in r.describe()
    assert POISON_IMM == 195896080


def test_array_field_size_and_element() -> None:
    r = run(K.FIELD_BYTE_SIZE, "0:5")
    assert r.ok and (r.orig_value, r.new_value) == (8, 16)
    r = run(K.FIELD_BYTE_OFFSET, "0:5:3")
    assert r.ok and (r.orig_value, r.new_value) == (27, 35)


def test_array_index_past_target_end() -> None:
    local, li = _local()
    b = BtfBuilder()
    ch = b.add_int("char", 1, signed=True)
    u = b.add_int("unsigned int", 4)
    arr = b.add_array(ch, u, 4)
    b.add_struct("task", 4, [("name", arr, 0)])
    r = calc_relo(CoreRelo(0, li["task"], "0:5:6", K.FIELD_BYTE_OFFSET), local, b.build())
    assert r.poisoned and r.reason == "index 6 is past the end of an array of 4"


@pytest.mark.parametrize(
    ("endian", "kind", "orig", "new"),
    [
        ("little", K.FIELD_BYTE_OFFSET, 20, 24),
        ("little", K.FIELD_BYTE_SIZE, 4, 4),
        ("little", K.FIELD_SIGNED, 0, 0),
        ("little", K.FIELD_LSHIFT_U64, 61, 51),
        ("little", K.FIELD_RSHIFT_U64, 61, 59),
        ("big", K.FIELD_LSHIFT_U64, 61, 40),
        ("big", K.FIELD_RSHIFT_U64, 61, 59),
    ],
)
def test_bitfield_values(endian: str, kind: CoreReloKind, orig: int, new: int) -> None:
    # local bits: uint:3 at bit 160 -> byte_off 20, lshift 64-(160+3-160)=61, rshift 61.
    # target bits: uint:5 at bit 200 -> byte_off 24; LE lshift 64-(200+5-192)=51; BE
    # lshift (8-4)*8 + (200-192) = 40; rshift 64-5 = 59.
    r = run(kind, "0:4", endian=endian)
    assert r.ok and (r.orig_value, r.new_value) == (orig, new)


def test_type_based_relocations() -> None:
    local, li = _local()
    targ, ti = _target()
    r = calc_relo(CoreRelo(0, li["task"], "0", K.TYPE_SIZE), local, targ)
    assert r.ok and (r.orig_value, r.new_value) == (32, 64)
    r = calc_relo(CoreRelo(0, li["task"], "0", K.TYPE_EXISTS), local, targ)
    assert r.ok and r.new_value == 1
    r = calc_relo(CoreRelo(0, li["task"], "0", K.TYPE_ID_TARGET), local, targ)
    assert r.ok and r.new_value == ti["task"]
    r = calc_relo(CoreRelo(0, li["task"], "0", K.TYPE_ID_LOCAL), local, targ)
    assert r.ok and r.new_value == li["task"]
    b = BtfBuilder()
    b.add_int("int", 4)
    r = calc_relo(CoreRelo(0, li["task"], "0", K.TYPE_EXISTS), local, b.build())
    assert r.ok and r.new_value == 0 and r.missing == "struct task"
    assert r.reason == "no struct named 'task' in target BTF"


def test_type_matches_is_stricter_than_exists() -> None:
    local, li = _local()
    targ, _ = _target()
    assert calc_relo(CoreRelo(0, li["small"], "0", K.TYPE_MATCHES), local, targ).new_value == 1
    # sized: local int/uint vs target long/ulong -> sizes differ, no match (but it exists).
    assert calc_relo(CoreRelo(0, li["sized"], "0", K.TYPE_MATCHES), local, targ).new_value == 0
    assert calc_relo(CoreRelo(0, li["sized"], "0", K.TYPE_EXISTS), local, targ).new_value == 1


def test_enum_values_by_essential_name() -> None:
    r = run(K.ENUMVAL_VALUE, "0", root="mode")
    assert r.ok and (r.orig_value, r.new_value) == (1, 10)
    assert r.target is not None and r.target.format() == "enumval_value enum64 mode::MODE_A = 10"
    r = run(K.ENUMVAL_EXISTS, "1", root="mode")
    assert r.ok and r.new_value == 0 and r.missing == "enum mode::MODE_C"
    r = run(K.ENUMVAL_VALUE, "1", root="mode")
    assert r.poisoned and r.reason == "enum64 mode has no enumerator MODE_C"


def test_incompatible_field_type() -> None:
    local, li = _local()
    b = BtfBuilder()
    i = b.add_int("int", 4)
    inner = b.add_struct("inner", 4, [("v", i, 0)])
    b.add_struct("task", 4, [("pid", inner, 0)])
    r = calc_relo(CoreRelo(0, li["task"], "0:0", K.FIELD_BYTE_OFFSET), local, b.build())
    assert r.poisoned
    assert (
        r.reason == "field 'pid' of struct task has an incompatible type (struct inner, local int)"
    )


def test_memory_size_adjustment() -> None:
    local, li = _local()
    targ, _ = _target()
    signed = calc_relo(CoreRelo(0, li["sized"], "0:0", K.FIELD_BYTE_OFFSET), local, targ)
    assert (signed.orig_size, signed.new_size, signed.mem_size_mismatch) == (4, 8, True)
    unsigned = calc_relo(CoreRelo(0, li["sized"], "0:1", K.FIELD_BYTE_OFFSET), local, targ)
    assert (unsigned.new_value, unsigned.new_size, unsigned.mem_size_mismatch) == (8, 8, False)


def test_ambiguous_flavors_are_an_error() -> None:
    local, li = _local()
    b = BtfBuilder()
    i = b.add_int("int", 4, signed=True)
    b.add_struct("task", 8, [("pid", i, 0)])
    b.add_struct("task___v2", 8, [("pad", i, 0), ("pid", i, 32)])
    r = calc_relo(CoreRelo(0, li["task"], "0:0", K.FIELD_BYTE_OFFSET), local, b.build())
    assert not r.ok and r.error is not None and r.error.startswith("field offset ambiguity")
    same = BtfBuilder()
    i = same.add_int("int", 4, signed=True)
    same.add_struct("task", 8, [("pid", i, 0)])
    same.add_struct("task___v2", 8, [("pid", i, 0)])
    r = calc_relo(CoreRelo(0, li["task"], "0:0", K.FIELD_BYTE_OFFSET), local, same.build())
    assert r.ok and len(r.matched) == 2


def test_anonymous_root_and_malformed_spec_are_errors() -> None:
    local, li = _local()
    targ, _ = _target()
    r = calc_relo(CoreRelo(0, li["anon"], "0:0", K.FIELD_BYTE_OFFSET), local, targ)
    assert r.error == "<byte_off> relocation does not support anonymous types"
    r = calc_relo(CoreRelo(0, li["task"], "0:42", K.FIELD_BYTE_OFFSET), local, targ)
    assert r.error is not None and "member #42" in r.error and r.local is None


def test_calc_relos_caches_candidates_per_root() -> None:
    local, li = _local()
    targ, _ = _target()
    relos = {"sec": tuple(CoreRelo(n, li["task"], f"0:{n}", K.FIELD_EXISTS) for n in range(6))}
    results = calc_relos(relos, local, targ)["sec"]
    assert [r.new_value for r in results] == [1, 1, 1, 0, 1, 1]


# -- against libbpf on the running kernel ----------------------------------------------------

TARGET_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task_struct___mine {
	int pid;
	int tgid;
	struct task_struct___mine *real_parent;
	long not_in_kernel;
	char comm[16];
} __attribute__((preserve_access_index));

struct sk_buff___mine {
	unsigned int len;
	unsigned char cloned : 1;
	unsigned char pkt_type : 3;
	unsigned int mark;
} __attribute__((preserve_access_index));

struct no_such_struct { int x; } __attribute__((preserve_access_index));
enum pid_type___mine { PIDTYPE_TGID___mine = 1, PIDTYPE_GONE___mine = 9 };
struct list_head___m { struct list_head___m *next, *prev; };

SEC("tracepoint/syscalls/sys_enter_write")
int prog_target(void *ctx)
{
	struct task_struct___mine *t = (void *)bpf_get_current_task();
	struct sk_buff___mine *skb = ctx;
	struct no_such_struct *n = ctx;
	int v = BPF_CORE_READ(t, real_parent, tgid);
	v += BPF_CORE_READ(t, pid);
	if (bpf_core_field_exists(t->not_in_kernel))
		v += BPF_CORE_READ(t, not_in_kernel);
	v += bpf_core_field_size(t->comm);
	v += BPF_CORE_READ(t, comm[3]);
	v += BPF_CORE_READ(skb, len) + BPF_CORE_READ(skb, mark);
	v += BPF_CORE_READ_BITFIELD_PROBED(skb, cloned);
	v += BPF_CORE_READ_BITFIELD_PROBED(skb, pkt_type);
	v += bpf_core_type_exists(struct no_such_struct);
	v += bpf_core_type_size(struct task_struct___mine);
	v += bpf_core_type_id_kernel(struct sk_buff___mine);
	v += bpf_core_enum_value_exists(enum pid_type___mine, PIDTYPE_GONE___mine);
	v += bpf_core_enum_value(enum pid_type___mine, PIDTYPE_TGID___mine);
	v += bpf_core_type_matches(struct list_head___m);
	v += BPF_CORE_READ(n, x);
	return v;
}

char LICENSE[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def target_obj(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_bpf(TARGET_C, tmp_path_factory.mktemp("core") / "target.o")


def _results(obj: Path) -> list:  # type: ignore[type-arg]
    local = Btf.from_bytes(section(obj, ".BTF"))
    ext = BtfExt.from_bytes(section(obj, ".BTF.ext"), local)
    vmlinux = Btf.from_bytes(VMLINUX.read_bytes(), source="vmlinux")
    res = calc_relos(ext.core_relos, local, vmlinux)
    assert list(res) == ["tracepoint/syscalls/sys_enter_write"]
    return list(res["tracepoint/syscalls/sys_enter_write"])


_CAND = re.compile(r"relo #(\d+): (matching|non-matching) candidate #0 (.*)$")


@pytest.mark.clang
@pytest.mark.bpftool
@pytest.mark.skipif(not VMLINUX.exists(), reason="no /sys/kernel/btf/vmlinux")
def test_target_specs_match_libbpf(target_obj: Path, tmp_path: Path) -> None:
    """libbpf logs the target spec of each matching candidate in ``gen min_core_btf``."""
    out = subprocess.run(
        [
            "bpftool",
            "-d",
            "gen",
            "min_core_btf",
            str(VMLINUX),
            str(tmp_path / "m.btf"),
            str(target_obj),
        ],
        capture_output=True,
        text=True,
    )
    libbpf: dict[int, tuple[bool, str]] = {}
    for line in out.stderr.splitlines():
        m = _CAND.search(line)
        if m:
            libbpf[int(m.group(1))] = (m.group(2) == "matching", m.group(3))
    results = _results(target_obj)
    assert len(libbpf) >= 20
    for idx, r in enumerate(results):
        if idx not in libbpf:  # no candidate at all (no_such_struct)
            assert r.candidates == () and r.target is None
            continue
        matching, text = libbpf[idx]
        assert (r.target is not None) == matching, (idx, r.describe())
        if matching:
            assert r.target is not None and r.target.format(libbpf=True) == text


_PATCH = re.compile(r"relo #(\d+): (?:patched insn #\d+ \(\S+\) \S+ \S+ -> (\d+)|substituting)")


@pytest.mark.kernel
@pytest.mark.clang
@pytest.mark.bpftool
@pytest.mark.slow
@pytest.mark.skipif(not VMLINUX.exists(), reason="no /sys/kernel/btf/vmlinux")
def test_new_values_match_libbpf_patches(target_obj: Path, tmp_path: Path) -> None:
    """Let libbpf relocate for real (``bpftool -d prog load``) and compare every patched value
    and every poisoned instruction. Mounts a private bpffs under tmp_path and unmounts it."""
    mnt = tmp_path / "bpffs"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "bpf", "bpf", str(mnt)], check=True)
    try:
        out = subprocess.run(
            ["bpftool", "-d", "prog", "load", str(target_obj), str(mnt / "p")],
            capture_output=True,
            text=True,
            timeout=120,
        )
        (mnt / "p").unlink(missing_ok=True)
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
    patched: dict[int, int | None] = {}
    for line in out.stderr.splitlines():
        m = _PATCH.search(line)
        if m:
            patched[int(m.group(1))] = int(m.group(2)) if m.group(2) else None
    results = _results(target_obj)
    assert len(patched) == len(results)
    for idx, r in enumerate(results):
        assert r.new_value == patched[idx], (idx, r.describe())
        assert r.poisoned == (patched[idx] is None)
