"""Which kernel a set of files describes: its release string, or a lower bound from BTF.

Clues, best first: ``--kernel-version``; the bzImage header's ``kernel_version`` string; the
``linux_banner`` ("Linux version 6.1.0-18-amd64 ...") in the vmlinux; a module's
``vermagic``. With BTF alone there is no version string, but the newest helper, program type,
map type or BTF kind the kernel knows gives a lower bound ("at least 6.1"): useful to print,
never used for version arithmetic (a newer kernel would be misjudged).

Pure.
"""

from __future__ import annotations

import re

from packaging.version import Version

from bpfdoctor.btf import Btf
from bpfdoctor.kfacts import ENUM_GROUPS, enum_values, short_names
from bpfdoctor.knowledge.kb import KnowledgeBase

_RELEASE = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?")
_KB_KIND = {"prog_types": "prog_type", "map_types": "map_type", "helpers": "helper",
            "attach": "attach_type", "link_types": "link_type"}


def release_from_string(text: str | None) -> str | None:
    """``6.1.0-18-amd64 (debian-kernel@...) #1 SMP ...`` -> ``6.1.0-18-amd64``."""
    if not text:
        return None
    word = text.split()[0] if text.split() else ""
    return word if _RELEASE.match(word) else None


def distro_from_string(text: str | None) -> str | None:
    """A distribution name when the build string names one (``... Debian 6.1.76-1 ...``)."""
    if not text:
        return None
    for name in ("Debian", "Ubuntu", "Red Hat", "SUSE", "Fedora", "Arch Linux", "Alpine"):
        if name in text:
            return name
    return None


def btf_lower_bound(btf: Btf) -> str | None:
    """The newest upstream version among the items the kernel's enums list (``X.Y``)."""
    kb = KnowledgeBase.load()
    best: Version | None = None
    for group, enum, prefix, add in ENUM_GROUPS:
        for name in short_names(enum_values(btf, enum), prefix, add):
            mk = kb.min_kernel(_KB_KIND[group], name)
            if mk is None:
                continue
            v = Version(mk)
            if best is None or v > best:
                best = v
    return f"{best.major}.{best.minor}" if best is not None else None
