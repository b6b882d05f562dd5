"""Instruction decoder: one hand-assembled 8-byte instruction per opcode family, ISA levels."""

from __future__ import annotations

import struct

import pytest

from bpfdoctor.elf.insns import InsnKind, decode, encode, min_isa


def one(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0):
    insns = decode(encode(code, dst, src, off, imm))
    assert len(insns) == 1
    return insns[0]


# (opcode, dst, src, off, imm, mnemonic, kind, isa)
CASES = [
    # ALU64 / ALU, K and X forms
    (0x07, 1, 0, 0, 5, "add", InsnKind.ALU64, 1),
    (0x0F, 1, 2, 0, 0, "add", InsnKind.ALU64, 1),
    (0x04, 1, 0, 0, 5, "add32", InsnKind.ALU, 1),
    (0x17, 1, 0, 0, 1, "sub", InsnKind.ALU64, 1),
    (0x27, 1, 0, 0, 3, "mul", InsnKind.ALU64, 1),
    (0x37, 1, 0, 0, 3, "div", InsnKind.ALU64, 1),
    (0x47, 1, 0, 0, 3, "or", InsnKind.ALU64, 1),
    (0x57, 1, 0, 0, 3, "and", InsnKind.ALU64, 1),
    (0x67, 1, 0, 0, 3, "lsh", InsnKind.ALU64, 1),
    (0x77, 1, 0, 0, 3, "rsh", InsnKind.ALU64, 1),
    (0x87, 1, 0, 0, 0, "neg", InsnKind.ALU64, 1),
    (0x97, 1, 0, 0, 3, "mod", InsnKind.ALU64, 1),
    (0xA7, 1, 0, 0, 3, "xor", InsnKind.ALU64, 1),
    (0xB7, 1, 0, 0, 3, "mov", InsnKind.ALU64, 1),
    (0xBC, 1, 2, 0, 0, "mov32", InsnKind.ALU, 1),
    (0xC7, 1, 0, 0, 3, "arsh", InsnKind.ALU64, 1),
    (0xD4, 1, 0, 0, 16, "le16", InsnKind.ALU, 1),
    (0xDC, 1, 0, 0, 32, "be32", InsnKind.ALU, 1),
    # v4 ALU
    (0xBF, 1, 2, 8, 0, "movsx", InsnKind.ALU64, 4),
    (0xBF, 1, 2, 32, 0, "movsx", InsnKind.ALU64, 4),
    (0xBC, 1, 2, 16, 0, "movsx32", InsnKind.ALU, 4),
    (0x3F, 1, 2, 1, 0, "sdiv", InsnKind.ALU64, 4),
    (0x94, 1, 0, 1, 7, "smod32", InsnKind.ALU, 4),
    (0xD7, 1, 0, 0, 64, "bswap64", InsnKind.ALU64, 4),
    # arena
    (0xBF, 1, 2, 1, 1, "addr_space_cast", InsnKind.ALU64, 1),
    # JMP
    (0x05, 0, 0, 3, 0, "ja", InsnKind.JUMP, 1),
    (0x15, 1, 0, 3, 0, "jeq", InsnKind.JUMP, 1),
    (0x1D, 1, 2, 3, 0, "jeq", InsnKind.JUMP, 1),
    (0x25, 1, 0, 3, 0, "jgt", InsnKind.JUMP, 1),
    (0x35, 1, 0, 3, 0, "jge", InsnKind.JUMP, 1),
    (0x45, 1, 0, 3, 0, "jset", InsnKind.JUMP, 1),
    (0x55, 1, 0, 3, 0, "jne", InsnKind.JUMP, 1),
    (0x65, 1, 0, 3, 0, "jsgt", InsnKind.JUMP, 1),
    (0x75, 1, 0, 3, 0, "jsge", InsnKind.JUMP, 1),
    (0xA5, 1, 0, 3, 0, "jlt", InsnKind.JUMP, 2),
    (0xB5, 1, 0, 3, 0, "jle", InsnKind.JUMP, 2),
    (0xC5, 1, 0, 3, 0, "jslt", InsnKind.JUMP, 2),
    (0xDD, 1, 2, 3, 0, "jsle", InsnKind.JUMP, 2),
    (0xE5, 0, 0, 3, 0, "may_goto", InsnKind.MAY_GOTO, 1),
    (0x95, 0, 0, 0, 0, "exit", InsnKind.EXIT, 1),
    (0x85, 0, 0, 0, 1, "call", InsnKind.CALL_HELPER, 1),
    (0x85, 0, 1, 0, 4, "call", InsnKind.CALL_SUBPROG, 1),
    (0x85, 0, 2, 0, 0, "call", InsnKind.CALL_KFUNC, 1),
    (0x8D, 1, 0, 0, 0, "callx", InsnKind.CALLX, 1),
    # JMP32
    (0x16, 1, 0, 3, 0, "jeq32", InsnKind.JUMP32, 3),
    (0xAE, 1, 2, 3, 0, "jlt32", InsnKind.JUMP32, 3),
    (0x06, 0, 0, 0, 100000, "gotol", InsnKind.JUMP32, 4),
    # loads and stores
    (0x61, 1, 2, 4, 0, "ldxw", InsnKind.LOAD, 1),
    (0x69, 1, 2, 4, 0, "ldxh", InsnKind.LOAD, 1),
    (0x71, 1, 2, 4, 0, "ldxb", InsnKind.LOAD, 1),
    (0x79, 1, 2, 4, 0, "ldxdw", InsnKind.LOAD, 1),
    (0x81, 1, 2, 4, 0, "ldsxw", InsnKind.LOAD, 4),
    (0x89, 1, 2, 4, 0, "ldsxh", InsnKind.LOAD, 4),
    (0x91, 1, 2, 4, 0, "ldsxb", InsnKind.LOAD, 4),
    (0x62, 10, 0, -4, 7, "stw", InsnKind.STORE_IMM, 1),
    (0x7A, 10, 0, -8, 7, "stdw", InsnKind.STORE_IMM, 1),
    (0x63, 10, 1, -4, 0, "stxw", InsnKind.STORE, 1),
    (0x7B, 10, 1, -8, 0, "stxdw", InsnKind.STORE, 1),
    (0x20, 0, 0, 0, 12, "ld_absw", InsnKind.LD_ABS, 1),
    (0x48, 0, 1, 0, 0, "ld_indh", InsnKind.LD_IND, 1),
    # atomics
    (0xDB, 1, 2, 0, 0x00, "atomic_adddw", InsnKind.ATOMIC, 1),
    (0xC3, 1, 2, 0, 0x00, "atomic_addw", InsnKind.ATOMIC, 1),
    (0xDB, 1, 2, 0, 0x01, "atomic_fetch_adddw", InsnKind.ATOMIC, 3),
    (0xDB, 1, 2, 0, 0x40, "atomic_ordw", InsnKind.ATOMIC, 3),
    (0xC3, 1, 2, 0, 0x51, "atomic_fetch_andw", InsnKind.ATOMIC, 3),
    (0xDB, 1, 2, 0, 0xA1, "atomic_fetch_xordw", InsnKind.ATOMIC, 3),
    (0xDB, 1, 2, 0, 0xE1, "xchgdw", InsnKind.ATOMIC, 3),
    (0xC3, 1, 2, 0, 0xF1, "cmpxchgw", InsnKind.ATOMIC, 3),
    (0xD3, 1, 2, 0, 0x100, "load_acquireb", InsnKind.ATOMIC, 4),
    (0xDB, 1, 2, 0, 0x110, "store_releasedw", InsnKind.ATOMIC, 4),
]


@pytest.mark.parametrize(("code", "dst", "src", "off", "imm", "mnemonic", "kind", "isa"), CASES)
def test_decode_one(code, dst, src, off, imm, mnemonic, kind, isa):
    insn = one(code, dst, src, off, imm)
    assert insn.mnemonic == mnemonic
    assert insn.kind is kind
    assert insn.isa == isa
    assert (insn.dst, insn.src, insn.off, insn.imm) == (dst, src, off, imm)
    if isa > 1:
        assert insn.isa_reason


@pytest.mark.parametrize(
    ("code", "src", "off", "imm", "why"),
    [
        (0xE7, 0, 0, 0, "unknown ALU op"),  # 0xe0 is not an ALU op
        (0xF5, 0, 0, 0, "unknown jump op"),
        (0x86, 0, 0, 0, "JMP32"),  # call in JMP32
        (0x96, 0, 0, 0, "JMP32"),  # exit in JMP32
        (0x85, 3, 0, 0, "src_reg 3"),
        (0xB7, 0, 3, 0, "offset 3"),
        (0xD4, 0, 0, 7, "width 7"),
        (0x99, 0, 0, 0, "LDX"),  # ldsx dw does not exist
        (0xC3, 0, 0, 0x33, "atomic op"),
        (0xCB, 0, 0, 0x01, "size"),  # fetch-add on bytes
        (0x00, 0, 0, 0, "LD opcode"),
        (0xE5, 1, 0, 0, "jcond"),
    ],
)
def test_invalid_opcodes(code, src, off, imm, why):
    insn = one(code, 1, src, off, imm)
    assert insn.kind is InsnKind.INVALID
    assert insn.problem is not None and why in insn.problem


def test_ld_imm64_pair_and_pseudo_names():
    first = encode(0x18, 1, 1, 0, 0x1234)
    second = struct.pack("<BBhi", 0, 0, 0, 0x1)
    insns = decode(first + second + encode(0x95))
    assert [i.kind for i in insns] == [InsnKind.LD_IMM64, InsnKind.EXIT]
    assert insns[0].imm64 == 0x1_0000_1234
    assert insns[0].slots == 2
    assert insns[0].pseudo == "map_fd"
    assert insns[1].idx == 2
    for src, name in [(0, "imm64"), (2, "map_value"), (3, "btf_id"), (4, "func"), (5, "map_idx"),
                      (6, "map_idx_value")]:
        assert decode(encode(0x18, 1, src) + second)[0].pseudo == name


def test_ld_imm64_truncated_or_bad_second_half():
    lone = decode(encode(0x18, 1, 0, 0, 1))
    assert lone[0].kind is InsnKind.INVALID
    bad = decode(encode(0x18, 1, 0, 0, 1) + encode(0x07, 1, 0, 0, 1))
    assert bad[0].kind is InsnKind.INVALID and "second half" in (bad[0].problem or "")


def test_trailing_bytes_become_invalid():
    insns = decode(encode(0x95) + b"\x01\x02\x03")
    assert insns[-1].kind is InsnKind.INVALID
    assert "trailing" in (insns[-1].problem or "")


def test_helper_names_and_call_targets():
    call = one(0x85, imm=1)
    assert call.helper_name == "bpf_map_lookup_elem"
    assert call.text() == "call bpf_map_lookup_elem"
    assert one(0x85, imm=999999).helper_name is None
    sub = decode(encode(0x07) * 3 + encode(0x85, 0, 1, 0, -3))[3]
    assert sub.call_target == 1
    jump = decode(encode(0x05, off=2))[0]
    assert jump.call_target == 3
    gotol = decode(encode(0x06, imm=5))[0]
    assert gotol.call_target == 6


def test_big_endian_register_nibbles():
    # Big-endian objects put dst_reg in the high nibble (bitfield order), and
    # off/imm are big-endian.
    raw = struct.pack(">BBhi", 0xBF, (3 << 4) | 7, 0, 0)
    insn = decode(raw, big_endian=True)[0]
    assert (insn.dst, insn.src) == (3, 7)
    raw = struct.pack(">BBhi", 0x85, 0x00, 0, 6)
    assert decode(raw, big_endian=True)[0].helper_name == "bpf_trace_printk"


def test_min_isa_reports_first_insn_forcing_the_level():
    code = encode(0x07) + encode(0xA5, 1, 0, 1) + encode(0x16, 1) + encode(0x16, 2) + encode(0x95)
    level = min_isa([("xdp", decode(code))])
    assert level.name == "v3"
    assert level.insn is not None and level.insn.idx == 2
    assert level.section == "xdp"
    assert min_isa([("a", decode(encode(0x95)))]).name == "v1"
    v4 = min_isa([("a", decode(encode(0x16))), ("b", decode(encode(0xD7, imm=16)))])
    assert (v4.name, v4.section) == ("v4", "b")


def test_alu32_alone_stays_v1():
    # clang -mcpu=v3 implies alu32, but the ALU class is as old as eBPF itself
    code = encode(0x04, 1, 0, 0, 1) + encode(0xBC, 1, 2) + encode(0x95)
    assert min_isa([("s", decode(code))]).name == "v1"
