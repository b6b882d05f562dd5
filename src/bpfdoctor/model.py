"""Frozen dataclasses shared by every layer: categories, severities, findings and diagnoses.

Category values are the failure categories of ``shared/CONTRACT.md``; never rename one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Category(StrEnum):
    MAP_PTR_SCALAR = "map-ptr-scalar"
    NULL_CHECK_MISSING = "null-check-missing"
    SCALAR_DEREF = "scalar-deref"
    UNINIT_REGISTER = "uninit-register"
    UNINIT_STACK = "uninit-stack"
    PACKET_BOUNDS = "packet-bounds"
    CTX_ACCESS = "ctx-access"
    MAP_VALUE_BOUNDS = "map-value-bounds"
    STACK = "stack"
    LOOP_COMPLEXITY = "loop-complexity"
    HELPER_UNAVAILABLE = "helper-unavailable"
    HELPER_ARG = "helper-arg"
    GPL_ONLY = "gpl-only"
    KFUNC = "kfunc"
    REFERENCE_LEAK = "reference-leak"
    RETURN_VALUE = "return-value"
    POINTER_ARITH = "pointer-arith"
    ISA_UNSUPPORTED = "isa-unsupported"
    LOG_TRUNCATED = "log-truncated"
    PERMISSION = "permission"
    MEMLOCK = "memlock"
    BTF_REJECTED = "btf-rejected"
    CORE_RELO = "core-relo"
    VMLINUX_BTF_MISSING = "vmlinux-btf-missing"
    MODULE_BTF_MISSING = "module-btf-missing"
    PINNED_MAP_MISMATCH = "pinned-map-mismatch"
    MAP_UNSUPPORTED = "map-unsupported"
    PROG_TYPE_UNSUPPORTED = "prog-type-unsupported"
    LOADER_UNSUPPORTED = "loader-unsupported"
    SECTION_UNKNOWN = "section-unknown"
    ATTACH_FAILED = "attach-failed"
    TOKEN_CREATE = "token-create"
    TRACING_UNAVAILABLE = "tracing-unavailable"
    TOOLCHAIN = "toolchain"


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 3, "warning": 2, "info": 1}[self.value]

    def at_least(self, other: Severity) -> bool:
        return self.rank >= other.rank


class Confidence(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class FeatureState(StrEnum):
    """State of one probed kernel feature (CONTRACT.md profile)."""

    SUPPORTED = "supported"
    UNSUPPORTED = "unsupported"
    DENIED = "denied"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Evidence:
    """One line of input that supports a diagnosis (1-based line number in the input)."""

    line: int
    text: str

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "text": self.text}


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """A root cause recognised in a log (CONTRACT.md `explain` diagnoses entry)."""

    rule: str
    category: Category
    severity: Severity
    confidence: Confidence
    title: str
    message: str
    program: str | None = None
    insn: int | None = None
    source_line: str | None = None
    evidence: tuple[Evidence, ...] = ()
    fixes: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    captures: tuple[tuple[str, str], ...] = ()
    register_state: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "category": self.category.value,
            "severity": self.severity.value,
            "confidence": self.confidence.value,
            "title": self.title,
            "message": self.message,
            "program": self.program,
            "insn": self.insn,
            "source_line": self.source_line,
            "evidence": [e.to_json() for e in self.evidence],
            "fixes": list(self.fixes),
            "references": list(self.references),
            "captures": dict(self.captures),
            "register_state": self.register_state,
        }


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found by `check` (CONTRACT.md `check` findings entry)."""

    rule: str
    category: Category
    severity: Severity
    message: str
    program: str | None = None
    fixes: tuple[str, ...] = ()
    evidence: tuple[tuple[str, Any], ...] = field(default_factory=tuple)
    title: str | None = None
    source: str | None = None  # where the kernel fact came from: profile, btf, version table...
    location: Location | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rule": self.rule,
            "category": self.category.value,
            "severity": self.severity.value,
            "program": self.program,
            "message": self.message,
            "fixes": list(self.fixes),
            "evidence": dict(self.evidence),
        }
        if self.title is not None:
            out["title"] = self.title
        if self.source is not None:
            out["source"] = self.source
        if self.location is not None:
            out["location"] = self.location.to_json()
        return out


@dataclass(frozen=True, slots=True)
class Location:
    """Where a finding points: the C source line when line info exists, else object/section."""

    object_path: str
    section: str | None = None
    insn: int | None = None
    source_file: str | None = None
    source_line: int | None = None
    source_column: int | None = None
    source_text: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "object": self.object_path,
            "section": self.section,
            "insn": self.insn,
            "file": self.source_file,
            "line": self.source_line,
            "column": self.source_column,
            "text": self.source_text,
        }


@dataclass(frozen=True, slots=True)
class TargetInfo:
    """The kernel an object is checked against (CONTRACT.md `check` target)."""

    kind: str  # live | profile | btf | kernel-version | none
    kernel: str | None = None
    name: str | None = None  # a label for matrix runs ("debian-6.1", "live")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "kernel": self.kernel}
        if self.name is not None:
            out["name"] = self.name
        return out


@dataclass(frozen=True, slots=True)
class ProgramLoad:
    """Outcome of loading one program on the live kernel (`check --load`)."""

    program: str
    ok: bool
    errno: str | None = None
    insns_processed: int | None = None
    total_states: int | None = None
    peak_states: int | None = None
    stack_depth: str | None = None
    verification_time_usec: int | None = None
    verifier_log_tail: str = ""
    log_truncated: bool = False
    diagnoses: tuple[Diagnosis, ...] = ()
    steps: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "errno": self.errno,
            "insns_processed": self.insns_processed,
            "total_states": self.total_states,
            "peak_states": self.peak_states,
            "stack_depth": self.stack_depth,
            "verification_time_usec": self.verification_time_usec,
            "verifier_log_tail": self.verifier_log_tail,
            "log_truncated": self.log_truncated,
            "diagnoses": [d.to_json() for d in self.diagnoses],
            "steps": list(self.steps),
        }


@dataclass(frozen=True, slots=True)
class CheckResult:
    """Everything `check` learned about one object against one target.

    ``object_json`` is the CONTRACT.md ``object`` block (inventory); renderers (text, json,
    sarif, junit, github) work from this one value.
    """

    object_path: str
    object_json: dict[str, Any]
    target: TargetInfo
    verdict: str  # pass | fail | unknown
    findings: tuple[Finding, ...] = ()
    loads: tuple[ProgramLoad, ...] = ()

    def to_json(self) -> dict[str, Any]:
        obj = dict(self.object_json)
        if self.loads:
            by_name = {ld.program: ld for ld in self.loads}
            progs = []
            for prog in obj.get("programs", []):
                prog = dict(prog)
                load = by_name.get(prog.get("name", ""))
                if load is not None:
                    prog["load"] = load.to_json()
                progs.append(prog)
            obj["programs"] = progs
        return {
            "schema": "bpfdoctor.check/1",
            "object": obj,
            "target": self.target.to_json(),
            "verdict": self.verdict,
            "findings": [f.to_json() for f in self.findings],
        }
