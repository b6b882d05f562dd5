"""``bpfdoctor preflight``: the CI gate (objects x targets from the config, all cores).

Settings come from ``bpfdoctor.toml`` / ``[tool.bpfdoctor]`` (found from the working
directory upwards, or ``--config``); OBJ arguments, ``--target``, ``--loader`` and
``--fail-on`` override the file, so the command also works with no file at all.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bpfdoctor.commands.common import (
    human,
    parse_severity,
    require_regular_file,
    write_output,
)
from bpfdoctor.errors import InputError

if TYPE_CHECKING:
    from bpfdoctor.config import PreflightConfig
    from bpfdoctor.preflight import Cell, PreflightReport

FORMATS = ("text", "json", "sarif", "junit", "github", "markdown")


def _parse_outputs(values: list[str]) -> list[tuple[str, Path]]:
    out: list[tuple[str, Path]] = []
    for value in values:
        fmt, sep, file = value.partition("=")
        fmt = fmt.strip().lower()
        if not sep or not file.strip():
            raise InputError(f"--output: expected FORMAT=FILE, got {value!r}")
        if fmt not in FORMATS:
            raise InputError(f"--output: unknown format {fmt!r} (use {', '.join(FORMATS)})")
        out.append((fmt, Path(file.strip())))
    return out


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def preflight(
    objects: Annotated[
        list[Path] | None,
        typer.Argument(help="BPF objects (default: `objects` globs from the config).",
                       show_default=False),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="bpfdoctor.toml or pyproject.toml to read."),
    ] = None,
    target: Annotated[
        list[str] | None,
        typer.Option("--target", "-t", help="Target (repeatable): live, profile:FILE, btf:FILE, "
                     "kernel:X.Y, optionally ,name=LABEL."),
    ] = None,
    loader: Annotated[
        str | None,
        typer.Option("--loader", help="libbpf[=1.1], iproute2, iproute2-legacy, cilium-ebpf, "
                     "bcc, aya or bpftool."),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="text, json, sarif, junit, github or markdown.")
    ] = "text",
    output: Annotated[
        list[str] | None,
        typer.Option("--output", "-o", help="Also write FORMAT=FILE (repeatable)."),
    ] = None,
    fail_on: Annotated[
        str | None,
        typer.Option("--fail-on", help="Exit 1 at or above this severity (default: error)."),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option("--jobs", "-j", min=1, help="Worker processes (default: all cores)."),
    ] = None,
    progress: Annotated[
        bool | None,
        typer.Option("--progress/--no-progress",
                     help="Progress bar (default: on a terminal, off when CI is set)."),
    ] = None,
) -> None:
    """Check objects against a matrix of target kernels; fail the pipeline on findings."""
    from dataclasses import replace

    from bpfdoctor.config import (
        COMMAND_LINE,
        PreflightConfig,
        expand_objects,
        find_config,
        load_config,
    )
    from bpfdoctor.preflight import render_table, run_config
    from bpfdoctor.targets import parse_loader, parse_target

    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise InputError(f"--format: unknown format {fmt!r} (use {', '.join(FORMATS)})")
    outputs = _parse_outputs(output or [])

    cwd = Path.cwd()
    config_path = config if config is not None else find_config(cwd)
    cfg = (load_config(config_path) if config_path is not None
           else PreflightConfig(source=COMMAND_LINE, root=cwd))
    if target:
        cfg = replace(cfg, targets=tuple(parse_target(t) for t in target))
    if loader is not None:
        cfg = replace(cfg, loader=parse_loader(loader))
    if fail_on is not None:
        cfg = replace(cfg, fail_on=parse_severity(fail_on))
    if objects:
        for p in objects:
            require_regular_file(p, "object")
            if not p.exists():
                raise InputError(f"{p}: no such file")
        paths = list(objects)
    elif cfg.objects:
        paths = expand_objects(cfg.objects, cfg.root, f"{cfg.source}: objects")
    else:
        raise InputError(
            "preflight: no objects (give OBJ arguments, or `objects` in bpfdoctor.toml)"
        )
    if not cfg.targets:
        raise InputError("preflight: no targets (give --target, or [targets] in bpfdoctor.toml)")

    show_progress = progress if progress is not None else (sys.stderr.isatty() and not _ci())
    if show_progress:
        report = _run_with_progress(cfg, paths, jobs, run_config)
    else:
        report = run_config(cfg, paths, jobs=jobs)

    renderers = _renderers()
    machine = fmt != "text"
    human(render_table(report).rstrip("\n"), machine)
    if fmt == "text":
        typer.echo(_findings_text(report), nl=False)
    else:
        write_output(renderers[fmt](report), None)
    if fmt == "github":
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary:
            _append(Path(summary), renderers["markdown"](report))
    for out_fmt, file in outputs:
        write_output(renderers[out_fmt](report), file)
    raise typer.Exit(report.exit_code)


def register(app: typer.Typer) -> None:
    app.command("preflight")(preflight)


def _append(path: Path, text: str) -> None:
    try:
        with path.open("a", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise InputError(f"cannot write step summary {path}: {exc.strerror}") from None


def _renderers() -> dict[str, Callable[[PreflightReport], str]]:
    from bpfdoctor.preflight import render_table
    from bpfdoctor.report.check_json import render_preflight_json
    from bpfdoctor.report.github import render_annotations, render_summary
    from bpfdoctor.report.junit import render_junit
    from bpfdoctor.report.sarif import render_sarif

    return {
        "text": lambda r: render_table(r) + _findings_text(r),
        "json": render_preflight_json,
        "sarif": lambda r: render_sarif(r, command_line=sys.argv),
        "junit": render_junit,
        "github": render_annotations,
        "markdown": render_summary,
    }


def _findings_text(report: PreflightReport) -> str:
    """One line per finding; info findings only when ``--fail-on info`` asked for them, so a
    CI log is not drowned in notes repeated on every cell."""
    from bpfdoctor.model import Severity

    show = Severity.INFO if report.fail_on is Severity.INFO else Severity.WARNING
    lines: list[str] = []
    hidden = 0
    for cell in report.cells:
        if cell.error is not None:
            lines.append(f"{cell.object_path} @ {cell.target.name}: not checked: {cell.error}")
        for f in cell.findings:
            if not f.severity.at_least(show):
                hidden += 1
                continue
            where = f" {f.program}" if f.program else ""
            lines.append(f"{cell.object_path} @ {cell.target.name}:{where} {f.rule} "
                         f"{f.severity.value}: {f.message}")
    n_sup = sum(len(c.suppressed) for c in report.cells)
    if hidden:
        lines.append(f"({hidden} info finding(s) not shown: --fail-on info or --format json "
                     "shows them)")
    lines.append(
        f"preflight: {report.verdict} ({len(report.failures)} failing, {len(report.errors)} "
        f"not checked, {n_sup} suppressed; {len(report.cells)} cells in {report.seconds:.2f}s "
        f"on {report.jobs} worker(s))"
    )
    return "\n".join(lines) + "\n"


def _run_with_progress(cfg: PreflightConfig, paths: list[Path], jobs: int | None,
                       run: Callable[..., PreflightReport]) -> PreflightReport:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    total = len(paths) * len(cfg.targets)
    with Progress(TextColumn("preflight"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.description}"), console=Console(stderr=True),
                  transient=True) as bar:
        task = bar.add_task("", total=total)

        def tick(cell: Cell) -> None:
            bar.update(task, advance=1, description=cell.object_path)

        return run(cfg, paths, jobs=jobs, on_cell=tick)
