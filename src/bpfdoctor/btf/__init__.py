"""BTF and .BTF.ext: parse, index, decode lazily, describe and resolve CO-RE relocations.

Pure: bytes in, model out. Nothing here reads the host; callers pass the bytes of
``/sys/kernel/btf/vmlinux`` or an object's ``.BTF`` section.

Names are imported on first use (PEP 562 ``__getattr__``), so ``from bpfdoctor.btf import Btf``
does not pay for the CO-RE resolver, the .BTF.ext parser or the builder.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Eager on purpose: the submodule ``sanitize`` and the function ``sanitize`` share a name. Were
# the module first imported after this package (``from bpfdoctor.btf.sanitize import ...``),
# the import system would bind the package attribute to the module and hide the function.
from bpfdoctor.btf.sanitize import SanitizedBtf, sanitize

if TYPE_CHECKING:
    from bpfdoctor.btf.builder import BtfBuilder
    from bpfdoctor.btf.cdecl import c_type
    from bpfdoctor.btf.core import CoreAccessor, CoreRelo, CoreReloKind, CoreSpec, describe
    from bpfdoctor.btf.decoder import Btf
    from bpfdoctor.btf.ext import BtfExt, FuncInfo, LineInfo
    from bpfdoctor.btf.relocate import POISON_IMM, CoreResult, calc_relo, calc_relos
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

_EXPORTS = {
    "BtfBuilder": "builder",
    "c_type": "cdecl",
    "CoreAccessor": "core",
    "CoreRelo": "core",
    "CoreReloKind": "core",
    "CoreSpec": "core",
    "describe": "core",
    "Btf": "decoder",
    "BtfExt": "ext",
    "FuncInfo": "ext",
    "LineInfo": "ext",
    "POISON_IMM": "relocate",
    "CoreResult": "relocate",
    "calc_relo": "relocate",
    "calc_relos": "relocate",
    "BtfArray": "types",
    "BtfEnumValue": "types",
    "BtfIntEncoding": "types",
    "BtfKind": "types",
    "BtfLinkage": "types",
    "BtfMember": "types",
    "BtfParam": "types",
    "BtfType": "types",
    "BtfVarSecinfo": "types",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'bpfdoctor.btf' has no attribute {name!r}")
    mod = importlib.import_module(f"bpfdoctor.btf.{module}")
    # Bind every name of that module at once.
    for export, where in _EXPORTS.items():
        if where == module:
            globals()[export] = getattr(mod, export)
    return globals()[name]


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_EXPORTS))


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
