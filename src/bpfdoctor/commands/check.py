"""``bpfdoctor check OBJ [OBJ...]``: what an object contains and needs, and what is wrong with it."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bpfdoctor.commands.common import (
    dump_json,
    exit_code_for,
    parse_severity,
    write_output,
)
from bpfdoctor.errors import InputError

if TYPE_CHECKING:
    from bpfdoctor.model import CheckResult, Severity
    from bpfdoctor.targets import TargetSpec

MACHINE_FORMATS = ("sarif", "junit", "github")
FORMATS = ("text", "json", *MACHINE_FORMATS)


def check(
    objects: Annotated[
        list[Path], typer.Argument(help="Compiled BPF object files (.o).", show_default=False)
    ],
    fmt: Annotated[str, typer.Option("--format", "-f", help="Output format: text, json, sarif, junit or github.")] = "text",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report to FILE.")
    ] = None,
    fail_on: Annotated[
        str,
        typer.Option("--fail-on", help="Exit 1 when a finding is at or above: error, warning, info."),
    ] = "error",
    live: Annotated[
        bool, typer.Option("--live", help="Check against this machine's kernel.")
    ] = False,
    profile: Annotated[
        list[Path] | None,
        typer.Option("--profile", help="Check against a profile saved by `bpfdoctor probe --save`."),
    ] = None,
    kernel_btf: Annotated[
        Path | None,
        typer.Option("--kernel-btf", help="Check against a kernel's BTF (raw, or ELF with .BTF)."),
    ] = None,
    kconfig: Annotated[
        Path | None, typer.Option("--kconfig", help="The target kernel's .config (with --kernel-btf).")
    ] = None,
    kernel_version: Annotated[
        str | None,
        typer.Option("--kernel-version", help="Target kernel version X.Y[.Z] (alone: the "
                     "version table; with --kernel-btf: refines it)."),
    ] = None,
    target: Annotated[
        list[str] | None,
        typer.Option("--target", "-t", help="Target spec: live, profile:F, btf:F, kernel:X.Y "
                     "(repeatable)."),
    ] = None,
    loader: Annotated[
        str | None,
        typer.Option("--loader", help="What will load the object: libbpf[=1.1], iproute2, "
                     "iproute2-legacy, cilium-ebpf, bcc, aya, bpftool. With --load: native "
                     "(our bpf() loader, the default) or bpftool."),
    ] = None,
    load: Annotated[
        bool, typer.Option("--load", help="Load every program on the running kernel (never "
                           "attaches, leaves nothing behind).")
    ] = False,
    program: Annotated[
        list[str] | None, typer.Option("--program", help="With --load: only this program "
                                       "(repeatable).")
    ] = None,
    log_level: Annotated[
        int, typer.Option("--log-level", help="With --load: verifier log level, 1 or 2.")
    ] = 1,
    keep_logs: Annotated[
        Path | None, typer.Option("--keep-logs", help="With --load: write each full verifier "
                                  "log to DIR.")
    ] = None,
    compare: Annotated[
        Path | None, typer.Option("--compare", help="With --load: compare instructions and "
                                  "states per program with a saved JSON result.")
    ] = None,
) -> None:
    """Inventory BPF objects and check them against target kernels: will they load, and why not."""
    from bpfdoctor.check import run_check

    if fmt not in FORMATS:
        raise InputError(f"--format: unknown format {fmt!r} (use {' or '.join(FORMATS)})")
    threshold = parse_severity(fail_on)
    live_loader = None
    if load:
        live_loader, loader = loader or "native", None
    specs = target_specs(live, profile or [], kernel_btf, kconfig, kernel_version,
                         target or [], loader)
    _refuse_special_files(specs, compare)
    chosen: list[TargetSpec | None] = list(specs) if specs else [None]
    compared = None
    if live_loader is not None:
        from bpfdoctor.commands.check_load import LoadRequest, run_loads

        request = LoadRequest(tuple(program or ()), log_level, keep_logs, compare, live_loader)
        results, compared = run_loads(objects, chosen, request)
    else:
        results = [run_check(path, spec) for path in objects for spec in chosen]
    if fmt in MACHINE_FORMATS:
        text = _preflight_format(fmt, objects, chosen, results, threshold)
    elif fmt == "json":
        docs = [r.to_json() for r in results]
        if compared is not None:
            from bpfdoctor.loadcheck import compare_json

            for doc, r in zip(docs, results, strict=True):
                doc["compare"] = compare_json(r, compared)
        text = dump_json(docs[0] if len(docs) == 1 else docs)
    else:
        from bpfdoctor.report.inventory_text import render_many

        to_tty = output is None and sys.stdout.isatty()
        width = shutil.get_terminal_size((120, 40)).columns if to_tty else 120
        color = to_tty and "NO_COLOR" not in os.environ
        text = render_many(results, width=width, color=color)
        if live_loader is not None:
            from bpfdoctor.loadcheck import render_loads_text

            text += render_loads_text(results)
    write_output(text, output)
    if compared is not None:
        from bpfdoctor.loadcheck import compare_table

        for r in results:
            typer.echo(compare_table(r, compared), err=fmt == "json", nl=False)
    severities = [f.severity for r in results for f in r.findings]
    raise typer.Exit(exit_code_for(severities, threshold))


def _preflight_format(fmt: str, objects: list[Path], chosen: list[TargetSpec | None],
                      results: list[CheckResult], threshold: Severity) -> str:
    """sarif, junit, github: the preflight renderers over this run's results."""
    from bpfdoctor.preflight.anchor import display_path
    from bpfdoctor.preflight.runner import report_from_results
    from bpfdoctor.targets import parse_target

    none = parse_target("none")
    pairs = [(display_path(path), spec or none, result) for (path, spec), result in
             zip(((p, s) for p in objects for s in chosen), results, strict=True)]
    report = report_from_results(pairs, fail_on=threshold)
    if fmt == "sarif":
        from bpfdoctor.report.sarif import render_sarif

        return render_sarif(report, command_line=sys.argv)
    if fmt == "junit":
        from bpfdoctor.report.junit import render_junit

        return render_junit(report)
    from bpfdoctor.report.github import render_annotations

    return render_annotations(report)


def _refuse_special_files(specs: list[TargetSpec], compare: Path | None) -> None:
    """Every file check reads must be a regular file: a FIFO or /dev/zero would hang or eat
    memory in the readers (profiles, kernel BTF, kconfig, --compare). Objects are refused the
    same way by ``BpfObject.open`` itself."""
    from bpfdoctor.commands.common import require_regular_file

    for spec in specs:
        if spec.kind in ("profile", "btf") and spec.value is not None:
            require_regular_file(spec.value, "profile" if spec.kind == "profile" else "kernel BTF")
        if spec.kconfig is not None:
            require_regular_file(spec.kconfig, "kconfig")
    if compare is not None:
        require_regular_file(compare, "--compare")


def target_specs(
    live: bool, profiles: list[Path], kernel_btf: Path | None, kconfig: Path | None,
    kernel_version: str | None, targets: list[str], loader: str | None,
) -> list[TargetSpec]:
    """The targets named by the check options, each carrying the --loader choice."""
    from dataclasses import replace

    from bpfdoctor.targets import parse_loader, parse_target

    texts: list[str] = list(targets)
    if live:
        texts.append("live")
    texts.extend(f"profile:{p}" for p in profiles)
    if kernel_btf is not None:
        opts = "".join([f",kconfig={kconfig}" if kconfig else "",
                        f",kernel={kernel_version}" if kernel_version else ""])
        texts.append(f"btf:{kernel_btf}{opts}")
    elif kconfig is not None:
        raise InputError("--kconfig goes with --kernel-btf")
    elif kernel_version is not None:
        texts.append(f"kernel:{kernel_version}")
    specs = [parse_target(t) for t in texts]
    if loader is not None:
        spec_loader = parse_loader(loader)
        specs = [s if s.loader is not None else replace(s, loader=spec_loader) for s in specs]
        if not specs:
            raise InputError("--loader needs a target (--live, --profile, --kernel-btf, "
                             "--kernel-version or --target)")
    return specs


def register(app: typer.Typer) -> None:
    app.command("check")(check)
