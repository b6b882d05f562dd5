"""``bpfdoctor profile from-kernel``: a kernel profile, plus the kernel's BTF, module BTF and
function list, built from a distribution kernel's files without booting it.

Inputs are only the paths the user names (never /proc, /sys or /boot of this machine):
a config, one of vmlinuz / vmlinux / raw BTF, optionally System.map and a modules tree.
The output directory holds ``profile.json`` (``bpfdoctor.profile/1``) whose extra top-level
``artifacts`` key names the files next to it, which ``check --profile`` reads
(:mod:`bpfdoctor.targetload`)::

    profile.json        "artifacts": {"vmlinux_btf": "vmlinux.btf", "modules_btf": "modules/",
                                      "functions": "functions.txt.gz", "tracepoints": null,
                                      "kconfig_complete": true}
    vmlinux.btf         raw BTF
    modules/<name>.btf  split BTF per module
    functions.txt.gz    one kprobe-able function per line
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from bpfdoctor import __version__, kfacts
from bpfdoctor.btf import Btf
from bpfdoctor.errors import BpfDoctorError, InputError
from bpfdoctor.fileio import read_capped
from bpfdoctor.kernelprofile import KernelProfile
from bpfdoctor.offline import synth
from bpfdoctor.offline.bzimage import extract_vmlinux
from bpfdoctor.offline.decompress import decompress
from bpfdoctor.offline.elfimage import read_elf
from bpfdoctor.offline.kallsyms import decode_kallsyms
from bpfdoctor.offline.modules import ModuleBtf, module_suffix, read_module
from bpfdoctor.offline.sysmap import parse_system_map
from bpfdoctor.offline.version import btf_lower_bound, distro_from_string, release_from_string
from bpfdoctor.probe.kconfig import decode_config_bytes, parse_kconfig
from bpfdoctor.targets import check_kernel_version

MAX_IMAGE_BYTES = 512 << 20
MAX_CONFIG_BYTES = 16 << 20
MAX_MODULES = 20000
PROFILE_NAME = "profile.json"
BTF_NAME = "vmlinux.btf"
MODULES_DIR = "modules"
FUNCTIONS_NAME = "functions.txt.gz"


@dataclass(frozen=True, slots=True)
class KernelFiles:
    """What the user handed us. Exactly one of ``vmlinuz``, ``vmlinux``, ``btf``."""

    config: Path | None = None
    vmlinuz: Path | None = None
    vmlinux: Path | None = None
    btf: Path | None = None
    system_map: Path | None = None
    modules: Path | None = None
    kernel_version: str | None = None


@dataclass(frozen=True, slots=True)
class OfflineKernel:
    """The synthesized profile and the artifacts that go next to it."""

    profile: KernelProfile
    vmlinux_btf: bytes | None
    modules: tuple[ModuleBtf, ...] | None  # None: not looked at; () : none have BTF
    functions: frozenset[str] | None
    functions_source: str | None
    kconfig_complete: bool
    notes: tuple[str, ...]


def _read(path: Path, what: str, limit: int) -> bytes:
    """A regular file's bytes, refused past ``limit`` (bpfdoctor.fileio)."""
    return read_capped(path, what, limit)


def _parse_btf(data: bytes, where: str) -> Btf:
    btf = Btf.from_bytes(data, source=where)
    if not kfacts.enum_values(btf, "bpf_prog_type"):
        raise InputError(f"{where}: BTF without enum bpf_prog_type: not a kernel's vmlinux BTF "
                         "(a module's or a program's?)")
    return btf


Progress = Callable[[str], None]


def _quiet(msg: str) -> None:
    del msg


def build(files: KernelFiles, progress: Progress = _quiet) -> OfflineKernel:
    """Read the named files and synthesize the kernel's profile and artifacts."""
    given = [p for p in (files.vmlinuz, files.vmlinux, files.btf) if p is not None]
    if len(given) != 1:
        raise InputError("give exactly one of --vmlinuz, --vmlinux or --btf")
    if files.kernel_version is not None:
        check_kernel_version(files.kernel_version, "--kernel-version")
    notes: list[str] = []

    kconfig: dict[str, str] | None = None
    if files.config is not None:
        raw = _read(files.config, "--config", MAX_CONFIG_BYTES)
        if raw[:2] == b"\x1f\x8b":  # config.gz: bounded here, a bomb must not reach gzip
            raw = decompress(raw, "gzip", f"--config {files.config}", MAX_CONFIG_BYTES)
        if b"\0" in raw[:4096] and raw[:2] != b"\x1f\x8b":
            raise InputError(f"--config {files.config}: binary file, not a kernel .config")
        kconfig = dict(parse_kconfig(decode_config_bytes(raw, str(files.config)),
                                     str(files.config)).values)

    version_string: str | None = None
    rodata: bytes | None = None
    arch = ""
    if files.btf is not None:
        btf_bytes = _read(files.btf, "--btf", MAX_IMAGE_BYTES)
        if btf_bytes.startswith(b"\x7fELF"):
            image = read_elf(btf_bytes, str(files.btf))
            if image.btf is None:
                raise InputError(f"--btf {files.btf}: ELF file without a .BTF section")
            btf_bytes, arch = image.btf, image.arch
        btf_source = str(files.btf)
    else:
        if files.vmlinuz is not None:
            progress("decompressing vmlinuz")
            kimage = extract_vmlinux(_read(files.vmlinuz, "--vmlinuz", MAX_IMAGE_BYTES),
                                     str(files.vmlinuz))
            elf_bytes, version_string = kimage.vmlinux, kimage.version_string
            btf_source = f"{files.vmlinuz} (.BTF of the {kimage.compression} payload)"
        else:
            assert files.vmlinux is not None
            elf_bytes = _read(files.vmlinux, "--vmlinux", MAX_IMAGE_BYTES << 1)
            if not elf_bytes.startswith(b"\x7fELF"):
                raise InputError(f"--vmlinux {files.vmlinux}: not an ELF file (for a "
                                 "compressed image use --vmlinuz)")
            btf_source = f"{files.vmlinux} (.BTF)"
        image = read_elf(elf_bytes, btf_source, want_rodata=True)
        del elf_bytes
        if image.btf is None:
            raise InputError(f"{btf_source}: the kernel has no .BTF section "
                             "(built without CONFIG_DEBUG_INFO_BTF)")
        btf_bytes, arch, rodata = image.btf, image.arch, image.rodata
        version_string = version_string or image.banner_release()
    progress("parsing BTF")
    btf = _parse_btf(btf_bytes, btf_source)
    if kconfig is not None and kconfig.get("CONFIG_DEBUG_INFO_BTF", "n") == "n":
        notes.append("the config says CONFIG_DEBUG_INFO_BTF is not set, but the image has BTF "
                     "(config and image from different builds?)")

    functions, functions_source = _functions(files, rodata, notes, progress)
    modules = _modules(files.modules, btf, notes, progress) if files.modules else None

    release = files.kernel_version or release_from_string(version_string)
    if release is None and modules:
        release = next((m.vermagic for m in modules if m.vermagic), None)
    version_note = ""
    if release is None:
        bound = btf_lower_bound(btf)
        if bound is None:
            raise InputError("cannot tell the kernel version from these files: pass "
                             "--kernel-version X.Y.Z")
        release = f"{bound}.0"
        version_note = f"estimated from BTF enums: at least {bound}"
        notes.append(f"kernel version unknown; {version_note} (pass --kernel-version to "
                     "be exact)")
    profile = synth.kernel_profile(
        release=release, arch=arch, distro=distro_from_string(version_string), btf=btf,
        btf_path=btf_source, btf_size=len(btf_bytes), kconfig=kconfig,
        kconfig_source=str(files.config) if files.config else None, version_known=True,
        modules=tuple(m.name for m in modules or ()), tool_version=__version__,
    )
    if version_note:
        profile = replace(profile, host=replace(profile.host, kernel_version=version_note))
    elif version_string:
        profile = replace(profile, host=replace(profile.host, kernel_version=version_string))
    return OfflineKernel(profile, btf_bytes, modules, functions, functions_source,
                         kconfig is not None, tuple(notes))


def _functions(files: KernelFiles, rodata: bytes | None, notes: list[str],
               progress: Progress) -> tuple[frozenset[str] | None, str | None]:
    if files.system_map is not None:
        raw = _read(files.system_map, "--system-map", MAX_IMAGE_BYTES)
        smap = parse_system_map(raw.decode("utf-8", "replace"), str(files.system_map))
        if not smap.placeholder:
            return smap.functions, "System.map"
        notes.append(f"{files.system_map} is a placeholder (the distribution ships the real "
                     "one in its -dbg package); reading kallsyms from the image instead")
    if rodata is None:
        if files.system_map is None:
            notes.append("no function list: give --system-map, or --vmlinuz/--vmlinux to read "
                         "kallsyms (kprobe targets will be 'unknown')")
        return None, None
    progress("decoding kallsyms")
    table = decode_kallsyms(rodata)
    if table is None:
        notes.append("no kallsyms table found in the image (CONFIG_KALLSYMS off, or a layout "
                     "this version does not know): kprobe targets will be 'unknown'")
        return None, None
    return table.text_symbols(), "kallsyms"


def _module_files(root: Path) -> list[Path]:
    if not root.is_dir():
        raise InputError(f"--modules {root}: not a directory")
    out: list[Path] = []
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            if module_suffix(name) is not None:
                out.append(Path(dirpath, name))
                if len(out) > MAX_MODULES:
                    raise InputError(f"--modules {root}: more than {MAX_MODULES} modules")
    return sorted(out)


def _modules(root: Path, base: Btf, notes: list[str], progress: Progress
             ) -> tuple[ModuleBtf, ...]:
    paths = _module_files(root)
    progress(f"reading {len(paths)} modules")
    out: dict[str, ModuleBtf] = {}
    without = 0
    bad: list[str] = []
    for path in paths:
        try:
            mod = read_module(_read(path, "module", MAX_IMAGE_BYTES), path.name, base)
        except BpfDoctorError as exc:
            bad.append(str(exc))
            continue
        if mod.btf is None:
            without += 1
            continue
        out.setdefault(mod.name, mod)
    if not paths:
        notes.append(f"--modules {root}: no .ko files found")
    elif not out:
        notes.append(f"none of the {len(paths)} modules has a .BTF section "
                     "(CONFIG_DEBUG_INFO_BTF_MODULES off?)")
    elif without:
        notes.append(f"{without} of {len(paths)} modules have no .BTF section")
    if bad:
        notes.append(f"{len(bad)} modules skipped: {bad[0]}" + (" ..." if len(bad) > 1 else ""))
    return tuple(out[k] for k in sorted(out))


# -- writing ---------------------------------------------------------------------------------


def profile_document(kernel: OfflineKernel) -> dict[str, object]:
    """``profile.json``: the profile plus the ``artifacts`` targetload resolves."""
    doc: dict[str, object] = kernel.profile.to_json()
    doc["artifacts"] = {
        "vmlinux_btf": BTF_NAME if kernel.vmlinux_btf is not None else None,
        "modules_btf": f"{MODULES_DIR}/" if kernel.modules is not None else None,
        "functions": FUNCTIONS_NAME if kernel.functions is not None else None,
        "tracepoints": None,
        "kconfig_complete": kernel.kconfig_complete,
    }
    # Not under artifacts: targetload resolves every string there as a path.
    doc["from_kernel"] = {"functions_source": kernel.functions_source,
                          "notes": list(kernel.notes)}
    return doc


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None


def write(kernel: OfflineKernel, out: Path) -> Path:
    """Write the profile and its artifacts under ``out``; returns the profile's path."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out {out}: cannot create: {exc.strerror or exc}") from None
    if kernel.vmlinux_btf is not None:
        _write(out / BTF_NAME, kernel.vmlinux_btf)
    if kernel.modules is not None:
        mdir = out / MODULES_DIR
        try:
            mdir.mkdir(exist_ok=True)
            for stale in mdir.glob("*.btf"):
                stale.unlink()
        except OSError as exc:
            raise InputError(f"cannot prepare {mdir}: {exc.strerror or exc}") from None
        for mod in kernel.modules:
            assert mod.btf is not None
            _write(mdir / f"{mod.name}.btf", mod.btf)
    if kernel.functions is not None:
        text = "".join(f"{name}\n" for name in sorted(kernel.functions)).encode()
        _write(out / FUNCTIONS_NAME, gzip.compress(text, compresslevel=6, mtime=0))
    target = out / PROFILE_NAME
    _write(target, (json.dumps(profile_document(kernel), separators=(",", ":")) + "\n").encode())
    return target
