"""Preflight configuration: ``[tool.bpfdoctor]`` in ``pyproject.toml`` or a ``bpfdoctor.toml``.

A CI gate must fail loudly on a typo rather than silently check nothing, so validation is
strict: unknown keys, wrong types, a bad target spec or an ignore entry without a reason each
raise one :class:`InputError` line naming the file and the key. Paths and globs are relative to
the directory holding the configuration file. Reading the file is the only I/O here; expanding
object globs is a separate step (:func:`expand_objects`).

Example (``bpfdoctor.toml``; in ``pyproject.toml`` the same keys sit under
``[tool.bpfdoctor]``)::

    objects = ["build/**/*.bpf.o"]
    loader = "libbpf=1.1"
    fail-on = "error"

    [targets]
    this-host = "live"
    debian-12 = "profile:ci/profiles/debian-6.1.json"
    lts = "kernel:5.10"
    ubuntu = { btf = "ci/btf/ubuntu-5.15.btf", kconfig = "ci/btf/config-5.15", kernel = "5.15.0" }

    [[ignore]]
    rule = "KC014"
    object = "build/legacy_*.bpf.o"
    program = "xdp_*"
    target = "lts"
    reason = "legacy loader path, tracked in #123"
"""

from __future__ import annotations

import fnmatch
import glob
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bpfdoctor.errors import InputError
from bpfdoctor.fileio import require_regular_file
from bpfdoctor.model import Finding, Severity
from bpfdoctor.targets import (
    DEFAULT_LOADER,
    LoaderSpec,
    TargetSpec,
    check_kernel_version,
    check_target_name,
    default_name,
    parse_loader,
    parse_target,
)

CONFIG_NAMES = ("bpfdoctor.toml", "pyproject.toml")
MAX_CONFIG_BYTES = 4 << 20  # a real bpfdoctor.toml / pyproject.toml is a few KiB
COMMAND_LINE = "<command line>"  # the source of a configuration built from flags alone

_TOP_KEYS = frozenset({"objects", "targets", "loader", "fail-on", "ignore", "jobs"})
_IGNORE_KEYS = frozenset({"rule", "object", "program", "target", "reason"})
_TARGET_TABLE_KEYS = frozenset(
    {"live", "profile", "btf", "kernel", "kconfig", "loader"}
)


@dataclass(frozen=True, slots=True)
class Ignore:
    """One suppressed rule, optionally narrowed to objects, programs and targets (globs).

    ``reason`` is mandatory: a suppression nobody can explain is a bug waiting to ship.
    """

    rule: str
    reason: str
    object: str | None = None
    program: str | None = None
    target: str | None = None

    def matches(self, finding: Finding, object_path: str, target_name: str) -> bool:
        if not fnmatch.fnmatchcase(finding.rule, self.rule):
            return False
        if self.object is not None and not _path_matches(object_path, self.object):
            return False
        if self.program is not None and (
            finding.program is None or not fnmatch.fnmatchcase(finding.program, self.program)
        ):
            return False
        return self.target is None or fnmatch.fnmatchcase(target_name, self.target)


def _path_matches(path: str, pattern: str) -> bool:
    """Match a glob against the path as given and against its file name alone."""
    p = Path(path)
    return (
        fnmatch.fnmatchcase(path, pattern)
        or fnmatch.fnmatchcase(p.as_posix(), pattern)
        or fnmatch.fnmatchcase(p.name, pattern)
        or p.match(pattern)
    )


@dataclass(frozen=True, slots=True)
class PreflightConfig:
    """Everything a preflight run needs, validated; ``root`` anchors relative paths."""

    source: str  # the file it came from, or "<command line>"
    root: Path
    objects: tuple[str, ...] = ()
    targets: tuple[TargetSpec, ...] = ()
    loader: LoaderSpec = DEFAULT_LOADER
    fail_on: Severity = Severity.ERROR
    ignores: tuple[Ignore, ...] = ()
    jobs: int | None = None


def find_config(start: Path) -> Path | None:
    """``bpfdoctor.toml`` wins over ``pyproject.toml``; a pyproject without the table is skipped."""
    for directory in (start, *start.parents):
        candidate = directory / "bpfdoctor.toml"
        if candidate.is_file():
            return candidate
        candidate = directory / "pyproject.toml"
        if candidate.is_file() and _has_tool_table(candidate):
            return candidate
        if (directory / ".git").exists():
            break
    return None


def _has_tool_table(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
        if len(raw) > MAX_CONFIG_BYTES:
            return False
        data = tomllib.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    tool = data.get("tool")
    return isinstance(tool, dict) and "bpfdoctor" in tool


def load_config(path: Path) -> PreflightConfig:
    """Read and validate one configuration file (a regular file of at most 4 MiB: a FIFO
    or ``/dev/zero`` given as ``--config`` must not hang or fill memory)."""
    require_regular_file(path, "--config")
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise InputError(f"{path}: configuration file not found") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read configuration: {exc.strerror or exc}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise InputError(f"{path}: larger than {MAX_CONFIG_BYTES >> 20} MiB: not a "
                         "configuration file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: cannot read configuration: not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML: {exc}") from None
    if path.name == "pyproject.toml":
        tool = data.get("tool", {})
        table = tool.get("bpfdoctor") if isinstance(tool, dict) else None
        if not isinstance(table, dict):
            raise InputError(f"{path}: no [tool.bpfdoctor] table")
        prefix = "tool.bpfdoctor."
    else:
        table, prefix = data, ""
    return parse_config(table, source=str(path), root=path.parent, prefix=prefix)


def parse_config(
    table: Mapping[str, Any], *, source: str, root: Path, prefix: str = ""
) -> PreflightConfig:
    """Validate an already-parsed table; every error names ``source`` and the dotted key."""

    def where(key: str) -> str:
        return f"{source}: {prefix}{key}"

    for key in table:
        if key not in _TOP_KEYS:
            raise InputError(
                f"{where(key)}: unknown key (known: {', '.join(sorted(_TOP_KEYS))})"
            )

    objects = tuple(_str_list(table.get("objects", []), where("objects")))
    targets = _targets(table.get("targets", {}), where("targets"))
    loader = DEFAULT_LOADER
    if "loader" in table:
        loader = parse_loader(_str(table["loader"], where("loader")), where("loader"))
    fail_on = Severity.ERROR
    if "fail-on" in table:
        raw = _str(table["fail-on"], where("fail-on"))
        try:
            fail_on = Severity(raw.lower())
        except ValueError:
            raise InputError(
                f"{where('fail-on')}: unknown severity {raw!r} (use error, warning or info)"
            ) from None
    jobs: int | None = None
    if "jobs" in table:
        value = table["jobs"]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise InputError(f"{where('jobs')}: must be a positive integer")
        jobs = value
    ignores = _ignores(table.get("ignore", []), where("ignore"), {t.name for t in targets})
    return PreflightConfig(source, root, objects, targets, loader, fail_on, ignores, jobs)


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{where}: must be a non-empty string")
    return value.strip()


def _str_list(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise InputError(f"{where}: must be a list of strings")
    return [_str(item, f"{where}[{i}]") for i, item in enumerate(value)]


def _targets(value: Any, where: str) -> tuple[TargetSpec, ...]:
    """``targets`` is a table name -> spec (the matrix columns), or a plain list of specs."""
    specs: list[TargetSpec] = []
    if isinstance(value, list):
        for i, item in enumerate(value):
            specs.append(parse_target(_str(item, f"{where}[{i}]"), f"{where}[{i}]"))
    elif isinstance(value, dict):
        for name, item in value.items():
            key = f"{where}.{name}"
            if isinstance(item, str):
                spec = parse_target(item, key)
            elif isinstance(item, dict):
                spec = _target_table(item, key)
            else:
                raise InputError(f"{key}: must be a target string or a table")
            if spec.name not in (name, default_name(spec.kind, spec.value)):
                raise InputError(f"{key}: name={spec.name} differs from the table key {name!r}")
            specs.append(replace(spec, name=check_target_name(name, key)))
    else:
        raise InputError(f"{where}: must be a table of name = target, or a list of targets")
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise InputError(f"{where}: two targets are named {spec.name!r}")
        seen.add(spec.name)
    return tuple(specs)


def _target_table(item: Mapping[str, Any], where: str) -> TargetSpec:
    """``{ btf = "...", kconfig = "...", kernel = "5.15.0" }`` and friends."""
    for key in item:
        if key not in _TARGET_TABLE_KEYS:
            raise InputError(
                f"{where}.{key}: unknown key (known: {', '.join(sorted(_TARGET_TABLE_KEYS))})"
            )
    kinds = [k for k in ("live", "profile", "btf") if k in item]
    if "kernel" in item and "btf" not in item:
        kinds.append("kernel")
    if len(kinds) != 1:
        raise InputError(f"{where}: give exactly one of live, profile, btf or kernel")
    kind = kinds[0]
    parts: list[str]
    if kind == "live":
        if item["live"] is not True:
            raise InputError(f"{where}.live: must be true")
        parts = ["live"]
    else:
        parts = [f"{kind}:{_str(item[kind], f'{where}.{kind}')}"]
    if kind == "btf" and "kernel" in item:
        parts.append(
            f"kernel={check_kernel_version(_str(item['kernel'], f'{where}.kernel'), where)}"
        )
    if "kconfig" in item:
        parts.append(f"kconfig={_str(item['kconfig'], f'{where}.kconfig')}")
    if "loader" in item:
        parts.append(f"loader={_str(item['loader'], f'{where}.loader')}")
    return parse_target(",".join(parts), where)


def _ignores(value: Any, where: str, target_names: set[str]) -> tuple[Ignore, ...]:
    if not isinstance(value, list):
        raise InputError(f"{where}: must be an array of tables ([[ignore]])")
    out: list[Ignore] = []
    for i, item in enumerate(value):
        key = f"{where}[{i}]"
        if not isinstance(item, dict):
            raise InputError(f"{key}: must be a table with rule and reason")
        for k in item:
            if k not in _IGNORE_KEYS:
                raise InputError(
                    f"{key}.{k}: unknown key (known: {', '.join(sorted(_IGNORE_KEYS))})"
                )
        if "rule" not in item:
            raise InputError(f"{key}.rule: missing (the rule code to ignore, e.g. KC003)")
        if "reason" not in item:
            raise InputError(f"{key}.reason: missing (say why this rule is ignored)")
        target = _opt_str(item, "target", key)
        if target is not None and not any(fnmatch.fnmatchcase(n, target) for n in target_names):
            raise InputError(f"{key}.target: {target!r} names no configured target")
        out.append(
            Ignore(
                rule=_str(item["rule"], f"{key}.rule").upper(),
                reason=_str(item["reason"], f"{key}.reason"),
                object=_opt_str(item, "object", key),
                program=_opt_str(item, "program", key),
                target=target,
            )
        )
    return tuple(out)


def _opt_str(item: Mapping[str, Any], name: str, where: str) -> str | None:
    return _str(item[name], f"{where}.{name}") if name in item else None


def expand_objects(patterns: Sequence[str], root: Path, where: str = "objects") -> list[Path]:
    """Expand globs (``**`` allowed) relative to ``root``; a pattern matching nothing is an error.

    A CI gate that checks zero objects because the build moved its output must not pass.
    """
    found: dict[Path, None] = {}
    for pattern in patterns:
        base = Path(pattern)
        full = base if base.is_absolute() else root / base
        if glob.has_magic(pattern):
            matches = sorted(Path(p) for p in glob.glob(str(full), recursive=True))
            matches = [m for m in matches if m.is_file()]
        else:
            require_regular_file(full, f"{where}: {pattern!r}:")
            matches = [full] if full.is_file() else []
        if not matches:
            raise InputError(f"{where}: {pattern!r} matched no file (relative to {root})")
        for m in matches:
            found[m] = None
    return list(found)
