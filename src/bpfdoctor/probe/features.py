"""Feature registry and the rules that turn a bpf() outcome into a state with a reason.

A probe answers with one of four states (cilium/ebpf ``internal/feature.go`` habit): a
denial (EPERM/EACCES from capabilities, ``unprivileged_bpf_disabled``, lockdown, an LSM or a
token) is ``denied``, never ``unsupported``; ``unknown`` is for what could not be asked. Every
non-supported answer carries a reason a person can act on.

Groups (the ``--only`` names) are registered here with their progress weight and what they
depend on; :class:`~bpfdoctor.probe.live.LiveProber` has one method per group, and
:mod:`~bpfdoctor.kfacts` answers the groups vmlinux BTF can answer without loading.
Minimum kernels come from the knowledge base (``KnowledgeBase.min_kernel``) when installed.
"""

from __future__ import annotations

import errno as E
from collections.abc import Mapping
from dataclasses import dataclass, field

from bpfdoctor.btf import Btf
from bpfdoctor.kernelprofile import Feature, SecurityFacts
from bpfdoctor.knowledge.kb import KnowledgeBase
from bpfdoctor.model import FeatureState
from bpfdoctor.probe.kconfig import Kconfig
from bpfdoctor.probe.syscall import errno_name

SUPPORTED = FeatureState.SUPPORTED
UNSUPPORTED = FeatureState.UNSUPPORTED
DENIED = FeatureState.DENIED
UNKNOWN = FeatureState.UNKNOWN

DENIAL_ERRNOS = frozenset({E.EPERM, E.EACCES})


@dataclass(frozen=True, slots=True)
class ProbeContext:
    """What probes may consult besides bpf() itself (all read once by ``capture``)."""

    release: str
    kconfig: Kconfig
    security: SecurityFacts
    sysctls: Mapping[str, str | None] = field(default_factory=dict)
    btf: Btf | None = None
    euid: int = 0

    @property
    def config(self) -> Mapping[str, str] | None:
        """The whole kernel config for :mod:`bpfdoctor.kfacts`; None when none was found."""
        return None if self.kconfig.enabled("CONFIG_BPF") is None else self.kconfig.values

    @property
    def privileged(self) -> bool:
        caps = self.security.capabilities
        return "CAP_SYS_ADMIN" in caps or "CAP_BPF" in caps

    def denial_reason(self, err: int, what: str = "") -> str:
        """Why a pre-verifier EPERM/EACCES happened, from the host facts we hold."""
        head = f"{errno_name(err)}"
        if what:
            head += f" loading {what}"
        caps = self.security.capabilities
        if not self.privileged:
            ub = self.sysctls.get("kernel.unprivileged_bpf_disabled")
            extra = f"; kernel.unprivileged_bpf_disabled={ub}" if ub not in (None, "0") else ""
            return f"{head}: missing capability CAP_BPF (or CAP_SYS_ADMIN){extra}"
        missing = [c for c in ("CAP_BPF", "CAP_PERFMON", "CAP_NET_ADMIN") if c not in caps]
        if missing and "CAP_SYS_ADMIN" not in caps:
            return f"{head}: missing capability {', '.join(missing)}"
        lock = self.security.lockdown
        if lock in ("integrity", "confidentiality"):
            return (f"{head} although capabilities are present: lockdown ({lock}) or an LSM "
                    f"({', '.join(self.security.lsms) or 'unknown'}) denies it")
        return f"{head} although capabilities are present: an LSM or seccomp policy denies it"


def classify_failure(ctx: ProbeContext, err: int, log: str, what: str) -> Feature:
    """State for a failed create/load whose log shows nothing more specific."""
    if err in DENIAL_ERRNOS and not _verifier_ran(log):
        return Feature(DENIED, ctx.denial_reason(err, what), "live")
    if err == E.E2BIG:
        return Feature(UNSUPPORTED, "E2BIG: the kernel does not know an attribute used", "live")
    if err in (E.EINVAL, E.EOPNOTSUPP, 524, E.ENOENT):
        last = _last_message(log)
        why = f"{errno_name(err)}" + (f": {last}" if last else "")
        return Feature(UNSUPPORTED, why, "live")
    if err == E.ENOMEM:
        return Feature(UNKNOWN, "ENOMEM: memory limit hit (memlock or memcg), retry with more",
                       "live")
    last = _last_message(log)
    return Feature(UNKNOWN, f"{errno_name(err)}" + (f": {last}" if last else ""), "live")


def _verifier_ran(log: str) -> bool:
    return "processed " in log or ": (" in log


def _last_message(log: str) -> str:
    """The verifier's error line: the last line that is not the statistics line."""
    for line in reversed(log.strip().splitlines()):
        if line.startswith(("processed ", "verification time")) or not line.strip():
            continue
        return line.strip()[:200]
    return ""


def _kb() -> KnowledgeBase:
    return KnowledgeBase.load()


# our feature keys -> the knowledge base's (kind, name)
KB_ALIASES: dict[tuple[str, str], tuple[str, str]] = {
    ("verifier", "bounded_loops"): ("feature", "bounded_loops"),
    ("verifier", "large_insn_limit"): ("feature", "large_insn_limit"),
    ("program_feature", "bpf_to_bpf_calls"): ("feature", "bpf_to_bpf_calls"),
    ("program_feature", "global_data"): ("feature", "global_data"),
    ("program_feature", "sleepable"): ("feature", "sleepable"),
    ("program_feature", "func_info"): ("feature", "btf_func_info"),
    ("program_feature", "map_freeze"): ("feature", "map_freeze"),
    ("btf_kind", "btf"): ("feature", "btf"),
    ("btf_kind", "struct"): ("btf_kind", "STRUCT"),
    ("btf_kind", "func"): ("btf_kind", "FUNC"),
    ("btf_kind", "func_global"): ("feature", "btf_func_global"),
    ("btf_kind", "datasec"): ("btf_kind", "DATASEC"),
    ("btf_kind", "float"): ("btf_kind", "FLOAT"),
    ("btf_kind", "decl_tag"): ("btf_kind", "DECL_TAG"),
    ("btf_kind", "type_tag"): ("btf_kind", "TYPE_TAG"),
    ("btf_kind", "enum64"): ("btf_kind", "ENUM64"),
    ("kfunc", "kfunc_calls"): ("feature", "kfunc_calls"),
    ("token", "token_create"): ("feature", "bpf_token"),
    ("tracing", "fentry"): ("feature", "fentry_fexit"),
    ("tracing", "kprobe_multi"): ("feature", "kprobe_multi"),
    ("tracing", "lsm"): ("feature", "lsm"),
}


def min_kernel(kind: str, name: str) -> str | None:
    """First kernel with this feature, from the knowledge base."""
    kind, name = KB_ALIASES.get((kind, name), (kind, name))
    if kind not in ("helper", "prog_type", "map_type", "map_flag", "attach_type", "link_type",
                    "btf_kind", "isa", "feature"):
        return None
    return _kb().min_kernel(kind, name)


def kb_helpers_of(prog_type: str) -> frozenset[str] | None:
    """Helpers a program type may call, per the knowledge base (None when unknown)."""
    row = _kb().prog_type_helpers(prog_type)
    if row is None or row.helpers is None:
        return None
    return frozenset(row.helpers)


def with_min_kernel(feature: Feature, kind: str, name: str) -> Feature:
    mk = min_kernel(kind, name)
    if mk is None or feature.min_kernel is not None:
        return feature
    return Feature(feature.state, feature.reason, feature.source, mk, feature.by_prog_type)


@dataclass(frozen=True, slots=True)
class Group:
    """One ``--only`` group: its live probe and, when BTF can answer, its BTF-only fallback."""

    name: str
    title: str
    weight: int  # rough number of bpf() calls, for the progress bar
    needs_live: bool = True
    depends: tuple[str, ...] = ()


GROUPS: dict[str, Group] = {
    g.name: g
    for g in (
        Group("prog_types", "program types", 34),
        Group("map_types", "map types", 36),
        Group("map_flags", "map flags", 19),
        Group("helpers", "helpers per program type", 6000, depends=("prog_types",)),
        Group("isa", "instruction set", 4, depends=("prog_types",)),
        Group("verifier", "verifier limits", 3, depends=("prog_types",)),
        Group("program_features", "program features", 6, depends=("prog_types",)),
        Group("btf_kinds", "BTF kinds", 10),
        Group("kfuncs", "kfuncs", 2),
        Group("attach", "attach types", 1, needs_live=False),
        Group("link_types", "link types", 1, needs_live=False),
        Group("token", "BPF token", 1),
        Group("tracing", "tracing", 1, depends=("prog_types",)),
    )
}


def expand_groups(only: list[str] | None) -> list[str]:
    """``--only`` names (plus what they depend on), in registry order."""
    if not only:
        return list(GROUPS)
    unknown = [g for g in only if g not in GROUPS]
    if unknown:
        from bpfdoctor.errors import InputError

        raise InputError(f"--only: unknown group {unknown[0]!r} (known: {', '.join(GROUPS)})")
    wanted = set(only)
    for g in only:
        wanted.update(GROUPS[g].depends)
    return [g for g in GROUPS if g in wanted]
