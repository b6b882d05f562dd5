"""Function names from the compressed symbol table built into a kernel image (kallsyms).

Distribution kernels often ship a placeholder ``System.map`` (Debian's says "The real
System.map is in the linux-image-<version>-dbg package"), but every kernel built with
CONFIG_KALLSYMS carries its symbol names in ``.rodata`` in the layout ``scripts/kallsyms.c``
writes (``write_src()``)::

    kallsyms_num_syms   .long N, padded to 8
    kallsyms_names      N entries: length (1 byte, or 2 with the high bit set since 6.1),
                        then that many token indexes; the first character is the nm type
    kallsyms_markers    .long offset of every 256th entry
    [kallsyms_seqs_of_names  3 bytes per symbol, newer kernels and some stable backports]
    kallsyms_token_table     256 NUL-terminated tokens
    kallsyms_token_index     256 u16 offsets into the token table

The labels are stripped from a ``vmlinuz`` payload, so the tables are found by shape (the same
idea as the vmlinux-to-elf tool): the single-character tokens ``0``..``9`` sit next to each
other in the token table, the token index must match the table exactly, and the names must
decode to exactly what the markers say. Nothing is guessed: when any check fails the result
is ``None`` and the caller reports that the function list is unknown.

Pure: bytes in, names out.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

_DIGIT_TOKENS = b"".join(bytes([c]) + b"\0" for c in b"0123456789")
_TYPES = frozenset(b"aAbBdDgGiINnpPrRsStTuUvVwW?")
MAX_SYMS = 4_000_000
MIN_SYMS = 256


@dataclass(frozen=True, slots=True)
class Kallsyms:
    """Decoded symbols: ``(type, name)`` in table order (sorted by address in the kernel)."""

    symbols: tuple[tuple[str, str], ...]
    had_seqs_of_names: bool

    def text_symbols(self) -> frozenset[str]:
        """Names of code symbols (``t``/``T``): what kprobes can target, modulo notrace and
        the kprobe blacklist. Compiler suffixes (``.isra.0``, ``.llvm.<hash>``) are kept."""
        return frozenset(name for typ, name in self.symbols if typ in ("t", "T"))


def _token_table(data: bytes) -> tuple[int, list[str], int] | None:
    """(table start, tokens, end of token_index) of the table whose index matches it."""
    hit = data.find(_DIGIT_TOKENS)
    while hit >= 0:
        found = _table_at_digit_run(data, hit)
        if found is not None:
            return found
        hit = data.find(_DIGIT_TOKENS, hit + 1)
    return None


def _table_at_digit_run(data: bytes, hit: int) -> tuple[int, list[str], int] | None:
    start = hit
    for _ in range(ord("0")):  # the tokens before '0' (index 0x30)
        prev = data.rfind(b"\0", 0, start - 1)
        if prev < 0:
            return None
        start = prev + 1
    tokens: list[str] = []
    offsets: list[int] = []
    pos = start
    for _ in range(256):
        end = data.find(b"\0", pos)
        if end < 0 or end - pos > 64:
            return None
        offsets.append(pos - start)
        tokens.append(data[pos:end].decode("latin-1"))
        pos = end + 1
    for align in (8, 4, 2):
        index_at = (pos + align - 1) & ~(align - 1)
        if index_at + 512 > len(data):
            continue
        if list(struct.unpack_from("<256H", data, index_at)) == offsets:
            return start, tokens, index_at + 512
    return None


def _decode_names(data: bytes, at: int, count: int, tokens: list[str],
                  limit: int) -> tuple[list[tuple[str, str]], list[int], int] | None:
    """Decode ``count`` entries from ``at``; None as soon as an entry is implausible."""
    out: list[tuple[str, str]] = []
    starts: list[int] = []
    pos = at
    for i in range(count):
        if pos >= limit:
            return None
        if i % 256 == 0:
            starts.append(pos - at)
        length = data[pos]
        if length & 0x80:
            length = (length & 0x7F) | (data[pos + 1] << 7)
            pos += 2
        else:
            pos += 1
        if length == 0 or pos + length > limit:
            return None
        text = "".join([tokens[b] for b in data[pos:pos + length]])
        if not text or ord(text[0]) not in _TYPES:
            return None
        out.append((text[0], text[1:]))
        pos += length
    return out, starts, pos


def _markers_match(data: bytes, end: int, starts: list[int], limit: int) -> bool:
    for align in (8, 4):
        at = (end + align - 1) & ~(align - 1)
        if at + 4 * len(starts) > limit:
            continue
        if list(struct.unpack_from(f"<{len(starts)}I", data, at)) == starts:
            return True
    return False


def decode_kallsyms(data: bytes) -> Kallsyms | None:
    """The kernel's symbol table from the bytes of its ``.rodata`` (or the whole image).

    Returns ``None`` when no table passes every consistency check.
    """
    found = _token_table(data)
    if found is None:
        return None
    table_at, tokens, _ = found
    # kallsyms_num_syms is an 8-aligned .long followed by 4 zero bytes (then the names);
    # try candidates backwards from the token table, cheapest test first.
    pos = (table_at & ~7) - 8
    while pos >= 0:
        n, hi = struct.unpack_from("<II", data, pos)
        if hi == 0 and MIN_SYMS <= n <= MAX_SYMS and data[pos + 8] and \
                ord(tokens[data[pos + 9]][:1] or "\0") in _TYPES:
            first = _decode_names(data, pos + 8, min(n, 64), tokens, table_at)
            if first is not None:
                whole = _decode_names(data, pos + 8, n, tokens, table_at)
                if whole is not None and _markers_match(data, whole[2], whole[1], table_at):
                    symbols, starts, end = whole
                    markers_end = end + 4 * len(starts)
                    seqs = table_at - markers_end >= 3 * n
                    return Kallsyms(tuple(symbols), seqs)
        pos -= 8
    return None
