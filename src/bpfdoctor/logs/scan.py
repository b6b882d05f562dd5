"""Stream a log line by line, keeping only what a diagnosis needs: bounded memory, one pass.

The scanner sorts each line cheaply (first character, a few prefixes) because a level-2 log is
millions of instruction, state and ``mark_precise`` lines that can never be an error. Only the
remaining *candidate* lines are offered to the rules. For context it keeps a bounded window of
recent lines and the last instruction / line-info / state line seen, as raw strings that are
parsed only when a rule fires.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace

from bpfdoctor.logs.dialect import DialectVotes
from bpfdoctor.logs.verifier import (
    Insn,
    SourceLine,
    VerifierStats,
    parse_insn,
    parse_processed,
    parse_source,
    parse_stack_depth,
    parse_state,
    parse_verification_time,
    register_of,
)

WINDOW = 256
STATES = 8
NEAR = 40  # an instruction/line-info/state line this close before an error line belongs to it
MAX_PROGRAM_NAMES = 1024

# Lines that look alarming but never explain a failure (CONTRACT.md: never a diagnosis).
NOISE = (
    "skipping unrecognized data section",
    "libbpf strict mode",
    "If it used to work for this object file",
    "see --legacy option",
)

_SKIP_PREFIXES = ("mark_precise:", "from ", "frame", "propagating ", "func#", "Live regs", "SCC ")
_PROGRAM = re.compile(
    r"prog(?:ram)? '(?P<a>[^']{1,256})'"
    r"|Prog section '(?P<b>[^']{1,256})'"
    r"|\bprogram (?!failed\b|load\b|loading\b)(?P<c>[A-Za-z_][\w.]{0,255}): "
    r"|Failed to load BPF program (?:b')?(?P<d>[A-Za-z_][\w.]{0,255})"
)
_FAILURE_WORDS = ("fail", "Fail", "FAIL", "reject", "rror", "ERR", "invalid", "denied", "not permitted")


@dataclass(frozen=True, slots=True)
class LineContext:
    """What surrounds one candidate line: the instruction it refers to and its source line."""

    lineno: int
    text: str
    program: str | None
    insn: Insn | None
    source: SourceLine | None
    state: str | None
    before: tuple[tuple[int, str], ...]
    insn_line: tuple[int, str] | None = None
    states: tuple[str, ...] = ()  # recent register-state lines, newest last (raw)

    def state_with(self, reg: str | None) -> str | None:
        """The newest state naming register ``reg`` (falls back to the newest state)."""
        if reg is not None:
            for raw in reversed(self.states):
                state = parse_state(raw)
                if state is not None and register_of(state, reg) is not None:
                    return state
        return self.state


class LogScanner:
    """One pass over a log. ``feed`` each line; it returns True for rule-candidate lines."""

    def __init__(self, window: int = WINDOW) -> None:
        self.lineno = 0
        self.dialect = DialectVotes()
        self.window: deque[tuple[int, str]] = deque(maxlen=window)
        self.stats = VerifierStats()
        self.processed_lines: list[int] = []
        self.insn_lines = 0
        self.last_insn_lineno = 0
        self.failure_seen = False
        self.programs: list[tuple[int, str]] = []
        self._program_lines: list[int] = []  # line numbers of self.programs, for bisect
        self._insn: tuple[int, str] | None = None
        self._source: tuple[int, str] | None = None
        self._state: tuple[int, str] | None = None
        self._states: deque[tuple[int, str]] = deque(maxlen=STATES)

    def feed(self, line: str) -> bool:
        """Take one line; True when it is a rule candidate."""
        self.lineno += 1
        return self._classify(line)

    def feed_block(self, lines: list[str], on_candidate: Callable[[str], None]) -> None:
        """Take many lines; call ``on_candidate(line)`` for each candidate, with the scanner's
        state as of that line. The two most frequent kinds of a level-2 log (``mark_precise``
        traces and instruction lines) are handled inline: this loop is the hot path."""
        lineno = self.lineno
        window_append = self.window.append
        states_append = self._states.append
        classify = self._classify
        for line in lines:
            lineno += 1
            first = line[:1]
            if first == "m" and line.startswith("mark_precise"):
                continue
            if "0" <= first <= "9":
                colon = line.find(": (")
                if colon > 0 and line[:colon].isdigit():
                    entry = (lineno, line)
                    window_append(entry)
                    self.insn_lines += 1
                    self.last_insn_lineno = lineno
                    self._insn = entry
                    if ";" in line:
                        self._state = entry
                        states_append(entry)
                    continue
            self.lineno = lineno
            if classify(line):
                on_candidate(line)
        self.lineno = lineno

    def dialect_name(self) -> str:
        """The dialect of everything fed so far (instruction lines count for ``kernel``)."""
        return self.dialect.decide(extra_kernel_lines=self.insn_lines)

    def _classify(self, line: str) -> bool:
        if line.startswith("mark_precise"):
            return False
        s = line.lstrip()
        if not s:
            return False
        first = s[0]
        if "0" <= first <= "9":
            return self._numbered(line, s)
        self.window.append((self.lineno, line))
        if first == ";":
            self._source = (self.lineno, line)
            return False
        if s.startswith(_SKIP_PREFIXES):
            if first == "f" and s.startswith(("from ", "frame")) and "R" in s:
                self._state = (self.lineno, line)
                self._states.append(self._state)
            return False
        if first == "R" and len(s) > 2 and "=" in s[:8] and " " not in s[:s.index("=")]:
            self._state = (self.lineno, line)
            self._states.append(self._state)
            return False
        for noise in NOISE:
            if noise in s:
                return False
        self._observe(s)
        return True

    def _numbered(self, line: str, s: str) -> bool:
        colon = s.find(": ")
        head = s[:colon] if colon > 0 else ""
        rest = s[colon + 2 :] if colon > 0 else ""
        if head.isdigit():
            if rest[:1] == "(":
                self.window.append((self.lineno, line))
                self.insn_lines += 1
                self.last_insn_lineno = self.lineno
                self._insn = (self.lineno, line)
                if ";" in rest:
                    self._state = (self.lineno, line)
                    self._states.append(self._state)
                return False
            if (rest[:1] == "R" and rest[1:2].isdigit()) or rest.startswith(("frame", "safe")):
                self.window.append((self.lineno, line))
                self._state = (self.lineno, line)
                self._states.append(self._state)
                return False
        elif rest[:1] == "." and head.replace(" ", "").isdigit():
            return False  # 6.x "Live regs before insn" listing: static, not verification
        self.window.append((self.lineno, line))
        self._observe(s)
        return True

    def _observe(self, s: str) -> None:
        self.dialect.observe(s)
        if not self.failure_seen and any(w in s for w in _FAILURE_WORDS):
            self.failure_seen = True
        if "rog" in s and len(self.programs) < MAX_PROGRAM_NAMES:
            m = _PROGRAM.search(s)
            if m is not None:
                name = m["a"] or m["b"] or m["c"] or m["d"]
                if not self.programs or self.programs[-1][1] != name:
                    self.programs.append((self.lineno, name))
                    self._program_lines.append(self.lineno)
        if s.startswith("processed "):
            folded = parse_processed(s, self.stats)
            if folded is not None:
                self.stats = folded
                self.processed_lines.append(self.lineno)
                self.dialect.kernel_lines += 1
                del self.processed_lines[:-MAX_PROGRAM_NAMES]
        elif s.startswith("stack depth "):
            depth = parse_stack_depth(s)
            if depth is not None:
                self.stats = replace(self.stats, stack_depth=depth)
        elif s.startswith("verification time "):
            usec = parse_verification_time(s)
            if usec is not None:
                self.stats = replace(self.stats, verification_time_usec=usec)

    def context(self) -> LineContext:
        """Context of the line just fed: parse the remembered raw lines now, not per line."""
        last_processed = self.processed_lines[-1] if self.processed_lines else 0
        insn_line = self._near(self._insn, last_processed)
        source_line = self._near(self._source, last_processed, 5 * NEAR)
        state_line = self._near(self._state, last_processed)
        text = self.window[-1][1] if self.window else ""
        return LineContext(
            lineno=self.lineno,
            text=text,
            program=self.program_at(self.lineno),
            insn=parse_insn(insn_line[1]) if insn_line else None,
            source=parse_source(source_line[1]) if source_line else None,
            state=parse_state(state_line[1]) if state_line else None,
            before=tuple(self.window),
            insn_line=insn_line,
            states=tuple(
                raw for at, raw in self._states if at > last_processed and self.lineno - at <= NEAR
            ),
        )

    def _near(
        self, seen: tuple[int, str] | None, after: int, limit: int = NEAR
    ) -> tuple[int, str] | None:
        """``seen`` when it belongs to the current verifier run and is close to this line."""
        if seen is None or seen[0] <= after or self.lineno - seen[0] > limit:
            return None
        return seen

    def program_at(self, lineno: int) -> str | None:
        """The program named last before ``lineno`` (or the first one named at all)."""
        if not self.programs:
            return None
        i = bisect_right(self._program_lines, lineno)
        return self.programs[i - 1][1] if i else self.programs[0][1]
