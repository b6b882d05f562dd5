"""Loader differences: what libbpf (by version), iproute2 with and without libbpf,
cilium/ebpf, aya and bcc accept from the same object."""

from __future__ import annotations

from collections.abc import Iterator

from bpfdoctor.checks.context import CheckContext
from bpfdoctor.model import Finding, Severity
from bpfdoctor.targets import LoaderSpec

LIBBPF_PINNING = frozenset({None, "by_name"})
LITTLE_ENDIAN_ARCHES = frozenset({"x86_64", "aarch64", "riscv64", "loongarch64", "ppc64le",
                                  "armv7l", "i686", "mips64el"})
BIG_ENDIAN_ARCHES = frozenset({"s390x", "ppc64", "sparc64", "mips64"})

# libbpf release that first understood a section prefix or map type (libbpf CHANGELOG and the
# history of section_defs[] in src/libbpf.c).
LIBBPF_SECTION_MIN = (
    ("tcx/", (1, 3)), ("netkit/", (1, 3)), ("uprobe.multi", (1, 3)), ("uretprobe.multi", (1, 3)),
    ("struct_ops.s", (1, 3)), ("kprobe.session", (1, 5)), ("uprobe.session", (1, 6)),
    ("netfilter", (1, 2)),
)
LIBBPF_MAP_TYPE_MIN = {"arena": (1, 4)}


def endianness(ctx: CheckContext) -> Iterator[Finding]:
    arch = ctx.target.profile.host.arch
    obj_big = ctx.obj.endianness == "big"
    if (arch in LITTLE_ENDIAN_ARCHES and obj_big) or (arch in BIG_ENDIAN_ARCHES and not obj_big):
        yield ctx.finding(
            "KC038",
            f"{ctx.obj.name} is a {ctx.obj.endianness}-endian object and {ctx.kernel_label()} "
            f"runs on {arch}: libbpf refuses it ('endianness mismatch')",
            fixes=("Rebuild with clang -target bpf (host byte order) or -target bpfel/bpfeb "
                   "matching the target machine",),
            source="object",
            evidence={"object": ctx.obj.endianness, "arch": arch},
        )


def _enum64_map_attrs(ctx: CheckContext) -> list[str]:
    """Maps whose definition uses __ulong() (an ENUM64 member): libbpf < 1.3 says
    "attr 'map_extra': expected PTR, got enum64"."""
    btf = ctx.obj.btf
    if btf is None:
        return []
    out = []
    for tid in btf.find(".maps"):
        sec = btf.type(tid)
        for info in sec.secinfos:
            var = btf.type(info.type)
            if var.type is None:
                continue
            st = btf.type(btf.resolve(var.type))
            for m in st.members:
                if btf.type(btf.resolve(m.type)).kind.name == "ENUM64":
                    out.append(f"{var.name}.{m.name}")
    return out


def libbpf_version(loader: LoaderSpec) -> tuple[int, ...] | None:
    """The libbpf release behind a loader spec: bpftool v7.N ships with libbpf v1.N."""
    vt = loader.version_tuple
    if vt is None:
        return None
    if loader.name == "libbpf":
        return vt
    if loader.name == "bpftool" and vt[0] >= 7:
        return (vt[0] - 6, *vt[1:])
    return None


def loader_version(ctx: CheckContext) -> Iterator[Finding]:
    loader = ctx.target.loader
    vt = libbpf_version(loader)
    if vt is None:
        return
    if vt < (1, 3):
        attrs = _enum64_map_attrs(ctx)
        if attrs:
            yield ctx.finding(
                "KC039",
                f"map attributes {', '.join(attrs)} are __ulong() (ENUM64); {loader} fails to "
                "open the object: \"attr '...': expected PTR, got enum64\"",
                fixes=("Use libbpf 1.3+ (bpftool 7.3+)",
                       "Or declare the attribute with __uint() when the value fits 32 bits"),
                source="loader", evidence={"attributes": attrs, "needs": "libbpf 1.3"},
            )
    for m in ctx.obj.maps:
        need = LIBBPF_MAP_TYPE_MIN.get(m.type)
        if need and vt < need:
            yield ctx.finding(
                "KC039",
                f"map '{m.name}' is a {m.type} map, which {loader} does not know "
                f"(libbpf {need[0]}.{need[1]}+)",
                fixes=(f"Use libbpf {need[0]}.{need[1]}+",), source="loader",
                evidence={"map": m.name, "needs": f"libbpf {need[0]}.{need[1]}"},
            )
    for prog in ctx.obj.entry_programs:
        for prefix, need in LIBBPF_SECTION_MIN:
            if prog.section.lstrip("?").startswith(prefix) and vt < need:
                yield ctx.finding(
                    "KC042",
                    f"SEC(\"{prog.section}\") is unknown to {loader} (libbpf {need[0]}.{need[1]}+"
                    "): 'failed to guess program type from ELF section'",
                    program=prog, fixes=(f"Use libbpf {need[0]}.{need[1]}+",), source="loader",
                    evidence={"section": prog.section, "needs": f"libbpf {need[0]}.{need[1]}"},
                )
                break


def loader_support(ctx: CheckContext) -> Iterator[Finding]:
    loader = ctx.target.loader
    maps = ctx.obj.maps
    legacy = [m for m in maps if m.origin == "legacy"]
    btf_maps = [m for m in maps if m.origin == "btf"]
    if loader.name == "bcc":
        yield ctx.finding(
            "KC032",
            "bcc compiles BPF C at run time and does not load precompiled objects like "
            f"{ctx.obj.name}",
            fixes=("Load the object with libbpf (skeleton), bpftool, iproute2 or cilium/ebpf",),
            source="loader",
        )
        return
    if legacy and loader.name in ("libbpf", "bpftool", "aya", "cilium-ebpf"):
        vt = libbpf_version(loader)
        if loader.name in ("libbpf", "bpftool") and vt is not None and vt < (1, 0):
            yield ctx.finding(
                "KC037",
                f"legacy map definitions ({', '.join(m.name for m in legacy)}) in SEC(\"maps\") "
                f"still load with {loader}, but libbpf 1.0+ refuses them",
                fixes=("Convert to BTF-defined maps: struct { __uint(type, ...); ... } name "
                       'SEC(".maps");',),
                source="loader",
                evidence={"maps": [m.name for m in legacy]},
            )
        elif loader.name in ("libbpf", "bpftool"):
            yield ctx.finding(
                "KC029",
                f"{loader} refuses legacy map definitions in SEC(\"maps\") "
                f"({', '.join(m.name for m in legacy)}): 'legacy map definitions in 'maps' "
                "section are not supported by libbpf v1.0+'",
                fixes=("Convert to BTF-defined maps: struct { __uint(type, ...); __type(key, "
                       '...); ... } name SEC(".maps");',
                       "Or load with iproute2 (tc/ip), which still reads struct bpf_elf_map"),
                source="loader",
                evidence={"maps": [m.name for m in legacy]},
            )
    if btf_maps and loader.name == "iproute2-legacy":
        yield ctx.finding(
            "KC030",
            f"iproute2 without libbpf does not create BTF-defined maps "
            f"({', '.join(m.name for m in btf_maps)}); their references stay 0 and the verifier "
            "rejects the first helper call with 'R1 type=scalar expected=map_ptr'",
            fixes=("Use iproute2 built with libbpf (ip -V shows 'libbpf'), or load and pin with "
                   "bpftool, then attach with tc/ip using the pinned program",
                   "Or define the maps as struct bpf_elf_map in SEC(\"maps\") for this loader"),
            source="loader",
            evidence={"maps": [m.name for m in btf_maps]},
        )
    if loader.name in ("libbpf", "bpftool", "cilium-ebpf", "aya"):
        for m in maps:
            if m.pinning not in LIBBPF_PINNING:
                yield ctx.finding(
                    "KC031",
                    f"map '{m.name}' asks for pinning '{m.pinning}', which {loader} does not "
                    "support (only none and by-name)",
                    fixes=("Use LIBBPF_PIN_BY_NAME and set the pin root path in the loader",),
                    source="loader",
                    evidence={"map": m.name, "pinning": m.pinning},
                )


def freplace(ctx: CheckContext) -> Iterator[Finding]:
    standalone = ctx.target.loader.name == "bpftool"
    for prog in ctx.obj.entry_programs:
        if prog.info.prog_type != "ext":
            continue
        yield ctx.finding(
            "KC041",
            f"'{prog.name}' (SEC(\"{prog.section}\")) replaces {prog.info.attach_target or 'a function'}"
            " of another BPF program: it loads only with that program's fd as attach target"
            + ("; bpftool prog loadall cannot provide it ('attach program FD is not set')"
               if standalone else ""),
            program=prog, source="object",
            severity=Severity.ERROR if standalone else Severity.WARNING,
            fixes=("Load it from a loader that first loads the target program and calls "
                   "bpf_program__set_attach_target(prog, target_fd, \"func\")",),
            evidence={"target": prog.info.attach_target},
        )
