"""The compact matrix table: rows objects, columns targets, cells pass/fail + first code."""

from __future__ import annotations

from bpfdoctor.preflight.model import Cell, PreflightReport


def cell_text(cell: Cell) -> str:
    """Compact cell: ``FAIL KC003``, ``pass``, ``pass (KC010)`` for below-threshold findings."""
    if cell.status == "error":
        return "ERROR"
    if cell.status == "fail":
        return f"FAIL {cell.first_code}" if cell.first_code else "FAIL"
    return f"pass ({cell.first_code})" if cell.first_code else "pass"


def matrix_rows(report: PreflightReport) -> list[list[str]]:
    """Header row then one row per object: rows objects, columns targets."""
    rows = [["object", *(t.name for t in report.targets)]]
    by_key = {(c.object_path, c.target.name): c for c in report.cells}
    for obj in report.objects:
        row = [obj]
        for t in report.targets:
            c = by_key.get((obj, t.name))
            row.append(cell_text(c) if c is not None else "-")
        rows.append(row)
    return rows


def render_table(report: PreflightReport) -> str:
    """Plain fixed-width table (readable in any CI log, no colour codes)."""
    rows = matrix_rows(report)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


# -- running -------------------------------------------------------------------------------
