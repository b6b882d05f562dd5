"""targetload: a TargetSpec becomes the Target checks read, for saved profiles (with and
without from-kernel artifacts), kernel BTF files (raw or ELF, with kconfig= and kernel=) and
bare versions; every bad input is one BpfDoctorError line."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from bpfdoctor.errors import BpfDoctorError, InputError
from bpfdoctor.kernelprofile import HostFacts, KernelProfile, save
from bpfdoctor.model import FeatureState
from bpfdoctor.targetload import resolve_target, safe_resolve
from bpfdoctor.targets import parse_target

REPO = Path(__file__).resolve().parent.parent
VMLINUX = Path("/sys/kernel/btf/vmlinux")
OBJ = REPO / "fixtures" / "elf" / "tracing.bpf.o"
needs_vmlinux = pytest.mark.skipif(not VMLINUX.exists(), reason="needs /sys/kernel/btf/vmlinux")


def resolve(text: str):  # type: ignore[no-untyped-def]
    return safe_resolve(parse_target(text))


# -- kernel:X.Y ------------------------------------------------------------------------------


def test_kernel_version_target_uses_the_version_table() -> None:
    t = resolve("kernel:5.10")
    assert (t.info.kind, t.facts_source, t.kernel_version) == ("kernel-version",
                                                              "version-table", "5.10")
    assert t.btf is None and t.functions is None and t.module_btf is None
    assert not t.kconfig_complete
    assert t.notes and "backports" in t.notes[0]


def test_same_spec_resolves_once() -> None:
    spec = parse_target("kernel:5.15,name=ubuntu")
    assert resolve_target(spec) is resolve_target(spec)
    assert resolve_target(spec).info.name == "ubuntu"


# -- profile:PATH ----------------------------------------------------------------------------


def _plain_profile(tmp_path: Path) -> Path:
    path = tmp_path / "p.json"
    save(KernelProfile(captured_at="2026-01-01T00:00:00Z",
                       host=HostFacts(kernel_release="5.15.0-91-generic"),
                       kconfig={"CONFIG_KPROBES": "y"}), path)
    return path


def test_probe_profile_without_artifacts(tmp_path: Path) -> None:
    t = resolve(f"profile:{_plain_profile(tmp_path)}")
    assert (t.info.kind, t.facts_source, t.kernel_version) == ("profile", "profile",
                                                              "5.15.0-91-generic")
    assert t.btf is None and t.functions is None and t.module_btf is None
    assert not t.kconfig_complete  # a probe keeps only the BPF-relevant options
    assert t.profile.kconfig_value("KPROBES") == "y"
    assert t.info.name == "p"


def _with_artifacts(tmp_path: Path, artifacts: dict[str, object]) -> Path:
    path = _plain_profile(tmp_path)
    doc = json.loads(path.read_text())
    doc["artifacts"] = artifacts
    path.write_text(json.dumps(doc))
    return path


@needs_vmlinux
def test_profile_artifacts_fill_btf_modules_and_functions(tmp_path: Path) -> None:
    shutil.copy(VMLINUX, tmp_path / "vmlinux.btf")
    (tmp_path / "modules").mkdir()
    (tmp_path / "functions.txt.gz").write_bytes(gzip.compress(b"do_unlinkat\nfoo.isra.0\n\n"))
    (tmp_path / "tps.txt").write_text("sched/sched_switch\n")
    path = _with_artifacts(tmp_path, {
        "vmlinux_btf": "vmlinux.btf", "modules_btf": "modules/",
        "functions": "functions.txt.gz", "tracepoints": "tps.txt", "kconfig_complete": True,
    })
    t = resolve(f"profile:{path}")
    assert t.btf is not None and t.btf.find("task_struct")
    assert t.module_btf == {}  # known: no module BTF at all
    assert t.functions == frozenset({"do_unlinkat", "foo.isra.0"})
    assert t.tracepoints == frozenset({"sched/sched_switch"})
    assert t.kconfig_complete


def test_profile_artifact_that_is_missing_is_one_line(tmp_path: Path) -> None:
    path = _with_artifacts(tmp_path, {"vmlinux_btf": "nope.btf"})
    with pytest.raises(InputError, match=r"artifacts\.vmlinux_btf: .*nope\.btf does not exist"):
        resolve(f"profile:{path}")


@needs_vmlinux
def test_profile_modules_artifact_must_be_a_directory(tmp_path: Path) -> None:
    shutil.copy(VMLINUX, tmp_path / "vmlinux.btf")
    (tmp_path / "modules").write_text("a file")
    path = _with_artifacts(tmp_path, {"vmlinux_btf": "vmlinux.btf", "modules_btf": "modules"})
    with pytest.raises(InputError, match="not a directory"):
        resolve(f"profile:{path}")


def test_profile_artifact_that_is_not_btf(tmp_path: Path) -> None:
    (tmp_path / "vmlinux.btf").write_text("not btf at all")
    path = _with_artifacts(tmp_path, {"vmlinux_btf": "vmlinux.btf"})
    with pytest.raises(BpfDoctorError, match="magic"):
        resolve(f"profile:{path}")


def test_profile_null_artifacts_are_unknown(tmp_path: Path) -> None:
    path = _with_artifacts(tmp_path, {"vmlinux_btf": None, "functions": None,
                                      "modules_btf": None, "tracepoints": None})
    t = resolve(f"profile:{path}")
    assert t.btf is None and t.functions is None and t.module_btf is None


@pytest.mark.parametrize("content,message", [
    (b"{not json", "not JSON"),
    (b'{"schema": "bpfdoctor.profile/9"}', "not supported"),
    (b'{"schema": "something-else"}', "not a bpfdoctor kernel profile"),
    (b"\xff\xfe\x00binary", "UTF-8"),
    (b'{"schema": "bpfdoctor.profile/1", "captured_at": "x", "host": {"kernel_release": "v"},'
     b' "features": {}}', "not a kernel release"),
])
def test_bad_profiles_are_one_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(BpfDoctorError, match=message) as err:
        resolve(f"profile:{path}")
    assert "\n" not in str(err.value)


def test_missing_profile(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read profile"):
        resolve(f"profile:{tmp_path / 'absent.json'}")


# -- btf:PATH --------------------------------------------------------------------------------


@needs_vmlinux
def test_raw_kernel_btf_target() -> None:
    t = resolve(f"btf:{VMLINUX}")
    assert (t.info.kind, t.facts_source, t.kernel_version) == ("btf", "btf", None)
    assert t.btf is not None
    p = t.profile
    assert p.state("prog_types", "xdp") is FeatureState.SUPPORTED
    assert p.state("helpers", "bpf_map_lookup_elem") is FeatureState.SUPPORTED
    assert "unspec" not in p.features["prog_types"]
    assert p.btf.vmlinux_present and "STRUCT" in p.btf.vmlinux_kinds
    assert not t.kconfig_complete and not p.kconfig


@needs_vmlinux
def test_btf_target_with_kconfig_and_version(tmp_path: Path) -> None:
    cfg = tmp_path / "config.gz"
    cfg.write_bytes(gzip.compress(b"CONFIG_BPF=y\nCONFIG_KPROBES=y\n# CONFIG_BPF_LSM is not set\n"))
    t = resolve(f"btf:{VMLINUX},kconfig={cfg},kernel=6.18.2")
    assert t.kernel_version == "6.18.2" and t.info.kernel == "6.18.2"
    assert t.kconfig_complete
    assert t.profile.kconfig_value("KPROBES") == "y"
    assert t.profile.kconfig_value("BPF_LSM") == "n"
    assert t.profile.kconfig_source == str(cfg)


@needs_vmlinux
@pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("objcopy") is None
                    or shutil.which("llvm-objcopy") is None,
                    reason="needs gcc, objcopy and llvm-objcopy")
def test_btf_target_from_an_elf_with_btf_section(tmp_path: Path) -> None:
    """A vmlinux-like ELF: the kernel's BTF in a .BTF section."""
    (tmp_path / "empty.c").write_text("int x;\n")
    subprocess.run(["gcc", "-c", str(tmp_path / "empty.c"), "-o", str(tmp_path / "empty.o")],
                   check=True)
    shutil.copy(VMLINUX, tmp_path / "vmlinux.btf")
    elf = tmp_path / "vmlinux"
    subprocess.run(["objcopy", "--add-section", f".BTF={tmp_path / 'vmlinux.btf'}",
                    str(tmp_path / "empty.o"), str(elf)], check=True, capture_output=True)
    t = resolve(f"btf:{elf}")
    assert t.btf is not None and t.btf.find("task_struct")
    assert t.profile.state("prog_types", "xdp") is FeatureState.SUPPORTED
    stripped = tmp_path / "nobtf.o"
    subprocess.run(["llvm-objcopy", "--remove-section", ".BTF", "--remove-section", ".rel.BTF",
                    "--remove-section", ".BTF.ext", "--remove-section", ".rel.BTF.ext",
                    str(OBJ), str(stripped)], check=True, capture_output=True)
    with pytest.raises(InputError, match=r"ELF file without a \.BTF section"):
        resolve(f"btf:{stripped}")


@needs_vmlinux
def test_truncated_btf_is_one_line(tmp_path: Path) -> None:
    trunc = tmp_path / "trunc.btf"
    trunc.write_bytes(VMLINUX.read_bytes()[:4096])
    with pytest.raises(BpfDoctorError, match=r"past the end|truncated") as err:
        resolve(f"btf:{trunc}")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("content,message", [
    (b"hello world, not BTF", "neither raw BTF"),
    (b"", "neither raw BTF"),
    (b"\x7fELF" + b"\0" * 10, "malformed ELF"),
])
def test_not_btf_is_one_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "x.btf"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        resolve(f"btf:{path}")


@needs_vmlinux
def test_btf_target_bad_kconfig(tmp_path: Path) -> None:
    cfg = tmp_path / "config"
    cfg.write_text("this is not a kernel config\n")
    with pytest.raises(InputError, match=r"not a kernel \.config"):
        resolve(f"btf:{VMLINUX},kconfig={cfg}")
    with pytest.raises(InputError, match="cannot read kconfig"):
        resolve(f"btf:{VMLINUX},kconfig={tmp_path / 'absent'}")


def test_missing_btf_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        resolve(f"btf:{tmp_path / 'absent.btf'}")


def test_btf_directory_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        resolve(f"btf:{tmp_path}")
