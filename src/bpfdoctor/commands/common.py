"""Helpers shared by the command modules: output streams, formats and exit codes."""

from __future__ import annotations

import json
import stat
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import typer

from bpfdoctor.errors import InputError
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


_SPECIAL = ((stat.S_ISFIFO, "FIFO (named pipe)"), (stat.S_ISCHR, "character device"),
            (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket"))


def require_regular_file(path: Path | str, what: str) -> None:
    """Refuse an input that is not a regular file before anything opens it.

    Opening a FIFO blocks until a writer appears and ``/dev/zero`` never ends, so a reader
    deeper down would hang or fill memory; a directory gives a confusing errno. Missing files
    are left to the reader, which names them in its own words.
    """
    p = Path(path)
    try:
        mode = p.stat().st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise InputError(f"{what} {p}: cannot read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(mode):
        raise InputError(f"{what} {p}: is a directory, not a file")
    if not stat.S_ISREG(mode):
        kind = next((word for test, word in _SPECIAL if test(mode)), "special file")
        raise InputError(f"{what} {p}: is a {kind}, not a regular file")

