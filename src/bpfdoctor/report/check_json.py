"""CONTRACT.md JSON for check results, one or many, and the preflight matrix document.

``bpfdoctor.check/1`` is the contract for one object against one target; several results
(several objects, or one object on several targets) are a JSON array of those documents, so
a consumer of the single form reads each element unchanged. ``bpfdoctor.preflight/1`` wraps
the matrix: the run's settings, one entry per cell (the check document with the findings left
after ``[[ignore]]``, the suppressed ones with their reason), and the verdict.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bpfdoctor.model import CheckResult
from bpfdoctor.preflight import Cell, PreflightReport, cell_text

PREFLIGHT_SCHEMA = "bpfdoctor.preflight/1"


def check_document(result: CheckResult) -> dict[str, Any]:
    return result.to_json()


def render_check_json(results: CheckResult | Sequence[CheckResult]) -> str:
    """One result -> one ``bpfdoctor.check/1`` object; several -> an array of them."""
    if isinstance(results, CheckResult):
        doc: Any = check_document(results)
    elif len(results) == 1:
        doc = check_document(results[0])
    else:
        doc = [check_document(r) for r in results]
    return json.dumps(doc, indent=2, default=str) + "\n"


def _cell_document(cell: Cell) -> dict[str, Any]:
    out: dict[str, Any] = {
        "object": cell.object_path,
        "target": cell.target.name,
        "status": cell.status,
        "summary": cell_text(cell),
        "seconds": round(cell.seconds, 6),
    }
    if cell.result is not None:
        check = check_document(cell.result)
        check["findings"] = [f.to_json() for f in cell.findings]
        out["check"] = check
    if cell.suppressed:
        out["suppressed"] = [
            {**s.finding.to_json(), "suppressed_by": s.rule_pattern, "reason": s.reason}
            for s in cell.suppressed
        ]
    if cell.error is not None:
        out["error"] = cell.error
    return out


def preflight_document(report: PreflightReport) -> dict[str, Any]:
    return {
        "schema": PREFLIGHT_SCHEMA,
        "config": report.config_source,
        "fail_on": report.fail_on.value,
        "loader": str(report.loader),
        "objects": list(report.objects),
        "targets": [
            {"name": t.name, "kind": t.kind, "value": t.value, "spec": str(t),
             "loader": str(t.loader) if t.loader else None}
            for t in report.targets
        ],
        "verdict": report.verdict,
        "exit_code": report.exit_code,
        "seconds": round(report.seconds, 6),
        "jobs": report.jobs,
        "cells": [_cell_document(c) for c in report.cells],
    }


def render_preflight_json(report: PreflightReport) -> str:
    return json.dumps(preflight_document(report), indent=2, default=str) + "\n"
