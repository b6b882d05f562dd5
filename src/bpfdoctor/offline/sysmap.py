"""Kprobe-able function names from ``System.map`` (``nm -n vmlinux`` output).

Text symbols (``t``/``T``) are what kprobes can target, modulo ``notrace`` functions and the
kprobe blacklist, which System.map does not show. Compiler suffixes such as ``.isra.0``,
``.constprop.0`` and ``.llvm.<hash>`` are kept: a check can then say "renamed by the compiler"
instead of "missing".

Distributions sometimes ship a one-line placeholder (Debian: "The real System.map is in the
linux-image-<version>-dbg package"); that is recognised and reported, not read as an empty
kernel. Pure: text in, names out.
"""

from __future__ import annotations

from dataclasses import dataclass

from bpfdoctor.errors import InputError

MIN_REAL_SYMBOLS = 100


@dataclass(frozen=True, slots=True)
class SystemMap:
    functions: frozenset[str]
    symbols: int
    placeholder: bool


def parse_system_map(text: str, what: str = "System.map") -> SystemMap:
    """Parse ``ADDRESS TYPE NAME`` lines. A file with no such line is not a System.map."""
    functions: set[str] = set()
    symbols = 0
    bad = 0
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 3 or len(parts[1]) != 1 or not _is_hex(parts[0]):
            bad += 1
            if bad > 20 and symbols == 0:
                break
            continue
        symbols += 1
        if parts[1] in ("t", "T"):
            functions.add(parts[2])
    if symbols == 0:
        raise InputError(f"{what}: not a System.map (no 'ADDRESS TYPE NAME' lines)")
    placeholder = symbols < MIN_REAL_SYMBOLS and "real System.map" in text
    return SystemMap(frozenset() if placeholder else frozenset(functions), symbols, placeholder)


def _is_hex(text: str) -> bool:
    try:
        int(text, 16)
    except ValueError:
        return False
    return True
