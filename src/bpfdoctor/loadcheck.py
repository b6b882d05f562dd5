"""Pure glue for ``check --load``: loader results + explain diagnoses -> ProgramLoad and findings.

The loader (:mod:`bpfdoctor.probe.loader`) says what the kernel did; this module says what it
means, with the same ``explain`` engine a user would run on the log, and puts the result next
to the static findings of :func:`bpfdoctor.check.run_check`. No host access here.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bpfdoctor.check import verdict_for
from bpfdoctor.errors import InputError
from bpfdoctor.explain import explain_text
from bpfdoctor.fileio import require_regular_file
from bpfdoctor.model import (
    Category,
    CheckResult,
    Confidence,
    Diagnosis,
    Evidence,
    Finding,
    ProgramLoad,
    Severity,
    TargetInfo,
)

if TYPE_CHECKING:
    from bpfdoctor.probe.loader.load import ObjectLoad, ProgramAttempt

TAIL_LINES = 12
MAX_COMPARE_BYTES = 64 << 20  # a check JSON result of a large object is a few MiB
LOADER_RULE = "LO001"  # the loader refused before the kernel saw the program
UNKNOWN_RULE = "LO002"  # the kernel refused and no rule recognised the log
OBJECT_RULE = "LO003"  # the object could not be loaded at all (privileges, endianness)


def log_tail(log: str, lines: int = TAIL_LINES) -> str:
    return "\n".join(log.rstrip().splitlines()[-lines:])


def _fallback_category(attempt: ProgramAttempt) -> Category:
    """Only used when explain found no signature: pick the category the errno points at."""
    log = attempt.log.strip()
    if attempt.log_truncated:
        return Category.LOG_TRUNCATED
    if attempt.errno in ("EPERM", "EACCES") and not log:
        return Category.PERMISSION
    if attempt.errno == "E2BIG":
        return Category.LOOP_COMPLEXITY
    if "kernel symbol" in log or "kfunc" in log:
        return Category.KFUNC
    return Category.LOADER_UNSUPPORTED


def _diagnoses(attempt: ProgramAttempt, permission_reason: str) -> tuple[Diagnosis, ...]:
    if attempt.ok:
        return ()
    if attempt.category is not None:
        return (Diagnosis(
            rule=LOADER_RULE, category=Category(attempt.category), severity=Severity.ERROR,
            confidence=Confidence.HIGH, title="The loader could not prepare this program",
            message=attempt.message or "", program=attempt.program,
        ),)
    found = explain_text(attempt.log, attempt.program).diagnoses if attempt.log else ()
    if found:
        return tuple(d if d.program else replace(d, program=attempt.program) for d in found)
    category = _fallback_category(attempt)
    last = attempt.log.strip().splitlines()[-1:] if attempt.log.strip() else []
    if category is Category.PERMISSION:
        message = (f"BPF_PROG_LOAD failed with {attempt.errno} and an empty verifier log: the "
                   f"kernel refused before verifying ({permission_reason})")
    else:
        message = (f"BPF_PROG_LOAD failed with {attempt.errno}; no known signature in the "
                   "verifier log" + (f" (last line: {last[0]})" if last else ""))
    lines = attempt.log.splitlines()
    return (Diagnosis(
        rule=UNKNOWN_RULE, category=category, severity=Severity.ERROR, confidence=Confidence.LOW,
        title="The kernel refused the program", message=message, program=attempt.program,
        evidence=(Evidence(len(lines), last[0]),) if last else (),
    ),)


def program_load(attempt: ProgramAttempt, permission_reason: str = "") -> ProgramLoad:
    from bpfdoctor.probe.loader.stats import parse_stats

    stats = parse_stats(attempt.log)
    return ProgramLoad(
        program=attempt.program,
        ok=attempt.ok,
        errno=attempt.errno,
        insns_processed=stats.insns_processed,
        total_states=stats.total_states,
        peak_states=stats.peak_states,
        stack_depth=stats.stack_depth,
        verification_time_usec=stats.verification_time_usec,
        verifier_log_tail=log_tail(attempt.log) if not attempt.ok else "",
        log_truncated=attempt.log_truncated,
        diagnoses=_diagnoses(attempt, permission_reason),
        steps=attempt.steps,
    )


def finding_of(d: Diagnosis) -> Finding:
    evidence: tuple[tuple[str, Any], ...] = (("source", "load"),)
    if d.insn is not None:
        evidence += (("insn", d.insn),)
    if d.evidence:
        evidence += (("log", d.evidence[0].text),)
    return Finding(rule=d.rule, category=d.category, severity=d.severity, message=d.message,
                   program=d.program, fixes=d.fixes, evidence=evidence, title=d.title,
                   source="load")


def merge(check: CheckResult, result: ObjectLoad, permission_reason: str = "") -> CheckResult:
    """``check`` with each program's load result and its diagnoses added as findings."""
    loads = tuple(replace(program_load(a, permission_reason), steps=result.steps + a.steps)
                  for a in result.programs)  # object steps (BTF, maps) shown with each program
    extra: list[Finding] = []
    if result.error_category is not None:
        extra.append(Finding(
            rule=OBJECT_RULE, category=Category(result.error_category), severity=Severity.ERROR,
            message=result.error_message or "", evidence=(("source", "load"),),
            title="The object could not be loaded on this kernel", source="load"))
    for ld in loads:
        extra.extend(finding_of(d) for d in ld.diagnoses[:1])
        extra.extend(finding_of(replace(d, severity=Severity.INFO)) for d in ld.diagnoses[1:])
    findings = check.findings + tuple(extra)
    target = check.target
    if target.kind == "none":
        target = TargetInfo(kind="live", kernel=_release(), name="live")
    return replace(check, loads=loads, findings=findings, target=target,
                   verdict=verdict_for(findings, True))


def _release() -> str | None:
    import os

    return os.uname().release


def load_steps(result: ObjectLoad) -> tuple[str, ...]:
    return result.steps


def render_loads_text(results: list[CheckResult]) -> str:
    """Plain per-program table of a ``--load`` run, appended to the text report."""
    out: list[str] = []
    for r in results:
        if not r.loads:
            continue
        out.append(f"Load on {r.target.kernel or 'this kernel'}: {r.object_path}")
        rows = [("program", "verdict", "errno", "insns", "states", "peak", "stack", "usec",
                 "diagnosis")]
        for ld in r.loads:
            primary = ld.diagnoses[0] if ld.diagnoses else None
            rows.append((
                ld.program, "ok" if ld.ok else "FAILED", ld.errno or "",
                _num(ld.insns_processed), _num(ld.total_states), _num(ld.peak_states),
                ld.stack_depth or "", _num(ld.verification_time_usec),
                f"{primary.rule} {primary.category.value}: {primary.title}" if primary else "",
            ))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        out.extend("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                   for row in rows)
        shared = r.loads[0].steps if r.loads else ()
        out.extend(f"  · {step}" for step in shared)
        for ld in r.loads:
            if not ld.ok and ld.verifier_log_tail:
                out.append(f"  -- {ld.program}: last lines of the verifier log --")
                out.extend("    " + line for line in ld.verifier_log_tail.splitlines()[-6:])
    return "\n".join(out) + ("\n" if out else "")


def _num(value: int | None) -> str:
    return "" if value is None else str(value)


# -- --compare ---------------------------------------------------------------------------------


def read_previous(path: Path) -> dict[str, dict[str, int | None]]:
    """Per-program ``insns_processed``/``total_states``/``peak_states`` of a saved JSON result."""
    require_regular_file(path, "--compare")  # a FIFO would block, /dev/zero never end
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_COMPARE_BYTES + 1)
    except OSError as exc:
        raise InputError(f"--compare {path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_COMPARE_BYTES:
        raise InputError(f"--compare {path}: larger than {MAX_COMPARE_BYTES >> 20} MiB: not "
                         "a bpfdoctor check JSON result")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InputError(f"--compare {path}: not UTF-8 text (a check JSON result)") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"--compare {path}: not JSON: {exc.msg} at line {exc.lineno}") from None
    except RecursionError:
        raise InputError(f"--compare {path}: JSON nested too deeply") from None
    docs = doc if isinstance(doc, list) else [doc]
    out: dict[str, dict[str, int | None]] = {}
    for d in docs:
        if not isinstance(d, dict) or not isinstance(d.get("object"), dict):
            raise InputError(f"--compare {path}: not a bpfdoctor check JSON result")
        programs = d["object"].get("programs", [])
        if not isinstance(programs, list):
            raise InputError(f"--compare {path}: object.programs is not a list")
        for prog in programs:
            load = prog.get("load") if isinstance(prog, dict) else None
            if isinstance(load, dict):
                out[str(prog.get("name"))] = {
                    k: load.get(k) for k in ("insns_processed", "total_states", "peak_states")
                }
    if not out:
        raise InputError(f"--compare {path}: no program has a 'load' block (run check --load)")
    return out


def compare_table(current: CheckResult, previous: dict[str, dict[str, int | None]]) -> str:
    """veristat-style table: program, metric, before, after, difference (percent)."""
    rows = [("program", "metric", "before", "after", "diff")]
    for ld in current.loads:
        old = previous.get(ld.program)
        if old is None:
            continue
        for key in ("insns_processed", "total_states", "peak_states"):
            before, after = old.get(key), getattr(ld, key)
            if before is None or after is None:
                diff = "n/a"
            else:
                pct = f" ({(after - before) * 100 / before:+.1f}%)" if before else ""
                diff = f"{after - before:+d}{pct}"
            rows.append((ld.program, key, str(before), str(after), diff))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows) + "\n"


def compare_json(current: CheckResult, previous: dict[str, dict[str, int | None]]
                 ) -> list[dict[str, Any]]:
    out = []
    for ld in current.loads:
        old = previous.get(ld.program)
        if old is None:
            continue
        for key in ("insns_processed", "total_states", "peak_states"):
            out.append({"program": ld.program, "metric": key, "before": old.get(key),
                        "after": getattr(ld, key)})
    return out
