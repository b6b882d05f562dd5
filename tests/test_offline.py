"""Offline kernel profiles: kallsyms decoding, vmlinuz payloads, System.map, module BTF,
profile synthesis, and ``profile from-kernel`` / ``profile show`` on this machine's BTF."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bpfdoctor.btf import Btf
from bpfdoctor.cli import app
from bpfdoctor.errors import BpfDoctorError, InputError
from bpfdoctor.model import FeatureState
from bpfdoctor.offline import synth
from bpfdoctor.offline.bzimage import extract_vmlinux
from bpfdoctor.offline.fromkernel import KernelFiles, build, write
from bpfdoctor.offline.kallsyms import decode_kallsyms
from bpfdoctor.offline.modules import name_from_filename, read_module
from bpfdoctor.offline.sysmap import parse_system_map
from bpfdoctor.offline.version import btf_lower_bound, release_from_string

REPO = Path(__file__).resolve().parent.parent
VMLINUX = Path("/sys/kernel/btf/vmlinux")
ELF_OBJ = REPO / "fixtures" / "elf" / "tracing.bpf.o"
needs_vmlinux = pytest.mark.skipif(not VMLINUX.exists(), reason="needs /sys/kernel/btf/vmlinux")
runner = CliRunner()


# -- kallsyms: a table laid out as scripts/kallsyms.c writes it ------------------------------


def _kallsyms_blob(symbols: list[str], *, seqs: bool, big_at: int | None = None) -> bytes:
    """Encode ``symbols`` (type char + name) with one character per token, like a kernel
    whose token table kept only single characters; prefix and suffix with noise."""
    tokens = [bytes([i]) if 0x20 < i < 0x7F else f"<{i:02x}>".encode() for i in range(256)]
    names = bytearray()
    markers = []
    for i, sym in enumerate(symbols):
        if i % 256 == 0:
            markers.append(len(names))
        body = sym.encode()
        if big_at == i:
            body = body + b"x" * 200  # needs the two-byte length form (6.1+)
        n = len(body)
        names += bytes([n]) if n < 0x80 else bytes([0x80 | (n & 0x7F), n >> 7])
        names += body
    def pad(b: bytearray | bytes) -> bytes:
        return bytes(b) + b"\0" * (-len(b) % 8)
    table = b"".join(t + b"\0" for t in tokens)
    index = struct.pack("<256H", *[sum(len(t) + 1 for t in tokens[:i]) for i in range(256)])
    out = b"\x55" * 64 + struct.pack("<II", len(symbols), 0) + pad(names)
    out += pad(struct.pack(f"<{len(markers)}I", *markers))
    if seqs:
        out += pad(b"\x00\x01\x02" * len(symbols))
    return out + pad(table) + index + b"\x66" * 32


SYMS = [f"{'tT'[i % 2]}func_{i}" for i in range(600)] + ["dsome_data", "ttcp_v4_connect.isra.0",
                                                          "Tfoo.llvm.123456"]


@pytest.mark.parametrize("seqs", [False, True])
def test_kallsyms_decodes_a_kernel_layout(seqs: bool) -> None:
    table = decode_kallsyms(_kallsyms_blob(SYMS, seqs=seqs, big_at=3))
    assert table is not None
    assert len(table.symbols) == len(SYMS)
    assert table.had_seqs_of_names is seqs
    text = table.text_symbols()
    assert "func_0" in text and "some_data" not in text
    assert "tcp_v4_connect.isra.0" in text and "foo.llvm.123456" in text
    assert "func_3" + "x" * 200 in text


def test_kallsyms_refuses_inconsistent_tables() -> None:
    assert decode_kallsyms(b"no table here" * 100) is None
    blob = bytearray(_kallsyms_blob(SYMS, seqs=False))
    struct.pack_into("<I", blob, 64, len(SYMS) + 5)  # symbol count disagrees with markers
    assert decode_kallsyms(bytes(blob)) is None
    blob = bytearray(_kallsyms_blob(SYMS, seqs=False))
    blob[64 + 8 + 1] = ord("#")  # first symbol's type is no nm type
    assert decode_kallsyms(bytes(blob)) is None


# -- vmlinuz ---------------------------------------------------------------------------------


def _bzimage(payload: bytes, version: bytes = b"6.1.0-99-test (x@y) #1 SMP") -> bytes:
    setup_sects = 3
    head = bytearray((setup_sects + 1) * 512)
    head[0x1F1] = setup_sects
    head[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", head, 0x206, 0x20F)
    head[0x400:0x400 + len(version) + 1] = version + b"\0"
    struct.pack_into("<H", head, 0x20E, 0x400 - 0x200)
    prefix = b"\x90" * 100
    struct.pack_into("<II", head, 0x248, len(prefix), len(payload) + 4)
    return bytes(head) + prefix + payload + struct.pack("<I", 12345)


ELF = ELF_OBJ.read_bytes()


@pytest.mark.parametrize("compress,name", [
    (lambda b: lzma.compress(b, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32), "xz"),
    (gzip.compress, "gzip"),
    (bz2.compress, "bzip2"),
    (lambda b: lzma.compress(b, format=lzma.FORMAT_ALONE), "lzma"),
])
def test_bzimage_payload_is_found_and_decompressed(compress, name) -> None:
    img = extract_vmlinux(_bzimage(compress(ELF)))
    assert img.vmlinux == ELF and img.compression == name
    assert img.version_string is not None
    assert release_from_string(img.version_string) == "6.1.0-99-test"


def test_payload_without_boot_header_is_found_by_magic() -> None:
    img = extract_vmlinux(b"\0" * 333 + gzip.compress(ELF) + b"trailer")
    assert img.vmlinux == ELF and img.compression == "gzip"


def test_bad_kernel_images_are_one_line_errors() -> None:
    with pytest.raises(InputError, match="not a kernel image"):
        extract_vmlinux(b"hello world" * 1000)
    good = _bzimage(lzma.compress(ELF, format=lzma.FORMAT_XZ))
    with pytest.raises(InputError, match=r"outside|truncated"):
        extract_vmlinux(good[:2000])
    corrupt = _bzimage(lzma.compress(ELF, format=lzma.FORMAT_XZ)[:40] + b"\0" * 200)
    with pytest.raises(InputError, match="corrupt xz"):
        extract_vmlinux(corrupt)
    with pytest.raises(InputError, match="not an ELF"):
        extract_vmlinux(_bzimage(gzip.compress(b"not an elf" * 10)))


# -- System.map ------------------------------------------------------------------------------


def test_system_map_text_symbols() -> None:
    text = ("ffffffff81000000 T _text\nffffffff81000100 t tcp_v4_connect.isra.0\n"
            "ffffffff82000000 D some_data\nffffffff81000200 W weak_fn\n") * 40
    smap = parse_system_map(text)
    assert smap.functions == {"_text", "tcp_v4_connect.isra.0"}
    assert not smap.placeholder


def test_debian_placeholder_system_map_is_recognised() -> None:
    smap = parse_system_map("ffffffffffffffff B The real System.map is in the "
                            "linux-image-<version>-dbg package\n")
    assert smap.placeholder and smap.functions == frozenset()


def test_not_a_system_map() -> None:
    with pytest.raises(InputError, match=r"not a System\.map"):
        parse_system_map("CONFIG_BPF=y\nhello\n")


# -- modules ---------------------------------------------------------------------------------


def test_module_names_follow_the_kernel() -> None:
    assert name_from_filename("snd-hda-intel.ko.xz") == "snd_hda_intel"
    assert name_from_filename("nf_conntrack.ko") == "nf_conntrack"


def test_module_without_btf_and_compressed_modules() -> None:
    mod = read_module(lzma.compress(ELF, format=lzma.FORMAT_XZ), "my-mod.ko.xz", None)
    assert mod.name == "my_mod"
    assert mod.btf is not None  # a BPF object has .BTF; read as-is without a base
    with pytest.raises(InputError, match="not an ELF"):
        read_module(b"junk" * 50, "bad.ko", None)


MODULE_C = """
struct list_head { struct list_head *next, *prev; };
struct my_mod_state { int counter; struct list_head link; };
struct my_mod_state my_mod_global;
int my_mod_fn(struct my_mod_state *s) { return s->counter; }
"""


@needs_vmlinux
@pytest.mark.skipif(any(shutil.which(t) is None for t in ("gcc", "pahole", "objcopy")),
                    reason="needs gcc, pahole and objcopy")
def test_split_module_btf_from_a_ko(tmp_path: Path) -> None:
    """A .ko as the kernel build makes it: split BTF (pahole --btf_base) in .BTF, .modinfo."""
    (tmp_path / "m.c").write_text(MODULE_C)
    subprocess.run(["gcc", "-g", "-c", str(tmp_path / "m.c"), "-o", str(tmp_path / "m.o")],
                   check=True)
    subprocess.run(["pahole", f"--btf_encode_detached={tmp_path / 'm.btf'}",
                    f"--btf_base={VMLINUX}", str(tmp_path / "m.o")], check=True,
                   capture_output=True)
    (tmp_path / "modinfo").write_bytes(b"license=GPL\0name=my_mod\0vermagic=6.18.0 SMP\0")
    subprocess.run(["objcopy", "--add-section", f".BTF={tmp_path / 'm.btf'}",
                    "--add-section", f".modinfo={tmp_path / 'modinfo'}",
                    str(tmp_path / "m.o"), str(tmp_path / "my-mod.ko")], check=True)
    base = Btf.from_bytes(VMLINUX.read_bytes())
    mod = read_module((tmp_path / "my-mod.ko").read_bytes(), "my-mod.ko", base)
    assert mod.name == "my_mod" and mod.vermagic == "6.18.0"
    assert mod.btf is not None
    assert Btf.from_bytes(mod.btf, base=base).find("my_mod_state")
    # the modules tree goes through from-kernel into modules/<name>.btf, which resolves
    tree = tmp_path / "lib" / "modules" / "kernel"
    tree.mkdir(parents=True)
    (tree / "my-mod.ko.xz").write_bytes(
        lzma.compress((tmp_path / "my-mod.ko").read_bytes(), format=lzma.FORMAT_XZ))
    kernel = build(KernelFiles(btf=VMLINUX, modules=tmp_path / "lib", kernel_version="6.18"))
    assert [m.name for m in kernel.modules or ()] == ["my_mod"]
    path = write(kernel, tmp_path / "out")
    from bpfdoctor.targetload import profile_target

    target = profile_target(path, name="t")
    assert target.module_btf is not None and set(target.module_btf) == {"my_mod"}
    assert target.module_btf["my_mod"]().find("my_mod_fn")


# -- synthesis -------------------------------------------------------------------------------


def test_version_profile_dates_every_group() -> None:
    old, new = synth.version_profile("5.4"), synth.version_profile("6.6")
    assert old.state("map_types", "ringbuf") is FeatureState.UNSUPPORTED
    assert new.state("map_types", "ringbuf") is FeatureState.SUPPORTED
    assert old.state("isa", "v4") is FeatureState.UNSUPPORTED
    assert new.state("isa", "v4") is FeatureState.SUPPORTED
    assert old.state("helpers", "bpf_map_lookup_elem") is FeatureState.SUPPORTED
    assert old.feature("map_types", "ringbuf").min_kernel == "5.8"  # type: ignore[union-attr]
    assert old.feature("map_types", "ringbuf").source == "version"  # type: ignore[union-attr]
    assert old.host.kernel_release == "5.4.0"
    for group in ("prog_types", "map_types", "helpers", "attach", "map_flags", "isa",
                  "btf_kinds", "verifier", "program_features"):
        assert old.features[group], group


@needs_vmlinux
def test_btf_features_and_kconfig_refinement() -> None:
    btf = Btf.from_bytes(VMLINUX.read_bytes())
    feats = synth.btf_features(btf, {"CONFIG_BPF_LSM": "n", "CONFIG_BPF_EVENTS": "y"})
    assert feats["prog_types"]["xdp"].state is FeatureState.SUPPORTED
    assert feats["prog_types"]["lsm"].state is FeatureState.UNSUPPORTED
    assert feats["prog_types"]["lsm"].source == "kconfig"
    assert feats["helpers"]["bpf_map_lookup_elem"].state is FeatureState.SUPPORTED
    assert "unspec" not in feats["prog_types"]
    assert feats["btf_kinds"]["btf"].state is FeatureState.SUPPORTED
    bound = btf_lower_bound(btf)
    assert bound is not None and tuple(map(int, bound.split("."))) >= (6, 0)


@needs_vmlinux
def test_from_kernel_keeps_version_dates_under_btf_answers() -> None:
    """BTF confirms what exists; the version table still says since when (min_kernel)."""
    btf = Btf.from_bytes(VMLINUX.read_bytes())
    profile = synth.kernel_profile(release="6.18.0", btf=btf, btf_path=str(VMLINUX),
                                   btf_size=None, kconfig=None, kconfig_source=None,
                                   version_known=True)
    ringbuf = profile.feature("map_types", "ringbuf")
    assert ringbuf is not None and ringbuf.source == "btf" and ringbuf.min_kernel == "5.8"
    mmapable = profile.feature("map_flags", "mmapable")
    assert mmapable is not None and mmapable.source == "btf" and mmapable.min_kernel == "5.5"
    assert "bpf_unspec" not in profile.features["helpers"]


def test_merge_prefers_later_layers_and_keeps_earlier_dates() -> None:
    from bpfdoctor.kernelprofile import Feature

    S, U = FeatureState.SUPPORTED, FeatureState.UNSUPPORTED
    merged = synth.merge(
        {"map_types": {"ringbuf": Feature(U, "introduced in Linux 5.8", "version", "5.8"),
                       "hash": Feature(S, None, "version", "3.19")}},
        {"map_types": {"ringbuf": Feature(S, "from BTF", "btf"),
                       "hash": Feature(S, "from BTF", "btf", "3.18")}},
    )
    assert merged["map_types"]["ringbuf"] == Feature(S, "from BTF", "btf", "5.8")
    assert merged["map_types"]["hash"].min_kernel == "3.18"  # the later layer's own date wins


def test_tracing_facts_from_kconfig() -> None:
    on = synth.tracing_features({"CONFIG_KPROBES": "y", "CONFIG_KPROBE_EVENTS": "y"}, {})
    off = synth.tracing_features({"CONFIG_KPROBES": "n"}, {})
    assert on["kprobe"].state is FeatureState.SUPPORTED
    assert off["kprobe"].state is FeatureState.UNSUPPORTED
    assert "CONFIG_KPROBES" in (off["kprobe"].reason or "")


# -- from-kernel on this machine's BTF -------------------------------------------------------

CONFIG = ("# a kernel config\nCONFIG_BPF=y\nCONFIG_BPF_SYSCALL=y\nCONFIG_KPROBES=y\n"
          "CONFIG_KPROBE_EVENTS=y\nCONFIG_DEBUG_INFO_BTF=y\nCONFIG_BPF_EVENTS=y\n"
          "# CONFIG_BPF_LSM is not set\n")


@needs_vmlinux
def test_from_kernel_cli_writes_what_check_reads(tmp_path: Path) -> None:
    (tmp_path / "config").write_text(CONFIG)
    smap = tmp_path / "System.map"
    smap.write_text("".join(f"ffffffff8100{i:04x} t fn_{i}\n" for i in range(200))
                    + "ffffffff81100000 T do_unlinkat\n")
    out = tmp_path / "prof"
    res = runner.invoke(app, ["profile", "from-kernel", "--config", str(tmp_path / "config"),
                              "--btf", str(VMLINUX), "--system-map", str(smap),
                              "--kernel-version", "6.18.0", "--out", str(out),
                              "--format", "json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["functions"] == 201 and summary["functions_source"] == "System.map"
    doc = json.loads((out / "profile.json").read_text())
    assert doc["schema"] == "bpfdoctor.profile/1"
    assert doc["artifacts"] == {"vmlinux_btf": "vmlinux.btf", "modules_btf": None,
                                "functions": "functions.txt.gz", "tracepoints": None,
                                "kconfig_complete": True}
    from bpfdoctor.targetload import profile_target

    target = profile_target(out / "profile.json", name="t")
    assert target.btf is not None and target.functions is not None
    assert "do_unlinkat" in target.functions and target.kconfig_complete
    assert target.module_btf is None
    assert target.profile.kconfig_value("KPROBES") == "y"
    assert target.profile.state("prog_types", "lsm") is FeatureState.UNSUPPORTED
    shown = runner.invoke(app, ["profile", "show", str(out / "profile.json")])
    assert shown.exit_code == 0, shown.output
    assert "offline profile" in shown.output and "functions from: System.map" in shown.output
    # the kprobe fixture: kprobes configured there, do_unlinkat in its function list
    check = runner.invoke(app, ["check", str(ELF_OBJ), "--profile", str(out / "profile.json"),
                                "--format", "json"])
    assert check.exit_code in (0, 1), check.output
    findings = json.loads(check.stdout)["findings"]
    assert not [f for f in findings if f["rule"] == "KC021" and f["program"] == "unlink_entry"]
    assert not [f for f in findings if f["rule"] == "KC019" and f["program"] == "unlink_entry"]


@pytest.mark.parametrize("args,message", [
    (["--btf", "BTF", "--vmlinux", "BTF"], "exactly one of"),
    (["--btf", "NOTBTF"], "neither|not a kernel|magic|BTF"),
    (["--btf", "TRUNC"], "trunc|BTF|header|string"),
    (["--config", "BINARY", "--btf", "BTF"], "binary file"),
    (["--config", "TEXT", "--btf", "BTF"], "not a kernel .config"),
    (["--vmlinuz", "TEXT"], "not a kernel image"),
    (["--vmlinux", "TEXT"], "not an ELF"),
    (["--btf", "BTF", "--kernel-version", "six"], "not X.Y"),
    (["--btf", "BTF", "--modules", "TEXT"], "not a directory"),
    (["--btf", "MISSING"], "cannot read"),
])
def test_from_kernel_bad_inputs_are_one_line(tmp_path: Path, args: list[str],
                                             message: str) -> None:
    files = {"BTF": VMLINUX, "NOTBTF": tmp_path / "notbtf", "TRUNC": tmp_path / "trunc",
             "BINARY": tmp_path / "bin", "TEXT": tmp_path / "text",
             "MISSING": tmp_path / "missing"}
    files["NOTBTF"].write_bytes(b"\x00" * 100)
    if VMLINUX.exists():
        files["TRUNC"].write_bytes(VMLINUX.read_bytes()[:5000])
    else:
        files["TRUNC"].write_bytes(b"\x9f\xeb\x01\x00" + b"\0" * 20)
    files["BINARY"].write_bytes(b"\x7fELF\x00\x01" * 50)
    files["TEXT"].write_text("hello, not a kernel\n" * 10)
    argv = [str(files.get(a, a)) for a in args]
    if "BTF" in args and not VMLINUX.exists():
        pytest.skip("needs /sys/kernel/btf/vmlinux")
    res = runner.invoke(app, ["profile", "from-kernel", *argv, "--out", str(tmp_path / "o")])
    assert res.exit_code != 0
    assert isinstance(res.exception, BpfDoctorError), res.exception
    text = str(res.exception)
    assert "\n" not in text
    import re

    assert re.search(message, text, re.I), text


def test_profile_show_rejects_non_profiles(tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text('{"schema": "something/1"}')
    res = runner.invoke(app, ["profile", "show", str(bad)])
    assert isinstance(res.exception, BpfDoctorError)


@needs_vmlinux
@pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("objcopy") is None,
                    reason="needs gcc and objcopy")
def test_from_kernel_vmlinux_elf_gives_banner_release_and_kallsyms(tmp_path: Path) -> None:
    """An uncompressed vmlinux: .BTF, and .rodata with linux_banner and the kallsyms tables."""
    (tmp_path / "k.c").write_text("int x;\n")
    subprocess.run(["gcc", "-c", str(tmp_path / "k.c"), "-o", str(tmp_path / "k.o")],
                   check=True)
    (tmp_path / "rodata").write_bytes(b"Linux version 6.18.7-test (me@host) #1 SMP\0\0\0\0\0\0"
                                      + _kallsyms_blob([*SYMS, "Tdo_unlinkat"], seqs=True))
    shutil.copy(VMLINUX, tmp_path / "btf")
    elf = tmp_path / "vmlinux"
    subprocess.run(["objcopy", "--add-section", f".rodata={tmp_path / 'rodata'}",
                    "--add-section", f".BTF={tmp_path / 'btf'}", str(tmp_path / "k.o"),
                    str(elf)], check=True, capture_output=True)
    (tmp_path / "config").write_text(CONFIG)
    kernel = build(KernelFiles(vmlinux=elf, config=tmp_path / "config"))
    assert kernel.profile.host.kernel_release == "6.18.7-test"
    assert kernel.profile.host.arch == "x86_64"
    assert kernel.functions_source == "kallsyms"
    assert kernel.functions is not None and "do_unlinkat" in kernel.functions
    assert kernel.modules is None and kernel.kconfig_complete


@needs_vmlinux
def test_btf_alone_estimates_a_lower_bound_and_says_so() -> None:
    kernel = build(KernelFiles(btf=VMLINUX))
    assert kernel.profile.host.kernel_version.startswith("estimated from BTF enums")
    assert any("pass --kernel-version" in n for n in kernel.notes)
    assert any("no function list" in n for n in kernel.notes)
    assert kernel.functions is None and not kernel.kconfig_complete
    assert "tracing" not in kernel.profile.features  # no config: kprobe support unknown
