"""Terminal-safe text: one escaping rule for every human renderer.

Program names, section names, profile strings and verifier log lines all come from whoever
built the object, captured the profile or pasted the log. An ESC, BEL or a bidi override in
them must be shown, not executed: ``\\x1b]0;pwn\\x07`` would retitle the user's terminal and a
U+202E would reorder what they read ("Trojan Source"). Every text renderer passes such
strings through ``printable`` (or prints through ``SafeConsole``), so the rule lives here once.
"""

from __future__ import annotations

import re
from typing import Any

from rich.console import Console
from rich.text import Text

# C0/C1 controls except newline, DEL, and the bidi/format characters a "Trojan Source" name
# would use (zero-width marks, embeddings/overrides, isolates, BOM).
_UNPRINTABLE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e"
                          "\u2066-\u2069\ufeff]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with terminal controls shown as ``\\xNN``/``\\uNNNN`` escapes instead of sent:
    an ESC in a program or section name must not repaint or retitle the user's terminal."""
    return _UNPRINTABLE.sub(_escaped, text)


class SafeConsole(Console):
    """A rich Console whose every plain string (markup or not, table cells included) goes
    through ``printable``. ``Text`` objects built by a caller bypass ``render_str``: build
    them from ``printable(...)`` strings."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(printable(text), **kwargs)


__all__ = ["SafeConsole", "printable"]
