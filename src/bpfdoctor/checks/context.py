"""What every check is handed: the object, the target, the knowledge base, and one way of
turning "the object needs X, the target has Y" into a finding.

Kernel facts come from the target's profile first (live probe, saved profile, or facts derived
from BTF); only when the profile says nothing does the version table answer, and then the
finding says so (``source = "version-table"``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from packaging.version import InvalidVersion, Version

from bpfdoctor.checks.registry import info
from bpfdoctor.checks.target import Target
from bpfdoctor.elf.object import BpfObject, Program, ProgramUse
from bpfdoctor.errors import BpfDoctorError
from bpfdoctor.knowledge.kb import KnowledgeBase
from bpfdoctor.model import FeatureState, Finding, Location, Severity

GPL_COMPATIBLE = frozenset(
    {"GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL", "Dual MIT/GPL", "Dual MPL/GPL"}
)


@dataclass(frozen=True, slots=True)
class Fact:
    """One answer about the target: its state, why, and where the answer came from."""

    state: FeatureState
    reason: str | None
    source: str
    min_kernel: str | None = None

    @property
    def missing(self) -> bool:
        return self.state is FeatureState.UNSUPPORTED

    @property
    def denied(self) -> bool:
        return self.state is FeatureState.DENIED


UNKNOWN_FACT = Fact(FeatureState.UNKNOWN, "the target description says nothing about it", "none")


def _version(text: str | None) -> Version | None:
    if not text:
        return None
    parts = text.split("-")[0].split(".")[:3]
    try:
        return Version(".".join(p for p in parts if p.isdigit()) or "0")
    except InvalidVersion:
        return None


class CheckContext:
    """Shared, read-only view for all checks of one object against one target."""

    def __init__(self, obj: BpfObject, target: Target) -> None:
        self.obj = obj
        self.target = target
        self.kb = KnowledgeBase.load()
        # A btf: target without kernel=X.Y has no version: the version table must not answer.
        self.version = _version(target.kernel_version) if target.kernel_version else None
        self.gpl = obj.license in GPL_COMPATIBLE

    # -- programs ---------------------------------------------------------------------------
    @functools.cached_property
    def programs(self) -> tuple[Program, ...]:
        return tuple(p for p in self.obj.entry_programs if p.info.known)

    def use(self, prog: Program) -> ProgramUse:
        return self.obj.program_use(prog)

    # -- facts ------------------------------------------------------------------------------
    def fact(self, group: str, name: str, kb_kind: str | None) -> Fact:
        """The target's answer for ``group/name``; the version table only as a fallback."""
        feature = self.target.profile.feature(group, name)
        if feature is not None and feature.state is not FeatureState.UNKNOWN:
            return Fact(feature.state, feature.reason, feature.source or self.target.facts_source,
                        feature.min_kernel)
        return self.version_fact(kb_kind, name) if kb_kind else UNKNOWN_FACT

    def version_fact(self, kb_kind: str, name: str) -> Fact:
        """Answer from the knowledge base's version table for the target's kernel version."""
        entry = self.kb.entry(kb_kind, name)
        if entry is None or entry.min_kernel is None or self.version is None:
            return UNKNOWN_FACT
        need = _version(entry.min_kernel)
        if need is None:
            return UNKNOWN_FACT
        if self.version >= need:
            return Fact(FeatureState.SUPPORTED, None, "version-table", entry.min_kernel)
        return Fact(
            FeatureState.UNSUPPORTED,
            f"introduced in Linux {entry.min_kernel}; the target runs {self.version}",
            "version-table",
            entry.min_kernel,
        )

    def in_module_btf(self, name: str) -> bool | None:
        """Whether a type or function ``name`` is in the target's module BTF: None when the
        modules' BTF is not known (a module BTF that cannot be read cannot answer)."""
        mods = self.target.module_btf
        if mods is None:
            return None
        for load in mods.values():
            try:
                if load().find(name):
                    return True
            except (BpfDoctorError, OSError):
                continue
        return False

    def kconfig_off(self, option: str) -> bool | None:
        """True when the target's config says ``option`` is not set; None when unknown
        (no config, or a saved profile that keeps only BPF-relevant options)."""
        profile = self.target.profile
        if not profile.kconfig:
            return None
        value = profile.kconfig_value(option)
        if value is None:
            return True if self.target.kconfig_complete else None
        return value not in ("y", "m")

    def min_kernel(self, kb_kind: str, name: str) -> str | None:
        return self.kb.min_kernel(kb_kind, name)

    # -- findings ---------------------------------------------------------------------------
    def finding(
        self,
        code: str,
        message: str,
        *,
        program: Program | None = None,
        fixes: Iterable[str] = (),
        evidence: dict[str, Any] | None = None,
        source: str | None = None,
        severity: Severity | None = None,
        insn: int | None = None,
    ) -> Finding:
        meta = info(code)
        loc = Location(
            self.obj.name,
            section=program.section if program is not None else None,
            insn=insn,
        )
        return Finding(
            rule=code,
            category=meta.category,
            severity=severity or meta.severity,
            message=message,
            program=program.name if program is not None else None,
            fixes=tuple(fixes),
            evidence=tuple((evidence or {}).items()),
            title=meta.title,
            source=source or self.target.facts_source,
            location=loc,
        )

    def kernel_label(self) -> str:
        t = self.target
        return t.info.name or t.kernel_version or t.profile.host.kernel_release or "the target"
