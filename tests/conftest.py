"""Shared test configuration: markers that skip cleanly where the host cannot run them."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"
ELF_FIXTURES = FIXTURES / "elf"
CORPUS = REPO.parent / "shared" / "corpus"


@functools.cache
def bpf_syscall_works() -> bool:
    """True when we are root and BPF_MAP_CREATE of a tiny array map succeeds."""
    if os.geteuid() != 0:
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    nr = {"x86_64": 321, "aarch64": 280}.get(os.uname().machine)
    if nr is None:
        return False
    attr = ctypes.create_string_buffer(struct.pack("<IIII", 2, 4, 4, 1), 128)
    fd = libc.syscall(nr, 0, attr, 128)
    if fd < 0:
        return False
    os.close(fd)
    return True


@functools.cache
def clang_for_bpf() -> str | None:
    for name in ("clang-19", "clang"):
        path = shutil.which(name)
        if path is None:
            continue
        out = subprocess.run([path, "-print-targets"], capture_output=True, text=True)
        if "bpf" in out.stdout:
            return path
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skips = {
        "kernel": (not bpf_syscall_works(), "needs root and a working bpf() syscall"),
        "bpftool": (shutil.which("bpftool") is None, "bpftool is not installed"),
        "clang": (clang_for_bpf() is None, "clang with the BPF target is not installed"),
    }
    for item in items:
        for marker, (skip, why) in skips.items():
            if skip and marker in item.keywords:
                item.add_marker(pytest.mark.skip(reason=why))


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def elf_fixtures() -> Path:
    return ELF_FIXTURES
