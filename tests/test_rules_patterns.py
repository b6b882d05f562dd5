"""Every pattern of every rule against adversarial lines, under a timeout guard.

A pattern that backtracks catastrophically turns one pasted line into a hang; these lines are
the classic triggers (long runs of one character, of ``R1=``, of the pattern's own literal).
The guard is an alarm: a pattern that does not finish within it fails the test.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpfdoctor.explain import explain_text
from bpfdoctor.rules.literals import LiteralIndex
from bpfdoctor.rules.loader import load_catalogue
from bpfdoctor.rules.schema import LinePattern, Rule

GUARD_SECONDS = 10
N = 100_000

ADVERSARIAL = [
    "a" * N, "R" * N, "1" * N, " " * N, "=" * N, "(" * N, "#" * N, ":" * N, "_" * N,
    "R1=" * (N // 3), "R1 " * (N // 3), "R1_w=inv(id=0," * (N // 14), "0x0" * (N // 3),
    "invalid " * (N // 8), "; " * (N // 2), "unknown#" * (N // 8), "off=-1 size=8 " * (N // 14),
    "-" * N + "1", "R1 type=" * (N // 8), "At program exit the register R0 " + "x" * N,
]
CATALOGUE = load_catalogue()


class _Timeout(Exception):
    pass


@contextmanager
def _guard(seconds: int) -> Iterator[None]:
    def fire(signum: int, frame: object) -> None:
        raise _Timeout

    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _patterns(rule: Rule) -> list[LinePattern]:
    out = list(rule.patterns)
    for cause in rule.causes:
        out.extend(cause.evidence)
    return out


@pytest.mark.parametrize("rule", CATALOGUE.rules, ids=lambda r: r.code)
def test_patterns_do_not_backtrack(rule: Rule) -> None:
    for pat in _patterns(rule):
        lines = list(ADVERSARIAL)
        if pat.literal:
            lines += [pat.literal * (N // max(1, len(pat.literal))), pat.literal + "9" * N]
        for line in lines:
            try:
                with _guard(GUARD_SECONDS):
                    pat.regex.search(line)
            except _Timeout:
                pytest.fail(f"{rule.code}: {pat.source!r} runs away on {line[:40]!r}...")


def test_literal_prefilter_is_sound() -> None:
    """A pattern's literal must occur in every line it matches (else the prefilter hides hits)."""
    for rule in CATALOGUE.rules:
        for case in rule.cases:
            for line in case.log.splitlines():
                for pat in _patterns(rule):
                    if pat.literal is not None and pat.regex.search(line):
                        assert pat.literal in line, (rule.code, pat.source, line)


def test_whole_engine_on_adversarial_lines() -> None:
    with _guard(60):
        result = explain_text("\n".join(ADVERSARIAL))
    assert result.lines == len(ADVERSARIAL)


@settings(max_examples=200, deadline=None)
@given(
    literals=st.lists(st.text(alphabet="ab =:_#(", min_size=1, max_size=8), min_size=1, max_size=8),
    line=st.text(alphabet="ab =:_#(x", max_size=60),
)
def test_literal_index_finds_exactly_the_contained_literals(literals: list[str], line: str) -> None:
    index = LiteralIndex((lit, i) for i, lit in enumerate(literals))
    assert sorted(index.find(line)) == [i for i, lit in enumerate(literals) if lit in line]


def test_literal_index_on_catalogue_literals() -> None:
    entries = [(p.literal, p.source) for r in CATALOGUE.rules for p in _patterns(r) if p.literal]
    index = LiteralIndex(entries)
    for rule in CATALOGUE.rules:
        for case in rule.cases:
            for line in case.log.splitlines():
                assert sorted(index.find(line)) == sorted(s for lit, s in entries if lit in line)
