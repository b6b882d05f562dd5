"""BTF and .BTF.ext: parse, index, decode lazily, describe and resolve CO-RE relocations.

Pure: bytes in, model out. Nothing here reads the host; callers pass the bytes of
``/sys/kernel/btf/vmlinux`` or an object's ``.BTF`` section.
"""

from bpfdoctor.btf.builder import BtfBuilder
from bpfdoctor.btf.cdecl import c_type
from bpfdoctor.btf.core import CoreAccessor, CoreRelo, CoreReloKind, CoreSpec, describe
from bpfdoctor.btf.decoder import Btf
from bpfdoctor.btf.ext import BtfExt, FuncInfo, LineInfo
from bpfdoctor.btf.relocate import POISON_IMM, CoreResult, calc_relo, calc_relos
from bpfdoctor.btf.sanitize import SanitizedBtf, sanitize
from bpfdoctor.btf.types import (
    BtfArray,
    BtfEnumValue,
    BtfIntEncoding,
    BtfKind,
    BtfLinkage,
    BtfMember,
    BtfParam,
    BtfType,
    BtfVarSecinfo,
)

__all__ = [
    "POISON_IMM",
    "Btf",
    "BtfArray",
    "BtfBuilder",
    "BtfEnumValue",
    "BtfExt",
    "BtfIntEncoding",
    "BtfKind",
    "BtfLinkage",
    "BtfMember",
    "BtfParam",
    "BtfType",
    "BtfVarSecinfo",
    "CoreAccessor",
    "CoreRelo",
    "CoreReloKind",
    "CoreResult",
    "CoreSpec",
    "FuncInfo",
    "LineInfo",
    "SanitizedBtf",
    "c_type",
    "calc_relo",
    "calc_relos",
    "describe",
    "sanitize",
]
