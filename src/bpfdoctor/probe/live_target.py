"""The running kernel as a check target: a fresh profile plus what only the host can show
(its BTF and module BTF, the kprobe-able functions, tracepoints, maps pinned in bpffs)."""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import os
from collections.abc import Callable
from pathlib import Path

from bpfdoctor.btf import Btf
from bpfdoctor.checks.target import PinnedMap, Target
from bpfdoctor.knowledge import uapi
from bpfdoctor.model import TargetInfo
from bpfdoctor.probe import syscall as sc
from bpfdoctor.probe.capture import capture_host
from bpfdoctor.targets import DEFAULT_LOADER, LoaderSpec

SYS_BTF = Path("/sys/kernel/btf")
TRACEFS = (Path("/sys/kernel/tracing"), Path("/sys/kernel/debug/tracing"))
BPF_OBJ_GET = 7
MAX_PINS = 4096


def live_target(*, name: str = "live", loader_spec: LoaderSpec = DEFAULT_LOADER) -> Target:
    captured = capture_host()
    profile, kconfig, btf = captured.profile, captured.kconfig, captured.btf
    complete = bool(kconfig.values)
    if complete:
        profile = dataclasses.replace(profile, kconfig=dict(kconfig.values))
    modules = _module_btf(btf) if btf is not None else None
    return Target(
        info=TargetInfo(kind="live", kernel=profile.host.kernel_release, name=name),
        profile=profile,
        facts_source="live",
        kernel_version=profile.host.kernel_release,
        btf=btf,
        module_btf=modules,
        functions=_functions(),
        tracepoints=_tracepoints(),
        pinned_maps=tuple(_pinned_maps(m.path for m in profile.filesystems.bpffs)),
        loader=loader_spec,
        kconfig_complete=complete,
    )


def _module_btf(base: Btf) -> dict[str, Callable[[], Btf]]:
    out: dict[str, Callable[[], Btf]] = {}
    try:
        entries = sorted(p for p in SYS_BTF.iterdir() if p.name != "vmlinux")
    except OSError:
        return out
    for path in entries:
        def load(path: Path = path) -> Btf:
            return Btf.from_bytes(path.read_bytes(), base=base, source=str(path))
        out[path.name] = functools.cache(load)
    return out


def _functions() -> frozenset[str] | None:
    """kprobe-able functions: available_filter_functions, else text symbols of kallsyms."""
    for root in TRACEFS:
        try:
            text = (root / "available_filter_functions").read_text(errors="replace")
        except OSError:
            continue
        return frozenset(line.split()[0] for line in text.splitlines() if line.strip())
    try:
        text = Path("/proc/kallsyms").read_text(errors="replace")
    except OSError:
        return None
    names = set()
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] in ("t", "T"):
            names.add(parts[2])
    # Without kallsyms addresses (kptr_restrict) the names are still listed; an empty list
    # means we cannot tell.
    return frozenset(names) or None


def _tracepoints() -> frozenset[str] | None:
    for root in TRACEFS:
        events = root / "events"
        try:
            cats = [c for c in events.iterdir() if c.is_dir()]
        except OSError:
            continue
        out: set[str] = set()
        for cat in cats:
            try:
                out.update(f"{cat.name}/{e.name}" for e in cat.iterdir() if e.is_dir())
            except OSError:
                continue
        return frozenset(out)
    return None


def _pinned_maps(mounts: object) -> list[PinnedMap]:
    out: list[PinnedMap] = []
    seen = 0
    for mount in mounts:  # type: ignore[attr-defined]
        for dirpath, _dirs, files in os.walk(mount):
            for fname in files:
                seen += 1
                if seen > MAX_PINS:
                    return out
                pm = _pinned_map(os.path.join(dirpath, fname))
                if pm is not None:
                    out.append(pm)
    return out


def _pinned_map(path: str) -> PinnedMap | None:
    """Open a pin read-only, read its fdinfo (maps show map_type/key_size/...), close it."""
    raw = path.encode() + b"\0"
    pbuf = ctypes.create_string_buffer(raw)
    attr = ctypes.create_string_buffer(16)
    ctypes.memmove(ctypes.addressof(attr), ctypes.byref(ctypes.c_uint64(ctypes.addressof(pbuf))), 8)
    # file_flags = BPF_F_RDONLY (1 << 3)
    ctypes.memmove(ctypes.addressof(attr) + 12, ctypes.byref(ctypes.c_uint32(1 << 3)), 4)
    fd, _err = sc.bpf(BPF_OBJ_GET, attr)
    if fd < 0:
        return None
    try:
        info = Path(f"/proc/self/fdinfo/{fd}").read_text()
    except OSError:
        return None
    finally:
        os.close(fd)
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    if "map_type" not in fields:
        return None

    def num(key: str, base: int = 10) -> int:
        try:
            return int(fields.get(key, "0").strip(), base)
        except ValueError:
            return 0

    mtype = num("map_type")
    return PinnedMap(
        path=path,
        name=os.path.basename(path),
        type=uapi.map_types().get(mtype, f"unknown({mtype})"),
        key_size=num("key_size"),
        value_size=num("value_size"),
        max_entries=num("max_entries"),
        flags=num("map_flags", 16),
        map_extra=num("map_extra", 16),
    )
