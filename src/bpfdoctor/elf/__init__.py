"""Pure readers for compiled BPF ELF objects: bytes in, frozen model out; never the host."""

from __future__ import annotations

from bpfdoctor.elf.object import BpfObject, Extern, Program, ProgramUse

__all__ = ["BpfObject", "Extern", "Program", "ProgramUse"]
