"""``bpfdoctor probe``: an honest profile of the running kernel, savable for ``check --profile``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from bpfdoctor.commands.common import EXIT_CLEAN, human, write_output
from bpfdoctor.errors import InputError


def _progress_wanted() -> bool:
    """A progress bar only for a person at a terminal, never in CI or when piped."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        return False
    return sys.stderr.isatty() and sys.stdout.isatty()


def register(app: typer.Typer) -> None:
    @app.command("probe")
    def probe(
        format: Annotated[str, typer.Option("--format", "-f", help="text or json.")] = "text",
        save: Annotated[
            Path | None, typer.Option("--save", help="Also save the profile (JSON) to FILE.")
        ] = None,
        only: Annotated[
            str | None,
            typer.Option("--only", help="Comma-separated groups: prog_types, map_types, "
                                        "map_flags, helpers, isa, verifier, program_features, "
                                        "btf_kinds, kfuncs, attach, link_types, token, "
                                        "tracing."),
        ] = None,
        output: Annotated[
            Path | None, typer.Option("--output", "-o", help="Write the report to FILE.")
        ] = None,
        btf_only: Annotated[
            bool, typer.Option("--btf-only", help="No bpf() calls: facts from BTF and /proc.")
        ] = False,
        from_file: Annotated[
            Path | None,
            typer.Option("--from", help="Report on a saved profile instead of this kernel."),
        ] = None,
        verbose: Annotated[
            bool, typer.Option("--verbose", "-v", help="Show reasons for supported items too.")
        ] = False,
    ) -> None:
        """Probe this kernel: what loads, what is denied and why."""
        from bpfdoctor import kernelprofile
        from bpfdoctor.probe.capture import capture

        if format not in ("text", "json"):
            raise InputError(f"--format: unknown format {format!r} (use text or json)")
        groups = [g.strip() for g in only.split(",") if g.strip()] if only is not None else None
        if groups == []:
            raise InputError("--only: no group given (e.g. --only helpers,map_types)")
        if from_file is not None:
            profile = kernelprofile.load(from_file)
        elif _progress_wanted():
            from rich.progress import Progress

            with Progress(transient=True) as bar:
                task = bar.add_task("probing", total=None)

                def report(done: int, total: int, label: str) -> None:
                    bar.update(task, completed=done, total=total, description=label)

                profile = capture(groups, report, btf_only=btf_only)
        else:
            profile = capture(groups, btf_only=btf_only)
        if save is not None:
            kernelprofile.save(profile, save)
        if format == "json":
            write_output(profile.dumps(), output)
            if save is not None:
                human(f"profile saved to {save}", machine_format=True)
        else:
            from bpfdoctor.probe.render import render_text

            text = render_text(profile, verbose=verbose)
            if save is not None:
                text += f"profile saved to {save}\n"
            if output is not None:
                write_output(text, output)
            else:
                human(text.rstrip("\n"), machine_format=False)
        raise typer.Exit(EXIT_CLEAN)
