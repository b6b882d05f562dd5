"""``BtfExt``: the .BTF.ext section (func_info, line_info, core_relo sub-sections).

Mirrors libbpf ``btf_ext_parse_hdr()`` / ``btf_ext_parse_sec_info()``: every sub-section is
``__u32 record_size`` followed by ``{sec_name_off, num_info, records[num_info]}`` blocks. One
generic parser walks all three; record sizes come from the data (newer compilers may append
fields), and each record is tied to the ELF section its instructions live in.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from bpfdoctor.btf import wire
from bpfdoctor.btf.core import CoreRelo, CoreReloKind
from bpfdoctor.btf.decoder import Btf
from bpfdoctor.errors import BtfError

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class FuncInfo:
    """struct bpf_func_info: a (sub)program start and its FUNC type id."""

    insn_off: int  # instruction index within the section
    type_id: int


@dataclass(frozen=True, slots=True)
class LineInfo:
    """struct bpf_line_info with its strings resolved."""

    insn_off: int
    file: str
    line: int
    column: int
    text: str


class BtfExt:
    """Parsed .BTF.ext. Mappings are keyed by ELF section name, in file order."""

    __slots__ = (
        "core_relo_rec_size",
        "core_relos",
        "endian",
        "func_info",
        "func_info_rec_size",
        "line_info",
        "line_info_rec_size",
        "source",
    )

    def __init__(self, data: bytes | bytearray | memoryview, btf: Btf, source: str) -> None:
        raw = bytes(data)
        self.source = source
        self.endian = self._detect_endian(raw)
        p = wire.endian_prefix(self.endian)
        if len(raw) < wire.BTF_EXT_HEADER_MIN:
            raise self._err(f"header truncated: {len(raw)} bytes, need {wire.BTF_EXT_HEADER_MIN}")
        _m, version, _flags, hdr_len, fi_off, fi_len, li_off, li_len = struct.unpack_from(
            p + wire.BTF_EXT_HEADER_FMT, raw
        )
        if version != wire.BTF_VERSION:
            raise self._err(f"unsupported version {version}")
        if hdr_len < wire.BTF_EXT_HEADER_MIN or hdr_len > len(raw):
            raise self._err(f"hdr_len {hdr_len} is out of range (data is {len(raw)} bytes)")
        cr_off = cr_len = 0
        if hdr_len >= wire.BTF_EXT_HEADER_CORE:
            cr_off, cr_len = struct.unpack_from(p + "II", raw, wire.BTF_EXT_HEADER_MIN)
        body = raw[hdr_len:]
        self.func_info_rec_size, self.func_info = self._parse(
            body,
            fi_off,
            fi_len,
            "func_info",
            wire.FUNC_INFO_MIN_SIZE,
            btf,
            lambda w, sec: FuncInfo(self._insn(w[0], "func_info", sec), w[1]),
        )
        self.line_info_rec_size, self.line_info = self._parse(
            body,
            li_off,
            li_len,
            "line_info",
            wire.LINE_INFO_MIN_SIZE,
            btf,
            lambda w, sec: LineInfo(
                insn_off=self._insn(w[0], "line_info", sec),
                file=self._str(btf, w[1], "line_info file name", sec),
                line=wire.bpf_line_info_line_num(w[3]),
                column=wire.bpf_line_info_line_col(w[3]),
                text=self._str(btf, w[2], "line_info source line", sec),
            ),
        )
        self.core_relo_rec_size, self.core_relos = self._parse(
            body,
            cr_off,
            cr_len,
            "core_relo",
            wire.CORE_RELO_MIN_SIZE,
            btf,
            lambda w, sec: CoreRelo(
                insn_off=self._insn(w[0], "core_relo", sec),
                type_id=self._type_id(btf, w[1], sec),
                access_str=self._str(btf, w[2], "core_relo access string", sec),
                kind=self._kind(w[3], sec),
                section=sec,
            ),
        )

    @classmethod
    def from_bytes(
        cls, data: bytes | bytearray | memoryview, btf: Btf, source: str = ".BTF.ext"
    ) -> BtfExt:
        """Parse and validate against ``btf`` (names and type ids are resolved through it)."""
        return cls(data, btf, source)

    def _err(self, msg: str) -> BtfError:
        return BtfError(f"{self.source}: {msg}")

    def _detect_endian(self, raw: bytes) -> wire.Endian:
        if len(raw) >= 2 and raw[0] == 0x9F and raw[1] == 0xEB:
            return "little"
        if len(raw) >= 2 and raw[0] == 0xEB and raw[1] == 0x9F:
            return "big"
        if len(raw) < 2:
            raise self._err(f"header truncated: {len(raw)} bytes")
        raise self._err(f"bad magic 0x{raw[0]:02x}{raw[1]:02x} (expected 0xeb9f)")

    def _parse(
        self,
        body: bytes,
        off: int,
        length: int,
        what: str,
        min_size: int,
        btf: Btf,
        make: Callable[[tuple[int, ...], str], R],
    ) -> tuple[int, dict[str, tuple[R, ...]]]:
        """libbpf ``btf_ext_parse_sec_info()`` generalised over the record kind."""
        if length == 0:
            return 0, {}
        if off + length > len(body) or off % 4:
            raise self._err(
                f"{what} sub-section [{off}, +{length}) is out of range or misaligned"
                f" ({len(body)} bytes after the header)"
            )
        data = body[off : off + length]
        p = wire.endian_prefix(self.endian)
        if len(data) < 4:
            raise self._err(f"{what} record size not found")
        (rec_size,) = struct.unpack_from(p + "I", data)
        if rec_size < min_size or rec_size % 4:
            raise self._err(f"{what} has invalid record size {rec_size} (minimum {min_size})")
        pos = 4
        if pos == len(data):
            raise self._err(f"{what} has a record size but no records")
        fields = min_size // 4
        rec_fmt = f"{p}{fields}I"
        out: dict[str, list[R]] = {}
        while pos < len(data):
            if len(data) - pos < wire.BTF_EXT_INFO_SEC_SIZE:
                raise self._err(f"{what} section header truncated at offset {off + pos}")
            name_off, count = struct.unpack_from(p + "II", data, pos)
            sec = self._str(btf, name_off, f"{what} section name", None)
            if count == 0:
                raise self._err(f"{what} for section {sec!r} has no records")
            end = pos + wire.BTF_EXT_INFO_SEC_SIZE + count * rec_size
            if end > len(data):
                raise self._err(
                    f"{what} for section {sec!r} claims {count} records of {rec_size} bytes,"
                    f" past the end of the sub-section"
                )
            records = out.setdefault(sec, [])
            rec = pos + wire.BTF_EXT_INFO_SEC_SIZE
            for _ in range(count):
                records.append(make(struct.unpack_from(rec_fmt, data, rec), sec))
                rec += rec_size
            pos = end
        return rec_size, {sec: tuple(recs) for sec, recs in out.items()}

    def _str(self, btf: Btf, off: int, what: str, sec: str | None) -> str:
        if not 0 <= off < btf.strings_end:
            where = "" if sec is None else f" in section {sec!r}"
            raise self._err(
                f"{what} offset {off}{where} is outside the BTF string section"
                f" ({btf.strings_end} bytes)"
            )
        return btf.string(off)

    def _insn(self, byte_off: int, what: str, sec: str) -> int:
        if byte_off % wire.BPF_INSN_SIZE:
            raise self._err(
                f"{what} in section {sec!r}: insn_off {byte_off} is not a multiple of 8"
            )
        return byte_off // wire.BPF_INSN_SIZE

    def _type_id(self, btf: Btf, tid: int, sec: str) -> int:
        if tid == 0 or tid > btf.type_count:
            raise self._err(
                f"core_relo in section {sec!r}: type id {tid} is out of range"
                f" (valid ids: 1..{btf.type_count})"
            )
        return tid

    def _kind(self, kind: int, sec: str) -> CoreReloKind:
        try:
            return CoreReloKind(kind)
        except ValueError:
            raise self._err(
                f"core_relo in section {sec!r}: unknown relocation kind {kind}"
            ) from None

    def sections(self) -> list[str]:
        """Every section named by any sub-section, in first-seen order."""
        seen: dict[str, None] = {}
        for mapping in (self.func_info, self.line_info, self.core_relos):
            for sec in mapping:
                seen.setdefault(sec, None)
        return list(seen)

    def line_for(self, sec: str, insn: int) -> LineInfo | None:
        """The line_info record covering instruction ``insn`` of ``sec`` (last one at or before)."""
        best: LineInfo | None = None
        for li in self.line_info.get(sec, ()):
            if li.insn_off <= insn and (best is None or li.insn_off >= best.insn_off):
                best = li
        return best

    @property
    def core_relo_count(self) -> int:
        return sum(len(v) for v in self.core_relos.values())
