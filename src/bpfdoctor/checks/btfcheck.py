"""ISA level, BTF kinds (and whether the loader sanitizes them), kernel BTF needs, CO-RE."""

from __future__ import annotations

from collections.abc import Iterator

from bpfdoctor.checks.context import CheckContext
from bpfdoctor.model import Finding, Severity

# Loaders that rewrite BTF the kernel cannot take (libbpf's bpf_object__sanitize_btf and
# cilium/ebpf's marshaling do; iproute2 without libbpf and bcc's old paths do not).
SANITIZING_LOADERS = frozenset({"libbpf", "bpftool", "iproute2", "cilium-ebpf", "aya"})

# Kinds a sanitizing loader can replace (libbpf: DATASEC/VAR -> STRUCT/INT, FUNC -> TYPEDEF,
# FLOAT -> STRUCT, DECL_TAG -> INT, TYPE_TAG -> CONST, ENUM64 -> UNION, FUNC linkage fixed).
SANITIZABLE = frozenset({"VAR", "DATASEC", "FUNC", "FUNC_PROTO", "FLOAT", "DECL_TAG",
                         "TYPE_TAG", "ENUM64"})

# The probe's BTF feature keys (libbpf features.c probes) for each BTF kind.
KIND_FEATURE = {
    "FUNC": "func", "FUNC_PROTO": "func", "VAR": "datasec", "DATASEC": "datasec",
    "FLOAT": "float", "DECL_TAG": "decl_tag", "TYPE_TAG": "type_tag", "ENUM64": "enum64",
}

# Program types whose attach target libbpf resolves in kernel BTF.
BTF_ATTACH = frozenset({"tracing", "lsm", "ext"})


def isa(ctx: CheckContext) -> Iterator[Finding]:
    level = ctx.obj.isa
    if level.level <= 1:
        return
    fact = ctx.fact("isa", level.name, "isa")
    if not fact.missing:
        return
    where = ""
    if level.insn is not None:
        where = f" ({level.reason or level.insn.mnemonic}; {level.section} insn {level.insn.idx})"
    supported = [v for v in ("v3", "v2", "v1")
                 if v < level.name and not ctx.fact("isa", v, "isa").missing]
    yield ctx.finding(
        "KC011",
        f"the object needs BPF ISA {level.name}{where}; {ctx.kernel_label()} does not support "
        f"it: {fact.reason}",
        source=fact.source,
        insn=level.insn.idx if level.insn is not None else None,
        fixes=(f"Rebuild with clang -mcpu={supported[0] if supported else 'v1'} for this target",
               "Or require the kernel version that introduced this ISA level"),
        evidence={"isa": level.name, "instruction": level.reason, "min_kernel": fact.min_kernel},
    )


def btf_kinds(ctx: CheckContext) -> Iterator[Finding]:
    btf = ctx.obj.btf
    if btf is None:
        return
    loader = ctx.target.loader
    sanitizes = loader.name in SANITIZING_LOADERS
    for kind in sorted(k.name for k in btf.kinds()):
        fact = ctx.fact("btf_kinds", KIND_FEATURE.get(kind, "btf"), "btf_kind")
        if not fact.missing:
            continue
        if sanitizes and kind in SANITIZABLE:
            yield ctx.finding(
                "KC013",
                f"the object's BTF has {kind}, which {ctx.kernel_label()} does not accept; "
                f"{loader} rewrites it before loading",
                source=fact.source,
                fixes=("Nothing to do with this loader",),
                evidence={"kind": kind, "loader": str(loader)},
            )
            continue
        yield ctx.finding(
            "KC012",
            f"the object's BTF has {kind}, which {ctx.kernel_label()} rejects "
            f"({fact.reason}); {loader} loads BTF as is, so the kernel answers '.BTF rejected: "
            "Invalid argument'",
            source=fact.source,
            fixes=("Load with a libbpf-based loader (iproute2 built with libbpf, bpftool, "
                   "a libbpf skeleton), which sanitizes BTF for older kernels",
                   "Or strip the unsupported kinds: build with an older clang or "
                   "`pahole --btf_features` / `bpftool gen object` without them"),
            evidence={"kind": kind, "loader": str(loader), "min_kernel": fact.min_kernel},
        )


def needs_kernel_btf(ctx: CheckContext) -> Iterator[Finding]:
    """CO-RE, BTF-attached programs and kfuncs need vmlinux BTF on the target."""
    reasons: list[str] = []
    ext = ctx.obj.btf_ext
    if ext is not None and any(ext.core_relos.values()):
        reasons.append(f"{sum(len(v) for v in ext.core_relos.values())} CO-RE relocations")
    btf_progs = [p.name for p in ctx.programs if p.info.attach_btf]
    if btf_progs:
        reasons.append("BTF-attached programs " + ", ".join(btf_progs))
    kfuncs = sorted({k for p in ctx.programs for k in ctx.use(p).kfuncs})
    if kfuncs:
        reasons.append("kfuncs " + ", ".join(kfuncs))
    if not reasons:
        return
    facts = ctx.target.profile.btf
    if ctx.target.btf is not None or facts.vmlinux_present:
        return
    if ctx.target.facts_source in ("live", "profile"):
        missing = True
    else:
        fact = ctx.version_fact("feature", "btf_vmlinux")
        missing = fact.missing
    if not missing:
        return
    cfg = ctx.target.profile.kconfig_value("DEBUG_INFO_BTF")
    yield ctx.finding(
        "KC017",
        f"the object needs kernel BTF ({'; '.join(reasons)}), and {ctx.kernel_label()} has no "
        f"/sys/kernel/btf/vmlinux (CONFIG_DEBUG_INFO_BTF={cfg or 'unknown'})",
        severity=Severity.ERROR,
        fixes=("Enable CONFIG_DEBUG_INFO_BTF on the target kernel",
               "Or ship the kernel's BTF (e.g. from BTFHub) and point the loader at it "
               "(libbpf: bpf_object_open_opts.btf_custom_path; cilium/ebpf: "
               "CollectionOptions.Programs.KernelTypes)"),
        evidence={"needs": reasons, "CONFIG_DEBUG_INFO_BTF": cfg},
    )
