"""Decompressors for kernel payloads and compressed modules, bounded against bombs.

xz, gzip, bzip2 and lzma come with Python; zstd and lz4 only when the ``zstandard`` /
``lz4`` packages are installed (the error says so). Each call stops at ``limit`` output bytes,
so a hostile file cannot make us allocate gigabytes.
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from collections.abc import Callable
from typing import Any

from bpfdoctor.errors import InputError

# A distribution kernel's decompressed vmlinux (with .BTF) is 60-80 MB; modules are smaller.
# Decompressing to the cap costs about twice the cap in RSS (the output buffer grows), so
# 256 MiB keeps a bomb well inside the 1.5 GB the hostile-input tests allow.
MAX_OUTPUT = 256 << 20

# magic -> format name, checked in this order (the kernel's own list, scripts/extract-vmlinux)
MAGICS: tuple[tuple[bytes, str], ...] = (
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x1f\x8b\x08", "gzip"),
    (b"(\xb5/\xfd", "zstd"),
    (b"BZh", "bzip2"),
    (b"\x02!L\x18", "lz4"),
    (b"\x5d\x00\x00", "lzma"),
)


def detect(data: bytes) -> str | None:
    """Format name of ``data`` by its leading magic, or None."""
    for magic, name in MAGICS:
        if data.startswith(magic):
            return name
    return None


def _stream(decomp: Any, data: bytes, limit: int, what: str) -> bytes:
    out = decomp.decompress(data, limit + 1)
    if len(out) > limit:
        raise InputError(f"{what}: decompresses to more than {limit >> 20} MiB")
    return bytes(out)


def _xz(data: bytes, limit: int, what: str) -> bytes:
    return _stream(lzma.LZMADecompressor(lzma.FORMAT_XZ), data, limit, what)


def _lzma(data: bytes, limit: int, what: str) -> bytes:
    return _stream(lzma.LZMADecompressor(lzma.FORMAT_ALONE), data, limit, what)


def _bzip2(data: bytes, limit: int, what: str) -> bytes:
    return _stream(bz2.BZ2Decompressor(), data, limit, what)


def _gzip(data: bytes, limit: int, what: str) -> bytes:
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = d.decompress(data, limit + 1)
    if len(out) > limit:
        raise InputError(f"{what}: decompresses to more than {limit >> 20} MiB")
    return out


def _zstd(data: bytes, limit: int, what: str) -> bytes:
    try:
        import zstandard  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise InputError(f"{what}: zstd-compressed; install the 'zstandard' Python package "
                         "(or decompress it first: unzstd)") from None
    d = zstandard.ZstdDecompressor().decompressobj()
    out: bytes = d.decompress(data)
    if len(out) > limit:
        raise InputError(f"{what}: decompresses to more than {limit >> 20} MiB")
    return out


def _lz4(data: bytes, limit: int, what: str) -> bytes:
    del data, limit
    raise InputError(f"{what}: lz4-compressed (legacy kernel format), which bpfdoctor cannot "
                     "decompress; extract the vmlinux first (scripts/extract-vmlinux) and pass "
                     "--vmlinux")


_DECODERS: dict[str, Callable[[bytes, int, str], bytes]] = {
    "xz": _xz, "gzip": _gzip, "zstd": _zstd, "bzip2": _bzip2, "lz4": _lz4, "lzma": _lzma,
}


_PEEKERS: dict[str, Callable[[], Any]] = {
    "xz": lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ),
    "lzma": lambda: lzma.LZMADecompressor(lzma.FORMAT_ALONE),
    "bzip2": bz2.BZ2Decompressor,
    "gzip": lambda: zlib.decompressobj(16 + zlib.MAX_WBITS),
}


def peek(data: bytes, fmt: str, n: int) -> bytes | None:
    """The first ``n`` bytes ``data`` decompresses to (fewer when it is corrupt), or None
    when ``fmt`` cannot be decompressed partially. Scanning a file for a payload tries many
    candidate offsets: each is judged by its first bytes, not by inflating all of it."""
    make = _PEEKERS.get(fmt)
    if make is None:
        return None
    try:
        out: bytes = make().decompress(data, n)
    except (lzma.LZMAError, OSError, EOFError, zlib.error, ValueError):
        return b""
    return out


def decompress(data: bytes, fmt: str, what: str, limit: int = MAX_OUTPUT) -> bytes:
    """Decompress one stream of ``fmt``; trailing bytes after the stream are ignored (the
    kernel appends the uncompressed size). Corrupt data is one InputError line."""
    try:
        return _DECODERS[fmt](data, limit, what)
    except InputError:
        raise
    except (lzma.LZMAError, OSError, EOFError, zlib.error, ValueError) as exc:
        raise InputError(f"{what}: corrupt {fmt} data ({exc})") from None
