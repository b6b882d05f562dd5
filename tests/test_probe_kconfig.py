"""kconfig parser: pure, with text fixtures (=y, =m, strings, numbers, 'is not set')."""

from __future__ import annotations

import gzip

import pytest

from bpfdoctor.errors import InputError
from bpfdoctor.probe.kconfig import (
    BPF_OPTIONS,
    Kconfig,
    candidate_paths,
    decode_config_bytes,
    parse_kconfig,
)

CONFIG = """\
#
# Automatically generated file; DO NOT EDIT.
# Linux/x86 6.18.44 Kernel Configuration
#
CONFIG_CC_VERSION_TEXT="gcc (Debian 12.2.0-14) 12.2.0"
CONFIG_BPF=y
CONFIG_BPF_SYSCALL=y
CONFIG_BPF_JIT=y
# CONFIG_KPROBES is not set
CONFIG_NET_CLS_BPF=m
CONFIG_HZ=250
CONFIG_LSM="landlock,lockdown,yama,bpf"
#CONFIG_NET_SCH_BPF is not set
   CONFIG_DEBUG_INFO_BTF=y

# a comment that mentions CONFIG_FAKE=y
CONFIG_ESCAPED="a \\"quoted\\" word"
"""


def test_values_of_each_form() -> None:
    k = parse_kconfig(CONFIG, "fixture")
    assert k.get("CONFIG_BPF") == "y"
    assert k.get("CONFIG_NET_CLS_BPF") == "m"
    assert k.get("CONFIG_HZ") == "250"
    assert k.get("CONFIG_LSM") == "landlock,lockdown,yama,bpf"
    assert k.get("CONFIG_KPROBES") == "n"
    assert k.get("CONFIG_NET_SCH_BPF") == "n"  # no space after '#'
    assert k.get("CONFIG_DEBUG_INFO_BTF") == "y"  # leading blanks
    assert k.get("CONFIG_ESCAPED") == 'a "quoted" word'
    assert k.get("CONFIG_FAKE") is None  # inside an ordinary comment
    assert k.source == "fixture"


def test_enabled_treats_modules_as_enabled_and_absent_as_off() -> None:
    k = parse_kconfig(CONFIG)
    assert k.enabled("CONFIG_NET_CLS_BPF") is True
    assert k.enabled("CONFIG_BPF") is True
    assert k.enabled("CONFIG_KPROBES") is False
    assert k.enabled("CONFIG_NOT_IN_FILE") is False


def test_enabled_is_unknown_without_a_config() -> None:
    assert Kconfig({}, None).enabled("CONFIG_BPF") is None


def test_relevant_covers_bpftool_options_and_fills_n() -> None:
    rel = parse_kconfig(CONFIG).relevant()
    assert set(rel) == set(BPF_OPTIONS)
    assert rel["CONFIG_BPF_LSM"] == "n"
    assert rel["CONFIG_NET_CLS_BPF"] == "m"
    for opt in ("CONFIG_KPROBES", "CONFIG_KPROBE_EVENTS", "CONFIG_UPROBES", "CONFIG_FPROBE",
                "CONFIG_DEBUG_INFO_BTF_MODULES", "CONFIG_BPF_LSM", "CONFIG_MODULES",
                "CONFIG_SECURITY_LOCKDOWN_LSM", "CONFIG_NET_SCH_BPF", "CONFIG_FUNCTION_TRACER"):
        assert opt in rel
    assert len(BPF_OPTIONS) >= 33 + 10


def test_not_a_config_is_one_clear_error() -> None:
    with pytest.raises(InputError, match="no CONFIG_ options"):
        parse_kconfig("hello\nworld\n", "/tmp/x")


def test_gzip_is_detected_and_corrupt_gzip_reported() -> None:
    assert "CONFIG_BPF=y" in decode_config_bytes(gzip.compress(CONFIG.encode()), "config.gz")
    with pytest.raises(InputError, match="corrupt gzip"):
        decode_config_bytes(b"\x1f\x8b\x08garbage", "config.gz")


def test_lookup_order_matches_libbpf() -> None:
    paths = candidate_paths("6.1.0-test")
    assert paths[0] == "/boot/config-6.1.0-test"
    assert paths[1] == "/proc/config.gz"
    assert "/lib/modules/6.1.0-test/config" in paths
    assert "/usr/src/linux-6.1.0-test/.config" in paths
    assert "/boot/config" in paths
