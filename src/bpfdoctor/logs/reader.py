"""Read a log from a file or stdin as bounded lines, whatever bytes it holds.

Why not ``open(path).read()``: users paste gigabyte level-2 logs and 10 MB single lines. The
input is read in 1 MiB blocks, decoded incrementally (invalid UTF-8 is replaced, never
raised), split into lines, and handed over a block at a time (a generator per line would cost
more than the scanning). Each line is capped at ``MAX_LINE`` characters; the rest of an
over-long line is dropped as it streams past, never kept. A file with NUL bytes in its first
KiB is refused as binary with one clear line.
"""

from __future__ import annotations

import codecs
import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from bpfdoctor.errors import InputError

MAX_LINE = 64 * 1024
BINARY_SNIFF = 1024
BLOCK = 1 << 20


@dataclass(slots=True)
class ReadStats:
    """Counters the reader keeps while streaming (mutable: filled as blocks are read)."""

    lines: int = 0
    bytes: int = 0
    long_lines: int = 0


@contextmanager
def open_log(source: str | Path) -> Iterator[BinaryIO]:
    """Open ``source`` (a path, or ``-`` for stdin) for reading; InputError when it cannot be."""
    name = str(source)
    if name == "-":
        yield sys.stdin.buffer
        return
    path = Path(source)
    if path.is_dir():
        raise InputError(f"{name}: is a directory, not a log file")
    try:
        raw = path.open("rb")
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot read: {exc.strerror}") from None
    with raw:
        yield raw


def iter_blocks(
    stream: BinaryIO,
    stats: ReadStats,
    name: str = "<input>",
    max_line: int = MAX_LINE,
    block: int = BLOCK,
) -> Iterator[list[str]]:
    """Lists of lines (no newlines, each at most ``max_line`` characters) in input order."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    carry = ""
    skipping = False  # inside the dropped tail of an over-long line
    first = True
    while True:
        data = stream.read(block)
        if first:
            first = False
            if b"\x00" in data[:BINARY_SNIFF]:
                raise InputError(f"{name}: binary file (NUL bytes), not a log; pass the text output")
        stats.bytes += len(data)
        final = not data
        text = carry + decoder.decode(data, final)
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        lines = text.split("\n")
        carry = lines.pop()
        if skipping and lines:
            lines.pop(0)  # the end of the over-long line
            skipping = False
        if len(carry) > max_line:
            if not skipping:
                lines.append(carry[:max_line])
                stats.long_lines += 1
            skipping = True
            carry = ""
        elif skipping:
            carry = ""
        if lines and max(map(len, lines)) > max_line:
            stats.long_lines += sum(1 for line in lines if len(line) > max_line)
            lines = [line[:max_line] for line in lines]
        if final and carry and not skipping:
            lines.append(carry)
        stats.lines += len(lines)
        if lines:
            yield lines
        if final:
            return


def blocks_of(
    text: str, stats: ReadStats, name: str = "<input>", max_line: int = MAX_LINE
) -> Iterator[list[str]]:
    """The same contract as ``iter_blocks`` for text already in memory."""
    data = io.BytesIO(text.encode("utf-8", "replace"))
    return iter_blocks(data, stats, name=name, max_line=max_line)
