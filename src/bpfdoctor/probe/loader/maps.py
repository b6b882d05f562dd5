"""Create an object's maps on the running kernel (libbpf ``bpf_object__create_maps()``).

BTF-defined and legacy maps, the inner map template of map-in-map definitions, global data
maps with their initial contents (``.rodata`` and ``.kconfig`` frozen afterwards) and the
``.kconfig`` map filled from the running kernel's configuration. Nothing is pinned: a map
definition with ``pinning`` is created fresh, as if no pin existed. Every fd goes into the
caller's ``ExitStack``.
"""

from __future__ import annotations

import os
import re
import struct
from contextlib import ExitStack
from dataclasses import dataclass

from bpfdoctor.btf.decoder import Btf
from bpfdoctor.elf.maps import MapSpec
from bpfdoctor.elf.object import BpfObject
from bpfdoctor.elf.relocations import KCONFIG_SEC, MAPS_SEC
from bpfdoctor.probe import syscall
from bpfdoctor.probe.kconfig import Kconfig

BPF_MAP_TYPE_PERF_EVENT_ARRAY = 4
BPF_MAP_TYPE_ARRAY_OF_MAPS = 12
BPF_MAP_TYPE_HASH_OF_MAPS = 13
BPF_MAP_TYPE_RINGBUF = 27
BPF_MAP_TYPE_STRUCT_OPS = 26
BPF_F_MMAPABLE = 0x400
# libbpf bpf_object__create_map(): these map types never get BTF key/value ids.
_NO_BTF_MAPS = frozenset({4, 7, 8, 12, 13, 14, 15, 16, 17, 18, 22, 23, 25})
_FD_VALUE_MAPS = frozenset({3, 4, 12, 13})  # prog array, perf event array, map-in-map
_NAME_OK = re.compile(r"[^A-Za-z0-9_.]")


@dataclass(frozen=True, slots=True)
class CreatedMap:
    """One map the loader created: its spec, fd, and the kernel's name for it."""

    spec: MapSpec
    fd: int
    kernel_name: str


@dataclass(frozen=True, slots=True)
class MapFailure:
    """A map the kernel refused (with errno) or the loader could not prepare."""

    name: str
    errno: str | None
    message: str


def object_prefix(obj: BpfObject) -> str:
    """libbpf ``bpf_object__new()``: the file's basename up to its first dot."""
    return os.path.basename(obj.name).split(".", 1)[0]


def kernel_map_name(obj: BpfObject, spec: MapSpec) -> str:
    """The 15-character name libbpf gives a map (``internal_map_name()`` for global data)."""
    if spec.origin in ("data", "kconfig"):
        sfx = spec.section[:15]
        pfx = object_prefix(obj)[: max(0, 15 - len(sfx))][:8]
        name = pfx + sfx
    else:
        name = spec.name
    return _NAME_OK.sub("_", name)[:15]


def possible_cpus() -> int:
    """Number of possible CPUs (``/sys/devices/system/cpu/possible``), libbpf's default size
    for perf event arrays."""
    try:
        with open("/sys/devices/system/cpu/possible", encoding="ascii") as fh:
            text = fh.read().strip()
    except OSError:
        return os.cpu_count() or 1
    n = 0
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        n += int(hi or lo) - int(lo) + 1
    return n


def btf_kv_ids(btf: Btf | None, name: str) -> tuple[int, int]:
    """Key and value type ids of a BTF-defined map (``__type(key, T)`` members), or 0s."""
    if btf is None:
        return 0, 0
    for ds in btf.find(MAPS_SEC):
        if btf.kind_of(ds).name != "DATASEC":
            continue
        for info in btf.type(ds).secinfos:
            var = btf.type(info.type)
            if var.name != name or var.type is None:
                continue
            st = btf.type(btf.resolve(var.type))
            ids = {"key": 0, "value": 0}
            for m in st.members:
                if m.name in ids:
                    ptr = btf.type(btf.resolve(m.type))
                    if ptr.kind.name == "PTR" and ptr.type is not None:
                        ids[m.name] = ptr.type
            return ids["key"], ids["value"]
    return 0, 0


def _kernel_version() -> int:
    """libbpf ``get_kernel_version()``: major<<16 | minor<<8 | min(patch, 255)."""
    nums = [int(x) for x in re.findall(r"\d+", os.uname().release)[:3]] + [0, 0, 0]
    return (nums[0] << 16) | (nums[1] << 8) | min(nums[2], 255)


def kconfig_value(name: str, size: int, kconfig: Kconfig, weak: bool) -> bytes | str:
    """The bytes libbpf writes for one ``.kconfig`` extern, or an error message."""
    if name == "LINUX_KERNEL_VERSION":
        return _kernel_version().to_bytes(size, "little")[:size]
    if name in ("LINUX_HAS_BPF_COOKIE", "LINUX_HAS_SYSCALL_WRAPPER"):
        return (1).to_bytes(size, "little")
    raw = kconfig.get(name)
    if raw is None:
        if weak:
            return bytes(size)
        return f"extern (kcfg) '{name}': value not found in the kernel config"
    if raw in ("y", "m", "n"):
        return {"y": 1, "m": 2, "n": 0}[raw].to_bytes(size, "little")
    if raw.startswith('"') or not re.fullmatch(r"-?(0x[0-9a-fA-F]+|\d+)", raw):
        text = raw.strip('"').encode()[: max(0, size - 1)]
        return text + bytes(size - len(text))
    value = int(raw, 0)
    try:
        return value.to_bytes(size, "little", signed=value < 0)
    except OverflowError:
        return f"extern (kcfg) '{name}': value {raw} does not fit in {size} bytes"


def _create_one(
    stack: ExitStack, obj: BpfObject, spec: MapSpec, btf_fd: int, inner_fd: int = 0
) -> syscall.SyscallResult:
    key_size = spec.key_size or 0
    value_size = spec.value_size or 0
    max_entries = spec.max_entries or 0
    if spec.type_id in _FD_VALUE_MAPS:  # libbpf: 4-byte key and fd value unless given
        key_size, value_size = key_size or 4, value_size or 4
    if spec.type_id == BPF_MAP_TYPE_PERF_EVENT_ARRAY:
        max_entries = max_entries or possible_cpus()
    key_id = value_id = 0
    if btf_fd and spec.origin == "btf":
        key_id, value_id = btf_kv_ids(obj.btf, spec.name)
        if spec.type_id in _NO_BTF_MAPS:
            key_id = value_id = 0
    elif btf_fd and spec.origin == "data" and spec.btf_value_type_id:
        value_id = spec.btf_value_type_id
    res = syscall.map_create(
        spec.type_id, key_size, value_size, max_entries, spec.flags,
        inner_map_fd=inner_fd, name=kernel_map_name(obj, spec),
        btf_fd=btf_fd if value_id else 0,
        btf_key_type_id=key_id if value_id else 0, btf_value_type_id=value_id,
        map_extra=spec.map_extra or 0,
    )
    if res.fd is not None:
        stack.callback(res.fd.close)
    return res


def create_maps(
    stack: ExitStack,
    obj: BpfObject,
    btf_fd: int,
    kconfig: Kconfig,
    kconfig_layout: tuple[tuple[str, int, int], ...],
    kconfig_size: int,
    steps: list[str],
) -> tuple[dict[str, CreatedMap], list[MapFailure]]:
    """Create every map the object defines; returns them by name (sections for global data)."""
    created: dict[str, CreatedMap] = {}
    failures: list[MapFailure] = []
    weak = {e.name: e.weak for e in obj.externs}
    for spec in obj.maps:
        if spec.type_id == BPF_MAP_TYPE_STRUCT_OPS:
            steps.append(f"map {spec.name}: struct_ops map not created (it would register "
                         "the ops with the kernel)")
            continue
        if spec.problems:
            failures.append(MapFailure(spec.name, None, "; ".join(spec.problems)))
            continue
        if spec.origin == "kconfig" and kconfig_size and not spec.value_size:
            spec = _with_size(spec, kconfig_size)
        inner_fd = 0
        if spec.inner is not None:
            with ExitStack() as inner_stack:  # the template is only needed during creation
                inner = _create_one(inner_stack, obj, spec.inner, 0)
                if inner.fd is None:
                    failures.append(MapFailure(spec.name, inner.errno_name,
                                               f"inner map of '{spec.name}': {inner.errno_name}"))
                    continue
                inner_fd = inner.fd.fd
                res = _create_one(stack, obj, spec, btf_fd, inner_fd)
        else:
            res = _create_one(stack, obj, spec, btf_fd)
            if res.fd is None and btf_fd and spec.origin in ("btf", "data"):
                retry = _create_one(stack, obj, spec, 0)  # libbpf retries without BTF
                if retry.fd is not None:
                    steps.append(f"map {spec.name}: kernel refused its BTF ({res.errno_name}); "
                                 "created without BTF like libbpf")
                res = retry if retry.fd is not None else res
        if res.fd is None:
            failures.append(MapFailure(spec.name, res.errno_name,
                                       f"map '{spec.name}': BPF_MAP_CREATE failed: {res.errno_name}"))
            continue
        fd = res.fd.fd
        problem = _initialise(obj, spec, fd, kconfig, kconfig_layout, weak, steps)
        if problem is not None:
            failures.append(MapFailure(spec.name, None, problem))
            continue
        created[spec.name] = CreatedMap(spec, fd, kernel_map_name(obj, spec))
    steps.append(f"created {len(created)} map(s)" + (f", {len(failures)} failed" if failures else ""))
    return created, failures


def _with_size(spec: MapSpec, size: int) -> MapSpec:
    from dataclasses import replace

    return replace(spec, value_size=size)


def _initialise(
    obj: BpfObject,
    spec: MapSpec,
    fd: int,
    kconfig: Kconfig,
    layout: tuple[tuple[str, int, int], ...],
    weak: dict[str, bool],
    steps: list[str],
) -> str | None:
    """Initial contents of global data (libbpf ``bpf_object__populate_internal_map()``)."""
    value: bytes | None = None
    if spec.origin == "data":
        sec = obj.image.section_by_name(spec.section)
        if sec is not None and sec.data and any(sec.data):
            value = sec.data
    elif spec.origin == "kconfig":
        buf = bytearray(spec.value_size or 0)
        for name, off, size in layout:
            got = kconfig_value(name, size, kconfig, weak.get(name, False))
            if isinstance(got, str):
                return got
            buf[off: off + size] = got
        value = bytes(buf)
        steps.append(f"{KCONFIG_SEC}: {len(layout)} extern(s) filled from "
                     f"{kconfig.source or 'no kernel config (weak externs are 0)'}")
    if value is not None:
        err = syscall.map_update_elem(fd, struct.pack("<I", 0), value)
        if err:
            return f"map '{spec.name}': setting initial contents failed: {syscall.errno_name(err)}"
    if spec.frozen:
        err = syscall.map_freeze(fd)
        if err:
            return f"map '{spec.name}': BPF_MAP_FREEZE failed: {syscall.errno_name(err)}"
    return None
