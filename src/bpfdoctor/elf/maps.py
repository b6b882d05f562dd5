"""Map definitions: BTF-defined ``.maps``, the legacy ``maps`` section, and global data maps.

* ``.maps`` mirrors libbpf ``parse_btf_map_def()``: each member of the map's anonymous struct
  is ``__uint(name, N)`` (a pointer to an array of N elements), ``__type(name, T)`` (a pointer
  to T) or ``__array(values, struct inner)`` (an array of pointers to the inner definition).
* ``maps`` mirrors libbpf < 1.0 ``bpf_object__init_user_maps()``: the record size is the
  section size divided by the number of symbols in it (20 to 40 bytes seen in the wild); the
  36-byte form is iproute2's ``struct bpf_elf_map`` with ``id``/``pinning``/inner fields.
* ``.data*``, ``.rodata*``, ``.bss*`` and ``.kconfig`` become single-entry array maps with the
  flags libbpf's ``bpf_object__init_internal_map()`` gives them.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from bpfdoctor.elf.image import ElfImage, Section, Symbol
from bpfdoctor.elf.relocations import (
    KCONFIG_SEC,
    LEGACY_MAPS_SEC,
    MAPS_SEC,
    Relocation,
    RelocKind,
    is_data_section,
)
from bpfdoctor.errors import BtfError
from bpfdoctor.knowledge import uapi

if TYPE_CHECKING:
    from bpfdoctor.btf.decoder import Btf
    from bpfdoctor.btf.types import BtfType

BPF_F_NUMA_NODE = 0x4
BPF_F_RDONLY_PROG = 0x80
BPF_F_MMAPABLE = 0x400
LIBBPF_PIN_BY_NAME = 1
PINNING_NAMES = {0: None, 1: "by_name"}
IPROUTE2_PINNING = {0: None, 1: "object_ns", 2: "global_ns"}
BPF_MAP_TYPE_ARRAY = 2


@dataclass(frozen=True, slots=True)
class MapSpec:
    """One map as a loader would create it.

    ``origin`` is ``btf`` (``.maps``), ``legacy`` (``maps``), ``data`` (global data sections)
    or ``kconfig``. Sizes are None where the definition leaves them to the loader or the
    kernel (ringbuf, perf event array). ``values`` lists ``(slot, symbol)`` initialisers of
    map-in-map and prog-array maps. ``problems`` are libbpf's reasons to refuse the definition.
    """

    name: str
    origin: str
    section: str
    type_id: int
    key_size: int | None = None
    value_size: int | None = None
    max_entries: int | None = None
    flags: int = 0
    pinning: str | None = None
    numa_node: int | None = None
    map_extra: int | None = None
    key_type: str | None = None
    value_type: str | None = None
    inner: MapSpec | None = None
    values: tuple[tuple[int, str], ...] = ()
    frozen: bool = False
    record_size: int | None = None
    problems: tuple[str, ...] = ()
    btf_value_type_id: int | None = None
    extra: tuple[tuple[str, int], ...] = field(default_factory=tuple)
    members: tuple[tuple[str, str], ...] = ()  # struct_ops: member name -> program

    @property
    def type(self) -> str:
        return uapi.map_types().get(self.type_id, f"unknown({self.type_id})")

    @property
    def flag_names(self) -> list[str]:
        return uapi.flag_names(self.flags)


# -- BTF-defined maps -----------------------------------------------------------------------


def _skip_mods(btf: Btf, tid: int) -> BtfType:
    return btf.type(btf.resolve(tid))


def _map_int(btf: Btf, map_name: str, member: str, tid: int) -> int:
    """Mirrors libbpf ``get_map_field_int()``: ``int (*name)[N]`` encodes N."""
    ptr = _skip_mods(btf, tid)
    if ptr.kind.name != "PTR" or ptr.type is None:
        raise BtfError(f".maps: map '{map_name}': attr '{member}': expected PTR, got {ptr.kind.label}")
    arr = _skip_mods(btf, ptr.type)
    if arr.kind.name != "ARRAY" or arr.array is None:
        raise BtfError(
            f".maps: map '{map_name}': attr '{member}': type [{ptr.type}] is {arr.kind.label}, not ARRAY"
        )
    return arr.array.nelems


def _map_long(btf: Btf, map_name: str, member: str, tid: int) -> int:
    """Mirrors libbpf ``get_map_field_long()``: ``__ulong(name, V)`` is a one-value enum(64)."""
    t = _skip_mods(btf, tid)
    if t.kind.name == "PTR":
        return _map_int(btf, map_name, member, tid)
    if t.kind.name not in ("ENUM", "ENUM64"):
        raise BtfError(
            f".maps: map '{map_name}': attr '{member}': expected ENUM or ENUM64, got {t.kind.label}"
        )
    if len(t.values) != 1:
        raise BtfError(f".maps: map '{map_name}': attr '{member}': invalid __ulong")
    return t.values[0].value


def _map_type_ref(btf: Btf, map_name: str, member: str, tid: int) -> tuple[int, int | None, str]:
    """``__type(key, T)`` is ``T *key``: returns (type id, size, description)."""
    ptr = _skip_mods(btf, tid)
    if ptr.kind.name != "PTR" or ptr.type is None:
        raise BtfError(f".maps: map '{map_name}': {member} spec is not PTR: {ptr.kind.label}")
    target = ptr.type
    return target, btf.size_of(target), describe_type(btf, target)


_DESCRIBE_DEPTH = 32  # deeper than any real declarator; a corrupt .BTF can make a loop


def describe_type(btf: Btf, tid: int, depth: int = 0) -> str:
    """``struct flow_key``, ``__u32``, ``u8[16]``: short, for tables.

    The depth bound matters: a pointer or array that (through corrupt BTF) leads back to itself
    would otherwise recurse until Python gives up with a traceback instead of one error line.
    """
    if depth > _DESCRIBE_DEPTH:
        raise BtfError(f".BTF: type [{tid}]: reference loop (or a chain deeper than "
                       f"{_DESCRIBE_DEPTH} types)")
    t = btf.type(tid)
    if t.kind.name == "ARRAY" and t.array is not None:
        return f"{describe_type(btf, t.array.type, depth + 1)}[{t.array.nelems}]"
    if t.kind.name == "PTR" and t.type is not None:
        return describe_type(btf, t.type, depth + 1) + " *"
    if t.kind.name in ("TYPEDEF", "INT", "FLOAT"):
        return t.name
    if t.kind.name in ("CONST", "VOLATILE", "RESTRICT", "TYPE_TAG") and t.type is not None:
        return describe_type(btf, t.type, depth + 1)
    return t.describe()


def parse_btf_map_def(
    btf: Btf, map_name: str, def_tid: int, section: str, depth: int = 0
) -> MapSpec:
    """Mirrors libbpf ``parse_btf_map_def()`` for one map (or inner map) definition struct."""
    st = _skip_mods(btf, def_tid)
    if st.kind.name != "STRUCT":
        raise BtfError(f".maps: map '{map_name}': def is {st.kind.label}, expected STRUCT")
    spec = MapSpec(name=map_name, origin="btf", section=section, type_id=0)
    problems: list[str] = []
    for m in st.members:
        if not m.name:
            raise BtfError(f".maps: map '{map_name}': invalid field #{st.members.index(m)}")
        if m.name in ("type", "max_entries", "map_flags", "numa_node", "map_extra", "pinning",
                      "key_size", "value_size"):
            if m.name == "map_extra":
                value = _map_long(btf, map_name, m.name, m.type)
            else:
                value = _map_int(btf, map_name, m.name, m.type)
            if m.name == "type":
                spec = replace(spec, type_id=value)
            elif m.name == "max_entries":
                spec = replace(spec, max_entries=value)
            elif m.name == "map_flags":
                spec = replace(spec, flags=value)
            elif m.name == "numa_node":
                spec = replace(spec, numa_node=value)
            elif m.name == "map_extra":
                spec = replace(spec, map_extra=value)
            elif m.name == "pinning":
                if value not in PINNING_NAMES:
                    problems.append(f"invalid pinning value {value}")
                spec = replace(spec, pinning=PINNING_NAMES.get(value, f"unknown({value})"))
            elif m.name == "key_size":
                if spec.key_size is not None and spec.key_size != value:
                    problems.append(f"conflicting key size {spec.key_size} != {value}")
                spec = replace(spec, key_size=value)
            else:
                if spec.value_size is not None and spec.value_size != value:
                    problems.append(f"conflicting value size {spec.value_size} != {value}")
                spec = replace(spec, value_size=value)
        elif m.name in ("key", "value"):
            tid, size, desc = _map_type_ref(btf, map_name, m.name, m.type)
            if size is None:
                problems.append(f"can't determine {m.name} size for type [{tid}]")
            current = spec.key_size if m.name == "key" else spec.value_size
            if current is not None and size is not None and current != size:
                problems.append(f"conflicting {m.name} size {current} != {size}")
            if m.name == "key":
                spec = replace(spec, key_size=size, key_type=desc)
            else:
                spec = replace(spec, value_size=size, value_type=desc, btf_value_type_id=tid)
        elif m.name == "values":
            inner = _parse_values(btf, map_name, m.type, section, depth)
            if inner is not None:
                spec = replace(spec, inner=inner, value_size=spec.value_size or 4)
        else:
            problems.append(f"unknown field '{m.name}'")
    return replace(spec, problems=tuple(problems))


def _parse_values(btf: Btf, map_name: str, tid: int, section: str, depth: int) -> MapSpec | None:
    """``__array(values, struct inner)``: an array of pointers to the inner definition."""
    arr = _skip_mods(btf, tid)
    if arr.kind.name != "ARRAY" or arr.array is None:
        raise BtfError(f".maps: map '{map_name}': values spec is not an array: {arr.kind.label}")
    ptr = _skip_mods(btf, arr.array.type)
    if ptr.kind.name != "PTR" or ptr.type is None:
        raise BtfError(f".maps: map '{map_name}': values element is not a pointer: {ptr.kind.label}")
    target = _skip_mods(btf, ptr.type)
    if target.kind.name == "FUNC_PROTO":
        return None  # prog array: values are programs
    if target.kind.name != "STRUCT":
        raise BtfError(f".maps: map '{map_name}': values element points at {target.kind.label}")
    if depth > 0:
        raise BtfError(f".maps: map '{map_name}': inner maps cannot themselves be map-in-map")
    return parse_btf_map_def(btf, f"{map_name}.inner", target.id, section, depth + 1)


def btf_maps(
    image: ElfImage, btf: Btf, relocs: Iterable[Relocation]
) -> tuple[MapSpec, ...]:
    """All maps of the ``.maps`` DATASEC, in section order, with ``values`` initialisers."""
    sec = image.section_by_name(MAPS_SEC)
    if sec is None:
        return ()
    ids = btf.find(MAPS_SEC)
    datasec = next((btf.type(i) for i in ids if btf.kind_of(i).name == "DATASEC"), None)
    if datasec is None:
        raise BtfError(f"{image.name}: .maps section present but BTF has no DATASEC '.maps'")
    value_relocs = [r for r in relocs if r.kind is RelocKind.DATA and r.section == MAPS_SEC]
    syms = {s.name: s for s in image.symbols if s.shndx == sec.index and s.type != "section"}
    out: list[MapSpec] = []
    for info in datasec.secinfos:
        var = btf.type(info.type)
        if var.kind.name != "VAR" or var.type is None:
            raise BtfError(f".maps: DATASEC entry [{info.type}] is {var.kind.label}, not VAR")
        try:
            spec = parse_btf_map_def(btf, var.name, var.type, MAPS_SEC)
        except BtfError as exc:
            # libbpf refuses the whole object; we keep reading so the rest can be shown
            out.append(
                MapSpec(name=var.name, origin="btf", section=MAPS_SEC, type_id=0,
                        problems=(str(exc).removeprefix(".maps: "),))
            )
            continue
        # clang leaves DATASEC offsets at 0; libbpf (btf_fixup_datasec) takes them from the
        # ELF symbols, and so do we.
        sym = syms.get(var.name)
        if sym is None:
            spec = replace(spec, problems=(*spec.problems, "no ELF symbol for map definition"))
            out.append(spec)
            continue
        size = sym.size or info.size
        if sym.value + size > sec.size:
            spec = replace(spec, problems=(*spec.problems, "map definition outside .maps section"))
        values = _values_for(btf, var.type, sym.value, size, value_relocs)
        if values:
            spec = replace(spec, values=values)
        out.append(spec)
    return tuple(out)


def _values_for(
    btf: Btf, def_tid: int, var_off: int, var_size: int, relocs: list[Relocation]
) -> tuple[tuple[int, str], ...]:
    """Mirrors libbpf ``bpf_object__collect_map_relos()``: ``.rel.maps`` slots -> names."""
    st = _skip_mods(btf, def_tid)
    values_member = next((m for m in st.members if m.name == "values"), None)
    if values_member is None:
        return ()
    start = var_off + values_member.bit_offset // 8
    end = var_off + var_size
    ptr_size = btf.ptr_size
    found = []
    for r in relocs:
        if start <= r.offset < end:
            found.append(((r.offset - start) // ptr_size, r.target))
    return tuple(sorted(found))


# -- struct_ops maps ------------------------------------------------------------------------

BPF_MAP_TYPE_STRUCT_OPS = 26
BPF_F_LINK = 0x2000


def is_struct_ops_section(name: str) -> bool:
    """``.struct_ops``, ``.struct_ops.link`` and libbpf >= 1.4's ``.struct_ops.<suffix>``."""
    return name == ".struct_ops" or name.startswith(".struct_ops.")


def struct_ops_maps(
    image: ElfImage, btf: Btf, relocs: Iterable[Relocation]
) -> tuple[MapSpec, ...]:
    """Mirrors libbpf ``init_struct_ops_maps()``: one STRUCT_OPS map per variable.

    ``values`` maps the index of each function-pointer member to the program that fills it
    (from ``.rel.struct_ops``); ``.struct_ops.link`` maps get ``BPF_F_LINK``.
    """
    out: list[MapSpec] = []
    rel_list = list(relocs)
    for sec in image.sections:
        if not is_struct_ops_section(sec.name) or sec.executable:
            continue
        ids = [i for i in btf.find(sec.name) if btf.kind_of(i).name == "DATASEC"]
        if not ids:
            raise BtfError(f"{image.name}: {sec.name} section without a DATASEC in BTF")
        syms = {s.name: s for s in image.symbols if s.shndx == sec.index and s.type != "section"}
        flags = BPF_F_LINK if sec.name == ".struct_ops.link" else 0
        for info in btf.type(ids[0]).secinfos:
            var = btf.type(info.type)
            if var.kind.name != "VAR" or var.type is None:
                raise BtfError(f"{sec.name}: DATASEC entry [{info.type}] is {var.kind.label}, not VAR")
            st = _skip_mods(btf, var.type)
            problems: list[str] = []
            if st.kind.name != "STRUCT":
                problems.append(f"struct_ops init: {var.name} is not a struct")
            sym = syms.get(var.name)
            base = sym.value if sym is not None else 0
            size = btf.size_of(st.id) or 0
            values: list[tuple[int, str]] = []
            for r in rel_list:
                if r.section != sec.name or not base <= r.offset < base + size:
                    continue
                bit = (r.offset - base) * 8
                idx = next((i for i, m in enumerate(st.members) if m.bit_offset == bit), -1)
                values.append((idx, r.target))
            out.append(
                MapSpec(
                    name=var.name,
                    origin="struct_ops",
                    section=sec.name,
                    type_id=BPF_MAP_TYPE_STRUCT_OPS,
                    key_size=4,
                    value_size=size,
                    max_entries=1,
                    flags=flags,
                    value_type=describe_type(btf, st.id),
                    values=tuple(sorted(values)),
                    problems=tuple(problems),
                    members=tuple(
                        (st.members[i].name if i >= 0 else "?", prog) for i, prog in sorted(values)
                    ),
                )
            )
    return tuple(out)


# -- legacy "maps" section ------------------------------------------------------------------

_LEGACY = struct.Struct("<IIIII")


def legacy_maps(image: ElfImage) -> tuple[MapSpec, ...]:
    """The pre-libbpf-1.0 ``maps`` section (``struct bpf_map_def`` and its variants)."""
    sec = image.section_by_name(LEGACY_MAPS_SEC)
    if sec is None:
        return ()
    syms = sorted(
        (s for s in image.symbols
         if s.shndx == sec.index and s.type in ("object", "notype") and s.name),
        key=lambda s: s.value,
    )
    if not syms:
        return ()
    end = ">" if image.big_endian else "<"
    words = struct.Struct(end + "IIIII")
    rec = sec.size // len(syms)
    problems: list[str] = []
    if sec.size % len(syms):
        problems.append(
            f"unable to determine map definition size: section {sec.size} bytes, {len(syms)} maps"
        )
    out: list[MapSpec] = []
    for sym in syms:
        out.append(_legacy_one(sec, sym, rec, end, words, problems))
    return tuple(out)


def _legacy_one(
    sec: Section, sym: Symbol, rec: int, end: str, words: struct.Struct, problems: list[str]
) -> MapSpec:
    mine = list(problems)
    raw = sec.data[sym.value:sym.value + rec]
    if len(raw) < words.size:
        return MapSpec(
            name=sym.name, origin="legacy", section=sec.name, type_id=0, record_size=rec,
            problems=(*mine, f"map definition of {len(raw)} bytes is shorter than 20"),
        )
    type_id, key_size, value_size, max_entries, flags = words.unpack_from(raw)
    extra_words = struct.unpack_from(f"{end}{(len(raw) - 20) // 4}I", raw, 20) if len(raw) > 20 else ()
    extra: list[tuple[str, int]] = []
    pinning: str | None = None
    numa: int | None = None
    if rec == 28 and len(extra_words) == 2 and flags & BPF_F_NUMA_NODE:
        # samples/bpf bpf_load.c layout: only it has a reason to carry numa_node
        extra = [("inner_map_idx", extra_words[0]), ("numa_node", extra_words[1])]
        numa = extra_words[1]
    elif rec in (28, 36) and len(extra_words) in (2, 4):
        # iproute2 struct bpf_elf_map: id, pinning (+ inner_id, inner_idx since 4.11)
        names = ("id", "pinning", "inner_id", "inner_idx")
        extra = list(zip(names, extra_words, strict=False))
        pin = extra_words[1]
        pinning = IPROUTE2_PINNING.get(pin, f"unknown({pin})")
    else:
        extra = [(f"word{i + 5}", w) for i, w in enumerate(extra_words)]
    return MapSpec(
        name=sym.name,
        origin="legacy",
        section=sec.name,
        type_id=type_id,
        key_size=key_size,
        value_size=value_size,
        max_entries=max_entries,
        flags=flags,
        pinning=pinning,
        numa_node=numa,
        record_size=rec,
        problems=tuple(mine),
        extra=tuple(extra),
    )


# -- global data ----------------------------------------------------------------------------


def data_maps(image: ElfImage, btf: Btf | None, has_kconfig: bool) -> tuple[MapSpec, ...]:
    """Mirrors libbpf ``bpf_object__init_global_data_maps()`` and ``init_kconfig_map()``.

    Every data section becomes an ARRAY map with one entry of the section's size. ``.rodata*``
    gets ``BPF_F_RDONLY_PROG`` and is frozen after its contents are set; data maps get
    ``BPF_F_MMAPABLE`` when their DATASEC has a non-static variable (libbpf >= 1.2
    ``map_is_mmapable()``; without BTF libbpf does not mmap them).
    """
    out: list[MapSpec] = []
    for sec in image.sections:
        if not is_data_section(sec.name) or sec.executable:
            continue
        if sec.size == 0:
            continue
        rodata = sec.name == ".rodata" or sec.name.startswith(".rodata.")
        flags = BPF_F_RDONLY_PROG if rodata else 0
        value_tid: int | None = None
        mmapable = False
        if btf is not None:
            value_tid, mmapable = _datasec_info(btf, sec.name)
        if mmapable:
            flags |= BPF_F_MMAPABLE
        out.append(
            MapSpec(
                name=sec.name,
                origin="data",
                section=sec.name,
                type_id=BPF_MAP_TYPE_ARRAY,
                key_size=4,
                value_size=sec.size,
                max_entries=1,
                flags=flags,
                frozen=rodata,
                btf_value_type_id=value_tid,
            )
        )
    if has_kconfig:
        size = _kconfig_size(btf) if btf is not None else 0
        out.append(
            MapSpec(
                name=KCONFIG_SEC,
                origin="kconfig",
                section=KCONFIG_SEC,
                type_id=BPF_MAP_TYPE_ARRAY,
                key_size=4,
                value_size=size or None,
                max_entries=1,
                flags=BPF_F_RDONLY_PROG | BPF_F_MMAPABLE,
                frozen=True,
            )
        )
    return tuple(out)


def _kconfig_size(btf: Btf) -> int:
    """Mirrors libbpf ``bpf_object__collect_externs()``: kconfig externs sorted like
    ``cmp_externs()`` (alignment descending, then size ascending, then name), each placed at
    its natural alignment; the map value size is where the last one ends."""
    ids = [i for i in btf.find(KCONFIG_SEC) if btf.kind_of(i).name == "DATASEC"]
    if not ids:
        return 0
    externs: list[tuple[int, int, str]] = []
    for info in btf.type(ids[0]).secinfos:
        var = btf.type(info.type)
        if var.kind.name != "VAR" or var.type is None:
            continue
        size = btf.size_of(var.type) or 0
        elem = _skip_mods(btf, var.type)
        while elem.kind.name == "ARRAY" and elem.array is not None:
            elem = _skip_mods(btf, elem.array.type)
        align = max(1, min(btf.size_of(elem.id) or 1, 8))
        externs.append((align, size, var.name))
    off = 0
    for align, size, _name in sorted(externs, key=lambda e: (-e[0], e[1], e[2])):
        off = (off + align - 1) // align * align + size
    return off


def _datasec_info(btf: Btf, name: str) -> tuple[int | None, bool]:
    ids = [i for i in btf.find(name) if btf.kind_of(i).name == "DATASEC"]
    if not ids:
        return None, False
    ds = btf.type(ids[0])
    for info in ds.secinfos:
        var = btf.type(info.type)
        if var.kind.name == "VAR" and var.linkage is not None and int(var.linkage) != 0:
            return ds.id, True
    return ds.id, False
