"""The ISA level we report agrees with what clang's -mcpu produced (built on the fly)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bpfdoctor.elf import BpfObject

# Code that gives each -mcpu level a reason to use its new instructions: unsigned < compares
# (v2), 32-bit compares and fetch-add (v3), sign extension and signed division (v4; clang
# refuses signed division below v4, hence the #if). The fetch-add is kept out of v1/v2 builds:
# clang 19 emits atomic_fetch_add even at -mcpu=v1, while the kernel only accepts BPF_FETCH
# since 5.12, so we (deliberately) rate it v3 -- see test_fetch_add_at_v1_is_rated_v3.
SOURCE = r"""
typedef unsigned int u32; typedef long long s64; typedef unsigned long long u64;
typedef signed char s8;
#define SEC(n) __attribute__((section(n), used))
char LICENSE[] SEC("license") = "GPL";
u64 counter;
SEC("xdp") int prog(u32 *ctx)
{
    u32 a = ctx[0], b = ctx[1];
    s64 wide = (s8)ctx[2];
#if __BPF_CPU_VERSION__ >= 3
    u64 old = __sync_fetch_and_add(&counter, a);
#else
    u64 old = 7;
    __sync_fetch_and_add(&counter, a);
#endif
    if (a < b)
#if __BPF_CPU_VERSION__ >= 4
        return (int)(wide / (s64)(int)b);
#else
        return (int)wide;
#endif
    return (int)old;
}
"""


@pytest.mark.clang
@pytest.mark.parametrize("mcpu", ["v1", "v2", "v3", "v4"])
def test_reported_isa_never_exceeds_mcpu(tmp_path: Path, mcpu: str):
    from conftest import clang_for_bpf

    clang = clang_for_bpf()
    assert clang is not None
    src = tmp_path / "isa.c"
    src.write_text(SOURCE)
    obj = tmp_path / f"isa_{mcpu}.o"
    subprocess.run(
        [clang, "-target", "bpf", f"-mcpu={mcpu}", "-O2", "-c", str(src), "-o", str(obj)],
        check=True, capture_output=True,
    )
    level = BpfObject.open(obj).isa
    assert level.level <= int(mcpu[1])
    if mcpu == "v4":
        # sign extension of a char and signed 64-bit division exist only in v4
        assert level.level == 4
        assert level.reason is not None and level.insn is not None
    if mcpu == "v3":
        assert level.level == 3


@pytest.mark.clang
def test_fetch_add_at_v1_is_rated_v3(tmp_path: Path):
    from conftest import clang_for_bpf

    clang = clang_for_bpf()
    assert clang is not None
    src = tmp_path / "fetch.c"
    src.write_text(
        '#define SEC(n) __attribute__((section(n), used))\n'
        'unsigned long long c;\n'
        'SEC("xdp") int prog(unsigned int *ctx) { return __sync_fetch_and_add(&c, ctx[0]); }\n'
    )
    obj = tmp_path / "fetch.o"
    subprocess.run(
        [clang, "-target", "bpf", "-mcpu=v1", "-O2", "-c", str(src), "-o", str(obj)],
        check=True, capture_output=True,
    )
    level = BpfObject.open(obj).isa
    assert level.name == "v3"
    assert level.reason is not None and "fetch" in level.reason
