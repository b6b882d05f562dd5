"""``bpfdoctor check OBJ [OBJ...]``: what an object contains and needs, and what is wrong with it."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer

from bpfdoctor.commands.common import (
    dump_json,
    exit_code_for,
    parse_severity,
    write_output,
)
from bpfdoctor.errors import InputError

FORMATS = ("text", "json")


def check(
    objects: Annotated[
        list[Path], typer.Argument(help="Compiled BPF object files (.o).", show_default=False)
    ],
    fmt: Annotated[str, typer.Option("--format", "-f", help="Output format: text or json.")] = "text",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report to FILE.")
    ] = None,
    fail_on: Annotated[
        str,
        typer.Option("--fail-on", help="Exit 1 when a finding is at or above: error, warning, info."),
    ] = "error",
) -> None:
    """Inventory BPF objects: programs, maps, BTF, CO-RE, ISA level and what they require."""
    from bpfdoctor.check import run_check

    if fmt not in FORMATS:
        raise InputError(f"--format: unknown format {fmt!r} (use {' or '.join(FORMATS)})")
    threshold = parse_severity(fail_on)
    results = [run_check(path) for path in objects]
    if fmt == "json":
        docs = [r.to_json() for r in results]
        text = dump_json(docs[0] if len(docs) == 1 else docs)
    else:
        from bpfdoctor.report.inventory_text import render_many

        to_tty = output is None and sys.stdout.isatty()
        width = shutil.get_terminal_size((120, 40)).columns if to_tty else 120
        color = to_tty and "NO_COLOR" not in os.environ
        text = render_many(results, width=width, color=color)
    write_output(text, output)
    severities = [f.severity for r in results for f in r.findings]
    raise typer.Exit(exit_code_for(severities, threshold))


def register(app: typer.Typer) -> None:
    app.command("check")(check)
