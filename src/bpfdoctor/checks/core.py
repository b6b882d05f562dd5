"""CO-RE: every relocation resolved against the target kernel's BTF the way libbpf does
(``bpfdoctor.btf.relocate.calc_relo`` mirrors bpf_core_calc_relo_insn), naming the
``struct.field`` path the target lacks."""

from __future__ import annotations

from collections.abc import Iterator

from bpfdoctor.btf.core import CoreReloKind
from bpfdoctor.btf.relocate import CoreResult, calc_relo, essential_name
from bpfdoctor.checks.context import CheckContext
from bpfdoctor.elf.object import Program
from bpfdoctor.model import Finding, Severity

EXISTENCE = frozenset({CoreReloKind.FIELD_EXISTS, CoreReloKind.TYPE_EXISTS,
                       CoreReloKind.ENUMVAL_EXISTS, CoreReloKind.TYPE_MATCHES})


def _owner(ctx: CheckContext, section: str, insn: int) -> Program | None:
    for p in ctx.obj.programs:
        if p.section == section and p.start <= insn < p.end:
            return p
    return None


def core_relocations(ctx: CheckContext) -> Iterator[Finding]:
    ext, local, targ = ctx.obj.btf_ext, ctx.obj.btf, ctx.target.btf
    if ext is None or local is None or targ is None:
        return
    results: list[tuple[Program | None, CoreResult]] = []
    for section, relos in ext.core_relos.items():
        for relo in relos:
            results.append((_owner(ctx, section, relo.insn_off), calc_relo(relo, local, targ)))
    # Existence checks that answer 0 on this target guard the accesses behind them: libbpf
    # poisons those accesses and the verifier prunes the dead branch.
    guarded: set[str] = set()
    for _, res in results:
        if res.relo.kind in EXISTENCE and res.ok and res.new_value == 0 and res.local is not None:
            guarded.add(res.missing or _root(res))
    for prog, res in results:
        if res.ok and not res.poisoned:
            continue
        spec = res.local.format() if res.local is not None else res.relo.access_str
        where = f"{prog.name}" if prog is not None else "?"
        if res.error is not None:
            yield ctx.finding(
                "KC016",
                f"CO-RE relocation in '{where}' ({spec}) fails on {ctx.kernel_label()}: "
                f"{res.error}; libbpf refuses to load the object",
                program=prog, source="btf", insn=res.relo.insn_off,
                fixes=_fixes(res), evidence=_evidence(res),
            )
            continue
        key = res.missing or (_root(res) if res.local is not None else "")
        is_guarded = any(key == g or key.startswith(g + ".") for g in guarded)
        sev = Severity.WARNING if is_guarded else Severity.ERROR
        missing = res.missing or spec
        tail = ("an existence check in the same object answers 0 for it, so the access is "
                "probably on a branch the verifier prunes" if is_guarded else
                "libbpf poisons the instruction (call to 0xbad2310, 'invalid func "
                "unknown#195896080') and the verifier rejects the program if the path is "
                "reachable")
        yield ctx.finding(
            "KC016",
            f"'{where}': {ctx.kernel_label()}'s BTF has no {missing} ({res.relo.kind.label} "
            f"relocation {spec}); {tail}",
            program=prog, source="btf", insn=res.relo.insn_off, severity=sev,
            fixes=_fixes(res), evidence=_evidence(res),
        )


def _root(res: CoreResult) -> str:
    assert res.local is not None
    return essential_name(res.local.btf.type(res.local.root_type_id).name)


def _fixes(res: CoreResult) -> tuple[str, ...]:
    return (
        "Guard the access with bpf_core_field_exists()/bpf_core_type_exists() and take another "
        "path on kernels without it",
        "For renamed fields, declare a ___flavor struct (e.g. struct task_struct___old) with "
        "the old layout and pick it with bpf_core_field_exists",
    )


def _evidence(res: CoreResult) -> dict[str, object]:
    return {
        "kind": res.relo.kind.label,
        "access": res.relo.access_str,
        "missing": res.missing,
        "reason": res.reason or res.error,
        "candidates": len(res.candidates),
    }
