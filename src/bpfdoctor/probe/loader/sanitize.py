"""Prepare an object's BTF for BPF_BTF_LOAD, as libbpf does between open and load.

Two steps, both mirroring libbpf:

* ``fixup_btf`` (libbpf ``btf_fixup_datasec()`` and the extern part of
  ``bpf_object__collect_externs()``): clang leaves every DATASEC with size 0 and every variable
  at offset 0; the kernel refuses both. Sizes come from the ELF sections, offsets from the
  symbols, ``.kconfig`` variables are laid out like libbpf's ``cmp_externs()``, and ``.ksyms``
  entries (extern variables and extern FUNCs, which the kernel refuses) become allocated ``int``
  variables and GLOBAL functions.
* ``sanitize_for_kernel`` (libbpf ``bpf_object__sanitize_btf()``): when the kernel refuses the
  fixed-up BTF, ask it which BTF kinds it knows (one tiny blob per kind,
  :mod:`bpfdoctor.probe.btf_blobs`) and rewrite the missing ones with
  :func:`bpfdoctor.btf.sanitize.sanitize`.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

from bpfdoctor.btf import wire
from bpfdoctor.btf.decoder import Btf
from bpfdoctor.btf.sanitize import FEATURES, encode_words, sanitize
from bpfdoctor.elf.image import ElfImage
from bpfdoctor.elf.relocations import KCONFIG_SEC, KSYMS_SEC
from bpfdoctor.errors import BtfError

DUMMY_KSYM_NAME = "dummy_ksym"  # libbpf add_dummy_ksym_var() uses the same name


@dataclass(frozen=True, slots=True)
class FixedBtf:
    """The object's BTF ready for the kernel, and what was changed to get there.

    ``kconfig_offsets`` is where each ``.kconfig`` extern lives in the ``.kconfig`` map value;
    ``kconfig_size`` is that value's size.
    """

    data: bytes
    changes: tuple[str, ...]
    kconfig_offsets: tuple[tuple[str, int, int], ...]  # name, offset, size
    kconfig_size: int


def _skip_mods(btf: Btf, tid: int) -> int:
    return btf.resolve(tid)


def kconfig_layout(btf: Btf) -> tuple[tuple[tuple[str, int, int], ...], int]:
    """``.kconfig`` externs placed like libbpf ``cmp_externs()``: alignment descending, size
    ascending, then name; each at its natural alignment. Returns ((name, off, size)...), size."""
    ids = [i for i in btf.find(KCONFIG_SEC) if btf.kind_of(i).name == "DATASEC"]
    if not ids:
        return (), 0
    items: list[tuple[int, int, str]] = []
    for info in btf.type(ids[0]).secinfos:
        var = btf.type(info.type)
        if var.kind.name != "VAR" or var.type is None:
            continue
        size = btf.size_of(var.type) or 0
        elem = btf.type(_skip_mods(btf, var.type))
        while elem.kind.name == "ARRAY" and elem.array is not None:
            elem = btf.type(_skip_mods(btf, elem.array.type))
        align = max(1, min(btf.size_of(elem.id) or 1, 8))
        items.append((align, size, var.name))
    out: list[tuple[str, int, int]] = []
    off = 0
    for align, size, name in sorted(items, key=lambda e: (-e[0], e[1], e[2])):
        off = (off + align - 1) // align * align
        out.append((name, off, size))
        off += size
    return tuple(out), off


def fixup_btf(btf: Btf, image: ElfImage) -> FixedBtf:
    """Fill DATASEC sizes and variable offsets and make extern sections loadable."""
    if btf.base is not None:
        raise BtfError(f"{btf.source}: split BTF in an object is not supported")
    words = array("I", btf._words)
    strs = bytearray(btf._strings)
    changes: dict[str, int] = {}
    appended: list[int] = []
    next_id = btf.type_count + 1

    def note(what: str) -> None:
        changes[what] = changes.get(what, 0) + 1

    def add_string(text: str) -> int:
        off = btf.start_str_off + len(strs)
        strs.extend(text.encode() + b"\0")
        return off

    int_id = 0
    dummy_id = 0

    def ensure_int() -> int:
        nonlocal int_id, next_id
        if not int_id:
            for tid in btf.find("int"):
                t = btf.type(tid)
                if t.kind.name == "INT" and t.size == 4:
                    int_id = tid
                    break
        if not int_id:
            appended.extend([add_string("int"), wire.btf_info(wire.BTF_KIND_INT, 0, False), 4,
                             wire.btf_int_word(1, 0, 32)])
            int_id, next_id = next_id, next_id + 1
        return int_id

    def ensure_dummy() -> int:
        nonlocal dummy_id, next_id
        if not dummy_id:
            target = ensure_int()
            appended.extend([add_string(DUMMY_KSYM_NAME), wire.btf_info(wire.BTF_KIND_VAR, 0, False),
                             target, wire.BTF_VAR_GLOBAL_ALLOCATED])
            dummy_id, next_id = next_id, next_id + 1
        return dummy_id

    kconfig, kconfig_size = kconfig_layout(btf)
    kc_off = {name: off for name, off, _size in kconfig}
    sym_off: dict[tuple[int, str], int] = {}
    for sym in image.symbols:
        if sym.in_section and sym.name and sym.type in ("object", "notype"):
            sym_off.setdefault((sym.shndx, sym.name), sym.value)

    # libbpf bpf_object__add_programs(): a global function with hidden or internal visibility
    # is marked static in BTF, so the verifier checks it in its caller's context.
    hidden = {sym.name for sym in image.symbols
              if sym.type == "func" and sym.bind in ("global", "weak") and sym.visibility in (1, 2)}
    for idx, pos in enumerate(btf._offsets):
        info = words[pos + 1]
        kind = wire.btf_info_kind(info)
        if kind == wire.BTF_KIND_FUNC and hidden and btf.name_of(btf.start_id + idx) in hidden:
            if wire.btf_info_vlen(info) != wire.BTF_FUNC_STATIC:
                words[pos + 1] = wire.btf_info(wire.BTF_KIND_FUNC, wire.BTF_FUNC_STATIC, False)
                note("hidden global FUNC -> static")
            continue
        if kind != wire.BTF_KIND_DATASEC:
            continue
        tid = btf.start_id + idx
        name = btf.name_of(tid)
        vlen = wire.btf_info_vlen(info)
        base = pos + 3
        entries = [list(words[base + 3 * j: base + 3 * j + 3]) for j in range(vlen)]
        if name == KCONFIG_SEC:
            for e in entries:
                vpos = btf._offsets[e[0] - btf.start_id]
                words[vpos + 3] = wire.BTF_VAR_GLOBAL_ALLOCATED
                e[1] = kc_off.get(btf.name_of(e[0]), 0)
            words[pos + 2] = kconfig_size
            note(".kconfig laid out")
        elif name == KSYMS_SEC:
            off = 0
            for e in entries:
                tpos = btf._offsets[e[0] - btf.start_id]
                kind = wire.btf_info_kind(words[tpos + 1])
                if kind == wire.BTF_KIND_FUNC:
                    words[tpos + 1] = wire.btf_info(wire.BTF_KIND_FUNC, wire.BTF_FUNC_GLOBAL, False)
                    _name_params(btf, words, words[tpos + 2], add_string)
                    e[0] = ensure_dummy()
                    note("extern FUNC -> GLOBAL")
                else:
                    words[tpos + 2] = ensure_int()
                    words[tpos + 3] = wire.BTF_VAR_GLOBAL_ALLOCATED
                    note("extern ksym VAR -> int")
                e[1], e[2] = off, 4
                off += 4
            words[pos + 2] = off
        else:
            sec = image.section_by_name(name)
            if sec is None:
                continue
            words[pos + 2] = sec.size
            for e in entries:
                var_name = btf.name_of(e[0])
                e[1] = sym_off.get((sec.index, var_name), e[1])
            note("DATASEC size/offsets")
        entries.sort(key=lambda e: e[1])  # the kernel wants variables in offset order
        for j, e in enumerate(entries):
            words[base + 3 * j: base + 3 * j + 3] = array("I", e)
    words.extend(appended)
    data = encode_words(words, bytes(strs), btf.endian)
    return FixedBtf(data, tuple(f"{k} ({n})" for k, n in changes.items()), kconfig, kconfig_size)


def _name_params(btf: Btf, words: array[int], proto_id: int, add_string: object) -> None:
    """The kernel wants every FUNC's parameters named; libbpf reuses the dummy var's name."""
    if proto_id < btf.start_id:
        return
    ppos = btf._offsets[proto_id - btf.start_id]
    if wire.btf_info_kind(words[ppos + 1]) != wire.BTF_KIND_FUNC_PROTO:
        return
    vlen = wire.btf_info_vlen(words[ppos + 1])
    for j in range(vlen):
        p = ppos + 3 + 2 * j
        if words[p + 1] and not words[p]:
            assert callable(add_string)
            words[p] = add_string(DUMMY_KSYM_NAME)




def sanitize_for_kernel(blob: bytes, missing: frozenset[str]) -> tuple[bytes, tuple[str, ...]]:
    """Rewrite ``blob`` without the BTF kinds the kernel lacks (libbpf's same-size rewrites)."""
    wanted = missing & FEATURES
    if not wanted:
        return blob, ()
    result = sanitize(Btf.from_bytes(blob, source="fixed .BTF"), wanted)
    return result.data, result.changes
