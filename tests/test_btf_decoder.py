"""Btf: header/strings/index validation, lazy decode, names, split BTF, both byte orders."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from bpfdoctor.btf import Btf, BtfBuilder, BtfKind, BtfLinkage, wire
from bpfdoctor.errors import BtfError
from test_btf_support import VMLINUX, bpftool_types, build_kinds_objects, section


@pytest.fixture(scope="session")
def kinds_objects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_kinds_objects(tmp_path_factory)


def every_kind(b: BtfBuilder) -> dict[str, int]:
    """One type of each of the 19 kinds; returns name -> id."""
    ids: dict[str, int] = {}
    ids["int"] = b.add_int("int", 4, signed=True)
    ids["uint"] = b.add_int("unsigned int", 4)
    ids["char"] = b.add_int("char", 1, char=True)
    ids["ptr"] = b.add_ptr(ids["int"])
    ids["arr"] = b.add_array(ids["char"], ids["uint"], 16)
    ids["fwd"] = b.add_fwd("later")
    ids["struct"] = b.add_struct(
        "pair",
        24,
        [
            ("a", ids["int"], 0),
            ("lo", ids["uint"], 32, 3),
            ("hi", ids["uint"], 35, 5),
            ("name", ids["arr"], 64),
        ],
    )
    ids["union"] = b.add_union("either", 4, [("i", ids["int"], 0), ("u", ids["uint"], 0)])
    ids["enum"] = b.add_enum("color", [("RED", 0), ("NEG", -5)], signed=True)
    ids["enum64"] = b.add_enum64("wide", [("HUGE", 1 << 40), ("MAXU", (1 << 64) - 1)])
    ids["typedef"] = b.add_typedef("pair_t", ids["struct"])
    ids["volatile"] = b.add_volatile(ids["typedef"])
    ids["const"] = b.add_const(ids["volatile"])
    ids["restrict"] = b.add_restrict(ids["ptr"])
    ids["proto"] = b.add_func_proto(ids["int"], [("p", ids["ptr"]), ("n", ids["uint"])])
    ids["func"] = b.add_func("do_it", ids["proto"], BtfLinkage.STATIC)
    ids["var"] = b.add_var("counter", ids["int"])
    ids["datasec"] = b.add_datasec(".data", 4, [(ids["var"], 0, 4)])
    ids["float"] = b.add_float("double", 8)
    ids["decl_tag"] = b.add_decl_tag("kfunc", ids["func"], -1)
    ids["arg_tag"] = b.add_decl_tag("nullable", ids["func"], 1)
    ids["type_tag"] = b.add_type_tag("user", ids["int"])
    ids["fwd_union"] = b.add_fwd("later_u", union=True)
    return ids


@pytest.mark.parametrize("endian", ["little", "big"])
def test_every_kind_round_trips(endian: wire.Endian) -> None:
    b = BtfBuilder()
    ids = every_kind(b)
    btf = Btf.from_bytes(b.encode(endian))
    assert btf.endian == endian
    assert btf.start_id == 1 and btf.type_count == len(ids)
    btf.validate()
    assert btf.type(0).kind is BtfKind.UNKN
    s = btf.type(ids["struct"])
    assert (s.kind, s.name, s.size, s.kflag, s.vlen) == (BtfKind.STRUCT, "pair", 24, True, 4)
    assert [(m.name, m.type, m.bit_offset, m.bitfield_size) for m in s.members] == [
        ("a", ids["int"], 0, 0),
        ("lo", ids["uint"], 32, 3),
        ("hi", ids["uint"], 35, 5),
        ("name", ids["arr"], 64, 0),
    ]
    enc = btf.type(ids["char"]).encoding
    assert enc is not None and not enc.signed and enc.char and not enc.bool and enc.bits == 8
    arr = btf.type(ids["arr"]).array
    assert arr is not None and (arr.type, arr.index_type, arr.nelems) == (
        ids["char"],
        ids["uint"],
        16,
    )
    assert [(v.name, v.value) for v in btf.type(ids["enum"]).values] == [("RED", 0), ("NEG", -5)]
    assert [(v.name, v.value) for v in btf.type(ids["enum64"]).values] == [
        ("HUGE", 1 << 40),
        ("MAXU", (1 << 64) - 1),
    ]
    assert btf.type(ids["func"]).linkage is BtfLinkage.STATIC
    assert btf.type(ids["func"]).type == ids["proto"]
    assert [p.name for p in btf.type(ids["proto"]).params] == ["p", "n"]
    assert btf.type(ids["var"]).linkage is BtfLinkage.GLOBAL
    sec = btf.type(ids["datasec"]).secinfos
    assert [(e.type, e.offset, e.size) for e in sec] == [(ids["var"], 0, 4)]
    assert btf.type(ids["decl_tag"]).component_idx == -1
    assert btf.type(ids["arg_tag"]).component_idx == 1
    assert btf.type(ids["float"]).size == 8
    assert btf.type(ids["fwd_union"]).is_fwd_union and not btf.type(ids["fwd"]).is_fwd_union
    assert btf.type(ids["type_tag"]).name == "user"
    counts = btf.kind_counts()
    assert (
        counts[BtfKind.INT] == 3 and counts[BtfKind.FWD] == 2 and sum(counts.values()) == len(ids)
    )
    assert btf.resolve(ids["const"]) == ids["struct"]
    assert btf.size_of(ids["const"]) == 24
    assert btf.size_of(ids["arr"]) == 16
    assert btf.size_of(ids["ptr"]) == 8
    assert btf.size_of(ids["func"]) is None and btf.size_of(ids["fwd"]) is None
    assert btf.size_of(ids["var"]) == 4


def test_find_names_kinds_and_duplicates() -> None:
    b = BtfBuilder()
    fwd = b.add_fwd("thing")
    i = b.add_int("int", 4, signed=True)
    st = b.add_struct("thing", 4, [("x", i, 0)])
    td = b.add_typedef("thing", st)
    btf = b.build()
    assert btf.find("thing") == [fwd, st, td]
    assert btf.find("thing", BtfKind.STRUCT) == [st]
    assert btf.find("thin") == [] and btf.find("hing") == []
    assert btf.find("int") == [i]
    assert btf.find_one("nothing") is None
    assert btf.name_of(st) == "thing" and btf.kind_of(td) is BtfKind.TYPEDEF


def test_find_name_that_is_a_suffix_of_another_string() -> None:
    """A name_off may point into the middle of a string (suffix sharing is legal BTF)."""
    b = BtfBuilder()
    i = b.add_int("int", 4)
    st = b.add_struct("my_struct", 4, [("x", i, 0)])
    off = b.add_string("my_struct") + 3  # "struct"
    td = b.add_raw(wire.BTF_KIND_TYPEDEF, off, size_type=st)
    btf = b.build()
    assert btf.find("struct") == [td]
    assert btf.type(td).name == "struct"


def test_split_btf_continues_ids_and_strings() -> None:
    base_b = BtfBuilder()
    i = base_b.add_int("int", 4, signed=True)
    base_b.add_struct("base_s", 4, [("x", i, 0)])
    base = base_b.build(source="base")
    sb = BtfBuilder(base=base)
    assert sb.start_id == 3
    ptr = sb.add_ptr(i)
    mod = sb.add_struct("mod_s", 8, [("p", ptr, 0), ("x", i, 0)])
    td = sb.add_typedef("int", i)  # reuses a base string? no: split strings are separate
    split = Btf.from_bytes(sb.encode(), base=base, source="module")
    assert (split.start_id, split.type_count, len(split)) == (3, 5, 3)
    assert split.type(i).name == "int"  # delegated to base
    assert split.type(mod).members[0].type == ptr
    assert split.find("int") == [i, td]
    assert split.find("base_s") == [2]
    assert split.size_of(mod) == 8
    assert list(split.ids()) == [3, 4, 5]
    assert split.kind_counts() == {BtfKind.PTR: 1, BtfKind.STRUCT: 1, BtfKind.TYPEDEF: 1}
    with pytest.raises(BtfError, match="out of range"):
        split.type(6)


def test_split_btf_name_pointing_into_base_strings() -> None:
    base_b = BtfBuilder()
    i = base_b.add_int("int", 4, signed=True)
    base = base_b.build()
    sb = BtfBuilder(base=base)
    alias = sb.add_raw(wire.BTF_KIND_TYPEDEF, base_b.add_string("int"), size_type=i)
    split = Btf.from_bytes(sb.encode(), base=base)
    assert split.type(alias).name == "int"
    assert split.find("int") == [i, alias]


def test_strings_before_types_layout() -> None:
    b = BtfBuilder()
    b.add_int("int", 4)
    btf = Btf.from_bytes(b.encode(strings_first=True))
    assert btf.type(1).name == "int"


def _header(blob: bytes, **fields: int) -> bytes:
    names = ["magic", "version", "flags", "hdr_len", "type_off", "type_len", "str_off", "str_len"]
    vals = dict(zip(names, struct.unpack_from("<HBBIIIII", blob), strict=True))
    vals.update(fields)
    return struct.pack("<HBBIIIII", *vals.values()) + blob[24:]


def _small() -> bytes:
    b = BtfBuilder()
    i = b.add_int("int", 4)
    b.add_struct("s", 4, [("x", i, 0)])
    return b.encode()


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"", "header truncated"),
        (b"\x9f\xeb\x01\x00", "header truncated"),
        (b"\x00\x00" + _small()[2:], "bad BTF magic"),
        (_header(_small(), version=2), "unsupported BTF version 2"),
        (_header(_small(), hdr_len=8), "hdr_len 8 is shorter"),
        (_header(_small(), hdr_len=10_000), "hdr_len 10000 is past the end"),
        (_header(_small(), type_len=4_000), r"type section \[0, \+4000\) is past the end"),
        (_header(_small(), str_off=4_000), "string section .* past the end"),
        (_header(_small(), type_off=2, type_len=4), "not 4-byte aligned"),
        (_header(_small(), type_len=30), "not a multiple of 4"),
        (_header(_small(), str_len=0), "string section is empty"),
        (_small()[:-1] + b"x", "not NUL-terminated"),
    ],
)
def test_header_and_string_errors(blob: bytes, message: str) -> None:
    with pytest.raises(BtfError, match=message):
        Btf.from_bytes(blob)


def test_header_errors_name_the_source() -> None:
    with pytest.raises(BtfError, match=r"^obj\.o \.BTF: .*header truncated"):
        Btf.from_bytes(b"\x9f\xeb", source="obj.o .BTF")


def test_strings_must_start_with_empty_string_without_base() -> None:
    b = BtfBuilder()
    b.add_int("int", 4)
    blob = bytearray(b.encode())
    hdr = struct.unpack_from("<HBBIIIII", blob)
    blob[24 + hdr[6]] = ord("x")
    with pytest.raises(BtfError, match="does not start with the empty string"):
        Btf.from_bytes(bytes(blob))


def test_unknown_kind_names_type_id() -> None:
    b = BtfBuilder()
    b.add_int("int", 4)
    b.add_raw(25, "weird")
    with pytest.raises(BtfError, match=r"type \[2\]: unknown BTF kind 25"):
        b.build()


def test_kind_zero_is_unknown() -> None:
    b = BtfBuilder()
    b.add_raw(0)
    with pytest.raises(BtfError, match=r"type \[1\]: unknown BTF kind 0"):
        b.build()


def test_huge_vlen_runs_past_end() -> None:
    b = BtfBuilder()
    i = b.add_int("int", 4)
    b.add_raw(wire.BTF_KIND_STRUCT, "s", vlen=0xFFFF, size_type=4, extra=(0, i, 0))
    with pytest.raises(BtfError, match=r"type \[2\]: struct with vlen 65535 runs past the end"):
        b.build()


def test_truncated_btf_type() -> None:
    b = BtfBuilder()
    b.add_int("int", 4)
    types = b.type_section() + struct.pack("<I", 0)  # 4 stray bytes: a partial btf_type
    strs = b.string_section()
    blob = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(strs))
    with pytest.raises(BtfError, match=r"type \[2\]: truncated btf_type"):
        Btf.from_bytes(blob + types + strs)


def test_name_off_out_of_range() -> None:
    b = BtfBuilder()
    b.add_int("int", 4)
    b.add_raw(wire.BTF_KIND_PTR, 5000, size_type=1)
    with pytest.raises(BtfError, match=r"type \[2\]: name_off 5000 is outside"):
        b.build()


def test_member_name_off_out_of_range_on_decode() -> None:
    b = BtfBuilder()
    i = b.add_int("int", 4)
    s = b.add_raw(wire.BTF_KIND_STRUCT, "s", vlen=1, size_type=4, extra=(9999, i, 0))
    btf = b.build()
    with pytest.raises(BtfError, match=r"type \[2\]: member #0 name_off 9999 is outside"):
        btf.type(s)


def test_referenced_type_out_of_range_on_decode() -> None:
    b = BtfBuilder()
    p = b.add_ptr(77)
    btf = b.build()
    with pytest.raises(BtfError, match=r"type \[1\]: invalid referenced type id 77"):
        btf.type(p)


def test_reference_loop_terminates() -> None:
    b = BtfBuilder()
    b.add_typedef("a", 2)
    b.add_const(3)
    b.add_volatile(1)
    arr = b.add_array(4, 4, 2)  # array of itself
    btf = b.build()
    with pytest.raises(BtfError, match=r"type \[1\]: reference loop"):
        btf.resolve(1)
    with pytest.raises(BtfError, match=r"type \[2\]: reference loop"):
        btf.size_of(2)
    with pytest.raises(BtfError, match=r"type \[4\]: reference loop"):
        btf.size_of(arr)
    with pytest.raises(BtfError, match="reference loop"):
        btf.validate()


def test_func_must_reference_func_proto() -> None:
    b = BtfBuilder()
    i = b.add_int("int", 4)
    b.add_func("f", i)
    with pytest.raises(BtfError, match=r"type \[2\]: FUNC 'f' references type \[1\] which is int"):
        b.build().validate()


def test_decl_tag_component_out_of_range() -> None:
    b = BtfBuilder()
    i = b.add_int("int", 4)
    s = b.add_struct("s", 4, [("x", i, 0)])
    b.add_decl_tag("t", s, 3)
    with pytest.raises(BtfError, match=r"type \[3\]: decl tag component_idx 3 is out of range"):
        b.build().validate()


def test_bad_linkage() -> None:
    b = BtfBuilder()
    i = b.add_int("int", 4)
    v = b.add_raw(wire.BTF_KIND_VAR, "v", size_type=i, extra=(9,))
    with pytest.raises(BtfError, match=r"type \[2\]: invalid linkage 9"):
        b.build().type(v)


def test_type_zero_and_negative_ids() -> None:
    btf = Btf.from_bytes(_small())
    assert btf.type(0).name == "void"
    with pytest.raises(BtfError, match="type id -1 is out of range"):
        btf.type(-1)
    with pytest.raises(BtfError, match="type id 3 is out of range"):
        btf.type(3)
    with pytest.raises(BtfError, match="string offset 999"):
        btf.string(999)


def test_decoding_is_cached() -> None:
    btf = Btf.from_bytes(_small())
    assert btf.type(2) is btf.type(2)


# -- against real objects and bpftool ------------------------------------------------------


def _compare_with_bpftool(btf: Btf, path: Path, sample: range | list[int]) -> None:
    reference = bpftool_types(path)
    assert len(reference) == btf.type_count
    kinds: dict[str, int] = {}
    for t in reference:
        kinds[str(t["kind"])] = kinds.get(str(t["kind"]), 0) + 1
    assert {k.name: v for k, v in btf.kind_counts().items()} == kinds
    for tid in sample:
        ref = reference[tid - 1]
        t = btf.type(tid)
        assert ref["id"] == tid and ref["kind"] == t.kind.name
        assert ref["name"] == (t.name or "(anon)")
        if "size" in ref:
            assert ref["size"] == t.size
        if "type_id" in ref:
            assert ref["type_id"] == (t.array.type if t.array else t.type)
        if "members" in ref:
            got = [(m.name or "(anon)", m.type, m.bit_offset) for m in t.members]
            want = [(m["name"], m["type_id"], m["bits_offset"]) for m in ref["members"]]  # type: ignore[attr-defined]
            assert got == want
        if "values" in ref:
            assert [v.name for v in t.values] == [v["name"] for v in ref["values"]]  # type: ignore[attr-defined]
            # bpftool 7.1 sign-extends 32-bit enumerators before printing them as u64, so
            # compare ENUM values modulo 2**32 (ours are exact: see test_every_kind_round_trips).
            mask = (1 << 32) - 1 if t.kind is BtfKind.ENUM else (1 << 64) - 1
            want_vals = [int(v["val"]) & mask for v in ref["values"]]  # type: ignore[attr-defined]
            assert [v.value & mask for v in t.values] == want_vals


@pytest.mark.clang
@pytest.mark.bpftool
@pytest.mark.parametrize("endian", ["little", "big"])
def test_clang_object_matches_bpftool(kinds_objects: dict[str, Path], endian: str) -> None:
    path = kinds_objects[endian]
    btf = Btf.from_bytes(section(path, ".BTF"))
    assert btf.endian == endian
    btf.validate()
    _compare_with_bpftool(btf, path, btf.ids())
    assert {k.name for k in btf.kind_counts()} >= {
        "ENUM64",
        "FLOAT",
        "DECL_TAG",
        "TYPE_TAG",
        "DATASEC",
        "VAR",
        "FUNC_PROTO",
    }


@pytest.mark.bpftool
@pytest.mark.skipif(not VMLINUX.exists(), reason="no /sys/kernel/btf/vmlinux")
def test_vmlinux_matches_bpftool() -> None:
    btf = Btf.from_bytes(VMLINUX.read_bytes(), source="vmlinux")
    step = max(1, btf.type_count // 2000)
    _compare_with_bpftool(btf, VMLINUX, range(1, btf.type_count + 1, step))
    task = btf.find("task_struct", BtfKind.STRUCT)
    assert len(task) == 1
    assert "pid" in {m.name for m in btf.type(task[0]).members}
    prog_type = btf.find_one("bpf_prog_type", BtfKind.ENUM)
    assert prog_type is not None
    assert {v.name: v.value for v in prog_type.values}["BPF_PROG_TYPE_XDP"] == 6


@pytest.mark.skipif(not VMLINUX.exists(), reason="no /sys/kernel/btf/vmlinux")
def test_vmlinux_big_endian_copy_decodes_the_same() -> None:
    """Byteswap every u32 of a vmlinux slice (all BTF fields are u32 except the header's
    magic/version/flags) and check both byte orders decode identically."""
    data = VMLINUX.read_bytes()
    little = Btf.from_bytes(data)
    hdr = struct.unpack_from("<HBBIIIII", data)
    hdr_len, type_off, type_len = hdr[3], hdr[4], hdr[5]
    types = data[hdr_len + type_off : hdr_len + type_off + type_len]
    swapped = struct.pack(f">{len(types) // 4}I", *struct.unpack(f"<{len(types) // 4}I", types))
    strs = data[hdr_len + hdr[6] : hdr_len + hdr[6] + hdr[7]]
    head = struct.pack(">HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(swapped), len(swapped), len(strs))
    big = Btf.from_bytes(head + swapped + strs)
    assert big.endian == "big" and big.type_count == little.type_count
    for tid in range(1, little.type_count + 1, 97):
        assert big.type(tid) == little.type(tid)
    assert big.find("task_struct") == little.find("task_struct")


def test_find_prefixed_finds_flavors_and_suffix_names() -> None:
    b = BtfBuilder()
    i = b.add_int("int", 4)
    plain = b.add_struct("task", 4, [("x", i, 0)])
    v2 = b.add_struct("task___v2", 4, [("x", i, 0)])
    b.add_struct("other_task", 4, [("x", i, 0)])
    tail = b.add_raw(wire.BTF_KIND_TYPEDEF, b.add_string("other_task") + 6, size_type=plain)
    btf = b.build()
    assert btf.find_prefixed("task") == [plain, v2, tail]
    assert btf.find_prefixed("task___") == [v2]
    assert btf.find_prefixed("nope") == [] and btf.find_prefixed("a\0b") == []
    assert btf.find("int\0") == []


MODULE_C = """
struct list_head { struct list_head *next, *prev; };
struct my_mod_state { int refs; struct list_head link; unsigned long flags; char name[32]; };
enum my_mod_mode { MOD_OFF, MOD_ON = 5 };
struct my_mod_state g_state;
enum my_mod_mode g_mode;
int my_mod_fn(struct my_mod_state *s, enum my_mod_mode m) { return s->refs + m; }
"""


@pytest.mark.bpftool
@pytest.mark.skipif(
    not VMLINUX.exists() or shutil.which("pahole") is None or shutil.which("gcc") is None,
    reason="needs /sys/kernel/btf/vmlinux, pahole and gcc",
)
def test_pahole_split_btf_matches_bpftool(tmp_path: Path) -> None:
    """Split BTF as kernel modules carry it: pahole encodes a DWARF object against vmlinux."""
    src = tmp_path / "mod.c"
    src.write_text(MODULE_C)
    subprocess.run(["gcc", "-g", "-c", str(src), "-o", str(tmp_path / "mod.o")], check=True)
    subprocess.run(
        [
            "pahole",
            f"--btf_encode_detached={tmp_path / 'mod.btf'}",
            f"--btf_base={VMLINUX}",
            str(tmp_path / "mod.o"),
        ],
        check=True,
        capture_output=True,
    )
    base = Btf.from_bytes(VMLINUX.read_bytes(), source="vmlinux")
    split = Btf.from_bytes((tmp_path / "mod.btf").read_bytes(), base=base, source="mod")
    split.validate()
    out = subprocess.run(
        [
            "bpftool",
            "-j",
            "-B",
            str(VMLINUX),
            "btf",
            "dump",
            "file",
            str(tmp_path / "mod.btf"),
            "format",
            "raw",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    reference = json.loads(out)["types"]
    assert [t["id"] for t in reference] == list(split.ids())
    for ref in reference:
        t = split.type(ref["id"])
        assert (t.kind.name, t.name or "(anon)") == (ref["kind"], ref["name"])
    state = split.find("my_mod_state", BtfKind.STRUCT)
    assert state == [base.type_count + 1]
    link = split.type(state[0]).members[1]
    assert split.type(link.type).name == "list_head" and link.type < split.start_id
    assert split.find("list_head", BtfKind.STRUCT) == base.find("list_head", BtfKind.STRUCT)


def test_c_type_spelling() -> None:
    from bpfdoctor.btf import c_type

    b = BtfBuilder()
    ch = b.add_int("char", 1, char=True)
    cch = b.add_const(ch)
    p = b.add_ptr(cch)
    cp = b.add_const(p)
    u32 = b.add_typedef("__u32", b.add_int("unsigned int", 4))
    arr = b.add_array(u32, u32, 4)
    fwd = b.add_fwd("sock")
    proto = b.add_func_proto(u32, [("s", b.add_ptr(fwd)), ("", 0)])
    fn = b.add_func("f", proto)
    fptr = b.add_ptr(proto)
    loop = b.add_typedef("loop", b.next_id)  # typedef pointing at itself
    self_ptr = b.add_ptr(b.next_id)  # pointer to itself: must end, not recurse forever
    btf = b.build()
    assert c_type(btf, p) == "const char *"
    assert c_type(btf, cp) == "const char * const"
    assert c_type(btf, arr) == "__u32[4]"
    assert c_type(btf, fn) == "__u32 f(struct sock *, ...)"
    assert c_type(btf, fptr) == "__u32 (*)(struct sock *, ...)"
    assert c_type(btf, 0) == "void"
    assert c_type(btf, loop) == "loop"
    assert c_type(btf, self_ptr).startswith("...")


def test_c_type_every_kind() -> None:
    from bpfdoctor.btf import c_type

    b = BtfBuilder()
    ids = every_kind(b)
    btf = b.build()
    spelled = {name: c_type(btf, tid) for name, tid in ids.items()}
    assert spelled["datasec"] == "datasec .data"
    assert spelled["var"] == "int counter"
    assert spelled["decl_tag"].endswith('__attribute__((btf_decl_tag("kfunc")))')
    assert spelled["type_tag"] == 'int __attribute__((btf_type_tag("user")))'
    assert spelled["restrict"] == "int * restrict"
    assert spelled["enum64"] == "enum wide" and spelled["fwd_union"] == "union later_u"


def test_overlapping_sections_rejected_and_empty_type_section_allowed() -> None:
    blob = _small()
    hdr = struct.unpack_from("<HBBIIIII", blob)
    with pytest.raises(BtfError, match="overlap"):
        Btf.from_bytes(_header(blob, str_off=hdr[4] + 4, str_len=8))
    b = BtfBuilder()
    empty = Btf.from_bytes(b.encode())
    assert empty.type_count == 0 and empty.kind_counts() == {} and empty.find("x") == []
