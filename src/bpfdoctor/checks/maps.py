"""Map checks: map types and flags on the target, global data, and maps already pinned in
bpffs on a live target compared field by field with the object's definitions."""

from __future__ import annotations

from collections.abc import Iterator

from bpfdoctor.checks.context import CheckContext
from bpfdoctor.elf.maps import MapSpec
from bpfdoctor.knowledge import uapi
from bpfdoctor.model import Finding

# Flags a loader adds on its own (libbpf for global data); they are checked like user flags.
_MMAPABLE = uapi.map_flags().get("BPF_F_MMAPABLE", 1 << 10)


def _all_maps(maps: tuple[MapSpec, ...]) -> Iterator[MapSpec]:
    for m in maps:
        yield m
        if m.inner is not None:
            yield from _all_maps((m.inner,))


def map_types_and_flags(ctx: CheckContext) -> Iterator[Finding]:
    seen_types: set[str] = set()
    seen_flags: set[str] = set()
    libbpf_family = ctx.target.loader.name in ("libbpf", "bpftool", "iproute2")
    for m in _all_maps(ctx.obj.maps):
        if m.origin in ("kconfig",):
            continue
        if m.type not in seen_types:
            seen_types.add(m.type)
            fact = ctx.fact("map_types", m.type, "map_type")
            if fact.missing:
                need = fact.min_kernel or ctx.min_kernel("map_type", m.type)
                yield ctx.finding(
                    "KC009",
                    f"map '{m.name}' is a {m.type} map"
                    + (f" (Linux {need}+)" if need else "")
                    + f", which {ctx.kernel_label()} cannot create: {fact.reason}",
                    source=fact.source,
                    fixes=_map_type_fixes(m.type),
                    evidence={"map": m.name, "type": m.type, "min_kernel": need},
                )
        for flag in m.flag_names:
            if flag in seen_flags:
                continue
            if m.origin == "data" and flag == "BPF_F_MMAPABLE" and libbpf_family:
                continue  # libbpf drops it when FEAT_ARRAY_MMAP is missing (sanitize_maps)
            seen_flags.add(flag)
            fact = ctx.fact("map_flags", flag.removeprefix("BPF_F_").lower(), "map_flag")
            if fact.missing:
                yield ctx.finding(
                    "KC010",
                    f"map '{m.name}' uses {flag}, which {ctx.kernel_label()} does not support: "
                    f"{fact.reason}",
                    source=fact.source,
                    fixes=(f"Drop {flag} from the map definition for this target",),
                    evidence={"map": m.name, "flag": flag, "min_kernel": fact.min_kernel},
                )


MMAPABLE_TYPES = frozenset({"array", "arena"})
NO_PREALLOC_TYPES = frozenset({"hash", "percpu_hash", "lru_hash", "lru_percpu_hash",
                               "hash_of_maps", "lpm_trie", "sk_storage", "inode_storage",
                               "task_storage", "cgrp_storage", "bloom_filter", "queue", "stack",
                               "arena"})


def flag_validity(ctx: CheckContext) -> Iterator[Finding]:
    """Flags the kernel rejects for a map type on every kernel (EINVAL at map creation)."""
    for m in _all_maps(ctx.obj.maps):
        bad = []
        if m.flags & _MMAPABLE and m.type not in MMAPABLE_TYPES:
            bad.append("BPF_F_MMAPABLE")
        no_prealloc = uapi.map_flags().get("BPF_F_NO_PREALLOC", 1)
        if m.flags & no_prealloc and m.type not in NO_PREALLOC_TYPES:
            bad.append("BPF_F_NO_PREALLOC")
        for flag in bad:
            yield ctx.finding(
                "KC040",
                f"map '{m.name}' ({m.type}) sets {flag}, which {m.type} maps do not accept: "
                "BPF_MAP_CREATE fails with EINVAL",
                fixes=(f"Drop {flag} from '{m.name}'",), source="object",
                evidence={"map": m.name, "type": m.type, "flag": flag},
            )


def _map_type_fixes(mtype: str) -> tuple[str, ...]:
    if mtype == "ringbuf":
        return ("On kernels before 5.8 use a BPF_MAP_TYPE_PERF_EVENT_ARRAY and "
                "bpf_perf_event_output instead of the ring buffer",)
    return (f"Run on a kernel with {mtype} maps", "Or use another map type for this target")


def global_data(ctx: CheckContext) -> Iterator[Finding]:
    data = ctx.obj.global_data
    if not data:
        return
    fact = ctx.fact("program_features", "global_data", "feature")
    if fact.missing:
        names = ", ".join(m.name for m in data)
        yield ctx.finding(
            "KC014",
            f"the object has global data ({names}); {ctx.kernel_label()} has no global data "
            f"support: {fact.reason}",
            source=fact.source,
            fixes=("Move global variables into an explicit array map and look them up",
                   "Or require Linux 5.2+ (5.5+ for mmap-able .bss/.data with skeletons)"),
            evidence={"sections": [m.name for m in data], "min_kernel": fact.min_kernel},
        )


def pinned_maps(ctx: CheckContext) -> Iterator[Finding]:
    """Compare maps the object pins with what is already pinned (live targets only)."""
    pinned = ctx.target.pinned_maps
    if pinned is None:
        return
    by_name = {p.name: p for p in pinned}
    by_base = {p.path.rsplit("/", 1)[-1]: p for p in pinned}
    for m in ctx.obj.maps:
        if m.pinning is None:
            continue
        existing = by_base.get(m.name) or by_name.get(m.name)
        if existing is None:
            continue
        want_flags = m.flags
        diffs: list[str] = []
        if existing.type != m.type:
            diffs.append(f"type {existing.type} (pinned) vs {m.type} (object)")
        for field, have, want in (
            ("key_size", existing.key_size, m.key_size),
            ("value_size", existing.value_size, m.value_size),
            ("max_entries", existing.max_entries, m.max_entries),
        ):
            if want is not None and have != want:
                diffs.append(f"{field} {have} (pinned) vs {want} (object)")
        if existing.flags != want_flags:
            only_pinned = uapi.flag_names(existing.flags & ~want_flags)
            only_obj = uapi.flag_names(want_flags & ~existing.flags)
            diffs.append(
                f"map_flags {existing.flags:#x} (pinned) vs {want_flags:#x} (object)"
                + (f"; only pinned: {', '.join(only_pinned)}" if only_pinned else "")
                + (f"; only object: {', '.join(only_obj)}" if only_obj else "")
            )
        if not diffs:
            continue
        yield ctx.finding(
            "KC027",
            f"map '{m.name}' is pinned at {existing.path} with a different definition: "
            + "; ".join(diffs),
            source="live",
            fixes=(f"Remove the stale pin (rm {existing.path}) if its contents can be lost, then "
                   "load again",
                   "Or make every program that shares the pinned map use one definition"),
            evidence={"map": m.name, "pin": existing.path, "differences": diffs},
        )
    # libbpf pins nothing for global data, but cilium/ebpf users pin .bss by hand: a pinned
    # .bss without BPF_F_MMAPABLE no longer matches what cilium/ebpf >= 0.17.1 creates.
    if ctx.target.loader.name == "cilium-ebpf":
        for m in ctx.obj.global_data:
            existing = by_base.get(m.name.lstrip(".")) or by_name.get(m.name)
            if existing is None or existing.flags & _MMAPABLE:
                continue
            yield ctx.finding(
                "KC027",
                f"global data map '{m.name}' pinned at {existing.path} lacks BPF_F_MMAPABLE, "
                "which cilium/ebpf >= 0.17.1 sets on .bss/.data: 'map spec is incompatible with "
                "existing map' (Flags: 1024 changed to 0)",
                source="live",
                fixes=(f"Remove {existing.path} and let the loader recreate it",
                       "Or pin with the same cilium/ebpf version that created the map"),
                evidence={"map": m.name, "pin": existing.path, "flags": existing.flags},
            )
