"""Objects built on the fly for cases the committed fixtures do not cover (clang marker)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bpfdoctor.check import run_check
from bpfdoctor.elf import BpfObject

pytestmark = pytest.mark.clang

HEADER = r"""
#define SEC(n) __attribute__((section(n), used))
typedef unsigned int u32; typedef unsigned long long u64;
char LICENSE[] SEC("license") = "GPL";
"""


def build(tmp_path: Path, source: str, *flags: str) -> Path:
    from conftest import clang_for_bpf

    clang = clang_for_bpf()
    assert clang is not None
    src = tmp_path / "t.c"
    src.write_text(HEADER + source)
    obj = tmp_path / "t.o"
    subprocess.run(
        [clang, "-target", "bpf", "-O2", "-g", *flags, "-c", str(src), "-o", str(obj)],
        check=True, capture_output=True,
    )
    return obj


def test_static_entry_program_and_callbacks_and_may_goto(tmp_path):
    obj = build(tmp_path, r"""
static long (*bpf_loop)(u32 nr, void *cb, void *ctx, u64 flags) = (void *)181;
static int cb(u32 i, void *ctx) { return 0; }
SEC("xdp") static int hidden(void *ctx) { return 2; }
SEC("xdp") int looper(void *ctx) {
    bpf_loop(10, cb, 0, 0);
    asm volatile("may_goto +0");
    return 2;
}
""")
    doc = run_check(obj).to_json()
    assert [(f["rule"], f["category"], f["program"]) for f in doc["findings"]] == [
        ("OB003", "loader-unsupported", "hidden")
    ]
    progs = {p["name"]: p for p in doc["object"]["programs"]}
    assert progs["hidden"]["static"] is True
    assert progs["looper"]["subprograms"] == ["cb"]  # reached through the callback
    assert progs["looper"]["helpers"] == ["bpf_loop"]
    features = {r["name"]: r for r in doc["object"]["requirements"] if r["kind"] == "feature"}
    assert "may_goto" in features
    assert "cb" in features["callbacks"]["why"]


@pytest.mark.parametrize("extra_words", [1, 3, 5])
def test_legacy_maps_sized_from_the_symbol_table(tmp_path, extra_words):
    """Record sizes 24, 32 and 40 bytes: the loader divides the section by the symbol count."""
    fields = "".join(f"u32 pad{i};" for i in range(extra_words))
    obj = build(tmp_path, rf"""
struct def {{ u32 type, key_size, value_size, max_entries, map_flags; {fields} }};
struct def SEC("maps") first = {{ .type = 1, .key_size = 4, .value_size = 8, .max_entries = 16 }};
struct def SEC("maps") second = {{ .type = 2, .key_size = 4, .value_size = 4, .max_entries = 2 }};
static void *(*lookup)(void *map, const void *key) = (void *)1;
SEC("socket") int prog(void *ctx) {{ u32 k = 0; return lookup(&first, &k) || lookup(&second, &k); }}
""")
    maps = {m.name: m for m in BpfObject.open(obj).maps}
    assert maps["first"].record_size == 20 + 4 * extra_words
    assert (maps["first"].type, maps["first"].max_entries) == ("hash", 16)
    assert (maps["second"].type, maps["second"].value_size) == ("array", 4)
    doc = run_check(obj).to_json()
    assert {f["rule"] for f in doc["findings"]} == {"OB002"}
    assert doc["object"]["programs"][0]["maps"] == ["first", "second"]


def test_iproute2_36_byte_maps_with_pinning(tmp_path):
    obj = build(tmp_path, r"""
struct bpf_elf_map { u32 type, size_key, size_value, max_elem, flags, id, pinning, inner_id, inner_idx; };
struct bpf_elf_map SEC("maps") pinned = { .type = 2, .size_key = 4, .size_value = 4,
                                          .max_elem = 1, .pinning = 2 };
static void *(*lookup)(void *map, const void *key) = (void *)1;
SEC("classifier") int cls(void *ctx) { u32 k = 0; return lookup(&pinned, &k) != 0; }
""")
    m = BpfObject.open(obj).maps[0]
    assert (m.record_size, m.pinning) == (36, "global_ns")
    assert dict(m.extra)["inner_idx"] == 0


def test_v4_object_and_big_endian(tmp_path):
    obj = build(tmp_path, r"""
SEC("xdp") int prog(u32 *ctx) { signed char c = (signed char)ctx[0]; long long w = c;
    return (int)(w / (long long)(int)ctx[1]); }
""", "-mcpu=v4")
    assert BpfObject.open(obj).isa.name == "v4"
    be = build(tmp_path, r"""
static void *(*lookup)(void *map, const void *key) = (void *)1;
struct { int type; int max; } m SEC(".maps");
SEC("tc") int prog(void *ctx) { return 0; }
""", "-mbig-endian")
    b = BpfObject.open(be)
    assert b.endianness == "big"
    assert [p.name for p in b.entry_programs] == ["prog"]
    # a .maps definition with plain int members is what libbpf calls "expected PTR"
    (bad,) = b.maps
    assert bad.problems and "expected PTR" in bad.problems[0]
    doc = run_check(b).to_json()
    assert [f["rule"] for f in doc["findings"]] == ["OB006"]


def test_unknown_section_with_legacy_spelling(tmp_path):
    obj = build(tmp_path, r"""
SEC("kprobe_sys_open") int old_style(void *ctx) { return 0; }
""")
    doc = run_check(obj).to_json()
    f = doc["findings"][0]
    assert (f["rule"], f["category"], f["severity"]) == ("OB001", "section-unknown", "error")
    assert "kprobe/<function>" in f["fixes"][0]
    assert doc["verdict"] == "fail"
