"""Tiny BTF blobs, one per BTF feature, for the kernel to accept or reject (BPF_BTF_LOAD).

Mirrors libbpf's ``probe_kern_btf_*()`` in libbpf_probes.c / features.c: each blob is the
smallest valid BTF that uses exactly one newer kind or flag, so a rejection names the kind.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the BTF package is imported only when a blob is built (fast --btf-only)
    from bpfdoctor.btf import BtfBuilder

STATIC, GLOBAL = 0, 1  # btf_func_linkage


def _builder() -> BtfBuilder:
    from bpfdoctor.btf import BtfBuilder

    return BtfBuilder()


def _int_only() -> bytes:
    b = _builder()
    b.add_int("int", 4, signed=True)
    return b.encode()


def _with_int(extra: Callable[[BtfBuilder, int], None]) -> Callable[[], bytes]:
    def make() -> bytes:
        b = _builder()
        i = b.add_int("int", 4, signed=True)
        extra(b, i)
        return b.encode()
    return make


def _func(b: BtfBuilder, i: int, linkage: int) -> None:
    from bpfdoctor.btf import BtfLinkage

    proto = b.add_func_proto(i, [("x", i)])
    b.add_func("probe_fn", proto, BtfLinkage(linkage))


def _datasec(b: BtfBuilder, i: int) -> None:
    from bpfdoctor.btf import BtfLinkage

    v = b.add_var("probe_var", i, BtfLinkage.STATIC)
    b.add_datasec(".data", 4, [(v, 0, 4)])


def _qmark_datasec(b: BtfBuilder, i: int) -> None:
    from bpfdoctor.btf import BtfLinkage

    v = b.add_var("probe_var", i, BtfLinkage.STATIC)
    b.add_datasec("?.data", 4, [(v, 0, 4)])


def _struct(b: BtfBuilder, i: int) -> None:
    b.add_struct("probe_s", 4, [("a", i, 0)])


def _enum64(b: BtfBuilder, i: int) -> None:
    b.add_enum64("probe_e64", [("PROBE_BIG", 1 << 40)])


def _decl_tag(b: BtfBuilder, i: int) -> None:
    s = b.add_struct("probe_s", 4, [("a", i, 0)])
    b.add_decl_tag("probe_tag", s, -1)


def _type_tag(b: BtfBuilder, i: int) -> None:
    t = b.add_type_tag("probe_tag", i)
    b.add_ptr(t)


def _float(b: BtfBuilder, i: int) -> None:
    b.add_float("float", 4)


# feature name -> blob builder
BLOBS: dict[str, Callable[[], bytes]] = {
    "btf": _int_only,
    "struct": _with_int(_struct),
    "func": _with_int(lambda b, i: _func(b, i, STATIC)),
    "func_global": _with_int(lambda b, i: _func(b, i, GLOBAL)),
    "datasec": _with_int(_datasec),
    "qmark_datasec": _with_int(_qmark_datasec),
    "float": _with_int(_float),
    "decl_tag": _with_int(_decl_tag),
    "type_tag": _with_int(_type_tag),
    "enum64": _with_int(_enum64),
}
