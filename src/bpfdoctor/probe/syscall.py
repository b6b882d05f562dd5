"""The bpf(2) syscall through ctypes, without libbpf.

Attribute layouts follow ``union bpf_attr`` in include/uapi/linux/bpf.h: each command gets a
zeroed buffer of the size it needs and fields are packed at their uapi offsets. The kernel
accepts a shorter attr than its own as long as every byte it does not know is zero, so one
layout serves every kernel since the field we need appeared.

Every file descriptor returned here is wrapped in :class:`BpfFd`, a context manager that closes
it; probes and the live loader (``check --load``) never hold a raw fd. The module is shared by
the probe layer and the live loader, so :func:`prog_load` is general: log buffer with growth on
ENOSPC, expected attach type, attach BTF id, program BTF with func/line info, flags, token fd.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno as _errno
import functools
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType

from bpfdoctor.errors import ProbeError

# bpf_cmd values (stable uapi numbers).
BPF_MAP_CREATE = 0
BPF_MAP_UPDATE_ELEM = 2
BPF_PROG_LOAD = 5
BPF_OBJ_GET_INFO_BY_FD = 15
BPF_BTF_LOAD = 18
BPF_MAP_FREEZE = 22
BPF_LINK_CREATE = 28
BPF_TOKEN_CREATE = 36

BPF_F_SLEEPABLE = 1 << 4  # prog_flags
BPF_F_TOKEN_FD = 1 << 16  # map_flags / prog_flags / btf_flags

# Sizes of the attr prefix each command uses (up to the last field we set).
_MAP_CREATE_SIZE = 80  # ... map_token_fd (6.9)
_PROG_LOAD_SIZE = 148  # ... prog_token_fd (6.9)
_BTF_LOAD_SIZE = 40  # ... btf_token_fd (6.9)

_SYSCALL_NR = {
    "x86_64": 321,
    "aarch64": 280,
    "riscv64": 280,
    "loongarch64": 280,
    "s390x": 351,
    "ppc64le": 361,
    "ppc64": 361,
    "i686": 357,
    "i386": 357,
    "armv7l": 386,
    "armv6l": 386,
}

LOG_CAP = 64 * 1024 * 1024  # never grow a verifier log beyond this (the kernel's own limit is ~1 GiB)


def errno_name(code: int) -> str:
    """``1`` -> ``EPERM``; unknown numbers keep their value (``E524`` is ENOTSUPP, kernel-internal)."""
    if code == 524:
        return "ENOTSUPP"
    return _errno.errorcode.get(code, f"E{code}")


@functools.cache
def _libc() -> ctypes.CDLL:
    name = ctypes.util.find_library("c") or "libc.so.6"
    libc = ctypes.CDLL(name, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


@functools.cache
def syscall_number() -> int:
    machine = os.uname().machine
    nr = _SYSCALL_NR.get(machine)
    if nr is None:
        raise ProbeError(f"bpf(2) syscall number unknown for architecture {machine}")
    return nr


def bpf(cmd: int, attr: ctypes.Array[ctypes.c_char]) -> tuple[int, int]:
    """Run one bpf(2) command. Returns ``(result, errno)``; errno is 0 on success."""
    libc = _libc()
    ctypes.set_errno(0)
    ret = int(libc.syscall(ctypes.c_long(syscall_number()), ctypes.c_long(cmd), attr,
                           ctypes.c_uint(len(attr))))
    if ret < 0:
        return ret, ctypes.get_errno()
    return ret, 0


class BpfFd:
    """An owned file descriptor for a BPF object; closed on ``close()`` or leaving ``with``."""

    __slots__ = ("_fd",)

    def __init__(self, fd: int) -> None:
        self._fd = fd

    @property
    def fd(self) -> int:
        if self._fd < 0:
            raise ProbeError("BPF file descriptor used after close")
        return self._fd

    def close(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)

    def __enter__(self) -> BpfFd:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:  # last resort: a forgotten fd must not outlive the probe
        with contextlib.suppress(OSError):
            self.close()


@dataclass(frozen=True, slots=True)
class SyscallResult:
    """Outcome of a bpf(2) command that creates an object: an owned fd, or an errno (and log)."""

    fd: BpfFd | None
    errno: int
    log: str = ""
    log_truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.fd is not None

    @property
    def errno_name(self) -> str | None:
        return errno_name(self.errno) if self.errno else None

    def close(self) -> None:
        if self.fd is not None:
            self.fd.close()


# The live loader wants the same shape under the name the brief gives it.
LoadResult = SyscallResult


def _addr(buf: ctypes.Array[ctypes.c_char] | None) -> int:
    return ctypes.addressof(buf) if buf is not None else 0


def _name16(name: str) -> bytes:
    raw = name.encode("ascii", "replace")[:15]
    return raw + b"\0" * (16 - len(raw))


def map_create(
    map_type: int,
    key_size: int,
    value_size: int,
    max_entries: int,
    map_flags: int = 0,
    *,
    inner_map_fd: int = 0,
    name: str = "",
    btf_fd: int = 0,
    btf_key_type_id: int = 0,
    btf_value_type_id: int = 0,
    btf_vmlinux_value_type_id: int = 0,
    map_extra: int = 0,
    token_fd: int | None = None,
) -> SyscallResult:
    """BPF_MAP_CREATE. Mirrors libbpf ``bpf_map_create()``."""
    attr = ctypes.create_string_buffer(_MAP_CREATE_SIZE)
    if token_fd is not None:
        map_flags |= BPF_F_TOKEN_FD
    struct.pack_into("<IIIIIII", attr, 0, map_type, key_size, value_size, max_entries,
                     map_flags, inner_map_fd, 0)
    struct.pack_into("16s", attr, 28, _name16(name))
    struct.pack_into("<IIIIIQ", attr, 44, 0, btf_fd, btf_key_type_id, btf_value_type_id,
                     btf_vmlinux_value_type_id, map_extra)
    if token_fd is not None:
        struct.pack_into("<i", attr, 76, token_fd)
    fd, err = bpf(BPF_MAP_CREATE, attr)
    return SyscallResult(BpfFd(fd) if fd >= 0 else None, err)


def map_update_elem(map_fd: int, key: bytes, value: bytes, flags: int = 0) -> int:
    """BPF_MAP_UPDATE_ELEM; returns 0 or the errno."""
    kbuf = ctypes.create_string_buffer(key, len(key))
    vbuf = ctypes.create_string_buffer(value, len(value))
    attr = ctypes.create_string_buffer(32)
    struct.pack_into("<IIQQQ", attr, 0, map_fd, 0, _addr(kbuf), _addr(vbuf), flags)
    _, err = bpf(BPF_MAP_UPDATE_ELEM, attr)
    return err


def map_freeze(map_fd: int) -> int:
    """BPF_MAP_FREEZE; returns 0 or the errno."""
    attr = ctypes.create_string_buffer(8)
    struct.pack_into("<I", attr, 0, map_fd)
    _, err = bpf(BPF_MAP_FREEZE, attr)
    return err


def _decode_log(buf: ctypes.Array[ctypes.c_char] | None) -> str:
    if buf is None:
        return ""
    return buf.value.decode("utf-8", "replace")


def prog_load(
    prog_type: int,
    insns: bytes,
    *,
    license: str = "GPL",
    log_level: int = 1,
    log_size: int = 64 * 1024,
    log_cap: int = LOG_CAP,
    kern_version: int = 0,
    prog_flags: int = 0,
    name: str = "",
    expected_attach_type: int = 0,
    prog_btf_fd: int = 0,
    func_info: bytes = b"",
    func_info_rec_size: int = 0,
    line_info: bytes = b"",
    line_info_rec_size: int = 0,
    attach_btf_id: int = 0,
    attach_fd: int = 0,
    fd_array: Sequence[int] = (),
    token_fd: int | None = None,
) -> SyscallResult:
    """BPF_PROG_LOAD with a verifier log.

    ``insns`` is the raw instruction stream (8 bytes per insn). With ``log_level > 0`` the log
    buffer starts at ``log_size`` and doubles on ENOSPC up to ``log_cap``; when the cap is hit
    the result says ``log_truncated`` and carries what the kernel wrote (since 6.4 the kernel
    keeps the tail, which holds the error). Mirrors libbpf ``bpf_prog_load()``'s retry.
    """
    if len(insns) % 8 or not insns:
        raise ProbeError(f"instruction stream of {len(insns)} bytes is not a multiple of 8")
    ibuf = ctypes.create_string_buffer(insns, len(insns))
    lic = ctypes.create_string_buffer(license.encode() + b"\0")
    fi = ctypes.create_string_buffer(func_info, len(func_info)) if func_info else None
    li = ctypes.create_string_buffer(line_info, len(line_info)) if line_info else None
    fda = None
    if fd_array:
        fda = ctypes.create_string_buffer(struct.pack(f"<{len(fd_array)}i", *fd_array))
    if token_fd is not None:
        prog_flags |= BPF_F_TOKEN_FD
    size = max(log_size, 256) if log_level else 0
    while True:
        logbuf = ctypes.create_string_buffer(size) if size else None
        attr = ctypes.create_string_buffer(_PROG_LOAD_SIZE)
        struct.pack_into("<IIQQIIQII", attr, 0, prog_type, len(insns) // 8, _addr(ibuf),
                         _addr(lic), log_level if size else 0, size, _addr(logbuf),
                         kern_version, prog_flags)
        struct.pack_into("16s", attr, 48, _name16(name))
        struct.pack_into("<IIIIQIIQIIIIQ", attr, 64, 0, expected_attach_type, prog_btf_fd,
                         func_info_rec_size, _addr(fi),
                         len(func_info) // func_info_rec_size if func_info_rec_size else 0,
                         line_info_rec_size, _addr(li),
                         len(line_info) // line_info_rec_size if line_info_rec_size else 0,
                         attach_btf_id, attach_fd, 0, _addr(fda))
        if token_fd is not None:
            struct.pack_into("<i", attr, 144, token_fd)
        fd, err = bpf(BPF_PROG_LOAD, attr)
        log = _decode_log(logbuf)
        if fd >= 0:
            return SyscallResult(BpfFd(fd), 0, log, False)
        if err == _errno.ENOSPC and size:
            if size >= log_cap:
                return SyscallResult(None, err, log, True)
            # 6.4+ reports the size it needed (log_true_size); older kernels: grow 4x
            (true_size,) = struct.unpack_from("<I", attr, 140)
            size = min(max(size * 4, true_size + 1), log_cap)
            continue
        return SyscallResult(None, err, log, False)


class PreparedLoad:
    """One BPF_PROG_LOAD attr built once and re-run with different instructions of the same
    length (the helper probe loads thousands of 3-insn programs: building ctypes buffers each
    time costs as much as the verifier). Not for programs whose log may exceed the buffer."""

    __slots__ = ("_attr", "_ins", "_keep", "_log", "_n")

    def __init__(self, prog_type: int, insn_count: int, *, license: str = "GPL",
                 log_size: int = 4096, expected_attach_type: int = 0, attach_btf_id: int = 0,
                 prog_flags: int = 0, kern_version: int = 0) -> None:
        self._n = insn_count * 8
        self._ins = ctypes.create_string_buffer(self._n)
        lic = ctypes.create_string_buffer(license.encode() + b"\0")
        self._log = ctypes.create_string_buffer(log_size)
        self._attr = ctypes.create_string_buffer(_PROG_LOAD_SIZE)
        struct.pack_into("<IIQQIIQII", self._attr, 0, prog_type, insn_count,
                         _addr(self._ins), _addr(lic), 1, log_size, _addr(self._log),
                         kern_version, prog_flags)
        struct.pack_into("<I", self._attr, 68, expected_attach_type)
        struct.pack_into("<I", self._attr, 108, attach_btf_id)
        self._keep = lic

    def load(self, insns: bytes) -> SyscallResult:
        if len(insns) != self._n:
            raise ProbeError(f"prepared load expects {self._n} bytes of instructions")
        ctypes.memmove(self._ins, insns, self._n)
        self._log[0] = b"\0"
        fd, err = bpf(BPF_PROG_LOAD, self._attr)
        log = _decode_log(self._log)
        if fd >= 0:
            return SyscallResult(BpfFd(fd), 0, log, False)
        return SyscallResult(None, err, log, err == _errno.ENOSPC)


def btf_load(blob: bytes, *, log_level: int = 1, log_size: int = 4096,
             token_fd: int | None = None) -> SyscallResult:
    """BPF_BTF_LOAD of a raw BTF blob with its log (mirrors libbpf ``bpf_btf_load()``)."""
    bbuf = ctypes.create_string_buffer(blob, len(blob))
    size = log_size if log_level else 0
    logbuf = ctypes.create_string_buffer(size) if size else None
    attr = ctypes.create_string_buffer(_BTF_LOAD_SIZE)
    flags = BPF_F_TOKEN_FD if token_fd is not None else 0
    struct.pack_into("<QQIIIII", attr, 0, _addr(bbuf), _addr(logbuf), len(blob), size,
                     log_level if size else 0, 0, flags)
    if token_fd is not None:
        struct.pack_into("<i", attr, 36, token_fd)
    fd, err = bpf(BPF_BTF_LOAD, attr)
    log = _decode_log(logbuf)
    return SyscallResult(BpfFd(fd) if fd >= 0 else None, err, log,
                         err == _errno.ENOSPC)


def obj_get_info(fd: int, size: int = 256) -> tuple[bytes, int]:
    """BPF_OBJ_GET_INFO_BY_FD: the raw ``bpf_*_info`` bytes the kernel filled, and errno."""
    info = ctypes.create_string_buffer(size)
    attr = ctypes.create_string_buffer(16)
    struct.pack_into("<IIQ", attr, 0, fd, size, _addr(info))
    _, err = bpf(BPF_OBJ_GET_INFO_BY_FD, attr)
    if err:
        return b"", err
    filled = struct.unpack_from("<I", attr, 4)[0]
    return info.raw[:filled], 0


def token_create(bpffs_fd: int, flags: int = 0) -> SyscallResult:
    """BPF_TOKEN_CREATE from an open bpffs directory fd (6.9+)."""
    attr = ctypes.create_string_buffer(8)
    struct.pack_into("<II", attr, 0, flags, bpffs_fd)
    fd, err = bpf(BPF_TOKEN_CREATE, attr)
    return SyscallResult(BpfFd(fd) if fd >= 0 else None, err)


def link_create(prog_fd: int, target_fd: int, attach_type: int, flags: int = 0) -> SyscallResult:
    """BPF_LINK_CREATE. Probes only call it with invalid targets to learn whether the link
    type exists; it is never used to attach to anything real."""
    attr = ctypes.create_string_buffer(64)
    struct.pack_into("<IIII", attr, 0, prog_fd, target_fd, attach_type, flags)
    fd, err = bpf(BPF_LINK_CREATE, attr)
    return SyscallResult(BpfFd(fd) if fd >= 0 else None, err)
