"""sanitize(): BTF rewritten for kernels without newer kinds, as libbpf does before loading."""

from __future__ import annotations

import pytest

from bpfdoctor.btf import Btf, BtfBuilder, BtfKind, BtfLinkage, sanitize
from bpfdoctor.btf.sanitize import FEATURES
from bpfdoctor.errors import BtfError
from test_btf_decoder import every_kind


def _every() -> tuple[Btf, dict[str, int]]:
    b = BtfBuilder()
    ids = every_kind(b)
    ids["qsec"] = b.add_datasec("?.data.opt", 4, [(ids["var"], 0, 4)])
    ids["senum"] = b.add_enum("sgn", [("NEG", -1)], signed=True)
    return b.build(), ids


def test_nothing_missing_changes_nothing() -> None:
    btf, _ = _every()
    out = sanitize(btf, ())
    assert not out.changed
    again = Btf.from_bytes(out.data)
    assert [t for t in again] == [t for t in btf]


def test_everything_missing() -> None:
    btf, ids = _every()
    out = sanitize(btf, FEATURES)
    new = Btf.from_bytes(out.data)
    new.validate()
    assert new.type_count == btf.type_count + 1  # the enum64 placeholder int
    kinds = new.kind_counts()
    for gone in (
        BtfKind.VAR,
        BtfKind.DATASEC,
        BtfKind.FUNC,
        BtfKind.FUNC_PROTO,
        BtfKind.FLOAT,
        BtfKind.DECL_TAG,
        BtfKind.TYPE_TAG,
        BtfKind.ENUM64,
    ):
        assert gone not in kinds
    var = new.type(ids["var"])
    assert (var.kind, var.name, var.size) == (BtfKind.INT, "counter", 1)
    sec = new.type(ids["datasec"])
    assert (sec.kind, sec.name) == (BtfKind.STRUCT, "_data")
    assert [(m.name, m.type, m.bit_offset) for m in sec.members] == [("counter", ids["var"], 0)]
    assert new.type(ids["proto"]).kind is BtfKind.ENUM and new.type(ids["proto"]).size == 4
    assert new.type(ids["func"]).kind is BtfKind.TYPEDEF
    flt = new.type(ids["float"])
    assert (flt.kind, flt.name, flt.size) == (BtfKind.STRUCT, "", 8)
    assert new.type(ids["decl_tag"]).kind is BtfKind.INT
    assert new.type(ids["type_tag"]).kind is BtfKind.CONST
    e64 = new.type(ids["enum64"])
    assert e64.kind is BtfKind.UNION
    assert {m.type for m in e64.members} == {btf.type_count + 1}
    assert new.type(btf.type_count + 1).name == "enum64_placeholder"
    assert not new.type(ids["senum"]).kflag
    assert any(c.startswith("ENUM64 -> UNION") for c in out.changes)


def test_only_global_func_and_qmark() -> None:
    b = BtfBuilder()
    i = b.add_int("int", 4)
    proto = b.add_func_proto(i)
    glob = b.add_func("g", proto, BtfLinkage.GLOBAL)
    v = b.add_var("v", i)
    q = b.add_datasec("?.bss", 4, [(v, 0, 4)])
    out = sanitize(b.build(), {"func_global", "qmark_datasec"})
    new = Btf.from_bytes(out.data)
    assert new.type(glob).linkage is BtfLinkage.STATIC
    assert new.type(q).name == "_.bss" and new.type(q).kind is BtfKind.DATASEC
    assert out.changes == ("global FUNC -> static (1)", "?DATASEC name -> _ (1)")


def test_unknown_feature_and_split_rejected() -> None:
    btf, _ = _every()
    with pytest.raises(BtfError, match="unknown BTF feature"):
        sanitize(btf, {"bitfields"})
    split = BtfBuilder(base=btf)
    split.add_ptr(1)
    with pytest.raises(BtfError, match="split BTF"):
        sanitize(Btf.from_bytes(split.encode(), base=btf), {"float"})


@pytest.mark.parametrize("endian", ["little", "big"])
def test_byte_order_is_kept(endian: str) -> None:
    b = BtfBuilder()
    every_kind(b)
    btf = Btf.from_bytes(b.encode(endian))  # type: ignore[arg-type]
    new = Btf.from_bytes(sanitize(btf, {"float"}).data)
    assert new.endian == endian and new.type_count == btf.type_count


@pytest.mark.kernel
def test_kernel_accepts_sanitized_blobs() -> None:
    """The running kernel must accept every sanitized variant (libbpf relies on that).

    Clang's own .BTF is not used here: its DATASECs have size 0 until a loader fills them in
    from the ELF sections (libbpf ``btf_fixup_datasec()``), and the kernel rejects that.
    """
    from bpfdoctor.probe.syscall import btf_load

    btf, _ = _every()
    # Real kernels lack features newest-first, so test cumulative sets (6.0, 5.17, 5.16, ...).
    newest_first = [
        "qmark_datasec",
        "enum64",
        "type_tag",
        "decl_tag",
        "float",
        "func_global",
        "datasec",
        "func",
    ]
    for n in range(len(newest_first) + 1):
        missing = set(newest_first[:n])
        res = btf_load(sanitize(btf, missing).data, log_size=65536)
        try:
            assert res.ok, (missing, res.errno_name, res.log[-400:])
        finally:
            res.close()
