"""The command line: the only place that prints and picks exit codes.

Each command lives in ``bpfdoctor.commands.<name>`` and registers itself on the app; heavy
modules are imported inside the command functions so that ``bpfdoctor --help`` starts fast.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any, NoReturn

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
        importlib.import_module(f"bpfdoctor.commands.{name}").register(app)


_register_commands()


def _click_errors() -> tuple[type[Any], type[Any]]:
    """(UsageError, ClickException) of the click that typer runs on: recent typer vendors it
    as ``typer._click``, older typer uses ``click`` itself."""
    try:
        mod = importlib.import_module("typer._click.exceptions")
    except ModuleNotFoundError:
        mod = importlib.import_module("click.exceptions")
    return mod.UsageError, mod.ClickException


def _one_line(text: str, limit: int = 400) -> str:
    """CONTRACT.md promises exactly one line on stderr for an error: fold and bound it."""
    from bpfdoctor.report.textsafe import printable

    line = printable(" ".join(text.split()))  # a file name may carry ESC: never send it raw
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _fail(message: str) -> NoReturn:
    print(f"bpfdoctor: error: {_one_line(message)}", file=sys.stderr)
    sys.exit(2)


def main() -> None:
    """Console entry point: run the app, turn every error into one line and exit code 2.

    Click runs in non-standalone mode so that usage errors (unknown option, missing argument,
    bad value) come back here and are printed as one line like every other error, instead of
    click's usage block. Anything unexpected is a bug, but the user still gets one line (and
    the traceback with ``--debug``).
    """
    debug = "--debug" in sys.argv
    usage_error, click_error = _click_errors()
    try:
        code = app(standalone_mode=False)
    except usage_error as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()  # bare ``bpfdoctor`` or ``bpfdoctor rules``: the help is the answer
            sys.exit(exc.exit_code)
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        _fail(exc.format_message() + hint)
    except click_error as exc:
        _fail(exc.format_message())
    except typer.Abort:
        _fail("aborted")
    except BpfDoctorError as exc:
        if debug:
            raise
        _fail(str(exc))
    except KeyboardInterrupt:
        print("bpfdoctor: interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        # The reader (``| head``) went away: stop quietly, and keep Python's exit-time flush
        # of stdout from printing its own complaint about the closed pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except MemoryError:
        if debug:
            raise
        _fail("out of memory (is the input far larger than a BPF object, BTF or log?)")
    except RecursionError:
        if debug:
            raise
        _fail("input nested too deeply (recursion limit reached)")
    except (OSError, ValueError) as exc:
        if debug:
            raise
        _fail(f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # the last line of defence before a traceback
        if debug:
            raise
        _fail(f"internal error: {type(exc).__name__}: {exc} (a bug in bpfdoctor; "
              "rerun with --debug for the traceback)")
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
