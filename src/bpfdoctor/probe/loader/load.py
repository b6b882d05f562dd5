"""``check --load``: load every program of an object on the running kernel, one at a time.

The pipeline mirrors libbpf ``bpf_object__load()``: BTF (fixed up, sanitized if the kernel
refuses it, dropped as libbpf does when it still refuses), maps, then per program relocation and
BPF_PROG_LOAD. Unlike libbpf, a failure does not stop the object: every program gets its own
verdict, so one broken program does not hide the state of the others.

Every fd lives in one ``ExitStack``: a failure half-way, an exception or Ctrl-C closes them all.
Nothing is pinned and nothing is attached, so closing the fds frees every map and program.
"""

from __future__ import annotations

import errno as _errno
import functools
import re
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from bpfdoctor.btf.decoder import Btf
from bpfdoctor.elf.object import BpfObject, Program
from bpfdoctor.errors import BpfDoctorError, InputError
from bpfdoctor.knowledge import uapi
from bpfdoctor.probe import syscall
from bpfdoctor.probe.kconfig import Kconfig, read_host_kconfig
from bpfdoctor.probe.loader.maps import MapFailure, create_maps
from bpfdoctor.probe.loader.relocate import Externals, Relocator, RelocError
from bpfdoctor.probe.loader.sanitize import fixup_btf, sanitize_for_kernel

BPF_F_SLEEPABLE = 1 << 4
BPF_F_XDP_HAS_FRAGS = 1 << 5
BPF_LOG_STATS = 4
STRUCT_OPS_MAP = 26


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """What to load and how: program names (empty: all), verifier log level, where to keep logs."""

    programs: tuple[str, ...] = ()
    log_level: int = 1
    keep_logs: Path | None = None


@dataclass(frozen=True, slots=True)
class ProgramAttempt:
    """One program's load. ``category``/``message`` are set when the loader itself refused to
    go on (relocation, missing map, unknown section): the kernel never saw the program."""

    program: str
    section: str
    ok: bool
    errno: str | None = None
    log: str = ""
    log_truncated: bool = False
    category: str | None = None
    message: str | None = None
    steps: tuple[str, ...] = ()
    insns: int = 0


@dataclass(frozen=True, slots=True)
class ObjectLoad:
    """Everything the loader did for one object: object-wide steps, then each program."""

    object: str
    steps: tuple[str, ...]
    programs: tuple[ProgramAttempt, ...]
    error_category: str | None = None
    error_errno: str | None = None
    error_message: str | None = None


@dataclass(slots=True)
class _Ctx:
    steps: list[str] = field(default_factory=list)
    btf_fd: int = 0


def permission_reason() -> str:
    """Why bpf() is refused here: capabilities, the unprivileged sysctl, lockdown."""
    from bpfdoctor.probe import host

    parts: list[str] = []
    try:
        status = Path("/proc/self/status").read_text()
        caps = [c for c in host.parse_capabilities(status) if c in ("CAP_BPF", "CAP_SYS_ADMIN")]
        parts.append("effective capabilities include " + ", ".join(caps) if caps
                     else "no CAP_BPF or CAP_SYS_ADMIN in the effective set")
    except OSError:
        pass
    unpriv = host.sysctls().get("kernel.unprivileged_bpf_disabled")
    if unpriv not in (None, "0"):
        parts.append(f"kernel.unprivileged_bpf_disabled={unpriv}")
    try:
        mode = host.parse_lockdown(Path("/sys/kernel/security/lockdown").read_text())
        if mode and mode != "none":
            parts.append(f"lockdown={mode}")
    except OSError:
        pass
    return "; ".join(parts) or "the kernel refused bpf()"


@functools.cache
def _vmlinux() -> Btf | None:
    try:
        data = Path("/sys/kernel/btf/vmlinux").read_bytes()
        return Btf.from_bytes(data, source="/sys/kernel/btf/vmlinux")
    except (OSError, BpfDoctorError):
        return None


@functools.cache
def _kallsyms() -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        with open("/proc/kallsyms", encoding="ascii", errors="replace") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) == 3:  # vmlinux symbols only (module ones have a 4th field)
                    out.setdefault(parts[2], int(parts[0], 16))
    except OSError:
        pass
    return out


def _kallsym(name: str) -> int | None:
    addr = _kallsyms().get(name)
    return addr or None


def _load_btf(obj: BpfObject, ctx: _Ctx, stack: ExitStack) -> tuple[tuple[tuple[str, int, int], ...], int, str | None]:
    """BTF fixed up and loaded; returns the .kconfig layout and an errno if refused for lack
    of privilege (the caller stops there)."""
    btf = obj.btf
    if btf is None:
        ctx.steps.append("object has no .BTF: programs load without BTF")
        return (), 0, None
    fixed = fixup_btf(btf, obj.image)
    if fixed.changes:
        ctx.steps.append("BTF fixed up like libbpf: " + ", ".join(fixed.changes))
    res = syscall.btf_load(fixed.data, log_size=1 << 16)
    if res.fd is None and res.errno in (_errno.EPERM, _errno.EACCES):
        return fixed.kconfig_offsets, fixed.kconfig_size, res.errno_name
    if res.fd is None:
        from bpfdoctor.probe.btf_blobs import BLOBS

        missing = set()
        for feature, make in BLOBS.items():
            probe = syscall.btf_load(make(), log_level=0)
            if probe.fd is None:
                missing.add(feature)
            probe.close()
        blob, changes = sanitize_for_kernel(fixed.data, frozenset(missing))
        first = res.log.strip().splitlines()[-1:] if res.log.strip() else [res.errno_name or ""]
        if changes:
            ctx.steps.append(f"kernel refused the BTF ({first[0]}); probed BTF kinds, missing: "
                             f"{', '.join(sorted(missing))}; sanitized: {', '.join(changes)}")
            res = syscall.btf_load(blob, log_size=1 << 16)
        if res.fd is None:
            ctx.steps.append(f"kernel refused the BTF ({first[0]}): loading without BTF, "
                             "as libbpf does (no func_info/line_info)")
            return fixed.kconfig_offsets, fixed.kconfig_size, None
    else:
        ctx.steps.append("BTF loaded (the kernel knows every kind it uses, no sanitizing needed)")
    assert res.fd is not None
    stack.callback(res.fd.close)
    ctx.btf_fd = res.fd.fd
    return fixed.kconfig_offsets, fixed.kconfig_size, None


def _attach_btf_id(prog: Program, vmlinux: Btf | None) -> tuple[int, str | None]:
    """libbpf ``find_attach_btf_id()``: tp_btf -> btf_trace_<name> typedef, lsm -> bpf_lsm_<name>,
    iter -> bpf_iter_<name>, fentry/fexit/fmod_ret -> the function itself."""
    info = prog.info
    target = info.attach_target or ""
    if vmlinux is None:
        return 0, "attach target needs /sys/kernel/btf/vmlinux, which is missing"
    at = info.attach_type or ""
    if at == "trace_raw_tp":
        name, kind = "btf_trace_" + target, "TYPEDEF"
    elif at.startswith("lsm"):
        name, kind = "bpf_lsm_" + target, "FUNC"
    elif at == "trace_iter":
        name, kind = "bpf_iter_" + target, "FUNC"
    else:
        name, kind = target, "FUNC"
    for tid in vmlinux.find(name):
        if vmlinux.kind_of(tid).name == kind:
            return tid, None
    return 0, f"failed to find kernel BTF type ID of '{target}' ({kind.lower()} {name})"


def _struct_ops_target(obj: BpfObject, prog: Program, vmlinux: Btf | None) -> tuple[int, int, str | None]:
    """struct_ops programs load against the kernel struct and the member they implement."""
    for spec in obj.maps:
        if spec.type_id != STRUCT_OPS_MAP:
            continue
        for member, pname in spec.members:
            if pname != prog.name or not spec.value_type:
                continue
            sname = spec.value_type.removeprefix("struct ").strip()
            if vmlinux is None:
                return 0, 0, "struct_ops needs /sys/kernel/btf/vmlinux"
            for tid in vmlinux.find(sname):
                t = vmlinux.type(tid)
                if t.kind.name == "STRUCT":
                    for i, m in enumerate(t.members):
                        if m.name == member:
                            return tid, i, None
                    return 0, 0, f"struct {sname} has no member {member}"
            return 0, 0, f"struct {sname} not in kernel BTF"
    return 0, 0, "struct_ops program is not referenced by any struct_ops map"


def _keep(options: LoadOptions, prog: str, log: str) -> None:
    if options.keep_logs is None:
        return
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", prog)
    target = options.keep_logs / f"{safe}.log"
    try:
        prepare_log_dir(options.keep_logs)
        target.write_text(log, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"--keep-logs: cannot write {target}: {exc.strerror or exc}") from None


def prepare_log_dir(directory: Path) -> None:
    """Create the ``--keep-logs`` directory, or say in one line why it cannot be one.

    ``mkdir(exist_ok=True)`` on an existing file (``/dev/zero``, a log of the same name)
    raises ``FileExistsError``, which says nothing about the option that caused it.
    """
    if directory.exists() and not directory.is_dir():
        raise InputError(f"--keep-logs: {directory} is not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise InputError(f"--keep-logs: {directory} is not a directory") from None
    except OSError as exc:
        raise InputError(f"--keep-logs: cannot create {directory}: "
                         f"{exc.strerror or exc}") from None


def selected_programs(obj: BpfObject, names: Sequence[str]) -> list[Program]:
    """Entry programs to load: the named ones, else every autoloaded one (libbpf skips SEC("?x"))."""
    progs = [p for p in obj.entry_programs if not names or p.name in names]
    if not names:
        progs = [p for p in progs if p.info.autoload]
    return progs


def load_object(obj: BpfObject, options: LoadOptions = LoadOptions()) -> ObjectLoad:
    """Load each selected program of ``obj``; every fd is closed before this returns."""
    ctx = _Ctx()
    wanted = selected_programs(obj, options.programs)
    missing = [n for n in options.programs if n not in {p.name for p in obj.entry_programs}]
    if missing:
        from bpfdoctor.errors import InputError

        names = ", ".join(p.name for p in obj.entry_programs)
        raise InputError(f"--program {missing[0]}: no such program in {obj.name} (have: {names})")
    host_big = sys.byteorder == "big"
    if obj.image.big_endian != host_big:
        return ObjectLoad(obj.name, (), (), "toolchain", None,
                          f"endianness mismatch: the object is {obj.endianness}-endian, this "
                          f"kernel is {sys.byteorder}-endian (build with -target bpf)")
    with ExitStack() as stack:
        layout, kc_size, denied = _load_btf(obj, ctx, stack)
        if denied is not None:
            return ObjectLoad(obj.name, tuple(ctx.steps), (), "permission", denied,
                              f"BPF_BTF_LOAD: {denied}: {permission_reason()}")
        kconfig = Kconfig({}, None)
        if any(e.kind == "kconfig" for e in obj.externs):
            kconfig, _tried = read_host_kconfig()
        created, failures = create_maps(stack, obj, ctx.btf_fd, kconfig, layout, kc_size,
                                        ctx.steps)
        for f in failures:
            if f.errno in ("EPERM", "EACCES") and not created:
                return ObjectLoad(obj.name, tuple(ctx.steps), (), "permission", f.errno,
                                  f"{f.message}: {permission_reason()}")
        failed_maps = {f.name: f for f in failures}
        ext = Externals(
            map_fds={name: m.fd for name, m in created.items()},
            kconfig_offsets={name: off for name, off, _size in layout},
            vmlinux=_vmlinux,
            kallsyms=_kallsym,
        )
        relocator = Relocator(obj, ext, with_btf=ctx.btf_fd != 0)
        attempts = [
            _load_one(obj, prog, relocator, ctx.btf_fd, failed_maps, options)
            for prog in wanted
        ]
    return ObjectLoad(obj.name, tuple(ctx.steps), tuple(attempts))


def _load_one(obj: BpfObject, prog: Program, relocator: Relocator, btf_fd: int,
              failed_maps: dict[str, MapFailure], options: LoadOptions) -> ProgramAttempt:
    info = prog.info
    steps: list[str] = []

    def refused(category: str, message: str, errno: str | None = None) -> ProgramAttempt:
        return ProgramAttempt(prog.name, prog.section, False, errno, "", False, category,
                              message, tuple(steps))

    use = obj.program_use(prog)
    for m in use.maps:
        if m in failed_maps:
            fail = failed_maps[m]
            return refused("map-unsupported", fail.message, fail.errno)
    prog_types = {v: k for k, v in uapi.prog_types().items()}
    if not info.known or info.prog_type not in prog_types:
        return refused("section-unknown",
                       f"section '{prog.section}': no libbpf program type for this SEC() name")
    prog_type = prog_types[info.prog_type]
    attach_types = {v: k for k, v in uapi.attach_types().items()}
    expected = attach_types.get(info.attach_type or "", 0)
    attach_btf_id = 0
    if info.prog_type == "ext":
        return refused("attach-failed", "freplace (SEC(\"freplace/...\")) needs the target "
                       "program's fd (attach_prog_fd) to load; no target given", "EINVAL")
    if info.prog_type == "struct_ops":
        attach_btf_id, expected, why = _struct_ops_target(obj, prog, _vmlinux())
        if why:
            return refused("attach-failed", why, "ESRCH")
    elif info.attach_btf:
        attach_btf_id, why = _attach_btf_id(prog, _vmlinux())
        if why:
            return refused("attach-failed", why, "ESRCH")
    try:
        prepared = relocator.prepare(prog)
    except RelocError as exc:
        return refused(exc.category, str(exc), exc.errno)
    steps.extend(prepared.notes)
    if prepared.subprogs:
        steps.append("appended subprograms: " + ", ".join(prepared.subprogs))
    if prepared.core_relos:
        steps.append(f"{prepared.core_relos} CO-RE relocation(s) resolved against vmlinux BTF")
    flags = (BPF_F_SLEEPABLE if info.sleepable else 0) | (BPF_F_XDP_HAS_FRAGS if info.xdp_frags else 0)
    kern_version = obj.kversion or 0
    if not kern_version and info.prog_type == "kprobe":
        from bpfdoctor.probe.loader.maps import _kernel_version

        kern_version = _kernel_version()

    def attempt(level: int) -> syscall.SyscallResult:
        return syscall.prog_load(
            prog_type, prepared.insns, license=obj.license or "", log_level=level,
            log_size=1 << 16 if level == BPF_LOG_STATS else 1 << 20, kern_version=kern_version,
            prog_flags=flags, name=re.sub(r"[^A-Za-z0-9_.]", "_", prog.name)[:15],
            expected_attach_type=expected, prog_btf_fd=btf_fd,
            func_info=prepared.func_info, func_info_rec_size=8 if prepared.func_info else 0,
            line_info=prepared.line_info, line_info_rec_size=16 if prepared.line_info else 0,
            attach_btf_id=attach_btf_id,
        )

    first = attempt(BPF_LOG_STATS if options.log_level < 2 else options.log_level | BPF_LOG_STATS)
    if first.fd is not None and options.log_level < 2:
        first.close()
        _keep(options, prog.name, first.log)
        return ProgramAttempt(prog.name, prog.section, True, None, first.log, first.log_truncated,
                              steps=tuple(steps), insns=len(prepared.insns) // 8)
    res = first
    if first.fd is None and options.log_level < 2:
        res = attempt(options.log_level | BPF_LOG_STATS)  # libbpf retries with a log on failure
    res.close()
    _keep(options, prog.name, res.log)
    errno_name = res.errno_name
    if res.log_truncated and first.fd is None and first.errno_name:
        steps.append(f"verifier log cut at {syscall.LOG_CAP >> 20} MiB (the kernel then says "
                     f"ENOSPC); the errno is the stats-only load's: {first.errno_name}")
        errno_name = first.errno_name
    return ProgramAttempt(prog.name, prog.section, res.fd is not None, errno_name, res.log,
                          res.log_truncated, steps=tuple(steps), insns=len(prepared.insns) // 8)


def loaded_names(result: ObjectLoad) -> list[str]:
    return [p.program for p in result.programs if p.ok]


__all__ = ["LoadOptions", "ObjectLoad", "ProgramAttempt", "load_object"]
