"""SARIF 2.1.0 for code-scanning dashboards (GitHub, GitLab, Azure DevOps).

One run, one ``tool.driver`` whose ``rules`` carry the metadata of every rule code that
appears: name, title, full description, help and help link come from the rule files
(``bpfdoctor.rules``) or, for findings produced by code checks (``KC...``), from
``bpfdoctor.checks.registry`` when that exists; an unknown code still gets a minimal
descriptor so the log stays valid. Results point at the C source line when the finding has
line info, else at the object file with a logical location ``section/program``.

Findings suppressed by ``[[ignore]]`` stay in the log with a SARIF ``suppressions`` entry
carrying the reason, which is how dashboards show accepted risks. Cells that could not be
checked become tool execution notifications and mark the invocation unsuccessful.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from bpfdoctor import __version__
from bpfdoctor.model import Finding, Severity
from bpfdoctor.preflight import Cell, PreflightReport

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"

_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


@dataclass(frozen=True, slots=True)
class RuleMeta:
    """What a SARIF ``reportingDescriptor`` says about one rule code."""

    code: str
    name: str | None = None
    title: str | None = None
    full_description: str | None = None
    help_markdown: str | None = None
    help_uri: str | None = None
    category: str | None = None
    severity: str | None = None


def sarif_level(severity: Severity) -> str:
    return _LEVEL[severity]


def _rule_file_meta(code: str) -> RuleMeta | None:
    from bpfdoctor.rules import load_catalogue, rules_dir

    where = rules_dir()
    if not where.is_dir():
        return None
    rule = load_catalogue(str(where)).get(code)  # cached per directory by the loader
    if rule is None:
        return None
    exp = rule.explanation
    fixes = "\n".join(f"- {fix}" for fix in rule.fixes)
    refs = "\n".join(f"- <{ref}>" for ref in rule.references)
    help_md = (
        f"## {rule.code}: {rule.title}\n\n### What it means\n{exp.what}\n\n"
        f"### Why the kernel rejects it\n{exp.why}\n\n### How to fix\n{exp.fix}\n"
        + (f"\n{fixes}\n" if fixes else "")
        + (f"\n### References\n{refs}\n" if refs else "")
    )
    return RuleMeta(
        code=rule.code,
        name=rule.name,
        title=rule.title,
        full_description=exp.what,
        help_markdown=help_md,
        help_uri=next((r for r in rule.references if r.startswith(("http://", "https://"))),
                      None),
        category=rule.category.value,
        severity=rule.severity.value,
    )


def _check_registry_meta(code: str) -> RuleMeta | None:
    """Metadata of the code checks (``KC*``, ``OB*``) from ``bpfdoctor.checks.registry``."""
    from bpfdoctor.checks.registry import ALL_CHECKS

    entry = ALL_CHECKS.get(code)
    if entry is None:
        return None
    return RuleMeta(
        code=code,
        name=entry.name,
        title=entry.title,
        full_description=entry.explanation,
        help_markdown=f"## {code}: {entry.title}\n\n{entry.explanation}\n\nSee "
                      f"{entry.doc_anchor}.\n",
        help_uri=entry.references[0],
        category=entry.category.value,
        severity=entry.severity.value,
    )


def lookup_rule_meta(code: str) -> RuleMeta | None:
    """Rule file first, then the code-check registry; ``None`` when neither knows the code."""
    return _rule_file_meta(code) or _check_registry_meta(code)


def _descriptor(code: str, example: Finding, meta: RuleMeta | None) -> dict[str, Any]:
    title = (meta.title if meta else None) or example.title or code
    out: dict[str, Any] = {
        "id": code,
        "name": (meta.name if meta else None) or code,
        "shortDescription": {"text": title},
        "fullDescription": {
            "text": (meta.full_description if meta else None) or title,
        },
        "defaultConfiguration": {
            "level": _LEVEL.get(Severity((meta.severity if meta else None) or example.severity),
                                "warning"),
        },
        "properties": {
            "category": (meta.category if meta else None) or example.category.value,
            "tags": ["ebpf", (meta.category if meta else None) or example.category.value],
        },
    }
    if meta is not None and meta.help_markdown:
        out["help"] = {"text": meta.help_markdown, "markdown": meta.help_markdown}
    elif example.fixes:
        fixes = "\n".join(f"- {f}" for f in example.fixes)
        out["help"] = {"text": fixes, "markdown": fixes}
    if meta is not None and meta.help_uri:
        out["helpUri"] = meta.help_uri
    return out


def artifact_uri(path: str, base: Path | None = None) -> str:
    """A URI reference for a file: relative (POSIX, percent-encoded) when below ``base``."""
    base = base or Path.cwd()
    p = Path(path)
    if p.is_absolute():
        try:
            p = p.resolve().relative_to(base.resolve())
        except ValueError:
            return p.resolve().as_uri()
    return quote(PurePosixPath(p.as_posix()).as_posix())


def _location(cell: Cell, finding: Finding, base: Path | None) -> dict[str, Any]:
    loc = finding.location
    section = loc.section if loc is not None else None
    if section is None:
        section = _program_section(cell, finding.program)
    logical: list[dict[str, Any]] = []
    if finding.program:
        logical.append({
            "name": finding.program,
            "fullyQualifiedName": f"{section}/{finding.program}" if section else finding.program,
            "kind": "function",
        })
    elif section:
        logical.append({"name": section, "kind": "module"})
    if loc is not None and loc.source_file and loc.source_line and loc.source_line > 0:
        region: dict[str, Any] = {"startLine": loc.source_line}
        if loc.source_column and loc.source_column > 0:
            region["startColumn"] = loc.source_column
        if loc.source_text:
            region["snippet"] = {"text": loc.source_text}
        physical = {"artifactLocation": {"uri": artifact_uri(loc.source_file, base)},
                    "region": region}
    else:
        physical = {"artifactLocation": {"uri": artifact_uri(cell.object_path, base)}}
        if loc is not None and loc.insn is not None:
            physical["address"] = {"kind": "instruction", "name": section or "",
                                   "offsetFromParent": loc.insn * 8}
    out: dict[str, Any] = {"physicalLocation": physical}
    if logical:
        out["logicalLocations"] = logical
    return out


def _program_section(cell: Cell, program: str | None) -> str | None:
    if cell.result is None or program is None:
        return None
    for p in cell.result.object_json.get("programs", []):
        if isinstance(p, dict) and p.get("name") == program:
            sec = p.get("section")
            return str(sec) if sec else None
    return None


def _fingerprint(cell: Cell, finding: Finding) -> str:
    key = "\0".join((finding.rule, cell.object_path, finding.program or "", cell.target.name,
                     finding.message))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _result(cell: Cell, finding: Finding, rule_index: int, base: Path | None,
            suppression: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ruleId": finding.rule,
        "ruleIndex": rule_index,
        "level": _LEVEL[finding.severity],
        "message": {"text": f"[{cell.target.name}] {finding.message}"},
        "locations": [_location(cell, finding, base)],
        "partialFingerprints": {"bpfdoctorFinding/v1": _fingerprint(cell, finding)},
        "properties": {
            "category": finding.category.value,
            "target": cell.target.name,
            "targetKind": cell.target.kind,
            "object": cell.object_path,
        },
    }
    if finding.fixes:
        out["properties"]["fixes"] = list(finding.fixes)
    if finding.source:
        out["properties"]["factSource"] = finding.source
    if suppression is not None:
        out["suppressions"] = [{"kind": "external", "status": "accepted",
                                "justification": suppression}]
    return out


def _all_findings(cells: Iterable[Cell]) -> Iterable[tuple[Cell, Finding, str | None]]:
    for cell in cells:
        for f in cell.findings:
            yield cell, f, None
        for s in cell.suppressed:
            yield cell, s.finding, s.reason


def build_sarif(report: PreflightReport, *, base: Path | None = None,
                command_line: Sequence[str] | None = None) -> dict[str, Any]:
    """The SARIF log as a dict (``render_sarif`` serialises it)."""
    triples = list(_all_findings(report.cells))
    codes: dict[str, Finding] = {}
    for _, f, _ in triples:
        codes.setdefault(f.rule, f)
    rule_ids = sorted(codes)
    index = {code: i for i, code in enumerate(rule_ids)}
    rules = [_descriptor(code, codes[code], lookup_rule_meta(code)) for code in rule_ids]
    results = [_result(cell, f, index[f.rule], base, why) for cell, f, why in triples]
    notifications = [
        {
            "level": "error",
            "message": {"text": f"{cell.object_path} on {cell.target.name}: {cell.error}"},
            "locations": [{"physicalLocation": {
                "artifactLocation": {"uri": artifact_uri(cell.object_path, base)}}}],
        }
        for cell in report.errors
    ]
    invocation: dict[str, Any] = {
        "executionSuccessful": not report.errors,
        "exitCode": report.exit_code,
    }
    if command_line:
        invocation["commandLine"] = " ".join(command_line)
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [{
            "tool": {"driver": {
                "name": "bpfdoctor",
                "version": __version__,
                "semanticVersion": __version__,
                "rules": rules,
            }},
            "invocations": [invocation],
            "results": results,
            "columnKind": "unicodeCodePoints",
            "properties": {
                "targets": [{"name": t.name, "kind": t.kind, "spec": str(t)}
                            for t in report.targets],
                "failOn": report.fail_on.value,
                "loader": str(report.loader),
            },
        }],
    }


def render_sarif(report: PreflightReport, *, base: Path | None = None,
                 command_line: Sequence[str] | None = None) -> str:
    return json.dumps(build_sarif(report, base=base, command_line=command_line), indent=2) + "\n"
