"""Pure parts of check --load: stats parsing, BTF fixup, relocation layout, glue, --compare."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from bpfdoctor.btf.decoder import Btf
from bpfdoctor.elf.object import BpfObject
from bpfdoctor.errors import InputError
from bpfdoctor.loadcheck import compare_table, log_tail, program_load, read_previous
from bpfdoctor.model import Category
from bpfdoctor.probe.loader.load import ProgramAttempt
from bpfdoctor.probe.loader.relocate import Externals, Relocator, RelocError
from bpfdoctor.probe.loader.sanitize import fixup_btf
from bpfdoctor.probe.loader.stats import parse_stats

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "elf"


def test_stats_from_closing_lines() -> None:
    log = ("0: (b7) r0 = 0\nverification time 31 usec\nstack depth 8+16\n"
           "processed 12 insns (limit 1000000) max_states_per_insn 1 total_states 3 "
           "peak_states 2 mark_read 1\n")
    s = parse_stats(log)
    assert (s.insns_processed, s.total_states, s.peak_states) == (12, 3, 2)
    assert s.stack_depth == "8+16" and s.verification_time_usec == 31


def test_stats_absent() -> None:
    s = parse_stats("libbpf: something else\n")
    assert s.insns_processed is None and s.stack_depth is None


def test_fixup_fills_datasec_sizes_offsets_and_externs() -> None:
    obj = BpfObject.open(FIX / "globals.bpf.o")
    assert obj.btf is not None
    fixed = Btf.from_bytes(fixup_btf(obj.btf, obj.image).data)
    for tid in fixed.ids():
        t = fixed.type(tid)
        if t.kind.name != "DATASEC":
            continue
        assert t.size, f"DATASEC {t.name} still has size 0"
        offs = [i.offset for i in t.secinfos]
        assert offs == sorted(offs)
        if t.name == ".rodata":
            assert len(set(offs)) == len(offs)
    for tid in fixed.ids():
        t = fixed.type(tid)
        if t.kind.name == "VAR":
            assert int(t.linkage or 0) != 2, f"extern VAR {t.name} left for the kernel to refuse"


def test_fixup_turns_extern_kfuncs_into_global_funcs() -> None:
    obj = BpfObject.open(FIX / "kfuncs.bpf.o")
    assert obj.btf is not None
    fixed = Btf.from_bytes(fixup_btf(obj.btf, obj.image).data)
    funcs = [fixed.type(t) for t in fixed.ids() if fixed.type(t).kind.name == "FUNC"]
    assert funcs and all(int(f.linkage or 0) != 2 for f in funcs)
    ksyms = [fixed.type(t) for t in fixed.ids()
             if fixed.type(t).kind.name == "DATASEC" and fixed.type(t).name == ".ksyms"]
    assert all(fixed.type(i.type).kind.name == "VAR" for i in ksyms[0].secinfos)


def _ext(fds: dict[str, int]) -> Externals:
    return Externals(map_fds=fds, kconfig_offsets={}, vmlinux=lambda: None,
                     kallsyms=lambda name: None)


def test_subprograms_appended_and_calls_rewritten() -> None:
    obj = BpfObject.open(FIX / "subprogs.bpf.o")
    fds = {m.name: 100 + i for i, m in enumerate(obj.maps)}
    rel = Relocator(obj, _ext(fds), with_btf=True)
    prog = obj.entry_programs[0]
    prepared = rel.prepare(prog)
    assert prepared.subprogs, "subprogs fixture calls .text functions"
    n = len(prepared.insns) // 8
    assert n == sum(f.insn_count for f in obj.reachable(prog))
    # every pseudo call lands on the first instruction of an appended function
    starts = {0}
    fi = prepared.func_info
    starts |= {struct.unpack_from("<I", fi, k)[0] for k in range(0, len(fi), 8)}
    for i in range(n):
        code, regs, _off, imm = struct.unpack_from("<BBhi", prepared.insns, i * 8)
        if code == 0x85 and regs >> 4 == 1:
            assert i + imm + 1 in starts
    assert len(fi) // 8 == 1 + len(prepared.subprogs)
    li = prepared.line_info
    offs = [struct.unpack_from("<I", li, k)[0] for k in range(0, len(li), 16)]
    assert offs[0] == 0 and offs == sorted(offs) and offs[-1] < n


def test_map_references_become_pseudo_map_fd() -> None:
    obj = BpfObject.open(FIX / "fail" / "null_check_missing.bpf.o")
    rel = Relocator(obj, _ext({"counts": 77}), with_btf=False)
    insns = rel.prepare(obj.entry_programs[0]).insns
    found = [struct.unpack_from("<BBhi", insns, i * 8) for i in range(len(insns) // 8)]
    assert any(c == 0x18 and r >> 4 == 1 and imm == 77 for c, r, _o, imm in found)


def test_missing_map_is_a_loader_refusal() -> None:
    obj = BpfObject.open(FIX / "fail" / "null_check_missing.bpf.o")
    with pytest.raises(RelocError) as info:
        Relocator(obj, _ext({}), with_btf=False).prepare(obj.entry_programs[0])
    assert info.value.category == "map-unsupported"


def test_strong_kfunc_without_kernel_btf_is_kfunc_category() -> None:
    obj = BpfObject.open(FIX / "kfuncs.bpf.o")
    fds = {m.name: 5 for m in obj.maps}
    with pytest.raises(RelocError) as info:
        Relocator(obj, _ext(fds), with_btf=False).prepare(obj.entry_programs[0])
    assert info.value.category == "kfunc"


def test_program_load_glue_uses_explain() -> None:
    log = (FIX.parent / "logs" / "kernel" / "null_check_missing.log").read_text()
    attempt = ProgramAttempt("count_without_null_check", "xdp", False, "EACCES", log)
    ld = program_load(attempt)
    assert ld.diagnoses[0].category is Category.NULL_CHECK_MISSING
    assert ld.verifier_log_tail == log_tail(log)


def test_empty_log_eperm_is_permission() -> None:
    ld = program_load(ProgramAttempt("p", "xdp", False, "EPERM", ""), "lockdown=integrity")
    assert ld.diagnoses[0].category is Category.PERMISSION
    assert "lockdown=integrity" in ld.diagnoses[0].message


def test_compare_reads_saved_results(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(InputError):
        read_previous(bad)
    nol = tmp_path / "noload.json"
    nol.write_text(json.dumps({"object": {"programs": [{"name": "p"}]}}))
    with pytest.raises(InputError):
        read_previous(nol)
    from bpfdoctor.model import CheckResult, ProgramLoad, TargetInfo

    good = tmp_path / "good.json"
    good.write_text(json.dumps({"object": {"programs": [
        {"name": "p", "load": {"insns_processed": 100, "total_states": 10, "peak_states": 5}}]}}))
    cur = CheckResult("x.o", {}, TargetInfo("live"), "pass",
                      loads=(ProgramLoad("p", True, insns_processed=150, total_states=10,
                                         peak_states=4),))
    table = compare_table(cur, read_previous(good))
    assert "+50 (+50.0%)" in table and "-1 (-20.0%)" in table


def test_kfunc_prototype_checked_like_libbpf() -> None:
    """A FWD-declared struct in a kfunc prototype is not compatible with the kernel's STRUCT
    (libbpf: "func_proto [N] incompatible with kernel [M]"); a defined struct is."""
    from bpfdoctor.btf import BtfBuilder

    kernel = BtfBuilder()
    st = kernel.add_struct("task_struct", 4, [])
    proto = kernel.add_func_proto(kernel.add_ptr(st), [("p", kernel.add_ptr(st))])
    kernel.add_func("bpf_task_acquire", proto)
    vmlinux = Btf.from_bytes(kernel.encode())
    obj = BpfObject.open(FIX / "loadfail" / "task_acquire_leak.bpf.o")
    ext = Externals(map_fds={}, kconfig_offsets={}, vmlinux=lambda: vmlinux,
                    kallsyms=lambda name: None)
    insns = Relocator(obj, ext, with_btf=False).prepare(obj.entry_programs[0]).insns
    calls = [struct.unpack_from("<BBhi", insns, i * 8) for i in range(len(insns) // 8)]
    kid = vmlinux.find("bpf_task_acquire")[0]
    assert any(c == 0x85 and r >> 4 == 2 and imm == kid for c, r, _o, imm in calls)


def test_kfunc_prototype_mismatch_is_kfunc_error() -> None:
    from bpfdoctor.btf import BtfBuilder

    kernel = BtfBuilder()
    i = kernel.add_int("int", 4, signed=True)
    kernel.add_func("bpf_task_acquire", kernel.add_func_proto(i, [("p", i)]))
    vmlinux = Btf.from_bytes(kernel.encode())
    obj = BpfObject.open(FIX / "loadfail" / "task_acquire_leak.bpf.o")
    ext = Externals(map_fds={}, kconfig_offsets={}, vmlinux=lambda: vmlinux,
                    kallsyms=lambda name: None)
    with pytest.raises(RelocError, match="incompatible with kernel") as info:
        Relocator(obj, ext, with_btf=False).prepare(obj.entry_programs[0])
    assert info.value.category == "kfunc"


def test_sanitize_for_old_kernel_rewrites_missing_kinds() -> None:
    """What the loader sends a kernel without DATASEC/FUNC/decl tags: same type count, none of
    the missing kinds left (libbpf bpf_object__sanitize_btf)."""
    from bpfdoctor.probe.loader.sanitize import sanitize_for_kernel

    obj = BpfObject.open(FIX / "globals.bpf.o")
    assert obj.btf is not None
    fixed = fixup_btf(obj.btf, obj.image).data
    blob, changes = sanitize_for_kernel(fixed, frozenset({"datasec", "func", "decl_tag"}))
    assert changes
    out = Btf.from_bytes(blob)
    kinds = {out.kind_of(t).name for t in out.ids()}
    assert not kinds & {"DATASEC", "VAR", "FUNC", "FUNC_PROTO", "DECL_TAG"}
    assert out.type_count == Btf.from_bytes(fixed).type_count
    assert sanitize_for_kernel(fixed, frozenset()) == (fixed, ())
