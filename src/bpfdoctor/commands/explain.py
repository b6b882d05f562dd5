"""``bpfdoctor explain FILE|-``: why did this load fail, and what to change."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer

from bpfdoctor.commands.common import (
    EXIT_CLEAN,
    exit_code_for,
    human,
    parse_severity,
    write_output,
)
from bpfdoctor.errors import InputError


def register(app: typer.Typer) -> None:
    @app.command("explain")
    def explain(
        log: Annotated[str, typer.Argument(help="Verifier or loader output; '-' reads stdin.")],
        format: Annotated[str, typer.Option("--format", "-f", help="text or json.")] = "text",
        output: Annotated[
            Path | None, typer.Option("--output", "-o", help="Write to FILE.")
        ] = None,
        fail_on: Annotated[
            str, typer.Option("--fail-on", help="error, warning or info.")
        ] = "error",
        color: Annotated[
            bool | None, typer.Option("--color/--no-color", help="Colour the text.")
        ] = None,
        primary_only: Annotated[
            bool, typer.Option("--primary", help="Show only the primary diagnosis.")
        ] = False,
    ) -> None:
        """Explain a verifier log or loader output: root cause, evidence, fixes."""
        from bpfdoctor.explain import explain_file
        from bpfdoctor.rules.loader import load_catalogue

        if format not in ("text", "json"):
            raise InputError(f"--format: unknown format {format!r} (use text or json)")
        threshold = parse_severity(fail_on)
        catalogue = load_catalogue()
        result = explain_file(log, catalogue)
        if format == "json":
            from bpfdoctor.report.explain_json import render as render_json

            write_output(render_json(result), output)
        else:
            from bpfdoctor.report.explain_text import render as render_text

            use_color = color if color is not None else (output is None and sys.stdout.isatty())
            width = shutil.get_terminal_size((100, 24)).columns if use_color else 100
            text = render_text(result, catalogue, color=use_color, width=width,
                               all_diagnoses=not primary_only)
            if output is not None:
                write_output(text, output)
            else:
                human(text.rstrip("\n"), machine_format=False)
        if result.outcome == "loaded" and not result.diagnoses:
            raise typer.Exit(EXIT_CLEAN)
        raise typer.Exit(exit_code_for((d.severity for d in result.diagnoses), threshold))
