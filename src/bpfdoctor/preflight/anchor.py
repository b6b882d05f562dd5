"""Point findings at C source lines, from the object's .BTF.ext line info.

Annotations and SARIF results are only clickable when they name a source file that exists
and a line; the checks know the program (and sometimes the instruction), the object's line
info knows the C line, and this module joins the two.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from bpfdoctor.model import CheckResult, Finding, Location

if TYPE_CHECKING:
    from bpfdoctor.elf.object import BpfObject


def display_path(path: Path, cwd: Path | None = None) -> str:
    """Relative to the working directory when below it (clickable in CI), else absolute."""
    cwd = cwd or Path.cwd()
    try:
        return path.resolve().relative_to(cwd.resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()


def _source_file(obj_path: str, file: str) -> str:
    """Line info names the file as the compiler saw it (``././x.bpf.c``, relative to where clang
    ran, which may be a parent of the object's directory). When that file can be found beside
    the object or a few directories up, point at it so annotations are clickable; else keep
    the compiler's name."""
    normal = os.path.normpath(file)
    if os.path.isabs(normal):
        return display_path(Path(normal)) if Path(normal).is_file() else normal
    here = Path(obj_path).parent
    candidates = [base / normal for base in (here, *list(here.parents)[:3])]
    candidates.append(here / Path(normal).name)
    for candidate in candidates:
        if candidate.is_file():
            return display_path(candidate)
    return normal


def anchor_findings(obj: BpfObject, result: CheckResult) -> CheckResult:
    """Give program findings without a source line the C line of their instruction (when the
    finding names one) or of the program's first instruction, from .BTF.ext line info, so
    SARIF and annotations can point at the C source instead of the object file; and resolve
    the compiler's relative file names to files that exist."""
    ext = obj.btf_ext
    programs = {p.name: p for p in obj.entry_programs}
    changed = False
    findings: list[Finding] = []
    for f in result.findings:
        loc = f.location
        if loc is not None and loc.source_file and loc.source_line:
            # already placed by the check: only make the compiler's file name findable
            resolved = _source_file(result.object_path, loc.source_file)
            if resolved != loc.source_file:
                f = replace(f, location=replace(loc, source_file=resolved))
                changed = True
            findings.append(f)
            continue
        prog = programs.get(f.program or "")
        if prog is None or ext is None:
            findings.append(f)
            continue
        insn = prog.start
        if loc is not None and loc.insn is not None and prog.start <= loc.insn < prog.end:
            insn = loc.insn  # else it is in a subprogram of another section: use the entry
        line = ext.line_for(prog.section, insn)
        if line is None or line.line <= 0:
            findings.append(f)
            continue
        findings.append(replace(f, location=Location(
            object_path=loc.object_path if loc is not None else result.object_path,
            section=prog.section,
            insn=loc.insn if loc is not None else None,
            source_file=_source_file(result.object_path, line.file),
            source_line=line.line,
            source_column=line.column or None,
            source_text=line.text.strip() or None,
        )))
        changed = True
    return replace(result, findings=tuple(findings)) if changed else result
