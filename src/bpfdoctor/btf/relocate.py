"""Resolve CO-RE relocations against a target BTF, the way libbpf does at load time.

Mirrors libbpf ``relo_core.c``: ``bpf_core_calc_relo_insn()`` (candidates by essential name,
spec matching per candidate, ambiguity checks), ``bpf_core_spec_match()`` /
``bpf_core_match_member()`` (recursive field search through anonymous members),
``bpf_core_fields_are_compat()``, ``__bpf_core_types_are_compat()``, ``__bpf_core_types_match()``
and ``bpf_core_calc_{field,type,enumval}_relo()``. The result says what libbpf would patch in,
or, when it would poison the instruction (``0xbad2310``), which ``struct.field`` is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bpfdoctor.btf.core import (
    BPF_CORE_SPEC_MAX_LEN,
    CoreAccessor,
    CoreRelo,
    CoreReloKind,
    CoreSpec,
    parse_spec,
)
from bpfdoctor.btf.decoder import Btf
from bpfdoctor.btf.types import BtfKind, BtfType
from bpfdoctor.errors import BtfError

POISON_IMM = 0xBAD2310  # libbpf bpf_core_poison_insn(): "invalid func unknown#195896080"
_MAX_DEPTH = 32  # libbpf's recursion limit in the type compatibility checks


def essential_name_len(name: str) -> int:
    """libbpf ``bpf_core_essential_name_len()``: drop a ``___flavor`` suffix (X___Y)."""
    n = len(name)
    for i in range(n - 5, -1, -1):
        if name[i] != "_" and name[i + 1 : i + 4] == "___" and name[i + 4] != "_":
            return i + 1
    return n


def essential_name(name: str) -> str:
    return name[: essential_name_len(name)]


def _kind_core_compat(a: BtfType, b: BtfType) -> bool:
    """libbpf ``btf_kind_core_compat()``: same kind, or both enums (ENUM vs ENUM64)."""
    return a.kind is b.kind or (a.is_enum and b.is_enum)


def _names_match(local: str, targ: str) -> bool:
    """libbpf ``bpf_core_names_match()``."""
    if not targ:
        return not local
    return essential_name(local) == essential_name(targ)


@dataclass(frozen=True, slots=True)
class CoreResult:
    """Outcome of one relocation against one target BTF.

    ``ok`` is True when libbpf would patch a real value (``new_value``); existence checks that
    find nothing are ok with value 0. ``poisoned`` means libbpf would replace the instruction
    with a call to helper ``0xbad2310`` (fails verification if reachable). ``error`` is set when
    libbpf would refuse to load at all (malformed spec, ambiguity, anonymous root type).
    """

    relo: CoreRelo
    local: CoreSpec | None
    ok: bool
    orig_value: int | None = None
    new_value: int | None = None
    poisoned: bool = False
    error: str | None = None
    target: CoreSpec | None = None
    candidates: tuple[int, ...] = ()
    matched: tuple[int, ...] = ()
    missing: str | None = None  # ``task_struct.foo`` when a field/type/enumerator is absent
    reason: str | None = None
    orig_size: int = 0
    new_size: int = 0
    mem_size_mismatch: bool = False  # libbpf poisons LDX/ST/STX whose size cannot be adjusted

    def describe(self) -> str:
        """One line for humans: the local spec, then what happened in the target."""
        local = self.local.format() if self.local is not None else self.relo.access_str
        if self.error is not None:
            return f"{local}: error: {self.error}"
        if self.poisoned:
            return f"{local}: not found in target ({self.reason}); instruction poisoned"
        if self.target is not None:
            return f"{local} -> {self.target.format()} = {self.new_value}"
        return f"{local} -> {self.new_value} ({self.reason})"


@dataclass(slots=True)
class _Builder:
    """Mutable target spec while matching (libbpf fills a ``bpf_core_spec`` in place)."""

    accessors: list[CoreAccessor] = field(default_factory=list)
    raw: list[int] = field(default_factory=list)
    bit_offset: int = 0
    failure: str | None = None


class _TooDeep(Exception):
    pass


class _Budget:
    """Caps the work of the recursive matchers: libbpf bounds depth (32) but not breadth, and
    a crafted BTF could make type_matches exponential. Real kernels need a few hundred steps."""

    __slots__ = ("left",)

    def __init__(self, steps: int = 200_000) -> None:
        self.left = steps

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise BtfError("CO-RE: type comparison is too complex (more than 200000 steps)")


# -- type compatibility ---------------------------------------------------------------------


def fields_are_compat(local: Btf, local_id: int, targ: Btf, targ_id: int) -> bool:
    """libbpf ``bpf_core_fields_are_compat()``."""
    for _ in range(_MAX_DEPTH):
        lt = local.type(local.resolve(local_id))
        tt = targ.type(targ.resolve(targ_id))
        if lt.is_composite and tt.is_composite:
            return True
        if not _kind_core_compat(lt, tt):
            return False
        if lt.kind in (BtfKind.PTR, BtfKind.FLOAT):
            return True
        if lt.kind in (BtfKind.FWD, BtfKind.ENUM, BtfKind.ENUM64):
            ln, tn = essential_name(lt.name), essential_name(tt.name)
            return not ln or not tn or ln == tn
        if lt.kind is BtfKind.INT:
            assert lt.encoding is not None and tt.encoding is not None
            return lt.encoding.bit_offset == 0 and tt.encoding.bit_offset == 0
        if lt.kind is BtfKind.ARRAY:
            assert lt.array is not None and tt.array is not None
            local_id, targ_id = lt.array.type, tt.array.type
            continue
        return False
    raise BtfError(f"type [{local_id}]: nesting too deep comparing with target [{targ_id}]")


def types_are_compat(
    local: Btf,
    local_id: int,
    targ: Btf,
    targ_id: int,
    level: int = 32,
    budget: _Budget | None = None,
) -> bool:
    """libbpf ``__bpf_core_types_are_compat()`` (TYPE_EXISTS, TYPE_SIZE, TYPE_ID_TARGET)."""
    budget = budget or _Budget()
    if not _kind_core_compat(local.type(local_id), targ.type(targ_id)):
        return False
    for _ in range(_MAX_DEPTH):
        budget.spend()
        lt = local.type(local.resolve(local_id))
        tt = targ.type(targ.resolve(targ_id))
        if not _kind_core_compat(lt, tt):
            return False
        if lt.kind in (BtfKind.UNKN, BtfKind.STRUCT, BtfKind.UNION, BtfKind.FWD) or lt.is_enum:
            return True
        if lt.kind is BtfKind.INT:
            assert lt.encoding is not None and tt.encoding is not None
            return lt.encoding.bit_offset == 0 and tt.encoding.bit_offset == 0
        if lt.kind is BtfKind.PTR:
            assert lt.type is not None and tt.type is not None
            local_id, targ_id = lt.type, tt.type
            continue
        if lt.kind is BtfKind.ARRAY:
            assert lt.array is not None and tt.array is not None
            local_id, targ_id = lt.array.type, tt.array.type
            continue
        if lt.kind is BtfKind.FUNC_PROTO:
            if len(lt.params) != len(tt.params):
                return False
            for lp, tp in zip(lt.params, tt.params, strict=True):
                if level <= 0:
                    raise BtfError(f"type [{lt.id}]: function prototypes nest too deep")
                if not types_are_compat(
                    local, local.resolve(lp.type), targ, targ.resolve(tp.type), level - 1, budget
                ):
                    return False
            assert lt.type is not None and tt.type is not None
            local_id, targ_id = lt.type, tt.type
            continue
        return False
    raise BtfError(f"type [{local_id}]: nesting too deep comparing with target [{targ_id}]")


def types_match(
    local: Btf,
    local_id: int,
    targ: Btf,
    targ_id: int,
    behind_ptr: bool = False,
    level: int = 32,
    budget: _Budget | None = None,
) -> bool:
    """libbpf ``__bpf_core_types_match()`` (TYPE_MATCHES): stricter than compat."""
    budget = budget or _Budget()
    if level <= 0:
        raise BtfError(f"type [{local_id}]: types nest too deep for type_matches")
    for _ in range(_MAX_DEPTH):
        budget.spend()
        lt = local.type(local.resolve(local_id))
        tt = targ.type(targ.resolve(targ_id))
        if not _names_match(lt.name, tt.name):
            return False
        lk, tk = lt.kind, tt.kind
        if lk is BtfKind.UNKN:
            return lk is tk
        if lk is BtfKind.FWD:
            if behind_ptr and lk is not tk:
                return (tk is BtfKind.STRUCT and not lt.kflag) or (tk is BtfKind.UNION and lt.kflag)
            return lk is tk and lt.kflag == tt.kflag
        if lt.is_enum:
            return tt.is_enum and _enums_match(lt, tt)
        if lt.is_composite:
            if behind_ptr:
                if lk is tk:
                    return True
                return tk is BtfKind.FWD and (lk is BtfKind.UNION) == tt.kflag
            return lk is tk and _composites_match(local, lt, targ, tt, behind_ptr, level, budget)
        if lk is BtfKind.INT:
            assert lt.encoding is not None and tt.encoding is not None
            return lk is tk and lt.size == tt.size and lt.encoding.signed == tt.encoding.signed
        if lk is BtfKind.PTR:
            if lk is not tk:
                return False
            behind_ptr = True
            assert lt.type is not None and tt.type is not None
            local_id, targ_id = lt.type, tt.type
            continue
        if lk is BtfKind.ARRAY:
            if lk is not tk:
                return False
            assert lt.array is not None and tt.array is not None
            if lt.array.nelems != tt.array.nelems:
                return False
            local_id, targ_id = lt.array.type, tt.array.type
            continue
        if lk is BtfKind.FUNC_PROTO:
            if lk is not tk or len(lt.params) != len(tt.params):
                return False
            for lp, tp in zip(lt.params, tt.params, strict=True):
                if not types_match(local, lp.type, targ, tp.type, behind_ptr, level - 1, budget):
                    return False
            assert lt.type is not None and tt.type is not None
            local_id, targ_id = lt.type, tt.type
            continue
        return False
    raise BtfError(f"type [{local_id}]: nesting too deep comparing with target [{targ_id}]")


def _enums_match(lt: BtfType, tt: BtfType) -> bool:
    """libbpf ``bpf_core_enums_match()``: same size, every local enumerator named in target."""
    if lt.size != tt.size or len(lt.values) > len(tt.values):
        return False
    return all(any(_names_match(lv.name, tv.name) for tv in tt.values) for lv in lt.values)


def _composites_match(
    local: Btf,
    lt: BtfType,
    targ: Btf,
    tt: BtfType,
    behind_ptr: bool,
    level: int,
    budget: _Budget,
) -> bool:
    """libbpf ``bpf_core_composites_match()``: each local member has a matching target one."""
    if len(lt.members) > len(tt.members):
        return False
    for lm in lt.members:
        if not any(
            _names_match(lm.name, tm.name)
            and types_match(local, lm.type, targ, tm.type, behind_ptr, level - 1, budget)
            for tm in tt.members
        ):
            return False
    return True


# -- spec matching ---------------------------------------------------------------------------


def _match_member(
    local: Btf, acc: CoreAccessor, targ: Btf, targ_id: int, spec: _Builder, budget: _Budget
) -> tuple[bool, int]:
    """libbpf ``bpf_core_match_member()``: find ``acc``'s field in ``targ_id``, descending into
    anonymous members; returns (found, type id of the found member)."""
    targ_id = targ.resolve(targ_id)
    tt = targ.type(targ_id)
    if not tt.is_composite:
        return False, 0
    local_member = local.type(acc.type_id).members[acc.idx]
    for i, m in enumerate(tt.members):
        budget.spend()
        if len(spec.raw) == BPF_CORE_SPEC_MAX_LEN:
            raise _TooDeep
        spec.bit_offset += m.bit_offset
        spec.raw.append(i)
        if not m.name:
            found, next_id = _match_member(local, acc, targ, m.type, spec, budget)
            if found:
                return True, next_id
        elif m.name == local_member.name:
            spec.accessors.append(CoreAccessor(targ_id, i, m.name))
            if fields_are_compat(local, local_member.type, targ, m.type):
                return True, m.type
            spec.accessors.pop()
            spec.failure = (
                f"field '{m.name}' of {tt.describe()} has an incompatible type"
                f" ({targ.type(targ.resolve(m.type)).describe()}, local"
                f" {local.type(local.resolve(local_member.type)).describe()})"
            )
            return False, 0
        spec.bit_offset -= m.bit_offset
        spec.raw.pop()
    return False, 0


def _is_flex_array(btf: Btf, parent: CoreAccessor | None, nelems: int) -> bool:
    if parent is None or parent.name is None or nelems > 0:
        return False
    return parent.idx == len(btf.type(parent.type_id).members) - 1


def spec_match(local: CoreSpec, targ: Btf, targ_id: int) -> tuple[CoreSpec | None, str | None]:
    """libbpf ``bpf_core_spec_match()``: the target spec, or None and why it did not match."""
    kind = local.kind
    cand_id = targ_id
    if kind.is_type_based:
        if kind is CoreReloKind.TYPE_MATCHES:
            ok = types_match(local.btf, local.root_type_id, targ, targ_id)
        else:
            ok = types_are_compat(local.btf, local.root_type_id, targ, targ_id)
        if not ok:
            return None, f"{targ.type(targ_id).describe()} is not compatible"
        return CoreSpec(targ, targ_id, kind, (), ()), None

    if kind.is_enumval_based:
        resolved = targ.resolve(targ_id)
        tt = targ.type(resolved)
        if not tt.is_enum:
            return None, f"{tt.describe()} is not an enum"
        want = local.accessors[0].name or ""
        for i, v in enumerate(tt.values):
            if essential_name(v.name) == essential_name(want):
                acc = CoreAccessor(resolved, i, v.name)
                return CoreSpec(targ, targ_id, kind, (acc,), (i,)), None
        return None, f"{tt.describe()} has no enumerator {want}"

    spec = _Builder()
    budget = _Budget()
    for i, lacc in enumerate(local.accessors):
        targ_id = targ.resolve(targ_id)
        tt = targ.type(targ_id)
        if lacc.name is not None:
            try:
                found, targ_id = _match_member(local.btf, lacc, targ, targ_id, spec, budget)
            except _TooDeep:
                raise BtfError(
                    f"CO-RE: {tt.describe()} nests deeper than {BPF_CORE_SPEC_MAX_LEN} levels"
                ) from None
            if not found:
                return None, spec.failure or f"{tt.describe()} has no field '{lacc.name}'"
            continue
        if i > 0:
            if tt.kind is not BtfKind.ARRAY:
                return None, f"{tt.describe()} is not an array"
            assert tt.array is not None
            parent = spec.accessors[-1] if spec.accessors else None
            if not _is_flex_array(targ, parent, tt.array.nelems) and lacc.idx >= tt.array.nelems:
                return None, f"index {lacc.idx} is past the end of an array of {tt.array.nelems}"
            targ_id = targ.resolve(tt.array.type)
        if len(spec.raw) == BPF_CORE_SPEC_MAX_LEN:
            raise BtfError(f"CO-RE: access nests deeper than {BPF_CORE_SPEC_MAX_LEN} levels")
        spec.accessors.append(CoreAccessor(targ_id, lacc.idx, None))
        spec.raw.append(lacc.idx)
        size = targ.size_of(targ_id)
        if size is None:
            raise BtfError(f"CO-RE: target type [{targ_id}] has no size")
        spec.bit_offset += lacc.idx * size * 8
    return CoreSpec(
        targ, cand_id, kind, tuple(spec.accessors), tuple(spec.raw), spec.bit_offset
    ), None


# -- values ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Value:
    value: int | None  # None: poison the instruction
    size: int = 0  # memory access size for LDX/ST/STX (byte_off of a non-bitfield)
    type_id: int = 0
    validate: bool = True


def _field_value(kind: CoreReloKind, spec: CoreSpec | None) -> _Value:
    """libbpf ``bpf_core_calc_field_relo()``."""
    if kind is CoreReloKind.FIELD_EXISTS:
        return _Value(1 if spec is not None else 0)
    if spec is None:
        return _Value(None)
    btf = spec.btf
    acc = spec.accessors[-1]
    if acc.name is None:  # a[n]: array element (or the root itself)
        size = btf.size_of(acc.type_id)
        if size is None:
            raise BtfError(f"CO-RE: type [{acc.type_id}] has no size")
        if kind is CoreReloKind.FIELD_BYTE_OFFSET:
            return _Value(spec.bit_offset // 8, size, acc.type_id)
        if kind is CoreReloKind.FIELD_BYTE_SIZE:
            return _Value(size)
        raise BtfError(f"CO-RE: {kind.label} cannot be applied to an array element access")
    holder = btf.type(acc.type_id)
    member = holder.members[acc.idx]
    field_id = btf.resolve(member.type)
    mt = btf.type(field_id)
    bit_off = spec.bit_offset
    bit_sz = member.bitfield_size
    if bit_sz:
        if mt.size is None or mt.size == 0:
            raise BtfError(f"CO-RE: bitfield '{member.name}' has an unsized type")
        byte_sz = mt.size
        byte_off = bit_off // 8 // byte_sz * byte_sz
        while bit_off + bit_sz - byte_off * 8 > byte_sz * 8:
            if byte_sz >= 8:
                raise BtfError(f"CO-RE: bitfield '{member.name}' cannot be read with a 64-bit load")
            byte_sz *= 2
            byte_off = bit_off // 8 // byte_sz * byte_sz
    else:
        size = btf.size_of(field_id)
        if size is None:
            raise BtfError(f"CO-RE: field '{member.name}' has no size")
        byte_sz, byte_off, bit_sz = size, bit_off // 8, size * 8
    if kind is CoreReloKind.FIELD_BYTE_OFFSET:
        if bit_sz and member.bitfield_size:
            return _Value(byte_off, validate=False)
        return _Value(byte_off, byte_sz, field_id)
    if kind is CoreReloKind.FIELD_BYTE_SIZE:
        return _Value(byte_sz, validate=not member.bitfield_size)
    if kind is CoreReloKind.FIELD_SIGNED:
        signed = (mt.is_enum and mt.kflag) or (
            mt.kind is BtfKind.INT and mt.encoding is not None and mt.encoding.signed
        )
        return _Value(int(signed))
    if kind is CoreReloKind.FIELD_LSHIFT_U64:
        if btf.endian == "little":
            return _Value(64 - (bit_off + bit_sz - byte_off * 8), validate=not member.bitfield_size)
        return _Value(
            (8 - byte_sz) * 8 + (bit_off - byte_off * 8), validate=not member.bitfield_size
        )
    if kind is CoreReloKind.FIELD_RSHIFT_U64:
        return _Value(64 - bit_sz)
    raise BtfError(f"CO-RE: unsupported relocation kind {kind.label}")  # pragma: no cover


def _type_value(kind: CoreReloKind, spec: CoreSpec | None) -> _Value:
    """libbpf ``bpf_core_calc_type_relo()``: type-based relos return 0 when not found."""
    if spec is None:
        return _Value(0)
    if kind is CoreReloKind.TYPE_ID_TARGET:
        return _Value(spec.root_type_id, validate=False)
    if kind in (CoreReloKind.TYPE_EXISTS, CoreReloKind.TYPE_MATCHES):
        return _Value(1)
    if kind is CoreReloKind.TYPE_SIZE:
        size = spec.btf.size_of(spec.root_type_id)
        if size is None:
            raise BtfError(f"CO-RE: type [{spec.root_type_id}] has no size")
        return _Value(size)
    raise BtfError(f"CO-RE: unsupported relocation kind {kind.label}")  # pragma: no cover


def _enum_value(kind: CoreReloKind, spec: CoreSpec | None) -> _Value:
    """libbpf ``bpf_core_calc_enumval_relo()``."""
    if kind is CoreReloKind.ENUMVAL_EXISTS:
        return _Value(1 if spec is not None else 0)
    if spec is None:
        return _Value(None)
    acc = spec.accessors[0]
    return _Value(spec.btf.type(acc.type_id).values[acc.idx].value)


def _value(kind: CoreReloKind, spec: CoreSpec | None) -> _Value:
    if kind.is_field_based:
        return _field_value(kind, spec)
    if kind.is_type_based:
        return _type_value(kind, spec)
    return _enum_value(kind, spec)


def _sizes_adjustable(local: Btf, orig: _Value, targ: Btf, new: _Value) -> bool:
    """libbpf allows a different load size only for pointers and unsigned integers."""
    if orig.size == new.size or not orig.type_id or not new.type_id:
        return True
    ot, nt = local.type(orig.type_id), targ.type(new.type_id)
    if ot.kind is BtfKind.PTR and nt.kind is BtfKind.PTR:
        return True
    return (
        ot.kind is BtfKind.INT
        and nt.kind is BtfKind.INT
        and ot.encoding is not None
        and nt.encoding is not None
        and not ot.encoding.signed
        and not nt.encoding.signed
    )


# -- candidates and the top-level calculation -------------------------------------------------


def find_candidates(local: Btf, local_id: int, targ: Btf) -> tuple[int, ...]:
    """libbpf ``bpf_core_add_cands()``: target types of a compatible kind whose essential
    name equals the local type's (``task_struct___old`` finds ``task_struct``)."""
    lt = local.type(local_id)
    ess = essential_name(lt.name)
    if not ess:
        return ()
    found = []
    # Candidates are the exact essential name and its ___flavors: two cheap lookups instead
    # of every name that merely starts with it (``file`` would match thousands).
    for tid in sorted(set(targ.find(ess)) | set(targ.find_prefixed(ess + "___"))):
        tt = targ.type(tid)
        if tt.name and essential_name(tt.name) == ess and _kind_core_compat(tt, lt):
            found.append(tid)
    return tuple(found)


def _path(spec: CoreSpec) -> str:
    """``task_struct.se.vruntime`` / ``enum pid_type::PIDTYPE_TGID`` for messages, with
    ``___flavor`` suffixes dropped: it names what the target kernel lacks."""
    root = spec.btf.type(spec.root_type_id)
    name = essential_name(root.name) or "<anon>"
    if spec.kind.is_type_based:
        return f"{root.kind.label} {name}"
    if spec.kind.is_enumval_based:
        return f"{root.kind.label} {name}::{essential_name(spec.accessors[0].name or '')}"
    path = name
    for i, acc in enumerate(spec.accessors):
        if acc.name is not None:
            path += f".{acc.name}"
        elif i > 0:
            path += f"[{acc.idx}]"
    return path


def calc_relo(
    relo: CoreRelo,
    local: Btf,
    targ: Btf,
    candidates: tuple[int, ...] | None = None,
) -> CoreResult:
    """libbpf ``bpf_core_calc_relo_insn()`` for one relocation; never raises for bad BTF
    (malformed input becomes ``CoreResult.error``)."""
    try:
        return _calc(relo, local, targ, candidates)
    except BtfError as exc:
        return CoreResult(relo=relo, local=None, ok=False, error=str(exc))


def _calc(relo: CoreRelo, local: Btf, targ: Btf, candidates: tuple[int, ...] | None) -> CoreResult:
    local_spec = parse_spec(local, relo)
    kind = relo.kind
    if kind is CoreReloKind.TYPE_ID_LOCAL:
        return CoreResult(
            relo, local_spec, True, relo.type_id, relo.type_id, reason="local type id"
        )
    local_type = local.type(relo.type_id)
    if not local_type.name:
        return CoreResult(
            relo,
            local_spec,
            False,
            error=f"<{kind.label}> relocation does not support anonymous types",
        )
    orig = _value(kind, local_spec)
    cands = find_candidates(local, relo.type_id, targ) if candidates is None else candidates
    matched: list[tuple[int, CoreSpec, _Value]] = []
    reasons: list[str] = []
    for cand in cands:
        targ_spec, why = spec_match(local_spec, targ, cand)
        if targ_spec is None:
            reasons.append(why or "not compatible")
            continue
        new = _value(kind, targ_spec)
        if matched:
            first_spec, first_val = matched[0][1], matched[0][2]
            if targ_spec.bit_offset != first_spec.bit_offset:
                return CoreResult(
                    relo,
                    local_spec,
                    False,
                    candidates=cands,
                    error=(
                        f"field offset ambiguity: candidates [{matched[0][0]}] and [{cand}]"
                        f" put {_path(local_spec)} at bit {first_spec.bit_offset} and"
                        f" {targ_spec.bit_offset}"
                    ),
                )
            if (new.value is None) != (first_val.value is None) or new.value != first_val.value:
                return CoreResult(
                    relo,
                    local_spec,
                    False,
                    candidates=cands,
                    error=(
                        f"relocation decision ambiguity: candidates [{matched[0][0]}] and"
                        f" [{cand}] give {first_val.value} and {new.value}"
                    ),
                )
        matched.append((cand, targ_spec, new))
    matched_ids = tuple(m[0] for m in matched)
    if matched:
        cand, targ_spec, new = matched[0]
        adjustable = _sizes_adjustable(local, orig, targ, new)
        return CoreResult(
            relo,
            local_spec,
            ok=new.value is not None,
            orig_value=orig.value,
            new_value=new.value,
            poisoned=new.value is None,
            target=targ_spec,
            candidates=cands,
            matched=matched_ids,
            orig_size=orig.size,
            new_size=new.size,
            mem_size_mismatch=not adjustable,
            reason=None,
        )
    new = _value(kind, None)
    if cands:
        reason = "; ".join(sorted(set(reasons)))
    else:
        reason = (
            f"no {local_type.kind.label} named '{essential_name(local_type.name)}' in target BTF"
        )
    return CoreResult(
        relo,
        local_spec,
        ok=new.value is not None,
        orig_value=orig.value,
        new_value=new.value,
        poisoned=new.value is None,
        candidates=cands,
        matched=(),
        missing=_path(local_spec),
        reason=reason,
    )


def calc_relos(
    relos: dict[str, tuple[CoreRelo, ...]], local: Btf, targ: Btf
) -> dict[str, tuple[CoreResult, ...]]:
    """Every relocation of an object, with candidates cached per local root type like libbpf."""
    cache: dict[int, tuple[int, ...]] = {}
    out: dict[str, tuple[CoreResult, ...]] = {}
    for sec, recs in relos.items():
        results = []
        for relo in recs:
            cands: tuple[int, ...] | None = None
            if relo.kind is not CoreReloKind.TYPE_ID_LOCAL:
                try:
                    cands = cache.get(relo.type_id)
                    if cands is None:
                        cands = cache[relo.type_id] = find_candidates(local, relo.type_id, targ)
                except BtfError:
                    cands = None
            results.append(calc_relo(relo, local, targ, cands))
        out[sec] = tuple(results)
    return out
