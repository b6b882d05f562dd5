"""Just enough of a BPF instruction encoder to write the probe programs.

Encodings follow include/uapi/linux/bpf.h and linux/filter.h (``BPF_MOV64_IMM``,
``BPF_EMIT_CALL``, ``BPF_LD_MAP_FD`` ...): 8 bytes, ``code:8 dst:4 src:4 off:16 imm:32``.
"""

from __future__ import annotations

import struct

# classes
LD, LDX, ST, STX, ALU, JMP, JMP32, ALU64 = 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07
# sizes / modes
DW, W, B = 0x18, 0x00, 0x10
IMM, MEM, MEMSX = 0x00, 0x60, 0x80
# ALU ops / sources
K, X = 0x00, 0x08
ADD, MOV, DIV, END = 0x00, 0xB0, 0x30, 0xD0
# JMP ops
JA, JEQ, JLT, JNE, CALL, EXIT = 0x00, 0x10, 0xA0, 0x50, 0x80, 0x90
PSEUDO_MAP_FD, PSEUDO_MAP_VALUE, PSEUDO_CALL, PSEUDO_KFUNC_CALL = 1, 2, 1, 2


def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def mov64_imm(dst: int, imm: int) -> bytes:
    return insn(ALU64 | MOV | K, dst, imm=imm)


def mov64_reg(dst: int, src: int) -> bytes:
    return insn(ALU64 | MOV | X, dst, src)


def mov32_imm(dst: int, imm: int) -> bytes:
    return insn(ALU | MOV | K, dst, imm=imm)


def alu64_imm(op: int, dst: int, imm: int, off: int = 0) -> bytes:
    return insn(ALU64 | op | K, dst, off=off, imm=imm)


def jmp_imm(op: int, dst: int, imm: int, off: int) -> bytes:
    return insn(JMP | op | K, dst, off=off, imm=imm)


def jmp32_imm(op: int, dst: int, imm: int, off: int) -> bytes:
    return insn(JMP32 | op | K, dst, off=off, imm=imm)


def ja(off: int) -> bytes:
    return insn(JMP | JA, off=off)


def call_helper(helper_id: int) -> bytes:
    return insn(JMP | CALL, imm=helper_id)


def call_subprog(rel: int) -> bytes:
    """bpf-to-bpf call: ``imm`` is the insn offset of the callee relative to the next insn."""
    return insn(JMP | CALL, src=PSEUDO_CALL, imm=rel)


def call_kfunc(btf_id: int, fd_array_idx: int = 0) -> bytes:
    return insn(JMP | CALL, src=PSEUDO_KFUNC_CALL, off=fd_array_idx, imm=btf_id)


def exit_insn() -> bytes:
    return insn(JMP | EXIT)


def ld_imm64(dst: int, src: int, imm: int, imm_hi: int = 0) -> bytes:
    return insn(LD | DW | IMM, dst, src, imm=imm) + insn(0, imm=imm_hi)


def ld_map_fd(dst: int, map_fd: int) -> bytes:
    return ld_imm64(dst, PSEUDO_MAP_FD, map_fd)


def ld_map_value(dst: int, map_fd: int, offset: int = 0) -> bytes:
    return ld_imm64(dst, PSEUDO_MAP_VALUE, map_fd, offset)


def ldx_mem(size: int, dst: int, src: int, off: int) -> bytes:
    return insn(LDX | size | MEM, dst, src, off)


def ldx_memsx(size: int, dst: int, src: int, off: int) -> bytes:
    return insn(LDX | size | MEMSX, dst, src, off)


def st_mem(size: int, dst: int, off: int, imm: int) -> bytes:
    return insn(ST | size | MEM, dst, off=off, imm=imm)


def return_zero() -> bytes:
    return mov64_imm(0, 0) + exit_insn()
