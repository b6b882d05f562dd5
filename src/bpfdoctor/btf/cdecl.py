"""C-like spelling of a BTF type for messages: ``const char *``, ``struct sk_buff *``,
``__u32[4]``, ``int (*)(void *, long)``. Not a full declarator printer (bpftool's ``format c``
is); enough for one-line findings. Loops and deep chains end in ``...``.
"""

from __future__ import annotations

from bpfdoctor.btf.decoder import Btf
from bpfdoctor.btf.types import BtfKind

_MAX_DEPTH = 16


def c_type(btf: Btf, tid: int) -> str:
    """``c_type(btf, id_of_const_char_ptr) == "const char *"``."""
    return _spell(btf, tid, 0)


def _spell(btf: Btf, tid: int, depth: int) -> str:
    if depth > _MAX_DEPTH:
        return "..."
    t = btf.type(tid)
    k = t.kind
    if k is BtfKind.UNKN:
        return "void"
    if k in (BtfKind.INT, BtfKind.FLOAT, BtfKind.TYPEDEF):
        return t.name or f"{k.label} (anon)"  # only corrupt BTF has nameless ones
    if k in (BtfKind.STRUCT, BtfKind.UNION, BtfKind.ENUM, BtfKind.ENUM64):
        word = "enum" if t.is_enum else k.label
        return f"{word} {t.name or '(anon)'}"
    if k is BtfKind.FWD:
        return f"{'union' if t.kflag else 'struct'} {t.name}"
    if k is BtfKind.DATASEC:
        return f"datasec {t.name}"
    if k is BtfKind.PTR:
        assert t.type is not None
        target = btf.type(t.type)
        if target.kind is BtfKind.FUNC_PROTO:
            return _proto(btf, t.type, depth, "(*)")
        inner = _spell(btf, t.type, depth + 1)
        return inner + ("*" if inner.endswith("*") else " *")
    if k is BtfKind.ARRAY:
        assert t.array is not None
        return f"{_spell(btf, t.array.type, depth + 1)}[{t.array.nelems}]"
    assert t.type is not None
    if k in (BtfKind.CONST, BtfKind.VOLATILE, BtfKind.RESTRICT):
        inner = _spell(btf, t.type, depth + 1)
        if inner.endswith("*"):  # const applies to the pointer: "char * const"
            return f"{inner} {k.label}"
        return f"{k.label} {inner}"
    if k is BtfKind.TYPE_TAG:
        return f'{_spell(btf, t.type, depth + 1)} __attribute__((btf_type_tag("{t.name}")))'
    if k is BtfKind.FUNC_PROTO:
        return _proto(btf, tid, depth, "")
    if k is BtfKind.FUNC:
        return _proto(btf, t.type, depth, t.name)
    if k is BtfKind.VAR:
        return f"{_spell(btf, t.type, depth + 1)} {t.name}"
    if k is BtfKind.DECL_TAG:
        return f'{_spell(btf, t.type, depth + 1)} __attribute__((btf_decl_tag("{t.name}")))'
    return f"{k.label} {t.name}"  # unreachable: every kind is handled above


def _proto(btf: Btf, proto_id: int, depth: int, name: str) -> str:
    proto = btf.type(proto_id)
    if proto.kind is not BtfKind.FUNC_PROTO:
        return f"{name} /* {proto.describe()} */".strip()
    assert proto.type is not None
    ret = _spell(btf, proto.type, depth + 1)
    args = [
        "..." if p.type == 0 and i == len(proto.params) - 1 else _spell(btf, p.type, depth + 1)
        for i, p in enumerate(proto.params)
    ]
    return f"{ret} {name}({', '.join(args) or 'void'})"
