"""Turn a :class:`~bpfdoctor.targets.TargetSpec` into the :class:`~bpfdoctor.checks.target.Target`
every check reads.

- ``profile:PATH``: a profile saved by ``bpfdoctor probe --save`` (or written by
  ``bpfdoctor profile from-kernel``, whose ``artifacts`` add the kernel's BTF, module BTF and
  function list next to it).
- ``btf:PATH``: a kernel's BTF (raw, or an ELF with ``.BTF``): what exists is read from the
  UAPI enums and ``bpf_kfunc`` decl tags in it; ``kconfig=`` and ``kernel=`` refine it.
- ``kernel:X.Y``: the knowledge base's version table alone.
- ``live``: this machine, through the probe package (the only one that reads the host).

Nothing here reads /proc, /sys or /boot: only the files the spec names.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bpfdoctor.btf import Btf
from bpfdoctor.checks.target import Target
from bpfdoctor.errors import BpfDoctorError, InputError
from bpfdoctor.fileio import read_capped, require_regular_file
from bpfdoctor.kernelprofile import (
    MAX_PROFILE_BYTES,
    BtfFacts,
    HostFacts,
    KernelProfile,
    ProbeMeta,
)
from bpfdoctor.kernelprofile import loads as load_profile_text
from bpfdoctor.model import TargetInfo
from bpfdoctor.targets import DEFAULT_LOADER, TargetSpec

MAX_BTF_BYTES = 512 << 20
MAX_LIST_BYTES = 256 << 20  # a function list: ~80k names of a distribution kernel is ~2 MiB
MAX_KCONFIG_BYTES = 16 << 20  # a distribution .config is ~300 KiB (config.gz less)
BTF_MAGIC_LE = b"\x9f\xeb"
BTF_MAGIC_BE = b"\xeb\x9f"


def resolve_target(spec: TargetSpec) -> Target:
    """The checks' view of the kernel ``spec`` names (cached per spec within a process)."""
    return _resolve(spec)


@functools.lru_cache(maxsize=64)
def _resolve(spec: TargetSpec) -> Target:
    loader = spec.loader or DEFAULT_LOADER
    if spec.kind == "kernel-version":
        assert spec.value is not None
        return version_target(spec.value, name=spec.name, loader_spec=loader)
    if spec.kind == "profile":
        assert spec.value is not None
        return profile_target(Path(spec.value), name=spec.name, loader_spec=loader)
    if spec.kind == "btf":
        assert spec.value is not None
        return btf_target(
            Path(spec.value), kconfig=Path(spec.kconfig) if spec.kconfig else None,
            kernel_version=spec.kernel_version, name=spec.name, loader_spec=loader,
        )
    if spec.kind == "live":
        from bpfdoctor.probe.live_target import live_target

        return live_target(name=spec.name, loader_spec=loader)
    raise InputError(f"target kind {spec.kind!r} cannot be checked against")


# -- kernel version -------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def version_target(version: str, *, name: str, loader_spec: Any = DEFAULT_LOADER) -> Target:
    """No facts but the version: every check falls back to the version table."""
    profile = KernelProfile(
        captured_at=_now(),
        host=HostFacts(kernel_release=version),
        probe=ProbeMeta(groups=(), live=False),
    )
    return Target(
        info=TargetInfo(kind="kernel-version", kernel=version, name=name),
        profile=profile,
        facts_source="version-table",
        kernel_version=version,
        loader=loader_spec,
        notes=("facts from the upstream version table; distribution backports are not seen",),
    )


# -- saved profile --------------------------------------------------------------------------


def profile_target(path: Path, *, name: str, loader_spec: Any = DEFAULT_LOADER) -> Target:
    raw = read_capped(path, "profile", MAX_PROFILE_BYTES)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a bpfdoctor profile (not UTF-8 text)") from None
    del raw
    profile = load_profile_text(text, origin=str(path))
    artifacts = _artifacts(text, path)
    btf = _read_btf(artifacts["vmlinux_btf"]) if "vmlinux_btf" in artifacts else None
    modules: Mapping[str, Callable[[], Btf]] | None = None
    if "modules_btf" in artifacts and btf is not None:
        modules = _module_loaders(artifacts["modules_btf"], btf)
    functions = _read_lines(artifacts["functions"]) if "functions" in artifacts else None
    tracepoints = _read_lines(artifacts["tracepoints"]) if "tracepoints" in artifacts else None
    return Target(
        info=TargetInfo(kind="profile", kernel=profile.host.kernel_release, name=name),
        profile=profile,
        facts_source="profile",
        kernel_version=profile.host.kernel_release,
        btf=btf,
        module_btf=modules,
        functions=functions,
        tracepoints=tracepoints,
        loader=loader_spec,
        kconfig_complete=bool(artifacts.get("kconfig_complete")),
    )


def _artifacts(text: str, path: Path) -> dict[str, Any]:
    """``artifacts`` of a from-kernel profile: files next to it, resolved to paths."""
    raw = json.loads(text).get("artifacts")
    if not isinstance(raw, dict):
        return {}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, bool):
            out[key] = value
        elif isinstance(value, str) and value:
            p = (path.parent / value).resolve()
            if not p.exists():
                raise InputError(f"{path}: artifacts.{key}: {p} does not exist")
            if key != "modules_btf":  # a directory of split BTF files, checked per file
                require_regular_file(p, f"{path}: artifacts.{key}:")
            out[key] = p
    return out


def _read_lines(path: Path) -> frozenset[str]:
    """A function or tracepoint list, plain or gzip; the decompressed size is capped too,
    so a gzip bomb ends in one error line rather than in the OOM killer."""
    data = _gunzip_capped(read_capped(path, "function list", MAX_LIST_BYTES), path,
                          MAX_LIST_BYTES)
    return frozenset(line.strip() for line in data.decode("utf-8", "replace").splitlines()
                     if line.strip())


def _gunzip_capped(data: bytes, path: Path, limit: int) -> bytes:
    """``data`` itself, or its gzip payload when it has the magic, at most ``limit`` bytes."""
    if data[:2] != b"\x1f\x8b":
        return data
    from bpfdoctor.offline.decompress import decompress

    return decompress(data, "gzip", str(path), limit)


def _module_loaders(directory: Path, base: Btf) -> dict[str, Callable[[], Btf]]:
    if not directory.is_dir():  # an empty mapping would claim "this kernel has no module BTF"
        raise InputError(f"artifacts.modules_btf: {directory} is not a directory")
    out: dict[str, Callable[[], Btf]] = {}
    for f in sorted(directory.glob("*.btf")):
        require_regular_file(f, "artifacts.modules_btf:")
        out[f.stem] = functools.cache(functools.partial(_read_btf, f, base=base))
    return out


# -- kernel BTF file ------------------------------------------------------------------------


def read_btf_bytes(path: Path) -> bytes:
    """Raw BTF from a raw BTF file or an ELF (vmlinux, .ko) with a ``.BTF`` section."""
    require_regular_file(path, "kernel BTF")
    try:
        with path.open("rb") as f:
            head = f.read(4)
            if head[:2] in (BTF_MAGIC_LE, BTF_MAGIC_BE):
                size = path.stat().st_size
                if size > MAX_BTF_BYTES:
                    raise InputError(f"{path}: {size} bytes is too large for a BTF file")
                return head + f.read()
            if head == b"\x7fELF":
                f.seek(0)
                return _elf_btf_section(f, path)
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    raise InputError(f"{path}: neither raw BTF (magic 0xeb9f) nor an ELF file with .BTF")


def _elf_btf_section(stream: Any, path: Path) -> bytes:
    """The ``.BTF`` section of any ELF (vmlinux, .ko), read without loading the whole file."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        sec = ELFFile(stream).get_section_by_name(".BTF")
        if sec is None:
            raise InputError(f"{path}: ELF file without a .BTF section")
        data: bytes = sec.data()
    except (ELFError, ValueError, KeyError, IndexError) as exc:
        raise InputError(f"{path}: malformed ELF file: {exc}") from None
    return data


def _read_btf(path: Path, base: Btf | None = None) -> Btf:
    return Btf.from_bytes(read_btf_bytes(path), base=base, source=str(path))


def btf_target(
    path: Path, *, kconfig: Path | None, kernel_version: str | None, name: str,
    loader_spec: Any = DEFAULT_LOADER,
) -> Target:
    from bpfdoctor.kfacts import btf_features

    btf = _read_btf(path)
    kinds = tuple(sorted(k.name for k in btf.kinds()))
    values: dict[str, str] = {}
    source = None
    if kconfig is not None:
        from bpfdoctor.probe.kconfig import decode_config_bytes, parse_kconfig

        raw = _gunzip_capped(read_capped(kconfig, "kconfig", MAX_KCONFIG_BYTES), kconfig,
                             MAX_KCONFIG_BYTES)
        parsed = parse_kconfig(decode_config_bytes(raw, str(kconfig)), str(kconfig))
        values, source = dict(parsed.values), str(kconfig)
    features = btf_features(btf, values or None)
    profile = KernelProfile(
        captured_at=_now(),
        host=HostFacts(kernel_release=kernel_version or "0.0.0-unknown"),
        kconfig=values,
        kconfig_source=source,
        btf=BtfFacts(vmlinux_path=str(path), vmlinux_present=True,
                     vmlinux_size=path.stat().st_size, vmlinux_parsable=True,
                     vmlinux_kinds=kinds),
        features=features,
        probe=ProbeMeta(groups=tuple(features), live=False),
    )
    return Target(
        info=TargetInfo(kind="btf", kernel=kernel_version, name=name),
        profile=profile,
        facts_source="btf",
        kernel_version=kernel_version,
        btf=btf,
        loader=loader_spec,
        kconfig_complete=kconfig is not None,
    )


def safe_resolve(spec: TargetSpec) -> Target:
    """resolve_target with foreign errors turned into one-line BpfDoctorErrors."""
    try:
        return resolve_target(spec)
    except BpfDoctorError:
        raise
    except (OSError, ValueError) as exc:
        raise InputError(f"target {spec}: {exc}") from None
