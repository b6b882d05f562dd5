"""The command line: the only place that prints and picks exit codes.

Each command lives in ``bpfdoctor.commands.<name>`` and registers itself on the app; heavy
modules are imported inside the command functions so that ``bpfdoctor --help`` starts fast.
"""

from __future__ import annotations

import importlib
import sys

import typer

from bpfdoctor import __version__
from bpfdoctor.errors import BpfDoctorError

app = typer.Typer(
    name="bpfdoctor",
    help="Tells you why your eBPF program will not load, and what to change.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

# Command modules, each defining ``register(app)``. Order is the order shown in --help.
COMMAND_MODULES = ("check", "explain", "probe", "rules", "profile", "preflight")

_DEBUG = False


def _version(value: bool) -> None:
    if value:
        typer.echo(f"bpfdoctor {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    global _DEBUG
    _DEBUG = debug


def _register_commands() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"bpfdoctor.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"bpfdoctor.commands.{name}":
                continue
            raise
        module.register(app)


_register_commands()


def main() -> None:
    """Console entry point: run the app, turn known errors into one line and exit code 2."""
    debug = "--debug" in sys.argv
    try:
        app()
    except BpfDoctorError as exc:
        if debug:
            raise
        print(f"bpfdoctor: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("bpfdoctor: interrupted", file=sys.stderr)
        sys.exit(130)
    except (OSError, MemoryError, RecursionError, ValueError) as exc:
        if debug:
            raise
        print(f"bpfdoctor: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
