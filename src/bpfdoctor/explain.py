"""The pure core of ``bpfdoctor explain``: text in, ``ExplainResult`` out.

One streaming pass: the scanner sorts lines and keeps bounded context, the matcher applies the
rule catalogue to candidate lines, whole-log conditions are checked at the end, and the hits
are ranked into diagnoses. No host access beyond reading the given file.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bpfdoctor.logs.reader import ReadStats, blocks_of, iter_blocks, open_log
from bpfdoctor.logs.scan import LogScanner
from bpfdoctor.logs.verifier import VerifierStats
from bpfdoctor.model import Diagnosis, Evidence, Severity
from bpfdoctor.rules.loader import load_catalogue
from bpfdoctor.rules.matcher import Matcher
from bpfdoctor.rules.schema import Catalogue
from bpfdoctor.rules.select import ranked as rank

SCHEMA = "bpfdoctor.explain/1"


@dataclass(frozen=True, slots=True)
class ExplainResult:
    """Everything ``explain`` learned from one log (CONTRACT.md ``bpfdoctor.explain/1``)."""

    source: str
    dialect: str
    outcome: str  # failed | loaded | unknown
    diagnoses: tuple[Diagnosis, ...]
    stats: VerifierStats
    lines: int
    long_lines: int = 0
    programs: tuple[str, ...] = ()
    # per diagnosis, the log lines just before and at its match (not part of the JSON contract)
    contexts: tuple[tuple[Evidence, ...], ...] = ()

    @property
    def primary(self) -> Diagnosis | None:
        return self.diagnoses[0] if self.diagnoses else None

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "source": self.source,
            "dialect": self.dialect,
            "outcome": self.outcome,
            "diagnoses": [d.to_json() for d in self.diagnoses],
            "stats": {
                **self.stats.to_json(),
                "lines": self.lines,
                "long_lines": self.long_lines,
            },
            "programs": list(self.programs),
        }


def explain_text(text: str, source: str = "-", catalogue: Catalogue | None = None) -> ExplainResult:
    """Explain a log held in memory."""
    stats = ReadStats()
    return explain_blocks(blocks_of(text, stats, source), source, stats, catalogue)


def explain_file(path: str | Path, catalogue: Catalogue | None = None) -> ExplainResult:
    """Explain a log file (``-`` reads stdin), streaming it line by line."""
    stats = ReadStats()
    name = "<stdin>" if str(path) == "-" else str(path)
    with open_log(path) as stream:
        return explain_blocks(iter_blocks(stream, stats, name), str(path), stats, catalogue)


def explain_blocks(
    blocks: Iterable[list[str]],
    source: str,
    stats: ReadStats | None = None,
    catalogue: Catalogue | None = None,
) -> ExplainResult:
    catalogue = catalogue if catalogue is not None else load_catalogue()
    scanner = LogScanner()
    matcher = Matcher(catalogue)
    feed_block = scanner.feed_block

    def candidate(line: str) -> None:
        matcher.feed(line, scanner)

    last_line = ""
    for block in blocks:
        feed_block(block, candidate)
        last_line = block[-1]
    _conditions(catalogue, scanner, matcher, last_line)
    dialect = scanner.dialect_name()
    if dialect == "unknown" and any(code.startswith("VF") for code in matcher.hits):
        dialect = "kernel"  # a bare verifier message, without instruction lines
    results = rank(matcher, dialect)
    diagnoses = tuple(_with_program(r.diagnosis, scanner) for r in results)
    return ExplainResult(
        source=source,
        dialect=dialect,
        outcome=_outcome(diagnoses, scanner),
        diagnoses=diagnoses,
        contexts=tuple(r.context for r in results),
        stats=scanner.stats,
        lines=scanner.lineno,
        long_lines=stats.long_lines if stats is not None else 0,
        programs=tuple(dict.fromkeys(name for _, name in scanner.programs)),
    )


def _conditions(catalogue: Catalogue, scanner: LogScanner, matcher: Matcher, last: str) -> None:
    """Whole-log conditions (schema.CONDITIONS), checked once the log has ended."""
    unterminated = (
        scanner.insn_lines > 0
        and not any(n > scanner.last_insn_lineno for n in scanner.processed_lines[-1:])
        and not any(
            h.last.rule.severity is Severity.ERROR and h.last.lineno >= scanner.last_insn_lineno
            for h in matcher.hits.values()
        )
    )
    for rule in catalogue.rules:
        if "verifier-log-unterminated" in rule.conditions and unterminated:
            matcher.condition(rule, scanner.lineno, last, scanner.context())


def _with_program(diag: Diagnosis, scanner: LogScanner) -> Diagnosis:
    """Loaders often name the program only after the verifier log (bcc, libbpf 0.x)."""
    if diag.program is not None or not scanner.programs or not diag.evidence:
        return diag
    return replace(diag, program=scanner.program_at(diag.evidence[-1].line))


def _outcome(ranked: tuple[Diagnosis, ...], scanner: LogScanner) -> str:
    if any(d.severity is Severity.ERROR for d in ranked):
        return "failed"
    if scanner.failure_seen:
        return "failed"
    if scanner.processed_lines:
        return "loaded"
    return "unknown"
