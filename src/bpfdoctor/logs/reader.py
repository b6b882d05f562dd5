"""Read a log from a file or stdin as bounded lines, whatever bytes it holds.

Why not ``open(path).read()``: users paste gigabyte level-2 logs and 10 MB single lines. Lines
are streamed, each capped at ``MAX_LINE`` characters (the rest of an over-long line is skipped,
not kept), invalid UTF-8 is replaced instead of raising, and a file with NUL bytes in its first
KiB is refused as binary with one clear line.
"""

from __future__ import annotations

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
_BUFFER = 1 << 20


@dataclass(slots=True)
class ReadStats:
    """Counters the reader keeps while streaming (mutable: filled as lines are read)."""

    lines: int = 0
    chars: int = 0
    long_lines: int = 0


class _Prefixed(io.RawIOBase):
    """A raw stream that yields ``head`` (already read for sniffing) and then the rest."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(buffer))
        if not data:
            return 0
        buffer[: len(data)] = data
        return len(data)


def _text(raw: BinaryIO, name: str) -> io.TextIOWrapper:
    head = raw.read(BINARY_SNIFF)
    if b"\x00" in head:
        raise InputError(f"{name}: binary file (NUL bytes), not a log; pass the text output")
    buffered = io.BufferedReader(_Prefixed(head, raw), buffer_size=_BUFFER)
    return io.TextIOWrapper(buffered, encoding="utf-8", errors="replace", newline=None)


@contextmanager
def open_log(source: str | Path) -> Iterator[io.TextIOWrapper]:
    """Open ``source`` (a path, or ``-`` for stdin) as text; InputError when it cannot be."""
    name = str(source)
    if name == "-":
        yield _text(sys.stdin.buffer, "<stdin>")
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
        yield _text(raw, name)


def iter_lines(stream: io.TextIOBase, stats: ReadStats, max_line: int = MAX_LINE) -> Iterator[str]:
    """Lines without their newline, each at most ``max_line`` characters long."""
    readline = stream.readline
    while True:
        line = readline(max_line)
        if not line:
            return
        stats.lines += 1
        stats.chars += len(line)
        if line.endswith("\n"):
            yield line[:-1]
            continue
        if len(line) >= max_line:
            stats.long_lines += 1
            while True:
                rest = readline(max_line)
                stats.chars += len(rest)
                if not rest or rest.endswith("\n"):
                    break
        yield line


def lines_of(text: str, stats: ReadStats, max_line: int = MAX_LINE) -> Iterator[str]:
    """The same contract as ``iter_lines`` for text already in memory."""
    return iter_lines(io.StringIO(text, newline=None), stats, max_line)
