"""``bpfdoctor profile``: build a kernel profile from a distribution kernel's files
(``from-kernel``) and show a saved one (``show``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from bpfdoctor.commands.common import (
    EXIT_CLEAN,
    dump_json,
    human,
    require_regular_file,
    write_output,
)
from bpfdoctor.errors import InputError


def _document(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _is_offline(path: Path) -> bool:
    """Written by ``profile from-kernel`` (describes a kernel, not a host)."""
    doc = _document(path)
    return isinstance(doc, dict) and "from_kernel" in doc


def _artifact_lines(path: Path) -> list[str]:
    """What the profile's ``artifacts`` name, and whether each file is there."""
    doc = _document(path)
    arts = doc.get("artifacts") if isinstance(doc, dict) else None
    if not isinstance(arts, dict):
        return ["Artifacts: none (a probe profile: no BTF, module BTF or function list saved)"]
    lines = ["Artifacts (next to the profile, read by check --profile):"]
    for key in ("vmlinux_btf", "modules_btf", "functions", "tracepoints"):
        value = arts.get(key)
        if not isinstance(value, str) or not value:
            lines.append(f"  {key}: none")
            continue
        target = path.parent / value
        if not target.exists():
            lines.append(f"  {key}: {value} (MISSING)")
        elif target.is_dir():
            lines.append(f"  {key}: {value} ({len(list(target.glob('*.btf')))} files)")
        else:
            lines.append(f"  {key}: {value} ({target.stat().st_size} bytes)")
    made = doc.get("from_kernel")
    made = made if isinstance(made, dict) else {}
    if isinstance(made.get("functions_source"), str):
        lines.append(f"  functions from: {made['functions_source']}")
    lines.append(f"  kconfig complete: {'yes' if arts.get('kconfig_complete') else 'no'}")
    notes = made.get("notes")
    if isinstance(notes, list) and notes:
        lines.append("Notes:")
        lines.extend(f"  - {n}" for n in notes if isinstance(n, str))
    return lines


class _Progress:
    """Progress of a slow ``from-kernel`` run ("decompressing vmlinuz...").

    Shown only when stderr is a terminal, on one line that each step overwrites and that is
    erased when the run ends, so an error is still the one line on stderr (CONTRACT.md) and
    logs and pipes never see progress at all.
    """

    def __init__(self) -> None:
        self.live = sys.stderr.isatty()
        self.shown = False

    def __call__(self, msg: str) -> None:
        if self.live:
            sys.stderr.write(f"\r\033[K  {msg}...")
            sys.stderr.flush()
            self.shown = True

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Build and inspect kernel profiles for check --profile.",
                        no_args_is_help=True)
    app.add_typer(group, name="profile")

    @group.command("from-kernel")
    def from_kernel(
        out: Annotated[Path, typer.Option("--out", help="Directory to write profile.json "
                                                         "and its artifacts into.")],
        config: Annotated[Path | None, typer.Option(
            "--config", help="The kernel's .config (or config.gz).")] = None,
        vmlinuz: Annotated[Path | None, typer.Option(
            "--vmlinuz", help="Compressed kernel image (bzImage): BTF and kallsyms are "
                              "extracted from it.")] = None,
        vmlinux: Annotated[Path | None, typer.Option(
            "--vmlinux", help="Uncompressed vmlinux ELF.")] = None,
        btf: Annotated[Path | None, typer.Option(
            "--btf", help="The kernel's BTF: raw (/sys/kernel/btf/vmlinux) or an ELF with "
                          ".BTF.")] = None,
        system_map: Annotated[Path | None, typer.Option(
            "--system-map", help="System.map: text symbols become the kprobe function "
                                 "list.")] = None,
        modules: Annotated[Path | None, typer.Option(
            "--modules", help="Directory of .ko/.ko.xz/.ko.gz/.ko.zst modules "
                              "(lib/modules/<release>).")] = None,
        kernel_version: Annotated[str | None, typer.Option(
            "--kernel-version", help="X.Y.Z when the files do not say it.")] = None,
        format: Annotated[str, typer.Option("--format", "-f", help="text or json.")] = "text",
    ) -> None:
        """Build a profile of a kernel that is not running here, from its files."""
        from bpfdoctor.offline.fromkernel import KernelFiles, build, write

        if format not in ("text", "json"):
            raise InputError(f"--format: unknown format {format!r} (use text or json)")
        machine = format == "json"
        files = KernelFiles(config=config, vmlinuz=vmlinuz, vmlinux=vmlinux, btf=btf,
                            system_map=system_map, modules=modules,
                            kernel_version=kernel_version)
        for flag, given in (("--config", config), ("--vmlinuz", vmlinuz),
                            ("--vmlinux", vmlinux), ("--btf", btf),
                            ("--system-map", system_map)):
            if given is not None:
                require_regular_file(given, flag)
        with _Progress() as progress:
            kernel = build(files, progress=progress)
            path = write(kernel, out)
        p = kernel.profile
        summary = {
            "profile": str(path),
            "kernel": p.host.kernel_release,
            "arch": p.host.arch,
            "btf_types": None,
            "modules_btf": len(kernel.modules) if kernel.modules is not None else None,
            "functions": len(kernel.functions) if kernel.functions is not None else None,
            "functions_source": kernel.functions_source,
            "kconfig_options": len(p.kconfig),
            "notes": list(kernel.notes),
        }
        if machine:
            write_output(dump_json(summary), None)
        else:
            lines = [f"wrote {path}",
                     f"  kernel {p.host.kernel_release} ({p.host.arch or 'arch unknown'})"
                     f"{' on ' + p.host.distro if p.host.distro else ''}",
                     f"  kconfig: {len(p.kconfig)} options"
                     f"{'' if p.kconfig else ' (none given: kprobe/tracing support unknown)'}",
                     f"  module BTF: {summary['modules_btf'] if kernel.modules is not None else 'not given'}",
                     f"  functions: {summary['functions'] if kernel.functions is not None else 'unknown'}"
                     f"{' from ' + kernel.functions_source if kernel.functions_source else ''}"]
            lines += [f"  note: {n}" for n in kernel.notes]
            human("\n".join(lines), machine_format=False)
        raise typer.Exit(EXIT_CLEAN)

    @group.command("show")
    def show(
        file: Annotated[Path, typer.Argument(help="A profile.json (probe --save or "
                                                  "profile from-kernel).")],
        format: Annotated[str, typer.Option("--format", "-f", help="text or json.")] = "text",
        verbose: Annotated[bool, typer.Option("--verbose", "-v",
                                              help="Show reasons for supported items too.")
                           ] = False,
    ) -> None:
        """Show a saved kernel profile: its problems, features and artifacts."""
        from bpfdoctor import kernelprofile

        if format not in ("text", "json"):
            raise InputError(f"--format: unknown format {format!r} (use text or json)")
        profile = kernelprofile.load(file)
        if format == "json":
            write_output(profile.dumps(indent=2), None)
        else:
            if _is_offline(file):
                from bpfdoctor.offline.render import render_offline

                text = render_offline(profile, verbose=verbose).rstrip("\n")
            else:
                from bpfdoctor.probe.render import render_text

                text = render_text(profile, verbose=verbose).rstrip("\n")
            human("\n".join([text, "", *_artifact_lines(file)]), machine_format=False)
        raise typer.Exit(EXIT_CLEAN)
