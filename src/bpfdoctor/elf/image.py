"""The ELF container: headers, sections, symbols and REL entries as plain frozen values.

This is the only module that touches pyelftools, and ``read_image`` is the one place where
every pyelftools, ``struct`` or slicing error becomes an :class:`ElfError` naming the file and
what broke. Everything above works on :class:`ElfImage` and never sees pyelftools objects.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from bpfdoctor.errors import BpfDoctorError, ElfError

EM_BPF = 247
ET_REL = 1
SHT_PROGBITS = 1
SHT_SYMTAB = 2
SHT_STRTAB = 3
SHT_NOBITS = 8
SHT_REL = 9
SHF_WRITE = 0x1
SHF_ALLOC = 0x2
SHF_EXECINSTR = 0x4
SHN_UNDEF = 0
SHN_LORESERVE = 0xFF00
SHN_ABS = 0xFFF1
SHN_COMMON = 0xFFF2

STT_NAMES = {0: "notype", 1: "object", 2: "func", 3: "section", 4: "file", 5: "common", 6: "tls"}
STB_NAMES = {0: "local", 1: "global", 2: "weak"}

# R_BPF_* (llvm/BinaryFormat/ELFRelocs/BPF.def)
RELOC_NAMES = {
    0: "R_BPF_NONE",
    1: "R_BPF_64_64",
    2: "R_BPF_64_ABS64",
    3: "R_BPF_64_ABS32",
    4: "R_BPF_64_NODYLD32",
    10: "R_BPF_64_32",
}


@dataclass(frozen=True, slots=True)
class Section:
    """One section header plus its bytes (empty for SHT_NOBITS such as ``.bss``)."""

    index: int
    name: str
    type: int
    flags: int
    size: int
    link: int
    info: int
    entsize: int
    data: bytes

    @property
    def executable(self) -> bool:
        return bool(self.flags & SHF_EXECINSTR)

    @property
    def nobits(self) -> bool:
        return self.type == SHT_NOBITS


@dataclass(frozen=True, slots=True)
class Symbol:
    index: int
    name: str
    value: int
    size: int
    type: str  # notype | object | func | section | file | ...
    bind: str  # local | global | weak
    shndx: int  # SHN_UNDEF (0) for externs; SHN_ABS/SHN_COMMON kept as numbers
    visibility: int

    @property
    def undefined(self) -> bool:
        return self.shndx == SHN_UNDEF

    @property
    def in_section(self) -> bool:
        return SHN_UNDEF < self.shndx < SHN_LORESERVE


@dataclass(frozen=True, slots=True)
class RelEntry:
    """One ``Elf64_Rel``: ``offset`` is a byte offset inside the section being relocated."""

    offset: int
    symbol: int
    type: int

    @property
    def type_name(self) -> str:
        return RELOC_NAMES.get(self.type, f"R_BPF_{self.type}")


@dataclass(frozen=True, slots=True)
class ElfImage:
    """Everything bpfdoctor needs from the ELF container, decoded once."""

    name: str
    size: int
    big_endian: bool
    machine: int
    elf_type: int
    sections: tuple[Section, ...]
    symbols: tuple[Symbol, ...]
    rels: tuple[tuple[int, tuple[RelEntry, ...]], ...]  # (target section index, entries)

    def section_by_name(self, name: str) -> Section | None:
        for sec in self.sections:
            if sec.name == name:
                return sec
        return None


@contextmanager
def elf_errors(name: str, where: str) -> Iterator[None]:
    """Translate foreign exceptions raised while reading ``name`` into one ElfError line."""
    try:
        yield
    except BpfDoctorError:
        raise
    except RecursionError:
        raise ElfError(f"{name}: {where}: structure nests too deeply") from None
    except (
        ValueError,
        IndexError,
        KeyError,
        TypeError,
        AssertionError,
        AttributeError,
        OverflowError,
        struct.error,
        UnicodeDecodeError,
        EOFError,
        MemoryError,
    ) as exc:
        raise ElfError(f"{name}: {where}: {_describe(exc)}") from None
    except Exception as exc:  # pyelftools' ELFError / construct errors have no common base
        if type(exc).__module__.startswith("elftools"):
            raise ElfError(f"{name}: {where}: {_describe(exc)}") from None
        raise


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def read_image(data: bytes, name: str) -> ElfImage:
    """Parse and validate the ELF container of a BPF object (mirrors libbpf ``bpf_object__elf_init``)."""
    if not data:
        raise ElfError(f"{name}: empty file")
    if data[:4] != b"\x7fELF":
        raise ElfError(f"{name}: not an ELF file (magic {data[:4].hex() or 'missing'})")
    if len(data) < 64:
        raise ElfError(f"{name}: truncated ELF header ({len(data)} bytes, need 64)")
    if data[4] != 2:
        raise ElfError(f"{name}: not a 64-bit ELF (EI_CLASS={data[4]}); BPF objects are ELF64")
    if data[5] not in (1, 2):
        raise ElfError(f"{name}: unknown ELF byte order (EI_DATA={data[5]})")
    big_endian = data[5] == 2
    end = ">" if big_endian else "<"
    e_type, e_machine = struct.unpack_from(end + "HH", data, 16)
    if e_machine != EM_BPF:
        raise ElfError(
            f"{name}: ELF for machine {_machine_name(e_machine)} (e_machine={e_machine}), "
            "not a BPF object (EM_BPF=247); compile with clang -target bpf"
        )
    if e_type != ET_REL:
        raise ElfError(
            f"{name}: ELF type {e_type} is not a relocatable object (ET_REL); "
            "libbpf only loads .o files produced by clang -c"
        )
    e_shoff, = struct.unpack_from(end + "Q", data, 0x28)
    e_shentsize, e_shnum = struct.unpack_from(end + "HH", data, 0x3A)
    if e_shnum and e_shentsize != 64:
        raise ElfError(f"{name}: section header size {e_shentsize}, expected 64")
    if e_shoff + e_shnum * e_shentsize > len(data):
        raise ElfError(
            f"{name}: section header table at offset {e_shoff} ({e_shnum} entries) runs past "
            f"the end of the file ({len(data)} bytes); the file is truncated or corrupt"
        )
    from elftools.elf.elffile import ELFFile
    from elftools.elf.enums import ENUM_SH_TYPE_BASE

    with elf_errors(name, "ELF headers"):
        elf = ELFFile(io.BytesIO(data))
        shnum = elf.num_sections()
        headers = [elf._get_section_header(i) for i in range(shnum)]
        shstrndx = elf["e_shstrndx"]
        if shnum and not 0 <= shstrndx < shnum:
            raise ElfError(f"{name}: section name table index {shstrndx} out of range ({shnum})")
    names_data = b""
    if shnum:
        hdr = headers[shstrndx]
        names_data = _slice(data, name, "section name table", hdr["sh_offset"], hdr["sh_size"])
    sections: list[Section] = []
    with elf_errors(name, "section headers"):
        for i, hdr in enumerate(headers):
            sec_name = _cstr(names_data, hdr["sh_name"], name, f"section [{i}] name")
            raw_type: int | str = hdr["sh_type"]
            # pyelftools names the values it knows; turn them back into numbers
            sh_type = ENUM_SH_TYPE_BASE[raw_type] if isinstance(raw_type, str) else int(raw_type)
            if sh_type == SHT_NOBITS or i == 0:
                body = b""
            else:
                body = _slice(data, name, f"section [{i}] {sec_name}", hdr["sh_offset"], hdr["sh_size"])
            sections.append(
                Section(
                    index=i,
                    name=sec_name,
                    type=sh_type,
                    flags=hdr["sh_flags"],
                    size=hdr["sh_size"],
                    link=hdr["sh_link"],
                    info=hdr["sh_info"],
                    entsize=hdr["sh_entsize"],
                    data=body,
                )
            )
    symbols = _read_symbols(sections, name, big_endian)
    rels = _read_rels(sections, name, big_endian, len(symbols))
    return ElfImage(
        name=name,
        size=len(data),
        big_endian=big_endian,
        machine=e_machine,
        elf_type=e_type,
        sections=tuple(sections),
        symbols=symbols,
        rels=rels,
    )


def _machine_name(machine: int) -> str:
    return {3: "x86 (i386)", 62: "x86_64", 40: "ARM", 183: "AArch64", 243: "RISC-V",
            21: "PowerPC64", 22: "s390"}.get(machine, str(machine))


def _slice(data: bytes, name: str, what: str, offset: int, size: int) -> bytes:
    if offset < 0 or size < 0 or offset + size > len(data):
        raise ElfError(
            f"{name}: {what} at offset {offset} size {size} runs past the end of the file "
            f"({len(data)} bytes); the file is truncated or corrupt"
        )
    return data[offset:offset + size]


def _cstr(table: bytes, offset: int, name: str, what: str) -> str:
    if offset >= len(table) and offset != 0:
        raise ElfError(f"{name}: {what}: string offset {offset} outside its table ({len(table)} bytes)")
    endpos = table.find(b"\0", offset)
    if endpos < 0:
        endpos = len(table)
    return table[offset:endpos].decode("utf-8", errors="replace")


def _read_symbols(sections: list[Section], name: str, big_endian: bool) -> tuple[Symbol, ...]:
    symtabs = [s for s in sections if s.type == SHT_SYMTAB]
    if not symtabs:
        return ()
    symtab = symtabs[0]
    if not 0 < symtab.link < len(sections):
        raise ElfError(f"{name}: .symtab links to string table [{symtab.link}], which does not exist")
    strtab = sections[symtab.link].data
    fmt = struct.Struct((">" if big_endian else "<") + "IBBHQQ")
    if len(symtab.data) % fmt.size:
        raise ElfError(f"{name}: .symtab size {len(symtab.data)} is not a multiple of {fmt.size}")
    out: list[Symbol] = []
    for i, (st_name, st_info, st_other, st_shndx, st_value, st_size) in enumerate(
        fmt.iter_unpack(symtab.data)
    ):
        out.append(
            Symbol(
                index=i,
                name=_cstr(strtab, st_name, name, f"symbol #{i} name"),
                value=st_value,
                size=st_size,
                type=STT_NAMES.get(st_info & 0xF, f"stt{st_info & 0xF}"),
                bind=STB_NAMES.get(st_info >> 4, f"stb{st_info >> 4}"),
                shndx=st_shndx,
                visibility=st_other & 0x3,
            )
        )
    return tuple(out)


def _read_rels(
    sections: list[Section], name: str, big_endian: bool, nsyms: int
) -> tuple[tuple[int, tuple[RelEntry, ...]], ...]:
    fmt = struct.Struct((">" if big_endian else "<") + "QQ")
    out: list[tuple[int, tuple[RelEntry, ...]]] = []
    for sec in sections:
        if sec.type != SHT_REL:
            continue
        if not 0 < sec.info < len(sections):
            raise ElfError(f"{name}: {sec.name} relocates section [{sec.info}], which does not exist")
        if len(sec.data) % fmt.size:
            raise ElfError(f"{name}: {sec.name} size {len(sec.data)} is not a multiple of {fmt.size}")
        entries: list[RelEntry] = []
        for j, (r_offset, r_info) in enumerate(fmt.iter_unpack(sec.data)):
            sym = r_info >> 32
            if sym >= nsyms:
                raise ElfError(f"{name}: {sec.name} entry #{j}: symbol index {sym} out of range ({nsyms})")
            entries.append(RelEntry(offset=r_offset, symbol=sym, type=r_info & 0xFFFFFFFF))
        out.append((sec.info, tuple(entries)))
    return tuple(out)
