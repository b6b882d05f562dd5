"""JUnit XML: one ``testcase`` per object x target x program, for CI test-report widgets.

Layout follows the Ant/Jenkins JUnit schema that GitLab, Jenkins and most CI dashboards read:
``testsuites`` > one ``testsuite`` per object x target > one ``testcase`` per program
(``classname`` = object path, ``name`` = ``target/program``). A program with a finding at or
above ``--fail-on`` gets a ``failure``; findings not attributed to one program fail an extra
``(object)`` case. A cell that could not be checked gets one ``error`` case. Lower findings and
suppressed ones go to ``system-out`` so they are visible without failing the build.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime

from bpfdoctor.model import Finding
from bpfdoctor.preflight import Cell, PreflightReport, Suppressed

OBJECT_CASE = "(object)"


def _finding_text(f: Finding) -> str:
    head = f"{f.rule} [{f.severity.value}, {f.category.value}]"
    if f.program:
        head += f" program {f.program}"
    lines = [head, f.message]
    loc = f.location
    if loc is not None and loc.source_file and loc.source_line:
        lines.append(f"at {loc.source_file}:{loc.source_line}")
    lines.extend(f"fix: {fix}" for fix in f.fixes)
    return "\n".join(lines)


def _suppressed_text(s: Suppressed) -> str:
    return f"suppressed {s.finding.rule} ({s.reason}): {s.finding.message}"


def _case(suite: ET.Element, cell: Cell, name: str, failing: Sequence[Finding],
          other: Sequence[Finding], suppressed: Sequence[Suppressed], seconds: float) -> None:
    case = ET.SubElement(suite, "testcase", {
        "name": f"{cell.target.name}/{name}",
        "classname": cell.object_path,
        "time": f"{seconds:.6f}",
    })
    if failing:
        first = failing[0]
        failure = ET.SubElement(case, "failure", {
            "message": f"{first.rule}: {first.message}",
            "type": first.rule,
        })
        failure.text = "\n\n".join(_finding_text(f) for f in failing)
    notes = [_finding_text(f) for f in other] + [_suppressed_text(s) for s in suppressed]
    if notes:
        out = ET.SubElement(case, "system-out")
        out.text = "\n\n".join(notes)


def _suite(root: ET.Element, cell: Cell, report: PreflightReport, ident: int,
           timestamp: str) -> None:
    suite = ET.SubElement(root, "testsuite", {
        "name": f"{cell.object_path} @ {cell.target.name}",
        "id": str(ident),
        "package": "bpfdoctor.preflight",
        "hostname": "localhost",
        "timestamp": timestamp,
        "time": f"{cell.seconds:.6f}",
    })
    props = ET.SubElement(suite, "properties")
    for key, value in (("target", str(cell.target)), ("target.kind", cell.target.kind),
                       ("fail-on", report.fail_on.value), ("loader", str(report.loader))):
        ET.SubElement(props, "property", {"name": key, "value": value})

    tests = failures = errors = 0
    if cell.status == "error" or cell.result is None:
        case = ET.SubElement(suite, "testcase", {
            "name": f"{cell.target.name}/{OBJECT_CASE}",
            "classname": cell.object_path,
            "time": f"{cell.seconds:.6f}",
        })
        err = ET.SubElement(case, "error", {"message": cell.error or "could not be checked",
                                            "type": "BpfDoctorError"})
        err.text = cell.error or ""
        tests, errors = 1, 1
    else:
        programs = list(cell.programs)
        per_case = (cell.seconds / max(1, len(programs)))
        names = set(programs)
        buckets: dict[str, list[Finding]] = {p: [] for p in programs}
        sup: dict[str, list[Suppressed]] = {p: [] for p in programs}
        buckets[OBJECT_CASE], sup[OBJECT_CASE] = [], []
        for f in cell.findings:
            buckets[f.program if f.program in names else OBJECT_CASE].append(f)
        for s in cell.suppressed:
            p = s.finding.program
            sup[p if p in names else OBJECT_CASE].append(s)
        order = [*programs]
        if buckets[OBJECT_CASE] or sup[OBJECT_CASE] or not programs:
            order.append(OBJECT_CASE)
        for name in order:
            failing = [f for f in buckets[name] if f.severity.at_least(report.fail_on)]
            other = [f for f in buckets[name] if not f.severity.at_least(report.fail_on)]
            _case(suite, cell, name, failing, other, sup[name], per_case)
            tests += 1
            failures += bool(failing)
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", "0")
    ET.SubElement(suite, "system-out")
    ET.SubElement(suite, "system-err")


def build_junit(report: PreflightReport, *, timestamp: datetime | None = None) -> ET.Element:
    when = (timestamp or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S")
    root = ET.Element("testsuites", {"name": "bpfdoctor preflight",
                                     "time": f"{report.seconds:.6f}"})
    for i, cell in enumerate(report.cells):
        _suite(root, cell, report, i, when)
    totals = {k: sum(int(s.get(k, "0")) for s in root) for k in ("tests", "failures", "errors")}
    for key, value in totals.items():
        root.set(key, str(value))
    return root


def render_junit(report: PreflightReport, *, timestamp: datetime | None = None) -> str:
    root = build_junit(report, timestamp=timestamp)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=False).join(
        ('<?xml version="1.0" encoding="UTF-8"?>\n', "\n")
    )
