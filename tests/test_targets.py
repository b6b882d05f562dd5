"""Target and loader spellings: what parses, what it means, and one-line errors for the rest."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpfdoctor.errors import InputError
from bpfdoctor.targets import (
    LOADER_NAMES,
    LoaderSpec,
    TargetSpec,
    parse_loader,
    parse_target,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("live", TargetSpec("live", None, "live")),
        ("none", TargetSpec("none", None, "none")),
        ("profile:ci/debian-6.1.json", TargetSpec("profile", "ci/debian-6.1.json", "debian-6.1")),
        ("kernel:5.10", TargetSpec("kernel-version", "5.10", "kernel-5.10", None, "5.10")),
        ("kernel-version:6.1.76", TargetSpec("kernel-version", "6.1.76", "kernel-6.1.76", None,
                                             "6.1.76")),
        ("btf:/sys/kernel/btf/vmlinux", TargetSpec("btf", "/sys/kernel/btf/vmlinux", "vmlinux")),
        ("kernel-btf:x.btf,kernel=5.15.0,kconfig=cfg,name=ubuntu",
         TargetSpec("btf", "x.btf", "ubuntu", "cfg", "5.15.0")),
        ("live,name=this-host,loader=libbpf=1.1",
         TargetSpec("live", None, "this-host", loader=LoaderSpec("libbpf", "1.1"))),
        ("  PROFILE:a b.json  ", TargetSpec("profile", "a b.json", "a-b")),
    ],
)
def test_parse_target(text: str, expected: TargetSpec) -> None:
    assert parse_target(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty target"),
        ("vmlinux", "unknown target 'vmlinux'"),
        ("profile:", "needs a value"),
        ("btf", "needs a value"),
        ("live:foo", "takes no value"),
        ("kernel:5", "is not X.Y or X.Y.Z"),
        ("kernel:five.ten", "is not X.Y or X.Y.Z"),
        ("kernel:5.10,kconfig=x", "kconfig= is only for btf"),
        ("profile:p.json,kernel=5.10", "kernel= is only for btf"),
        ("btf:x,kernel=latest", "is not X.Y or X.Y.Z"),
        ("live,name=has space", "target name 'has space'"),
        ("live,colour=red", "bad option 'colour=red'"),
        ("live,name=a,name=b", "given twice"),
        ("live,name=", "empty value"),
        ("live,loader=libbpfx", "unknown loader 'libbpfx'"),
    ],
)
def test_bad_target_is_one_line(text: str, fragment: str) -> None:
    with pytest.raises(InputError) as err:
        parse_target(text, "--target")
    message = str(err.value)
    assert fragment in message
    assert message.startswith("--target: ")
    assert "\n" not in message


def test_str_round_trips() -> None:
    for text in ("live", "kernel:5.4", "btf:/x/vmlinux,kernel=6.1.0,kconfig=/x/config",
                 "profile:p.json,name=prod", "none,name=inventory", "live,loader=bcc"):
        spec = parse_target(text)
        assert parse_target(str(spec)) == spec


@settings(max_examples=60, deadline=None)
@given(
    major=st.integers(2, 9), minor=st.integers(0, 40), patch=st.one_of(st.none(), st.integers(0, 300)),
    name=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,20}", fullmatch=True),
)
def test_kernel_targets_round_trip(major: int, minor: int, patch: int | None, name: str) -> None:
    version = f"{major}.{minor}" + ("" if patch is None else f".{patch}")
    spec = parse_target(f"kernel:{version},name={name}")
    assert (spec.kind, spec.value, spec.kernel_version, spec.name) == (
        "kernel-version", version, version, name)
    assert parse_target(str(spec)) == spec


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("libbpf", LoaderSpec("libbpf")),
        ("libbpf=1.1", LoaderSpec("libbpf", "1.1")),
        ("LIBBPF=v0.8.1", LoaderSpec("libbpf", "0.8.1")),
        ("iproute2-legacy", LoaderSpec("iproute2-legacy")),
        ("cilium-ebpf=0.17.1", LoaderSpec("cilium-ebpf", "0.17.1")),
        ("aya", LoaderSpec("aya")),
    ],
)
def test_parse_loader(text: str, expected: LoaderSpec) -> None:
    spec = parse_loader(text)
    assert spec == expected
    assert parse_loader(str(spec)) == spec


def test_loader_version_tuple() -> None:
    assert LoaderSpec("libbpf", "1.1").version_tuple == (1, 1)
    assert LoaderSpec("libbpf").version_tuple is None


@pytest.mark.parametrize("text", ["", "clang", "libbpf=", "libbpf=one", "libbpf=1..2", "=1.0"])
def test_bad_loader(text: str) -> None:
    with pytest.raises(InputError) as err:
        parse_loader(text)
    assert str(err.value).startswith("--loader: ")


def test_every_documented_loader_parses() -> None:
    for name in LOADER_NAMES:
        assert parse_loader(name).name == name


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("livenoprofilebtfkernel:,=.5 /_-x0123")), max_size=40))
def test_any_text_parses_or_fails_with_input_error(text: str) -> None:
    try:
        spec = parse_target(text)
    except InputError as exc:
        assert "\n" not in str(exc)
    else:
        assert parse_target(str(spec)) == spec
