"""UAPI enum values and their short names, from uapi_enums.json (tools/gen_uapi_enums.py).

Short names follow libbpf's ``libbpf_bpf_*_type_str()`` and bpftool: lowercase, no prefix
(``xdp``, ``sched_cls``, ``hash``, ``ringbuf``); helpers keep their ``bpf_`` prefix
(``bpf_map_lookup_elem``) as in bpf_helper_defs.h.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any


@functools.cache
def _raw() -> dict[str, Any]:
    text = resources.files("bpfdoctor.knowledge").joinpath("uapi_enums.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def _short(enum: str, prefix: str) -> dict[int, str]:
    return {v: k[len(prefix):].lower() for k, v in _raw()[enum].items()}


@functools.cache
def helpers() -> dict[int, str]:
    """Helper id -> name, e.g. 1 -> 'bpf_map_lookup_elem' (id 0 'unspec' excluded)."""
    return {v: "bpf_" + k[len("BPF_FUNC_"):] for k, v in _raw()["bpf_func_id"].items() if v}


@functools.cache
def helper_ids() -> dict[str, int]:
    return {name: hid for hid, name in helpers().items()}


@functools.cache
def prog_types() -> dict[int, str]:
    return _short("bpf_prog_type", "BPF_PROG_TYPE_")


@functools.cache
def map_types() -> dict[int, str]:
    return _short("bpf_map_type", "BPF_MAP_TYPE_")


@functools.cache
def link_types() -> dict[int, str]:
    return _short("bpf_link_type", "BPF_LINK_TYPE_")


@functools.cache
def attach_types() -> dict[int, str]:
    """Attach type id -> enum name without the ``BPF_`` prefix, lowercase (``cgroup_inet_ingress``)."""
    return {v: k[len("BPF_"):].lower() for k, v in _raw()["bpf_attach_type"].items()}


@functools.cache
def map_flags() -> dict[str, int]:
    """Map flag name (``BPF_F_MMAPABLE``) -> bit value."""
    return dict(_raw()["map_flags"])


def helper_name(helper_id: int) -> str | None:
    return helpers().get(helper_id)


def flag_names(flags: int) -> list[str]:
    """Names of the map flag bits set in ``flags``; unknown bits as hex."""
    names = [name for name, bit in map_flags().items() if flags & bit]
    known = 0
    for bit in map_flags().values():
        known |= bit
    if flags & ~known:
        names.append(hex(flags & ~known))
    return names
