"""The reader against every committed fixture: manifest expectations, llvm-objdump, bpftool."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from collections import Counter
from pathlib import Path

import pytest

from bpfdoctor.elf import BpfObject
from bpfdoctor.elf.insns import InsnKind

ELF = Path(__file__).resolve().parent.parent / "fixtures" / "elf"
MANIFEST = ELF / "manifest.toml"
OBJECTS = sorted(ELF.glob("*.o")) + sorted(ELF.glob("fail/*.o"))


def _manifest() -> list[dict]:
    if not MANIFEST.exists():
        return []
    return list(tomllib.loads(MANIFEST.read_text())["object"])


ENTRIES = _manifest()
# newest first: llvm-objdump >= 17 knows the v4 instructions
OBJDUMP = next(
    (p for p in (shutil.which(n) for n in ("llvm-objdump-19", "llvm-objdump-18", "llvm-objdump")) if p),
    None,
)


def _id(p: Path) -> str:
    return str(p.relative_to(ELF))


def test_fixtures_exist():
    assert len(OBJECTS) >= 9


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["name"] for e in ENTRIES])
def test_manifest_expectations(entry):
    obj = BpfObject.open(ELF / entry["object"])
    assert obj.license == entry["license"]
    progs = {p.name: p for p in obj.entry_programs}
    assert set(progs) == {p["name"] for p in entry["program"]}
    for expected in entry["program"]:
        prog = progs[expected["name"]]
        assert prog.section == expected["section"]
        assert prog.info.prog_type == expected["type"]
        assert (prog.info.attach_type or "") == expected["attach_type"]
    user_maps = [m.name for m in obj.maps if m.origin == "btf"]
    legacy = [m.name for m in obj.maps if m.origin == "legacy"]
    data = [m.name for m in obj.maps if m.origin == "data"]
    assert sorted(user_maps) == sorted(entry["maps"])
    assert sorted(legacy) == sorted(entry["legacy_maps"])
    assert sorted(data) == sorted(entry["data_sections"])
    assert sorted(p.name for p in obj.subprograms) == sorted(entry["subprograms"])
    if "mcpu" in entry:
        # the level we report never exceeds what the object was compiled for
        assert obj.isa.level <= int(entry["mcpu"].lstrip("v"))


def _objdump(path: Path) -> dict[str, list[tuple[int, bytes]]]:
    """Section -> [(slot index, raw bytes of the first 8-byte word)] from llvm-objdump -d."""
    assert OBJDUMP is not None
    out = subprocess.run(
        [OBJDUMP, "-d", str(path)],
        capture_output=True, text=True, check=True,
    ).stdout
    sections: dict[str, list[tuple[int, bytes]]] = {}
    current = None
    line_re = re.compile(r"^\s*(\d+):\s+((?:[0-9a-f]{2} ){7}[0-9a-f]{2})")
    for line in out.splitlines():
        if line.startswith("Disassembly of section "):
            current = line[len("Disassembly of section "):].rstrip(":")
            sections[current] = []
            continue
        m = line_re.match(line)
        if m and current is not None:
            sections[current].append((int(m.group(1)), bytes.fromhex(m.group(2).replace(" ", ""))))
    return sections


@pytest.mark.skipif(OBJDUMP is None, reason="llvm-objdump not installed")
@pytest.mark.parametrize("path", OBJECTS, ids=_id)
def test_against_llvm_objdump(path):
    obj = BpfObject.open(path)
    dump = _objdump(path)
    ours = {s.name: obj.decoded[s.index] for s in obj.code_sections}
    assert set(dump) == set(ours)
    for name, insns in ours.items():
        theirs = dump[name]
        assert [i.idx for i in insns] == [idx for idx, _ in theirs], name
        helpers_theirs = Counter(
            int.from_bytes(raw[4:8], "big" if obj.image.big_endian else "little", signed=True)
            for _, raw in theirs
            if raw[0] == 0x85 and (raw[1] & (0x0F if obj.image.big_endian else 0xF0)) == 0
        )
        helpers_ours = Counter(i.imm for i in insns if i.kind is InsnKind.CALL_HELPER)
        assert helpers_ours == helpers_theirs, name


@pytest.mark.bpftool
@pytest.mark.parametrize("path", OBJECTS, ids=_id)
def test_btf_type_counts_against_bpftool(path):
    obj = BpfObject.open(path)
    if obj.btf is None:
        pytest.skip("object has no BTF")
    out = subprocess.run(
        ["bpftool", "btf", "dump", "file", str(path)], capture_output=True, text=True, check=True
    ).stdout
    kinds = Counter(m.group(1) for m in re.finditer(r"^\[\d+\] (\w+) ", out, re.M))
    ours = {k.name: v for k, v in obj.btf.kind_counts().items()}
    assert ours == dict(kinds)


@pytest.mark.parametrize("path", OBJECTS, ids=_id)
def test_every_fixture_reads_completely(path):
    """Every cached property evaluates without error on every fixture."""
    obj = BpfObject.open(path)
    assert obj.programs
    assert obj.maps is not None
    assert obj.relocations is not None
    assert all(r.problem is None for r in obj.relocations)
    assert obj.invalid_insns == ()
    assert obj.isa.level in (1, 2, 3, 4)
    for prog in obj.entry_programs:
        use = obj.program_use(prog)
        assert use.total_insns >= prog.insn_count


def test_subprogram_calls_and_callees():
    obj = BpfObject.open(ELF / "subprogs.bpf.o")
    progs = {p.name: p for p in obj.programs}
    use = obj.program_use(progs["tc_count"])
    # tc -> count_skb (global, in .text) -> classify_len, bump -> mix
    assert set(use.subprogs) == {"count_skb", "classify_len", "bump", "mix"}
    assert use.helpers == ("bpf_map_lookup_elem",)
    assert use.maps == ("proto_count",)
    assert progs["bump"].static and not progs["count_skb"].static
    assert obj.program_use(progs["mix"]).subprogs == ()


def test_btf_maps_inner_and_values():
    obj = BpfObject.open(ELF / "maps_btf.bpf.o")
    maps = {m.name: m for m in obj.maps}
    outer = maps["outer_array"]
    assert outer.type == "array_of_maps"
    assert outer.inner is not None and outer.inner.type == "array"
    assert outer.values == ((0, "inner_a"), (2, "inner_b"))
    assert maps["jump_table"].values == ((1, "tail_target"),)
    assert maps["shared_config"].pinning == "by_name"
    assert maps["on_node0"].numa_node == 0
    assert maps["flows"].key_type == "struct flow_key"
    assert maps["seen"].map_extra == 3
    assert maps["events"].key_size is None and maps["events"].max_entries == 262144


def test_legacy_and_iproute2_maps():
    legacy = {m.name: m for m in BpfObject.open(ELF / "legacy_maps.bpf.o").maps}
    assert legacy["pkt_count"].record_size == 20
    assert (legacy["pkt_count"].type, legacy["pkt_count"].max_entries) == ("array", 256)
    ipr = {m.name: m for m in BpfObject.open(ELF / "iproute2_maps.bpf.o").maps}
    assert ipr["tc_stats"].record_size == 28
    assert ipr["tc_stats"].pinning == "global_ns"
    assert ipr["tc_marks"].pinning == "object_ns"


def test_global_data_flags_follow_libbpf():
    maps = {m.name: m for m in BpfObject.open(ELF / "globals.bpf.o").maps}
    assert "BPF_F_RDONLY_PROG" in maps[".rodata"].flag_names and maps[".rodata"].frozen
    assert "BPF_F_MMAPABLE" in maps[".data"].flag_names
    assert "BPF_F_RDONLY_PROG" not in maps[".bss"].flag_names
    # .rodata.str1.1 has no non-static variable: libbpf does not mmap it
    assert "BPF_F_MMAPABLE" not in maps[".rodata.str1.1"].flag_names
    assert maps[".kconfig"].origin == "kconfig"


def test_externs_are_classified():
    obj = BpfObject.open(ELF / "globals.bpf.o")
    kinds = {e.name: (e.kind, e.weak) for e in obj.externs}
    assert kinds["LINUX_KERNEL_VERSION"] == ("kconfig", False)
    assert kinds["CONFIG_HZ"] == ("kconfig", True)
    assert kinds["bpfdoctor_untyped_symbol"] == ("ksym", True)
    ksyms = {e.name: e for e in BpfObject.open(ELF / "ksyms.bpf.o").externs}
    assert ksyms["runqueues"].kind == "ksym" and ksyms["runqueues"].type == "struct rq"


def test_attach_targets_from_section_names():
    progs = {p.name: p for p in BpfObject.open(ELF / "tracing.bpf.o").entry_programs}
    assert progs["unlink_entry"].info.attach_target == "do_unlinkat"
    assert progs["tcp_any"].info.attach_type == "trace_kprobe_multi"
    assert progs["malloc_entry"].info.attach_target == "libc.so.6:malloc"
    assert progs["generic_uprobe"].info.attach_target is None
    assert progs["tp_openat"].info.attach_target == "syscalls/sys_enter_openat"


def test_core_relocations_are_described():
    from bpfdoctor.inventory import core_relocations

    core = core_relocations(BpfObject.open(ELF / "core_relos.bpf.o"))
    assert len(core) > 10
    specs = " | ".join(c["spec"] for c in core)
    assert "byte_off struct task_struct" in specs
    assert {c["kind"] for c in core} >= {"byte_off", "field_exists", "type_size", "enumval_exists"}


def test_arena_map_extra_is_an_enum64_ulong():
    path = ELF / "arena.bpf.o"
    if not path.exists():
        pytest.skip("arena fixture not built")
    maps = {m.name: m for m in BpfObject.open(path).maps}
    assert maps["arena"].type == "arena"
    # __ulong(map_extra, 1ull << 44) is encoded as a one-value ENUM64 (libbpf get_map_field_long)
    assert maps["arena"].map_extra == 1 << 44
    assert maps["arena"].problems == ()


def test_kfunc_calls_are_not_bpf_to_bpf_calls():
    """clang emits kfunc calls as src_reg=1 pseudo calls; the relocation says they are kfuncs."""
    from bpfdoctor.inventory import requirements

    obj = BpfObject.open(ELF / "kfuncs.bpf.o")
    kfuncs = {k for p in obj.entry_programs for k in obj.program_use(p).kfuncs}
    assert {"bpf_task_acquire", "bpf_task_release"} <= kfuncs
    reqs = {(r.kind, r.name) for r in requirements(obj)}
    assert ("feature", "kfunc_calls") in reqs
    assert ("feature", "bpf_to_bpf_calls") not in reqs
    assert ("kfunc", "bpf_task_acquire") in reqs
    sub = {(r.kind, r.name) for r in requirements(BpfObject.open(ELF / "subprogs.bpf.o"))}
    assert ("feature", "bpf_to_bpf_calls") in sub


def test_kconfig_map_is_laid_out_like_libbpf():
    # bpftool gen skeleton (libbpf 1.1) lays it out as int, int, bool, bool = 10 bytes
    maps = {m.name: m for m in BpfObject.open(ELF / "globals.bpf.o").maps}
    assert maps[".kconfig"].value_size == 10
    assert maps[".kconfig"].frozen


@pytest.mark.bpftool
def test_kconfig_layout_against_bpftool_skeleton(tmp_path):
    out = subprocess.run(
        ["bpftool", "gen", "skeleton", str(ELF / "globals.bpf.o"), "name", "g"],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    ).stdout
    block = out.split("struct g__kconfig {", 1)[1].split("}", 1)[0]
    sizes = {"int": 4, "bool": 1, "char": 1, "long": 8}
    total = 0
    for line in block.strip().splitlines():
        ctype = line.split()[0]
        size = sizes[ctype]
        total = (total + size - 1) // size * size + size
    maps = {m.name: m for m in BpfObject.open(ELF / "globals.bpf.o").maps}
    assert maps[".kconfig"].value_size == total


BE_PAIRS = [
    (p, ELF / p.name.removeprefix("be_"))
    for p in sorted(ELF.glob("be_*.o"))
    if (ELF / p.name.removeprefix("be_")).exists()
]


@pytest.mark.parametrize(("be", "le"), BE_PAIRS, ids=[p[0].name for p in BE_PAIRS])
def test_big_endian_build_reads_like_little_endian(be, le):
    """The same source built for bpfeb and bpfel: same programs, maps, helpers, BTF kinds."""
    from bpfdoctor.inventory import object_json

    b, l_ = BpfObject.open(be), BpfObject.open(le)
    assert (b.endianness, l_.endianness) == ("big", "little")
    jb, jl = object_json(b), object_json(l_)

    def programs(doc):  # code generation differs (byte order), so insn counts may too
        return [
            {k: (sorted(v) if isinstance(v, list) else v) for k, v in p.items()
             if k not in ("insns", "total_insns")}
            for p in doc["programs"]
        ]

    assert programs(jb) == programs(jl)
    for key in ("license", "maps", "externs"):
        assert jb[key] == jl[key], key
    assert jb["btf"]["kind_counts"] == jl["btf"]["kind_counts"]
    # bitfield access may take one more relocation on big-endian; the fields are the same
    assert {r["spec"] for r in jb["core"]} == {r["spec"] for r in jl["core"]}


def _ident(name: str) -> str:
    """bpftool gen skeleton's identifier for a map or program name (get_map_ident)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name.lstrip("."))


@pytest.mark.bpftool
@pytest.mark.parametrize("path", OBJECTS, ids=_id)
def test_maps_and_programs_match_libbpf_skeleton(path, tmp_path):
    """libbpf (through bpftool gen skeleton) opens the object and names its maps and programs."""
    proc = subprocess.run(
        ["bpftool", "gen", "skeleton", str(path), "name", "s"],
        capture_output=True, text=True, cwd=tmp_path,
    )
    if proc.returncode != 0:
        pytest.skip(f"libbpf 1.1 cannot open it: {proc.stderr.strip().splitlines()[-1:]}")
    block = proc.stdout.split("struct s {", 1)[1].split("\n};", 1)[0]
    maps = set(re.findall(r"struct bpf_map \*(\w+);", block))
    progs = set(re.findall(r"struct bpf_program \*(\w+);", block))
    obj = BpfObject.open(path)
    assert {p.name for p in obj.entry_programs} == progs
    assert {_ident(m.name) for m in obj.maps} == maps


_V4_TEXT = re.compile(r" s/= | s%= |= \(s(8|16|32)\)|bswap(16|32|64)|\bgotol\b|load_acquire|store_release")
_JMP32_TEXT = re.compile(r"\bif w\d+ ")


def _objdump_major() -> int:
    if OBJDUMP is None:
        return 0
    out = subprocess.run([OBJDUMP, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"LLVM version (\d+)", out)
    return int(m.group(1)) if m else 0


@pytest.mark.skipif(_objdump_major() < 17, reason="needs llvm-objdump >= 17 (ISA v4 syntax)")
@pytest.mark.parametrize("path", OBJECTS, ids=_id)
def test_isa_levels_agree_with_llvm_syntax(path):
    """Independent of our opcode tables: LLVM's own v4 and JMP32 syntax marks the same insns."""
    out = subprocess.run([OBJDUMP, "-d", str(path)], capture_output=True, text=True,
                         check=True).stdout
    obj = BpfObject.open(path)
    ours = {s.name: {i.idx: i for i in obj.decoded[s.index]} for s in obj.code_sections}
    section = None
    for line in out.splitlines():
        if line.startswith("Disassembly of section "):
            section = line[len("Disassembly of section "):].rstrip(":")
            continue
        m = re.match(r"^\s*(\d+):\s+(?:[0-9a-f]{2} ){8}\s*(.*)$", line)
        if not m or section is None:
            continue
        insn = ours[section][int(m.group(1))]
        text = m.group(2)
        assert (insn.isa == 4) == bool(_V4_TEXT.search(text)), (section, line)
        if _JMP32_TEXT.search(text):
            assert insn.isa == 3 and insn.kind.value == "jump32", (section, line)
