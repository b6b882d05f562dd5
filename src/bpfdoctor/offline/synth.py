"""Kernel profiles synthesized without running the kernel: from its BTF, its config, and the
knowledge base's version table.

Three sources, strongest first (a profile or BTF always wins over version arithmetic, because
distributions backport):

- **BTF** and the kconfig gating of program/map types: :func:`bpfdoctor.kfacts.btf_features`,
  the same reading the live probe and ``btf:`` targets use.
- **kconfig**: kprobes, fprobe and uprobes need their options (:func:`tracing_features`).
- **version** (``source: version``): every other item, supported or unsupported by the
  upstream version that introduced it, with ``min_kernel``.

Pure: takes parsed BTF, a kconfig mapping and a version string.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime

from packaging.version import Version

from bpfdoctor.btf import Btf
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
from bpfdoctor.kfacts import btf_features, kconfig_attach_features, kind_names
from bpfdoctor.knowledge.kb import KnowledgeBase, parse_kernel_version
from bpfdoctor.model import FeatureState

S, U = FeatureState.SUPPORTED, FeatureState.UNSUPPORTED

# The probe's btf_kinds keys (libbpf probe_kern_btf_*) -> (knowledge kind, name).
BTF_KIND_KEYS: dict[str, tuple[str, str]] = {
    "btf": ("feature", "btf"), "struct": ("btf_kind", "STRUCT"), "func": ("btf_kind", "FUNC"),
    "func_global": ("feature", "btf_func_global"), "datasec": ("btf_kind", "DATASEC"),
    "float": ("btf_kind", "FLOAT"), "decl_tag": ("btf_kind", "DECL_TAG"),
    "type_tag": ("btf_kind", "TYPE_TAG"), "enum64": ("btf_kind", "ENUM64"),
}
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


def tracing_features(kconfig: Mapping[str, str], prog_types: Mapping[str, Feature]
                     ) -> dict[str, Feature]:
    """Attach-side facts from the config (the same keys the live probe writes)."""
    out = kconfig_attach_features(lambda option: kconfig.get(option, "n") in ("y", "m"))
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
    """Later layers win item by item (BTF over version); an answer without a date keeps the
    ``min_kernel`` an earlier layer knew (the version table dates what BTF only confirms)."""
    out: dict[str, dict[str, Feature]] = {}
    for layer in layers:
        for group, items in layer.items():
            dest = out.setdefault(group, {})
            for name, feature in items.items():
                before = dest.get(name)
                if before is not None and feature.min_kernel is None and before.min_kernel:
                    feature = replace(feature, min_kernel=before.min_kernel)
                dest[name] = feature
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
                     vmlinux_kinds=kind_names(btf) if btf else (), modules=modules),
        filesystems=FsFacts(),
        features=features,
        probe=ProbeMeta(tool_version=tool_version, groups=tuple(features), live=False),
    )
