"""CO-RE relocations: kinds, the record, and the readable form of a relocation.

``describe()`` mirrors libbpf ``bpf_core_parse_spec()`` + ``bpf_core_format_spec()``: the access
string ``0:1:2`` is walked through the local BTF into a C-like path. Resolution against a target
BTF (libbpf ``bpf_core_calc_relo_insn()``) lives in ``bpfdoctor.btf.relocate``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from bpfdoctor.btf.decoder import Btf
from bpfdoctor.btf.types import BtfKind
from bpfdoctor.errors import BtfError

BPF_CORE_SPEC_MAX_LEN = 64


class CoreReloKind(IntEnum):
    """enum bpf_core_relo_kind (uapi/linux/bpf.h)."""

    FIELD_BYTE_OFFSET = 0
    FIELD_BYTE_SIZE = 1
    FIELD_EXISTS = 2
    FIELD_SIGNED = 3
    FIELD_LSHIFT_U64 = 4
    FIELD_RSHIFT_U64 = 5
    TYPE_ID_LOCAL = 6
    TYPE_ID_TARGET = 7
    TYPE_EXISTS = 8
    TYPE_SIZE = 9
    ENUMVAL_EXISTS = 10
    ENUMVAL_VALUE = 11
    TYPE_MATCHES = 12

    @property
    def label(self) -> str:
        """libbpf ``core_relo_kind_str()``."""
        return _LABELS[self]

    @property
    def is_field_based(self) -> bool:
        return self <= CoreReloKind.FIELD_RSHIFT_U64

    @property
    def is_type_based(self) -> bool:
        return self in _TYPE_BASED

    @property
    def is_enumval_based(self) -> bool:
        return self in (CoreReloKind.ENUMVAL_EXISTS, CoreReloKind.ENUMVAL_VALUE)


_LABELS = {
    CoreReloKind.FIELD_BYTE_OFFSET: "byte_off",
    CoreReloKind.FIELD_BYTE_SIZE: "byte_sz",
    CoreReloKind.FIELD_EXISTS: "field_exists",
    CoreReloKind.FIELD_SIGNED: "signed",
    CoreReloKind.FIELD_LSHIFT_U64: "lshift_u64",
    CoreReloKind.FIELD_RSHIFT_U64: "rshift_u64",
    CoreReloKind.TYPE_ID_LOCAL: "local_type_id",
    CoreReloKind.TYPE_ID_TARGET: "target_type_id",
    CoreReloKind.TYPE_EXISTS: "type_exists",
    CoreReloKind.TYPE_MATCHES: "type_matches",
    CoreReloKind.TYPE_SIZE: "type_size",
    CoreReloKind.ENUMVAL_EXISTS: "enumval_exists",
    CoreReloKind.ENUMVAL_VALUE: "enumval_value",
}
_TYPE_BASED = frozenset(
    {
        CoreReloKind.TYPE_ID_LOCAL,
        CoreReloKind.TYPE_ID_TARGET,
        CoreReloKind.TYPE_EXISTS,
        CoreReloKind.TYPE_MATCHES,
        CoreReloKind.TYPE_SIZE,
    }
)


@dataclass(frozen=True, slots=True)
class CoreRelo:
    """struct bpf_core_relo from .BTF.ext; ``insn_off`` is an instruction index (bytes / 8)."""

    insn_off: int
    type_id: int
    access_str: str
    kind: CoreReloKind
    section: str = ""


@dataclass(frozen=True, slots=True)
class CoreAccessor:
    """struct bpf_core_accessor: a named field, an array index, or an enumerator."""

    type_id: int  # struct/union holding the field, array element type, or the enum
    idx: int
    name: str | None


@dataclass(frozen=True, slots=True)
class CoreSpec:
    """struct bpf_core_spec: high-level accessors, the raw access string and the bit offset."""

    btf: Btf
    root_type_id: int
    kind: CoreReloKind
    accessors: tuple[CoreAccessor, ...]
    raw: tuple[int, ...]
    bit_offset: int = 0

    def format(self, *, libbpf: bool = False) -> str:
        """Readable form of libbpf ``bpf_core_format_spec()``:
        ``byte_off struct task_struct.real_parent (0:24 @ offset 1432)``; with ``libbpf=True``
        exactly libbpf's debug-log text, ``<byte_off> [5] struct task_struct.real_parent ...``."""
        root = self.btf.type(self.root_type_id)
        kind = f"<{self.kind.label}> [{self.root_type_id}]" if libbpf else self.kind.label
        head = f"{kind} {root.kind.label} {root.name or '<anon>'}"
        if self.kind.is_type_based:
            return head
        if self.kind.is_enumval_based:
            enum = self.btf.type(self.btf.resolve(self.root_type_id))
            value = enum.values[self.raw[0]]
            return f"{head}::{value.name} = {value.value}"
        path = ""
        for i, acc in enumerate(self.accessors):
            if acc.name is not None:
                path += f".{acc.name}"
            elif i > 0 or acc.idx > 0:
                path += f"[{acc.idx}]"
        raw = ":".join(str(r) for r in self.raw)
        byte, bit = divmod(self.bit_offset, 8)
        offset = f"{byte}.{bit}" if bit else f"{byte}"
        return f"{head}{path} ({raw} @ offset {offset})"


def parse_access_string(access: str) -> tuple[int, ...]:
    """``"0:1:2"`` -> ``(0, 1, 2)``; bad strings raise BtfError (libbpf returns -EINVAL)."""
    if not access or access.startswith(":"):
        raise BtfError(f"CO-RE access string {access!r} is empty or malformed")
    parts = access.split(":")
    if len(parts) > BPF_CORE_SPEC_MAX_LEN:
        raise BtfError(f"CO-RE access string {access!r} is longer than {BPF_CORE_SPEC_MAX_LEN}")
    try:
        raw = tuple(int(p, 10) for p in parts)
    except ValueError:
        raise BtfError(f"CO-RE access string {access!r} is not a list of numbers") from None
    if any(r < 0 for r in raw):
        raise BtfError(f"CO-RE access string {access!r} has a negative index")
    return raw


def _size(btf: Btf, tid: int, what: str) -> int:
    size = btf.size_of(tid)
    if size is None:
        raise BtfError(f"CO-RE {what}: type [{tid}] {btf.type(tid).describe()} has no size")
    return size


def _is_flex_array(btf: Btf, parent: CoreAccessor | None, nelems: int) -> bool:
    """libbpf ``is_flex_arr()``: zero-length array as the last member of a struct."""
    if parent is None or parent.name is None or nelems > 0:
        return False
    return parent.idx == len(btf.type(parent.type_id).members) - 1


def parse_spec(btf: Btf, relo: CoreRelo) -> CoreSpec:
    """Mirror of libbpf ``bpf_core_parse_spec()``; errors raise BtfError naming the relo."""
    what = f"relocation at insn {relo.insn_off} ({relo.kind.label} [{relo.type_id}] {relo.access_str!r})"
    if relo.kind.is_type_based:
        if relo.access_str != "0":
            raise BtfError(f"CO-RE {what}: type-based relocation needs access string '0'")
        btf.type(relo.type_id)
        return CoreSpec(btf, relo.type_id, relo.kind, (), (0,))
    raw = parse_access_string(relo.access_str)
    tid = btf.resolve(relo.type_id)
    t = btf.type(tid)
    if relo.kind.is_enumval_based:
        if not t.is_enum or len(raw) > 1 or raw[0] >= len(t.values):
            raise BtfError(f"CO-RE {what}: not an enumerator of {t.describe()}")
        acc = CoreAccessor(tid, raw[0], t.values[raw[0]].name)
        return CoreSpec(btf, relo.type_id, relo.kind, (acc,), raw)
    accessors = [CoreAccessor(tid, raw[0], None)]
    bit_offset = raw[0] * _size(btf, tid, what) * 8
    for i, idx in enumerate(raw[1:], start=1):
        tid = btf.resolve(tid)
        t = btf.type(tid)
        if t.is_composite:
            if idx >= len(t.members):
                raise BtfError(
                    f"CO-RE {what}: member #{idx} of {t.describe()} does not exist"
                    f" ({len(t.members)} members)"
                )
            member = t.members[idx]
            bit_offset += member.bit_offset
            if member.name:
                accessors.append(CoreAccessor(tid, idx, member.name))
            tid = member.type
        elif t.kind is BtfKind.ARRAY:
            assert t.array is not None
            elem = btf.resolve(t.array.type)
            flex = _is_flex_array(btf, accessors[-1], t.array.nelems)
            if not flex and idx >= t.array.nelems:
                raise BtfError(
                    f"CO-RE {what}: index {idx} is past the end of an array of {t.array.nelems}"
                )
            accessors.append(CoreAccessor(elem, idx, None))
            bit_offset += idx * _size(btf, elem, what) * 8
            tid = elem
        else:
            raise BtfError(
                f"CO-RE {what}: access #{i} goes into {t.describe()}, which has no fields"
            )
    return CoreSpec(btf, relo.type_id, relo.kind, tuple(accessors), raw, bit_offset)


def describe(relo: CoreRelo, btf: Btf) -> str:
    """``byte_off struct task_struct.real_parent (0:24 @ offset 1432)``, as libbpf logs it.

    Never raises for a malformed relocation: falls back to the raw fields, so diagnostics can
    always show something.
    """
    try:
        return parse_spec(btf, relo).format()
    except BtfError:
        try:
            root = btf.type(relo.type_id).describe()
        except BtfError:
            root = f"type [{relo.type_id}]"
        return f"{relo.kind.label} {root} ({relo.access_str}) [malformed]"
