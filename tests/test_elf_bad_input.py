"""Bad input never escapes as anything but ElfError/BtfError with one line naming what broke."""

from __future__ import annotations

import signal
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpfdoctor.check import run_check
from bpfdoctor.elf import BpfObject
from bpfdoctor.errors import BtfError, ElfError, ObjectError

ELF = Path(__file__).resolve().parent.parent / "fixtures" / "elf"
FIXTURES = sorted(ELF.glob("*.o"))
SMALL = [p for p in FIXTURES if p.stat().st_size < 40_000]
DATA = {p.name: p.read_bytes() for p in FIXTURES}


def full_read(data: bytes, name: str = "x.o") -> None:
    """Everything ``check`` computes, so lazy properties are exercised too."""
    run_check(BpfObject.from_bytes(data, name)).to_json()


def assert_one_line(exc: BaseException) -> None:
    text = str(exc)
    assert text and "\n" not in text
    assert "Traceback" not in text


def test_empty_file():
    with pytest.raises(ElfError, match="empty file") as e:
        BpfObject.from_bytes(b"", "empty.o")
    assert_one_line(e.value)


def test_not_an_elf():
    with pytest.raises(ElfError, match="not an ELF file"):
        BpfObject.from_bytes(b"#!/bin/sh\necho hi\n", "script.o")


def test_elf_for_x86_64():
    data = bytearray(DATA["xdp_lb.bpf.o"])
    struct.pack_into("<H", data, 18, 62)  # e_machine = EM_X86_64
    with pytest.raises(ElfError, match="x86_64") as e:
        BpfObject.from_bytes(bytes(data), "x86.o")
    assert "EM_BPF" in str(e.value)


def test_host_binary_is_refused():
    host = Path("/bin/true")
    if not host.exists():
        pytest.skip("no /bin/true")
    with pytest.raises(ElfError, match="not a BPF object"):
        BpfObject.open(host)


def test_elf32_and_bad_byte_order():
    data = bytearray(DATA["xdp_lb.bpf.o"])
    data[4] = 1
    with pytest.raises(ElfError, match="64-bit"):
        BpfObject.from_bytes(bytes(data))
    data[4], data[5] = 2, 9
    with pytest.raises(ElfError, match="byte order"):
        BpfObject.from_bytes(bytes(data))


def test_not_relocatable():
    data = bytearray(DATA["xdp_lb.bpf.o"])
    struct.pack_into("<H", data, 16, 2)  # ET_EXEC
    with pytest.raises(ElfError, match="ET_REL"):
        BpfObject.from_bytes(bytes(data))


def test_directory_and_missing_file(tmp_path):
    with pytest.raises(ElfError, match="is a directory"):
        BpfObject.open(tmp_path)
    with pytest.raises(ElfError, match="no such file"):
        BpfObject.open(tmp_path / "nope.o")


@pytest.mark.parametrize("path", SMALL, ids=lambda p: p.name)
def test_truncated_at_many_offsets(path):
    data = DATA[path.name]
    cuts = sorted({*range(0, 200, 3), *(len(data) * i // 97 for i in range(97))} - {len(data)})
    for cut in cuts:
        try:
            full_read(data[:cut], f"{path.name}[:{cut}]")
        except ObjectError as exc:
            assert_one_line(exc)


def test_truncation_names_where():
    data = DATA["xdp_lb.bpf.o"]
    with pytest.raises(ElfError) as e:
        BpfObject.from_bytes(data[: len(data) // 2], "half.o")
    assert "half.o" in str(e.value)


def test_section_outside_file():
    data = bytearray(DATA["subprogs.bpf.o"])
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    # section [2] (.text): make sh_size absurd
    struct.pack_into("<Q", data, shoff + 2 * 64 + 0x20, 1 << 40)
    with pytest.raises(ElfError, match=r"runs past the end of the file"):
        BpfObject.from_bytes(bytes(data), "big.o")


def test_corrupt_btf_is_btf_error():
    obj = BpfObject.from_bytes(DATA["maps_btf.bpf.o"], "m.o")
    sec = obj.image.section_by_name(".BTF")
    assert sec is not None
    start = DATA["maps_btf.bpf.o"].index(sec.data)
    data = bytearray(DATA["maps_btf.bpf.o"])
    struct.pack_into("<I", data, start + 8, 0xFFFFFF)  # hdr type_off far away
    with pytest.raises(BtfError) as e:
        full_read(bytes(data), "m.o")
    assert_one_line(e.value)


class _Hang(Exception):
    pass


def _alarm(_sig: int, _frame: object) -> None:
    raise _Hang("reading one mutated object took more than 30 s: a hang")


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    name=st.sampled_from(sorted(p.name for p in SMALL)),
    edits=st.lists(
        st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=12
    ),
)
def test_mutated_fixtures_only_raise_object_errors(name, edits):
    data = bytearray(DATA[name])
    for where, value in edits:
        data[int(where * len(data))] = value
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(30)
    try:
        full_read(bytes(data), name)
    except ObjectError as exc:
        assert_one_line(exc)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(p.name for p in SMALL)),
    header_edits=st.lists(st.tuples(st.integers(0, 63), st.integers(0, 255)), min_size=1, max_size=6),
)
def test_mutated_headers_only_raise_object_errors(name, header_edits):
    """Concentrate on the ELF header, where offsets and counts live."""
    data = bytearray(DATA[name])
    for where, value in header_edits:
        data[where] = value
    try:
        full_read(bytes(data), name)
    except ObjectError as exc:
        assert_one_line(exc)


def _tables_region(data: bytes) -> tuple[int, int]:
    end = ">" if data[5] == 2 else "<"
    shoff = struct.unpack_from(end + "Q", data, 0x28)[0]
    shnum = struct.unpack_from(end + "H", data, 0x3C)[0]
    return shoff, shnum * 64


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(p.name for p in SMALL)),
    edits=st.lists(
        st.tuples(st.floats(0, 1, exclude_max=True), st.sampled_from([0, 1, 0x7F, 0x80, 0xFF])),
        min_size=1,
        max_size=6,
    ),
)
def test_mutated_section_headers_only_raise_object_errors(name, edits):
    """Offsets, sizes, links and types in the section header table."""
    data = bytearray(DATA[name])
    start, size = _tables_region(bytes(data))
    for where, value in edits:
        data[start + int(where * size)] = value
    try:
        full_read(bytes(data), name)
    except ObjectError as exc:
        assert_one_line(exc)


def _section_span(data: bytes, name: str) -> tuple[int, int] | None:
    sec = BpfObject.from_bytes(data, "x.o").image.section_by_name(name)
    if sec is None or not sec.data:
        return None
    return data.index(sec.data), len(sec.data)


TARGETED = [
    (p.name, sec)
    for p in SMALL
    for sec in (".BTF", ".BTF.ext", ".maps", ".symtab", ".rel.maps", ".struct_ops")
    if _section_span(DATA[p.name], sec) is not None
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    target=st.sampled_from(TARGETED),
    edits=st.lists(
        st.tuples(st.floats(0, 1, exclude_max=True),
                  st.sampled_from([0, 1, 2, 0x7F, 0x80, 0xFF]) | st.integers(0, 255)),
        min_size=1,
        max_size=4,
    ),
)
def test_mutated_btf_maps_symbols_only_raise_object_errors(target, edits):
    """BTF, .BTF.ext, map definitions, symbols: where the reader follows ids and offsets."""
    name, sec = target
    data = bytearray(DATA[name])
    span = _section_span(bytes(data), sec)
    assert span is not None
    start, size = span
    for where, value in edits:
        data[start + int(where * size)] = value
    try:
        full_read(bytes(data), name)
    except ObjectError as exc:
        assert_one_line(exc)
