"""The line forms of a kernel verifier log, parsed one line at a time (pure, no host access).

Mirrors what ``kernel/bpf/verifier.c`` and ``kernel/bpf/log.c`` print:
  instruction lines     ``14: (85) call bpf_map_lookup_elem#1`` (``print_bpf_insn()``), and the
                        6.x form with the state after it ``12: (18) r1 = 0x0 ; R1_w=0``
  line info             ``; x = *p; @ file.c:42`` (``verbose_linfo()``; older: no ``@ file``)
  register state        ``R1=ctx() R10=fp0`` (new), ``R1_w=inv(id=0)`` / `` R1=inv2`` (old),
                        prefixed by ``15: `` or ``from 3 to 9: `` or ``frame1: ``
  statistics            ``processed N insns (limit M) max_states_per_insn ... mark_read K``,
                        ``stack depth 8+0``, ``verification time 42 usec``
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_INSN = re.compile(r"^\s*(?:\d+\s+)?(?P<idx>\d+): \((?P<op>[0-9a-f]{2})\) (?P<text>[^;]*)(?:;(?P<state>.*))?$")
_CALL = re.compile(r"\bcall (?P<name>[A-Za-z_]\w*)#(?P<id>-?\d+)")
_SOURCE = re.compile(r"^\s*; (?P<code>.*?)(?: @ (?P<file>[^\s:@]+):(?P<line>\d+))?\s*$")
_STATE = re.compile(r"(?:^|\s|: )(?P<regs>R\d+(?:_[rwD]+)?=\S.*)$")
_PROCESSED = re.compile(
    r"processed (?P<insns>\d+) insns \(limit (?P<limit>\d+)\)"
    r"(?: max_states_per_insn (?P<max_states>\d+) total_states (?P<total>\d+)"
    r" peak_states (?P<peak>\d+) mark_read (?P<mark_read>\d+))?"
)
_STACK_DEPTH = re.compile(r"^\s*stack depth (?P<depth>[\d+]+)\s*$")
_VERIF_TIME = re.compile(r"^\s*verification time (?P<usec>\d+) usec\s*$")


@dataclass(frozen=True, slots=True)
class Insn:
    """One instruction line: its index, opcode byte, text and (6.x) the state printed after it."""

    index: int
    opcode: str
    text: str
    state: str | None = None

    @property
    def call(self) -> tuple[str, int] | None:
        """``(name, id)`` when this is a helper/kfunc call (``call bpf_map_lookup_elem#1``)."""
        m = _CALL.search(self.text)
        return (m["name"], int(m["id"])) if m else None


@dataclass(frozen=True, slots=True)
class SourceLine:
    """A line-info line: the C code and, on 5.x+ kernels, ``file:line``."""

    code: str
    file: str | None = None
    line: int | None = None

    def render(self) -> str:
        where = f" ({self.file}:{self.line})" if self.file else ""
        return f"{self.code}{where}"


@dataclass(frozen=True, slots=True)
class VerifierStats:
    """The verifier's closing statistics for one program load."""

    insns_processed: int | None = None
    insn_limit: int | None = None
    max_states_per_insn: int | None = None
    total_states: int | None = None
    peak_states: int | None = None
    mark_read: int | None = None
    stack_depth: str | None = None
    verification_time_usec: int | None = None

    def to_json(self) -> dict[str, int | str | None]:
        return {
            "insns_processed": self.insns_processed,
            "insn_limit": self.insn_limit,
            "max_states_per_insn": self.max_states_per_insn,
            "total_states": self.total_states,
            "peak_states": self.peak_states,
            "mark_read": self.mark_read,
            "stack_depth": self.stack_depth,
            "verification_time_usec": self.verification_time_usec,
        }


def parse_insn(line: str) -> Insn | None:
    """``14: (85) call bpf_map_lookup_elem#1`` -> Insn; also the ``Live regs`` listing form."""
    m = _INSN.match(line)
    if m is None:
        return None
    state = m["state"].strip() if m["state"] else None
    return Insn(int(m["idx"]), m["op"], m["text"].strip(), state or None)


def parse_source(line: str) -> SourceLine | None:
    m = _SOURCE.match(line)
    if m is None:
        return None
    return SourceLine(m["code"], m["file"], int(m["line"]) if m["line"] else None)


def parse_state(line: str) -> str | None:
    """The register/stack state part of a line (``R1=ctx() R10=fp0 fp-8=mmmmmmmm``), if any."""
    insn = parse_insn(line)
    if insn is not None:
        return insn.state
    m = _STATE.search(line)
    return m["regs"].strip() if m else None


def register_of(state: str, reg: str) -> str | None:
    """The one entry for register ``reg`` (``"1"``) in a state string, old or new spelling."""
    m = re.search(rf"(?:^|\s)(R{re.escape(reg)}(?:_[rwD]+)?=\S+)", state)
    return m[1] if m else None


def parse_processed(line: str, stats: VerifierStats) -> VerifierStats | None:
    """Fold a ``processed N insns`` line into ``stats``; None when the line is not one."""
    m = _PROCESSED.search(line)
    if m is None:
        return None

    def num(key: str) -> int | None:
        value = m[key]
        return int(value) if value is not None else None

    return VerifierStats(
        insns_processed=num("insns"),
        insn_limit=num("limit"),
        max_states_per_insn=num("max_states"),
        total_states=num("total"),
        peak_states=num("peak"),
        mark_read=num("mark_read"),
        stack_depth=stats.stack_depth,
        verification_time_usec=stats.verification_time_usec,
    )


def parse_stack_depth(line: str) -> str | None:
    m = _STACK_DEPTH.match(line)
    return m["depth"] if m else None


def parse_verification_time(line: str) -> int | None:
    m = _VERIF_TIME.match(line)
    return int(m["usec"]) if m else None
