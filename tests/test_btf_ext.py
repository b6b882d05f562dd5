"""BtfExt (.BTF.ext) parsing, CO-RE spec parsing and describe(), against libbpf's own text."""

from __future__ import annotations

import re
import struct
import subprocess
from pathlib import Path

import pytest

from bpfdoctor.btf import Btf, BtfBuilder, BtfExt, CoreRelo, CoreReloKind, describe
from bpfdoctor.btf.core import parse_access_string, parse_spec
from bpfdoctor.errors import BtfError
from test_btf_support import VMLINUX, build_kinds_objects, section


@pytest.fixture(scope="session")
def kinds_objects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_kinds_objects(tmp_path_factory)


def _local() -> tuple[BtfBuilder, dict[str, int]]:
    b = BtfBuilder()
    ids: dict[str, int] = {}
    ids["int"] = b.add_int("int", 4, signed=True)
    ids["uint"] = b.add_int("unsigned int", 4)
    ids["arr"] = b.add_array(ids["int"], ids["uint"], 4)
    ids["inner"] = b.add_struct("inner", 8, [("a", ids["int"], 0), ("b", ids["int"], 32)])
    ids["anon"] = b.add_union("", 4, [("u", ids["int"], 0)])
    ids["outer"] = b.add_struct(
        "outer",
        40,
        [
            ("x", ids["int"], 0),
            ("in", ids["inner"], 32),
            ("", ids["anon"], 96),
            ("vals", ids["arr"], 128),
            ("bits", ids["uint"], 256, 4),
        ],
    )
    ids["enum"] = b.add_enum("mode", [("MODE_A", 1), ("MODE_B", 2)])
    ids["proto"] = b.add_func_proto(ids["int"], [("ctx", ids["int"])])
    ids["func"] = b.add_func("prog", ids["proto"])
    return b, ids


@pytest.mark.parametrize("endian", ["little", "big"])
@pytest.mark.parametrize("pad", [0, 2])
def test_ext_round_trip(endian: str, pad: int) -> None:
    b, ids = _local()
    ext_blob = b.encode_ext(
        func_info={"xdp": [(0, ids["func"])], ".text": [(0, ids["func"]), (12, ids["func"])]},
        line_info={"xdp": [(0, "a.c", 10, 5, "int x = 1;"), (3, "a.c", 11, 0, "return x;")]},
        core_relos={"xdp": [(2, ids["outer"], "0:1:1", 0), (5, ids["enum"], "1", 11)]},
        endian=endian,  # type: ignore[arg-type]
        pad_records=pad,
    )
    btf = Btf.from_bytes(b.encode(endian))  # type: ignore[arg-type]
    ext = BtfExt.from_bytes(ext_blob, btf)
    assert ext.endian == endian
    assert ext.func_info_rec_size == 8 + 4 * pad
    assert [(f.insn_off, f.type_id) for f in ext.func_info[".text"]] == [
        (0, ids["func"]),
        (12, ids["func"]),
    ]
    li = ext.line_info["xdp"]
    assert [(x.insn_off, x.file, x.line, x.column, x.text) for x in li] == [
        (0, "a.c", 10, 5, "int x = 1;"),
        (3, "a.c", 11, 0, "return x;"),
    ]
    relos = ext.core_relos["xdp"]
    assert relos[0] == CoreRelo(2, ids["outer"], "0:1:1", CoreReloKind.FIELD_BYTE_OFFSET, "xdp")
    assert relos[1].kind is CoreReloKind.ENUMVAL_VALUE
    assert ext.sections() == ["xdp", ".text"]
    assert ext.core_relo_count == 2
    assert ext.line_for("xdp", 4) == li[1] and ext.line_for("xdp", 2) == li[0]
    assert ext.line_for("nope", 0) is None


def test_describe_every_kind_shape() -> None:
    b, ids = _local()
    btf = b.build()
    o, e = ids["outer"], ids["enum"]
    cases = {
        (
            o,
            "0:1:1",
            CoreReloKind.FIELD_BYTE_OFFSET,
        ): "byte_off struct outer.in.b (0:1:1 @ offset 8)",
        (
            o,
            "0:3:2",
            CoreReloKind.FIELD_BYTE_SIZE,
        ): "byte_sz struct outer.vals[2] (0:3:2 @ offset 24)",
        (o, "0:2:0", CoreReloKind.FIELD_EXISTS): "field_exists struct outer.u (0:2:0 @ offset 12)",
        (o, "0:4", CoreReloKind.FIELD_SIGNED): "signed struct outer.bits (0:4 @ offset 32)",
        (o, "1:0", CoreReloKind.FIELD_LSHIFT_U64): "lshift_u64 struct outer[1].x (1:0 @ offset 40)",
        (o, "0", CoreReloKind.FIELD_RSHIFT_U64): "rshift_u64 struct outer (0 @ offset 0)",
        (o, "0", CoreReloKind.TYPE_ID_LOCAL): "local_type_id struct outer",
        (o, "0", CoreReloKind.TYPE_ID_TARGET): "target_type_id struct outer",
        (o, "0", CoreReloKind.TYPE_EXISTS): "type_exists struct outer",
        (o, "0", CoreReloKind.TYPE_MATCHES): "type_matches struct outer",
        (o, "0", CoreReloKind.TYPE_SIZE): "type_size struct outer",
        (e, "0", CoreReloKind.ENUMVAL_EXISTS): "enumval_exists enum mode::MODE_A = 1",
        (e, "1", CoreReloKind.ENUMVAL_VALUE): "enumval_value enum mode::MODE_B = 2",
    }
    for (tid, acc, kind), want in cases.items():
        assert describe(CoreRelo(0, tid, acc, kind), btf) == want
    assert {k for _, _, k in cases} == set(CoreReloKind)


@pytest.mark.parametrize(
    ("access", "kind", "message"),
    [
        ("0:9", CoreReloKind.FIELD_BYTE_OFFSET, "member #9 of struct outer does not exist"),
        ("0:3:4", CoreReloKind.FIELD_BYTE_OFFSET, "index 4 is past the end of an array of 4"),
        ("0:0:0", CoreReloKind.FIELD_BYTE_OFFSET, "goes into int, which has no fields"),
        ("1", CoreReloKind.TYPE_EXISTS, "needs access string '0'"),
        ("0", CoreReloKind.ENUMVAL_VALUE, "not an enumerator"),
        ("", CoreReloKind.FIELD_BYTE_OFFSET, "empty or malformed"),
        ("0:x", CoreReloKind.FIELD_BYTE_OFFSET, "not a list of numbers"),
        (":0", CoreReloKind.FIELD_BYTE_OFFSET, "empty or malformed"),
    ],
)
def test_bad_specs(access: str, kind: CoreReloKind, message: str) -> None:
    b, ids = _local()
    btf = b.build()
    relo = CoreRelo(3, ids["outer"], access, kind)
    with pytest.raises(BtfError, match=message):
        parse_spec(btf, relo)
    assert describe(relo, btf).endswith("[malformed]")


def test_access_string_limits() -> None:
    assert parse_access_string("0:1:22") == (0, 1, 22)
    with pytest.raises(BtfError, match="longer than 64"):
        parse_access_string(":".join(["0"] * 65))
    with pytest.raises(BtfError, match="negative"):
        parse_access_string("0:-1")


def _ext_header(blob: bytes, **fields: int) -> bytes:
    names = [
        "magic",
        "version",
        "flags",
        "hdr_len",
        "fi_off",
        "fi_len",
        "li_off",
        "li_len",
        "cr_off",
        "cr_len",
    ]
    vals = dict(zip(names, struct.unpack_from("<HBBIIIIIII", blob), strict=True))
    vals.update(fields)
    return struct.pack("<HBBIIIIIII", *vals.values()) + blob[32:]


def _ext_pair() -> tuple[Btf, bytes]:
    b, ids = _local()
    blob = b.encode_ext(
        func_info={"xdp": [(0, ids["func"])]},
        line_info={"xdp": [(0, "a.c", 1, 1, "x")]},
        core_relos={"xdp": [(1, ids["outer"], "0:1", 0)]},
    )
    return b.build(), blob


def _patch(blob: bytes, off: int, value: int) -> bytes:
    return blob[:off] + struct.pack("<I", value) + blob[off + 4 :]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda x: x[:10], "header truncated"),
        (lambda x: b"\x00\x01" + x[2:], "bad magic"),
        (lambda x: _ext_header(x, version=3), "unsupported version 3"),
        (lambda x: _ext_header(x, hdr_len=4), "hdr_len 4 is out of range"),
        (
            lambda x: _ext_header(x, fi_len=4000),
            r"func_info sub-section \[0, \+4000\) is out of range",
        ),
        (lambda x: _patch(x, 32, 6), "func_info has invalid record size 6"),
        (lambda x: _patch(x, 32, 4), "func_info has invalid record size 4"),
        (lambda x: _patch(x, 40, 0), "func_info for section 'xdp' has no records"),
        (lambda x: _patch(x, 40, 1 << 30), "claims 1073741824 records"),
        (lambda x: _patch(x, 36, 1 << 20), "func_info section name offset 1048576 is outside"),
        (lambda x: _patch(x, 44, 3), "insn_off 3 is not a multiple of 8"),
        (lambda x: _ext_header(x, fi_len=4), "record size but no records"),
        (lambda x: _ext_header(x, fi_len=6), "section header truncated"),
    ],
)
def test_corrupt_ext(mutate: object, message: str) -> None:
    btf, blob = _ext_pair()
    assert callable(mutate)
    with pytest.raises(BtfError, match=message):
        BtfExt.from_bytes(mutate(blob), btf)


def test_corrupt_core_relo_fields() -> None:
    btf, blob = _ext_pair()
    _, _, _, hdr_len, _, _, _, _, cr_off, _ = struct.unpack_from("<HBBIIIIIII", blob)
    rec = hdr_len + cr_off + 4 + 8  # record size word, then the section header
    with pytest.raises(BtfError, match="unknown relocation kind 99"):
        BtfExt.from_bytes(_patch(blob, rec + 12, 99), btf)
    with pytest.raises(BtfError, match="type id 5000 is out of range"):
        BtfExt.from_bytes(_patch(blob, rec + 4, 5000), btf)
    with pytest.raises(BtfError, match=r"access string offset 99999 in section .xdp. is outside"):
        BtfExt.from_bytes(_patch(blob, rec + 8, 99999), btf)


def test_ext_without_core_relo_header() -> None:
    """Old compilers wrote a 24-byte header without core_relo_off/len."""
    btf, blob = _ext_pair()
    fields = list(struct.unpack_from("<HBBIIIIIII", blob))
    fields[3] = 24
    short = struct.pack("<HBBIIIII", *fields[:8]) + blob[32:]
    ext = BtfExt.from_bytes(short, btf)
    assert ext.core_relos == {} and len(ext.func_info["xdp"]) == 1


# -- against libbpf: `bpftool -d gen min_core_btf` logs every relocation's spec -------------

_RELO_LINE = re.compile(r"prog '([^']+)': relo #(\d+): (<\w+> \[\d+\] .*)$")


def _libbpf_specs(obj: Path, tmp: Path) -> dict[tuple[str, int], str]:
    out = subprocess.run(
        ["bpftool", "-d", "gen", "min_core_btf", str(VMLINUX), str(tmp / "min.btf"), str(obj)],
        capture_output=True,
        text=True,
    )
    specs: dict[tuple[str, int], str] = {}
    for line in out.stderr.splitlines() + out.stdout.splitlines():
        m = _RELO_LINE.search(line)
        if m and (m.group(1), int(m.group(2))) not in specs:
            specs[(m.group(1), int(m.group(2)))] = m.group(3)
    return specs


@pytest.mark.clang
@pytest.mark.bpftool
@pytest.mark.skipif(not VMLINUX.exists(), reason="no /sys/kernel/btf/vmlinux")
def test_describe_matches_libbpf_spec_text(kinds_objects: dict[str, Path], tmp_path: Path) -> None:
    obj = kinds_objects["little"]
    btf = Btf.from_bytes(section(obj, ".BTF"))
    ext = BtfExt.from_bytes(section(obj, ".BTF.ext"), btf)
    libbpf = _libbpf_specs(obj, tmp_path)
    assert len(libbpf) == ext.core_relo_count > 10
    for sec, relos in ext.core_relos.items():
        for i, relo in enumerate(relos):
            assert parse_spec(btf, relo).format(libbpf=True) == libbpf[(sec, i)]


@pytest.mark.clang
@pytest.mark.parametrize("endian", ["little", "big"])
def test_clang_ext_parses(kinds_objects: dict[str, Path], endian: str) -> None:
    obj = kinds_objects[endian]
    btf = Btf.from_bytes(section(obj, ".BTF"))
    ext = BtfExt.from_bytes(section(obj, ".BTF.ext"), btf)
    prog = "tracepoint/syscalls/sys_enter_write"
    assert set(ext.func_info) == {prog, ".text", "xdp"}
    assert btf.type(ext.func_info[prog][0].type_id).name == "prog_kinds"
    assert any("helper_fn" in li.text for li in ext.line_info[".text"])
    assert all(
        li.file.endswith("kinds_el.c") or li.file.endswith("kinds_eb.c")
        for li in ext.line_info[prog]
    )
    kinds = {r.kind for rs in ext.core_relos.values() for r in rs}
    assert CoreReloKind.TYPE_MATCHES in kinds and CoreReloKind.FIELD_LSHIFT_U64 in kinds
    texts = {describe(r, btf) for r in ext.core_relos[".text"]}
    assert texts == {
        "byte_off struct task_like.parent (0:2 @ offset 8)",
        "byte_off struct task_like.tgid (0:1 @ offset 4)",
    }
