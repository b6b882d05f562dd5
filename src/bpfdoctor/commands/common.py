"""Helpers shared by the command modules: output streams, formats and exit codes."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import typer

from bpfdoctor.errors import InputError
from bpfdoctor.fileio import require_regular_file as require_regular_file  # re-export
from bpfdoctor.model import Severity

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2


def parse_severity(value: str) -> Severity:
    try:
        return Severity(value.lower())
    except ValueError:
        raise InputError(
            f"--fail-on: unknown severity {value!r} (use error, warning or info)"
        ) from None


def exit_code_for(severities: Iterable[Severity], fail_on: Severity) -> int:
    """CONTRACT.md: 1 when anything is at or above --fail-on, else 0."""
    return EXIT_FINDINGS if any(s.at_least(fail_on) for s in severities) else EXIT_CLEAN


def dump_json(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=False, default=str) + "\n"


def write_output(text: str, output: Path | None) -> None:
    """Machine output goes to stdout or to --output FILE."""
    if output is None or str(output) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot write {output}: {exc.strerror}") from None


def human(text: str, machine_format: bool) -> None:
    """Human text goes to stderr when a machine format was chosen (CONTRACT.md)."""
    typer.echo(text, err=machine_format)




