"""Verifier statistics from a load log: instructions processed, states, stack depth, time.

Pure. Reuses the explain log parser's line parsers (``processed N insns (limit L)
max_states_per_insn M total_states T peak_states P mark_read R``, ``stack depth A+B``,
``verification time X usec``) so ``check --load`` and ``explain`` agree on every number.
The closing lines are at the end of the log, so only the tail is scanned.
"""

from __future__ import annotations

from bpfdoctor.logs.verifier import (
    VerifierStats,
    parse_processed,
    parse_stack_depth,
    parse_verification_time,
)

TAIL_BYTES = 4096


def parse_stats(log: str) -> VerifierStats:
    """The last ``processed`` / ``stack depth`` / ``verification time`` lines of ``log``."""
    stats = VerifierStats()
    depth: str | None = None
    usec: int | None = None
    for line in log[-TAIL_BYTES:].splitlines():
        s = line.strip()
        folded = parse_processed(s, stats)
        if folded is not None:
            stats = folded
            continue
        d = parse_stack_depth(s)
        if d is not None:
            depth = d
            continue
        t = parse_verification_time(s)
        if t is not None:
            usec = t
    return VerifierStats(
        insns_processed=stats.insns_processed, insn_limit=stats.insn_limit,
        max_states_per_insn=stats.max_states_per_insn, total_states=stats.total_states,
        peak_states=stats.peak_states, mark_read=stats.mark_read, stack_depth=depth,
        verification_time_usec=usec,
    )
