"""The rule model: what one ``rules/<CODE>.toml`` file becomes after validation.

``docs/rule-schema.md`` is the contract. Optional keys this engine adds (all default to the
documented behaviour when absent): top-level ``confidence`` (of the rule when no cause is
selected, default medium) and ``require_cause`` (only a diagnosis when a cause's evidence was
found); in ``[[match]]``, ``literal`` (override the prefilter literal derived from the pattern)
or ``condition`` instead of ``pattern`` (a whole-log condition, see ``CONDITIONS``); in
``[[cause]]``, ``title``; in test cases, ``category``.

Patterns are compiled once at load time; each carries the literal substring any match must
contain (``literal``), so the matcher can skip a line with one ``in`` test before running a
regular expression.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bpfdoctor.model import Category, Confidence, Severity

DEFAULT_PRIORITY = 50

# Conditions the engine evaluates on the whole log instead of one line (``condition = ...`` in a
# ``[[match]]`` entry). Kept in one place so the loader can validate them.
CONDITIONS = {
    "verifier-log-unterminated": "instruction lines were printed but the log ends without the "
    "verifier's closing `processed N insns` line and without any recognised error",
}


@dataclass(frozen=True, slots=True)
class LinePattern:
    """One compiled pattern and the literal substring that every match contains (or None)."""

    source: str
    regex: re.Pattern[str]
    literal: str | None

    def search(self, line: str) -> re.Match[str] | None:
        if self.literal is not None and self.literal not in line:
            return None
        return self.regex.search(line)


@dataclass(frozen=True, slots=True)
class MatchSpec:
    """A ``[[match]]`` entry: a line pattern, or a whole-log condition."""

    pattern: LinePattern | None = None
    condition: str | None = None


@dataclass(frozen=True, slots=True)
class Cause:
    """A ``[[cause]]`` entry: evidence elsewhere in the log that selects one explanation."""

    id: str
    evidence: tuple[LinePattern, ...] = ()
    window: int | None = None
    confidence: Confidence = Confidence.MEDIUM
    message: str | None = None
    fixes: tuple[str, ...] = ()
    title: str | None = None


@dataclass(frozen=True, slots=True)
class Explanation:
    """The fixed headings every rule explains itself with."""

    what: str
    why: str
    fix: str


@dataclass(frozen=True, slots=True)
class RuleCase:
    """A test case stored next to the rule (``[[tests.match]]`` / ``[[tests.no_match]]``)."""

    log: str
    should_match: bool
    source: str | None = None
    captures: tuple[tuple[str, str], ...] = ()
    cause: str | None = None
    category: str | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    """One validated rule file."""

    code: str
    name: str
    category: Category
    severity: Severity
    title: str
    message: str
    fixes: tuple[str, ...]
    explanation: Explanation
    matches: tuple[MatchSpec, ...]
    causes: tuple[Cause, ...] = ()
    references: tuple[str, ...] = ()
    priority: int = DEFAULT_PRIORITY
    dialects: tuple[str, ...] = ()
    confidence: Confidence = Confidence.MEDIUM
    cases: tuple[RuleCase, ...] = ()
    path: str = ""
    # optional key `require_cause = true`: the rule is only a diagnosis when one of its causes'
    # evidence was found (a generic message line that means something specific in context)
    require_cause: bool = False

    @property
    def patterns(self) -> tuple[LinePattern, ...]:
        return tuple(m.pattern for m in self.matches if m.pattern is not None)

    @property
    def conditions(self) -> tuple[str, ...]:
        return tuple(m.condition for m in self.matches if m.condition is not None)


@dataclass(frozen=True, slots=True)
class Catalogue:
    """All rules, in code order, with lookups the matcher and the CLI need."""

    rules: tuple[Rule, ...]
    directory: str
    by_code: dict[str, Rule] = field(default_factory=dict, compare=False)

    def get(self, code: str) -> Rule | None:
        return self.by_code.get(code.upper())
