"""The target kernel as checks see it: one frozen value, whatever it was built from.

A saved profile, a live kernel, a kernel's BTF file and a bare version all become a
:class:`Target`, so every check reads kernel facts the same way (STYLE.md habit 4). Facts
that a source cannot give stay ``None`` and the checks answer ``unknown`` for them rather
than guessing. ``facts_source`` is named in every finding: distro backports make version
arithmetic unreliable, so a profile or BTF always wins over the version table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bpfdoctor.model import TargetInfo
from bpfdoctor.targets import DEFAULT_LOADER, LoaderSpec

if TYPE_CHECKING:
    from bpfdoctor.btf import Btf
    from bpfdoctor.kernelprofile import KernelProfile


@dataclass(frozen=True, slots=True)
class PinnedMap:
    """A map already pinned in bpffs on a live target (compared with the object's maps)."""

    path: str
    name: str
    type: str
    key_size: int
    value_size: int
    max_entries: int
    flags: int
    map_extra: int = 0


@dataclass(frozen=True, slots=True)
class Target:
    """Everything known about the kernel an object is checked against.

    - ``profile``: feature states, kconfig, security, filesystems (synthesized for btf and
      kernel-version targets, with ``unknown`` where the source says nothing).
    - ``facts_source``: ``live`` | ``profile`` | ``btf`` | ``version-table``.
    - ``btf``: the kernel's vmlinux BTF when available (CO-RE, fentry/lsm targets, kfuncs).
    - ``module_btf``: module name -> loader of its split BTF (``None`` when unknown; an empty
      mapping means "known: no module BTF at all").
    - ``functions``: kprobe-able function names (available_filter_functions, kallsyms or
      System.map text symbols), ``None`` when unknown.
    - ``tracepoints``: ``category/name`` entries, ``None`` when unknown.
    - ``pinned_maps``: maps under mounted bpffs (live only), ``None`` when not looked at.
    - ``kconfig_complete``: the profile's kconfig is the kernel's whole config, so an option
      missing from it is really unset (saved profiles keep only BPF-relevant options).
    """

    info: TargetInfo
    profile: KernelProfile
    facts_source: str
    kernel_version: str | None = None
    btf: Btf | None = None
    module_btf: Mapping[str, Callable[[], Btf]] | None = None
    functions: frozenset[str] | None = None
    tracepoints: frozenset[str] | None = None
    pinned_maps: tuple[PinnedMap, ...] | None = None
    loader: LoaderSpec = field(default=DEFAULT_LOADER)
    kconfig_complete: bool = False  # profile.kconfig holds the whole config, not a BPF subset
    notes: tuple[str, ...] = ()
