"""Build the instruction stream the kernel sees for one entry program.

Mirrors libbpf ``bpf_object__relocate()``: the entry function's instructions, then every
subprogram it reaches appended once, in the order they are first met (``bpf_object__reloc_code``);
call and callback offsets rewritten for that layout; map and global data references turned into
``BPF_PSEUDO_MAP_FD`` / ``BPF_PSEUDO_MAP_VALUE``; CO-RE relocations resolved against the running
kernel's BTF with :mod:`bpfdoctor.btf.relocate` and patched like ``bpf_core_patch_insn()``; kfunc
and ksym externs resolved to vmlinux BTF ids (``BPF_PSEUDO_KFUNC_CALL``, ``BPF_PSEUDO_BTF_ID``)
or kallsyms addresses; func_info and line_info rewritten for the appended layout.

The only host facts used arrive as arguments (map fds, vmlinux BTF, a kallsyms lookup), so the
relocation itself is a pure function and can be tested without a kernel.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from bpfdoctor.btf.decoder import Btf
from bpfdoctor.btf.relocate import POISON_IMM, calc_relo, types_are_compat
from bpfdoctor.elf.image import Symbol
from bpfdoctor.elf.insns import INSN_SIZE, InsnKind
from bpfdoctor.elf.object import BpfObject, Program
from bpfdoctor.elf.relocations import KCONFIG_SEC, Relocation, RelocKind
from bpfdoctor.errors import BtfError

BPF_PSEUDO_MAP_FD = 1
BPF_PSEUDO_MAP_VALUE = 2
BPF_PSEUDO_BTF_ID = 3
BPF_PSEUDO_FUNC = 4
BPF_PSEUDO_CALL = 1
BPF_PSEUDO_KFUNC_CALL = 2
BPF_CALL_CODE = 0x85
POISON_CALL_KFUNC_BASE = 2002000000  # libbpf poison_kfunc_call()
_CLS_LD, _CLS_LDX, _CLS_ST, _CLS_STX, _CLS_ALU, _CLS_ALU64 = 0, 1, 2, 3, 4, 7


class RelocError(Exception):
    """Why one program cannot be prepared; ``category`` is a CONTRACT.md category value."""

    def __init__(self, message: str, category: str, errno: str | None = None) -> None:
        super().__init__(message)
        self.category = category
        self.errno = errno


@dataclass(frozen=True, slots=True)
class Externals:
    """What relocation needs from the host: map fds by map name, the ``.kconfig`` layout,
    vmlinux BTF (loaded on first use) and a kallsyms lookup."""

    map_fds: dict[str, int]
    kconfig_offsets: dict[str, int]
    vmlinux: Callable[[], Btf | None]
    kallsyms: Callable[[str], int | None]


@dataclass(slots=True)
class Prepared:
    """One program ready for BPF_PROG_LOAD."""

    insns: bytes
    func_info: bytes = b""
    line_info: bytes = b""
    subprogs: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)
    core_relos: int = 0


def _imm(buf: bytearray, i: int) -> int:
    value: int = struct.unpack_from("<i", buf, i * 8 + 4)[0]
    return value


def _set_imm(buf: bytearray, i: int, value: int) -> None:
    struct.pack_into("<i", buf, i * 8 + 4, _s32(value))


def _s32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def _set_src(buf: bytearray, i: int, src: int) -> None:
    buf[i * 8 + 1] = (buf[i * 8 + 1] & 0x0F) | (src << 4)


def _set_off(buf: bytearray, i: int, off: int) -> None:
    struct.pack_into("<h", buf, i * 8 + 2, off)


def _poison(buf: bytearray, i: int, imm: int = POISON_IMM) -> None:
    """libbpf ``bpf_core_poison_insn()``: a call to an unknown helper the verifier names."""
    struct.pack_into("<BBhi", buf, i * 8, BPF_CALL_CODE, 0, 0, imm)


def _raw_line_info(obj: BpfObject) -> tuple[int, dict[str, list[bytes]]]:
    """Raw line_info records per section, keeping string offsets (the kernel needs them).

    ``obj.btf_ext`` is parsed first: it validates the header, every sub-section's bounds,
    record sizes and string offsets and raises the same one-line ``BtfError`` plain
    ``check`` reports, so a corrupt ``.BTF.ext`` never reaches the raw reads below. Those
    reads still check their own bounds, naming the offset, in case the two ever disagree.
    """
    sec = obj.image.section_by_name(".BTF.ext")
    btf = obj.btf
    if sec is None or btf is None or obj.btf_ext is None:
        return 0, {}
    raw = sec.data
    where = f"{obj.name}: .BTF.ext: line_info"

    def need(pos: int, size: int, what: str) -> None:
        if pos < 0 or pos + size > len(raw):
            raise BtfError(f"{where}: {what} at offset {pos} runs past the end of the "
                           f"section ({len(raw)} bytes)")

    need(4, 20, "header")
    hdr_len, _fi_off, _fi_len, li_off, li_len = struct.unpack_from("<IIIII", raw, 4)
    start = hdr_len + li_off
    if li_len < 4:
        return 0, {}
    need(start, li_len, "sub-section")
    rec_size: int = struct.unpack_from("<I", raw, start)[0]
    if rec_size < 16:
        raise BtfError(f"{where}: record size {rec_size} at offset {start} (minimum 16)")
    pos, end = start + 4, start + li_len
    out: dict[str, list[bytes]] = {}
    while pos + 8 <= end:
        name_off, num = struct.unpack_from("<II", raw, pos)
        if pos + 8 + num * rec_size > end:
            raise BtfError(f"{where}: {num} records of {rec_size} bytes at offset {pos} run "
                           "past the end of the sub-section")
        pos += 8
        name = btf.string(name_off)
        recs = [raw[pos + k * rec_size: pos + (k + 1) * rec_size] for k in range(num)]
        out.setdefault(name, []).extend(recs)
        pos += num * rec_size
    return rec_size, out


class Relocator:
    """Per-object relocation state shared by every program of the object."""

    def __init__(self, obj: BpfObject, ext: Externals, with_btf: bool) -> None:
        self.obj = obj
        self.ext = ext
        self.with_btf = with_btf and obj.btf is not None
        self.sec_index = {s.name: s.index for s in obj.image.sections}
        self.sec_name = {s.index: s.name for s in obj.image.sections}
        self.by_insn: dict[tuple[str, int], Relocation] = {
            (r.section, r.insn): r for r in obj.relocations if r.insn is not None
        }
        self.symbols: dict[tuple[str, int], Symbol] = {}
        for target_idx, entries in obj.image.rels:
            name = obj.image.sections[target_idx].name
            for e in entries:
                self.symbols[(name, e.offset)] = obj.image.symbols[e.symbol]
        self.funcs = sorted(obj.programs, key=lambda p: (p.section_index, p.start))
        self.weak = {e.name: e.weak for e in obj.externs}
        self.line_rec_size, self.lines = _raw_line_info(obj) if self.with_btf else (0, {})
        self._core_cache: dict[int, tuple[int, ...]] = {}

    def function_at(self, section_index: int, slot: int) -> Program | None:
        for p in self.funcs:
            if p.section_index == section_index and p.start <= slot < p.end:
                return p
        return None

    def prepare(self, prog: Program) -> Prepared:
        sec_data = {s.index: s.data for s in self.obj.code_sections}
        out = bytearray()
        placed: dict[tuple[int, int], int] = {}
        order: list[Program] = []

        def place(f: Program) -> int:
            if f.key not in placed:
                placed[f.key] = len(out) // INSN_SIZE
                out.extend(sec_data[f.section_index][f.start * 8: f.end * 8])
                order.append(f)
            return placed[f.key]

        place(prog)
        prepared = Prepared(b"")
        k = 0
        while k < len(order):
            f = order[k]
            base = placed[f.key]
            for ins in f.insns:
                self._relocate_insn(f, base, ins.idx, ins.kind, ins.src, ins.imm, out, place,
                                    prepared)
            prepared.core_relos += self._core(f, base, out)
            k += 1
        prepared.insns = bytes(out)
        prepared.subprogs = tuple(f.name for f in order[1:])
        if self.with_btf:
            prepared.func_info, prepared.line_info = self._ext_info(order, placed)
        return prepared

    def _target_func(self, f: Program, rel: Relocation | None, slot: int) -> Program:
        if rel is not None and rel.target_section is not None and rel.target_insn is not None:
            sidx = self.sec_index.get(rel.target_section, -1)
            tslot = rel.target_insn
        else:
            sidx, tslot = f.section_index, slot
        callee = self.function_at(sidx, tslot)
        if callee is None:
            raise RelocError(
                f"program '{f.name}': call at insn {slot} lands outside any function",
                "loader-unsupported", "EINVAL")
        if tslot != callee.start:
            raise RelocError(
                f"program '{f.name}': call into the middle of '{callee.name}'",
                "loader-unsupported", "EINVAL")
        return callee

    def _relocate_insn(self, f: Program, base: int, idx: int, kind: InsnKind, src: int,
                       imm: int, out: bytearray, place: Callable[[Program], int],
                       prepared: Prepared) -> None:
        at = base + idx - f.start
        rel = self.by_insn.get((f.section, idx))
        is_call = kind is InsnKind.CALL_SUBPROG
        is_func_addr = kind is InsnKind.LD_IMM64 and src == BPF_PSEUDO_FUNC
        if rel is not None and rel.problem:
            raise RelocError(f"program '{f.name}': {rel.problem}", "loader-unsupported", "EINVAL")
        if rel is None and (is_call or is_func_addr):
            callee = self._target_func(f, None, idx + imm + 1)
            _set_imm(out, at, place(callee) - at - 1)
            return
        if rel is None:
            return
        rk = rel.kind
        if rk in (RelocKind.SUBPROG_CALL, RelocKind.SUBPROG_ADDR):
            callee = self._target_func(f, rel, idx)
            _set_imm(out, at, place(callee) - at - 1)
            if rk is RelocKind.SUBPROG_ADDR:
                _set_src(out, at, BPF_PSEUDO_FUNC)
                _set_imm(out, at + 1, 0)
        elif rk is RelocKind.MAP:
            fd = self.ext.map_fds.get(rel.target)
            if fd is None:
                raise RelocError(f"program '{f.name}': map '{rel.target}' was not created",
                                 "map-unsupported")
            _set_src(out, at, BPF_PSEUDO_MAP_FD)
            _set_imm(out, at, fd)
        elif rk is RelocKind.GLOBAL_DATA:
            fd = self.ext.map_fds.get(rel.target)
            if fd is None:
                raise RelocError(f"program '{f.name}': global data map '{rel.target}' was not "
                                 "created", "map-unsupported")
            sym = self.symbols.get((f.section, rel.offset))
            off = _imm(out, at) + (sym.value if sym is not None and sym.type != "section" else 0)
            _set_src(out, at, BPF_PSEUDO_MAP_VALUE)
            _set_imm(out, at, fd)
            _set_imm(out, at + 1, off)
        elif rk is RelocKind.KCONFIG:
            fd = self.ext.map_fds.get(KCONFIG_SEC)
            if fd is None:
                raise RelocError(f"program '{f.name}': .kconfig map was not created",
                                 "loader-unsupported")
            _set_src(out, at, BPF_PSEUDO_MAP_VALUE)
            _set_imm(out, at, fd)
            _set_imm(out, at + 1, self.ext.kconfig_offsets.get(rel.target, 0))
        elif rk is RelocKind.KFUNC:
            self._kfunc(f, at, rel.target, out, prepared)
        elif rk is RelocKind.KSYM:
            self._ksym(f, at, rel.target, out, prepared)
        elif rk is RelocKind.UNSUPPORTED:
            raise RelocError(f"program '{f.name}': relocation against '{rel.target}' is not "
                             "supported", "loader-unsupported", "EINVAL")

    def _kfunc(self, f: Program, at: int, name: str, out: bytearray, prepared: Prepared) -> None:
        vmlinux = self.ext.vmlinux()
        tid = _find(vmlinux, name, "FUNC")
        if tid is not None and vmlinux is not None:
            self._check_kfunc_proto(name, tid, vmlinux)
            _set_src(out, at, BPF_PSEUDO_KFUNC_CALL)
            _set_off(out, at, 0)
            _set_imm(out, at, tid)
            return
        if self.weak.get(name):
            _poison(out, at, POISON_CALL_KFUNC_BASE)
            prepared.notes.append(f"weak kfunc '{name}' not in vmlinux BTF: call poisoned "
                                  "like libbpf")
            return
        raise RelocError(
            f"extern (func ksym) '{name}': not found in kernel BTF"
            + ("" if vmlinux is not None else " (no /sys/kernel/btf/vmlinux)")
            + "; module BTF is not searched by this loader", "kfunc", "ESRCH")

    def _check_kfunc_proto(self, name: str, kernel_id: int, vmlinux: Btf) -> None:
        """libbpf ``bpf_object__resolve_ksym_func_btf_id()``: the declared prototype must be
        compatible with the kernel's (``bpf_core_types_are_compat``)."""
        btf = self.obj.btf
        if btf is None:
            return
        local = _find(btf, name, "FUNC")
        if local is None:
            return
        lproto, kproto = btf.type(local).type, vmlinux.type(kernel_id).type
        if lproto is None or kproto is None:
            return
        try:
            ok = types_are_compat(btf, lproto, vmlinux, kproto)
        except BtfError:
            ok = True
        if not ok:
            raise RelocError(f"extern (func ksym) '{name}': func_proto [{lproto}] incompatible "
                             f"with kernel [{kproto}]", "kfunc", "EINVAL")

    def _ksym(self, f: Program, at: int, name: str, out: bytearray, prepared: Prepared) -> None:
        btf = self.obj.btf
        typed = False
        if btf is not None:
            for tid in btf.find(name):
                t = btf.type(tid)
                if t.kind.name == "VAR" and t.type is not None:
                    typed = btf.resolve(t.type) != 0
        if typed:
            vid = _find(self.ext.vmlinux(), name, "VAR")
            if vid is not None:
                _set_src(out, at, BPF_PSEUDO_BTF_ID)
                _set_imm(out, at, vid)
                _set_imm(out, at + 1, 0)
                return
        else:
            addr = self.ext.kallsyms(name)
            if addr is not None:
                _set_src(out, at, 0)
                _set_imm(out, at, addr & 0xFFFFFFFF)
                _set_imm(out, at + 1, addr >> 32)
                return
        if self.weak.get(name):
            _set_src(out, at, 0)
            _set_imm(out, at, 0)
            _set_imm(out, at + 1, 0)
            prepared.notes.append(f"weak ksym '{name}' not found: set to 0 like libbpf")
            return
        where = "kernel BTF" if typed else "/proc/kallsyms"
        raise RelocError(f"extern (var ksym) '{name}': not found in {where}", "kfunc", "ESRCH")

    def _core(self, f: Program, base: int, out: bytearray) -> int:
        ext = self.obj.btf_ext
        btf = self.obj.btf
        if ext is None or btf is None:
            return 0
        relos = [r for r in ext.core_relos.get(f.section, ()) if f.start <= r.insn_off < f.end]
        if not relos:
            return 0
        vmlinux = self.ext.vmlinux()
        if vmlinux is None:
            raise RelocError("CO-RE relocations need the kernel's BTF and "
                             "/sys/kernel/btf/vmlinux is missing", "vmlinux-btf-missing")
        for n, relo in enumerate(relos):
            res = calc_relo(relo, btf, vmlinux)
            at = base + relo.insn_off - f.start
            if res.error is not None:
                raise RelocError(f"program '{f.name}': relo #{n}: {res.error}", "core-relo",
                                 "ESRCH")
            if res.poisoned or res.mem_size_mismatch or res.new_value is None:
                if out[at * 8] == 0x18:  # ld_imm64: poison both halves like libbpf
                    _poison(out, at + 1)
                _poison(out, at)
                continue
            self._patch(f, at, res.new_value, res.orig_size, res.new_size, out)
        return len(relos)

    @staticmethod
    def _patch(f: Program, at: int, value: int, orig_size: int, new_size: int,
               out: bytearray) -> None:
        """libbpf ``bpf_core_patch_insn()``."""
        code = out[at * 8]
        cls = code & 0x07
        if cls in (_CLS_ALU, _CLS_ALU64):
            if code & 0x08:
                raise RelocError(f"program '{f.name}': CO-RE relocation on a register ALU "
                                 "instruction", "core-relo", "EINVAL")
            _set_imm(out, at, value)
        elif cls in (_CLS_LDX, _CLS_ST, _CLS_STX):
            if not -(1 << 15) <= value < (1 << 15):
                raise RelocError(f"program '{f.name}': CO-RE offset {value} does not fit in "
                                 "the instruction", "core-relo", "ERANGE")
            _set_off(out, at, value)
            if new_size and orig_size and new_size != orig_size:
                sizes = {1: 0x10, 2: 0x08, 4: 0x00, 8: 0x18}
                if new_size in sizes:
                    out[at * 8] = (code & ~0x18) | sizes[new_size]
        elif code == 0x18:
            _set_imm(out, at, value & 0xFFFFFFFF)
            _set_imm(out, at + 1, (value >> 32) & 0xFFFFFFFF)
        else:
            raise RelocError(f"program '{f.name}': CO-RE relocation on instruction "
                             f"{code:#04x}", "core-relo", "EINVAL")

    def _ext_info(self, order: list[Program], placed: dict[tuple[int, int], int]
                  ) -> tuple[bytes, bytes]:
        ext = self.obj.btf_ext
        if ext is None:
            return b"", b""
        fi = bytearray()
        li = bytearray()
        for f in order:
            base = placed[f.key]
            for rec in ext.func_info.get(f.section, ()):
                if rec.insn_off == f.start:
                    fi += struct.pack("<II", base, rec.type_id)
            for raw in self.lines.get(f.section, ()):
                insn_off = struct.unpack_from("<I", raw, 0)[0] // INSN_SIZE
                if f.start <= insn_off < f.end:
                    li += struct.pack("<I", base + insn_off - f.start) + raw[4:16]
        return bytes(fi), bytes(li)


def _find(btf: Btf | None, name: str, kind: str) -> int | None:
    if btf is None:
        return None
    try:
        for tid in btf.find(name):
            if btf.kind_of(tid).name == kind:
                return tid
    except BtfError:
        return None
    return None
