"""A small, fast, pure reader of raw kernel BTF for the few facts the probe needs.

The probe must answer from ``/sys/kernel/btf/vmlinux`` alone when loading is denied, and do it
in well under 150 ms; vmlinux has ~130k types, so this reader builds only the type-id -> offset
index (one pass over the info words, as libbpf ``btf_parse_type_sec()`` does) and decodes the
handful of types asked for (enums by name, FUNC names, ``bpf_kfunc`` decl tags).

Layouts are uapi/linux/btf.h: ``struct btf_header``, ``struct btf_type`` and the per-kind
trailers. Malformed input raises :class:`~bpfdoctor.errors.BtfError` naming the offset.
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Iterator

from bpfdoctor.errors import BtfError

BTF_MAGIC = 0xEB9F

KIND_NAMES = {
    1: "INT", 2: "PTR", 3: "ARRAY", 4: "STRUCT", 5: "UNION", 6: "ENUM", 7: "FWD",
    8: "TYPEDEF", 9: "VOLATILE", 10: "CONST", 11: "RESTRICT", 12: "FUNC", 13: "FUNC_PROTO",
    14: "VAR", 15: "DATASEC", 16: "FLOAT", 17: "DECL_TAG", 18: "TYPE_TAG", 19: "ENUM64",
}
KIND_FUNC, KIND_ENUM, KIND_DECL_TAG, KIND_ENUM64 = 12, 6, 17, 19

# bytes after the 12-byte btf_type: fixed part, and per-vlen entry size
_FIXED = {1: 4, 3: 12, 14: 4, 17: 4}
_PER_VLEN = {4: 12, 5: 12, 6: 8, 13: 8, 15: 12, 19: 12}

_HDR_FMT = "HBBIIIII"

# words (u32) after the 3-word btf_type, per kind: fixed part, and per-vlen entry
_FIXED_W = [0] * 32
_PER_VLEN_W = [0] * 32
for _k, _v in _FIXED.items():
    _FIXED_W[_k] = _v // 4
for _k, _v in _PER_VLEN.items():
    _PER_VLEN_W[_k] = _v // 4
_BASE_W = [3 + f for f in _FIXED_W]


class RawBtf:
    """Index over one BTF blob (base BTF only; split module BTF starts at the base's count).

    The type section is read as an array of u32 words (byte-swapped when the blob's
    endianness differs from the host's), and the index holds each type's word offset.
    """

    __slots__ = ("_data", "_offsets", "_str_end", "_str_start", "_words", "kinds_present")

    def __init__(self, data: bytes) -> None:
        if len(data) < 24:
            raise BtfError(f"BTF: {len(data)} bytes is shorter than the header")
        if struct.unpack_from("<H", data)[0] == BTF_MAGIC:
            order = "<"
        elif struct.unpack_from(">H", data)[0] == BTF_MAGIC:
            order = ">"
        else:
            magic = struct.unpack_from("<H", data)[0]
            raise BtfError(f"BTF: bad magic 0x{magic:04x} at offset 0 (want 0xeb9f)")
        _m, _ver, _flags, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(
            order + _HDR_FMT, data)
        tb, te = hdr_len + type_off, hdr_len + type_off + type_len
        sb, se = hdr_len + str_off, hdr_len + str_off + str_len
        if te > len(data) or se > len(data) or hdr_len < 24:
            raise BtfError("BTF: header sections run past the end of the data")
        if type_len % 4:
            raise BtfError(f"BTF: type section length {type_len} is not a multiple of 4")
        words = array("I")
        words.frombytes(data[tb:te])
        if (order == "<") != (sys.byteorder == "little"):
            words.byteswap()
        self._data = data
        self._words = words
        self._str_start, self._str_end = sb, se
        offsets = array("I", [0])
        add = offsets.append
        base_w, per_w = _BASE_W, _PER_VLEN_W
        kinds = [0] * 32
        n = len(words)
        i = 0
        try:
            while i < n:
                add(i)
                info = words[i + 1]
                kind = info >> 24 & 31
                kinds[kind] = 1
                i += base_w[kind] + per_w[kind] * (info & 0xFFFF)
        except IndexError:
            raise BtfError(f"BTF: type [{len(offsets) - 1}] truncated at offset "
                           f"{tb + 4 * i}") from None
        if i != n:
            raise BtfError(f"BTF: type section ends at {tb + 4 * i}, header says {te}")
        self._offsets = offsets
        self.kinds_present = frozenset(KIND_NAMES.get(k, f"kind{k}")
                                       for k in range(32) if kinds[k])

    @property
    def type_count(self) -> int:
        return len(self._offsets) - 1

    def name(self, name_off: int) -> str:
        start = self._str_start + name_off
        if start >= self._str_end:
            raise BtfError(f"BTF: name offset {name_off} outside the string section")
        end = self._data.index(b"\0", start, self._str_end)
        return self._data[start:end].decode("utf-8", "replace")

    def header(self, type_id: int) -> tuple[int, int, int, int]:
        """(name_off, kind, vlen, size_or_type) of one type."""
        if not 0 < type_id < len(self._offsets):
            raise BtfError(f"BTF: type id {type_id} out of range")
        w, i = self._words, self._offsets[type_id]
        info = w[i + 1]
        return w[i], (info >> 24) & 0x1F, info & 0xFFFF, w[i + 2]

    def type_name(self, type_id: int) -> str:
        return self.name(self.header(type_id)[0])

    def _string_offset(self, name: str) -> int | None:
        needle = b"\0" + name.encode() + b"\0"
        idx = self._data.find(needle, self._str_start, self._str_end)
        return None if idx < 0 else idx + 1 - self._str_start

    def has_string(self, text: str) -> bool:
        """Whether ``text`` is a whole string in the string section (names BTF refers to)."""
        return self._string_offset(text) is not None

    def ids_of_kind(self, kind: int) -> Iterator[int]:
        w, offs = self._words, self._offsets
        for tid in range(1, len(offs)):
            if (w[offs[tid] + 1] >> 24) & 0x1F == kind:
                yield tid

    def find(self, name: str, kind: int) -> int | None:
        """First type id with this name and kind (name compared by string offset: fast)."""
        off = self._string_offset(name)
        if off is None:
            return None
        w, offs = self._words, self._offsets
        for tid in range(1, len(offs)):
            i = offs[tid]
            if w[i] == off and (w[i + 1] >> 24) & 0x1F == kind:
                return tid
        return None

    def enum_values(self, name: str) -> dict[str, int]:
        """Members of ``enum name`` (ENUM or ENUM64); empty when the enum is absent."""
        tid = self.find(name, KIND_ENUM)
        kind = KIND_ENUM
        if tid is None:
            tid = self.find(name, KIND_ENUM64)
            kind = KIND_ENUM64
        if tid is None:
            return {}
        _, _, vlen, _ = self.header(tid)
        w = self._words
        pos = self._offsets[tid] + 3
        out: dict[str, int] = {}
        for _ in range(vlen):
            if kind == KIND_ENUM:
                noff, val = w[pos], w[pos + 1]
                val = val - (1 << 32) if val >= 1 << 31 else val
                pos += 2
            else:
                noff, val = w[pos], w[pos + 1] | (w[pos + 2] << 32)
                pos += 3
            out[self.name(noff)] = val
        return out

    def decl_tag_targets(self, tag: str) -> list[int]:
        """Type ids carrying ``__attribute__((btf_decl_tag(tag)))`` on the whole declaration."""
        off = self._string_offset(tag)
        if off is None:
            return []
        w, offs = self._words, self._offsets
        out: list[int] = []
        for tid in range(1, len(offs)):
            i = offs[tid]
            if w[i] == off and (w[i + 1] >> 24) & 0x1F == KIND_DECL_TAG and \
                    w[i + 3] == 0xFFFFFFFF:  # component_idx -1: the whole declaration
                out.append(w[i + 2])
        return out

    def kfuncs(self) -> dict[str, int]:
        """Kernel functions callable from BPF: FUNCs tagged ``bpf_kfunc`` (pahole >= 1.26)."""
        out: dict[str, int] = {}
        for tid in self.decl_tag_targets("bpf_kfunc"):
            if self.header(tid)[1] == KIND_FUNC:
                out[self.type_name(tid)] = tid
        return dict(sorted(out.items()))
