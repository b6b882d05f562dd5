"""Kernel profiles synthesized without running the kernel: from its BTF, its config, and the
knowledge base's version table.

Three sources, strongest first (a profile or BTF always wins over version arithmetic, because
distributions backport):

- **BTF**: the UAPI enums ``bpf_prog_type``, ``bpf_map_type``, ``bpf_func_id``,
  ``bpf_attach_type`` and ``bpf_link_type`` are append-only, so what they list exists and what
  they lack does not; ``bpf_kfunc`` decl tags (pahole >= 1.25 kernels) list kfuncs; the kinds
  the kernel's own BTF uses are kinds it parses.
- **kconfig**: a program or map type whose code is compiled out is unsupported even though
  the enum lists it; kprobes, fprobe and uprobes need their options.
- **version** (``source: version``): every other item, supported or unsupported by the
  upstream version that introduced it, with ``min_kernel``.

Pure: takes parsed BTF, a kconfig mapping and a version string.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from packaging.version import Version

from bpfdoctor.btf import Btf, BtfKind
from bpfdoctor.errors import InputError
from bpfdoctor.kernelprofile import (
    BtfFacts,
    Feature,
    FsFacts,
    HostFacts,
    KernelProfile,
    ProbeMeta,
    SecurityFacts,
)
from bpfdoctor.knowledge import uapi
from bpfdoctor.knowledge.kb import KnowledgeBase, parse_kernel_version
from bpfdoctor.model import FeatureState

S, U = FeatureState.SUPPORTED, FeatureState.UNSUPPORTED

# (profile group, kernel enum, enum prefix, name prefix added) - the groups BTF answers.
ENUM_GROUPS: tuple[tuple[str, str, str, str], ...] = (
    ("prog_types", "bpf_prog_type", "BPF_PROG_TYPE_", ""),
    ("map_types", "bpf_map_type", "BPF_MAP_TYPE_", ""),
    ("helpers", "bpf_func_id", "BPF_FUNC_", "bpf_"),
    ("attach", "bpf_attach_type", "BPF_", ""),
    ("link_types", "bpf_link_type", "BPF_LINK_TYPE_", ""),
)
# Program and map types built only with an option (bpftool probe_kernel_image_config()).
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
    "struct_ops": "CONFIG_BPF_JIT",
}
MAP_TYPE_KCONFIG: dict[str, str] = {
    "xskmap": "CONFIG_XDP_SOCKETS", "cgroup_storage": "CONFIG_CGROUP_BPF",
    "percpu_cgroup_storage": "CONFIG_CGROUP_BPF", "inode_storage": "CONFIG_BPF_LSM",
    "sockmap": "CONFIG_BPF_STREAM_PARSER", "sockhash": "CONFIG_BPF_STREAM_PARSER",
    "sk_storage": "CONFIG_NET", "cgroup_array": "CONFIG_CGROUPS",
    "cgrp_storage": "CONFIG_CGROUPS",
}
# The probe's btf_kinds keys (libbpf probe_kern_btf_*) -> (knowledge kind, name).
BTF_KIND_KEYS: dict[str, tuple[str, str]] = {
    "btf": ("feature", "btf"), "struct": ("btf_kind", "STRUCT"), "func": ("btf_kind", "FUNC"),
    "func_global": ("feature", "btf_func_global"), "datasec": ("btf_kind", "DATASEC"),
    "float": ("btf_kind", "FLOAT"), "decl_tag": ("btf_kind", "DECL_TAG"),
    "type_tag": ("btf_kind", "TYPE_TAG"), "enum64": ("btf_kind", "ENUM64"),
}
BTF_KIND_OF_KEY = {"struct": BtfKind.STRUCT, "func": BtfKind.FUNC, "datasec": BtfKind.DATASEC,
                   "float": BtfKind.FLOAT, "decl_tag": BtfKind.DECL_TAG,
                   "type_tag": BtfKind.TYPE_TAG, "enum64": BtfKind.ENUM64}
# Profile group -> (knowledge kind, names) for the groups only the version table answers.
VERIFIER = ("bounded_loops", "large_insn_limit")
PROGRAM_FEATURES = {"bpf_to_bpf_calls": "bpf_to_bpf_calls", "global_data": "global_data",
                    "sleepable": "sleepable", "func_info": "btf_func_info"}


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- version table ---------------------------------------------------------------------------


def _by_version(kb: KnowledgeBase, kind: str, name: str, have: Version) -> Feature | None:
    entry = kb.entry(kind, name)
    if entry is None or entry.min_kernel is None:
        return None
    need = Version(entry.min_kernel)
    if have >= need:
        return Feature(S, None, "version", entry.min_kernel)
    return Feature(U, f"introduced in Linux {entry.min_kernel}; this kernel is {have}",
                   "version", entry.min_kernel)


def version_features(version: str) -> dict[str, dict[str, Feature]]:
    """Every item the knowledge base dates, supported or unsupported for upstream ``version``
    (``source: version``). Undated items are left out (unknown)."""
    have = parse_kernel_version(version)
    kb = KnowledgeBase.load()
    out: dict[str, dict[str, Feature]] = {}

    def put(group: str, key: str, kind: str, name: str) -> None:
        f = _by_version(kb, kind, name, have)
        if f is not None:
            out.setdefault(group, {})[key] = f

    for name in sorted(kb.names("prog_type")):
        put("prog_types", name, "prog_type", name)
    for name in sorted(kb.names("map_type")):
        put("map_types", name, "map_type", name)
    for name in sorted(kb.names("helper")):
        put("helpers", name, "helper", name)
    for name in sorted(kb.names("attach_type")):
        put("attach", name, "attach_type", name)
    for name in sorted(kb.names("link_type")):
        put("link_types", name, "link_type", name)
    for name in sorted(kb.names("map_flag")):
        put("map_flags", name.removeprefix("BPF_F_").lower(), "map_flag", name)
    for name in sorted(kb.names("isa")):
        put("isa", name, "isa", name)
    for key, (kind, name) in BTF_KIND_KEYS.items():
        put("btf_kinds", key, kind, name)
    for name in VERIFIER:
        put("verifier", name, "feature", name)
    for key, name in PROGRAM_FEATURES.items():
        put("program_features", key, "feature", name)
    return out


def version_profile(version: str) -> KernelProfile:
    """A profile from the knowledge base alone (``kernel:X.Y``)."""
    features = version_features(version)
    return KernelProfile(
        captured_at=now(),
        host=HostFacts(kernel_release=_release(version)),
        features=features,
        probe=ProbeMeta(groups=tuple(features), live=False),
    )


def _release(version: str) -> str:
    parts = version.split("-", 1)[0].split(".")
    return ".".join(([*parts, "0", "0"])[:3]) if len(parts) < 3 else version


# -- BTF -------------------------------------------------------------------------------------


def enum_values(btf: Btf, name: str) -> dict[str, int]:
    for tid in btf.find(name):
        t = btf.type(tid)
        if t.kind in (BtfKind.ENUM, BtfKind.ENUM64):
            return {v.name: v.value for v in t.values}
    return {}


def short_names(values: Mapping[str, int], prefix: str, add: str) -> list[str]:
    """libbpf-style names from one enum: no prefix, lowercase, no UNSPEC/__MAX/DEPRECATED."""
    out = []
    for full in values:
        if not full.startswith(prefix):
            continue
        short = full[len(prefix):]
        if short.startswith(("_", "MAX")) or short.endswith(("UNSPEC", "_DEPRECATED")) or \
                short == "UNSPEC":
            continue
        out.append(add + short.lower())
    return out


def _known(group: str) -> Iterable[str]:
    if group == "prog_types":
        return (n for i, n in uapi.prog_types().items() if i)
    if group == "map_types":
        return (n for i, n in uapi.map_types().items() if i)
    if group == "helpers":
        return uapi.helper_ids()
    if group == "attach":
        return uapi.attach_types().values()
    return (n for i, n in uapi.link_types().items() if i)


def _option_off(kconfig: Mapping[str, str] | None, option: str | None) -> bool:
    if kconfig is None or option is None:
        return False
    return kconfig.get(option, "n") not in ("y", "m")


def kfuncs(btf: Btf) -> dict[str, Feature]:
    """Functions tagged ``bpf_kfunc`` (BTF_DECL_TAG, pahole >= 1.25 kernels; 6.1 has none)."""
    out: dict[str, Feature] = {}
    for tid in btf.find("bpf_kfunc"):
        t = btf.type(tid)
        if t.kind is BtfKind.DECL_TAG and t.type is not None:
            name = btf.type(t.type).name
            if name:
                out[name] = Feature(S, "tagged bpf_kfunc in the kernel's BTF", "btf")
    return out


def btf_features(btf: Btf, kconfig: Mapping[str, str] | None) -> dict[str, dict[str, Feature]]:
    """What the kernel's BTF says exists; ``kconfig`` (the whole config, or None) marks types
    whose code is compiled out."""
    out: dict[str, dict[str, Feature]] = {}
    for group, enum, prefix, add in ENUM_GROUPS:
        values = enum_values(btf, enum)
        if not values:
            continue
        present = short_names(values, prefix, add)
        items: dict[str, Feature] = {}
        options = PROG_TYPE_KCONFIG if group == "prog_types" else (
            MAP_TYPE_KCONFIG if group == "map_types" else {})
        for name in present:
            option = options.get(name)
            if _option_off(kconfig, option):
                items[name] = Feature(U, f"{option} is not set (the kernel knows it, but the "
                                         "code is compiled out)", "kconfig")
            else:
                items[name] = Feature(S, f"in this kernel's enum {enum} (BTF)", "btf")
        for name in _known(group):
            if name not in items:
                items[name] = Feature(U, f"not in this kernel's enum {enum} (BTF)", "btf")
        out[group] = items
    tagged = kfuncs(btf)
    if tagged:
        out["kfuncs"] = tagged
    kinds = btf.kind_counts()
    out["btf_kinds"] = {"btf": Feature(S, "the kernel has BTF", "btf")}
    for key, kind in BTF_KIND_OF_KEY.items():
        if kind in kinds:
            out["btf_kinds"][key] = Feature(S, f"the kernel's own BTF uses {kind.name}", "btf")
    return out


def tracing_features(kconfig: Mapping[str, str], prog_types: Mapping[str, Feature]
                     ) -> dict[str, Feature]:
    """Attach-side facts from the config (the same keys the live probe writes)."""
    def opt(option: str, what: str) -> Feature:
        if kconfig.get(option, "n") in ("y", "m"):
            return Feature(S, None, "kconfig")
        return Feature(U, f"{option} is not set: {what}", "kconfig")

    out: dict[str, Feature] = {}
    kp = opt("CONFIG_KPROBES", "kprobe/kretprobe programs load but cannot attach")
    if kp.state is S:
        kp = opt("CONFIG_KPROBE_EVENTS", "kprobes attach through perf kprobe events")
    out["kprobe"] = kp
    out["kprobe_multi"] = opt("CONFIG_FPROBE", "kprobe.multi links need fprobe")
    out["uprobe"] = opt("CONFIG_UPROBE_EVENTS", "uprobes attach through uprobe events")
    tracing = prog_types.get("tracing")
    if tracing is not None:
        out["fentry"] = Feature(tracing.state, tracing.reason, tracing.source)
    lsm = prog_types.get("lsm")
    if lsm is not None:
        if lsm.state is S and "bpf" not in kconfig.get("CONFIG_LSM", "").split(","):
            out["lsm"] = Feature(U, "CONFIG_LSM does not list bpf: BPF LSM programs attach only "
                                    "when lsm=...,bpf is on the kernel command line", "kconfig")
        else:
            out["lsm"] = Feature(lsm.state, lsm.reason, lsm.source)
    return out


def security_from_kconfig(kconfig: Mapping[str, str]) -> SecurityFacts:
    """Lockdown forced at build time is the only security fact a config can give."""
    for mode in ("CONFIDENTIALITY", "INTEGRITY"):
        if kconfig.get(f"CONFIG_LOCK_DOWN_KERNEL_FORCE_{mode}") == "y":
            return SecurityFacts(lockdown=mode.lower(), lockdown_source="kconfig")
    return SecurityFacts()


def merge(*layers: Mapping[str, Mapping[str, Feature]]) -> dict[str, dict[str, Feature]]:
    """Later layers win item by item (BTF over version)."""
    out: dict[str, dict[str, Feature]] = {}
    for layer in layers:
        for group, items in layer.items():
            out.setdefault(group, {}).update(items)
    return out


def kernel_profile(
    *, release: str, arch: str = "", distro: str | None = None, btf: Btf | None,
    btf_path: str, btf_size: int | None, kconfig: Mapping[str, str] | None,
    kconfig_source: str | None, version_known: bool, modules: tuple[str, ...] = (),
    tool_version: str = "",
) -> KernelProfile:
    """The profile of a kernel described by files: BTF over kconfig over version table."""
    layers: list[Mapping[str, Mapping[str, Feature]]] = []
    if version_known:
        layers.append(version_features(release))
    if btf is not None:
        layers.append(btf_features(btf, kconfig))
    features = merge(*layers)
    if kconfig is not None:
        features["tracing"] = tracing_features(kconfig, features.get("prog_types", {}))
    if not features:
        raise InputError("nothing to build a profile from: give BTF, a kconfig or a version")
    return KernelProfile(
        captured_at=now(),
        host=HostFacts(kernel_release=release, arch=arch, distro=distro),
        security=security_from_kconfig(kconfig or {}),
        kconfig=dict(kconfig or {}),
        kconfig_source=kconfig_source,
        btf=BtfFacts(vmlinux_path=btf_path, vmlinux_present=btf is not None,
                     vmlinux_size=btf_size, vmlinux_parsable=btf is not None if btf_size else None,
                     vmlinux_kinds=tuple(sorted(k.name for k in btf.kind_counts())) if btf
                     else (), modules=modules),
        filesystems=FsFacts(),
        features=features,
        probe=ProbeMeta(tool_version=tool_version, groups=tuple(features), live=False),
    )
