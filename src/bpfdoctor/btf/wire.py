"""Wire layouts of BTF and .BTF.ext, named after ``include/uapi/linux/btf.h`` and libbpf's
``libbpf_internal.h`` (``btf_ext_header``, ``bpf_func_info_min``...).

Only constants and ``struct`` formats live here; the decoder and the builder both use them, so
one table says how big each kind's trailing data is.
"""

from __future__ import annotations

import struct
from typing import Final, Literal

Endian = Literal["little", "big"]

BTF_MAGIC: Final = 0xEB9F
BTF_VERSION: Final = 1

# struct btf_header { __u16 magic; __u8 version; __u8 flags; __u32 hdr_len;
#                     __u32 type_off; __u32 type_len; __u32 str_off; __u32 str_len; }
BTF_HEADER_FMT: Final = "HBBIIIII"
BTF_HEADER_SIZE: Final = struct.calcsize("<" + BTF_HEADER_FMT)  # 24

# struct btf_type { __u32 name_off; __u32 info; union { __u32 size; __u32 type; }; }
BTF_TYPE_SIZE: Final = 12

BTF_KIND_UNKN: Final = 0
BTF_KIND_INT: Final = 1
BTF_KIND_PTR: Final = 2
BTF_KIND_ARRAY: Final = 3
BTF_KIND_STRUCT: Final = 4
BTF_KIND_UNION: Final = 5
BTF_KIND_ENUM: Final = 6
BTF_KIND_FWD: Final = 7
BTF_KIND_TYPEDEF: Final = 8
BTF_KIND_VOLATILE: Final = 9
BTF_KIND_CONST: Final = 10
BTF_KIND_RESTRICT: Final = 11
BTF_KIND_FUNC: Final = 12
BTF_KIND_FUNC_PROTO: Final = 13
BTF_KIND_VAR: Final = 14
BTF_KIND_DATASEC: Final = 15
BTF_KIND_FLOAT: Final = 16
BTF_KIND_DECL_TAG: Final = 17
BTF_KIND_TYPE_TAG: Final = 18
BTF_KIND_ENUM64: Final = 19
NR_BTF_KINDS: Final = 20
BTF_KIND_MAX: Final = NR_BTF_KINDS - 1

# Limits libbpf enforces (btf.c): BTF_MAX_NR_TYPES, BTF_MAX_STR_OFFSET.
BTF_MAX_NR_TYPES: Final = 0x7FFFFFFF
BTF_MAX_STR_OFFSET: Final = 0x7FFFFFFF
BTF_MAX_VLEN: Final = 0xFFFF


def btf_info_kind(info: int) -> int:
    """BTF_INFO_KIND(): bits 24-28 of btf_type.info."""
    return (info >> 24) & 0x1F


def btf_info_vlen(info: int) -> int:
    """BTF_INFO_VLEN(): bits 0-15 of btf_type.info."""
    return info & 0xFFFF


def btf_info_kflag(info: int) -> bool:
    """BTF_INFO_KFLAG(): bit 31 of btf_type.info."""
    return bool(info >> 31)


def btf_info(kind: int, vlen: int, kflag: bool) -> int:
    """BTF_INFO_ENC()."""
    return (int(kflag) << 31) | ((kind & 0x1F) << 24) | (vlen & 0xFFFF)


# Trailing data after struct btf_type, in 32-bit words: fixed part + per-vlen part.
#   INT: __u32 encoding; ARRAY: struct btf_array {type, index_type, nelems};
#   STRUCT/UNION: btf_member {name_off, type, offset}[vlen]; ENUM: btf_enum {name_off, val}[vlen];
#   FUNC_PROTO: btf_param {name_off, type}[vlen]; VAR: btf_var {linkage};
#   DATASEC: btf_var_secinfo {type, offset, size}[vlen]; DECL_TAG: btf_decl_tag {component_idx};
#   ENUM64: btf_enum64 {name_off, val_lo32, val_hi32}[vlen].
KIND_FIXED_WORDS: Final = (0, 1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0)
KIND_VLEN_WORDS: Final = (0, 0, 0, 0, 3, 3, 2, 0, 0, 0, 0, 0, 0, 2, 0, 3, 0, 0, 0, 3)

# BTF_INT_ENCODING(), BTF_INT_OFFSET(), BTF_INT_BITS() and the encoding flags.
BTF_INT_SIGNED: Final = 1 << 0
BTF_INT_CHAR: Final = 1 << 1
BTF_INT_BOOL: Final = 1 << 2


def btf_int_encoding(word: int) -> int:
    return (word & 0x0F000000) >> 24


def btf_int_offset(word: int) -> int:
    return (word & 0x00FF0000) >> 16


def btf_int_bits(word: int) -> int:
    return word & 0x000000FF


def btf_int_word(encoding: int, offset: int, bits: int) -> int:
    return ((encoding & 0x0F) << 24) | ((offset & 0xFF) << 16) | (bits & 0xFF)


# btf_member.offset when the composite has kflag set: BTF_MEMBER_BITFIELD_SIZE / _BIT_OFFSET.
def btf_member_bitfield_size(offset: int) -> int:
    return offset >> 24


def btf_member_bit_offset(offset: int) -> int:
    return offset & 0xFFFFFF


# enum btf_func_linkage and the btf_var linkage values.
BTF_FUNC_STATIC: Final = 0
BTF_FUNC_GLOBAL: Final = 1
BTF_FUNC_EXTERN: Final = 2
BTF_VAR_STATIC: Final = 0
BTF_VAR_GLOBAL_ALLOCATED: Final = 1
BTF_VAR_GLOBAL_EXTERN: Final = 2

# .BTF.ext (libbpf_internal.h struct btf_ext_header): magic, version, flags, hdr_len,
# func_info_off/len, line_info_off/len; core_relo_off/len only when hdr_len >= 32.
BTF_EXT_HEADER_FMT: Final = "HBBIIIII"
BTF_EXT_HEADER_MIN: Final = struct.calcsize("<" + BTF_EXT_HEADER_FMT)  # 24
BTF_EXT_HEADER_CORE: Final = BTF_EXT_HEADER_MIN + 8  # 32
# Minimum record sizes (bpf_func_info_min, bpf_line_info_min, bpf_core_relo).
FUNC_INFO_MIN_SIZE: Final = 8
LINE_INFO_MIN_SIZE: Final = 16
CORE_RELO_MIN_SIZE: Final = 16
# struct btf_ext_info_sec { __u32 sec_name_off; __u32 num_info; }
BTF_EXT_INFO_SEC_SIZE: Final = 8
BPF_INSN_SIZE: Final = 8


def bpf_line_info_line_num(line_col: int) -> int:
    return line_col >> 10


def bpf_line_info_line_col(line_col: int) -> int:
    return line_col & 0x3FF


def endian_prefix(endian: Endian) -> str:
    return "<" if endian == "little" else ">"
