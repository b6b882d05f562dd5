"""Apply the catalogue to a streamed log: line patterns, cause evidence, whole-log conditions.

Memory stays bounded whatever the log size: per rule only the last hit is kept (with a few
lines of context; cause evidence in the window is resolved when the hit happens), at most
three matched lines, and evidence that may sit anywhere in the log is tracked as "seen once"
per pattern or looked up in a bounded history of candidate lines.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field, replace

from bpfdoctor.knowledge import uapi
from bpfdoctor.logs.scan import LineContext, LogScanner
from bpfdoctor.model import Confidence, Evidence
from bpfdoctor.rules.literals import LiteralIndex, words_of
from bpfdoctor.rules.schema import Catalogue, Cause, LinePattern, Rule

HISTORY = 4096  # recent candidate lines kept for evidence that may sit anywhere
HISTORY_LINE = 2048
KEEP_CONTEXT = 16  # lines of the window kept with a hit once its cause evidence is resolved

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True, slots=True)
class Hit:
    """One line (or condition) that matched a rule, with what surrounded it."""

    rule: Rule
    lineno: int
    text: str
    captures: tuple[tuple[str, str], ...]
    context: LineContext | None
    # per cause: evidence lines found in the window; None marks an evidence pattern not seen
    # there, to be looked up in the log-wide "seen" table at the end.
    cause_evidence: tuple[tuple[tuple[int, str, tuple[tuple[str, str], ...]] | None, ...], ...]


@dataclass(slots=True)
class RuleHits:
    """Hits of one rule (mutable accumulator): the last one, how many, a few of their lines."""

    last: Hit
    count: int = 1
    lines: list[tuple[int, str]] = field(default_factory=list)
    # captures of all hits merged, later ones winning: a rule whose two patterns match two
    # consecutive lines (packet access, then "R2 offset is outside") keeps both lines' names
    captures: dict[str, str] = field(default_factory=dict)


class Matcher:
    """Feed candidate lines; ask for the hits at the end."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        # (order, rule, pattern): a rule's patterns are tried in the order the file gives them,
        # so the first (usually the most specific, with the most captures) wins
        with_literal: list[tuple[str, tuple[int, Rule, LinePattern]]] = []
        self._unfiltered: list[tuple[int, Rule, LinePattern]] = []
        for rule in catalogue.rules:
            for pat in rule.patterns:
                entry = (len(with_literal) + len(self._unfiltered), rule, pat)
                if pat.literal is None:
                    self._unfiltered.append(entry)
                else:
                    with_literal.append((pat.literal, entry))
        self._index = LiteralIndex(with_literal)
        # evidence without a window may sit anywhere: with a literal it is looked for on every
        # candidate line (through the index) and its first match kept; without one it is looked
        # for, when a cause needs it, in a bounded history of recent candidate lines
        anywhere: list[tuple[str, LinePattern]] = []
        for rule in catalogue.rules:
            for cause in rule.causes:
                if cause.window is None:
                    anywhere += [(p.literal, p) for p in cause.evidence if p.literal is not None]
        self._evidence_index = LiteralIndex(anywhere)
        self.seen: dict[int, tuple[int, str, tuple[tuple[str, str], ...]]] = {}
        self.history: deque[tuple[int, str]] = deque(maxlen=HISTORY)
        self.hits: dict[str, RuleHits] = {}

    def feed(self, line: str, scanner: LogScanner) -> None:
        """Match one candidate line (the scanner has just been fed it)."""
        lineno = scanner.lineno
        self.history.append((lineno, line[:HISTORY_LINE]))
        words = words_of(line)
        for pat in self._evidence_index.find(line, words):
            if id(pat) not in self.seen:
                m = pat.regex.search(line)
                if m is not None:
                    self.seen[id(pat)] = (lineno, line, _groups(m))
        context: LineContext | None = None
        matched: set[str] = set()
        candidates = self._index.find(line, words)
        if self._unfiltered:
            candidates += self._unfiltered
        if len(candidates) > 1:
            candidates.sort(key=lambda entry: entry[0])
        for _, rule, pat in candidates:
            if rule.code in matched:
                continue
            m = pat.regex.search(line)
            if m is not None:
                matched.add(rule.code)
                context = context or scanner.context()
                self._record(rule, lineno, line, _groups(m), context)

    def anywhere(self, pat: LinePattern) -> tuple[int, str, tuple[tuple[str, str], ...]] | None:
        """Where evidence ``pat`` (without a window) was seen in the log, if it was."""
        found = self.seen.get(id(pat))
        if found is None and pat.literal is None:
            for lineno, text in self.history:
                m = pat.regex.search(text)
                if m is not None:
                    found = self.seen[id(pat)] = (lineno, text, _groups(m))
                    break
        return found

    def condition(self, rule: Rule, lineno: int, text: str, context: LineContext | None) -> None:
        """Record a whole-log condition of ``rule`` as a hit on line ``lineno``."""
        self._record(rule, lineno, text, (), context)

    def _record(
        self,
        rule: Rule,
        lineno: int,
        text: str,
        captures: tuple[tuple[str, str], ...],
        context: LineContext | None,
    ) -> None:
        evidence = self._window_evidence(rule, context)
        if context is not None and len(context.before) > KEEP_CONTEXT:
            context = replace(context, before=context.before[-KEEP_CONTEXT:])
        hit = Hit(rule, lineno, text, captures, context, evidence)
        entry = self.hits.get(rule.code)
        if entry is None:
            self.hits[rule.code] = RuleHits(hit, 1, [(lineno, text)], dict(captures))
            return
        entry.last = hit
        entry.count += 1
        entry.captures.update(captures)
        if len(entry.lines) < 3:
            entry.lines.append((lineno, text))
        else:
            entry.lines[-1] = (lineno, text)

    def _window_evidence(
        self, rule: Rule, context: LineContext | None
    ) -> tuple[tuple[tuple[int, str, tuple[tuple[str, str], ...]] | None, ...], ...]:
        out = []
        before = context.before if context is not None else ()
        for cause in rule.causes:
            found: list[tuple[int, str, tuple[tuple[str, str], ...]] | None] = []
            lowest = (context.lineno - cause.window) if (context and cause.window) else 0
            for pat in cause.evidence:
                where = None
                for lineno, text in reversed(before):
                    if lineno < lowest:
                        break
                    m = pat.search(text)
                    if m is not None:
                        where = (lineno, text, _groups(m))
                        break
                found.append(where)
            out.append(tuple(found))
        return tuple(out)

    def select_cause(
        self, hit: Hit
    ) -> tuple[Cause | None, list[tuple[int, str, tuple[tuple[str, str], ...]]]]:
        """The first cause whose evidence all matched (in the window, or anywhere if allowed)."""
        for cause, found in zip(hit.rule.causes, hit.cause_evidence, strict=True):
            lines = []
            for pat, where in zip(cause.evidence, found, strict=True):
                if where is None and cause.window is None:
                    where = self.anywhere(pat)
                if where is None:
                    break
                lines.append(where)
            else:
                return cause, lines
        return None, []


def _groups(m: re.Match[str]) -> tuple[tuple[str, str], ...]:
    return tuple((k, v) for k, v in m.groupdict().items() if v is not None)


def derived_captures(hit: Hit) -> dict[str, str]:
    """Names every template may use besides its own groups (loader.DERIVED_CAPTURES)."""
    out: dict[str, str] = {"line": str(hit.lineno)}
    ctx = hit.context
    if ctx is not None:
        if ctx.program:
            out["program"] = ctx.program
        if ctx.insn is not None:
            out["insn"] = str(ctx.insn.index)
            call = ctx.insn.call
            if call is not None:
                out["helper"] = call[0]
        if ctx.source is not None:
            out["source"] = ctx.source.code
            if ctx.source.file:
                out["source_file"] = ctx.source.file
                out["source_lineno"] = str(ctx.source.line)
    caps = dict(hit.captures)
    helper_id = caps.get("helper_id")
    if helper_id is not None and helper_id.lstrip("-").isdigit():
        name = uapi.helper_name(int(helper_id))
        out["helper_name"] = name or f"helper #{helper_id} (not a helper this kernel knows)"
    elif "helper" in out:
        out["helper_name"] = out["helper"]
    return out


# What a placeholder reads as when the log did not give its value: a log that is only
# "R1 type=scalar expected=map_ptr" has no "call" line, so no helper name. Words where the
# placeholder stands for a noun in running text; "?" elsewhere ("R?", "instruction ?",
# "section '?'"), which reads as "not in the log" without inventing a value.
NEUTRAL = {"helper_name": "the helper", "helper": "the helper", "kfunc": "the kfunc",
           "kfunc_detail": "see the evidence below"}
UNKNOWN_VALUE = "?"


def fill(template: str, values: dict[str, str]) -> str:
    """Replace every ``{name}`` with its value, or with a neutral word when the log did not
    provide it: a diagnosis must never show a raw ``{helper_name}``. The loader has already
    checked that each ``{name}`` in a template is a capture or a derived capture, so no other
    brace text (C code in a fix) can look like one."""
    return _PLACEHOLDER.sub(
        lambda m: values[m[1]] if m[1] in values else NEUTRAL.get(m[1], UNKNOWN_VALUE),
        template)


def evidence_of(lines: list[tuple[int, str]]) -> tuple[Evidence, ...]:
    seen: set[int] = set()
    out = []
    for lineno, text in sorted(lines):
        if lineno not in seen:
            seen.add(lineno)
            out.append(Evidence(lineno, text.strip()))
    return tuple(out)


def confidence_for(rule: Rule, cause: Cause | None) -> Confidence:
    return cause.confidence if cause is not None else rule.confidence
