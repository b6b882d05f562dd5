"""What the target's configuration and environment do to the object: kconfig externs,
bpf_printk and tracing, memlock accounting, BPF token support."""

from __future__ import annotations

from collections.abc import Iterator

from bpfdoctor.checks.context import CheckContext
from bpfdoctor.model import Finding, Severity

# Externs libbpf computes itself rather than reading from the kernel config.
LIBBPF_PROVIDED = frozenset(
    {"LINUX_KERNEL_VERSION", "LINUX_HAS_BPF_COOKIE", "LINUX_HAS_SYSCALL_WRAPPER"}
)
PRINTK = ("bpf_trace_printk", "bpf_trace_vprintk")


def kconfig_externs(ctx: CheckContext) -> Iterator[Finding]:
    kconfig = ctx.target.profile.kconfig
    if not kconfig or not ctx.target.kconfig_complete:
        return
    for ext in ctx.obj.externs:
        if ext.kind != "kconfig" or ext.weak or ext.name in LIBBPF_PROVIDED:
            continue
        if not ext.name.startswith("CONFIG_"):
            continue
        if ext.name in kconfig:
            continue
        yield ctx.finding(
            "KC023",
            f"extern {ext.name} __kconfig is not __weak, and {ctx.kernel_label()}'s config does "
            "not set it: libbpf fails with \"extern (kcfg) '"
            f"{ext.name}': value not found\"",
            source="kconfig",
            fixes=(f"Declare it weak: extern ... {ext.name} __kconfig __weak; and handle the "
                   "default (0/false)",),
            evidence={"extern": ext.name, "kconfig_source": ctx.target.profile.kconfig_source},
        )


def printk(ctx: CheckContext) -> Iterator[Finding]:
    users = [(p, h) for p in ctx.programs for h in ctx.use(p).helpers if h in PRINTK]
    if not users:
        return
    prog, helper = users[0]
    names = sorted({p.name for p, _ in users})
    off = [opt for opt in ("BPF_EVENTS", "TRACING") if ctx.kconfig_off(opt)]
    if off:
        yield ctx.finding(
            "KC024",
            f"{', '.join(names)} call {helper} (bpf_printk), and {ctx.kernel_label()} is built "
            f"without CONFIG_{'/CONFIG_'.join(off)}: the helper does not exist there",
            program=prog, source="kconfig", severity=Severity.ERROR,
            fixes=("Remove bpf_printk calls from production builds (wrap them in a DEBUG macro)",
                   "Or use a ring buffer / perf buffer to report events"),
            evidence={"helper": helper, "off": off},
        )
        return
    fs = ctx.target.profile.filesystems
    if ctx.target.facts_source == "live" and not fs.tracefs and not fs.debugfs:
        yield ctx.finding(
            "KC024",
            f"{', '.join(names)} call {helper} (bpf_printk): the program loads, but tracefs is "
            "not mounted here, so the output cannot be read (trace_pipe is missing)",
            program=prog, source="live",
            fixes=("mount -t tracefs tracefs /sys/kernel/tracing, then read "
                   "/sys/kernel/tracing/trace_pipe",),
            evidence={"helper": helper, "tracefs": list(fs.tracefs)},
        )


def memlock(ctx: CheckContext) -> Iterator[Finding]:
    sec = ctx.target.profile.security
    if sec.memcg_accounting is not False or sec.memlock_soft is None:
        return
    if sec.memlock_soft >= 64 << 20:
        return
    yield ctx.finding(
        "KC036",
        f"{ctx.kernel_label()} charges BPF memory to RLIMIT_MEMLOCK (before 5.11) and the "
        f"profiled limit is {sec.memlock_soft} bytes: map and program creation may fail with "
        "EPERM",
        source=ctx.target.facts_source,
        fixes=("Raise the limit before loading: setrlimit(RLIMIT_MEMLOCK, RLIM_INFINITY) "
               "(libbpf: libbpf_set_strict_mode/`bump_memlock_rlimit`; cilium/ebpf: "
               "rlimit.RemoveMemlock())",
               "Or `ulimit -l unlimited` / LimitMEMLOCK=infinity in the systemd unit"),
        evidence={"memlock_soft": sec.memlock_soft},
    )


def token(ctx: CheckContext) -> Iterator[Finding]:
    loader = ctx.target.loader
    if loader.name not in ("libbpf", "bpftool"):
        return
    from bpfdoctor.checks.loaders import libbpf_version

    vt = libbpf_version(loader)
    if vt is not None and vt < (1, 3):
        return
    group = ctx.target.profile.features.get("token", {})
    states = [f for f in group.values()]
    if states and all(f.state.value != "unsupported" for f in states):
        return
    if not states:
        fact = ctx.version_fact("feature", "bpf_token")
        if not fact.missing:
            return
        reason = fact.reason
    else:
        reason = next((f.reason for f in states if f.state.value == "unsupported"), None)
    yield ctx.finding(
        "KC028",
        f"{ctx.kernel_label()} has no BPF token support ({reason}); libbpf >= 1.3 may print "
        "'failed (-22) to create BPF token from ...' and then loads without a token: harmless",
        source=ctx.target.facts_source,
        fixes=("Nothing to do; set LIBBPF_BPF_TOKEN_PATH= (empty) to silence the attempt",),
        evidence={"reason": reason},
    )
