"""Human summary of an offline profile (``profile show``): what the files said about the
kernel, group by group. The probe's renderer speaks about *this* host (who may load BPF,
what /proc says); an offline profile describes a kernel, not a process, so it has its own."""

from __future__ import annotations

from collections import Counter

from bpfdoctor.kernelprofile import KernelProfile
from bpfdoctor.model import FeatureState

MAX_ITEMS = 12


def render_offline(p: KernelProfile, *, verbose: bool = False) -> str:
    h = p.host
    lines = [
        f"Kernel {h.kernel_release} ({h.arch or 'arch unknown'})"
        f"{' on ' + h.distro if h.distro else ''}: offline profile, nothing was loaded",
    ]
    if h.kernel_version:
        lines.append(f"  build: {h.kernel_version}")
    lines.append(f"  BTF: {'yes, ' + str(p.btf.vmlinux_size) + ' bytes' if p.btf.vmlinux_present else 'none'}"
                 f" ({p.btf.vmlinux_path}); {len(p.btf.modules)} modules with BTF")
    lines.append(f"  kconfig: {str(len(p.kconfig)) + ' options from ' + p.kconfig_source if p.kconfig_source else 'not given'}"
                 f"   lockdown forced at build: {p.security.lockdown or 'no'}")
    lines += ["", "Features (source: btf = the kernel's enums, kconfig, version = upstream "
                  "version table):"]
    for group, items in p.features.items():
        counts = Counter(f.state.value for f in items.values())
        summary = ", ".join(f"{counts[s.value]} {s.value}" for s in FeatureState if counts[s.value])
        lines.append(f"  {group}: {summary or 'empty'}")
        shown = [(n, f) for n, f in items.items()
                 if verbose or f.state is not FeatureState.SUPPORTED]
        for name, f in shown[:MAX_ITEMS if not verbose else None]:
            why = f" — {f.reason}" if f.reason else ""
            lines.append(f"      {name}: {f.state.value}{why} [{f.source or '?'}]")
        if not verbose and len(shown) > MAX_ITEMS:
            lines.append(f"      ... {len(shown) - MAX_ITEMS} more (--verbose)")
    return "\n".join(lines) + "\n"
