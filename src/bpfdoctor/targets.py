"""Target and loader specifications: *which kernel* and *which loader* an object is checked for.

These are pure values parsed from short strings, so the same spelling works on the command
line (``--target profile:debian.json``), in ``bpfdoctor.toml`` and in a CI matrix. Nothing
here opens the files a spec names; the check layer does that when it builds the target.

Target spellings (``parse_target``)::

    live                              this machine, through the probe layer
    profile:PATH                      a profile saved by ``bpfdoctor probe --save``
    btf:PATH                          a kernel's BTF (raw, or an ELF with .BTF)
    kernel:X.Y[.Z]                    the knowledge base alone (alias ``kernel-version:``)
    none                              no target: inventory only

followed by optional ``,key=value`` options: ``name=LABEL`` (the column title in a matrix),
``kconfig=PATH`` and ``kernel=X.Y.Z`` (for ``btf:`` targets), ``loader=SPEC``.

Loader spellings (``parse_loader``): ``libbpf[=1.1]``, ``iproute2``, ``iproute2-legacy``,
``cilium-ebpf``, ``bcc``, ``aya``, ``bpftool``, each optionally ``=VERSION``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePath
from typing import Literal, cast, get_args

from bpfdoctor.errors import InputError

TargetKind = Literal["live", "profile", "btf", "kernel-version", "none"]
LoaderName = Literal[
    "libbpf", "iproute2", "iproute2-legacy", "cilium-ebpf", "bcc", "aya", "bpftool"
]

TARGET_KINDS: tuple[str, ...] = get_args(TargetKind)
LOADER_NAMES: tuple[str, ...] = get_args(LoaderName)

# Prefix spellings accepted on input -> canonical kind.
_KIND_ALIASES: dict[str, TargetKind] = {
    "live": "live",
    "profile": "profile",
    "btf": "btf",
    "kernel-btf": "btf",
    "kernel": "kernel-version",
    "kernel-version": "kernel-version",
    "none": "none",
}
_NEEDS_VALUE: frozenset[str] = frozenset({"profile", "btf", "kernel-version"})
_OPTION_KEYS: frozenset[str] = frozenset({"name", "kconfig", "kernel", "loader"})

_KERNEL_VERSION = re.compile(r"^(\d{1,3})\.(\d{1,3})(?:\.(\d{1,5}))?$")
_LOADER_VERSION = re.compile(r"^v?\d+(?:\.\d+){0,3}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")


@dataclass(frozen=True, slots=True)
class LoaderSpec:
    """What will load the object; loaders differ in what they accept and rewrite.

    ``version`` is ``None`` for "the current release" of that loader.
    """

    name: LoaderName
    version: str | None = None

    def __str__(self) -> str:
        return self.name if self.version is None else f"{self.name}={self.version}"

    @property
    def version_tuple(self) -> tuple[int, ...] | None:
        if self.version is None:
            return None
        return tuple(int(p) for p in self.version.lstrip("v").split("."))


DEFAULT_LOADER = LoaderSpec("libbpf")


@dataclass(frozen=True, slots=True)
class TargetSpec:
    """One kernel to check against, with the label it carries in reports.

    ``value`` is the path (profile, btf) or the version (kernel-version); ``None`` for live and
    none. ``kconfig`` and ``kernel_version`` refine a ``btf`` target. ``loader`` is ``None``
    when the run-wide loader applies.
    """

    kind: TargetKind
    value: str | None
    name: str
    kconfig: str | None = None
    kernel_version: str | None = None
    loader: LoaderSpec | None = None

    def __str__(self) -> str:
        head = self.kind if self.value is None else f"{_short_kind(self.kind)}:{self.value}"
        opts = [f"name={self.name}"] if self.name != default_name(self.kind, self.value) else []
        if self.kconfig is not None:
            opts.append(f"kconfig={self.kconfig}")
        if self.kernel_version is not None and self.kind != "kernel-version":
            opts.append(f"kernel={self.kernel_version}")
        if self.loader is not None:
            opts.append(f"loader={self.loader}")
        return ",".join([head, *opts])


def _short_kind(kind: TargetKind) -> str:
    return "kernel" if kind == "kernel-version" else kind


def default_name(kind: TargetKind, value: str | None) -> str:
    """The label a target gets when none is given: short, stable, and readable as a column."""
    if value is None:
        return kind
    if kind == "kernel-version":
        return f"kernel-{value}"
    stem = PurePath(value).name
    for suffix in (".json", ".btf"):
        if stem.endswith(suffix) and len(stem) > len(suffix):
            stem = stem[: -len(suffix)]
    stem = re.sub(r"[^A-Za-z0-9._+-]+", "-", stem).strip("-._+")[:64]
    return stem or kind


def check_kernel_version(text: str, where: str) -> str:
    """Return ``text`` when it reads as X.Y or X.Y.Z, else raise one line naming ``where``."""
    if not _KERNEL_VERSION.match(text):
        raise InputError(f"{where}: kernel version {text!r} is not X.Y or X.Y.Z (e.g. 5.10)")
    return text


def check_target_name(name: str, where: str) -> str:
    """A target name becomes a table column, a JUnit suite and a file-name part: keep it plain."""
    if not _NAME.match(name):
        raise InputError(
            f"{where}: target name {name!r} must be 1-64 letters, digits, '.', '_', '+' or '-'"
        )
    return name


def parse_loader(text: str, where: str = "--loader") -> LoaderSpec:
    """``libbpf``, ``libbpf=1.1``, ``cilium-ebpf=0.17.1`` ... -> :class:`LoaderSpec`."""
    raw = text.strip()
    name, sep, version = raw.partition("=")
    name = name.strip().lower()
    if name not in LOADER_NAMES:
        raise InputError(
            f"{where}: unknown loader {name or raw!r} (use one of {', '.join(LOADER_NAMES)})"
        )
    if not sep:
        return LoaderSpec(cast(LoaderName, name))
    version = version.strip()
    if not _LOADER_VERSION.match(version):
        raise InputError(f"{where}: loader version {version!r} is not a dotted number (e.g. 1.1)")
    return LoaderSpec(cast(LoaderName, name), version.lstrip("v"))


def parse_target(text: str, where: str = "--target") -> TargetSpec:
    """Parse one target spelling (see the module docstring); bad specs raise one-line errors."""
    raw = text.strip()
    if not raw:
        raise InputError(f"{where}: empty target (use live, profile:FILE, btf:FILE or kernel:X.Y)")
    head, *option_parts = raw.split(",")
    options: dict[str, str] = {}
    for part in option_parts:
        key, sep, val = part.partition("=")
        key = key.strip().lower()
        if not sep or key not in _OPTION_KEYS:
            raise InputError(
                f"{where}: bad option {part.strip()!r} in {raw!r} "
                f"(options are {', '.join(sorted(_OPTION_KEYS))} as key=value)"
            )
        if key in options:
            raise InputError(f"{where}: option {key!r} given twice in {raw!r}")
        if not val.strip():
            raise InputError(f"{where}: option {key!r} has an empty value in {raw!r}")
        options[key] = val.strip()

    prefix, sep, value = head.partition(":")
    kind = _KIND_ALIASES.get(prefix.strip().lower())
    if kind is None:
        raise InputError(
            f"{where}: unknown target {head.strip()!r} "
            "(use live, profile:FILE, btf:FILE, kernel:X.Y or none)"
        )
    target_value: str | None = value.strip() if sep else None
    if kind in _NEEDS_VALUE and not target_value:
        hint = "X.Y" if kind == "kernel-version" else "FILE"
        raise InputError(f"{where}: target {prefix.strip()!r} needs a value ({prefix.strip()}:{hint})")
    if kind not in _NEEDS_VALUE and target_value:
        raise InputError(f"{where}: target {kind!r} takes no value (got {target_value!r})")

    kernel_version = options.get("kernel")
    if kind == "kernel-version":
        assert target_value is not None
        check_kernel_version(target_value, where)
        if kernel_version is not None:
            raise InputError(f"{where}: kernel= is only for btf: targets; kernel:X.Y already names one")
        kernel_version = target_value
    elif kernel_version is not None:
        if kind != "btf":
            raise InputError(f"{where}: kernel= is only for btf: targets (got {kind!r})")
        check_kernel_version(kernel_version, where)
    kconfig = options.get("kconfig")
    if kconfig is not None and kind != "btf":
        raise InputError(f"{where}: kconfig= is only for btf: targets (got {kind!r})")

    name = check_target_name(options.get("name") or default_name(kind, target_value), where)
    loader = parse_loader(options["loader"], where) if "loader" in options else None
    return TargetSpec(kind, target_value, name, kconfig, kernel_version, loader)


NO_TARGET = TargetSpec("none", None, "none")
