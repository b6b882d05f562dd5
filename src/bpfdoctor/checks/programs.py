"""Per-program checks: program and attach types, helpers, kfuncs and ksyms, program features,
loops and size. Each yields findings naming the exact thing and what the target has."""

from __future__ import annotations

from collections.abc import Iterator

from bpfdoctor.checks.context import CheckContext, Fact
from bpfdoctor.elf.insns import InsnKind
from bpfdoctor.elf.object import Program
from bpfdoctor.elf.sections import SecFlag, find_sec_def
from bpfdoctor.kernelprofile import PROBED_ATTACH_TYPES
from bpfdoctor.model import FeatureState, Finding
from bpfdoctor.targets import LoaderSpec

# Program types whose loads the kernel checks for CAP_PERFMON (tracing) or CAP_NET_ADMIN.
TRACING_TYPES = frozenset(
    {"kprobe", "tracepoint", "perf_event", "raw_tracepoint", "raw_tracepoint_writable",
     "tracing", "lsm", "ext", "syscall"}
)


def _denied_fixes(what: str) -> tuple[str, ...]:
    return (
        f"Run the loader with CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN) where {what} is needed",
        "Check kernel lockdown (/sys/kernel/security/lockdown) and LSM policy on the target",
    )


def _state_finding(
    ctx: CheckContext, fact: Fact, code_missing: str, code_denied: str, prog: Program,
    what: str, fixes: tuple[str, ...],
) -> Finding | None:
    if fact.missing:
        need = f" (needs Linux {fact.min_kernel})" if fact.min_kernel else ""
        return ctx.finding(
            code_missing,
            f"{what} is not supported by {ctx.kernel_label()}{need}: {fact.reason or 'unsupported'}",
            program=prog, fixes=fixes, source=fact.source,
            evidence={"requirement": what, "target": fact.reason, "min_kernel": fact.min_kernel},
        )
    if fact.denied:
        return ctx.finding(
            code_denied,
            f"{what}: the target kernel has it, but loading it is denied: {fact.reason}",
            program=prog, fixes=_denied_fixes(what), source=fact.source,
            evidence={"requirement": what, "reason": fact.reason},
        )
    return None


FENTRY_ATTACH = frozenset({"trace_fentry", "trace_fexit", "modify_return"})


def prog_type_fact(ctx: CheckContext, prog_type: str, attach_type: str | None) -> Fact:
    """The target's answer for loading ``prog_type`` with ``attach_type``.

    Tracing programs differ by attach type: under lockdown, trampolines (fentry/fexit/
    fmod_ret) and LSM programs are refused while tp_btf and iter programs load. The probe's
    ``tracing`` group answers per hook; ``prog_types.tracing`` comes from an fentry load, so a
    denial there says nothing about tp_btf/iter.
    """
    fact = ctx.fact("prog_types", prog_type, "prog_type")
    if prog_type == "tracing":
        if attach_type in FENTRY_ATTACH:
            hook = ctx.target.profile.feature("tracing", "fentry")
            if hook is not None and hook.state.value != "unknown":
                return Fact(hook.state, hook.reason, hook.source or ctx.target.facts_source,
                            fact.min_kernel)
        elif fact.denied:
            return Fact(FeatureState.UNKNOWN, "the probe's tracing load used fentry",
                        fact.source, fact.min_kernel)
    return fact


def prog_types(ctx: CheckContext) -> Iterator[Finding]:
    seen: set[tuple[str, str | None]] = set()
    for prog in ctx.programs:
        sec = prog.info
        key = (sec.prog_type, sec.attach_type)
        if key in seen:
            continue
        seen.add(key)
        f = _state_finding(
            ctx, prog_type_fact(ctx, sec.prog_type, sec.attach_type), "KC001", "KC025", prog,
            f"program type '{sec.prog_type}' (SEC(\"{prog.section}\"))",
            (f"Run on a kernel that supports '{sec.prog_type}' programs",
             "Or rewrite the program for a program type the target has"),
        )
        if f is not None:
            yield f
            continue
        sec_def = find_sec_def(prog.section.lstrip("?"))
        optional = sec_def is not None and bool(sec_def.flags & SecFlag.ATTACHABLE_OPT)
        if sec.attach_type and not optional:
            # libbpf drops an optional expected attach type (SEC_ATTACHABLE_OPT, e.g. xdp,
            # cgroup_skb/*) when the kernel does not know it (FEAT_EXP_ATTACH_TYPE)
            fact = ctx.fact("attach", sec.attach_type, "attach_type")
            if fact.missing:
                yield ctx.finding(
                    "KC002",
                    f"expected attach type '{sec.attach_type}' of SEC(\"{prog.section}\") is not "
                    f"known to {ctx.kernel_label()}: {fact.reason}",
                    program=prog, source=fact.source,
                    fixes=(f"Use a kernel with attach type '{sec.attach_type}'",),
                    evidence={"attach_type": sec.attach_type, "min_kernel": fact.min_kernel},
                )


def program_features(ctx: CheckContext) -> Iterator[Finding]:
    for prog in ctx.programs:
        sec = prog.info
        wanted: list[tuple[str, str, str]] = []
        if sec.sleepable:
            wanted.append(("program_features", "sleepable", "sleepable program"))
        if sec.xdp_frags:
            wanted.append(("program_features", "xdp_frags", "XDP fragments (xdp.frags)"))
        for group, name, what in wanted:
            fact = ctx.fact(group, name, "feature")
            if fact.missing:
                yield ctx.finding(
                    "KC033", f"{what} needed by '{prog.name}' is not supported by "
                    f"{ctx.kernel_label()}: {fact.reason}",
                    program=prog, source=fact.source,
                    fixes=(f"Drop the {what} variant of the section name for this target",),
                    evidence={"feature": name, "min_kernel": fact.min_kernel},
                )


def helpers(ctx: CheckContext) -> Iterator[Finding]:
    lockdown = ctx.target.profile.security.lockdown
    locked = ctx.kb.lockdown_helpers(lockdown) if lockdown in ("integrity", "confidentiality") \
        else frozenset()
    for prog in ctx.programs:
        ptype = prog.info.prog_type
        if prog_type_fact(ctx, ptype, prog.info.attach_type).state.value in (
                "unsupported", "denied"):
            continue  # KC001/KC025 already say the whole program cannot load
        allowed = ctx.kb.helpers_for_prog_type(ptype, prog.info.attach_type)
        ptype_unknown = prog_type_fact(ctx, ptype, prog.info.attach_type).state.value == "unknown"
        probed_at = PROBED_ATTACH_TYPES.get(ptype)
        other_attach = probed_at is not None and prog.info.attach_type not in (None, probed_at)
        for helper in ctx.use(prog).helpers:
            feature = ctx.target.profile.helper_state(helper, ptype)
            if other_attach:
                # the profile's answer for this program type was probed with another attach
                # type; whether the helper exists is still known, which hooks may call it comes
                # from the knowledge base (allowed, below)
                feature = ctx.target.profile.feature("helpers", helper)
            if prog.info.sleepable and feature is not None and feature.state.value != "supported":
                # the probe loads non-sleepable programs; sleepable-only helpers (copy_from_user)
                # show up as unavailable per program type, so ask the helper's overall state
                overall = ctx.target.profile.feature("helpers", helper)
                if overall is not None and overall.state.value == "supported":
                    feature = overall
            if feature is not None and feature.state.value != "unknown":
                fact = Fact(feature.state, feature.reason,
                            feature.source or ctx.target.facts_source, feature.min_kernel)
            else:
                fact = ctx.version_fact("helper", helper)
            if fact.denied and ptype_unknown:
                continue  # denied only because the probe's program of this type was denied
            if fact.denied or (helper in locked and not fact.missing):
                why = fact.reason or f"kernel lockdown ({lockdown}) withholds it"
                yield ctx.finding(
                    "KC005",
                    f"'{prog.name}' calls {helper}, which {ctx.kernel_label()} withholds: {why}; "
                    "the verifier will report it as an unknown or disallowed helper",
                    program=prog, source=fact.source if fact.denied else "profile",
                    fixes=(
                        f"Avoid {helper} on locked-down kernels (e.g. use BTF-typed pointers "
                        "and direct reads in fentry/tp_btf programs instead of bpf_probe_read*)",
                        "Or boot the target without lockdown=confidentiality / integrity",
                    ),
                    evidence={"helper": helper, "lockdown": lockdown, "reason": why},
                )
                continue
            if fact.missing:
                need = fact.min_kernel or ctx.min_kernel("helper", helper)
                yield ctx.finding(
                    "KC003",
                    f"'{prog.name}' calls {helper}"
                    + (f" (Linux {need}+)" if need else "")
                    + f", which {ctx.kernel_label()} does not have: {fact.reason}",
                    program=prog, source=fact.source,
                    fixes=_helper_fixes(helper),
                    evidence={"helper": helper, "min_kernel": need, "prog_type": ptype},
                )
                continue
            if allowed is not None and helper not in allowed:
                yield ctx.finding(
                    "KC004",
                    f"'{prog.name}' ({ptype}) calls {helper}, which '{ptype}' programs may not use",
                    program=prog, source="knowledge",
                    fixes=(f"Use a program type whose helpers include {helper}",
                           "Or get the data another way (a map shared with a program that may "
                           "call it)"),
                    evidence={"helper": helper, "prog_type": ptype},
                )


def _helper_fixes(helper: str) -> tuple[str, ...]:
    if helper == "bpf_trace_vprintk":
        return ("bpf_printk with more than 3 arguments becomes bpf_trace_vprintk (5.16+): "
                "split the print into calls with at most 3 arguments",)
    if helper.startswith("bpf_probe_read_") and helper != "bpf_probe_read_str":
        return (f"On kernels before 5.5 use bpf_probe_read instead of {helper}, or check "
                "bpf_core_enum_value_exists/bpf_ksym_exists and branch",)
    return (f"Run on a kernel that has {helper}",
            "Or guard the call with a feature check and a fallback path for older kernels")


def kfuncs_and_ksyms(ctx: CheckContext) -> Iterator[Finding]:
    obj = ctx.obj
    weak = {e.name for e in obj.externs if e.weak}
    kinds = {e.name: e.kind for e in obj.externs}
    for prog in ctx.programs:
        use = ctx.use(prog)
        if use.kfuncs and not ctx.gpl:
            yield ctx.finding(
                "KC006",
                f"'{prog.name}' calls kfunc(s) {', '.join(use.kfuncs)} but the object's license "
                f"is {obj.license!r}",
                program=prog, source="object",
                fixes=('Use a GPL-compatible license: char LICENSE[] SEC("license") = "GPL";',),
                evidence={"kfuncs": list(use.kfuncs), "license": obj.license},
            )
        for name in use.kfuncs:
            where = _kernel_symbol(ctx, name, func=True)
            if where is False and name not in weak:
                yield ctx.finding(
                    "KC007", f"'{prog.name}' calls kfunc {name}, which {ctx.kernel_label()} "
                    "does not have (not in vmlinux or module BTF)",
                    program=prog, source=_symbol_source(ctx),
                    fixes=(f"Declare it __weak and guard the call with bpf_ksym_exists({name})",
                           "Or run on a kernel that provides it"),
                    evidence={"kfunc": name},
                )
        for name in use.externs:
            if kinds.get(name) != "ksym":
                continue
            where = _kernel_symbol(ctx, name, func=False)
            if where and name not in weak and ctx.target.kconfig_complete \
                    and ctx.target.profile.kconfig_value("KALLSYMS_ALL") != "y":
                yield ctx.finding(
                    "KC008", f"'{prog.name}' uses ksym {name}, a kernel variable: "
                    f"{ctx.kernel_label()} is built without CONFIG_KALLSYMS_ALL, so the verifier "
                    f"cannot find its address ('ldimm64 failed to find the address for kernel "
                    f"symbol '{name}'')",
                    program=prog, source="kconfig",
                    fixes=(f"Declare {name} __weak and check it for NULL, with a fallback",
                           "Or run on a kernel built with CONFIG_KALLSYMS_ALL=y"),
                    evidence={"ksym": name, "CONFIG_KALLSYMS_ALL": ctx.target.profile.kconfig_value("KALLSYMS_ALL")},
                )
                continue
            if where is False and name not in weak:
                yield ctx.finding(
                    "KC008", f"'{prog.name}' uses ksym {name}, which {ctx.kernel_label()}'s BTF "
                    "does not define",
                    program=prog, source=_symbol_source(ctx),
                    fixes=(f"Declare {name} __weak and check it for NULL before use",),
                    evidence={"ksym": name},
                )


def _symbol_source(ctx: CheckContext) -> str:
    return "btf" if ctx.target.btf is not None else ctx.target.facts_source


def _kernel_symbol(ctx: CheckContext, name: str, *, func: bool) -> bool | None:
    """True/False when the target's BTF (or kfunc list) answers; None when unknown."""
    btf = ctx.target.btf
    if btf is not None:
        if btf.find(name):
            return True
        return ctx.in_module_btf(name)
    if func:
        kf = ctx.target.profile.features.get("kfuncs")
        if kf:
            return name in kf
    return None


def loops_and_size(ctx: CheckContext) -> Iterator[Finding]:
    for prog in ctx.programs:
        funcs = ctx.obj.reachable(prog)
        back = None
        for f in funcs:
            for ins in f.insns:
                if ins.kind in (InsnKind.JUMP, InsnKind.JUMP32, InsnKind.MAY_GOTO) and ins.off < 0:
                    back = (f, ins)
                    break
            if back:
                break
        if back is not None:
            fact = ctx.fact("verifier", "bounded_loops", "feature")
            if fact.missing:
                f, ins = back
                yield ctx.finding(
                    "KC034",
                    f"'{prog.name}' has a loop (back-edge at insn {ins.idx - f.start} of "
                    f"{f.name}: {ins.mnemonic}) and {ctx.kernel_label()} rejects loops: "
                    f"{fact.reason}",
                    program=prog, source=fact.source, insn=ins.idx,
                    fixes=("Unroll the loop (#pragma unroll with a constant bound)",
                           "Or require Linux 5.3+ (bounded loops) on the target"),
                    evidence={"function": f.name, "insn": ins.idx, "min_kernel": fact.min_kernel},
                )
        total = ctx.use(prog).total_insns
        if total > 4096:
            fact = ctx.fact("verifier", "large_insn_limit", "feature")
            if fact.missing:
                yield ctx.finding(
                    "KC035",
                    f"'{prog.name}' has {total} instructions; {ctx.kernel_label()} allows 4096: "
                    f"{fact.reason}",
                    program=prog, source=fact.source,
                    fixes=("Split the program with tail calls", "Or require Linux 5.2+"),
                    evidence={"insns": total, "limit": 4096},
                )
        if len(funcs) > 1:
            fact = ctx.fact("program_features", "bpf_to_bpf_calls", "feature")
            if fact.missing:
                yield ctx.finding(
                    "KC015",
                    f"'{prog.name}' calls BPF functions ({', '.join(f.name for f in funcs[1:])}) "
                    f"and {ctx.kernel_label()} has no bpf-to-bpf calls: {fact.reason}",
                    program=prog, source=fact.source,
                    fixes=("Mark the called functions static __always_inline",
                           "Or require Linux 4.16+"),
                    evidence={"callees": [f.name for f in funcs[1:]]},
                )


def privileges(ctx: CheckContext) -> Iterator[Finding]:
    """Only for targets that describe a process (live, saved profiles with capabilities)."""
    sec = ctx.target.profile.security
    if ctx.target.facts_source not in ("live", "profile") or not sec.capabilities:
        return
    caps = set(sec.capabilities)
    if "CAP_SYS_ADMIN" in caps or ("CAP_BPF" in caps and "CAP_PERFMON" in caps):
        return
    if not ctx.programs:
        return
    missing = ["CAP_BPF"] if "CAP_BPF" not in caps else []
    if "CAP_PERFMON" not in caps and any(p.info.prog_type in TRACING_TYPES for p in ctx.programs):
        missing.append("CAP_PERFMON")
    if not missing:
        return
    yield ctx.finding(
        "KC026",
        f"the profiled process lacks {', '.join(missing)} (has: {', '.join(sorted(caps)) or 'none'}"
        "); loading these programs will fail with EPERM",
        source=ctx.target.facts_source,
        fixes=("Run the loader as root, or grant CAP_BPF and CAP_PERFMON (and CAP_NET_ADMIN "
               "for networking programs)",
               "In containers: securityContext.capabilities.add: [BPF, PERFMON, NET_ADMIN]"),
        evidence={"missing": missing, "capabilities": sorted(caps)},
    )


def loader_sees_programs(loader: LoaderSpec) -> bool:
    return loader.name != "bcc"
