"""What a kernel ELF (vmlinux or a module ``.ko``) holds for bpfdoctor: its ``.BTF``, its
architecture, its version banner or ``vermagic``, and its ``.rodata`` for kallsyms.

Pure: works on bytes already read; pyelftools errors become one InputError line here, the one
place foreign exceptions are translated.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from struct import error as struct_error

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from bpfdoctor.errors import InputError

# e_machine -> the arch name uname -m prints
ARCHES = {"EM_X86_64": "x86_64", "EM_AARCH64": "aarch64", "EM_386": "i686",
          "EM_ARM": "arm", "EM_RISCV": "riscv64", "EM_S390": "s390x", "EM_PPC64": "ppc64le",
          "EM_LOONGARCH": "loongarch64", "EM_MIPS": "mips64"}
_BANNER = re.compile(rb"Linux version (\d+\.\d+[^\s\x00]*)")
_VERMAGIC = re.compile(rb"vermagic=(\d+\.\d+[^\s\x00]*)")
_MODNAME = re.compile(rb"(?:^|\x00)name=([A-Za-z0-9_-]+)\x00")


@dataclass(frozen=True, slots=True)
class ElfImage:
    """Sections of interest from one kernel ELF (absent ones are ``None``)."""

    arch: str
    btf: bytes | None
    rodata: bytes | None
    modinfo: bytes | None

    def banner_release(self) -> str | None:
        """``6.1.0-18-amd64`` from the ``linux_banner`` string in .rodata."""
        m = _BANNER.search(self.rodata or b"")
        return m.group(1).decode("ascii", "replace") if m else None

    def vermagic_release(self) -> str | None:
        """The release a module was built for, from ``.modinfo`` ``vermagic=``."""
        m = _VERMAGIC.search(self.modinfo or b"")
        return m.group(1).decode("ascii", "replace") if m else None

    def module_name(self) -> str | None:
        """The module's own name (``.modinfo`` ``name=``), as /sys/kernel/btf/<name> uses it."""
        m = _MODNAME.search(self.modinfo or b"")
        return m.group(1).decode("ascii").replace("-", "_") if m else None


def read_elf(data: bytes, what: str, *, want_rodata: bool = False) -> ElfImage:
    """Parse ``data`` as an ELF and pull out .BTF, .modinfo and (optionally) .rodata."""
    if not data.startswith(b"\x7fELF"):
        raise InputError(f"{what}: not an ELF file")
    try:
        elf = ELFFile(io.BytesIO(data))
        arch = ARCHES.get(str(elf["e_machine"]), str(elf["e_machine"]))

        def section(name: str) -> bytes | None:
            sec = elf.get_section_by_name(name)
            if sec is None or sec["sh_type"] == "SHT_NOBITS":
                return None
            raw: bytes = sec.data()
            return raw

        return ElfImage(
            arch=arch,
            btf=section(".BTF"),
            rodata=section(".rodata") if want_rodata else None,
            modinfo=section(".modinfo"),
        )
    except (ELFError, ValueError, KeyError, IndexError, struct_error) as exc:
        raise InputError(f"{what}: malformed ELF file ({exc})") from None

