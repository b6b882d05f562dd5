"""Kernel build configuration: a pure parser of ``.config`` text, and the host lookup.

:func:`parse_kconfig` is pure (text in, mapping out) so it is tested with fixtures; the
lookup (:func:`read_host_kconfig`) tries the places libbpf and bpftool try, in their order
(bpftool ``probe_kernel_image_config()``): ``/boot/config-$(uname -r)``, ``/proc/config.gz``,
then the distro locations.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

from bpfdoctor.errors import InputError

# Options that decide whether BPF programs load and attach: bpftool's 33 plus what makes
# kprobes, uprobes, fprobe, module BTF, LSM programs and lockdown work.
BPF_OPTIONS: tuple[str, ...] = (
    # bpftool feature probe kernel (probe_kernel_image_config)
    "CONFIG_BPF", "CONFIG_BPF_SYSCALL", "CONFIG_HAVE_EBPF_JIT", "CONFIG_BPF_JIT",
    "CONFIG_BPF_JIT_ALWAYS_ON", "CONFIG_DEBUG_INFO_BTF", "CONFIG_DEBUG_INFO_BTF_MODULES",
    "CONFIG_CGROUPS", "CONFIG_CGROUP_BPF", "CONFIG_CGROUP_NET_CLASSID", "CONFIG_SOCK_CGROUP_DATA",
    "CONFIG_BPF_EVENTS", "CONFIG_KPROBE_EVENTS", "CONFIG_UPROBE_EVENTS", "CONFIG_TRACING",
    "CONFIG_FTRACE_SYSCALLS", "CONFIG_FUNCTION_ERROR_INJECTION", "CONFIG_BPF_KPROBE_OVERRIDE",
    "CONFIG_NET", "CONFIG_XDP_SOCKETS", "CONFIG_LWTUNNEL_BPF", "CONFIG_NET_ACT_BPF",
    "CONFIG_NET_CLS_BPF", "CONFIG_NET_CLS_ACT", "CONFIG_NET_SCH_INGRESS", "CONFIG_XFRM",
    "CONFIG_IP_ROUTE_CLASSID", "CONFIG_IPV6_SEG6_BPF", "CONFIG_BPF_LIRC_MODE2",
    "CONFIG_BPF_STREAM_PARSER", "CONFIG_NETFILTER_XT_MATCH_BPF", "CONFIG_BPFILTER",
    "CONFIG_BPFILTER_UMH", "CONFIG_TEST_BPF", "CONFIG_HZ",
    # beyond bpftool
    "CONFIG_KPROBES", "CONFIG_UPROBES", "CONFIG_FPROBE", "CONFIG_FUNCTION_TRACER",
    "CONFIG_DYNAMIC_FTRACE", "CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS", "CONFIG_BPF_LSM",
    "CONFIG_SECURITY_LOCKDOWN_LSM", "CONFIG_SECURITY_LOCKDOWN_LSM_EARLY",
    "CONFIG_LOCK_DOWN_KERNEL_FORCE_NONE", "CONFIG_LOCK_DOWN_KERNEL_FORCE_INTEGRITY",
    "CONFIG_LOCK_DOWN_KERNEL_FORCE_CONFIDENTIALITY", "CONFIG_LSM", "CONFIG_MODULES",
    "CONFIG_NET_SCH_BPF", "CONFIG_BPF_UNPRIV_DEFAULT_OFF", "CONFIG_BPF_JIT_DEFAULT_ON",
    "CONFIG_BPF_PRELOAD", "CONFIG_MEMCG", "CONFIG_SECURITYFS", "CONFIG_DEBUG_FS",
    "CONFIG_NETFILTER_BPF_LINK", "CONFIG_HID_BPF", "CONFIG_SCHED_CLASS_EXT",
    "CONFIG_NET_XGRESS", "CONFIG_NETKIT", "CONFIG_PAHOLE_VERSION", "CONFIG_ARCH_HAS_SYSCALL_WRAPPER",
)

MAX_CONFIG_BYTES = 16 << 20

_LINE = re.compile(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$")
_NOT_SET = re.compile(r"^#\s*(CONFIG_[A-Za-z0-9_]+) is not set\s*$")


@dataclass(frozen=True, slots=True)
class Kconfig:
    """Parsed configuration: option -> value (``y``, ``m``, ``n``, a number or a string)."""

    values: dict[str, str]
    source: str | None = None

    def get(self, option: str) -> str | None:
        """Value of an option; ``n`` for ``# ... is not set``; None when the file lacks it."""
        return self.values.get(option)

    def enabled(self, option: str) -> bool | None:
        """True for ``y``/``m``, False for ``n`` or absent, None when no config was found."""
        if self.source is None and not self.values:
            return None
        return self.values.get(option, "n") in ("y", "m")

    def relevant(self) -> dict[str, str]:
        """The BPF-relevant subset, ``n`` filled in for options the file does not mention."""
        return {opt: self.values.get(opt, "n") for opt in BPF_OPTIONS}


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value


def parse_kconfig(text: str, source: str | None = None) -> Kconfig:
    """Parse ``.config`` text; comments other than ``is not set`` and blank lines are ignored.

    Raises InputError when the text has no CONFIG_ line at all (not a kernel config).
    """
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        m = _LINE.match(line)
        if m:
            values[m.group(1)] = _unquote(m.group(2))
            continue
        m = _NOT_SET.match(line)
        if m:
            values[m.group(1)] = "n"
    if not values:
        where = f" {source}" if source else ""
        raise InputError(f"kconfig{where}: no CONFIG_ options found (not a kernel .config)")
    return Kconfig(values, source)


def decode_config_bytes(data: bytes, source: str) -> str:
    """Text of a config file, gunzipping ``config.gz`` (detected by the gzip magic)."""
    if data[:2] == b"\x1f\x8b":
        try:  # bounded: a .config is a few hundred KiB, a gzip bomb is not
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as gz:
                data = gz.read(MAX_CONFIG_BYTES + 1)
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(f"kconfig {source}: corrupt gzip data ({exc})") from None
        if len(data) > MAX_CONFIG_BYTES:
            raise InputError(f"kconfig {source}: more than {MAX_CONFIG_BYTES >> 20} MiB "
                             "once decompressed: not a kernel config")
    return data.decode("utf-8", "replace")


def candidate_paths(release: str) -> tuple[str, ...]:
    """Where kernels keep their config, in the order libbpf/bpftool look."""
    return (
        f"/boot/config-{release}",
        "/proc/config.gz",
        f"/lib/modules/{release}/config",
        f"/lib/modules/{release}/build/.config",
        f"/usr/src/linux-{release}/.config",
        "/usr/src/linux/.config",
        "/boot/config",
    )


def read_host_kconfig(release: str | None = None) -> tuple[Kconfig, tuple[str, ...]]:
    """Read the running kernel's config from the first readable place.

    Returns the config (``source=None`` and empty when none was found) and the paths tried.
    """
    rel = release or os.uname().release
    tried: list[str] = []
    for path in candidate_paths(rel):
        tried.append(path)
        try:
            data = Path(path).read_bytes()
        except OSError:
            continue
        try:
            return parse_kconfig(decode_config_bytes(data, path), path), tuple(tried)
        except InputError:
            continue
    return Kconfig({}, None), tuple(tried)
