"""Rewrite BTF for a kernel that lacks some BTF kinds, as libbpf does before BPF_BTF_LOAD.

Mirrors libbpf ``bpf_object__sanitize_btf()``: every replacement has the same record size as the
original, so type ids and offsets stay valid (VAR -> INT, DATASEC -> STRUCT, FUNC_PROTO -> ENUM,
FUNC -> TYPEDEF, FLOAT -> empty STRUCT, DECL_TAG -> INT, TYPE_TAG -> CONST, ENUM64 -> UNION of
a placeholder int). Feature names are those of ``bpfdoctor.probe.btf_blobs``.
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Iterable
from dataclasses import dataclass

from bpfdoctor.btf import wire
from bpfdoctor.btf.decoder import Btf
from bpfdoctor.errors import BtfError

FEATURES = frozenset(
    {"func", "func_global", "datasec", "qmark_datasec", "float", "decl_tag", "type_tag", "enum64"}
)
_INT_BYTE = wire.btf_int_word(0, 0, 8)  # BTF_INT_ENC(0, 0, 8)


@dataclass(frozen=True, slots=True)
class SanitizedBtf:
    """The rewritten blob and one line per kind of change, for diagnostics."""

    data: bytes
    changes: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def sanitize(btf: Btf, missing: Iterable[str]) -> SanitizedBtf:
    """Return ``btf`` rewritten for a kernel without the BTF features named in ``missing``."""
    if btf.base is not None:
        raise BtfError(f"{btf.source}: sanitizing split BTF is not supported")
    gone = frozenset(missing)
    unknown = gone - FEATURES
    if unknown:
        raise BtfError(f"unknown BTF feature(s) to sanitize: {', '.join(sorted(unknown))}")
    words = array("I", btf._words)  # a native-order copy we can patch
    strs = bytearray(btf._strings)
    counts: dict[str, int] = {}

    def note(what: str) -> None:
        counts[what] = counts.get(what, 0) + 1

    placeholder = 0
    extra: list[int] = []
    for pos in btf._offsets:
        info = words[pos + 1]
        kind = wire.btf_info_kind(info)
        vlen = wire.btf_info_vlen(info)
        p = pos + 3
        if "datasec" in gone and kind == wire.BTF_KIND_VAR:
            words[pos + 1] = wire.btf_info(wire.BTF_KIND_INT, 0, False)
            words[pos + 2] = 1
            words[p] = _INT_BYTE
            note("VAR -> INT")
        elif "datasec" in gone and kind == wire.BTF_KIND_DATASEC:
            _rename(strs, words[pos], {ord("."): ord("_"), ord("?"): ord("_")}, btf)
            words[pos + 1] = wire.btf_info(wire.BTF_KIND_STRUCT, vlen, False)
            for j in range(vlen):
                v = p + 3 * j
                var_type, var_off = words[v], words[v + 1]
                words[v + 2] = var_off * 8  # btf_member.offset (bits)
                words[v + 1] = var_type  # btf_member.type
                words[v] = btf._names[var_type - btf.start_id] if var_type >= btf.start_id else 0
            note("DATASEC -> STRUCT")
        elif "qmark_datasec" in gone and kind == wire.BTF_KIND_DATASEC:
            if btf.string(words[pos]).startswith("?"):
                _rename(strs, words[pos], {ord("?"): ord("_")}, btf, first_only=True)
                note("?DATASEC name -> _")
        elif "func" in gone and kind == wire.BTF_KIND_FUNC_PROTO:
            words[pos + 1] = wire.btf_info(wire.BTF_KIND_ENUM, vlen, False)
            words[pos + 2] = 4
            note("FUNC_PROTO -> ENUM")
        elif "func" in gone and kind == wire.BTF_KIND_FUNC:
            words[pos + 1] = wire.btf_info(wire.BTF_KIND_TYPEDEF, 0, False)
            note("FUNC -> TYPEDEF")
        elif "func_global" in gone and kind == wire.BTF_KIND_FUNC and vlen != 0:
            words[pos + 1] = wire.btf_info(wire.BTF_KIND_FUNC, 0, False)
            note("global FUNC -> static")
        elif "float" in gone and kind == wire.BTF_KIND_FLOAT:
            words[pos] = 0
            words[pos + 1] = wire.btf_info(wire.BTF_KIND_STRUCT, 0, False)
            note("FLOAT -> STRUCT")
        elif "decl_tag" in gone and kind == wire.BTF_KIND_DECL_TAG:
            words[pos] = 0
            words[pos + 1] = wire.btf_info(wire.BTF_KIND_INT, 0, False)
            words[pos + 2] = 1
            words[p] = _INT_BYTE
            note("DECL_TAG -> INT")
        elif "type_tag" in gone and kind == wire.BTF_KIND_TYPE_TAG:
            words[pos] = 0
            words[pos + 1] = wire.btf_info(wire.BTF_KIND_CONST, 0, False)
            note("TYPE_TAG -> CONST")
        elif "enum64" in gone and kind == wire.BTF_KIND_ENUM and wire.btf_info_kflag(info):
            words[pos + 1] = wire.btf_info(wire.BTF_KIND_ENUM, vlen, False)
            note("signed ENUM -> ENUM")
        elif "enum64" in gone and kind == wire.BTF_KIND_ENUM64:
            if not placeholder:
                placeholder = btf.type_count + 1
                name_off = btf.start_str_off + len(strs)
                strs += b"enum64_placeholder\0"
                extra = [name_off, wire.btf_info(wire.BTF_KIND_INT, 0, False), 1, _INT_BYTE]
            words[pos + 1] = wire.btf_info(wire.BTF_KIND_UNION, vlen, False)
            for j in range(vlen):
                m = p + 3 * j
                words[m + 1] = placeholder
                words[m + 2] = 0
            note("ENUM64 -> UNION")
    if extra:
        words.extend(extra)
    changes = tuple(f"{what} ({n})" for what, n in counts.items())
    return SanitizedBtf(encode_words(words, bytes(strs), btf.endian), changes)


def _rename(
    strs: bytearray, off: int, table: dict[int, int], btf: Btf, *, first_only: bool = False
) -> None:
    """In-place edit of a name, as libbpf does (a shared string changes for every user)."""
    rel = off - btf.start_str_off
    end = strs.index(0, rel)
    stop = rel + 1 if first_only else end
    for i in range(rel, stop):
        strs[i] = table.get(strs[i], strs[i])


def encode_words(words: array[int], strs: bytes, endian: wire.Endian) -> bytes:
    """A BTF blob (header, type words, strings) in ``endian`` byte order."""
    out = array("I", words)
    if endian != sys.byteorder:
        out.byteswap()
    types = out.tobytes()
    header = struct.pack(
        wire.endian_prefix(endian) + wire.BTF_HEADER_FMT,
        wire.BTF_MAGIC,
        wire.BTF_VERSION,
        0,
        wire.BTF_HEADER_SIZE,
        0,
        len(types),
        len(types),
        len(strs),
    )
    return header + types + strs
