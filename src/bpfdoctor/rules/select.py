"""Turn rule hits into ranked diagnoses; ``diagnoses[0]`` is the root cause.

Order: severity, then the rule's ``priority`` (a specific rule outranks a generic one that
matched the same text: libbpf's CO-RE poison over ``unknown func``; a verifier error over the
loader's "Permission denied" wrapper; an explicit error over a truncation guess), then the
later line (the verifier's final error comes after any earlier informational line), then
confidence.
"""

from __future__ import annotations

from dataclasses import dataclass

from bpfdoctor.model import Confidence, Diagnosis, Evidence
from bpfdoctor.rules.matcher import (
    Matcher,
    RuleHits,
    confidence_for,
    derived_captures,
    evidence_of,
    fill,
)

MAX_STATE = 600
_CONFIDENCE_RANK = {Confidence.HIGH: 3, Confidence.MEDIUM: 2, Confidence.LOW: 1}


CONTEXT_BEFORE = 8


@dataclass(frozen=True, slots=True)
class Ranked:
    """A diagnosis and the log lines around its last match (for people reading the text)."""

    diagnosis: Diagnosis
    context: tuple[Evidence, ...]


def diagnoses(matcher: Matcher, dialect: str) -> tuple[Diagnosis, ...]:
    return tuple(r.diagnosis for r in ranked(matcher, dialect))


def ranked(matcher: Matcher, dialect: str) -> tuple[Ranked, ...]:
    """Ranked diagnoses. A rule whose every matched line is already explained by a higher
    ranked rule is dropped: one line, one cause (a CO-RE poison rule and the generic
    ``unknown func`` rule both match ``invalid func unknown#195896080``; only one is right)."""
    ranked: list[tuple[tuple[int, int, int, int], Diagnosis, RuleHits]] = []
    for entry in matcher.hits.values():
        rule = entry.last.rule
        if rule.dialects and dialect not in rule.dialects:
            continue
        diag = _diagnosis(matcher, entry)
        if rule.require_cause and "cause" not in dict(diag.captures):
            continue
        key = (
            rule.severity.rank,
            rule.priority,
            entry.last.lineno,
            _CONFIDENCE_RANK[diag.confidence],
        )
        ranked.append((key, diag, entry))
    ranked.sort(key=lambda kde: kde[0], reverse=True)
    claimed: set[int] = set()
    out = []
    for _, diag, entry in ranked:
        lines = {lineno for lineno, _ in entry.lines}
        is_condition = not entry.last.rule.patterns
        if lines <= claimed and not is_condition:
            continue
        claimed |= lines
        out.append(Ranked(diag, _context(entry)))
    return tuple(out)


def _context(entry: RuleHits) -> tuple[Evidence, ...]:
    """Up to CONTEXT_BEFORE lines before the last matched line, and that line."""
    ctx = entry.last.context
    if ctx is None:
        return ()
    lines = [(n, t) for n, t in ctx.before if n <= entry.last.lineno][-(CONTEXT_BEFORE + 1) :]
    return tuple(Evidence(n, t.rstrip()) for n, t in lines)


def _diagnosis(matcher: Matcher, entry: RuleHits) -> Diagnosis:
    hit = entry.last
    rule = hit.rule
    cause, cause_lines = matcher.select_cause(hit)
    values = derived_captures(hit)
    values.update(entry.captures)
    for _, _, groups in cause_lines:
        for k, v in groups:
            values.setdefault(k, v)
    message = fill(cause.message if cause and cause.message else rule.message, values)
    fixes = cause.fixes if cause and cause.fixes else rule.fixes
    title = cause.title if cause and cause.title else rule.title
    evidence_lines = list(entry.lines)
    evidence_lines += [(lineno, text) for lineno, text, _ in cause_lines]
    ctx = hit.context
    if ctx is not None and ctx.insn_line is not None:
        evidence_lines.append(ctx.insn_line)
    state = ctx.state_with(entry.captures.get("reg")) if ctx is not None else None
    if state is not None and len(state) > MAX_STATE:
        state = state[:MAX_STATE] + " ..."
    captures = dict(entry.captures)
    if cause is not None:
        captures["cause"] = cause.id
    return Diagnosis(
        rule=rule.code,
        category=rule.category,
        severity=rule.severity,
        confidence=confidence_for(rule, cause),
        title=fill(title, values),
        message=message,
        program=ctx.program if ctx is not None else None,
        insn=ctx.insn.index if ctx is not None and ctx.insn is not None else None,
        source_line=ctx.source.render() if ctx is not None and ctx.source is not None else None,
        evidence=evidence_of(evidence_lines),
        fixes=tuple(fill(f, values) for f in fixes),
        references=rule.references,
        captures=tuple(sorted(captures.items())),
        register_state=state,
    )
