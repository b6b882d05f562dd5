"""Checks of one object against one target kernel (issue 5).

``check_object(obj, spec)`` builds the :class:`~bpfdoctor.checks.target.Target` for the spec
(through ``bpfdoctor.targetload``) and runs every check on it; ``run_checks(obj, target)``
runs them on a target built elsewhere (tests, preflight caching one target for many objects).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from bpfdoctor.model import Finding, TargetInfo

if TYPE_CHECKING:
    from bpfdoctor.checks.context import CheckContext
    from bpfdoctor.checks.target import Target
    from bpfdoctor.elf.object import BpfObject
    from bpfdoctor.targets import TargetSpec

Check = Callable[["CheckContext"], Iterable[Finding]]


def all_checks() -> tuple[Check, ...]:
    from bpfdoctor.checks import attach, btfcheck, core, environment, loaders, maps, programs

    # Roughly the order in which a libbpf loader meets each problem: open (sections, map
    # definitions), externs, map creation, BTF, CO-RE, attach targets, then program load and
    # what only shows at attach time. The first error is the one users will see first.
    return (
        loaders.loader_support,
        loaders.endianness,
        loaders.loader_version,
        environment.kconfig_externs,
        programs.kfuncs_and_ksyms,
        maps.map_types_and_flags,
        maps.flag_validity,
        maps.global_data,
        maps.pinned_maps,
        btfcheck.btf_kinds,
        btfcheck.needs_kernel_btf,
        core.core_relocations,
        attach.btf_attach_targets,
        loaders.freplace,
        programs.privileges,
        programs.prog_types,
        programs.program_features,
        programs.helpers,
        btfcheck.isa,
        programs.loops_and_size,
        attach.kprobes,
        attach.tracepoints,
        environment.printk,
        environment.memlock,
        environment.token,
    )


def run_checks(obj: BpfObject, target: Target) -> tuple[Finding, ...]:
    from bpfdoctor.checks.context import CheckContext

    ctx = CheckContext(obj, target)
    out: list[Finding] = []
    seen: set[tuple[str, str | None, str]] = set()
    for check in all_checks():
        for f in _unique(check(ctx), seen):
            out.append(f)
    return tuple(out)


def _unique(found: Iterable[Finding], seen: set[tuple[str, str | None, str]]) -> Iterator[Finding]:
    for f in found:
        key = (f.rule, f.program, f.message)
        if key not in seen:
            seen.add(key)
            yield f


def check_object(obj: BpfObject, spec: TargetSpec) -> tuple[TargetInfo, tuple[Finding, ...]]:
    """The hook ``bpfdoctor.check.run_check`` calls for any target other than ``none``."""
    from bpfdoctor.targetload import resolve_target

    target = resolve_target(spec)
    return target.info, run_checks(obj, target)
