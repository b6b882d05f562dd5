"""Objects built by others: the BPF programs Debian ships in xdp-tools and libxdp1.

The reader, the checks and the loader were written against our own fixtures; these are
compiled by another project with another toolchain. They are downloaded with `apt-get
download` (marker `network`; skipped cleanly where apt or the archive is not reachable) into a
temporary directory.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bpfdoctor.check import run_check
from bpfdoctor.elf.object import BpfObject
from bpfdoctor.model import Severity
from bpfdoctor.targets import parse_target

PACKAGES = ("xdp-tools", "libxdp1")


@pytest.fixture(scope="module")
def real_objects(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        pytest.skip("apt-get/dpkg not available")
    where = tmp_path_factory.mktemp("debs")
    got = subprocess.run(["apt-get", "download", *PACKAGES], cwd=where, capture_output=True,
                         text=True, timeout=300)
    debs = sorted(where.glob("*.deb"))
    if got.returncode != 0 or len(debs) < len(PACKAGES):
        pytest.skip(f"cannot download {PACKAGES}: {got.stderr.strip()[-200:]}")
    tree = where / "tree"
    for deb in debs:
        subprocess.run(["dpkg", "-x", str(deb), str(tree)], check=True, timeout=120)
    objs = sorted(tree.rglob("*.o"))
    if not objs:
        pytest.skip("the packages ship no BPF objects any more")
    return objs


@pytest.mark.network
def test_every_shipped_object_reads_cleanly(real_objects: list[Path]) -> None:
    for path in real_objects:
        obj = BpfObject.open(path)
        assert obj.entry_programs, path.name
        assert all(p.info.known for p in obj.entry_programs), path.name
        result = run_check(obj)
        errors = [f for f in result.findings if f.severity is Severity.ERROR]
        assert not errors, (path.name, [f.message for f in errors])
        xdp = [p for p in obj.entry_programs if p.info.prog_type == "xdp"]
        if path.name.startswith(("xdpfilt", "xdp-dispatcher", "xsk_def")):
            assert xdp, path.name


def _bpftool_loads(path: Path) -> bool:
    script = 'mount -t bpf bpf /sys/fs/bpf || exit 97; bpftool prog loadall "$1" /sys/fs/bpf/t'
    proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                           script, "sh", str(path)], capture_output=True, text=True, timeout=120)
    if proc.returncode == 97:
        pytest.skip("cannot mount a private bpffs")
    return proc.returncode == 0


@pytest.mark.network
@pytest.mark.kernel
@pytest.mark.bpftool
def test_live_check_and_load_agree_with_bpftool(real_objects: list[Path]) -> None:
    from bpfdoctor.probe.loader.load import LoadOptions, load_object

    for path in real_objects:
        loads = _bpftool_loads(path)
        obj = BpfObject.open(path)
        ours = load_object(obj, LoadOptions())
        all_ok = ours.error_category is None and all(p.ok for p in ours.programs)
        assert all_ok == loads, (path.name, [(p.program, p.errno) for p in ours.programs])
        static = run_check(obj, parse_target("live,loader=bpftool=7.1"))
        errors = [f for f in static.findings if f.severity is Severity.ERROR]
        assert bool(errors) == (not loads), (path.name, [f.message for f in errors])
