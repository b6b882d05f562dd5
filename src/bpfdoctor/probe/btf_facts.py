"""What vmlinux BTF alone says about the kernel, for when bpf() loads are not allowed.

The kernel's own enums (``bpf_prog_type``, ``bpf_map_type``, ``bpf_func_id``,
``bpf_attach_type``, ``bpf_link_type``) list what this kernel knows, and ``bpf_kfunc`` decl tags
list its kfuncs. "Known to the kernel" is weaker than "loads here": an option may be compiled
out (``CONFIG_BPF_LIRC_MODE2``), so the kconfig is consulted and the reason says ``from BTF``.

Pure: takes a :class:`RawBtf` (bytes already read) and a :class:`Kconfig`.
"""

from __future__ import annotations

from bpfdoctor.kernelprofile import Feature
from bpfdoctor.model import FeatureState
from bpfdoctor.probe.btf_scan import RawBtf
from bpfdoctor.probe.kconfig import Kconfig

# Program and map types the kernel builds only with an option (enum value exists regardless).
PROG_TYPE_KCONFIG: dict[str, str] = {
    "kprobe": "CONFIG_BPF_EVENTS", "tracepoint": "CONFIG_BPF_EVENTS",
    "perf_event": "CONFIG_BPF_EVENTS", "raw_tracepoint": "CONFIG_BPF_EVENTS",
    "raw_tracepoint_writable": "CONFIG_BPF_EVENTS", "tracing": "CONFIG_BPF_EVENTS",
    "lirc_mode2": "CONFIG_BPF_LIRC_MODE2", "lsm": "CONFIG_BPF_LSM",
    "cgroup_skb": "CONFIG_CGROUP_BPF", "cgroup_sock": "CONFIG_CGROUP_BPF",
    "cgroup_device": "CONFIG_CGROUP_BPF", "cgroup_sock_addr": "CONFIG_CGROUP_BPF",
    "cgroup_sysctl": "CONFIG_CGROUP_BPF", "cgroup_sockopt": "CONFIG_CGROUP_BPF",
    "sock_ops": "CONFIG_CGROUP_BPF", "lwt_in": "CONFIG_LWTUNNEL_BPF",
    "lwt_out": "CONFIG_LWTUNNEL_BPF", "lwt_xmit": "CONFIG_LWTUNNEL_BPF",
    "lwt_seg6local": "CONFIG_IPV6_SEG6_BPF", "netfilter": "CONFIG_NETFILTER_BPF_LINK",
}
MAP_TYPE_KCONFIG: dict[str, str] = {
    "xskmap": "CONFIG_XDP_SOCKETS", "cgroup_storage": "CONFIG_CGROUP_BPF",
    "percpu_cgroup_storage": "CONFIG_CGROUP_BPF", "inode_storage": "CONFIG_BPF_LSM",
    "sockmap": "CONFIG_NET", "sockhash": "CONFIG_NET", "sk_storage": "CONFIG_NET",
    "cgroup_array": "CONFIG_CGROUPS", "cgrp_storage": "CONFIG_CGROUPS",
}


def enum_names(btf: RawBtf, enum: str, prefix: str, *, lower: bool = True) -> dict[str, int]:
    """Short name -> value for one kernel enum, without UNSPEC, ``__MAX`` and deprecated
    aliases (libbpf naming: ``BPF_PROG_TYPE_SCHED_CLS`` -> ``sched_cls``)."""
    out: dict[str, int] = {}
    for name, value in btf.enum_values(enum).items():
        if not name.startswith(prefix) or name.upper().endswith(("_DEPRECATED", "UNSPEC")):
            continue
        short = name[len(prefix):]
        if short.startswith("_") or short.startswith("MAX"):
            continue
        out[short.lower() if lower else short] = value
    return out


def prog_types(btf: RawBtf) -> dict[str, int]:
    return enum_names(btf, "bpf_prog_type", "BPF_PROG_TYPE_")


def map_types(btf: RawBtf) -> dict[str, int]:
    return enum_names(btf, "bpf_map_type", "BPF_MAP_TYPE_")


def helpers(btf: RawBtf) -> dict[str, int]:
    return {"bpf_" + k: v for k, v in enum_names(btf, "bpf_func_id", "BPF_FUNC_").items()}


def attach_types(btf: RawBtf) -> dict[str, int]:
    return enum_names(btf, "bpf_attach_type", "BPF_")


def link_types(btf: RawBtf) -> dict[str, int]:
    return enum_names(btf, "bpf_link_type", "BPF_LINK_TYPE_")


def bpf_commands(btf: RawBtf) -> dict[str, int]:
    return enum_names(btf, "bpf_cmd", "BPF_", lower=False)


def _known(what: str, name: str, kconfig: Kconfig, option: str | None, why: str) -> Feature:
    if option is not None and kconfig.enabled(option) is False:
        return Feature(FeatureState.UNSUPPORTED,
                       f"{option} is not set (the kernel knows the {what} but it is compiled "
                       "out)", "kconfig")
    return Feature(FeatureState.SUPPORTED, f"from BTF: {name} is in this kernel's enum; {why}",
                   "btf")


def group_facts(btf: RawBtf, kconfig: Kconfig, group: str, why: str) -> dict[str, Feature]:
    """Features of one group as far as BTF tells; ``why`` says why loading was not tried."""
    if group == "prog_types":
        return {n: _known("program type", n, kconfig, PROG_TYPE_KCONFIG.get(n), why)
                for n in prog_types(btf)}
    if group == "map_types":
        return {n: _known("map type", n, kconfig, MAP_TYPE_KCONFIG.get(n), why)
                for n in map_types(btf)}
    if group == "helpers":
        return {n: _known("helper", n, kconfig, None, why) for n in helpers(btf)}
    if group == "attach":
        return {n: _known("attach type", n, kconfig, None, why) for n in attach_types(btf)}
    if group == "link_types":
        return {n: _known("link type", n, kconfig, None, why) for n in link_types(btf)}
    if group == "kfuncs":
        return {n: Feature(FeatureState.SUPPORTED,
                           "from BTF: tagged bpf_kfunc in vmlinux BTF; which program types may "
                           "call it is decided per kfunc set", "btf")
                for n in btf.kfuncs()}
    return {}


BTF_GROUPS = ("prog_types", "map_types", "helpers", "attach", "link_types", "kfuncs")
