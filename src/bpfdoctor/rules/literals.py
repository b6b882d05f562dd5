"""The longest literal substring every match of a regular expression must contain.

Used as a prefilter (one ``in`` test per line before any regex runs), which is what makes
scanning a gigabyte log affordable. Works on the parse tree of Python's own ``re`` parser, only
on top-level sequences: anything inside alternation, optional groups or repetition is skipped,
so the literal is always required. Returns None when no literal of at least 3 characters is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from re import _constants as _c  # type: ignore[attr-defined]
from re import _parser as _p  # type: ignore[attr-defined]
from typing import Any, Generic, TypeVar

MIN_LITERAL = 3
T = TypeVar("T")


def required_literal(pattern: str) -> str | None:
    try:
        tree = _p.parse(pattern)
    except re.error:
        return None
    if tree.state.flags & re.IGNORECASE:
        return None
    best = ""
    for run in _runs(list(tree)):
        if len(run) > len(best):
            best = run
    return best if len(best) >= MIN_LITERAL else None


def _runs(items: list[tuple[Any, Any]]) -> list[str]:
    runs: list[str] = []
    current: list[str] = []
    for op, arg in items:
        if op is _c.LITERAL:
            current.append(chr(arg))
            continue
        if current:
            runs.append("".join(current))
            current = []
        if op is _c.SUBPATTERN:
            # (group, add_flags, del_flags, subpattern): a plain group is still required
            sub = arg[3]
            if not (arg[1] or arg[2]):
                runs.extend(_runs(list(sub)))
        elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT, _c.POSSESSIVE_REPEAT) and arg[0] >= 1:
            runs.extend(_runs(list(arg[2])))
    if current:
        runs.append("".join(current))
    return runs


_WORD = re.compile(r"\w+")


def interior_word(literal: str) -> str | None:
    """The longest word of ``literal`` with a non-word character on both sides inside it.

    Such a word is a whole token of any line that contains the literal, so a line's token set
    can select the literals worth testing with ``in``."""
    best = None
    for m in _WORD.finditer(literal):
        if m.start() > 0 and m.end() < len(literal) and (best is None or len(m[0]) > len(best)):
            best = m[0]
    return best


def words_of(line: str) -> list[str]:
    """The tokens ``LiteralIndex`` files literals under."""
    return _WORD.findall(line)


class LiteralIndex(Generic[T]):
    """Which of many literals occur in a line, without testing them all.

    Literals are filed under an interior word (see ``interior_word``); a line is tokenised
    once and only the literals filed under its tokens are tested. Literals without an
    interior word are always tested. The same idea as a keyword prefilter in grep engines,
    kept to what the standard library does fast (``re.findall``, set intersection)."""

    def __init__(self, entries: Iterable[tuple[str, T]]) -> None:
        self._keyed: dict[str, list[tuple[str, T]]] = {}
        self._always: list[tuple[str, T]] = []
        for literal, item in entries:
            key = interior_word(literal)
            if key is None:
                self._always.append((literal, item))
            else:
                self._keyed.setdefault(key, []).append((literal, item))
        self._keys = frozenset(self._keyed)

    def find(self, line: str, words: Iterable[str] | None = None) -> list[T]:
        """Items whose literal occurs in ``line``, in no particular order. ``words`` are the
        line's tokens (``words_of(line)``) when the caller already has them."""
        out = [item for literal, item in self._always if literal in line]
        if self._keys:
            for word in self._keys.intersection(words if words is not None else words_of(line)):
                out.extend(item for literal, item in self._keyed[word] if literal in line)
        return out
