"""Shared helpers for the BTF tests: a C source exercising every BTF kind clang emits, compiled
with clang-19 for both byte orders, and extraction of .BTF / .BTF.ext from the object.

Also holds the tests that check the helpers themselves.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

KINDS_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define __tag(x) __attribute__((btf_decl_tag(x)))
#define __ttag(x) __attribute__((btf_type_tag(x)))

enum small { SMALL_A = 1, SMALL_B = -2 };
enum big64 { BIG_A = 0x100000000ULL, BIG_B = 7 };

struct flags {
	unsigned int lo : 3;
	unsigned int hi : 5;
	int whole;
	union { int u_i; char u_c[4]; };
} __attribute__((preserve_access_index));

struct task_like {
	int pid;
	int tgid;
	struct task_like *parent;
	struct flags fl[2];
	char comm[16];
} __attribute__((preserve_access_index));

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, struct flags);
} fmap SEC(".maps");

int global_counter __tag("counter") = 0;
const volatile enum small cfg_small = SMALL_A;
const volatile enum big64 cfg_big = BIG_A;
float fval;
int __ttag("user") *tagged_ptr;

static __noinline int helper_fn(struct task_like *t __tag("arg"), int x)
{
	return BPF_CORE_READ(t, parent, tgid) + x;
}

SEC("tracepoint/syscalls/sys_enter_write")
int prog_kinds(void *ctx)
{
	struct task_like *t = (void *)bpf_get_current_task();
	int v = helper_fn(t, 1);
	if (bpf_core_field_exists(t->comm))
		v += bpf_core_field_size(t->fl[1].whole);
	v += BPF_CORE_READ_BITFIELD_PROBED(&t->fl[0], hi);
	if (bpf_core_type_exists(struct task_like))
		v++;
	if (bpf_core_enum_value_exists(enum small, SMALL_B))
		v += bpf_core_enum_value(enum small, SMALL_B);
	v += bpf_core_type_size(struct flags);
	v += bpf_core_type_id_kernel(struct task_like);
	v += bpf_core_type_matches(struct flags);
	global_counter += v + cfg_small + (int)cfg_big;
	__u32 k = 0;
	bpf_map_lookup_elem(&fmap, &k);
	return 0;
}

SEC("xdp")
int prog_second(struct xdp_md *ctx)
{
	return ctx->data_end > ctx->data ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
"""

VMLINUX = Path("/sys/kernel/btf/vmlinux")


def compile_bpf(src: str, out: Path, *, big_endian: bool = False) -> Path:
    """Build ``src`` with clang-19 (the conftest ``clang`` marker guarantees it exists)."""
    clang = shutil.which("clang-19") or "clang"
    c_file = out.with_suffix(".c")
    c_file.write_text(src)
    target = "bpfeb" if big_endian else "bpfel"
    subprocess.run(
        [
            clang,
            "-g",
            "-O2",
            "-target",
            target,
            "-D__TARGET_ARCH_x86",
            "-c",
            str(c_file),
            "-o",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    return out


def section(path: Path, name: str) -> bytes:
    with path.open("rb") as fh:
        sec = ELFFile(fh).get_section_by_name(name)
        assert sec is not None, f"{path} has no {name}"
        data: bytes = sec.data()
        return data


def bpftool_types(path: Path) -> list[dict[str, object]]:
    """``bpftool -j btf dump file PATH format raw`` as a list of type dicts."""
    out = subprocess.run(
        ["bpftool", "-j", "btf", "dump", "file", str(path), "format", "raw"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    types: list[dict[str, object]] = json.loads(out)["types"]
    return types


_BUILT: dict[str, Path] = {}


def build_kinds_objects(factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``{"little": path, "big": path}`` objects built from KINDS_C, once per session."""
    if not _BUILT:
        tmp = factory.mktemp("btf_kinds")
        _BUILT["little"] = compile_bpf(KINDS_C, tmp / "kinds_el.o")
        _BUILT["big"] = compile_bpf(KINDS_C, tmp / "kinds_eb.o", big_endian=True)
    return dict(_BUILT)


@pytest.fixture(scope="session")
def kinds_objects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_kinds_objects(tmp_path_factory)


@pytest.mark.clang
def test_kinds_objects_carry_btf_and_ext(kinds_objects: dict[str, Path]) -> None:
    for path in kinds_objects.values():
        assert section(path, ".BTF")[:2] in (b"\x9f\xeb", b"\xeb\x9f")
        assert len(section(path, ".BTF.ext")) > 32
