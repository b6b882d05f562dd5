"""``BtfBuilder``: encode BTF blobs type by type.

Used by tests to make valid and deliberately corrupt BTF, by the probe to load one tiny blob per
BTF kind into the kernel, and by loaders to re-emit sanitized BTF. Mirrors libbpf's
``btf__add_*()`` API: every ``add_*`` returns the new type id; strings are deduplicated.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bpfdoctor.btf import wire
from bpfdoctor.btf.decoder import Btf
from bpfdoctor.btf.types import BtfKind, BtfLinkage


@dataclass(frozen=True, slots=True)
class _RawType:
    name_off: int
    info: int
    size_type: int
    extra: tuple[int, ...]


class BtfBuilder:
    """Accumulates types and strings; ``encode()`` returns the blob.

    With ``base``, builds split BTF: ids start after the base's last id and string offsets
    continue after the base's string section, as libbpf ``btf__new_empty_split`` does.
    """

    def __init__(self, base: Btf | None = None) -> None:
        self.base = base
        self.start_id = 1 if base is None else base.type_count + 1
        self._start_str_off = 0 if base is None else base.strings_end
        self._strs = bytearray() if base is not None else bytearray(b"\0")
        self._str_offs: dict[str, int] = {} if base is not None else {"": 0}
        self._types: list[_RawType] = []

    @property
    def next_id(self) -> int:
        return self.start_id + len(self._types)

    def add_string(self, text: str) -> int:
        """Offset of ``text`` in the string section, adding it if new (empty string is 0)."""
        if text == "":
            return 0
        off = self._str_offs.get(text)
        if off is None:
            off = self._start_str_off + len(self._strs)
            self._strs += text.encode("utf-8") + b"\0"
            self._str_offs[text] = off
        return off

    def add_raw(
        self,
        kind: int,
        name: str | int = "",
        *,
        vlen: int = 0,
        kflag: bool = False,
        size_type: int = 0,
        extra: Iterable[int] = (),
    ) -> int:
        """Escape hatch: any kind number, vlen and trailing words (tests build corrupt BTF)."""
        name_off = name if isinstance(name, int) else self.add_string(name)
        info = wire.btf_info(kind, vlen, kflag)
        self._types.append(_RawType(name_off, info, size_type & 0xFFFFFFFF, tuple(extra)))
        return self.next_id - 1

    def _add(
        self,
        kind: BtfKind,
        name: str,
        size_type: int,
        *,
        vlen: int = 0,
        kflag: bool = False,
        extra: Iterable[int] = (),
    ) -> int:
        if vlen > wire.BTF_MAX_VLEN:
            raise ValueError(f"vlen {vlen} exceeds {wire.BTF_MAX_VLEN}")
        return self.add_raw(
            int(kind), name, vlen=vlen, kflag=kflag, size_type=size_type, extra=extra
        )

    def add_int(
        self,
        name: str,
        size: int,
        *,
        signed: bool = False,
        char: bool = False,
        bool_: bool = False,
        bits: int | None = None,
        bit_offset: int = 0,
    ) -> int:
        enc = (
            (wire.BTF_INT_SIGNED if signed else 0)
            | (wire.BTF_INT_CHAR if char else 0)
            | (wire.BTF_INT_BOOL if bool_ else 0)
        )
        word = wire.btf_int_word(enc, bit_offset, size * 8 if bits is None else bits)
        return self._add(BtfKind.INT, name, size, extra=(word,))

    def add_float(self, name: str, size: int) -> int:
        return self._add(BtfKind.FLOAT, name, size)

    def add_ptr(self, type_id: int) -> int:
        return self._add(BtfKind.PTR, "", type_id)

    def add_array(self, elem_type: int, index_type: int, nelems: int) -> int:
        return self._add(BtfKind.ARRAY, "", 0, extra=(elem_type, index_type, nelems))

    def _add_composite(
        self,
        kind: BtfKind,
        name: str,
        size: int,
        members: Sequence[tuple[str, int, int] | tuple[str, int, int, int]],
    ) -> int:
        kflag = any(len(m) == 4 and m[3] for m in members)
        extra: list[int] = []
        for m in members:
            bit_offset = m[2]
            bitfield = m[3] if len(m) == 4 else 0
            off = (bitfield << 24) | bit_offset if kflag else bit_offset
            extra += [self.add_string(m[0]), m[1], off]
        return self._add(kind, name, size, vlen=len(members), kflag=kflag, extra=extra)

    def add_struct(
        self,
        name: str,
        size: int,
        members: Sequence[tuple[str, int, int] | tuple[str, int, int, int]] = (),
    ) -> int:
        """Members are ``(name, type_id, bit_offset[, bitfield_size])``; bitfields set kflag."""
        return self._add_composite(BtfKind.STRUCT, name, size, members)

    def add_union(
        self,
        name: str,
        size: int,
        members: Sequence[tuple[str, int, int] | tuple[str, int, int, int]] = (),
    ) -> int:
        return self._add_composite(BtfKind.UNION, name, size, members)

    def add_enum(
        self,
        name: str,
        values: Sequence[tuple[str, int]] = (),
        *,
        size: int = 4,
        signed: bool = False,
    ) -> int:
        extra: list[int] = []
        for vname, val in values:
            extra += [self.add_string(vname), val & 0xFFFFFFFF]
        return self._add(BtfKind.ENUM, name, size, vlen=len(values), kflag=signed, extra=extra)

    def add_enum64(
        self,
        name: str,
        values: Sequence[tuple[str, int]] = (),
        *,
        size: int = 8,
        signed: bool = False,
    ) -> int:
        extra: list[int] = []
        for vname, val in values:
            val &= 0xFFFFFFFFFFFFFFFF
            extra += [self.add_string(vname), val & 0xFFFFFFFF, val >> 32]
        return self._add(BtfKind.ENUM64, name, size, vlen=len(values), kflag=signed, extra=extra)

    def add_fwd(self, name: str, *, union: bool = False) -> int:
        return self._add(BtfKind.FWD, name, 0, kflag=union)

    def add_typedef(self, name: str, type_id: int) -> int:
        return self._add(BtfKind.TYPEDEF, name, type_id)

    def add_volatile(self, type_id: int) -> int:
        return self._add(BtfKind.VOLATILE, "", type_id)

    def add_const(self, type_id: int) -> int:
        return self._add(BtfKind.CONST, "", type_id)

    def add_restrict(self, type_id: int) -> int:
        return self._add(BtfKind.RESTRICT, "", type_id)

    def add_type_tag(self, value: str, type_id: int) -> int:
        return self._add(BtfKind.TYPE_TAG, value, type_id)

    def add_func_proto(self, ret_type: int, params: Sequence[tuple[str, int]] = ()) -> int:
        extra: list[int] = []
        for pname, ptype in params:
            extra += [self.add_string(pname), ptype]
        return self._add(BtfKind.FUNC_PROTO, "", ret_type, vlen=len(params), extra=extra)

    def add_func(self, name: str, proto_id: int, linkage: BtfLinkage = BtfLinkage.GLOBAL) -> int:
        """FUNC keeps its linkage in vlen, as the kernel expects."""
        return self._add(BtfKind.FUNC, name, proto_id, vlen=int(linkage))

    def add_var(self, name: str, type_id: int, linkage: BtfLinkage = BtfLinkage.GLOBAL) -> int:
        return self._add(BtfKind.VAR, name, type_id, extra=(int(linkage),))

    def add_datasec(
        self, name: str, size: int, entries: Sequence[tuple[int, int, int]] = ()
    ) -> int:
        """Entries are ``(var_type_id, offset, size)``."""
        extra: list[int] = []
        for e in entries:
            extra += list(e)
        return self._add(BtfKind.DATASEC, name, size, vlen=len(entries), extra=extra)

    def add_decl_tag(self, value: str, type_id: int, component_idx: int = -1) -> int:
        return self._add(BtfKind.DECL_TAG, value, type_id, extra=(component_idx & 0xFFFFFFFF,))

    def type_section(self, endian: wire.Endian = "little") -> bytes:
        p = wire.endian_prefix(endian)
        out = bytearray()
        for t in self._types:
            out += struct.pack(f"{p}{3 + len(t.extra)}I", t.name_off, t.info, t.size_type, *t.extra)
        return bytes(out)

    def string_section(self) -> bytes:
        return bytes(self._strs)

    def encode(
        self,
        endian: wire.Endian = "little",
        *,
        version: int = wire.BTF_VERSION,
        flags: int = 0,
        hdr_len: int = wire.BTF_HEADER_SIZE,
        strings_first: bool = False,
    ) -> bytes:
        """The blob: btf_header, then the type and string sections (types first, as pahole and
        clang emit them, unless ``strings_first``)."""
        types = self.type_section(endian)
        strs = self.string_section()
        if strings_first:
            str_off, type_off = 0, len(strs) + (-len(strs) % 4)
            body = strs + b"\0" * (type_off - len(strs)) + types
        else:
            type_off, str_off = 0, len(types)
            body = types + strs
        p = wire.endian_prefix(endian)
        header = struct.pack(
            p + wire.BTF_HEADER_FMT,
            wire.BTF_MAGIC,
            version,
            flags,
            hdr_len,
            type_off,
            len(types),
            str_off,
            len(strs),
        )
        header += b"\0" * max(0, hdr_len - len(header))
        return header + body

    def encode_ext(
        self,
        *,
        func_info: Mapping[str, Sequence[tuple[int, int]]] | None = None,
        line_info: Mapping[str, Sequence[tuple[int, str, int, int, str]]] | None = None,
        core_relos: Mapping[str, Sequence[tuple[int, int, str, int]]] | None = None,
        endian: wire.Endian = "little",
        pad_records: int = 0,
    ) -> bytes:
        """A .BTF.ext blob whose strings live in this builder (call before ``encode()``).

        Records: func_info ``(insn_idx, type_id)``, line_info ``(insn_idx, file, line, col,
        text)``, core_relo ``(insn_idx, type_id, access_str, kind)``. ``pad_records`` appends
        that many zero words to every record, as a newer compiler with bigger records would.
        """
        p = wire.endian_prefix(endian)
        pad = (0,) * pad_records

        def sub(records: Mapping[str, Sequence[tuple[int, ...]]] | None, fields: int) -> bytes:
            if not records:
                return b""
            out = bytearray(struct.pack(p + "I", (fields + pad_records) * 4))
            for sec, recs in records.items():
                out += struct.pack(p + "II", self.add_string(sec), len(recs))
                for rec in recs:
                    out += struct.pack(f"{p}{fields + pad_records}I", *rec, *pad)
            return bytes(out)

        fi = sub({s: [(i * 8, t) for i, t in r] for s, r in (func_info or {}).items()}, 2)
        li = sub(
            {
                s: [
                    (i * 8, self.add_string(f), self.add_string(text), (line << 10) | col)
                    for i, f, line, col, text in r
                ]
                for s, r in (line_info or {}).items()
            },
            4,
        )
        cr = sub(
            {
                s: [(i * 8, t, self.add_string(acc), k) for i, t, acc, k in r]
                for s, r in (core_relos or {}).items()
            },
            4,
        )
        header = struct.pack(
            p + wire.BTF_EXT_HEADER_FMT,
            wire.BTF_MAGIC,
            wire.BTF_VERSION,
            0,
            wire.BTF_EXT_HEADER_CORE,
            0,
            len(fi),
            len(fi),
            len(li),
        )
        header += struct.pack(p + "II", len(fi) + len(li), len(cr))
        return header + fi + li + cr

    def build(self, endian: wire.Endian = "little", source: str = "built") -> Btf:
        """Encode and parse back (a quick way to get a ``Btf`` in tests and in the probe)."""
        return Btf.from_bytes(self.encode(endian), base=self.base, source=source)
