"""The vmlinux ELF inside a ``vmlinuz`` (x86 bzImage), and the version string it carries.

A bzImage is real-mode setup code followed by a protected-mode decompressor with the kernel
as a compressed payload. The boot protocol header (Documentation/arch/x86/boot.rst) says where:
``setup_sects`` at 0x1f1, ``HdrS`` at 0x202, ``kernel_version`` at 0x20e and, since protocol
2.08, ``payload_offset``/``payload_length`` at 0x248. When the header is missing (other
architectures' compressed images, a raw ``vmlinux.gz``) the payload is found the way
``scripts/extract-vmlinux`` does: try every compression magic until one yields an ELF.

Pure: bytes in, bytes out.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from bpfdoctor.errors import InputError
from bpfdoctor.offline import decompress as dz

ELF_MAGIC = b"\x7fELF"
MAX_MAGIC_TRIES = 32


@dataclass(frozen=True, slots=True)
class KernelImage:
    """A decompressed kernel: the vmlinux ELF bytes, how they were packed, and the version
    string from the boot header (``6.1.0-18-amd64 (debian-kernel@...) #1 SMP ...``)."""

    vmlinux: bytes
    compression: str
    version_string: str | None


def _setup_header(data: bytes) -> tuple[int, int, str | None] | None:
    """(payload start, payload length, version string) from a bzImage boot header."""
    if len(data) < 0x250 or data[0x202:0x206] != b"HdrS":
        return None
    protocol = struct.unpack_from("<H", data, 0x206)[0]
    setup_sects = data[0x1F1] or 4
    pm_start = (setup_sects + 1) * 512
    version = None
    ver_off = struct.unpack_from("<H", data, 0x20E)[0]
    if ver_off:
        raw = data[ver_off + 0x200: ver_off + 0x200 + 256].split(b"\0", 1)[0]
        version = raw.decode("ascii", "replace").strip() or None
    if protocol < 0x208:
        return pm_start, len(data) - pm_start, version
    offset, length = struct.unpack_from("<II", data, 0x248)
    start = pm_start + offset
    if not length or start + length > len(data):
        raise InputError(f"bzImage payload at {start}+{length} lies outside the "
                         f"{len(data)}-byte file (truncated?)")
    return start, length, version


def extract_vmlinux(data: bytes, what: str = "vmlinuz") -> KernelImage:
    """The vmlinux ELF inside a compressed kernel image (or the image itself when it is
    already an ELF)."""
    if data.startswith(ELF_MAGIC):
        return KernelImage(data, "none", None)
    header = _setup_header(data)
    if header is not None:
        start, length, version = header
        payload = data[start:start + length]
        fmt = dz.detect(payload)
        if fmt is None:
            raise InputError(f"{what}: bzImage payload has no known compression magic "
                             f"(starts {payload[:6].hex()})")
        out = dz.decompress(payload, fmt, f"{what} ({fmt} payload)")
        if not out.startswith(ELF_MAGIC):
            raise InputError(f"{what}: the {fmt} payload is not an ELF vmlinux")
        return KernelImage(out, fmt, version)
    return _scan_for_payload(data, what)


def _scan_for_payload(data: bytes, what: str) -> KernelImage:
    tries = 0
    for magic, fmt in dz.MAGICS:
        pos = data.find(magic)
        while pos >= 0 and tries < MAX_MAGIC_TRIES:
            tries += 1
            # 2 MiB holds a whole bzip2 block (<= 900 kB before compression): enough to decode the
            # first bytes in every format
            head = dz.peek(data[pos:pos + (2 << 20)], fmt, len(ELF_MAGIC))
            if head is not None and not head.startswith(ELF_MAGIC):
                pos = data.find(magic, pos + 1)
                continue
            try:
                out = dz.decompress(data[pos:], fmt, what)
            except InputError:
                out = b""
            if out.startswith(ELF_MAGIC):
                return KernelImage(out, fmt, None)
            pos = data.find(magic, pos + 1)
    raise InputError(f"{what}: not a kernel image (no bzImage header and no compressed ELF "
                     "payload found)")
