"""Running the matrix: targets built once, work spread over processes when it pays.

Tasks are one target against a slice of objects, because building a target (probing the live
kernel, indexing a vmlinux BTF) costs far more than checking one object against it; workers
read each object once and reuse it for every target. ``CheckResult`` is a frozen dataclass, so
results cross the process boundary by pickling.
"""

from __future__ import annotations

import functools
import math
import os
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from bpfdoctor.config import COMMAND_LINE, Ignore, PreflightConfig
from bpfdoctor.errors import BpfDoctorError, InputError
from bpfdoctor.model import CheckResult, Finding, Severity, TargetInfo
from bpfdoctor.preflight.anchor import anchor_findings, display_path
from bpfdoctor.preflight.model import Cell, PreflightReport, Suppressed
from bpfdoctor.targets import DEFAULT_LOADER, LoaderSpec, TargetSpec

if TYPE_CHECKING:
    from bpfdoctor.elf.object import BpfObject

# Below this much predicted serial CPU work, starting worker processes (and warming their
# caches again, ~0.1-0.2 s each) costs more than it saves (bench/bench_preflight.py, 2 cores).
PARALLEL_MIN_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class _Task:
    """One target against a slice of the objects."""

    target: TargetSpec
    objects: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Outcome:
    object_path: str
    target: TargetSpec
    result: CheckResult | None
    error: str | None
    seconds: float


def _open_object(path: str) -> BpfObject:
    """Objects are read once per worker process and reused for every target (their decoded
    instructions, BTF and relocations are cached properties); a file changed on disk since
    is read again."""
    from bpfdoctor.elf.object import BpfObject

    try:
        st = os.stat(path)
    except OSError:
        return BpfObject.open(path)  # raises the reader's own one-line error
    return _open_cached(path, st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=256)
def _open_cached(path: str, mtime_ns: int, size: int) -> BpfObject:
    from bpfdoctor.elf.object import BpfObject

    return BpfObject.open(path)


def _internal_error(exc: Exception) -> str:
    """One line for a bug report: the exception and the innermost frame that raised it."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"internal error in bpfdoctor: {type(exc).__name__}: {exc}{where}"


def _run_task(task: _Task) -> list[_Outcome]:
    """Worker: one target against a slice of objects (top level, so it pickles).

    Tasks are target-major because resolving a target (probing the live kernel, indexing a
    vmlinux BTF) costs far more than checking one object against it; the target is resolved
    once per worker process (``bpfdoctor.targetload`` caches it) and objects are cached too.
    """
    from bpfdoctor.check import run_check

    target = task.target
    out: list[_Outcome] = []
    for path in task.objects:
        start = time.perf_counter()
        try:
            obj = _open_object(path)
            result = run_check(obj, target=target)
        except BpfDoctorError as exc:
            out.append(_Outcome(path, target, None, str(exc), time.perf_counter() - start))
            continue
        except Exception as exc:  # a bug in one check must not hide the rest of the matrix
            out.append(_Outcome(path, target, None, _internal_error(exc),
                                time.perf_counter() - start))
            continue
        result = anchor_findings(obj, result)
        out.append(_Outcome(path, target, result, None, time.perf_counter() - start))
    return out


def plan_tasks(
    objects: Sequence[str], targets: Sequence[TargetSpec], jobs: int
) -> list[_Task]:
    """One task per target, split over the objects just enough to keep ``jobs`` workers busy
    (about two tasks each)."""
    if not objects or not targets:
        return []
    chunks = min(len(objects), max(1, math.ceil(2 * jobs / len(targets))))
    size = math.ceil(len(objects) / chunks)
    return [
        _Task(target, tuple(objects[i:i + size]))
        for target in targets
        for i in range(0, len(objects), size)
    ]


def resolve_target(spec: TargetSpec, root: Path) -> TargetSpec:
    """Anchor relative profile/BTF/kconfig paths at the configuration's directory and check
    they exist, so a typo fails the run once instead of every cell."""
    value, kconfig = spec.value, spec.kconfig
    if spec.kind in ("profile", "btf") and value is not None:
        value = str(_anchor(value, root, f"target {spec.name!r}"))
    if kconfig is not None:
        kconfig = str(_anchor(kconfig, root, f"target {spec.name!r} kconfig"))
    return replace(spec, value=value, kconfig=kconfig)


def _anchor(path: str, root: Path, what: str) -> Path:
    p = Path(path)
    if not p.is_absolute():
        p = root / p
    if not p.exists():
        raise InputError(f"{what}: {path} does not exist (relative to {root})")
    return p


def apply_ignores(
    findings: Sequence[Finding], ignores: Sequence[Ignore], object_path: str, target_name: str
) -> tuple[tuple[Finding, ...], tuple[Suppressed, ...]]:
    kept: list[Finding] = []
    dropped: list[Suppressed] = []
    for f in findings:
        hit = next((i for i in ignores if i.matches(f, object_path, target_name)), None)
        if hit is None:
            kept.append(f)
        else:
            dropped.append(Suppressed(f, hit.reason, hit.rule))
    kept.sort(key=lambda f: -f.severity.rank)
    return tuple(kept), tuple(dropped)


def _make_cell(outcome: _Outcome, ignores: Sequence[Ignore], fail_on: Severity) -> Cell:
    if outcome.result is None:
        return Cell(outcome.object_path, outcome.target, "error", error=outcome.error,
                    seconds=outcome.seconds)
    result = outcome.result
    # Label the result with the matrix column; the kind stays what the check really used.
    result = replace(result, target=TargetInfo(result.target.kind, result.target.kernel,
                                               outcome.target.name))
    findings, suppressed = apply_ignores(
        result.findings, ignores, outcome.object_path, outcome.target.name
    )
    failed = any(f.severity.at_least(fail_on) for f in findings)
    return Cell(outcome.object_path, outcome.target, "fail" if failed else "pass", result,
                findings, suppressed, None, outcome.seconds)


def prepare_targets(specs: Sequence[TargetSpec]) -> None:
    """Build every target once before the matrix starts.

    A target that cannot be built (a malformed profile, an unreadable BTF) is a configuration
    error: it stops the run with one line instead of failing every cell of its column. Built
    targets are cached per process by ``bpfdoctor.targetload``, so serial runs and forked
    workers reuse them instead of probing or reading again.
    """
    from bpfdoctor.targetload import resolve_target as build_target

    for spec in specs:
        if spec.kind == "none":
            continue
        try:
            build_target(spec)
        except BpfDoctorError as exc:
            raise InputError(f"target {spec.name!r}: {exc}") from None


def run_matrix(
    objects: Sequence[Path],
    targets: Sequence[TargetSpec],
    *,
    loader: LoaderSpec = DEFAULT_LOADER,
    fail_on: Severity = Severity.ERROR,
    ignores: Sequence[Ignore] = (),
    jobs: int | None = None,
    on_cell: Callable[[Cell], None] | None = None,
    config_source: str | None = None,
    min_parallel_seconds: float = PARALLEL_MIN_SECONDS,
) -> PreflightReport:
    """Check every object against every target; ``on_cell`` is told as each cell finishes.

    Work spreads over ``jobs`` processes (default: all cores) unless the matrix is predicted
    to take less than ``min_parallel_seconds`` serially (``0`` always spreads).
    A target without its own loader gets the run-wide ``loader``. Objects that cannot be read
    give ``error`` cells, not an exception, so one bad input does not hide the rest of the
    matrix; a target that cannot be built at all stops the run (:func:`prepare_targets`).
    """
    if not objects:
        raise InputError("preflight: no objects to check (give OBJ arguments or `objects` in the config)")
    if not targets:
        raise InputError("preflight: no targets (give --target or `targets` in the config)")
    started = time.perf_counter()
    names = list(dict.fromkeys(display_path(p) for p in objects))
    specs = tuple(t if t.loader is not None else replace(t, loader=loader) for t in targets)
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise InputError(f"preflight: two targets are named {spec.name!r}; "
                             "label one with ,name=LABEL")
        seen.add(spec.name)
    prepare_targets(specs)
    jobs = max(1, jobs or os.cpu_count() or 1)
    tasks = plan_tasks(names, specs, jobs)
    done: dict[tuple[str, str], Cell] = {}

    def collect(outcomes: list[_Outcome]) -> None:
        for o in outcomes:
            cell = _make_cell(o, ignores, fail_on)
            done[(o.object_path, o.target.name)] = cell
            if on_cell is not None:
                on_cell(cell)

    workers = min(jobs, len(tasks))
    if workers > 1 and len(names) > 2 and min_parallel_seconds > 0:
        # Check the first two objects against every target here: the first warms what forked
        # workers inherit (the knowledge base, built targets and their lazy indexes), the
        # second measures what one more object costs once warm. When the rest is too little
        # work to repay starting workers (and warming their caches again), finish here.
        for spec in specs:
            collect(_run_task(_Task(spec, (names[0],))))
        second = time.process_time()  # CPU, not wall: a busy machine must not look like work
        for spec in specs:
            collect(_run_task(_Task(spec, (names[1],))))
        predicted = (time.process_time() - second) * (len(names) - 2)
        tasks = plan_tasks(names[2:], specs, jobs)
        workers = 1 if predicted < min_parallel_seconds else min(jobs, len(tasks))
    if workers <= 1:
        for task in tasks:
            collect(_run_task(task))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(_run_task, t) for t in tasks]
            for fut in as_completed(futures):
                collect(fut.result())

    cells = tuple(done[(o, t.name)] for o in names for t in specs)
    return PreflightReport(
        objects=tuple(names), targets=specs, cells=cells, fail_on=fail_on, loader=loader,
        seconds=time.perf_counter() - started, jobs=workers, config_source=config_source,
        ignores=tuple(ignores),
    )


def report_from_results(
    pairs: Sequence[tuple[str, TargetSpec, CheckResult]],
    *,
    fail_on: Severity = Severity.ERROR,
    loader: LoaderSpec = DEFAULT_LOADER,
) -> PreflightReport:
    """A report over results computed elsewhere (``bpfdoctor check --format sarif``), so the
    machine formats of preflight serve plain ``check`` too."""
    cells = tuple(_make_cell(_Outcome(path, spec, result, None, 0.0), (), fail_on)
                  for path, spec, result in pairs)
    return PreflightReport(
        objects=tuple(dict.fromkeys(p for p, _, _ in pairs)),
        targets=tuple({s.name: s for _, s, _ in pairs}.values()),
        cells=cells, fail_on=fail_on, loader=loader,
    )


def run_config(
    config: PreflightConfig,
    objects: Sequence[Path],
    *,
    jobs: int | None = None,
    on_cell: Callable[[Cell], None] | None = None,
) -> PreflightReport:
    """Run the matrix a validated configuration describes (objects already expanded)."""
    targets = [resolve_target(t, config.root) for t in config.targets]
    return run_matrix(
        objects, targets, loader=config.loader, fail_on=config.fail_on,
        ignores=config.ignores, jobs=jobs or config.jobs, on_cell=on_cell,
        config_source=None if config.source == COMMAND_LINE else config.source,
    )
