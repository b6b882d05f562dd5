"""GitHub Actions output: workflow annotations and a Markdown job summary.

Annotations (``::error file=F,line=L,title=CODE::message``) make findings clickable in the
pull-request diff; GitHub shows them on the C source line when the finding has line info,
else on the object file. The Markdown summary (for ``$GITHUB_STEP_SUMMARY``) carries the
matrix table and the findings so a reviewer sees the whole picture on the run page.

Escaping mirrors ``@actions/core``'s ``escapeData``/``escapeProperty``: ``%``, CR and LF in
the message; additionally ``:`` and ``,`` in property values.
"""

from __future__ import annotations

from bpfdoctor.model import Finding, Severity
from bpfdoctor.preflight import Cell, PreflightReport, cell_text, matrix_rows

_COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(cell: Cell, finding: Finding, *, suppressed_reason: str | None = None) -> str:
    """One workflow command line for one finding on one target."""
    props: list[tuple[str, str]] = []
    loc = finding.location
    if loc is not None and loc.source_file and loc.source_line:
        props.append(("file", loc.source_file))
        props.append(("line", str(loc.source_line)))
        if loc.source_column:
            props.append(("col", str(loc.source_column)))
    else:
        props.append(("file", cell.object_path))
    title = f"{finding.rule} on {cell.target.name}"
    if finding.program:
        title += f" ({finding.program})"
    props.append(("title", title))
    message = finding.message
    if finding.fixes:
        message += "\nFix: " + finding.fixes[0]
    command = _COMMAND[finding.severity]
    if suppressed_reason is not None:
        command = "notice"
        message = f"suppressed ({suppressed_reason}): {message}"
    head = ",".join(f"{k}={escape_property(v)}" for k, v in props)
    return f"::{command} {head}::{escape_data(message)}"


def render_annotations(report: PreflightReport, *, include_suppressed: bool = False) -> str:
    """Errors first: GitHub displays only the first few annotations of each kind per step.
    Info findings become notices only with ``--fail-on info`` (they repeat on every cell)."""
    show = Severity.INFO if report.fail_on is Severity.INFO else Severity.WARNING
    ranked: list[tuple[int, str]] = []
    for cell in report.cells:
        if cell.status == "error":
            ranked.append((4, (
                f"::error file={escape_property(cell.object_path)},"
                f"title={escape_property('bpfdoctor could not check ' + cell.target.name)}::"
                f"{escape_data(cell.error or 'unknown error')}"
            )))
            continue
        ranked.extend((f.severity.rank, annotation(cell, f)) for f in cell.findings
                      if f.severity.at_least(show))
        if include_suppressed:
            ranked.extend((0, annotation(cell, s.finding, suppressed_reason=s.reason))
                          for s in cell.suppressed)
    ranked.sort(key=lambda item: -item[0])
    return "".join(line + "\n" for _, line in ranked)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_summary(report: PreflightReport) -> str:
    """Markdown for ``$GITHUB_STEP_SUMMARY``: verdict, matrix table, findings, suppressions."""
    icon = {"pass": "✅", "fail": "❌", "error": "⚠️"}[report.verdict]
    n_obj, n_tgt = len(report.objects), len(report.targets)
    out = [
        f"## {icon} bpfdoctor preflight: {report.verdict}",
        "",
        f"{n_obj} object(s) x {n_tgt} target(s), fail on `{report.fail_on.value}`, "
        f"loader `{report.loader}`; {len(report.failures)} failing cell(s), "
        f"{len(report.errors)} not checked.",
        "",
    ]
    rows = matrix_rows(report)
    out.append("| " + " | ".join(_md(h) for h in rows[0]) + " |")
    out.append("|" + "---|" * len(rows[0]))
    for row in rows[1:]:
        cells = [f"`{_md(row[0])}`"] + [_md(v) for v in row[1:]]
        out.append("| " + " | ".join(cells) + " |")
    findings = [(c, f) for c in report.cells for f in c.findings]
    if findings:
        out += ["", "### Findings", "", "| target | object | program | rule | severity | message |",
                "|---|---|---|---|---|---|"]
        for c, f in findings:
            out.append(
                f"| {_md(c.target.name)} | `{_md(c.object_path)}` | {_md(f.program or '-')} "
                f"| {f.rule} | {f.severity.value} | {_md(f.message)} |"
            )
    errors = report.errors
    if errors:
        out += ["", "### Not checked", ""]
        out += [f"- `{_md(c.object_path)}` on {_md(c.target.name)}: {_md(c.error or '')}"
                for c in errors]
    suppressed = [(c, s) for c in report.cells for s in c.suppressed]
    if suppressed:
        out += ["", "<details><summary>Suppressed findings</summary>", ""]
        out += [f"- {s.finding.rule} on `{_md(c.object_path)}` / {_md(c.target.name)}: "
                f"{_md(s.reason)}" for c, s in suppressed]
        out += ["", "</details>"]
    return "\n".join(out) + "\n"


__all__ = ["annotation", "cell_text", "escape_data", "escape_property", "render_annotations",
           "render_summary"]
