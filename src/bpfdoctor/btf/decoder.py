"""``Btf``: validate a BTF blob once, index it, decode types lazily.

Mirrors libbpf's pipeline (``btf_parse_hdr`` -> ``btf_parse_str_sec`` -> ``btf_parse_type_sec``):
the constructor walks the type section once, computing only where each type starts (from kind
and vlen) and its name offset, into ``array('I')``. A type is decoded into a frozen ``BtfType``
the first time it is asked for, then cached. Names are indexed by string offset; strings are
decoded only on lookup. Split BTF (kernel modules) continues the base's type ids and string
offsets, as ``btf__parse_split`` does.
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections import Counter
from collections.abc import Iterator
from typing import Any

from bpfdoctor.btf import wire
from bpfdoctor.btf.types import (
    MOD_KINDS,
    REF_KINDS,
    SIZED_KINDS,
    VOID,
    BtfArray,
    BtfEnumValue,
    BtfIntEncoding,
    BtfKind,
    BtfLinkage,
    BtfMember,
    BtfParam,
    BtfType,
    BtfVarSecinfo,
)
from bpfdoctor.errors import BtfError

_KINDS = tuple(BtfKind)
_FIXED = wire.KIND_FIXED_WORDS
_PER_VLEN = wire.KIND_VLEN_WORDS


def detect_endian(data: bytes | bytearray | memoryview) -> wire.Endian:
    """Byte order of a BTF blob, from how its magic reads (libbpf ``btf_parse_hdr``)."""
    if len(data) < 2:
        raise BtfError(f"BTF header truncated: {len(data)} bytes, need {wire.BTF_HEADER_SIZE}")
    if data[0] == 0x9F and data[1] == 0xEB:
        return "little"
    if data[0] == 0xEB and data[1] == 0x9F:
        return "big"
    raise BtfError(f"bad BTF magic 0x{data[0]:02x}{data[1]:02x} at offset 0 (expected 0xeb9f)")


def _words(raw: bytes, endian: wire.Endian) -> memoryview | array[int]:
    """The type section as native 32-bit words; a byteswapped copy for foreign byte order."""
    if endian == sys.byteorder:
        return memoryview(raw).cast("I")
    words = array("I", raw)
    words.byteswap()
    return words


class Btf:
    """A parsed BTF blob (``.BTF`` of an object, ``/sys/kernel/btf/vmlinux``, module BTF)."""

    __slots__ = (
        "_cache",
        "_find_cache",
        "_first_index",
        "_kinds",
        "_name_index",
        "_names",
        "_names_raw",
        "_offsets",
        "_ptr_size",
        "_str_cache",
        "_str_off_cache",
        "_strings",
        "_words",
        "base",
        "endian",
        "source",
        "start_id",
        "start_str_off",
        "str_len",
        "type_count",
    )

    base: Btf | None
    endian: wire.Endian
    source: str
    start_id: int
    start_str_off: int
    str_len: int
    type_count: int

    def __init__(
        self,
        data: bytes | bytearray | memoryview,
        base: Btf | None = None,
        source: str = ".BTF",
    ) -> None:
        raw = bytes(data)
        self.source = source
        self.base = base
        self.endian = detect_endian(raw)
        type_sec, str_sec = self._parse_header(raw)
        self.start_id = 1 if base is None else base.type_count + 1
        self.start_str_off = 0 if base is None else base.start_str_off + base.str_len
        self._strings = str_sec
        self._parse_str_sec()
        self._words = _words(type_sec, self.endian)
        self._offsets, self._names = self._index_types()
        self.type_count = self.start_id + len(self._offsets) - 1
        self._check_name_offsets()
        self._name_index: dict[int, int] | None = None
        self._names_raw: bytes | None = None
        self._cache: dict[int, BtfType] = {}
        self._find_cache: dict[str, list[int]] = {}
        self._str_off_cache: dict[str, list[int]] = {}
        self._first_index: dict[int, int] | None = None
        self._str_cache: dict[int, str] = {}
        self._ptr_size: int | None = None

    @classmethod
    def from_bytes(
        cls,
        data: bytes | bytearray | memoryview,
        base: Btf | None = None,
        source: str = ".BTF",
    ) -> Btf:
        """Parse and validate; raises ``BtfError`` naming the offset or type id that is wrong."""
        return cls(data, base=base, source=source)

    # -- parsing ---------------------------------------------------------------------------

    def _err(self, msg: str) -> BtfError:
        return BtfError(f"{self.source}: {msg}")

    def _parse_header(self, raw: bytes) -> tuple[bytes, bytes]:
        """Mirrors libbpf ``btf_parse_hdr``: bounds, alignment and layout of both sections."""
        if len(raw) < wire.BTF_HEADER_SIZE:
            raise self._err(f"BTF header truncated: {len(raw)} bytes, need {wire.BTF_HEADER_SIZE}")
        fmt = wire.endian_prefix(self.endian) + wire.BTF_HEADER_FMT
        _magic, version, _flags, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(
            fmt, raw
        )
        if version != wire.BTF_VERSION:
            raise self._err(f"unsupported BTF version {version} at offset 2")
        if hdr_len < wire.BTF_HEADER_SIZE:
            raise self._err(f"BTF header hdr_len {hdr_len} is shorter than {wire.BTF_HEADER_SIZE}")
        if hdr_len > len(raw):
            raise self._err(f"BTF header hdr_len {hdr_len} is past the end of data ({len(raw)})")
        if any(raw[wire.BTF_HEADER_SIZE : hdr_len]):
            raise self._err("BTF header has unknown non-zero fields past offset 24")
        meta = len(raw) - hdr_len
        if type_off + type_len > meta or type_off > meta:
            raise self._err(
                f"type section [{type_off}, +{type_len}) is past the end of data ({meta} bytes"
                f" after the {hdr_len}-byte header)"
            )
        if str_off + str_len > meta or str_off > meta:
            raise self._err(
                f"string section [{str_off}, +{str_len}) is past the end of data ({meta} bytes"
                f" after the {hdr_len}-byte header)"
            )
        if type_off % 4:
            raise self._err(f"type section offset {type_off} is not 4-byte aligned")
        if type_len % 4:
            raise self._err(f"type section length {type_len} is not a multiple of 4")
        if type_len and str_len and type_off + type_len > str_off and str_off + str_len > type_off:
            raise self._err("type and string sections overlap")
        self.str_len = str_len
        type_sec = raw[hdr_len + type_off : hdr_len + type_off + type_len]
        str_sec = raw[hdr_len + str_off : hdr_len + str_off + str_len]
        return type_sec, str_sec

    def _parse_str_sec(self) -> None:
        """Mirrors libbpf ``btf_parse_str_sec``."""
        strs = self._strings
        if self.base is not None and not strs:
            return
        if not strs:
            raise self._err("string section is empty (it must hold at least the empty string)")
        if len(strs) - 1 > wire.BTF_MAX_STR_OFFSET:
            raise self._err(f"string section too large: {len(strs)} bytes")
        if strs[-1] != 0:
            raise self._err(
                f"string section is not NUL-terminated (last byte 0x{strs[-1]:02x} at string"
                f" offset {self.start_str_off + len(strs) - 1})"
            )
        if self.base is None and strs[0] != 0:
            raise self._err(
                "string section does not start with the empty string (split BTF without its base?)"
            )

    def _index_types(self) -> tuple[array[int], array[int]]:
        """One pass over the type section: word offset and name_off of every type.

        This loop is the hot path for vmlinux (~130k types); it touches two words per type and
        memoizes the record length per distinct ``info`` word.
        """
        words = self._words
        n = len(words)
        offsets: array[int] = array("I")
        names: array[int] = array("I")
        add_off = offsets.append
        add_name = names.append
        steps: dict[int, int] = {}
        pos = 0
        info = 0
        try:
            while True:
                try:
                    while pos < n:
                        info = words[pos + 1]
                        add_off(pos)
                        add_name(words[pos])
                        pos += steps[info]
                    break
                except KeyError:
                    # First type with this info word: validate the kind, memoize the length.
                    step = steps[info] = self._record_words(info, len(offsets))
                    pos += step
        except IndexError:
            tid = self.start_id + len(offsets)
            raise self._err(
                f"type [{tid}]: truncated btf_type at type section offset {pos * 4}"
            ) from None
        if pos != n:
            tid = self.start_id + len(offsets) - 1
            info = words[offsets[-1] + 1]
            raise self._err(
                f"type [{tid}]: {BtfKind(wire.btf_info_kind(info)).label} with vlen"
                f" {wire.btf_info_vlen(info)} runs past the end of the type section"
                f" (offset {offsets[-1] * 4}, section length {n * 4})"
            )
        if len(offsets) + self.start_id - 1 > wire.BTF_MAX_NR_TYPES:
            raise self._err(f"too many types: {len(offsets)}")
        self._kinds = frozenset(_KINDS[wire.btf_info_kind(i)] for i in steps)
        return offsets, names

    def _record_words(self, info: int, index: int) -> int:
        kind = wire.btf_info_kind(info)
        if kind == wire.BTF_KIND_UNKN or kind > wire.BTF_KIND_MAX:
            tid = self.start_id + index - 1
            raise self._err(f"type [{tid}]: unknown BTF kind {kind}")
        return 3 + _FIXED[kind] + _PER_VLEN[kind] * wire.btf_info_vlen(info)

    def _check_name_offsets(self) -> None:
        if not self._names:
            return
        limit = self.start_str_off + len(self._strings)
        worst = max(self._names)
        if worst >= limit:
            tid = self.start_id + self._names.index(worst)
            raise self._err(
                f"type [{tid}]: name_off {worst} is outside the string section ({limit} bytes)"
            )

    # -- strings ---------------------------------------------------------------------------

    @property
    def strings_end(self) -> int:
        """One past the last valid string offset, base strings included."""
        return self.start_str_off + len(self._strings)

    def string(self, off: int) -> str:
        """``btf__str_by_offset``: the NUL-terminated string at ``off`` (base offsets delegate).

        Bytes that are not UTF-8 decode as U+FFFD, so a corrupt name is printable but cannot be
        looked up with ``find``."""
        cached = self._str_cache.get(off)
        if cached is not None:
            return cached
        if off < self.start_str_off:
            if self.base is None:  # pragma: no cover - start_str_off is 0 without base
                raise self._err(f"string offset {off} is out of range")
            return self.base.string(off)
        rel = off - self.start_str_off
        if rel >= len(self._strings) or off < 0:
            raise self._err(
                f"string offset {off} is outside the string section ({self.strings_end} bytes)"
            )
        end = self._strings.index(0, rel)
        text = self._strings[rel:end].decode("utf-8", "replace")
        self._str_cache[off] = text
        return text

    def _string_of(self, off: int, tid: int, what: str) -> str:
        if not 0 <= off < self.strings_end:
            raise self._err(
                f"type [{tid}]: {what} name_off {off} is outside the string section"
                f" ({self.strings_end} bytes)"
            )
        return self.string(off)

    def _string_offsets(self, name: str) -> list[int]:
        """Every offset, in this BTF's own string section, where the string ``name`` starts.

        A plain ``bytes.find`` over the section (~0.5 ms for vmlinux); ``find`` caches results.
        """
        needle = name.encode("utf-8") + b"\0"
        strs = self._strings
        found: list[int] = []
        pos = strs.find(needle)
        while pos >= 0:
            found.append(self.start_str_off + pos)
            pos = strs.find(needle, pos + 1)
        return found

    # -- types -----------------------------------------------------------------------------

    def __len__(self) -> int:
        """Number of types defined in this blob (split BTF: not counting the base)."""
        return len(self._offsets)

    def ids(self) -> range:
        """Type ids defined in this blob."""
        return range(self.start_id, self.type_count + 1)

    def kind_of(self, tid: int) -> BtfKind:
        """Kind of a type without decoding it."""
        if tid == 0:
            return BtfKind.UNKN
        if tid < self.start_id:
            assert self.base is not None
            return self.base.kind_of(tid)
        return _KINDS[wire.btf_info_kind(self._words[self._offsets[self._index(tid)] + 1])]

    def name_of(self, tid: int) -> str:
        """Name of a type without decoding the rest of it."""
        if tid == 0:
            return "void"
        if tid < self.start_id:
            assert self.base is not None
            return self.base.name_of(tid)
        return self.string(self._names[self._index(tid)])

    def _index(self, tid: int) -> int:
        idx = tid - self.start_id
        if not 0 <= idx < len(self._offsets):
            raise self._err(f"type id {tid} is out of range (valid ids: 1..{self.type_count})")
        return idx

    def type(self, tid: int) -> BtfType:
        """The decoded type with id ``tid`` (0 is void); cached; base ids delegate to base."""
        cached = self._cache.get(tid)
        if cached is not None:
            return cached
        if tid == 0:
            return VOID
        if 0 < tid < self.start_id:
            assert self.base is not None
            return self.base.type(tid)
        decoded = self._decode(tid, self._offsets[self._index(tid)])
        self._cache[tid] = decoded
        return decoded

    def __iter__(self) -> Iterator[BtfType]:
        """Decode every type of this blob in id order (base types not included)."""
        for tid in self.ids():
            yield self.type(tid)

    def _ref(self, tid: int, ref: int, what: str = "referenced type") -> int:
        if ref > self.type_count:
            raise self._err(
                f"type [{tid}]: invalid {what} id {ref} (valid ids: 0..{self.type_count})"
            )
        return ref

    def _decode(self, tid: int, pos: int) -> BtfType:
        """Decode one btf_type and its trailing data; mirrors libbpf ``btf_validate_type``."""
        w = self._words
        name_off, info, size_type = w[pos], w[pos + 1], w[pos + 2]
        kind = _KINDS[wire.btf_info_kind(info)]
        vlen = wire.btf_info_vlen(info)
        kflag = wire.btf_info_kflag(info)
        name = self._string_of(name_off, tid, kind.label)
        p = pos + 3
        common: dict[str, Any] = {
            "id": tid,
            "kind": kind,
            "name": name,
            "name_off": name_off,
            "kflag": kflag,
            "vlen": vlen,
        }
        if kind in SIZED_KINDS:
            common["size"] = size_type
        elif kind in REF_KINDS:
            common["type"] = self._ref(tid, size_type)

        if kind is BtfKind.INT:
            word = w[p]
            enc = wire.btf_int_encoding(word)
            return BtfType(
                **common,
                encoding=BtfIntEncoding(
                    signed=bool(enc & wire.BTF_INT_SIGNED),
                    char=bool(enc & wire.BTF_INT_CHAR),
                    bool=bool(enc & wire.BTF_INT_BOOL),
                    bits=wire.btf_int_bits(word),
                    bit_offset=wire.btf_int_offset(word),
                ),
            )
        if kind is BtfKind.ARRAY:
            arr = BtfArray(
                type=self._ref(tid, w[p], "array element type"),
                index_type=self._ref(tid, w[p + 1], "array index type"),
                nelems=w[p + 2],
            )
            return BtfType(**common, array=arr)
        if kind in (BtfKind.STRUCT, BtfKind.UNION):
            members = []
            for i in range(vlen):
                m = p + 3 * i
                off = w[m + 2]
                members.append(
                    BtfMember(
                        name=self._string_of(w[m], tid, f"member #{i}"),
                        type=self._ref(tid, w[m + 1], f"member #{i} type"),
                        bit_offset=wire.btf_member_bit_offset(off) if kflag else off,
                        bitfield_size=wire.btf_member_bitfield_size(off) if kflag else 0,
                    )
                )
            return BtfType(**common, members=tuple(members))
        if kind is BtfKind.ENUM:
            values = []
            for i in range(vlen):
                val = w[p + 2 * i + 1]
                if kflag and val & 0x80000000:
                    val -= 1 << 32
                values.append(
                    BtfEnumValue(self._string_of(w[p + 2 * i], tid, f"enumerator #{i}"), val, kflag)
                )
            return BtfType(**common, values=tuple(values))
        if kind is BtfKind.ENUM64:
            values = []
            for i in range(vlen):
                e = p + 3 * i
                val = w[e + 1] | (w[e + 2] << 32)
                if kflag and val & (1 << 63):
                    val -= 1 << 64
                values.append(
                    BtfEnumValue(self._string_of(w[e], tid, f"enumerator #{i}"), val, kflag)
                )
            return BtfType(**common, values=tuple(values))
        if kind is BtfKind.FUNC_PROTO:
            params = tuple(
                BtfParam(
                    name=self._string_of(w[p + 2 * i], tid, f"param #{i}"),
                    type=self._ref(tid, w[p + 2 * i + 1], f"param #{i} type"),
                )
                for i in range(vlen)
            )
            return BtfType(**common, params=params)
        if kind is BtfKind.FUNC:
            return BtfType(**common, linkage=self._linkage(tid, vlen))
        if kind is BtfKind.VAR:
            return BtfType(**common, linkage=self._linkage(tid, w[p]))
        if kind is BtfKind.DATASEC:
            secinfos = tuple(
                BtfVarSecinfo(
                    type=self._ref(tid, w[p + 3 * i], f"datasec entry #{i} type"),
                    offset=w[p + 3 * i + 1],
                    size=w[p + 3 * i + 2],
                )
                for i in range(vlen)
            )
            return BtfType(**common, secinfos=secinfos)
        if kind is BtfKind.DECL_TAG:
            idx = w[p]
            component = -1 if idx == 0xFFFFFFFF else idx
            return BtfType(**common, component_idx=component)
        return BtfType(**common)

    def _linkage(self, tid: int, value: int) -> BtfLinkage:
        try:
            return BtfLinkage(value)
        except ValueError:
            raise self._err(f"type [{tid}]: invalid linkage {value}") from None

    # -- queries ---------------------------------------------------------------------------

    def _build_name_index(self) -> dict[int, int]:
        """name_off -> highest id carrying it; earlier duplicates are found by a C-speed scan."""
        index = dict(zip(self._names, range(self.start_id, self.type_count + 1), strict=True))
        self._name_index = index
        return index

    def build_index(self) -> None:
        """Build the name index now (``find`` otherwise builds it on first use)."""
        if self._name_index is None:
            self._build_name_index()

    def _ids_with_name_off(self, off: int) -> list[int]:
        index = self._name_index if self._name_index is not None else self._build_name_index()
        last = index.get(off)
        if last is None:
            return []
        # Earlier types with the same name_off (a FWD and its STRUCT, a TYPEDEF and its STRUCT):
        # the first id carrying it bounds a C-speed bytes.find over the packed name_off array;
        # most names are unique (first == last) and need no scan at all.
        if self._first_index is None:
            names, ids_range = self._names, range(self.start_id, self.type_count + 1)
            self._first_index = dict(zip(reversed(names), reversed(ids_range), strict=True))
        first = self._first_index[off]
        if first == last:
            return [last]
        if self._names_raw is None:
            self._names_raw = self._names.tobytes()
        raw = self._names_raw
        needle = array("I", [off]).tobytes()
        end = (last - self.start_id) * 4
        ids: list[int] = []
        pos = raw.find(needle, (first - self.start_id) * 4, end)
        while pos >= 0:
            if pos % 4 == 0:
                ids.append(self.start_id + pos // 4)
                pos = raw.find(needle, pos + 4, end)
            else:
                pos = raw.find(needle, pos + 1, end)
        ids.append(last)
        return ids

    def find(self, name: str, kind: BtfKind | None = None) -> list[int]:
        """Ids of all types called ``name`` (base first for split BTF), optionally of one kind."""
        if "\0" in name:
            return []
        ids = self._find_cache.get(name)
        if ids is None:
            ids = self._find_cache[name] = self._find_all(name)
        if kind is None:
            return list(ids)
        return [tid for tid in ids if self.kind_of(tid) is kind]

    def _find_all(self, name: str) -> list[int]:
        found: list[int] = [] if self.base is None else self.base.find(name)
        offs: list[int] = self._string_offsets(name)
        if self.base is not None:
            offs = self.base._all_string_offsets(name) + offs
        own: list[int] = []
        for off in offs:
            own.extend(self._ids_with_name_off(off))
        own.sort()
        return found + own

    def find_prefixed(self, prefix: str) -> list[int]:
        """Ids of all types whose name starts with ``prefix`` (CO-RE flavors: ``foo___v2``)."""
        if "\0" in prefix:
            return []
        key = "\0" + prefix  # shares find()'s cache; no real name starts with NUL
        cached = self._find_cache.get(key)
        if cached is None:
            cached = self._find_cache[key] = self._find_prefixed(prefix)
        return list(cached)

    def _find_prefixed(self, prefix: str) -> list[int]:
        needle = prefix.encode("utf-8")
        found: list[int] = [] if self.base is None else self.base.find_prefixed(prefix)
        own: set[int] = set()
        for btf in self._chain():  # own types may name strings of the base
            strs = btf._strings
            pos = strs.find(needle)
            while pos >= 0:
                own.update(self._ids_with_name_off(btf.start_str_off + pos))
                pos = strs.find(needle, pos + 1)
        return found + sorted(own)

    def _chain(self) -> list[Btf]:
        """This BTF and its bases, base first."""
        chain: list[Btf] = []
        btf: Btf | None = self
        while btf is not None:
            chain.append(btf)
            btf = btf.base
        return chain[::-1]

    def _all_string_offsets(self, name: str) -> list[int]:
        """Offsets of ``name`` in this BTF and its bases; cached, because every split BTF on
        the same base (4,000 kernel modules on vmlinux) asks the base the same question."""
        cached = self._str_off_cache.get(name)
        if cached is None:
            base = [] if self.base is None else self.base._all_string_offsets(name)
            cached = self._str_off_cache[name] = base + self._string_offsets(name)
        return cached

    def find_one(self, name: str, kind: BtfKind | None = None) -> BtfType | None:
        """The first type called ``name`` (of ``kind``), or None."""
        ids = self.find(name, kind)
        return self.type(ids[0]) if ids else None

    def kinds(self) -> frozenset[BtfKind]:
        """The kinds this blob uses (base not included), known from the one indexing pass:
        far cheaper than :meth:`kind_counts` on vmlinux."""
        return self._kinds

    def has_string(self, text: str) -> bool:
        """Whether ``text`` is a whole string of this BTF or its base (a type, member or
        enumerator name such as ``BPF_F_MMAPABLE``)."""
        needle = b"\0" + text.encode("utf-8") + b"\0"
        return any(needle in btf._strings for btf in self._chain())

    def kind_counts(self) -> dict[BtfKind, int]:
        """How many types of each kind this blob defines (base types not included)."""
        w = self._words
        counts = Counter((w[o + 1] >> 24) & 0x1F for o in self._offsets)
        return {_KINDS[k]: c for k, c in sorted(counts.items())}

    def resolve(self, tid: int) -> int:
        """Skip typedefs and modifiers (libbpf ``skip_mods_and_typedefs``); loops raise."""
        seen: set[int] = set()
        start = tid
        t = self.type(tid)
        while t.kind in MOD_KINDS:
            if t.id in seen:
                raise self._err(f"type [{start}]: reference loop")
            seen.add(t.id)
            assert t.type is not None
            t = self.type(t.type)
        return t.id

    @property
    def ptr_size(self) -> int:
        """Pointer size guessed from ``long`` like libbpf ``determine_ptr_size``; default 8."""
        if self._ptr_size is None:
            self._ptr_size = 8
            for name in ("long", "long int", "unsigned long", "long unsigned int"):
                for tid in self.find(name, BtfKind.INT):
                    size = self.type(tid).size
                    if size in (4, 8):
                        self._ptr_size = size
                        return size
        return self._ptr_size

    def size_of(self, tid: int) -> int | None:
        """Byte size of a type (libbpf ``btf__resolve_size``); None for void, FUNC, FWD..."""
        seen: set[int] = set()
        start = tid
        mult = 1
        while True:
            if tid in seen:
                raise self._err(f"type [{start}]: reference loop")
            seen.add(tid)
            t = self.type(tid)
            if t.kind in SIZED_KINDS:
                assert t.size is not None
                return mult * t.size
            if t.kind is BtfKind.PTR:
                return mult * self.ptr_size
            if t.kind is BtfKind.ARRAY:
                assert t.array is not None
                mult *= t.array.nelems
                tid = t.array.type
                continue
            if t.kind in MOD_KINDS or t.kind in (BtfKind.VAR, BtfKind.DECL_TAG):
                assert t.type is not None
                tid = t.type
                continue
            return None

    def validate(self) -> None:
        """Decode every type and check references like libbpf ``btf_validate_type``.

        The constructor checks structure only; this also checks each referenced id, name and
        that FUNC points at a FUNC_PROTO. Costs a full decode (~1 s for vmlinux).
        """
        for t in self:
            if t.kind is BtfKind.FUNC:
                assert t.type is not None
                if self.kind_of(t.type) is not BtfKind.FUNC_PROTO:
                    raise self._err(
                        f"type [{t.id}]: FUNC {t.name!r} references type [{t.type}] which is"
                        f" {self.kind_of(t.type).label}, not FUNC_PROTO"
                    )
            if t.kind is BtfKind.DECL_TAG and t.component_idx is not None:
                self._check_decl_tag(t)
            if t.kind in MOD_KINDS:
                self.resolve(t.id)

    def _check_decl_tag(self, tag: BtfType) -> None:
        """component_idx is a member index (struct/union) or an argument index (func)."""
        assert tag.type is not None and tag.component_idx is not None
        if tag.component_idx < 0:
            return
        target = self.type(tag.type)
        if target.kind is BtfKind.FUNC:
            assert target.type is not None
            count = len(self.type(target.type).params)
        else:
            count = len(target.members)
        if tag.component_idx >= count:
            raise self._err(
                f"type [{tag.id}]: decl tag component_idx {tag.component_idx} is out of range"
                f" for {target.kind.label} [{target.id}] ({count} components)"
            )

    def __repr__(self) -> str:
        return (
            f"Btf(source={self.source!r}, endian={self.endian!r}, start_id={self.start_id},"
            f" type_count={self.type_count})"
        )
