"""The knowledge base: when each BPF helper, type, flag and feature reached upstream Linux.

Data comes from ``knowledge.json`` (built by tools/gen_knowledge.py from the committed excerpts
in tools/knowledge_sources/, method and disagreements in docs/knowledge.md). Everything here is
pure: reading the package data is the only I/O, and nothing looks at the running kernel.

Versions are *upstream* versions. Distribution kernels backport features, so a target's BTF or a
probed profile must always win over this table; callers should say which one they used.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from packaging.version import Version

from bpfdoctor.errors import InputError

KINDS = (
    "helper", "prog_type", "map_type", "map_flag", "attach_type", "link_type",
    "btf_kind", "isa", "feature",
)  # fmt: skip
LOCKDOWN_MODES = ("integrity", "confidentiality")
_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.\d+)?(?:[-+~_.].*)?$")


@dataclass(frozen=True, slots=True)
class KnowledgeEntry:
    """One fact: ``name`` of ``kind`` appeared upstream in ``min_kernel``, per ``source``.

    ``disagreement`` says what another source claims when sources differ (the value used is
    explained there); ``confidence`` is ``high`` when a cited table or commit states it and
    ``medium`` for hand-written rows from release history.
    """

    name: str
    kind: str
    min_kernel: str | None
    source: str
    gpl_only: bool | None = None
    notes: str | None = None
    disagreement: str | None = None
    commit: str | None = None
    confidence: str | None = None
    lockdown: str | None = None
    capability: str | None = None


@dataclass(frozen=True, slots=True)
class ProgTypeHelpers:
    """Helpers one program type may call (its ``get_func_proto()``), with how we know.

    ``complete`` is False when some attach variants could not be probed and the set was
    filled from kernel sources, or when the set is only a documented subset.
    """

    prog_type: str
    helpers: frozenset[str] | None
    complete: bool
    probed_on: str | None
    added_from_source: Mapping[str, str]
    restricted: Mapping[str, str]
    notes: str | None


def parse_kernel_version(text: str) -> Version:
    """``'5.15.0-91-generic'`` -> ``Version('5.15')``: only major.minor decide upstream support."""
    m = _VERSION.match(text.strip())
    if not m:
        raise InputError(f"not a kernel version: {text!r} (expected e.g. 5.15 or 6.1.0-18-amd64)")
    return Version(f"{m.group(1)}.{m.group(2)}")


def _normalize(kind: str, name: str) -> str:
    """Accept the spellings people paste (enum names, prefixes) and map them to ours."""
    n = name.strip()
    if kind == "helper":
        n = n.removeprefix("BPF_FUNC_")
        return n if n.startswith("bpf_") else "bpf_" + n
    if kind == "prog_type":
        return n.removeprefix("BPF_PROG_TYPE_").lower()
    if kind == "map_type":
        return n.removeprefix("BPF_MAP_TYPE_").lower()
    if kind == "link_type":
        return n.removeprefix("BPF_LINK_TYPE_").lower()
    if kind == "attach_type":
        return n.removeprefix("BPF_").lower()
    if kind == "map_flag":
        n = n.upper()
        return n if n.startswith("BPF_F_") else "BPF_F_" + n
    if kind == "btf_kind":
        return n.upper().removeprefix("BTF_KIND_")
    return n.lower()


class KnowledgeBase:
    """Read-only view of knowledge.json. Use :meth:`load` (cached) rather than the constructor."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._entries: dict[str, dict[str, KnowledgeEntry]] = {}
        for kind in KINDS:
            rows = data["entries"].get(kind, {})
            self._entries[kind] = {
                name: KnowledgeEntry(
                    name=name,
                    kind=kind,
                    min_kernel=row.get("min_kernel"),
                    source=row.get("source", ""),
                    gpl_only=row.get("gpl_only"),
                    notes=row.get("notes"),
                    disagreement=row.get("disagreement"),
                    commit=row.get("commit") or None,
                    confidence=row.get("confidence"),
                    lockdown=row.get("lockdown"),
                    capability=row.get("capability"),
                )
                for name, row in rows.items()
            }
        self._prog_helpers: dict[str, dict[str, Any]] = dict(data.get("prog_type_helpers", {}))
        self._lockdown: dict[str, frozenset[str]] = {
            mode: frozenset(data.get("lockdown_helpers", {}).get(mode, []))
            for mode in LOCKDOWN_MODES
        }
        self.probe_kernel: str | None = data.get("probe_kernel")

    @classmethod
    def load(cls) -> KnowledgeBase:
        """The packaged knowledge base, parsed once per process."""
        return _packaged()

    # -- lookups ---------------------------------------------------------------------------

    def _kind(self, kind: str) -> dict[str, KnowledgeEntry]:
        try:
            return self._entries[kind]
        except KeyError:
            raise InputError(
                f"unknown knowledge kind {kind!r} (one of {', '.join(KINDS)})"
            ) from None

    def names(self, kind: str) -> frozenset[str]:
        return frozenset(self._kind(kind))

    def entry(self, kind: str, name: str) -> KnowledgeEntry | None:
        return self._kind(kind).get(_normalize(kind, name))

    def min_kernel(self, kind: str, name: str) -> str | None:
        e = self.entry(kind, name)
        return e.min_kernel if e else None

    def supported_at(self, kind: str, name: str, kernel_version: str) -> bool | None:
        """Whether upstream ``kernel_version`` has it; None when we do not know the name."""
        target = parse_kernel_version(kernel_version)
        e = self.entry(kind, name)
        if e is None or e.min_kernel is None:
            return None
        return Version(e.min_kernel) <= target

    # -- helpers ---------------------------------------------------------------------------

    def gpl_only_helpers(self) -> frozenset[str]:
        return frozenset(n for n, e in self._entries["helper"].items() if e.gpl_only)

    def lockdown_helpers(self, mode: str | None = None) -> frozenset[str]:
        """Helpers withheld under lockdown; ``mode`` narrows to what that mode denies.

        ``integrity`` denies only the integrity reasons (bpf_probe_write_user);
        ``confidentiality`` denies those and the kernel-memory reads.
        """
        if mode is None or mode == "confidentiality":
            return self._lockdown["integrity"] | self._lockdown["confidentiality"]
        if mode == "integrity":
            return self._lockdown["integrity"]
        if mode == "none":
            return frozenset()
        raise InputError(f"unknown lockdown mode {mode!r} (none, integrity or confidentiality)")

    def capability_helpers(self, capability: str) -> frozenset[str]:
        """Helpers bpf_base_func_proto() only offers with ``CAP_BPF`` or ``CAP_PERFMON``."""
        return frozenset(
            n for n, e in self._entries["helper"].items() if e.capability == capability
        )

    def prog_type_helpers(self, prog_type: str) -> ProgTypeHelpers | None:
        key = _normalize("prog_type", prog_type)
        row = self._prog_helpers.get(key)
        if row is None:
            return None
        helpers = row.get("helpers")
        return ProgTypeHelpers(
            prog_type=key,
            helpers=frozenset(helpers) if helpers is not None else None,
            complete=bool(row.get("complete")),
            probed_on=row.get("probed_on"),
            added_from_source=dict(row.get("added_from_source", {})),
            restricted=dict(row.get("restricted", {})),
            notes=row.get("notes"),
        )

    def helpers_for_prog_type(
        self, prog_type: str, attach_type: str | None = None
    ) -> frozenset[str] | None:
        """Helpers ``prog_type`` may call (None when unknown, e.g. ``ext``).

        With ``attach_type``, the set probed for that expected attach type where one was
        probed (some helpers depend on it, e.g. bpf_bind only in connect hooks), plus
        the source-derived additions; otherwise the union over all attach types.
        """
        info = self.prog_type_helpers(prog_type)
        if info is None or info.helpers is None:
            return None
        if attach_type is None:
            return info.helpers
        row = self._prog_helpers[info.prog_type]
        wanted = _normalize("attach_type", attach_type)
        chosen: set[str] = set()
        for key, helpers in row.get("variants", {}).items():
            if key.split("/")[1] == wanted:
                chosen |= set(helpers)
        if not chosen:
            return info.helpers
        return frozenset(chosen | set(info.added_from_source))


@functools.cache
def _packaged() -> KnowledgeBase:
    text = resources.files("bpfdoctor.knowledge").joinpath("knowledge.json").read_text()
    return KnowledgeBase(json.loads(text))
