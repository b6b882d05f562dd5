"""The preflight matrix: every object checked against every target, on all cores.

The core returns a frozen :class:`PreflightReport`; renderers (table, JSON, SARIF, JUnit,
GitHub) and the CLI work from that one value. Each cell is one ``run_check(object, target)``
call from :mod:`bpfdoctor.check`; this package adds only what a matrix needs:

- ``runner``: targets built once, fan-out over processes when it pays, ignores applied (the
  suppressed findings are kept with their reason), a per-cell verdict against ``--fail-on``;
- ``anchor``: program findings pointed at their C source line from .BTF.ext line info;
- ``table``: the compact rows-objects, columns-targets table;
- ``model``: the frozen ``Cell`` and ``PreflightReport``.
"""

from bpfdoctor.preflight.anchor import anchor_findings, display_path
from bpfdoctor.preflight.model import Cell, CellStatus, PreflightReport, Suppressed
from bpfdoctor.preflight.runner import (
    PARALLEL_MIN_SECONDS,
    apply_ignores,
    plan_tasks,
    prepare_targets,
    resolve_target,
    run_config,
    run_matrix,
)
from bpfdoctor.preflight.table import cell_text, matrix_rows, render_table

__all__ = [
    "PARALLEL_MIN_SECONDS",
    "Cell",
    "CellStatus",
    "PreflightReport",
    "Suppressed",
    "anchor_findings",
    "apply_ignores",
    "cell_text",
    "display_path",
    "matrix_rows",
    "plan_tasks",
    "prepare_targets",
    "render_table",
    "resolve_target",
    "run_config",
    "run_matrix",
]
