"""A compiled BPF object: programs, maps, license, BTF and externs as cached properties.

``BpfObject`` is pure: bytes in, model out, never the host. The ELF container is decoded once
by :func:`bpfdoctor.elf.image.read_image` (the only pyelftools user); everything else is
derived lazily so that ``bpfdoctor check`` only pays for what it shows.
"""

from __future__ import annotations

import bisect
import hashlib
import stat
import struct
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from bpfdoctor.elf import insns as insn_mod
from bpfdoctor.elf.image import ElfImage, Section, Symbol, read_image
from bpfdoctor.elf.insns import Insn, InsnKind, IsaLevel
from bpfdoctor.elf.maps import (
    MapSpec,
    btf_maps,
    data_maps,
    is_struct_ops_section,
    legacy_maps,
    struct_ops_maps,
)
from bpfdoctor.elf.relocations import (
    KCONFIG_SEC,
    KSYMS_SEC,
    Relocation,
    RelocKind,
    extern_kind,
    resolve,
)
from bpfdoctor.elf.sections import SectionInfo, classify
from bpfdoctor.errors import ElfError

if TYPE_CHECKING:
    from bpfdoctor.btf.decoder import Btf
    from bpfdoctor.btf.ext import BtfExt, LineInfo

TEXT_SEC = ".text"
# Real BPF objects are kilobytes to a few MB (cilium's largest are ~10 MB); the whole file is
# held in memory (plus its decoded tables), so a bound keeps a stray vmlinux or disk image
# from costing gigabytes of RSS before it is refused.
MAX_OBJECT_SIZE = 256 << 20


@dataclass(frozen=True, slots=True)
class Program:
    """One function in an executable section.

    Entry programs live in named sections (``SEC("xdp")``); functions in ``.text`` are
    subprograms that libbpf appends to every entry program calling them. ``start``/``end`` are
    slot indices inside the section; ``insns`` are this function's decoded instructions.
    """

    name: str
    section: str
    section_index: int
    info: SectionInfo
    start: int
    end: int
    insns: tuple[Insn, ...]
    static: bool
    subprog: bool

    @property
    def insn_count(self) -> int:
        """Instruction slots as the kernel counts them (``ld_imm64`` counts twice)."""
        return self.end - self.start

    @property
    def key(self) -> tuple[int, int]:
        return (self.section_index, self.start)


@dataclass(frozen=True, slots=True)
class Extern:
    """An ``extern`` the loader must resolve: a kconfig value, a ksym variable or a kfunc."""

    name: str
    kind: str  # kconfig | ksym | kfunc
    weak: bool
    type: str | None = None


@dataclass(frozen=True, slots=True)
class ProgramUse:
    """What one entry program needs, including the subprograms it reaches (libbpf appends them)."""

    helpers: tuple[str, ...]
    helper_ids: tuple[int, ...]
    kfuncs: tuple[str, ...]
    maps: tuple[str, ...]
    subprogs: tuple[str, ...]
    externs: tuple[str, ...]
    total_insns: int


class BpfObject:
    """A BPF ELF object file. Construct with :meth:`open` or :meth:`from_bytes`."""

    def __init__(self, data: bytes, name: str) -> None:
        self.name = name
        self.data = data
        self.image: ElfImage = read_image(data, name)
        self._use_cache: dict[tuple[int, int], ProgramUse] = {}

    @classmethod
    def open(cls, path: str | Path) -> BpfObject:
        """Read a regular file of at most MAX_OBJECT_SIZE bytes.

        Anything else is refused before it is opened: a FIFO would block the open forever and
        ``/dev/zero`` or ``/dev/urandom`` never end, so reading them would hang or eat memory.
        """
        p = Path(path)
        try:
            st = p.stat()
            if stat.S_ISDIR(st.st_mode):
                raise ElfError(f"{p}: is a directory, not a BPF object file")
            if not stat.S_ISREG(st.st_mode):
                raise ElfError(f"{p}: is a {_file_kind(st.st_mode)}, not a BPF object file")
            if st.st_size > MAX_OBJECT_SIZE:
                raise ElfError(f"{p}: {st.st_size} bytes is too large for a BPF object")
            with p.open("rb") as f:
                data = f.read(MAX_OBJECT_SIZE + 1)
            if len(data) > MAX_OBJECT_SIZE:
                raise ElfError(f"{p}: more than {MAX_OBJECT_SIZE} bytes is too large for a "
                               "BPF object")
        except FileNotFoundError:
            raise ElfError(f"{p}: no such file") from None
        except PermissionError:
            raise ElfError(f"{p}: permission denied") from None
        except OSError as exc:
            raise ElfError(f"{p}: cannot read: {exc.strerror or exc}") from None
        return cls(data, str(path))

    @classmethod
    def from_bytes(cls, data: bytes, name: str = "<bytes>") -> BpfObject:
        return cls(bytes(data), name)

    # -- container facts --------------------------------------------------------------------

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def endianness(self) -> str:
        return "big" if self.image.big_endian else "little"

    @property
    def sections(self) -> tuple[Section, ...]:
        return self.image.sections

    @property
    def symbols(self) -> tuple[Symbol, ...]:
        return self.image.symbols

    @cached_property
    def has_dwarf(self) -> bool:
        return any(s.name == ".debug_info" for s in self.image.sections)

    @cached_property
    def license(self) -> str | None:
        """The ``license`` section up to its first NUL (libbpf ``bpf_object__init_license``)."""
        sec = self.image.section_by_name("license")
        if sec is None:
            return None
        return sec.data.split(b"\0", 1)[0].decode("utf-8", errors="replace")

    @cached_property
    def kversion(self) -> int | None:
        """The legacy ``version`` section (LINUX_VERSION_CODE), needed by kprobes before 5.0."""
        sec = self.image.section_by_name("version")
        if sec is None:
            return None
        if len(sec.data) != 4:
            raise ElfError(f"{self.name}: invalid kver section: {len(sec.data)} bytes, expected 4")
        fmt = ">I" if self.image.big_endian else "<I"
        value: int = struct.unpack(fmt, sec.data)[0]
        return value

    # -- code -------------------------------------------------------------------------------

    @cached_property
    def code_sections(self) -> tuple[Section, ...]:
        return tuple(s for s in self.image.sections if s.executable and s.size > 0 and not s.nobits)

    @cached_property
    def decoded(self) -> dict[int, tuple[Insn, ...]]:
        """Section index -> decoded instructions."""
        return {
            s.index: insn_mod.decode(s.data, self.image.big_endian) for s in self.code_sections
        }

    @cached_property
    def programs(self) -> tuple[Program, ...]:
        """Every function of every executable section (libbpf ``bpf_object__add_programs``)."""
        out: list[Program] = []
        for sec in self.code_sections:
            decoded = self.decoded[sec.index]
            idxs = [ins.idx for ins in decoded]
            nslots = sec.size // insn_mod.INSN_SIZE
            funcs = sorted(
                (s for s in self.image.symbols if s.shndx == sec.index and s.type == "func"),
                key=lambda s: s.value,
            )
            info = classify(sec.name) if sec.name != TEXT_SEC else classify(TEXT_SEC)
            if not funcs:
                out.append(
                    Program(sec.name, sec.name, sec.index, info, 0, nslots, decoded, False,
                            sec.name == TEXT_SEC)
                )
                continue
            for i, sym in enumerate(funcs):
                start = sym.value // insn_mod.INSN_SIZE
                if sym.size:
                    end = start + sym.size // insn_mod.INSN_SIZE
                else:
                    end = funcs[i + 1].value // insn_mod.INSN_SIZE if i + 1 < len(funcs) else nslots
                if sym.value % insn_mod.INSN_SIZE or end > nslots or start > end:
                    raise ElfError(
                        f"{self.name}: section '{sec.name}': function '{sym.name}' at offset "
                        f"{sym.value} size {sym.size} is outside the section ({sec.size} bytes)"
                    )
                lo = bisect.bisect_left(idxs, start)
                hi = bisect.bisect_left(idxs, end)
                body = decoded[lo:hi]
                out.append(
                    Program(
                        name=sym.name,
                        section=sec.name,
                        section_index=sec.index,
                        info=info,
                        start=start,
                        end=end,
                        insns=body,
                        static=sym.bind == "local",
                        subprog=sec.name == TEXT_SEC,
                    )
                )
        return tuple(out)

    @property
    def entry_programs(self) -> tuple[Program, ...]:
        return tuple(p for p in self.programs if not p.subprog)

    @property
    def subprograms(self) -> tuple[Program, ...]:
        return tuple(p for p in self.programs if p.subprog)

    @cached_property
    def isa(self) -> IsaLevel:
        """Lowest ``-mcpu`` the object runs under and the first instruction forcing it."""
        names = {s.index: s.name for s in self.code_sections}
        return insn_mod.min_isa((names[i], insns) for i, insns in self.decoded.items())

    @cached_property
    def invalid_insns(self) -> tuple[tuple[str, Insn], ...]:
        names = {s.index: s.name for s in self.code_sections}
        return tuple(
            (names[i], ins)
            for i, insns in self.decoded.items()
            for ins in insns
            if ins.kind is InsnKind.INVALID
        )

    # -- relocations and externs ------------------------------------------------------------

    @cached_property
    def extern_sections(self) -> dict[str, str]:
        """Extern name -> ``.kconfig`` or ``.ksyms``, from the BTF DATASECs that list them."""
        btf = self.btf
        out: dict[str, str] = {}
        if btf is None:
            return out
        for sec_name in (KCONFIG_SEC, KSYMS_SEC):
            for tid in btf.find(sec_name):
                if btf.kind_of(tid).name != "DATASEC":
                    continue
                for info in btf.type(tid).secinfos:
                    out[btf.name_of(info.type)] = sec_name
        return out

    @cached_property
    def relocations(self) -> tuple[Relocation, ...]:
        return resolve(self.image, self.decoded, self.extern_sections)

    @cached_property
    def externs(self) -> tuple[Extern, ...]:
        """Undefined symbols: kconfig values, ksym variables, kfuncs (libbpf ``bpf_object__collect_externs``)."""
        seen: dict[str, Extern] = {}
        btf = self.btf
        for sym in self.image.symbols:
            if not sym.undefined or not sym.name or sym.bind not in ("global", "weak"):
                continue
            kind = extern_kind(sym, self.extern_sections)
            if kind is RelocKind.KSYM:
                for r in self.relocations:
                    if r.symbol == sym.name and r.kind is RelocKind.KFUNC:
                        kind = RelocKind.KFUNC
                        break
            type_desc: str | None = None
            if btf is not None:
                type_desc = _btf_extern_type(btf, sym.name)
            seen[sym.name] = Extern(sym.name, kind.value, sym.bind == "weak", type_desc)
        return tuple(seen.values())

    # -- maps -------------------------------------------------------------------------------

    @cached_property
    def maps(self) -> tuple[MapSpec, ...]:
        """User maps (``.maps`` then legacy ``maps``) followed by global data maps."""
        out: list[MapSpec] = []
        if self.image.section_by_name(".maps") is not None:
            btf = self.btf
            if btf is None:
                raise ElfError(f"{self.name}: .maps section without .BTF: BTF-defined maps need BTF (compile with -g)")
            out.extend(btf_maps(self.image, btf, self.relocations))
        out.extend(legacy_maps(self.image))
        if any(is_struct_ops_section(s.name) for s in self.image.sections):
            btf = self.btf
            if btf is None:
                raise ElfError(f"{self.name}: .struct_ops section without .BTF")
            out.extend(struct_ops_maps(self.image, btf, self.relocations))
        has_kconfig = any(e.kind == "kconfig" for e in self.externs)
        out.extend(data_maps(self.image, self.btf, has_kconfig))
        return tuple(out)

    @property
    def user_maps(self) -> tuple[MapSpec, ...]:
        return tuple(m for m in self.maps if m.origin in ("btf", "legacy", "struct_ops"))

    @property
    def global_data(self) -> tuple[MapSpec, ...]:
        return tuple(m for m in self.maps if m.origin in ("data", "kconfig"))

    # -- BTF --------------------------------------------------------------------------------

    @cached_property
    def btf(self) -> Btf | None:
        sec = self.image.section_by_name(".BTF")
        if sec is None:
            return None
        from bpfdoctor.btf.decoder import Btf

        return Btf.from_bytes(sec.data, source=f"{self.name}: .BTF")

    @cached_property
    def btf_ext(self) -> BtfExt | None:
        """The ``.BTF.ext`` (func_info, line_info, CO-RE relocations), or None."""
        sec = self.image.section_by_name(".BTF.ext")
        btf = self.btf
        if sec is None or btf is None:
            return None
        from bpfdoctor.btf.ext import BtfExt

        return BtfExt.from_bytes(sec.data, btf, source=f"{self.name}: .BTF.ext")

    def line_for(self, section: str, insn: int) -> LineInfo | None:
        """The C source line (``.BTF.ext`` line_info) covering ``insn`` of ``section``."""
        ext = self.btf_ext
        return None if ext is None else ext.line_for(section, insn)

    def program_at(self, section: str, insn: int) -> Program | None:
        """The function of ``section`` that contains slot ``insn``."""
        index = self._section_index.get(section)
        return None if index is None else self._function_at(index, insn)

    # -- per-program use --------------------------------------------------------------------

    @cached_property
    def _section_index(self) -> dict[str, int]:
        return {s.name: s.index for s in self.image.sections}

    @cached_property
    def _functions(self) -> dict[int, tuple[list[int], list[Program]]]:
        """Section index -> (sorted start slots, functions): a bisect index."""
        out: dict[int, tuple[list[int], list[Program]]] = {}
        for p in sorted(self.programs, key=lambda p: (p.section_index, p.start)):
            starts, progs = out.setdefault(p.section_index, ([], []))
            starts.append(p.start)
            progs.append(p)
        return out

    def _function_at(self, section_index: int, slot: int) -> Program | None:
        entry = self._functions.get(section_index)
        if entry is None:
            return None
        starts, progs = entry
        i = bisect.bisect_right(starts, slot) - 1
        if i >= 0 and progs[i].start <= slot < progs[i].end:
            return progs[i]
        return None

    @cached_property
    def _relocs_by_function(self) -> dict[tuple[int, int], list[int]]:
        """Function key -> positions in ``relocations`` of the relocations inside it."""
        out: dict[tuple[int, int], list[int]] = {}
        for pos, r in enumerate(self.relocations):
            if r.insn is None:
                continue
            func = self.program_at(r.section, r.insn)
            if func is not None:
                out.setdefault(func.key, []).append(pos)
        return out

    @cached_property
    def _calls(self) -> dict[tuple[int, int], tuple[tuple[int, int], ...]]:
        """Function key -> keys of functions it calls or takes the address of."""
        sec_index = self._section_index
        by_insn: dict[tuple[int, int], Relocation] = {}
        for r in self.relocations:
            if r.insn is not None:
                by_insn[(sec_index.get(r.section, -1), r.insn)] = r
        out: dict[tuple[int, int], tuple[tuple[int, int], ...]] = {}
        for p in self.programs:
            targets: list[tuple[int, int]] = []
            for ins in p.insns:
                rel = by_insn.get((p.section_index, ins.idx))
                where: tuple[int, int] | None = None
                if rel is not None and rel.kind in (RelocKind.SUBPROG_CALL, RelocKind.SUBPROG_ADDR):
                    if rel.target_section is not None and rel.target_insn is not None:
                        where = (sec_index.get(rel.target_section, -1), rel.target_insn)
                elif rel is None and (
                    ins.kind is InsnKind.CALL_SUBPROG
                    or (ins.kind is InsnKind.LD_IMM64 and ins.src == insn_mod.BPF_PSEUDO_FUNC)
                ):
                    where = (p.section_index, ins.idx + ins.imm + 1)
                if where is not None:
                    callee = self._function_at(*where)
                    if callee is not None and callee.key not in targets:
                        targets.append(callee.key)
            out[p.key] = tuple(targets)
        return out

    @cached_property
    def _by_key(self) -> dict[tuple[int, int], Program]:
        return {p.key: p for p in self.programs}

    def reachable(self, prog: Program) -> tuple[Program, ...]:
        """``prog`` and every function it reaches through calls and callbacks."""
        order = [prog.key]
        seen = {prog.key}
        i = 0
        while i < len(order):
            for callee in self._calls.get(order[i], ()):
                if callee not in seen:
                    seen.add(callee)
                    order.append(callee)
            i += 1
        return tuple(self._by_key[k] for k in order)

    def program_use(self, prog: Program) -> ProgramUse:
        """Helpers, kfuncs, maps and externs of ``prog`` and every function it reaches (cached)."""
        cached = self._use_cache.get(prog.key)
        if cached is None:
            cached = self._use_cache[prog.key] = self._compute_use(prog)
        return cached

    def _compute_use(self, prog: Program) -> ProgramUse:
        funcs = self.reachable(prog)
        helpers: dict[int, str] = {}
        kfuncs: list[str] = []
        maps: list[str] = []
        externs: list[str] = []
        for f in funcs:
            for ins in f.insns:
                if ins.kind is InsnKind.CALL_HELPER:
                    helpers.setdefault(ins.imm, ins.helper_name or f"helper#{ins.imm}")
        positions = sorted(pos for f in funcs for pos in self._relocs_by_function.get(f.key, ()))
        for pos in positions:
            r = self.relocations[pos]
            if r.kind is RelocKind.KFUNC and r.target not in kfuncs:
                kfuncs.append(r.target)
            elif r.kind in (RelocKind.MAP, RelocKind.GLOBAL_DATA) and r.target not in maps:
                maps.append(r.target)
            elif r.kind in (RelocKind.KCONFIG, RelocKind.KSYM) and r.target not in externs:
                externs.append(r.target)
                if r.kind is RelocKind.KCONFIG and KCONFIG_SEC not in maps:
                    maps.append(KCONFIG_SEC)
        ordered_ids = sorted(helpers)
        return ProgramUse(
            helpers=tuple(helpers[i] for i in ordered_ids),
            helper_ids=tuple(ordered_ids),
            kfuncs=tuple(kfuncs),
            maps=tuple(maps),
            subprogs=tuple(f.name for f in funcs[1:]),
            externs=tuple(externs),
            total_insns=sum(f.insn_count for f in funcs),
        )


def _file_kind(mode: int) -> str:
    """What a non-regular file is, in the words ``ls -l`` users know."""
    for test, word in ((stat.S_ISFIFO, "FIFO (named pipe)"), (stat.S_ISCHR, "character device"),
                       (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket")):
        if test(mode):
            return word
    return "special file"


def _btf_extern_type(btf: Btf, name: str) -> str | None:
    from bpfdoctor.elf.maps import describe_type

    for tid in btf.find(name):
        t = btf.type(tid)
        if t.kind.name == "VAR" and t.type is not None:
            return describe_type(btf, t.type)
        if t.kind.name == "FUNC":
            return "func"
    return None
