"""Public, frozen model of decoded BTF types.

A ``BtfType`` is produced on demand by ``Btf.type(id)``; related types are referenced by id so
that decoding one type never forces decoding the graph behind it (vmlinux has ~130k types).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from bpfdoctor.btf import wire


class BtfKind(IntEnum):
    """BTF_KIND_* values (uapi/linux/btf.h). ``UNKN`` is also the kind of ``void`` (id 0)."""

    UNKN = wire.BTF_KIND_UNKN
    INT = wire.BTF_KIND_INT
    PTR = wire.BTF_KIND_PTR
    ARRAY = wire.BTF_KIND_ARRAY
    STRUCT = wire.BTF_KIND_STRUCT
    UNION = wire.BTF_KIND_UNION
    ENUM = wire.BTF_KIND_ENUM
    FWD = wire.BTF_KIND_FWD
    TYPEDEF = wire.BTF_KIND_TYPEDEF
    VOLATILE = wire.BTF_KIND_VOLATILE
    CONST = wire.BTF_KIND_CONST
    RESTRICT = wire.BTF_KIND_RESTRICT
    FUNC = wire.BTF_KIND_FUNC
    FUNC_PROTO = wire.BTF_KIND_FUNC_PROTO
    VAR = wire.BTF_KIND_VAR
    DATASEC = wire.BTF_KIND_DATASEC
    FLOAT = wire.BTF_KIND_FLOAT
    DECL_TAG = wire.BTF_KIND_DECL_TAG
    TYPE_TAG = wire.BTF_KIND_TYPE_TAG
    ENUM64 = wire.BTF_KIND_ENUM64

    @property
    def label(self) -> str:
        """Lowercase name as libbpf's ``btf_kind_str()`` prints it (``struct``, ``func_proto``)."""
        return "void" if self is BtfKind.UNKN else self.name.lower()


# Kinds whose btf_type.size/type field is a referenced type id (libbpf ``btf_is_mod`` & co).
REF_KINDS: frozenset[BtfKind] = frozenset(
    {
        BtfKind.PTR,
        BtfKind.TYPEDEF,
        BtfKind.VOLATILE,
        BtfKind.CONST,
        BtfKind.RESTRICT,
        BtfKind.FUNC,
        BtfKind.FUNC_PROTO,
        BtfKind.VAR,
        BtfKind.DECL_TAG,
        BtfKind.TYPE_TAG,
    }
)
# Kinds skipped by Btf.resolve(): typedefs and modifiers (libbpf ``skip_mods_and_typedefs``).
MOD_KINDS: frozenset[BtfKind] = frozenset(
    {BtfKind.TYPEDEF, BtfKind.VOLATILE, BtfKind.CONST, BtfKind.RESTRICT, BtfKind.TYPE_TAG}
)
SIZED_KINDS: frozenset[BtfKind] = frozenset(
    {
        BtfKind.INT,
        BtfKind.STRUCT,
        BtfKind.UNION,
        BtfKind.ENUM,
        BtfKind.DATASEC,
        BtfKind.FLOAT,
        BtfKind.ENUM64,
    }
)


class BtfLinkage(IntEnum):
    """btf_func_linkage / btf_var linkage (the numeric values coincide)."""

    STATIC = 0
    GLOBAL = 1
    EXTERN = 2


@dataclass(frozen=True, slots=True)
class BtfMember:
    """struct btf_member, with kflag already applied to split bitfield size from offset."""

    name: str
    type: int
    bit_offset: int
    bitfield_size: int = 0


@dataclass(frozen=True, slots=True)
class BtfParam:
    """struct btf_param; a trailing param with type 0 marks a variadic function."""

    name: str
    type: int


@dataclass(frozen=True, slots=True)
class BtfEnumValue:
    """One enumerator (btf_enum or btf_enum64); ``value`` is sign-interpreted when signed."""

    name: str
    value: int
    signed: bool = False


@dataclass(frozen=True, slots=True)
class BtfArray:
    """struct btf_array."""

    type: int
    index_type: int
    nelems: int


@dataclass(frozen=True, slots=True)
class BtfIntEncoding:
    """The __u32 after an INT btf_type: BTF_INT_ENCODING / BTF_INT_OFFSET / BTF_INT_BITS."""

    signed: bool
    char: bool
    bool: bool
    bits: int
    bit_offset: int = 0


@dataclass(frozen=True, slots=True)
class BtfVarSecinfo:
    """struct btf_var_secinfo: one variable (or function, for .ksyms) placed in a DATASEC."""

    type: int
    offset: int
    size: int


@dataclass(frozen=True, slots=True)
class BtfType:
    """One decoded type. Fields that do not apply to the kind keep their empty default.

    ``size`` is set for sized kinds (INT, STRUCT, UNION, ENUM, ENUM64, DATASEC, FLOAT);
    ``type`` is the referenced id for PTR, TYPEDEF, modifiers, FUNC (its FUNC_PROTO),
    FUNC_PROTO (return type), VAR and DECL_TAG.
    """

    id: int
    kind: BtfKind
    name: str
    name_off: int = 0
    kflag: bool = False
    vlen: int = 0
    size: int | None = None
    type: int | None = None
    members: tuple[BtfMember, ...] = ()
    params: tuple[BtfParam, ...] = ()
    values: tuple[BtfEnumValue, ...] = ()
    array: BtfArray | None = None
    encoding: BtfIntEncoding | None = None
    linkage: BtfLinkage | None = None
    secinfos: tuple[BtfVarSecinfo, ...] = ()
    component_idx: int | None = None

    @property
    def is_composite(self) -> bool:
        return self.kind in (BtfKind.STRUCT, BtfKind.UNION)

    @property
    def is_enum(self) -> bool:
        return self.kind in (BtfKind.ENUM, BtfKind.ENUM64)

    @property
    def is_fwd_union(self) -> bool:
        """FWD with kflag set declares a union, without it a struct."""
        return self.kind is BtfKind.FWD and self.kflag

    @property
    def is_variadic(self) -> bool:
        return self.kind is BtfKind.FUNC_PROTO and bool(self.params) and self.params[-1].type == 0

    def describe(self) -> str:
        """Short human form: ``struct task_struct``, ``int``, ``typedef u32``, ``<anon> union``."""
        name = self.name or "(anon)"
        if self.kind in (BtfKind.INT, BtfKind.FLOAT):
            return name
        if self.kind is BtfKind.UNKN:
            return "void"
        return f"{self.kind.label} {name}"


VOID = BtfType(id=0, kind=BtfKind.UNKN, name="void")
