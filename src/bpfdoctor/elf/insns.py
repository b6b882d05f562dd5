"""eBPF instruction decoder: every class and opcode through ISA v4, and the ISA level needed.

Encoding follows ``include/uapi/linux/bpf.h`` and the kernel's instruction-set document
(Documentation/bpf/standardization/instruction-set.rst). The minimum ISA level mirrors what
LLVM's ``-mcpu`` gates:

* v2: the JMP-class ``jlt/jle/jslt/jsle`` comparisons;
* v3: the whole JMP32 class and atomics other than plain ``lock add`` (fetch, xchg, cmpxchg
  and the and/or/xor forms all arrived together in Linux 5.12). ALU32 does not count: the
  32-bit ALU class has existed since the first eBPF kernels, ``-mcpu=v3`` only makes clang
  prefer it. (clang >= 18 emits a 64-bit ``atomic_fetch_add`` even at ``-mcpu=v1`` when the
  result is used; we still rate it v3, because that is what the kernel needs: BPF_FETCH is
  5.12, newer than JMP32);
* v4: sign-extending moves and loads (``movsx``/``ldsx``), ``sdiv``/``smod``, unconditional
  ``bswap``, ``gotol`` (JA in the JMP32 class) and load-acquire/store-release.

``may_goto`` and the arena ``addr_space_cast`` are reported as features, not ISA levels: LLVM
emits them at any ``-mcpu`` and the kernel gained them in 6.9.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from bpfdoctor.knowledge import uapi

INSN_SIZE = 8

# Instruction classes.
BPF_LD = 0x00
BPF_LDX = 0x01
BPF_ST = 0x02
BPF_STX = 0x03
BPF_ALU = 0x04
BPF_JMP = 0x05
BPF_JMP32 = 0x06
BPF_ALU64 = 0x07

# Size and mode (load/store classes).
SIZES = {0x00: "w", 0x08: "h", 0x10: "b", 0x18: "dw"}
SIZE_BYTES = {0x00: 4, 0x08: 2, 0x10: 1, 0x18: 8}
BPF_IMM = 0x00
BPF_ABS = 0x20
BPF_IND = 0x40
BPF_MEM = 0x60
BPF_MEMSX = 0x80
BPF_ATOMIC = 0xC0

# Source operand (ALU/JMP classes).
BPF_K = 0x00
BPF_X = 0x08

ALU_OPS = {
    0x00: "add", 0x10: "sub", 0x20: "mul", 0x30: "div", 0x40: "or", 0x50: "and",
    0x60: "lsh", 0x70: "rsh", 0x80: "neg", 0x90: "mod", 0xA0: "xor", 0xB0: "mov",
    0xC0: "arsh", 0xD0: "end",
}
BPF_DIV = 0x30
BPF_MOD = 0x90
BPF_MOV = 0xB0
BPF_END = 0xD0

JMP_OPS = {
    0x00: "ja", 0x10: "jeq", 0x20: "jgt", 0x30: "jge", 0x40: "jset", 0x50: "jne",
    0x60: "jsgt", 0x70: "jsge", 0x80: "call", 0x90: "exit", 0xA0: "jlt", 0xB0: "jle",
    0xC0: "jslt", 0xD0: "jsle", 0xE0: "jcond",
}
BPF_JA = 0x00
BPF_CALL = 0x80
BPF_EXIT = 0x90
BPF_JCOND = 0xE0
V2_JMP_OPS = frozenset({0xA0, 0xB0, 0xC0, 0xD0})

# Atomic operations (imm of BPF_STX | BPF_ATOMIC).
BPF_FETCH = 0x01
BPF_XCHG = 0xE0 | BPF_FETCH
BPF_CMPXCHG = 0xF0 | BPF_FETCH
BPF_LOAD_ACQ = 0x100
BPF_STORE_REL = 0x110
ATOMIC_OPS = {0x00: "add", 0x40: "or", 0x50: "and", 0xA0: "xor"}

# src_reg values with a special meaning (uapi/linux/bpf.h).
BPF_PSEUDO_MAP_FD = 1
BPF_PSEUDO_MAP_VALUE = 2
BPF_PSEUDO_BTF_ID = 3
BPF_PSEUDO_FUNC = 4
BPF_PSEUDO_MAP_IDX = 5
BPF_PSEUDO_MAP_IDX_VALUE = 6
PSEUDO_LD_NAMES = {
    0: "imm64",
    BPF_PSEUDO_MAP_FD: "map_fd",
    BPF_PSEUDO_MAP_VALUE: "map_value",
    BPF_PSEUDO_BTF_ID: "btf_id",
    BPF_PSEUDO_FUNC: "func",
    BPF_PSEUDO_MAP_IDX: "map_idx",
    BPF_PSEUDO_MAP_IDX_VALUE: "map_idx_value",
}
BPF_PSEUDO_CALL = 1
BPF_PSEUDO_KFUNC_CALL = 2
BPF_ADDR_SPACE_CAST = 1


class InsnKind(StrEnum):
    """What an instruction does, at the granularity checks care about."""

    ALU = "alu"
    ALU64 = "alu64"
    JUMP = "jump"
    JUMP32 = "jump32"
    CALL_HELPER = "call_helper"
    CALL_KFUNC = "call_kfunc"
    CALL_SUBPROG = "call_subprog"
    CALLX = "callx"
    EXIT = "exit"
    MAY_GOTO = "may_goto"
    LD_IMM64 = "ld_imm64"
    LD_ABS = "ld_abs"
    LD_IND = "ld_ind"
    LOAD = "load"
    STORE_IMM = "store_imm"
    STORE = "store"
    ATOMIC = "atomic"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class Insn:
    """One decoded instruction; ``idx`` counts 8-byte slots from the start of its section.

    A ``ld_imm64`` covers two slots (``slots == 2``) and carries the full 64-bit value in
    ``imm64``; its second slot is not a separate Insn.
    """

    idx: int
    code: int
    dst: int
    src: int
    off: int
    imm: int
    kind: InsnKind
    mnemonic: str
    isa: int = 1
    isa_reason: str | None = None
    imm64: int | None = None
    slots: int = 1
    problem: str | None = None  # why the instruction is invalid

    @property
    def cls(self) -> int:
        return self.code & 0x07

    @property
    def is_call(self) -> bool:
        return self.kind in (InsnKind.CALL_HELPER, InsnKind.CALL_KFUNC, InsnKind.CALL_SUBPROG)

    @property
    def helper_name(self) -> str | None:
        if self.kind is not InsnKind.CALL_HELPER:
            return None
        return uapi.helper_name(self.imm)

    @property
    def pseudo(self) -> str | None:
        """The ld_imm64 pseudo source type name (``map_fd``, ``btf_id``...) or None."""
        if self.kind is not InsnKind.LD_IMM64:
            return None
        return PSEUDO_LD_NAMES.get(self.src, f"src{self.src}")

    @property
    def call_target(self) -> int | None:
        """Slot index a bpf-to-bpf call or a jump lands on (same section)."""
        if self.kind is InsnKind.CALL_SUBPROG:
            return self.idx + self.imm + 1
        if self.kind in (InsnKind.JUMP, InsnKind.JUMP32) and self.mnemonic not in ("exit",):
            if self.mnemonic == "gotol":
                return self.idx + self.imm + 1
            return self.idx + self.off + 1
        return None

    def text(self) -> str:
        """A short, objdump-like rendering for reports."""
        if self.kind is InsnKind.CALL_HELPER:
            name = self.helper_name or f"helper#{self.imm}"
            return f"call {name}"
        if self.kind is InsnKind.CALL_SUBPROG:
            return f"call pc{self.imm:+d}"
        if self.kind is InsnKind.CALL_KFUNC:
            return f"call kfunc#{self.imm}"
        if self.kind is InsnKind.EXIT:
            return "exit"
        if self.kind is InsnKind.LD_IMM64:
            return f"r{self.dst} = {self.imm64:#x} ll ({self.pseudo})"
        return f"{self.mnemonic} dst=r{self.dst} src=r{self.src} off={self.off} imm={self.imm}"


@dataclass(frozen=True, slots=True)
class IsaLevel:
    """The lowest ``-mcpu`` level the code runs under, and the first instruction forcing it."""

    level: int
    insn: Insn | None = None
    section: str | None = None
    reason: str | None = None

    @property
    def name(self) -> str:
        return f"v{self.level}"


def _unpack_fmt(big_endian: bool) -> struct.Struct:
    return struct.Struct(">BBhi" if big_endian else "<BBhi")


def _regs(byte: int, big_endian: bool) -> tuple[int, int]:
    """dst_reg/src_reg nibbles; big-endian objects swap them (as LLVM and the kernel do)."""
    if big_endian:
        return byte >> 4, byte & 0x0F
    return byte & 0x0F, byte >> 4


def decode(data: bytes, big_endian: bool = False) -> tuple[Insn, ...]:
    """Decode a section's bytes. Never raises on odd opcodes: they become INVALID instructions.

    A trailing partial instruction becomes an INVALID instruction too, so the caller decides
    whether that is an error.
    """
    fmt = _unpack_fmt(big_endian)
    out: list[Insn] = []
    n = len(data) // INSN_SIZE
    i = 0
    while i < n:
        code, regs, off, imm = fmt.unpack_from(data, i * INSN_SIZE)
        dst, src = _regs(regs, big_endian)
        if code == (BPF_LD | BPF_IMM | 0x18):
            if i + 1 >= n:
                out.append(_invalid(i, code, dst, src, off, imm, "ld_imm64 without its second half"))
                i += 1
                continue
            code2, _regs2, _off2, imm2 = fmt.unpack_from(data, (i + 1) * INSN_SIZE)
            value = (imm & 0xFFFFFFFF) | ((imm2 & 0xFFFFFFFF) << 32)
            problem = None if code2 == 0 else f"ld_imm64 second half has opcode {code2:#04x}"
            kind = InsnKind.INVALID if problem else InsnKind.LD_IMM64
            out.append(
                Insn(i, code, dst, src, off, imm, kind, "ld_imm64", imm64=value, slots=2,
                     problem=problem)
            )
            i += 2
            continue
        out.append(decode_one(i, code, dst, src, off, imm))
        i += 1
    if len(data) % INSN_SIZE:
        out.append(_invalid(n, 0, 0, 0, 0, 0, f"{len(data) % INSN_SIZE} trailing bytes"))
    return tuple(out)


def _invalid(idx: int, code: int, dst: int, src: int, off: int, imm: int, why: str) -> Insn:
    return Insn(idx, code, dst, src, off, imm, InsnKind.INVALID, "invalid", problem=why)


def decode_one(idx: int, code: int, dst: int, src: int, off: int, imm: int) -> Insn:
    """Decode one 8-byte instruction that is not the first half of a ld_imm64."""
    cls = code & 0x07
    if cls in (BPF_ALU, BPF_ALU64):
        return _decode_alu(idx, code, dst, src, off, imm)
    if cls in (BPF_JMP, BPF_JMP32):
        return _decode_jmp(idx, code, dst, src, off, imm)
    return _decode_mem(idx, code, dst, src, off, imm)


def _decode_alu(idx: int, code: int, dst: int, src: int, off: int, imm: int) -> Insn:
    cls = code & 0x07
    op = code & 0xF0
    name = ALU_OPS.get(op)
    kind = InsnKind.ALU64 if cls == BPF_ALU64 else InsnKind.ALU
    suffix = "" if cls == BPF_ALU64 else "32"
    if name is None:
        return _invalid(idx, code, dst, src, off, imm, f"unknown ALU op {op:#04x}")
    if op == BPF_MOV and off != 0:
        if cls == BPF_ALU64 and off == BPF_ADDR_SPACE_CAST:
            return Insn(idx, code, dst, src, off, imm, kind, "addr_space_cast")
        if off in (8, 16) or (off == 32 and cls == BPF_ALU64):
            return Insn(idx, code, dst, src, off, imm, kind, f"movsx{suffix}", 4,
                        f"sign-extending move movsx{off}")
        return _invalid(idx, code, dst, src, off, imm, f"mov with offset {off}")
    if op in (BPF_DIV, BPF_MOD) and off != 0:
        if off == 1:
            signed = "sdiv" if op == BPF_DIV else "smod"
            return Insn(idx, code, dst, src, off, imm, kind, signed + suffix, 4,
                        f"signed {'division' if op == BPF_DIV else 'modulo'} {signed}")
        return _invalid(idx, code, dst, src, off, imm, f"{name} with offset {off}")
    if op == BPF_END:
        if imm not in (16, 32, 64):
            return _invalid(idx, code, dst, src, off, imm, f"byte swap of width {imm}")
        if cls == BPF_ALU64:
            return Insn(idx, code, dst, src, off, imm, kind, f"bswap{imm}", 4,
                        f"unconditional byte swap bswap{imm}")
        order = "be" if code & BPF_X else "le"
        return Insn(idx, code, dst, src, off, imm, kind, f"{order}{imm}")
    return Insn(idx, code, dst, src, off, imm, kind, name + suffix)


def _decode_jmp(idx: int, code: int, dst: int, src: int, off: int, imm: int) -> Insn:
    cls = code & 0x07
    op = code & 0xF0
    name = JMP_OPS.get(op)
    if name is None:
        return _invalid(idx, code, dst, src, off, imm, f"unknown jump op {op:#04x}")
    if cls == BPF_JMP32:
        if op in (BPF_CALL, BPF_EXIT, BPF_JCOND):
            return _invalid(idx, code, dst, src, off, imm, f"{name} in the JMP32 class")
        if op == BPF_JA:
            return Insn(idx, code, dst, src, off, imm, InsnKind.JUMP32, "gotol", 4,
                        "long jump gotol (JA in the JMP32 class)")
        return Insn(idx, code, dst, src, off, imm, InsnKind.JUMP32, name + "32", 3,
                    f"32-bit conditional jump {name}32 (JMP32 class)")
    if op == BPF_CALL:
        if code & BPF_X:
            return Insn(idx, code, dst, src, off, imm, InsnKind.CALLX, "callx")
        if src == BPF_PSEUDO_CALL:
            return Insn(idx, code, dst, src, off, imm, InsnKind.CALL_SUBPROG, "call")
        if src == BPF_PSEUDO_KFUNC_CALL:
            return Insn(idx, code, dst, src, off, imm, InsnKind.CALL_KFUNC, "call")
        if src == 0:
            return Insn(idx, code, dst, src, off, imm, InsnKind.CALL_HELPER, "call")
        return _invalid(idx, code, dst, src, off, imm, f"call with src_reg {src}")
    if op == BPF_EXIT:
        return Insn(idx, code, dst, src, off, imm, InsnKind.EXIT, "exit")
    if op == BPF_JCOND:
        if src == 0:
            return Insn(idx, code, dst, src, off, imm, InsnKind.MAY_GOTO, "may_goto")
        return _invalid(idx, code, dst, src, off, imm, f"jcond with src_reg {src}")
    if op in V2_JMP_OPS:
        return Insn(idx, code, dst, src, off, imm, InsnKind.JUMP, name, 2,
                    f"conditional jump {name} (added in ISA v2)")
    return Insn(idx, code, dst, src, off, imm, InsnKind.JUMP, name)


def _decode_mem(idx: int, code: int, dst: int, src: int, off: int, imm: int) -> Insn:
    cls = code & 0x07
    size = code & 0x18
    mode = code & 0xE0
    sz = SIZES[size]
    if cls == BPF_LD:
        if mode == BPF_ABS and size != 0x18:
            return Insn(idx, code, dst, src, off, imm, InsnKind.LD_ABS, f"ld_abs{sz}")
        if mode == BPF_IND and size != 0x18:
            return Insn(idx, code, dst, src, off, imm, InsnKind.LD_IND, f"ld_ind{sz}")
        return _invalid(idx, code, dst, src, off, imm, f"unknown LD opcode {code:#04x}")
    if cls == BPF_LDX:
        if mode == BPF_MEM:
            return Insn(idx, code, dst, src, off, imm, InsnKind.LOAD, f"ldx{sz}")
        if mode == BPF_MEMSX and size != 0x18:
            return Insn(idx, code, dst, src, off, imm, InsnKind.LOAD, f"ldsx{sz}", 4,
                        f"sign-extending load ldsx{sz}")
        return _invalid(idx, code, dst, src, off, imm, f"unknown LDX opcode {code:#04x}")
    if cls == BPF_ST:
        if mode == BPF_MEM:
            return Insn(idx, code, dst, src, off, imm, InsnKind.STORE_IMM, f"st{sz}")
        return _invalid(idx, code, dst, src, off, imm, f"unknown ST opcode {code:#04x}")
    # BPF_STX
    if mode == BPF_MEM:
        return Insn(idx, code, dst, src, off, imm, InsnKind.STORE, f"stx{sz}")
    if mode == BPF_ATOMIC:
        return _decode_atomic(idx, code, dst, src, off, imm, sz, size)
    return _invalid(idx, code, dst, src, off, imm, f"unknown STX opcode {code:#04x}")


def _decode_atomic(
    idx: int, code: int, dst: int, src: int, off: int, imm: int, sz: str, size: int
) -> Insn:
    if imm in (BPF_LOAD_ACQ, BPF_STORE_REL):
        name = "load_acquire" if imm == BPF_LOAD_ACQ else "store_release"
        return Insn(idx, code, dst, src, off, imm, InsnKind.ATOMIC, f"{name}{sz}", 4,
                    f"{name.replace('_', '-')} ({name}{sz})")
    if size not in (0x00, 0x18):
        return _invalid(idx, code, dst, src, off, imm, f"atomic of size {sz}")
    if imm == BPF_XCHG:
        return Insn(idx, code, dst, src, off, imm, InsnKind.ATOMIC, f"xchg{sz}", 3,
                    f"atomic exchange xchg{sz}")
    if imm == BPF_CMPXCHG:
        return Insn(idx, code, dst, src, off, imm, InsnKind.ATOMIC, f"cmpxchg{sz}", 3,
                    f"atomic compare-and-exchange cmpxchg{sz}")
    base = ATOMIC_OPS.get(imm & ~BPF_FETCH)
    if base is None:
        return _invalid(idx, code, dst, src, off, imm, f"unknown atomic op {imm:#x}")
    fetch = bool(imm & BPF_FETCH)
    name = f"atomic_{'fetch_' if fetch else ''}{base}{sz}"
    if imm == 0x00:
        return Insn(idx, code, dst, src, off, imm, InsnKind.ATOMIC, name)
    why = f"atomic {'fetch-and-' if fetch else ''}{base} ({name})"
    return Insn(idx, code, dst, src, off, imm, InsnKind.ATOMIC, name, 3, why)


def min_isa(sections: Iterable[tuple[str, Sequence[Insn]]]) -> IsaLevel:
    """The highest per-instruction level over all sections, with the first insn needing it."""
    best = IsaLevel(1)
    for section, insns in sections:
        for insn in insns:
            if insn.isa > best.level:
                best = IsaLevel(insn.isa, insn, section, insn.isa_reason)
    return best


def encode(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    """Assemble one little-endian instruction (used by tests and by probe programs)."""
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)
