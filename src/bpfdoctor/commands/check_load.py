"""``check --load``: run the loader (native or bpftool) and merge its verdicts into ``check``.

Kept apart from ``commands/check.py`` so the plain ``check`` path imports nothing of the loader.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bpfdoctor.check import run_check
from bpfdoctor.elf.object import BpfObject
from bpfdoctor.errors import InputError
from bpfdoctor.model import CheckResult

if TYPE_CHECKING:
    from bpfdoctor.targets import TargetSpec

LOADERS = ("native", "bpftool")


@dataclass(frozen=True, slots=True)
class LoadRequest:
    programs: tuple[str, ...]
    log_level: int
    keep_logs: Path | None
    compare: Path | None
    loader: str


def run_loads(
    objects: list[Path], specs: Sequence[TargetSpec | None], req: LoadRequest
) -> tuple[list[CheckResult], dict[str, dict[str, int | None]] | None]:
    """Each object loaded once; its verdicts merged into its check against every target."""
    from bpfdoctor.loadcheck import merge, read_previous

    if req.loader not in LOADERS:
        raise InputError(f"--loader: with --load, the loader is native or bpftool, not "
                         f"{req.loader!r}")
    if req.log_level not in (1, 2):
        raise InputError(f"--log-level: {req.log_level} is not 1 or 2")
    if req.keep_logs is not None and req.loader == "native":
        from bpfdoctor.probe.loader.load import prepare_log_dir

        prepare_log_dir(req.keep_logs)  # refused before anything is loaded
    previous = read_previous(req.compare) if req.compare is not None else None
    results: list[CheckResult] = []
    for path in objects:
        obj = BpfObject.open(path)
        if req.loader == "bpftool":
            from bpfdoctor.probe.loader.bpftool import load_with_bpftool

            outcome = load_with_bpftool(obj, req.programs)
        else:
            from bpfdoctor.probe.loader.load import LoadOptions, load_object

            keep = req.keep_logs / Path(path).stem if req.keep_logs and len(objects) > 1 else req.keep_logs
            outcome = load_object(obj, LoadOptions(req.programs, req.log_level, keep))
        reason = ""
        if outcome.error_category == "permission" or any(
            p.errno in ("EPERM", "EACCES") and not p.log.strip() for p in outcome.programs
        ):
            from bpfdoctor.probe.loader.load import permission_reason

            reason = permission_reason()
        results.extend(merge(run_check(obj, spec), outcome, reason) for spec in specs)
    return results, previous
