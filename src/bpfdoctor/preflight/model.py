"""The preflight result: cells (one object x one target) and the report over the matrix.

Frozen and picklable like everything between layers; every renderer works from these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bpfdoctor.config import Ignore
from bpfdoctor.model import CheckResult, Finding, Severity
from bpfdoctor.targets import DEFAULT_LOADER, LoaderSpec, TargetSpec

CellStatus = Literal["pass", "fail", "error"]


@dataclass(frozen=True, slots=True)
class Suppressed:
    """A finding an ``[[ignore]]`` entry removed from the verdict, with the reason given."""

    finding: Finding
    reason: str
    rule_pattern: str


@dataclass(frozen=True, slots=True)
class Cell:
    """One object x one target: the check result, what was suppressed, and the verdict."""

    object_path: str
    target: TargetSpec
    status: CellStatus
    result: CheckResult | None = None
    findings: tuple[Finding, ...] = ()  # after ignores, most severe first
    suppressed: tuple[Suppressed, ...] = ()
    error: str | None = None
    seconds: float = 0.0

    @property
    def first_code(self) -> str | None:
        return self.findings[0].rule if self.findings else None

    @property
    def programs(self) -> tuple[str, ...]:
        if self.result is None:
            return ()
        progs = self.result.object_json.get("programs", [])
        return tuple(str(p.get("name", "")) for p in progs if isinstance(p, dict))


@dataclass(frozen=True, slots=True)
class PreflightReport:
    """The whole matrix, in object-major order, with what the run was configured to do."""

    objects: tuple[str, ...]
    targets: tuple[TargetSpec, ...]
    cells: tuple[Cell, ...]
    fail_on: Severity = Severity.ERROR
    loader: LoaderSpec = DEFAULT_LOADER
    seconds: float = 0.0
    jobs: int = 1
    config_source: str | None = None
    ignores: tuple[Ignore, ...] = field(default_factory=tuple)

    def cell(self, object_path: str, target_name: str) -> Cell:
        for c in self.cells:
            if c.object_path == object_path and c.target.name == target_name:
                return c
        raise KeyError((object_path, target_name))

    @property
    def results(self) -> tuple[CheckResult, ...]:
        return tuple(c.result for c in self.cells if c.result is not None)

    @property
    def errors(self) -> tuple[Cell, ...]:
        return tuple(c for c in self.cells if c.status == "error")

    @property
    def failures(self) -> tuple[Cell, ...]:
        return tuple(c for c in self.cells if c.status == "fail")

    @property
    def verdict(self) -> CellStatus:
        if self.errors:
            return "error"
        return "fail" if self.failures else "pass"

    @property
    def exit_code(self) -> int:
        """CONTRACT.md: 2 when a cell could not be checked, 1 on a failing cell, else 0."""
        return {"error": 2, "fail": 1, "pass": 0}[self.verdict]


# -- matrix table --------------------------------------------------------------------------
