"""Object -> the CONTRACT.md ``object`` block, its requirements, and object-level findings.

The inventory is what a BPF object contains and what it asks of a kernel and a loader,
independent of any target. Requirements name things the way the knowledge base and the
profile do (``helper``/``bpf_map_lookup_elem``, ``map_type``/``ringbuf``, ``btf_kind``/
``DECL_TAG``...); ``min_kernel`` comes from the knowledge base when it is installed.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from bpfdoctor.elf.insns import BPF_PSEUDO_FUNC, InsnKind
from bpfdoctor.elf.maps import BPF_F_MMAPABLE, MapSpec
from bpfdoctor.elf.object import BpfObject, Program
from bpfdoctor.elf.relocations import RelocKind
from bpfdoctor.knowledge.kb import KINDS as KB_KINDS
from bpfdoctor.knowledge.kb import KnowledgeBase
from bpfdoctor.model import Category, Finding, Location, Severity

# Object-level finding codes (stable; target checks use KC*, rule files VF/LD/...).
SECTION_UNKNOWN = "OB001"
LEGACY_MAPS = "OB002"
STATIC_PROGRAM = "OB003"
INVALID_INSN = "OB004"
BAD_RELOCATION = "OB005"
BAD_MAP_DEF = "OB006"
NO_LICENSE = "OB007"
GPL_ONLY = "OB008"


@dataclass(frozen=True, slots=True)
class Requirement:
    """Something the object needs from the kernel or loader; ``min_kernel`` when known."""

    kind: str
    name: str
    min_kernel: str | None = None
    why: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "name": self.name, "min_kernel": self.min_kernel}
        if self.why:
            out["why"] = self.why
        return out


def _with_kernel(kind: str, name: str, why: str | None = None) -> Requirement:
    """A requirement dated by the knowledge base (kfuncs, ksyms, kconfig have no date)."""
    version = KnowledgeBase.load().min_kernel(kind, name) if kind in KB_KINDS else None
    return Requirement(kind, name, version, why)


# -- requirements ---------------------------------------------------------------------------


def requirements(obj: BpfObject) -> tuple[Requirement, ...]:
    """Everything the object needs, deduplicated, in a stable order."""
    seen: dict[tuple[str, str], Requirement] = {}

    def add(kind: str, name: str, why: str | None = None) -> None:
        if (kind, name) not in seen:
            seen[(kind, name)] = _with_kernel(kind, name, why)

    add("isa", obj.isa.name, obj.isa.reason)
    for prog in obj.entry_programs:
        if prog.info.known:
            add("prog_type", prog.info.prog_type)
            if prog.info.attach_type:
                add("attach_type", prog.info.attach_type)
            if prog.info.sleepable:
                add("feature", "sleepable", f"{prog.name} is sleepable ({prog.section})")
            if prog.info.xdp_frags:
                add("feature", "xdp_frags", f"{prog.name} ({prog.section})")
    helper_ids: set[int] = set()
    for prog in obj.entry_programs:
        use = obj.program_use(prog)
        helper_ids.update(use.helper_ids)
    from bpfdoctor.knowledge import uapi

    for hid in sorted(helper_ids):
        add("helper", uapi.helper_name(hid) or f"helper#{hid}")
    for m in obj.maps:
        add("map_type", m.type)
        for flag in m.flag_names:
            add("map_flag", flag, m.name)
        if m.inner is not None:
            add("map_type", m.inner.type)
    if any(m.origin == "data" for m in obj.maps):
        add("feature", "global_data", "global or static variables (.data/.rodata/.bss)")
    if any(m.flags & BPF_F_MMAPABLE for m in obj.maps):
        add("map_flag", "BPF_F_MMAPABLE")
    for ext in obj.externs:
        if ext.kind == "kfunc":
            add("kfunc", ext.name)
        elif ext.kind == "ksym":
            add("ksym", ext.name)
        else:
            add("kconfig", ext.name)
    # clang emits kfunc calls as pseudo calls (src_reg 1) against an undefined symbol; libbpf
    # turns them into src_reg 2. Only calls that are not kfunc relocations are bpf-to-bpf.
    kfunc_sites = {(r.section, r.insn) for r in obj.relocations if r.kind is RelocKind.KFUNC}
    if any(
        ins.kind is InsnKind.CALL_SUBPROG and (p.section, ins.idx) not in kfunc_sites
        for p in obj.programs
        for ins in p.insns
    ):
        add("feature", "bpf_to_bpf_calls")
    for prog in obj.programs:
        for ins in prog.insns:
            if ins.kind is InsnKind.LD_IMM64 and ins.src == BPF_PSEUDO_FUNC:
                add("feature", "callbacks", f"{prog.name} passes a function pointer")
            elif ins.kind is InsnKind.MAY_GOTO:
                add("feature", "may_goto", prog.name)
            elif ins.mnemonic == "addr_space_cast":
                add("feature", "arena", prog.name)
    # in an object file a callback is a ld_imm64 relocated against code (libbpf then sets
    # src_reg BPF_PSEUDO_FUNC); bpf_loop, bpf_for_each_map_elem, timers... take them
    for r in obj.relocations:
        if r.kind is RelocKind.SUBPROG_ADDR:
            owner = _owner(obj, r.section, r.insn)
            callee = r.target
            if r.target_section is not None and r.target_insn is not None:
                callee = _owner(obj, r.target_section, r.target_insn) or callee
            add("feature", "callbacks", f"{owner} passes {callee} as a callback")
    if any(r.kind is RelocKind.KFUNC for r in obj.relocations):
        add("feature", "kfunc_calls")
    btf = obj.btf
    if btf is not None:
        for kind in btf.kind_counts():
            if kind.name != "UNKN":
                add("btf_kind", kind.name)
    if core_relocation_count(obj):
        add("feature", "core_relocations", "CO-RE relocations are resolved against kernel BTF")
        add("feature", "btf_vmlinux", "CO-RE relocations need the target kernel's BTF")
    if any(p.info.attach_btf for p in obj.entry_programs):
        add("feature", "btf_vmlinux", "attach target resolved through kernel BTF")
    for prog in obj.entry_programs:
        feature = _SECTION_FEATURES.get(prog.info.attach_type or prog.info.prog_type)
        if feature is not None:
            add("feature", feature, f"{prog.name} ({prog.section})")
    if any(m.inner is not None for m in obj.maps):
        add("feature", "map_in_map")
    if "bpf_tail_call" in {uapi.helper_name(h) for h in helper_ids}:
        add("feature", "tail_calls")
        if obj.subprograms:
            add("feature", "tail_calls_with_bpf2bpf", "tail calls from code with subprograms")
    return tuple(seen.values())


# attach type (or program type) -> knowledge-base feature it implies
_SECTION_FEATURES = {
    "trace_kprobe_multi": "kprobe_multi",
    "trace_kprobe_session": "kprobe_session",
    "trace_uprobe_multi": "uprobe_multi",
    "tcx_ingress": "tcx",
    "tcx_egress": "tcx",
    "netkit_primary": "netkit",
    "netkit_peer": "netkit",
    "trace_fentry": "fentry_fexit",
    "trace_fexit": "fentry_fexit",
    "modify_return": "fmod_ret",
    "lsm_mac": "lsm",
    "trace_iter": "bpf_iter",
    "struct_ops": "struct_ops",
    "sk_lookup": "sk_lookup",
}


# -- CO-RE ----------------------------------------------------------------------------------


def core_relocations(obj: BpfObject) -> list[dict[str, Any]]:
    """Every CO-RE relocation in readable form (``byte_off struct task_struct.pid ...``)."""
    ext = obj.btf_ext
    btf = obj.btf
    if ext is None or btf is None:
        return []
    from bpfdoctor.btf.core import describe

    out: list[dict[str, Any]] = []
    for section, records in ext.core_relos.items():
        for rec in records:
            line = ext.line_for(section, rec.insn_off)
            out.append(
                {
                    "section": section,
                    "program": _owner(obj, section, rec.insn_off),
                    "insn": rec.insn_off,
                    "kind": rec.kind.label,
                    "spec": describe(rec, btf),
                    "source": None if line is None else f"{line.file}:{line.line}",
                }
            )
    return out


def core_relocation_count(obj: BpfObject) -> int:
    ext = obj.btf_ext
    return 0 if ext is None else ext.core_relo_count


# -- findings -------------------------------------------------------------------------------


def findings(obj: BpfObject) -> tuple[Finding, ...]:
    """Problems visible in the object alone, before any target is considered."""
    out: list[Finding] = []
    loc = functools.partial(_location, obj)
    for prog in obj.entry_programs:
        if not prog.info.known:
            hint = prog.info.suggestion
            fixes = [
                "Use a section name libbpf knows, e.g. SEC(\"xdp\"), SEC(\"tc\"), "
                "SEC(\"kprobe/<func>\"), SEC(\"tracepoint/<cat>/<name>\")"
            ]
            if hint:
                fixes.insert(0, f"Rename the section to the libbpf 1.0 form SEC(\"{hint}\")")
            out.append(
                Finding(
                    rule=SECTION_UNKNOWN,
                    category=Category.SECTION_UNKNOWN,
                    severity=Severity.ERROR,
                    program=prog.name,
                    title="libbpf cannot tell the program type from the section name",
                    message=(
                        f"program '{prog.name}' is in section '{prog.section}', which libbpf "
                        "does not recognise: it fails with 'missing BPF prog type, check ELF "
                        "section name'"
                    ),
                    fixes=tuple(fixes),
                    evidence=(("section", prog.section),),
                    location=loc(prog.section, prog.start),
                )
            )
        if prog.static:
            out.append(
                Finding(
                    rule=STATIC_PROGRAM,
                    category=Category.LOADER_UNSUPPORTED,
                    severity=Severity.ERROR,
                    program=prog.name,
                    title="entry program declared static",
                    message=(
                        f"program '{prog.name}' in section '{prog.section}' is static; libbpf "
                        ">= 1.0 refuses it ('program is static and not supported')"
                    ),
                    fixes=("Remove 'static' from the program function (keep it global)",),
                    evidence=(("section", prog.section),),
                    location=loc(prog.section, prog.start),
                )
            )
    legacy = [m for m in obj.maps if m.origin == "legacy"]
    if legacy:
        iproute2 = any(dict(m.extra).get("pinning") is not None for m in legacy)
        names = ", ".join(m.name for m in legacy)
        out.append(
            Finding(
                rule=LEGACY_MAPS,
                category=Category.LOADER_UNSUPPORTED,
                severity=Severity.WARNING,
                title="legacy 'maps' section",
                message=(
                    f"maps {names} are defined in the legacy 'maps' section "
                    f"({legacy[0].record_size}-byte records"
                    + (", iproute2 struct bpf_elf_map" if iproute2 else "")
                    + "); libbpf >= 1.0 rejects it ('legacy map definitions in 'maps' section "
                    "are not supported by libbpf v1.0+')"
                ),
                fixes=(
                    "Declare maps with BTF in SEC(\".maps\"): struct { __uint(type, ...); "
                    "__type(key, ...); __type(value, ...); __uint(max_entries, ...); } name "
                    "SEC(\".maps\");",
                    "Or keep loading this object with a loader that still reads 'maps' "
                    "(iproute2 built without libbpf, libbpf < 1.0)",
                ),
                evidence=(("maps", names), ("record_size", legacy[0].record_size)),
                location=loc("maps"),
            )
        )
    for m in obj.maps:
        for problem in m.problems:
            out.append(
                Finding(
                    rule=BAD_MAP_DEF,
                    category=Category.MAP_UNSUPPORTED,
                    severity=Severity.ERROR,
                    title="map definition a loader rejects",
                    message=f"map '{m.name}': {problem}",
                    fixes=("Fix the map definition in the BPF source",),
                    evidence=(("map", m.name),),
                    location=loc(m.section),
                )
            )
    for section, ins in obj.invalid_insns:
        out.append(
            Finding(
                rule=INVALID_INSN,
                category=Category.ISA_UNSUPPORTED,
                severity=Severity.ERROR,
                program=_owner(obj, section, ins.idx),
                title="instruction no kernel accepts",
                message=f"section '{section}' insn {ins.idx}: {ins.problem} (opcode {ins.code:#04x})",
                fixes=("Rebuild the object with a supported clang and -mcpu; check for corruption",),
                evidence=(("opcode", f"{ins.code:#04x}"), ("insn", ins.idx)),
                location=loc(section, ins.idx),
            )
        )
    for r in obj.relocations:
        if r.problem is None:
            continue
        out.append(
            Finding(
                rule=BAD_RELOCATION,
                category=Category.LOADER_UNSUPPORTED,
                severity=Severity.ERROR,
                program=_owner(obj, r.section, r.insn) if r.insn is not None else None,
                title="relocation a loader cannot apply",
                message=f"section '{r.section}' offset {r.offset} ({r.symbol or r.target}): {r.problem}",
                fixes=("Check how the object was built and linked (bpftool gen object, clang -c)",),
                evidence=(("relocation", r.rel_type), ("symbol", r.symbol)),
                location=loc(r.section, r.insn),
            )
        )
    out.extend(_gpl_findings(obj))
    if obj.license is None and obj.entry_programs:
        out.append(
            Finding(
                rule=NO_LICENSE,
                category=Category.GPL_ONLY,
                severity=Severity.INFO,
                title="no license section",
                message=(
                    "the object has no 'license' section: the kernel treats it as non-GPL, so "
                    "GPL-only helpers and kfuncs will be refused"
                ),
                fixes=('Add: char LICENSE[] SEC("license") = "GPL";',),
            )
        )
    return tuple(out)


# include/linux/license.h license_is_gpl_compatible()
GPL_COMPATIBLE = frozenset(
    {"GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL", "Dual MIT/GPL", "Dual MPL/GPL"}
)


def _gpl_only_helpers() -> frozenset[str]:
    return KnowledgeBase.load().gpl_only_helpers()


def _gpl_findings(obj: BpfObject) -> list[Finding]:
    """Non-GPL-compatible license + GPL-only helpers: the kernel refuses the program."""
    if obj.license in GPL_COMPATIBLE:
        return []
    gpl_only = _gpl_only_helpers()
    out: list[Finding] = []
    for prog in obj.entry_programs:
        used = [h for h in obj.program_use(prog).helpers if h in gpl_only]
        if not used:
            continue
        lic = "no license" if obj.license is None else f"license {obj.license!r}"
        site = next(
            (
                (f.section, ins.idx)
                for f in obj.reachable(prog)
                for ins in f.insns
                if ins.kind is InsnKind.CALL_HELPER and ins.helper_name in gpl_only
            ),
            (prog.section, prog.start),
        )
        out.append(
            Finding(
                rule=GPL_ONLY,
                category=Category.GPL_ONLY,
                severity=Severity.ERROR,
                program=prog.name,
                title="GPL-only helpers from a non-GPL program",
                message=(
                    f"program '{prog.name}' calls GPL-only helper(s) {', '.join(used)} but the "
                    f"object has {lic}; the verifier answers 'cannot call GPL-restricted function "
                    "from non-GPL compatible program'"
                ),
                fixes=(
                    'Use a GPL-compatible license: char LICENSE[] SEC("license") = "Dual BSD/GPL";',
                    f"Or stop calling {', '.join(used)}",
                ),
                evidence=(("license", obj.license), ("helpers", used)),
                location=_location(obj, *site),
            )
        )
    return out


def _owner(obj: BpfObject, section: str, insn: int | None) -> str | None:
    if insn is None:
        return None
    prog = obj.program_at(section, insn)
    return None if prog is None else prog.name


def _location(obj: BpfObject, section: str | None, insn: int | None = None) -> Location:
    """Object/section/insn, plus the C line from ``.BTF.ext`` line_info when there is one."""
    line = obj.line_for(section, insn) if section is not None and insn is not None else None
    if line is None:
        return Location(obj.name, section=section, insn=insn)
    return Location(
        obj.name, section=section, insn=insn, source_file=line.file, source_line=line.line,
        source_column=line.column, source_text=line.text.strip() or None,
    )


# -- the object block -----------------------------------------------------------------------


def _program_json(obj: BpfObject, prog: Program) -> dict[str, Any]:
    use = obj.program_use(prog)
    info = prog.info
    return {
        "name": prog.name,
        "section": prog.section,
        "type": info.prog_type,
        "attach_type": info.attach_type,
        "attach_target": info.attach_target,
        "insns": prog.insn_count,
        "helpers": list(use.helpers),
        "kfuncs": list(use.kfuncs),
        "maps": list(use.maps),
        "sleepable": info.sleepable,
        "static": prog.static,
        "section_known": info.known,
        "autoload": info.autoload,
        "subprograms": list(use.subprogs),
        "total_insns": use.total_insns,
        "externs": list(use.externs),
    }


def map_json(m: MapSpec) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": m.name,
        "type": m.type,
        "key_size": m.key_size,
        "value_size": m.value_size,
        "max_entries": m.max_entries,
        "flags": m.flag_names,
        "pinning": m.pinning,
        "origin": m.origin,
        "section": m.section,
    }
    if m.key_type:
        out["key_type"] = m.key_type
    if m.value_type:
        out["value_type"] = m.value_type
    if m.numa_node is not None:
        out["numa_node"] = m.numa_node
    if m.map_extra is not None:
        out["map_extra"] = m.map_extra
    if m.inner is not None:
        out["inner"] = map_json(m.inner)
    if m.members:
        out["members"] = dict(m.members)
    elif m.values:
        out["values"] = {str(slot): name for slot, name in m.values}
    if m.frozen:
        out["frozen"] = True
    if m.record_size is not None:
        out["record_size"] = m.record_size
    return out


def object_json(obj: BpfObject) -> dict[str, Any]:
    """The CONTRACT.md ``object`` block, with extra fields after the contract's ones."""
    btf = obj.btf
    kinds: list[str] = []
    kind_counts: dict[str, int] = {}
    if btf is not None:
        for kind, count in btf.kind_counts().items():
            kinds.append(kind.name)
            kind_counts[kind.name] = count
    core = core_relocations(obj)
    isa = obj.isa
    return {
        "path": obj.name,
        "sha256": obj.sha256,
        "license": obj.license,
        "isa": isa.name,
        "programs": [_program_json(obj, p) for p in obj.entry_programs],
        "maps": [map_json(m) for m in obj.maps],
        "btf": {
            "present": btf is not None,
            "kinds": kinds,
            "kind_counts": kind_counts,
            "types": len(btf) if btf is not None else 0,
            "ext": obj.btf_ext is not None,
        },
        "core_relocations": len(core),
        "requirements": [r.to_json() for r in requirements(obj)],
        "isa_reason": isa.reason,
        "isa_insn": (
            {"section": isa.section, "insn": isa.insn.idx} if isa.insn is not None else None
        ),
        "subprograms": [
            {"name": p.name, "section": p.section, "insns": p.insn_count, "static": p.static}
            for p in obj.subprograms
        ],
        "externs": [
            {"name": e.name, "kind": e.kind, "weak": e.weak, "type": e.type} for e in obj.externs
        ],
        "core": core,
        "endianness": obj.endianness,
        "kversion": obj.kversion,
        "has_dwarf": obj.has_dwarf,
    }
