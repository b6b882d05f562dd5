"""A real distribution kernel: Debian 12's linux-image-6.1.0-*-amd64-unsigned, fetched with
apt (``apt-get download`` + ``dpkg-deb``, nothing installed), turned into an offline profile
by ``profile from-kernel``, and used as a ``check --profile`` target.

Unlike this machine's kernel it has kprobes (CONFIG_KPROBES=y) and module BTF
(CONFIG_DEBUG_INFO_BTF_MODULES=y). Its System.map is Debian's placeholder, so the function
list comes from the kallsyms table decoded out of the vmlinuz.

Downloads ~70 MB once per session into a pytest temporary directory, or once for good into
``$BPFDOCTOR_TEST_CACHE`` when that is set (nothing is left in the home directory otherwise);
skips cleanly without apt or network. The ``debian61_profile`` session fixture gives other
tests in this module the generated ``profile.json``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bpfdoctor.cli import app
from bpfdoctor.model import FeatureState

pytestmark = pytest.mark.network

REPO = Path(__file__).resolve().parent.parent
ELF = REPO / "fixtures" / "elf"
MODULES = ("net/netfilter/nf_conntrack.ko", "net/ipv4/tcp_bbr.ko", "drivers/net/veth.ko")
runner = CliRunner()


def _cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = os.environ.get("BPFDOCTOR_TEST_CACHE")
    path = Path(root) / "debian61" if root else tmp_path_factory.mktemp("debian61")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _package_name() -> str:
    out = subprocess.run(["apt-cache", "search", "--names-only", r"^linux-image-6\.1\.0-"],
                         capture_output=True, text=True, timeout=60)
    found = re.findall(r"^(linux-image-6\.1\.0-(\d+)-amd64-unsigned)\s", out.stdout, re.M)
    if not found:
        pytest.skip("apt knows no linux-image-6.1.0-*-amd64-unsigned (not Debian 12 sources?)")
    return max(found, key=lambda m: int(m[1]))[0]


def _download(cache: Path) -> Path:
    debs = sorted(cache.glob("linux-image-6.1.0-*-amd64-unsigned_*.deb"))
    if debs:
        return debs[-1]
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        pytest.skip("needs apt-get and dpkg-deb")
    name = _package_name()
    res = subprocess.run(["apt-get", "download", name], cwd=cache, capture_output=True,
                         text=True, timeout=600)
    debs = sorted(cache.glob(f"{name}_*.deb"))
    if res.returncode != 0 or not debs:
        pytest.skip(f"apt-get download {name} failed: {res.stderr.strip()[-200:]}")
    return debs[-1]


def _extract(deb: Path, dest: Path) -> None:
    """boot/ and a handful of modules only: the whole package is 4000 modules."""
    if (dest / "done").exists():
        return
    patterns = ["./boot/*"] + [f"./lib/modules/*/kernel/{m}" for m in MODULES]
    dest.mkdir(exist_ok=True)
    tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    try:
        subprocess.run(["tar", "-x", "-C", str(dest), "--wildcards", *patterns],
                       stdin=tar.stdout, check=True, timeout=300)
    finally:
        assert tar.stdout is not None
        tar.stdout.close()
        tar.wait(timeout=60)
    (dest / "done").write_text("ok\n")


@pytest.fixture(scope="session")
def debian61_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = _cache(tmp_path_factory)
    deb = _download(cache)
    tree = cache / deb.name.removesuffix(".deb")
    _extract(deb, tree)
    return tree


@pytest.fixture(scope="session")
def debian61_profile(debian61_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``profile.json`` of the Debian 6.1 kernel, with its artifacts next to it."""
    boot = debian61_tree / "boot"
    config = next(boot.glob("config-*"))
    out = tmp_path_factory.mktemp("debian61-profile")
    res = runner.invoke(app, [
        "profile", "from-kernel", "--config", str(config),
        "--vmlinuz", str(next(boot.glob("vmlinuz-*"))),
        "--system-map", str(next(boot.glob("System.map-*"))),
        "--modules", str(debian61_tree / "lib" / "modules"),
        "--out", str(out), "--format", "json",
    ])
    assert res.exit_code == 0, res.output
    return out / "profile.json"


@pytest.fixture(scope="session")
def debian61_target(debian61_profile: Path):  # type: ignore[no-untyped-def]
    from bpfdoctor.targetload import profile_target

    return profile_target(debian61_profile, name="debian61")


def _check(obj: str, *target: str) -> dict:  # type: ignore[type-arg]
    res = runner.invoke(app, ["check", str(ELF / obj), *target, "--format", "json"])
    assert res.exit_code in (0, 1), res.output
    doc: dict = json.loads(res.stdout)  # type: ignore[type-arg]
    return doc


def test_profile_describes_the_debian_kernel(debian61_profile: Path) -> None:
    doc = json.loads(debian61_profile.read_text())
    assert doc["schema"] == "bpfdoctor.profile/1"
    host = doc["host"]
    assert re.match(r"6\.1\.0-\d+-amd64$", host["kernel_release"])
    assert host["arch"] == "x86_64" and host["distro"] == "Debian"
    assert doc["artifacts"]["kconfig_complete"] is True
    assert doc["artifacts"]["vmlinux_btf"] == "vmlinux.btf"
    assert doc["from_kernel"]["functions_source"] == "kallsyms"
    assert any("placeholder" in n for n in doc["from_kernel"]["notes"])


def test_kprobes_available_there(debian61_target) -> None:  # type: ignore[no-untyped-def]
    p = debian61_target.profile
    assert p.kconfig_value("KPROBES") == "y"
    assert p.state("tracing", "kprobe") is FeatureState.SUPPORTED
    assert p.state("tracing", "kprobe_multi") is FeatureState.UNSUPPORTED  # no CONFIG_FPROBE


def test_btf_parsed_and_dates_the_kernel(debian61_target) -> None:  # type: ignore[no-untyped-def]
    t = debian61_target
    assert t.btf is not None and t.btf.find("task_struct")
    p = t.profile
    assert p.state("prog_types", "xdp") is FeatureState.SUPPORTED
    assert p.state("map_types", "user_ringbuf") is FeatureState.SUPPORTED  # 6.1
    assert p.state("map_types", "cgrp_storage") is FeatureState.UNSUPPORTED  # 6.2
    assert p.state("prog_types", "netfilter") is FeatureState.UNSUPPORTED  # 6.4
    assert p.state("isa", "v4") is FeatureState.UNSUPPORTED  # 6.6


def test_module_btf_present(debian61_target) -> None:  # type: ignore[no-untyped-def]
    mods = debian61_target.module_btf
    assert mods is not None and {"nf_conntrack", "tcp_bbr", "veth"} <= set(mods)
    assert mods["nf_conntrack"]().find("nf_conntrack_tuple")
    assert debian61_target.profile.kconfig_value("DEBUG_INFO_BTF_MODULES") == "y"


def test_functions_from_the_kernel_symbols(debian61_target) -> None:  # type: ignore[no-untyped-def]
    fns = debian61_target.functions
    assert fns is not None and len(fns) > 30000
    assert {"do_unlinkat", "tcp_v4_connect", "__x64_sys_openat"} <= fns
    assert any(".isra." in f for f in fns) and any(".constprop." in f for f in fns)


def test_kprobe_fixture_attaches_there(debian61_profile: Path) -> None:
    doc = _check("tracing.bpf.o", "--profile", str(debian61_profile))
    assert doc["target"]["kind"] == "profile"
    by_prog = {(f["rule"], f["program"]) for f in doc["findings"]}
    for prog in ("unlink_entry", "unlink_exit", "connect_entry"):
        assert ("KC021", prog) not in by_prog  # kprobes configured
        assert ("KC019", prog) not in by_prog  # function in kallsyms
    # kprobe.multi needs fprobe, which Debian 6.1 leaves off
    assert ("KC021", "tcp_any") in by_prog


@pytest.mark.kernel
def test_same_fixture_on_this_machine_has_no_kprobes(debian61_profile: Path) -> None:
    from bpfdoctor.probe.kconfig import read_host_kconfig

    kconfig, _ = read_host_kconfig()
    if kconfig.enabled("CONFIG_KPROBES") is not False:
        pytest.skip("this machine has kprobes (or no readable config)")
    doc = _check("tracing.bpf.o", "--live")
    assert ("KC021", "unlink_entry") in {(f["rule"], f["program"]) for f in doc["findings"]}


def test_kfuncs_newer_than_61_are_missing(debian61_profile: Path) -> None:
    doc = _check("kfuncs.bpf.o", "--profile", str(debian61_profile))
    missing = {f["evidence"].get("kfunc") or f["message"] for f in doc["findings"]
               if f["rule"] == "KC007"}
    assert any("bpf_task_acquire" in m for m in missing)  # added in 6.2
    assert doc["verdict"] == "fail"
