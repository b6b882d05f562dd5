"""Module BTF: the ``.BTF`` section of each ``.ko`` (plain, ``.xz``, ``.gz`` or ``.zst``),
split on the vmlinux BTF, named as ``/sys/kernel/btf/<module>`` would name it.

Pure: one module's bytes in, its name and validated split BTF out. Walking a directory is
the caller's job (:mod:`bpfdoctor.offline.fromkernel`).
"""

from __future__ import annotations

from dataclasses import dataclass

from bpfdoctor.btf import Btf
from bpfdoctor.errors import BpfDoctorError, InputError
from bpfdoctor.offline import decompress as dz
from bpfdoctor.offline.elfimage import read_elf

SUFFIXES = {".ko": None, ".ko.xz": "xz", ".ko.gz": "gzip", ".ko.zst": "zstd"}
MAX_MODULE_BYTES = 256 << 20


@dataclass(frozen=True, slots=True)
class ModuleBtf:
    """One module's split BTF (``btf`` is None when the module carries none)."""

    name: str
    btf: bytes | None
    vermagic: str | None


def module_suffix(filename: str) -> str | None:
    """The module suffix of ``filename`` (``.ko.xz``...), or None when it is not a module."""
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if filename.endswith(suffix) and len(filename) > len(suffix):
            return suffix
    return None


def name_from_filename(filename: str) -> str:
    """``snd-hda-intel.ko.xz`` -> ``snd_hda_intel`` (the kernel turns '-' into '_')."""
    suffix = module_suffix(filename) or ""
    return filename[: len(filename) - len(suffix)].replace("-", "_")


def read_module(data: bytes, filename: str, base: Btf | None) -> ModuleBtf:
    """Decompress if needed, take ``.BTF`` and check it parses as split BTF on ``base``."""
    suffix = module_suffix(filename)
    fmt = SUFFIXES.get(suffix or "")
    if fmt is not None:
        data = dz.decompress(data, fmt, filename, limit=MAX_MODULE_BYTES)
    image = read_elf(data, filename)
    name = image.module_name() or name_from_filename(filename)
    if image.btf is None:
        return ModuleBtf(name, None, image.vermagic_release())
    if base is not None:
        try:
            Btf.from_bytes(image.btf, base=base, source=filename)
        except BpfDoctorError as exc:
            raise InputError(f"{filename}: .BTF does not parse on the given vmlinux BTF "
                             f"(built for another kernel?): {exc}") from None
    return ModuleBtf(name, image.btf, image.vermagic_release())
