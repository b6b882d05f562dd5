"""``run_check``: one object (and optionally one target) -> a frozen CheckResult.

``check``, ``preflight`` and ``check --load`` all go through here, so the inventory, the
object-level findings and the verdict are computed the same way everywhere. Checks against a
kernel live in ``bpfdoctor.checks`` (``check_object(obj, target)``), called for any target
other than ``none``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bpfdoctor import inventory
from bpfdoctor.elf.object import BpfObject
from bpfdoctor.model import CheckResult, Finding, Severity, TargetInfo

if TYPE_CHECKING:
    from bpfdoctor.targets import TargetSpec

NO_TARGET = TargetInfo(kind="none")


def verdict_for(findings: tuple[Finding, ...], has_target: bool) -> str:
    """``fail`` on any error finding (some objects load nowhere); else ``pass`` with a target,
    ``unknown`` without one (nothing was checked against a kernel)."""
    if any(f.severity is Severity.ERROR for f in findings):
        return "fail"
    return "pass" if has_target else "unknown"


def _target_checks(obj: BpfObject, target: TargetSpec) -> tuple[TargetInfo, tuple[Finding, ...]]:
    from bpfdoctor.checks import check_object

    return check_object(obj, target)


def run_check(path_or_obj: str | Path | BpfObject, target: TargetSpec | None = None) -> CheckResult:
    """Read the object (if given a path), build its inventory and findings, apply the target."""
    obj = path_or_obj if isinstance(path_or_obj, BpfObject) else BpfObject.open(path_or_obj)
    object_block = inventory.object_json(obj)
    found = inventory.findings(obj)
    info = NO_TARGET
    has_target = target is not None and target.kind != "none"
    if target is not None and has_target:
        info, extra = _target_checks(obj, target)
        found = found + extra
    return CheckResult(
        object_path=obj.name,
        object_json=object_block,
        target=info,
        verdict=verdict_for(found, has_target),
        findings=found,
    )
