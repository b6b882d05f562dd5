"""What in a kernel profile will stop common BPF programs from loading, and what to do (pure).

The probe report lists these first. Each problem names the failure category of CONTRACT.md so
the same wording can back ``check --profile`` findings later.
"""

from __future__ import annotations

from dataclasses import dataclass

from bpfdoctor.kernelprofile import KernelProfile
from bpfdoctor.model import Category, FeatureState, Severity

S, U, D, N = (FeatureState.SUPPORTED, FeatureState.UNSUPPORTED, FeatureState.DENIED,
              FeatureState.UNKNOWN)


@dataclass(frozen=True, slots=True)
class Problem:
    severity: Severity
    category: Category
    title: str
    detail: str
    fix: str


def _state(p: KernelProfile, group: str, name: str) -> FeatureState | None:
    f = p.feature(group, name)
    return f.state if f is not None else None


def _reason(p: KernelProfile, group: str, name: str) -> str:
    f = p.feature(group, name)
    return (f.reason or "") if f is not None else ""


def _lockdown_removed(reason: str | None) -> bool:
    return bool(reason) and reason is not None and reason.startswith("lockdown (") and \
        " removes " in reason


def find_problems(p: KernelProfile) -> list[Problem]:
    out: list[Problem] = []
    sec = p.security
    if not p.probe.live and "CAP_BPF" not in sec.capabilities and \
            "CAP_SYS_ADMIN" not in sec.capabilities:
        ub = p.sysctls.get("kernel.unprivileged_bpf_disabled")
        out.append(Problem(
            Severity.ERROR, Category.PERMISSION, "This user cannot load BPF programs",
            f"no CAP_BPF/CAP_SYS_ADMIN and kernel.unprivileged_bpf_disabled={ub}; facts below "
            "come from vmlinux BTF, not from loading",
            "run as root, or grant CAP_BPF + CAP_PERFMON (tracing) + CAP_NET_ADMIN "
            "(networking) to the loader, or use a BPF token in a delegated bpffs"))
    if not p.btf.vmlinux_present:
        out.append(Problem(
            Severity.ERROR, Category.VMLINUX_BTF_MISSING, "No kernel BTF",
            "/sys/kernel/btf/vmlinux is missing: CO-RE programs (vmlinux.h, BPF_CORE_READ), "
            "fentry/fexit, LSM and kfuncs cannot load",
            "use a kernel built with CONFIG_DEBUG_INFO_BTF=y, or ship BTF from BTFHub and "
            "point the loader at it (libbpf btf_custom_path)"))
    elif p.btf.vmlinux_parsable is False:
        out.append(Problem(Severity.ERROR, Category.VMLINUX_BTF_MISSING,
                           "Kernel BTF cannot be parsed", p.btf.vmlinux_error or "",
                           "report it; use a BTF file that matches the kernel"))
    if p.kconfig_value("CONFIG_MODULES") in ("y",) and \
            p.kconfig_value("CONFIG_DEBUG_INFO_BTF_MODULES") in ("n", None) and p.kconfig:
        out.append(Problem(
            Severity.WARNING, Category.MODULE_BTF_MISSING, "No BTF for kernel modules",
            "CONFIG_DEBUG_INFO_BTF_MODULES is not set: CO-RE relocations and fentry against "
            "module types/functions fail", "use a kernel with CONFIG_DEBUG_INFO_BTF_MODULES=y"))
    for group, name, label, fix in (
        ("tracing", "fentry", "fentry/fexit/fmod_ret (trampoline) programs",
         "use tp_btf, raw tracepoints or kprobes if they work here; otherwise lift the "
         "policy that denies it (lockdown, LSM)"),
        ("prog_types", "tracing", "tracing programs (tp_btf, iter, fentry)",
         "lift the policy that denies it (lockdown, LSM)"),
        ("prog_types", "lsm", "BPF LSM programs", "lift the policy that denies it (lockdown, LSM)"),
        ("prog_types", "ext", "freplace (ext) programs", "lift the policy that denies it"),
    ):
        if _state(p, group, name) is D:
            out.append(Problem(Severity.ERROR, Category.PERMISSION, f"{label} are denied",
                               _reason(p, group, name), fix))
    if _state(p, "tracing", "kprobe") is U:
        out.append(Problem(
            Severity.ERROR, Category.ATTACH_FAILED, "kprobes cannot attach",
            _reason(p, "tracing", "kprobe"),
            "attach to tracepoints/raw tracepoints instead (SEC(\"tp/...\"), "
            "SEC(\"raw_tp/...\")), or use a kernel with CONFIG_KPROBES and "
            "CONFIG_KPROBE_EVENTS"))
    if _state(p, "tracing", "tracefs") is U:
        out.append(Problem(
            Severity.WARNING, Category.TRACING_UNAVAILABLE, "tracefs is not mounted",
            "libbpf resolves tracepoint ids and bpf_printk output through tracefs",
            "mount -t tracefs nodev /sys/kernel/tracing"))
    denied_helpers = [n for n, f in p.features.get("helpers", {}).items()
                      if f.state is D and _lockdown_removed(f.reason)]
    partly = [n for n, f in p.features.get("helpers", {}).items()
              if f.state is S and any(x.state is D and _lockdown_removed(x.reason)
                                      for x in f.by_prog_type.values())]
    if denied_helpers or partly:
        names = ", ".join(sorted(set(denied_helpers + partly)))
        out.append(Problem(
            Severity.ERROR, Category.HELPER_UNAVAILABLE,
            f"Lockdown ({sec.lockdown}) removes helpers", names,
            "programs that call them fail with 'program of this type cannot use helper' or "
            "'unknown func'; drop the call or boot without lockdown"))
    if sec.memcg_accounting is False and sec.memlock_soft is not None and \
            sec.memlock_soft < 64 * 1024 * 1024:
        out.append(Problem(
            Severity.WARNING, Category.MEMLOCK, "RLIMIT_MEMLOCK is low on a pre-5.11 kernel",
            f"soft limit {sec.memlock_soft} bytes; maps and programs are charged to it",
            "raise it (ulimit -l unlimited, or setrlimit in the loader; libbpf does it "
            "when allowed)"))
    for group, what, cat in (("prog_types", "program types", Category.PROG_TYPE_UNSUPPORTED),
                             ("map_types", "map types", Category.MAP_UNSUPPORTED)):
        bad = [n for n, f in p.features.get(group, {}).items() if f.state is U]
        denied = [n for n, f in p.features.get(group, {}).items() if f.state is D
                  and n not in ("tracing", "lsm", "ext")]
        if bad:
            out.append(Problem(Severity.INFO, cat, f"Unsupported {what}: {', '.join(bad)}",
                               "; ".join(f"{n}: {_reason(p, group, n)}" for n in bad),
                               "use a kernel with the option enabled if you need them"))
        if denied:
            out.append(Problem(Severity.WARNING, Category.PERMISSION,
                               f"Denied {what}: {', '.join(denied)}",
                               _reason(p, group, denied[0]), "lift the policy that denies it"))
    tok = p.feature("token", "token_create")
    if tok is not None and tok.state is not S and sec.capabilities and \
            "CAP_BPF" not in sec.capabilities:
        out.append(Problem(Severity.INFO, Category.TOKEN_CREATE, "No BPF token available",
                           tok.reason or "", "mount bpffs with delegate_* options for the "
                           "container's user namespace (6.9+)"))
    order = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
    return sorted(out, key=lambda x: order[x.severity])
