"""``.rel<sec>`` entries -> what each reference means to a loader.

Mirrors libbpf ``bpf_program__record_reloc()``: a relocation against an instruction is a map
reference, a global-data reference, a bpf-to-bpf call, a callback address, or an extern
(kconfig variable, ksym variable, kfunc). Relocations in data sections (``.maps`` inner-map
``values``, ``.struct_ops`` function pointers) are kept as data references.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bpfdoctor.elf.image import ElfImage, Section, Symbol
from bpfdoctor.elf.insns import INSN_SIZE, Insn, InsnKind

LEGACY_MAPS_SEC = "maps"
MAPS_SEC = ".maps"
KCONFIG_SEC = ".kconfig"
KSYMS_SEC = ".ksyms"


def is_data_section(name: str) -> bool:
    """``.data``, ``.data.*``, ``.rodata``, ``.rodata.*``, ``.bss``, ``.bss.*`` (libbpf SEC_DATA/RODATA/BSS)."""
    return any(name == base or name.startswith(base + ".") for base in (".data", ".rodata", ".bss"))


class RelocKind(StrEnum):
    MAP = "map"
    GLOBAL_DATA = "global_data"
    SUBPROG_CALL = "subprog_call"
    SUBPROG_ADDR = "subprog_addr"
    KCONFIG = "kconfig"
    KSYM = "ksym"
    KFUNC = "kfunc"
    DATA = "data"  # relocation inside a non-code section (.maps values, .struct_ops)
    UNSUPPORTED = "unsupported"


@dataclass(frozen=True, slots=True)
class Relocation:
    """One relocation, resolved.

    ``insn`` is the slot index inside ``section``; ``target`` names what is referenced (map
    name, data section, subprogram, extern); ``target_insn`` is the slot a call lands on.
    ``problem`` says why a loader would reject it (libbpf's wording where it has one).
    """

    section: str
    offset: int
    kind: RelocKind
    symbol: str
    target: str
    rel_type: str
    insn: int | None = None
    target_section: str | None = None
    target_insn: int | None = None
    problem: str | None = None


def _insn_at(insns_by_idx: dict[int, Insn], offset: int) -> Insn | None:
    if offset % INSN_SIZE:
        return None
    return insns_by_idx.get(offset // INSN_SIZE)


def extern_kind(sym: Symbol, extern_sections: dict[str, str]) -> RelocKind:
    """kconfig or ksym, by the BTF datasec the extern sits in, else by libbpf naming habits."""
    sec = extern_sections.get(sym.name)
    if sec == KCONFIG_SEC:
        return RelocKind.KCONFIG
    if sec == KSYMS_SEC:
        return RelocKind.KFUNC if sym.type == "func" else RelocKind.KSYM
    if sym.type == "func":
        return RelocKind.KFUNC
    if sym.name.startswith(("CONFIG_", "LINUX_")):
        return RelocKind.KCONFIG
    return RelocKind.KSYM


def resolve(
    image: ElfImage,
    decoded: dict[int, tuple[Insn, ...]],
    extern_sections: dict[str, str] | None = None,
) -> tuple[Relocation, ...]:
    """Resolve every REL entry of code and map sections (debug and BTF sections are skipped)."""
    externs = extern_sections or {}
    sections = image.sections
    out: list[Relocation] = []
    for target_idx, entries in image.rels:
        sec = sections[target_idx]
        if sec.name.startswith((".debug", ".BTF")) or sec.name == ".eh_frame":
            continue
        by_idx = {insn.idx: insn for insn in decoded.get(target_idx, ())}
        for entry in entries:
            sym = image.symbols[entry.symbol]
            if sec.executable:
                out.append(_code_reloc(sec, entry.offset, entry.type_name, sym, by_idx, sections, externs))
            else:
                out.append(
                    Relocation(
                        section=sec.name,
                        offset=entry.offset,
                        kind=RelocKind.DATA,
                        symbol=sym.name,
                        target=_sym_label(sym, sections),
                        rel_type=entry.type_name,
                        target_section=_sym_section(sym, sections),
                    )
                )
    return tuple(out)


def _sym_section(sym: Symbol, sections: tuple[Section, ...]) -> str | None:
    if sym.in_section and sym.shndx < len(sections):
        return sections[sym.shndx].name
    return None


def _sym_label(sym: Symbol, sections: tuple[Section, ...]) -> str:
    if sym.name:
        return sym.name
    return _sym_section(sym, sections) or f"sym#{sym.index}"


def _code_reloc(
    sec: Section,
    offset: int,
    rel_type: str,
    sym: Symbol,
    by_idx: dict[int, Insn],
    sections: tuple[Section, ...],
    externs: dict[str, str],
) -> Relocation:
    insn = _insn_at(by_idx, offset)
    label = _sym_label(sym, sections)
    sym_sec = _sym_section(sym, sections)

    def make(
        kind: RelocKind,
        target: str,
        *,
        target_section: str | None = None,
        target_insn: int | None = None,
        problem: str | None = None,
    ) -> Relocation:
        return Relocation(
            section=sec.name, offset=offset, kind=kind, symbol=sym.name, target=target,
            rel_type=rel_type, insn=None if insn is None else insn.idx,
            target_section=target_section, target_insn=target_insn, problem=problem,
        )

    if insn is None:
        return make(RelocKind.UNSUPPORTED, label,
                    problem=f"relocation at offset {offset} does not point at an instruction")
    if insn.kind in (InsnKind.CALL_SUBPROG, InsnKind.CALL_KFUNC, InsnKind.CALL_HELPER):
        if sym.undefined:
            return make(RelocKind.KFUNC, sym.name)
        if insn.kind is not InsnKind.CALL_SUBPROG:
            return make(RelocKind.UNSUPPORTED, label,
                        problem="call relocation against a defined symbol on a non-pseudo call")
        target_insn = sym.value // INSN_SIZE + insn.imm + 1
        problem = f"bad call relo offset: {sym.value}" if sym.value % INSN_SIZE else None
        target = sym.name if sym.type == "func" else f"{sym_sec}+{target_insn}"
        return make(RelocKind.SUBPROG_CALL, target, target_section=sym_sec,
                    target_insn=target_insn, problem=problem)
    if insn.kind is not InsnKind.LD_IMM64:
        return make(RelocKind.UNSUPPORTED, label,
                    problem=f"invalid relo for insns[{insn.idx}].code {insn.code:#04x}")
    if sym.undefined:
        return make(extern_kind(sym, externs), sym.name)
    if sym_sec is None:
        return make(RelocKind.UNSUPPORTED, label,
                    problem=f"relocation against symbol {label!r} in special section {sym.shndx:#x}")
    if sections[sym.shndx].executable:
        target_insn = (sym.value + insn.imm) // INSN_SIZE
        return make(RelocKind.SUBPROG_ADDR, sym.name or f"{sym_sec}+{target_insn}",
                    target_section=sym_sec, target_insn=target_insn)
    if sym_sec in (MAPS_SEC, LEGACY_MAPS_SEC):
        return make(RelocKind.MAP, label, target_section=sym_sec)
    if is_data_section(sym_sec) or sym_sec == KCONFIG_SEC:
        return make(RelocKind.GLOBAL_DATA, sym_sec, target_section=sym_sec)
    return make(
        RelocKind.UNSUPPORTED, label, target_section=sym_sec,
        problem=f"program references section {sym_sec!r}, which is neither a map nor global data",
    )
