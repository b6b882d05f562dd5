"""Read a log from a file or stdin as bounded lines, whatever bytes it holds.

Why not ``open(path).read()``: users paste gigabyte level-2 logs and 10 MB single lines. The
input is read in 1 MiB blocks, decoded incrementally (invalid UTF-8 is replaced, never
raised), split into lines, and handed over a block at a time (a generator per line would cost
more than the scanning). Each line is capped at ``MAX_LINE`` characters; the rest of an
over-long line is dropped as it streams past, never kept.

Only a regular file or ``-`` (stdin) is read: a FIFO would block ``open()`` until a writer
appears and a device such as ``/dev/urandom`` never ends, so both are refused before they are
opened (and checked again on the opened descriptor, so a swap in between changes nothing).
Stdin keeps streaming, so it cannot be refused by kind; instead every block is checked: NUL
bytes in the first KiB, or more than ``BINARY_RATIO`` control bytes in any block, end the read
with one clear line ("binary data"), so ``explain - < /dev/urandom`` stops after a block.
"""

from __future__ import annotations

import codecs
import io
import os
import stat
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
# Bytes that do not occur in text: C0 controls other than tab, newline, vertical tab, form
# feed, carriage return and ESC (colour codes in captured terminal output), plus DEL. Random
# data has about 10.5% of them; a verifier or loader log has none.
_CONTROL = bytes([*range(0x00, 0x09), *range(0x0E, 0x1B), *range(0x1C, 0x20), 0x7F])
BINARY_RATIO = 0.02
BINARY_MIN = 64  # a handful of stray control bytes in a short log is not "binary"
_KINDS = ((stat.S_ISFIFO, "FIFO (named pipe)"), (stat.S_ISCHR, "character device"),
          (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket"))


@dataclass(slots=True)
class ReadStats:
    """Counters the reader keeps while streaming (mutable: filled as blocks are read)."""

    lines: int = 0
    bytes: int = 0
    long_lines: int = 0


def _refuse_unless_regular(name: str, mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise InputError(f"{name}: is a directory, not a log file")
    if not stat.S_ISREG(mode):
        kind = next((word for test, word in _KINDS if test(mode)), "special file")
        raise InputError(f"{name}: is a {kind}, not a regular file; "
                         "save the log to a file or pipe it to 'bpfdoctor explain -'")


@contextmanager
def open_log(source: str | Path) -> Iterator[BinaryIO]:
    """Open ``source`` (a regular file, or ``-`` for stdin) for reading; InputError when it
    cannot be, or is a directory, FIFO, device or socket."""
    name = str(source)
    if name == "-":
        yield sys.stdin.buffer
        return
    try:
        _refuse_unless_regular(name, os.stat(name).st_mode)
        # O_NONBLOCK: should a FIFO replace the file after the stat, open() still returns
        # (and the fstat below refuses it) instead of waiting for a writer.
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot read: {exc.strerror}") from None
    try:
        _refuse_unless_regular(name, os.fstat(fd).st_mode)
        os.set_blocking(fd, True)
        raw = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with raw:
        yield raw


def _check_text(data: bytes, offset: int, name: str) -> None:
    """InputError when ``data`` (read at ``offset``) is binary rather than log text."""
    if offset == 0 and b"\x00" in data[:BINARY_SNIFF]:
        raise InputError(f"{name}: binary file (NUL bytes), not a log; pass the text output")
    controls = len(data) - len(data.translate(None, _CONTROL))
    if controls > max(BINARY_MIN, len(data) * BINARY_RATIO):
        raise InputError(f"{name}: binary data ({controls} control bytes in the "
                         f"{len(data)} bytes from offset {offset}), not a log; "
                         "pass the text output")


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
    while True:
        data = stream.read(block)
        _check_text(data, stats.bytes, name)
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
