"""Host facts read from /proc, /sys, /etc and /boot: everything that is not a bpf() call.

Each reader is small and tolerant: a file that is missing or unreadable (unprivileged user,
container) becomes ``None``/unknown with the reason, never an exception. The values are
returned as the pure model of :mod:`bpfdoctor.kernelprofile`.
"""

from __future__ import annotations

import functools
import os
import re
import resource
import subprocess
from pathlib import Path

from bpfdoctor.btf import Btf
from bpfdoctor.errors import BtfError
from bpfdoctor.kernelprofile import (
    BpffsMount,
    BtfFacts,
    Feature,
    FsFacts,
    HostFacts,
    SecurityFacts,
    release_tuple,
)
from bpfdoctor.kfacts import kind_names
from bpfdoctor.model import FeatureState
from bpfdoctor.probe.kconfig import Kconfig

SYSCTLS: dict[str, str] = {
    "kernel.unprivileged_bpf_disabled": "/proc/sys/kernel/unprivileged_bpf_disabled",
    "net.core.bpf_jit_enable": "/proc/sys/net/core/bpf_jit_enable",
    "net.core.bpf_jit_harden": "/proc/sys/net/core/bpf_jit_harden",
    "net.core.bpf_jit_kallsyms": "/proc/sys/net/core/bpf_jit_kallsyms",
    "net.core.bpf_jit_limit": "/proc/sys/net/core/bpf_jit_limit",
    "kernel.perf_event_paranoid": "/proc/sys/kernel/perf_event_paranoid",
    "kernel.kptr_restrict": "/proc/sys/kernel/kptr_restrict",
}

# Boot parameters that change what BPF may do.
_CMDLINE_KEYS = re.compile(r"^(lockdown|lsm|security|bpf_jit_\w+|module\.sig_enforce|"
                           r"ftrace|kprobe_event|trace_event|mitigations|nokaslr|"
                           r"unprivileged_bpf_disabled|bpf_stats\w*|debugfs)$")

# include/uapi/linux/capability.h numbers -> names (the ones BPF cares about first)
CAP_NAMES: dict[int, str] = {
    0: "CAP_CHOWN", 1: "CAP_DAC_OVERRIDE", 2: "CAP_DAC_READ_SEARCH", 3: "CAP_FOWNER",
    4: "CAP_FSETID", 5: "CAP_KILL", 6: "CAP_SETGID", 7: "CAP_SETUID", 8: "CAP_SETPCAP",
    9: "CAP_LINUX_IMMUTABLE", 10: "CAP_NET_BIND_SERVICE", 11: "CAP_NET_BROADCAST",
    12: "CAP_NET_ADMIN", 13: "CAP_NET_RAW", 14: "CAP_IPC_LOCK", 15: "CAP_IPC_OWNER",
    16: "CAP_SYS_MODULE", 17: "CAP_SYS_RAWIO", 18: "CAP_SYS_CHROOT", 19: "CAP_SYS_PTRACE",
    20: "CAP_SYS_PACCT", 21: "CAP_SYS_ADMIN", 22: "CAP_SYS_BOOT", 23: "CAP_SYS_NICE",
    24: "CAP_SYS_RESOURCE", 25: "CAP_SYS_TIME", 26: "CAP_SYS_TTY_CONFIG", 27: "CAP_MKNOD",
    28: "CAP_LEASE", 29: "CAP_AUDIT_WRITE", 30: "CAP_AUDIT_CONTROL", 31: "CAP_SETFCAP",
    32: "CAP_MAC_OVERRIDE", 33: "CAP_MAC_ADMIN", 34: "CAP_SYSLOG", 35: "CAP_WAKE_ALARM",
    36: "CAP_BLOCK_SUSPEND", 37: "CAP_AUDIT_READ", 38: "CAP_PERFMON", 39: "CAP_BPF",
    40: "CAP_CHECKPOINT_RESTORE",
}
BPF_CAPS = ("CAP_BPF", "CAP_PERFMON", "CAP_NET_ADMIN", "CAP_SYS_ADMIN", "CAP_SYS_RESOURCE")

# libbpf btf__load_vmlinux_btf() search list when /sys/kernel/btf/vmlinux is absent.
LIBBPF_VMLINUX_FALLBACKS = (
    "/boot/vmlinux-{r}",
    "/lib/modules/{r}/vmlinux-{r}",
    "/lib/modules/{r}/build/vmlinux",
    "/usr/lib/modules/{r}/kernel/vmlinux",
    "/usr/lib/debug/boot/vmlinux-{r}",
    "/usr/lib/debug/boot/vmlinux-{r}.debug",
    "/usr/lib/debug/lib/modules/{r}/vmlinux",
)


def _read(path: str, limit: int = 1 << 20) -> str | None:
    try:
        with open(path, "rb") as fh:
            return fh.read(limit).decode("utf-8", "replace")
    except OSError:
        return None


def distro() -> str | None:
    """PRETTY_NAME from /etc/os-release (or /usr/lib/os-release)."""
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        text = _read(path)
        if text is None:
            continue
        fields = dict(re.findall(r'^(\w+)="?([^"\n]*)"?$', text, re.M))
        return fields.get("PRETTY_NAME") or fields.get("NAME")
    return None


def parse_cmdline(text: str) -> dict[str, str]:
    """BPF-relevant ``key=value`` (or bare flag) parameters; stops at ``--`` (init's args)."""
    out: dict[str, str] = {}
    for tok in text.split():
        if tok == "--":
            break
        key, _, value = tok.partition("=")
        if _CMDLINE_KEYS.match(key):
            out[key] = value
    return out


def host_facts() -> HostFacts:
    u = os.uname()
    return HostFacts(
        kernel_release=u.release,
        kernel_version=u.version,
        arch=u.machine,
        distro=distro(),
        cmdline=parse_cmdline(_read("/proc/cmdline") or ""),
        euid=os.geteuid(),
    )


def sysctls() -> dict[str, str | None]:
    """Sysctl values; None when unreadable (missing in this kernel, or permission)."""
    out: dict[str, str | None] = {}
    for name, path in SYSCTLS.items():
        text = _read(path)
        out[name] = text.strip() if text is not None else None
    return out


def parse_capabilities(status_text: str) -> tuple[str, ...]:
    """Effective capability names from /proc/<pid>/status ``CapEff``."""
    m = re.search(r"^CapEff:\s*([0-9a-fA-F]+)", status_text, re.M)
    if not m:
        return ()
    mask = int(m.group(1), 16)
    return tuple(name for bit, name in sorted(CAP_NAMES.items()) if mask >> bit & 1)


def parse_lockdown(text: str) -> str | None:
    """``none integrity [confidentiality]`` -> the bracketed mode."""
    m = re.search(r"\[(\w+)\]", text)
    return m.group(1) if m else None


@functools.cache
def _dmesg() -> str | None:
    """The kernel ring buffer through dmesg(1) (non-blocking); None when restricted."""
    try:
        out = subprocess.run(["dmesg"], capture_output=True, text=True, timeout=2, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def lockdown_from_dmesg(text: str) -> str | None:
    """Kernel messages: ``Kernel is locked down from ...; see man kernel_lockdown.7``."""
    if "Kernel is locked down" in text or "Lockdown: " in text:
        m = re.search(r"lockdown=(integrity|confidentiality)", text)
        return m.group(1) if m else "integrity"
    return None


def lockdown(kconfig: Kconfig, cmdline: dict[str, str]) -> tuple[str | None, str]:
    """Lockdown mode and where it was learnt: securityfs, then the boot log, then config."""
    text = _read("/sys/kernel/security/lockdown")
    if text is not None:
        return parse_lockdown(text), "securityfs"
    log = _dmesg()
    mode = None
    if log is not None:
        mode = lockdown_from_dmesg(log)
        if mode is not None:
            # dmesg says "locked down" but not the level: the config or cmdline does
            mode = _lockdown_level(kconfig, cmdline) or mode
            return mode, "dmesg"
    if cmdline.get("lockdown") in ("integrity", "confidentiality"):
        return cmdline["lockdown"], "cmdline"
    level = _lockdown_level(kconfig, cmdline)
    if level is not None:
        return level, "kconfig"
    if log is not None and kconfig.enabled("CONFIG_SECURITY_LOCKDOWN_LSM"):
        return "none", "dmesg"
    return None, "unknown"


def _lockdown_level(kconfig: Kconfig, cmdline: dict[str, str]) -> str | None:
    if cmdline.get("lockdown") in ("integrity", "confidentiality"):
        return cmdline["lockdown"]
    if kconfig.get("CONFIG_LOCK_DOWN_KERNEL_FORCE_CONFIDENTIALITY") == "y":
        return "confidentiality"
    if kconfig.get("CONFIG_LOCK_DOWN_KERNEL_FORCE_INTEGRITY") == "y":
        return "integrity"
    return None


def lsms(kconfig: Kconfig) -> tuple[tuple[str, ...], str]:
    text = _read("/sys/kernel/security/lsm")
    if text is not None:
        return tuple(x for x in text.strip().split(",") if x), "securityfs"
    log = _dmesg()
    if log:
        m = re.search(r"LSM: initializing lsm=([\w,]+)", log)
        if m:
            return tuple(m.group(1).split(",")), "dmesg"
    value = kconfig.get("CONFIG_LSM")
    if value:
        return tuple(value.split(",")), "kconfig"
    return (), "unknown"


def memlock() -> tuple[int | None, int | None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    inf = resource.RLIM_INFINITY
    return (None if soft == inf else soft, None if hard == inf else hard)


def memcg_accounting(release: str) -> bool:
    """Since 5.11 BPF maps and programs are charged to the memory cgroup, not RLIMIT_MEMLOCK."""
    return release_tuple(release) >= (5, 11, 0)


def security_facts(kconfig: Kconfig, host: HostFacts) -> SecurityFacts:
    mode, source = lockdown(kconfig, dict(host.cmdline))
    names, lsm_source = lsms(kconfig)
    soft, hard = memlock()
    return SecurityFacts(
        lockdown=mode,
        lockdown_source=source,
        lsms=names,
        lsms_source=lsm_source,
        capabilities=parse_capabilities(_read("/proc/self/status") or ""),
        memlock_soft=soft,
        memlock_hard=hard,
        memcg_accounting=memcg_accounting(host.kernel_release),
    )


def btf_facts(release: str) -> tuple[BtfFacts, Btf | None]:
    """vmlinux BTF presence, size and parse result; module BTF files; libbpf fallbacks.

    The BTF is parsed by the shared :class:`~bpfdoctor.btf.Btf` (validated header, type
    index; types decoded on demand), so the probe reads the kernel as every check does."""
    path = "/sys/kernel/btf/vmlinux"
    fallbacks = {p.format(r=release): os.path.exists(p.format(r=release))
                 for p in LIBBPF_VMLINUX_FALLBACKS}
    try:
        modules = tuple(sorted(n for n in os.listdir("/sys/kernel/btf") if n != "vmlinux"))
    except OSError:
        modules = ()
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return BtfFacts(path, False, modules=modules, fallback_paths=fallbacks), None
    except OSError as exc:
        return BtfFacts(path, True, None, False, f"unreadable: {exc.strerror}", modules=modules,
                        fallback_paths=fallbacks), None
    try:
        btf = Btf.from_bytes(data, source=path)
    except BtfError as exc:
        return BtfFacts(path, True, len(data), False, str(exc), modules=modules,
                        fallback_paths=fallbacks), None
    return BtfFacts(path, True, len(data), True, None, kind_names(btf), modules,
                    fallbacks), btf


def parse_mountinfo(text: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """(mount point, fs type, mount+super options) from /proc/self/mountinfo lines."""
    out: list[tuple[str, str, tuple[str, ...]]] = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        lf, rf = left.split(), right.split()
        if len(lf) < 6 or len(rf) < 3:
            continue
        point = lf[4].replace("\\040", " ")
        opts = tuple(dict.fromkeys(lf[5].split(",") + rf[2].split(",")))
        out.append((point, rf[0], opts))
    return out


def bpffs_mount(point: str, options: tuple[str, ...]) -> BpffsMount:
    kv = dict(o.partition("=")[::2] for o in options)
    return BpffsMount(point, options, kv.get("delegate_cmds"), kv.get("delegate_maps"),
                      kv.get("delegate_progs"), kv.get("delegate_attachs"))


def _readable(path: str) -> Feature:
    if not os.path.exists(path):
        return Feature(FeatureState.UNSUPPORTED, f"{path} does not exist", "host")
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except PermissionError:
        return Feature(FeatureState.DENIED, f"{path}: permission denied", "host")
    except OSError as exc:
        return Feature(FeatureState.DENIED if exc.errno in (1, 13) else FeatureState.UNKNOWN,
                       f"{path}: {exc.strerror}", "host")
    return Feature(FeatureState.SUPPORTED, None, "host")


def filesystem_facts(kconfig: Kconfig) -> FsFacts:
    mounts = parse_mountinfo(_read("/proc/self/mountinfo") or "")
    bpffs = tuple(bpffs_mount(p, o) for p, t, o in mounts if t == "bpf")
    tracefs = tuple(p for p, t, _ in mounts if t == "tracefs")
    debugfs = tuple(p for p, t, _ in mounts if t == "debugfs")
    roots = list(tracefs) + [f"{p}/tracing" for p in debugfs]

    def traced(name: str, option: str) -> Feature:
        for root in roots:
            f = _readable(f"{root}/{name}")
            if f.state is not FeatureState.UNSUPPORTED:
                return f
        if kconfig.enabled(option) is False:
            return Feature(FeatureState.UNSUPPORTED, f"{option} is not set", "kconfig")
        if not roots:
            return Feature(FeatureState.UNKNOWN,
                           "tracefs is not mounted (mount -t tracefs nodev /sys/kernel/tracing)",
                           "host")
        return Feature(FeatureState.UNSUPPORTED, f"{name} not found under {', '.join(roots)}",
                       "host")

    return FsFacts(
        bpffs=bpffs,
        tracefs=tracefs,
        debugfs=debugfs,
        available_filter_functions=traced("available_filter_functions",
                                          "CONFIG_DYNAMIC_FTRACE"),
        kprobe_events=traced("kprobe_events", "CONFIG_KPROBE_EVENTS"),
    )
