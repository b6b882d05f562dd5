"""What a kernel's own BTF says exists: the one reading shared by the live probe, ``btf:``
targets (targetload) and ``profile from-kernel``.

- The UAPI enums ``bpf_prog_type``, ``bpf_map_type``, ``bpf_func_id``, ``bpf_attach_type`` and
  ``bpf_link_type`` are append-only, so what they list exists and what they lack does not.
- ``bpf_kfunc`` decl tags (pahole >= 1.25 kernels) list kfuncs; map flags defined as
  enumerators (``BPF_F_MMAPABLE``) exist; the kinds the kernel's own BTF uses are kinds it
  parses.
- "Known to the kernel" is weaker than "loads here": a program or map type whose code is
  compiled out (``CONFIG_BPF_LIRC_MODE2=n``) is unsupported although the enum lists it, so the
  kconfig, when known, is consulted (bpftool ``probe_kernel_image_config()`` habit).

Every reason says where it came from (``from BTF: ...``); a caller that knows why it did not
ask the kernel directly (the probe without ``bpf()``) passes that as ``why`` and it is appended.

Pure: takes a parsed :class:`~bpfdoctor.btf.Btf` and a kconfig mapping (or None when no config
is known); never reads the host.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from bpfdoctor.btf import Btf, BtfKind
from bpfdoctor.kernelprofile import Feature
from bpfdoctor.knowledge import uapi
from bpfdoctor.model import FeatureState

S, U = FeatureState.SUPPORTED, FeatureState.UNSUPPORTED

# (profile group, kernel enum, enum prefix, name prefix added) - the groups the enums answer.
ENUM_GROUPS: tuple[tuple[str, str, str, str], ...] = (
    ("prog_types", "bpf_prog_type", "BPF_PROG_TYPE_", ""),
    ("map_types", "bpf_map_type", "BPF_MAP_TYPE_", ""),
    ("helpers", "bpf_func_id", "BPF_FUNC_", "bpf_"),
    ("attach", "bpf_attach_type", "BPF_", ""),
    ("link_types", "bpf_link_type", "BPF_LINK_TYPE_", ""),
)
_ENUM_OF = {group: (enum, prefix, add) for group, enum, prefix, add in ENUM_GROUPS}
_WHAT = {"prog_types": "program type", "map_types": "map type", "helpers": "helper",
         "attach": "attach type", "link_types": "link type"}

# Program and map types built only with an option, although the enum value exists regardless
# (include/linux/bpf_types.h; bpftool probe_kernel_image_config()). sockmap/sockhash sat under
# CONFIG_BPF_STREAM_PARSER before 5.x and under CONFIG_INET since; CONFIG_NET holds for both.
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
    "sockmap": "CONFIG_NET", "sockhash": "CONFIG_NET", "sk_storage": "CONFIG_NET",
    "cgroup_array": "CONFIG_CGROUPS", "cgrp_storage": "CONFIG_CGROUPS",
}
_KCONFIG_OF = {"prog_types": PROG_TYPE_KCONFIG, "map_types": MAP_TYPE_KCONFIG}

# The profile's btf_kinds keys (libbpf probe_kern_btf_*) that name a BTF kind.
BTF_KIND_OF_KEY = {"struct": BtfKind.STRUCT, "func": BtfKind.FUNC, "datasec": BtfKind.DATASEC,
                   "float": BtfKind.FLOAT, "decl_tag": BtfKind.DECL_TAG,
                   "type_tag": BtfKind.TYPE_TAG, "enum64": BtfKind.ENUM64}

# Every group this module can answer, in profile order.
BTF_GROUPS = ("prog_types", "map_types", "helpers", "attach", "link_types", "kfuncs",
              "map_flags", "btf_kinds")


def _because(reason: str, why: str | None) -> str:
    return f"{reason}; {why}" if why else reason


# -- reading the BTF -------------------------------------------------------------------------


def enum_values(btf: Btf, name: str) -> dict[str, int]:
    """Enumerators of ``enum name`` (ENUM or ENUM64, first of that name); empty when absent."""
    for tid in btf.find(name):
        t = btf.type(tid)
        if t.kind in (BtfKind.ENUM, BtfKind.ENUM64):
            return {v.name: v.value for v in t.values}
    return {}


def short_names(values: Mapping[str, int], prefix: str, add: str = "", *,
                lower: bool = True) -> dict[str, int]:
    """libbpf-style name -> value from one enum: prefix stripped, lowercase, without UNSPEC,
    ``__MAX`` sentinels and ``_DEPRECATED`` aliases (``BPF_PROG_TYPE_SCHED_CLS`` ->
    ``sched_cls``; ``BPF_FUNC_unspec`` is skipped too)."""
    out: dict[str, int] = {}
    for full, value in values.items():
        if not full.startswith(prefix) or full.upper().endswith(("UNSPEC", "_DEPRECATED")):
            continue
        short = full[len(prefix):]
        if short.startswith(("_", "MAX")):
            continue
        out[add + (short.lower() if lower else short)] = value
    return out


def enum_ids(btf: Btf, group: str) -> dict[str, int]:
    """Name -> number of every item of one enum group (``prog_types``...) this kernel lists:
    what the probe puts into ``bpf()`` attributes."""
    enum, prefix, add = _ENUM_OF[group]
    return short_names(enum_values(btf, enum), prefix, add)


def bpf_commands(btf: Btf) -> dict[str, int]:
    """``enum bpf_cmd`` without the ``BPF_`` prefix, upper case (``TOKEN_CREATE``)."""
    return short_names(enum_values(btf, "bpf_cmd"), "BPF_", lower=False)


def kfunc_ids(btf: Btf) -> dict[str, int]:
    """Kernel functions callable from BPF, name -> FUNC type id, sorted: FUNCs carrying the
    ``bpf_kfunc`` decl tag on the whole declaration (component_idx -1), as pahole emits them."""
    out: dict[str, int] = {}
    for tid in btf.find("bpf_kfunc", BtfKind.DECL_TAG):
        tag = btf.type(tid)
        if tag.component_idx != -1 or tag.type is None:
            continue
        if btf.kind_of(tag.type) is BtfKind.FUNC:
            out[btf.name_of(tag.type)] = tag.type
    return dict(sorted(out.items()))


def has_string(btf: Btf, text: str) -> bool:
    """Whether ``text`` is a whole string of the BTF (or its base): a name the kernel's types
    or enumerators use, such as ``BPF_F_MMAPABLE``."""
    return btf.has_string(text)


def kind_names(btf: Btf) -> tuple[str, ...]:
    """Names of the BTF kinds this blob uses, sorted (``INT``, ``STRUCT``...)."""
    return tuple(sorted(k.name for k in btf.kinds()))


# -- facts -----------------------------------------------------------------------------------


def compiled_out(kconfig: Mapping[str, str] | None, option: str | None) -> bool:
    """True when a known config lacks ``option`` (``n`` or absent); False without a config."""
    if kconfig is None or option is None:
        return False
    return kconfig.get(option, "n") not in ("y", "m")


def _enum_group(btf: Btf, kconfig: Mapping[str, str] | None, group: str,
                why: str | None) -> dict[str, Feature]:
    enum = _ENUM_OF[group][0]
    present = enum_ids(btf, group)
    if not present:
        return {}
    what, options = _WHAT[group], _KCONFIG_OF.get(group, {})
    items: dict[str, Feature] = {}
    for name in present:
        option = options.get(name)
        if compiled_out(kconfig, option):
            items[name] = Feature(U, f"{option} is not set (the kernel knows the {what} but it "
                                     "is compiled out)", "kconfig")
        else:
            items[name] = Feature(S, _because(f"from BTF: {name} is in this kernel's enum", why),
                                  "btf")
    for name in uapi_names(group):
        if name not in items:
            items[name] = Feature(U, f"from BTF: {name} is not in this kernel's enum {enum}",
                                  "btf")
    return items


def uapi_names(group: str) -> tuple[str, ...]:
    """Every item of an enum group the packaged UAPI table knows (what an old kernel may lack,
    and what the probe lists when this kernel has no BTF); empty for other groups."""
    if group == "prog_types":
        return tuple(n for i, n in uapi.prog_types().items() if i)
    if group == "map_types":
        return tuple(n for i, n in uapi.map_types().items() if i)
    if group == "helpers":
        return tuple(uapi.helper_ids())
    if group == "attach":
        return tuple(uapi.attach_types().values())
    if group == "link_types":
        return tuple(n for i, n in uapi.link_types().items() if i)
    return ()


def kfuncs(btf: Btf) -> dict[str, Feature]:
    """Every ``bpf_kfunc``-tagged function as supported (empty on kernels without the tag)."""
    reason = ("from BTF: tagged bpf_kfunc in vmlinux BTF; which program types may call it is "
              "decided per kfunc set")
    return {name: Feature(S, reason, "btf") for name in kfunc_ids(btf)}


def map_flags(btf: Btf, why: str | None = None) -> dict[str, Feature]:
    """Map flags the kernel defines (``BPF_F_*`` enumerators), keyed like the profile
    (``mmapable``); flags it does not define are left out (the enum is not append-only)."""
    out: dict[str, Feature] = {}
    for flag in uapi.map_flags():
        if has_string(btf, flag):
            key = flag.removeprefix("BPF_F_").lower()
            out[key] = Feature(S, _because(f"from BTF: {flag} is defined", why), "btf")
    return out


def btf_kinds(kinds: Iterable[str]) -> dict[str, Feature]:
    """``btf`` plus each probe kind the kernel's own BTF uses (so it parses it); kinds it does
    not use are left out: not using a kind does not mean rejecting it."""
    used = set(kinds)
    out = {"btf": Feature(S, "from BTF: vmlinux BTF is present", "btf")}
    for key, kind in BTF_KIND_OF_KEY.items():
        if kind.name in used:
            out[key] = Feature(S, f"from BTF: vmlinux BTF itself uses {kind.name}", "btf")
    return out


def group_features(btf: Btf, kconfig: Mapping[str, str] | None, group: str,
                   why: str | None = None) -> dict[str, Feature]:
    """One group of :func:`btf_features`; empty for groups BTF cannot answer."""
    if group in _ENUM_OF:
        return _enum_group(btf, kconfig, group, why)
    if group == "kfuncs":
        return kfuncs(btf)
    if group == "map_flags":
        return map_flags(btf, why)
    if group == "btf_kinds":
        return btf_kinds(kind_names(btf))
    return {}


def btf_features(btf: Btf, kconfig: Mapping[str, str] | None,
                 why: str | None = None) -> dict[str, dict[str, Feature]]:
    """What the kernel's BTF says exists, per profile group; ``kconfig`` (the whole config, or
    None) marks types whose code is compiled out; ``why`` is appended to BTF-sourced reasons."""
    out: dict[str, dict[str, Feature]] = {}
    for group in BTF_GROUPS:
        items = group_features(btf, kconfig, group, why)
        if items:
            out[group] = items
    return out


def kconfig_attach_features(enabled: Callable[[str], bool | None]) -> dict[str, Feature]:
    """kprobe, kprobe.multi and uprobe attach support from the kernel config, for the live
    probe and offline profiles alike. ``enabled(option)`` is None when no config is known."""

    def opt(option: str, what: str) -> Feature:
        on = enabled(option)
        if on is None:
            return Feature(FeatureState.UNKNOWN, f"kernel config not found; {what} needs "
                                                 f"{option}", "kconfig")
        return Feature(S, None, "kconfig") if on else Feature(
            U, f"{option} is not set: {what}", "kconfig")

    kp = opt("CONFIG_KPROBES", "kprobe/kretprobe programs load but cannot attach")
    if kp.state is S:
        kp = opt("CONFIG_KPROBE_EVENTS", "kprobes attach through perf kprobe events")
    return {
        "kprobe": kp,
        "kprobe_multi": opt("CONFIG_FPROBE", "kprobe.multi links need fprobe"),
        "uprobe": opt("CONFIG_UPROBE_EVENTS", "uprobes attach through uprobe events"),
    }
