"""Mutation fuzzing: corrupted real BTF / BTF.ext may only ever raise BtfError.

Seeds are a builder blob with every kind (both byte orders), a slice of the running kernel's
vmlinux BTF, and clang-built objects. Every parsed result is then exercised the way checks use
it (decode each type, resolve, size_of, find, validate, describe relocations).
"""

from __future__ import annotations

import contextlib
import functools
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpfdoctor.btf import Btf, BtfBuilder, BtfExt, c_type, describe
from bpfdoctor.errors import BtfError
from test_btf_decoder import every_kind
from test_btf_support import VMLINUX, build_kinds_objects, section

INTERESTING = [
    0,
    1,
    2,
    3,
    4,
    8,
    12,
    0x7F,
    0x80,
    0xFF,
    0xFFFF,
    0x10000,
    0x7FFFFFFF,
    0x80000000,
    0xFFFFFFFF,
    0x13000000,
    0x14000000,
    0x0400FFFF,
    0x8D000001,
]

mutation = st.lists(
    st.tuples(
        st.sampled_from(["byte", "word", "truncate"]),
        st.integers(min_value=0, max_value=1 << 30),
        st.integers(min_value=0, max_value=255),
        st.sampled_from(INTERESTING),
    ),
    min_size=1,
    max_size=4,
)

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def mutate(blob: bytes, ops: list[tuple[str, int, int, int]], start: int = 0) -> bytes:
    """Apply byte flips, aligned u32 overwrites and truncations at positions >= ``start``."""
    data = bytearray(blob)
    for op, pos, byte, word in ops:
        if len(data) <= start:
            break
        at = start + pos % (len(data) - start)
        if op == "byte":
            data[at] = byte
        elif op == "word":
            at -= at % 4
            if at + 4 <= len(data):
                data[at : at + 4] = struct.pack("<I", word)
        else:
            del data[at:]
    return bytes(data)


def exercise(btf: Btf, limit: int = 2000, finds: int = 25) -> None:
    btf.kind_counts()
    for tid in range(btf.start_id, min(btf.type_count, btf.start_id + limit) + 1):
        t = btf.type(tid)
        btf.resolve(tid)
        btf.size_of(tid)
        assert c_type(btf, tid)
        # Each find scans the string section: keep the count small. Names that were not valid
        # UTF-8 decode with U+FFFD and cannot be looked up by their decoded text.
        if t.name and finds > 0 and "\ufffd" not in t.name:
            finds -= 1
            assert tid in btf.find(t.name)
    btf.find("int")
    btf.validate()


def _builder_blob(endian: str) -> bytes:
    b = BtfBuilder()
    every_kind(b)
    return b.encode(endian)  # type: ignore[arg-type]


SEEDS = {"little": _builder_blob("little"), "big": _builder_blob("big")}


@FUZZ
@given(endian=st.sampled_from(["little", "big"]), ops=mutation)
def test_mutated_builder_btf_only_raises_btf_error(
    endian: str, ops: list[tuple[str, int, int, int]]
) -> None:
    blob = mutate(SEEDS[endian], ops)
    with contextlib.suppress(BtfError):
        exercise(Btf.from_bytes(blob))


def _vmlinux_slice(types: int = 300) -> bytes:
    """The first ``types`` types of vmlinux with its whole string section."""
    full = Btf.from_bytes(VMLINUX.read_bytes())
    data = VMLINUX.read_bytes()
    hdr = struct.unpack_from("<HBBIIIII", data)
    hdr_len, type_off, str_off, str_len = hdr[3], hdr[4], hdr[6], hdr[7]
    end = full._offsets[types] * 4  # word offset of the first type left out
    type_sec = data[hdr_len + type_off : hdr_len + type_off + end]
    strs = data[hdr_len + str_off : hdr_len + str_off + str_len]
    head = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(type_sec), len(type_sec), len(strs))
    return head + type_sec + strs


@pytest.mark.skipif(not VMLINUX.exists(), reason="no /sys/kernel/btf/vmlinux")
@FUZZ
@given(ops=mutation)
def test_mutated_vmlinux_slice_only_raises_btf_error(ops: list[tuple[str, int, int, int]]) -> None:
    seed = _VMLINUX_SEED.get("blob")
    if seed is None:
        seed = _VMLINUX_SEED["blob"] = _vmlinux_slice()
    # Mutate the header and the type section, not the 2 MB of strings.
    type_len = struct.unpack_from("<I", seed, 12)[0]
    head_and_types = mutate(seed[: 24 + type_len], ops)
    blob = head_and_types + seed[24 + type_len :]
    with contextlib.suppress(BtfError):
        exercise(Btf.from_bytes(blob), limit=300)


_VMLINUX_SEED: dict[str, bytes] = {}


@pytest.fixture(scope="module")
def object_seeds(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[bytes, bytes]]:
    objs = build_kinds_objects(tmp_path_factory)
    return [(section(p, ".BTF"), section(p, ".BTF.ext")) for p in objs.values()]


@pytest.mark.clang
@FUZZ
@given(which=st.integers(min_value=0, max_value=1), ops=mutation, target=st.booleans())
def test_mutated_object_btf_and_ext_only_raise_btf_error(
    object_seeds: list[tuple[bytes, bytes]],
    which: int,
    ops: list[tuple[str, int, int, int]],
    target: bool,
) -> None:
    btf_blob, ext_blob = object_seeds[which]
    if target:
        btf_blob = mutate(btf_blob, ops)
    else:
        ext_blob = mutate(ext_blob, ops)
    try:
        btf = Btf.from_bytes(btf_blob)
        exercise(btf)
        ext = BtfExt.from_bytes(ext_blob, btf)
        for relos in ext.core_relos.values():
            for relo in relos:
                assert describe(relo, btf)
        for sec in ext.sections():
            ext.line_for(sec, 3)
    except BtfError:
        pass


def test_mutation_helper_really_mutates() -> None:
    seed = SEEDS["little"]
    assert mutate(seed, [("truncate", 5, 0, 0)]) == seed[:5]
    assert mutate(seed, [("word", 0, 0, 0xFFFFFFFF)])[:4] == b"\xff\xff\xff\xff"
    with pytest.raises(BtfError):
        Btf.from_bytes(mutate(seed, [("word", 0, 0, 0)]))


def test_seeds_are_valid() -> None:
    for blob in SEEDS.values():
        exercise(Btf.from_bytes(blob))


@functools.cache
def _core_pair() -> tuple[Btf, dict[str, int], bytes]:
    from bpfdoctor.btf.sanitize import sanitize
    from test_btf_core import _local, _target

    local, ids = _local()
    targ, _ = _target()
    return local, ids, sanitize(targ, ()).data  # sanitize with nothing missing: a re-encoding


@FUZZ
@given(ops=mutation)
def test_mutated_target_never_breaks_core_resolution(ops: list[tuple[str, int, int, int]]) -> None:
    """calc_relos turns every problem into a CoreResult; it never raises or hangs."""
    from bpfdoctor.btf import CoreRelo, CoreReloKind, calc_relos

    local, ids, blob = _core_pair()
    try:
        targ = Btf.from_bytes(mutate(blob, ops))
    except BtfError:
        return
    relos = tuple(
        CoreRelo(n, ids[root], access, kind)
        for n, (root, access, kind) in enumerate(
            [("task", "0:0", k) for k in CoreReloKind if k.is_field_based]
            + [
                ("task", "0:2", CoreReloKind.FIELD_BYTE_OFFSET),
                ("task", "0:5:3", CoreReloKind.FIELD_BYTE_OFFSET),
                ("task", "0:4", CoreReloKind.FIELD_LSHIFT_U64),
            ]
            + [
                (r, "0", k)
                for r in ("task", "small", "sized")
                for k in CoreReloKind
                if k.is_type_based
            ]
            + [
                ("mode", "0", CoreReloKind.ENUMVAL_VALUE),
                ("mode", "1", CoreReloKind.ENUMVAL_EXISTS),
            ]
        )
    )
    results = calc_relos({"sec": relos}, local, targ)["sec"]
    assert len(results) == len(relos)
    for r in results:
        assert r.describe()
