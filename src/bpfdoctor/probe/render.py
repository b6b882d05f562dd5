"""Human report of a kernel profile: problems first, then each group's non-supported items.

A renderer returns a string; the command decides where it goes.
"""

from __future__ import annotations

from collections import Counter

from bpfdoctor.kernelprofile import KernelProfile
from bpfdoctor.model import FeatureState
from bpfdoctor.probe.problems import find_problems
from bpfdoctor.report.textsafe import printable

_MARK = {"error": "✗", "warning": "!", "info": "·"}


def _bytes(n: int | None) -> str:
    if n is None:
        return "unlimited"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n} {unit}"
        n //= 1024
    return f"{n} TiB"


def render_text(p: KernelProfile, *, verbose: bool = False) -> str:
    h, s = p.host, p.security
    lines = [
        f"Kernel {h.kernel_release} ({h.arch}){' on ' + h.distro if h.distro else ''}",
        f"  live probes: {'yes' if p.probe.live else 'no (facts from BTF and /proc)'}"
        f"   lockdown: {s.lockdown or 'unknown'} (from {s.lockdown_source})"
        f"   LSMs: {', '.join(s.lsms) or 'unknown'}"
        f"{'' if s.lsms_source in ('securityfs', 'dmesg') else ' (CONFIG_LSM; active list unreadable)'}",
        f"  capabilities: {', '.join(c for c in ('CAP_BPF', 'CAP_PERFMON', 'CAP_NET_ADMIN', 'CAP_SYS_ADMIN') if c in s.capabilities) or 'none of CAP_BPF/PERFMON/NET_ADMIN/SYS_ADMIN'}"
        f"   memlock: {_bytes(s.memlock_soft)}"
        f"{' (not used: memcg accounting)' if s.memcg_accounting else ''}",
        f"  BTF: {'vmlinux ' + _bytes(p.btf.vmlinux_size) if p.btf.vmlinux_present else 'missing'}"
        f", {len(p.btf.modules)} module BTF files   kconfig: {p.kconfig_source or 'not found'}",
        "",
    ]
    problems = find_problems(p)
    if problems:
        lines.append("Problems (what stops common programs here, and what to do):")
        for pr in problems:
            lines.append(f"  {_MARK[pr.severity.value]} [{pr.category.value}] {pr.title}")
            if pr.detail:
                lines.append(f"      {pr.detail}")
            lines.append(f"      fix: {pr.fix}")
        lines.append("")
    else:
        lines.append("No problems found for common programs.")
        lines.append("")
    lines.append("Features:")
    for group, items in p.features.items():
        counts = Counter(f.state.value for f in items.values())
        summary = ", ".join(f"{counts[st.value]} {st.value}" for st in FeatureState
                            if counts[st.value])
        lines.append(f"  {group}: {summary or 'nothing probed'}")
        shown = [(n, f) for n, f in items.items() if f.state is not FeatureState.SUPPORTED]
        answers = {(f.state, f.reason) for _, f in shown}
        if len(shown) >= 2 and len(answers) == 1 and len(shown) == len(items):
            state, reason = answers.pop()
            lines.append(f"      all {len(shown)}: {state.value} — {reason}")
            continue
        for name, f in items.items():
            if f.state is FeatureState.SUPPORTED and not (verbose and f.reason):
                continue
            if group == "kfuncs" and f.source == "btf" and not verbose:
                continue
            reason = f" — {f.reason}" if f.reason else ""
            lines.append(f"      {name}: {f.state.value}{reason}")
    lines.append("")
    lines.append(f"probed in {p.probe.duration_ms} ms; save with --save FILE for "
                 "`check --profile FILE`")
    # A profile may come from another machine: its strings must not drive this terminal.
    return printable("\n".join(lines)) + "\n"
