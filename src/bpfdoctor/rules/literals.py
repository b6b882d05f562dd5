"""The longest literal substring every match of a regular expression must contain.

Used as a prefilter (one ``in`` test per line before any regex runs), which is what makes
scanning a gigabyte log affordable. Works on the parse tree of Python's own ``re`` parser, only
on top-level sequences: anything inside alternation, optional groups or repetition is skipped,
so the literal is always required. Returns None when no literal of at least 3 characters is.
"""

from __future__ import annotations

import re
from re import _constants as _c  # type: ignore[attr-defined]
from re import _parser as _p  # type: ignore[attr-defined]
from typing import Any

MIN_LITERAL = 3


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
