"""Capture a :class:`~bpfdoctor.kernelprofile.KernelProfile` of the running host.

Order: host facts (cheap, always), then one trivial program load to learn whether bpf() is
usable at all. When it is, each requested group is probed live; when it is denied (no
capability, ``unprivileged_bpf_disabled``, lockdown, LSM), groups that vmlinux BTF can answer
are filled from BTF (``source: btf``) and the others are ``denied`` with that reason, so an
unprivileged run still yields a useful, honest profile.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable
from datetime import UTC, datetime

from bpfdoctor import __version__, kfacts
from bpfdoctor.btf import Btf
from bpfdoctor.kernelprofile import Feature, FsFacts, KernelProfile, ProbeMeta
from bpfdoctor.model import FeatureState
from bpfdoctor.probe import asm, host
from bpfdoctor.probe import syscall as sc
from bpfdoctor.probe.features import GROUPS, ProbeContext, classify_failure, expand_groups
from bpfdoctor.probe.kconfig import Kconfig, read_host_kconfig
from bpfdoctor.probe.live import ITEM_NAMES, LiveProber, lockdown_from_behaviour

# Groups whose every item vmlinux BTF answers (kfacts.group_features) when bpf() is not usable.
_BTF_ANSWERS = ("prog_types", "map_types", "helpers", "attach", "link_types", "kfuncs")

# progress(done_units, total_units, label)
ProgressFn = Callable[[int, int, str], None]


def _noop(done: int, total: int, label: str) -> None:
    del done, total, label


def live_access(ctx: ProbeContext) -> Feature:
    """Can this process load a trivial socket filter? (the gate for every live probe)"""
    try:
        res = sc.prog_load(1, asm.return_zero(), log_level=0)
    except OSError as exc:  # seccomp may kill the syscall with ENOSYS
        return Feature(FeatureState.DENIED, f"bpf() unavailable: {exc}", "live")
    with contextlib.closing(res):
        if res.ok:
            return Feature(FeatureState.SUPPORTED, None, "live")
        if res.errno == 38:  # ENOSYS: CONFIG_BPF_SYSCALL off, or seccomp
            return Feature(FeatureState.UNSUPPORTED,
                           "ENOSYS: bpf() not available (CONFIG_BPF_SYSCALL off or seccomp)",
                           "live")
        return classify_failure(ctx, res.errno, res.log, "a socket filter")


@dataclasses.dataclass(frozen=True, slots=True)
class Captured:
    """A profile plus what was read to make it and is too big to keep in one: the whole
    kernel config and the parsed vmlinux BTF (``check --live`` reuses both)."""

    profile: KernelProfile
    kconfig: Kconfig
    btf: Btf | None


def capture(only: list[str] | None = None, progress: ProgressFn = _noop,
            btf_only: bool = False) -> KernelProfile:
    """Probe the running kernel. ``btf_only`` skips every bpf() call (fast, unprivileged)."""
    return capture_host(only, progress, btf_only).profile


def capture_host(only: list[str] | None = None, progress: ProgressFn = _noop,
                 btf_only: bool = False) -> Captured:
    """:func:`capture`, keeping the full kernel config and the parsed vmlinux BTF."""
    started = time.perf_counter()
    groups = expand_groups(only)
    kconfig, _tried = read_host_kconfig()
    hostf = host.host_facts()
    security = host.security_facts(kconfig, hostf)
    sysctls = host.sysctls()
    btf, raw = host.btf_facts(hostf.kernel_release)
    fs = host.filesystem_facts(kconfig)
    ctx = ProbeContext(hostf.kernel_release, kconfig, security, sysctls, raw,
                       hostf.euid if hostf.euid is not None else -1)

    gate = (Feature(FeatureState.UNKNOWN, "live probes skipped (--btf-only)", "live")
            if btf_only else live_access(ctx))
    live = gate.state is FeatureState.SUPPORTED
    if live and security.lockdown is None:
        mode = lockdown_from_behaviour()
        if mode is not None:
            security = dataclasses.replace(security, lockdown=mode, lockdown_source="behaviour")
            ctx = dataclasses.replace(ctx, security=security)
    total = sum(GROUPS[g].weight for g in groups) if live else len(groups)
    done = 0

    def tick(label: str) -> Callable[[int], None]:
        def step(n: int) -> None:
            nonlocal done
            done = min(total, done + n)
            progress(done, total, label)
        return step

    features: dict[str, dict[str, Feature]] = {}
    prober = LiveProber(ctx) if live else None
    for g in groups:
        step = tick(GROUPS[g].title)
        if g == "token":  # a token is how an unprivileged process gets BPF: always ask
            features[g] = LiveProber(ctx).token(step, tuple(m.path for m in fs.bpffs))
        elif prober is not None:
            features[g] = _live_group(prober, g, step, tuple(m.path for m in fs.bpffs))
        else:
            features[g] = _fallback_group(ctx, g, gate, btf.vmlinux_kinds)
            step(1)
    if "tracing" in groups:
        hooks: dict[str, Feature] = {}
        if prober is not None and "tracing" in prober.prog_type_ids:
            hooks["fentry"] = prober.fentry()
        features["tracing"] = _tracing(ctx, fs, features.get("prog_types", {}), hooks)
    profile = KernelProfile(
        captured_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        host=hostf,
        security=security,
        kconfig=kconfig.relevant() if kconfig.source else {},
        kconfig_source=kconfig.source,
        sysctls=sysctls,
        btf=btf,
        filesystems=fs,
        features=features,
        probe=ProbeMeta(__version__, tuple(groups), live,
                        round((time.perf_counter() - started) * 1000, 1)),
    )
    return Captured(profile, kconfig, raw)


def _live_group(p: LiveProber, group: str, step: Callable[[int], None],
                bpffs: tuple[str, ...]) -> dict[str, Feature]:
    if group == "token":
        return p.token(step, bpffs)
    if group in ("attach", "link_types"):
        step(1)
        if p.ctx.btf is None:
            return {}
        return kfacts.group_features(p.ctx.btf, p.ctx.config, group,
                                     "attaching is never tried by the probe")
    if group == "tracing":
        step(1)
        return {}  # filled from the other groups once they are known
    result: dict[str, Feature] = getattr(p, group)(step)
    return result


def _fallback_group(ctx: ProbeContext, group: str, gate: Feature,
                    btf_kinds_used: tuple[str, ...]) -> dict[str, Feature]:
    """Without bpf(): BTF facts where BTF answers, else every item denied/unknown with why."""
    why = f"live probe not possible: {gate.reason}"
    if ctx.btf is not None and group in _BTF_ANSWERS:
        return kfacts.group_features(ctx.btf, ctx.config, group, why)
    if group == "map_flags" and ctx.btf is not None:
        defined = kfacts.map_flags(ctx.btf, why)
        return {name: defined.get(name) or Feature(FeatureState.DENIED, why, "live")
                for name in ITEM_NAMES["map_flags"]}
    if group == "token":
        return {"token_create": Feature(gate.state if gate.state is not FeatureState.SUPPORTED
                                        else FeatureState.UNKNOWN, why, "live")}
    if group == "btf_kinds" and ctx.btf is not None:
        # the kernel's own BTF uses these kinds, so it parses them; the others are not known
        used = kfacts.btf_kinds(btf_kinds_used)
        return {"btf": used["btf"]} | {
            key: used.get(key) or Feature(FeatureState.UNKNOWN, f"{why}; vmlinux BTF does not "
                                                                 f"use {kind.name}", "btf")
            for key, kind in kfacts.BTF_KIND_OF_KEY.items()}
    state = FeatureState.DENIED if gate.state is FeatureState.DENIED else FeatureState.UNKNOWN
    names = ITEM_NAMES.get(group) or kfacts.uapi_names(group)
    if ctx.btf is None and group in _BTF_ANSWERS:
        why += "; no vmlinux BTF to read the kernel's enums from"
    return {name: Feature(state, why, "live") for name in names}


def _tracing(ctx: ProbeContext, fs: FsFacts, prog_types: dict[str, Feature],
             hooks: dict[str, Feature] | None = None) -> dict[str, Feature]:
    """Attach-side facts: what makes kprobes, fentry, tracepoints and LSM programs work."""
    S, U, D, N = (FeatureState.SUPPORTED, FeatureState.UNSUPPORTED, FeatureState.DENIED,
                  FeatureState.UNKNOWN)
    out = kfacts.kconfig_attach_features(ctx.kconfig.enabled)
    for name, prog in (("fentry", "tracing"), ("lsm", "lsm")):
        f = (hooks or {}).get(name) or prog_types.get(prog)
        out[name] = Feature(f.state, f.reason, f.source) if f else Feature(
            N, f"{prog} program type not probed", "live")
    if "lsm" in out and out["lsm"].state is S and "bpf" not in ctx.security.lsms:
        out["lsm"] = Feature(U, "the bpf LSM is not active (add bpf to lsm= on the kernel "
                                "command line)", "host")
    out["tracefs"] = (Feature(S, None, "host") if fs.tracefs or fs.debugfs else Feature(
        U, "tracefs is not mounted: tracepoint ids and trace_pipe are not reachable "
           "(mount -t tracefs nodev /sys/kernel/tracing)", "host"))
    out["available_filter_functions"] = fs.available_filter_functions
    out["kprobe_events"] = fs.kprobe_events
    if ctx.security.lockdown in ("confidentiality",):
        out["probe_read_kernel"] = Feature(D, "lockdown (confidentiality) removes "
                                              "bpf_probe_read_kernel", "host")
    del D
    return out
