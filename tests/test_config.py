"""Preflight configuration: both file forms, strict validation, ignores, object globs."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpfdoctor.config import (
    Ignore,
    expand_objects,
    find_config,
    load_config,
)
from bpfdoctor.errors import InputError
from bpfdoctor.model import Category, Finding, Severity
from bpfdoctor.targets import LoaderSpec

FULL = """
objects = ["build/*.bpf.o", "extra/one.o"]
loader = "libbpf=1.1"
fail-on = "warning"
jobs = 3

[targets]
here = "live"
debian = "profile:profiles/debian.json"
lts = "kernel:5.10"
ubuntu = { btf = "btf/ubuntu.btf", kconfig = "btf/config", kernel = "5.15.0" }
old-iproute = { kernel = "4.19", loader = "iproute2" }

[[ignore]]
rule = "ob002"
object = "build/legacy*.o"
reason = "legacy loader path, tracked in #12"

[[ignore]]
rule = "KC*"
program = "xdp_*"
target = "lts"
reason = "5.10 is best effort"
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_bpfdoctor_toml(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path / "bpfdoctor.toml", FULL))
    assert cfg.root == tmp_path
    assert cfg.objects == ("build/*.bpf.o", "extra/one.o")
    assert cfg.loader == LoaderSpec("libbpf", "1.1")
    assert cfg.fail_on is Severity.WARNING
    assert cfg.jobs == 3
    names = [t.name for t in cfg.targets]
    assert names == ["here", "debian", "lts", "ubuntu", "old-iproute"]
    by = {t.name: t for t in cfg.targets}
    assert (by["debian"].kind, by["debian"].value) == ("profile", "profiles/debian.json")
    assert (by["ubuntu"].kind, by["ubuntu"].kconfig, by["ubuntu"].kernel_version) == (
        "btf", "btf/config", "5.15.0")
    assert by["old-iproute"].loader == LoaderSpec("iproute2")
    assert by["lts"].kernel_version == "5.10"
    assert cfg.ignores[0] == Ignore("OB002", "legacy loader path, tracked in #12",
                                    object="build/legacy*.o")


def test_pyproject_table(tmp_path: Path) -> None:
    text = "[project]\nname = 'x'\n\n[tool.bpfdoctor]\nobjects = ['a.o']\ntargets = ['live', 'kernel:6.1']\n"
    cfg = load_config(write(tmp_path / "pyproject.toml", text))
    assert [t.name for t in cfg.targets] == ["live", "kernel-6.1"]


def test_pyproject_without_table(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", "[project]\nname = 'x'\n")
    with pytest.raises(InputError, match=r"pyproject.toml: no \[tool.bpfdoctor\] table"):
        load_config(path)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("objets = ['a.o']", "bpfdoctor.toml: objets: unknown key"),
        ("objects = 3", "bpfdoctor.toml: objects: must be a list of strings"),
        ("objects = ['']", "bpfdoctor.toml: objects[0]: must be a non-empty string"),
        ("fail-on = 'fatal'", "bpfdoctor.toml: fail-on: unknown severity 'fatal'"),
        ("loader = 'gcc'", "bpfdoctor.toml: loader: unknown loader 'gcc'"),
        ("jobs = 0", "bpfdoctor.toml: jobs: must be a positive integer"),
        ("jobs = true", "bpfdoctor.toml: jobs: must be a positive integer"),
        ("targets = 'live'", "bpfdoctor.toml: targets: must be a table"),
        ("[targets]\nx = 'kernel:5'", "bpfdoctor.toml: targets.x: kernel version '5'"),
        ("[targets]\nx = 3", "bpfdoctor.toml: targets.x: must be a target string or a table"),
        ("[targets]\nx = { btf = 'a', profile = 'b' }", "targets.x: give exactly one of"),
        ("[targets]\nx = { live = true, colour = 'red' }", "targets.x.colour: unknown key"),
        ("[targets]\nx = { live = 'yes' }", "targets.x.live: must be true"),
        ("[targets]\n'bad name' = 'live'", "target name 'bad name'"),
        ("[targets]\nx = 'live,name=y'", "name=y differs from the table key 'x'"),
        ("targets = ['live', 'live']", "two targets are named 'live'"),
        ("[[ignore]]\nrule = 'OB002'", "bpfdoctor.toml: ignore[0].reason: missing"),
        ("[[ignore]]\nreason = 'x'", "bpfdoctor.toml: ignore[0].rule: missing"),
        ("[[ignore]]\nrule = 'OB002'\nreason = ''", "ignore[0].reason: must be a non-empty"),
        ("[[ignore]]\nrule = 'OB002'\nreason = 'r'\nwhy = 1", "ignore[0].why: unknown key"),
        ("[[ignore]]\nrule = 'OB002'\nreason = 'r'\ntarget = 'nope'", "names no configured target"),
        ("ignore = 'OB002'", "ignore: must be an array of tables"),
        ("objects = [", "bpfdoctor.toml: not valid TOML"),
    ],
)
def test_strict_validation_names_file_and_key(tmp_path: Path, text: str, fragment: str) -> None:
    path = write(tmp_path / "bpfdoctor.toml", text)
    with pytest.raises(InputError) as err:
        load_config(path)
    message = str(err.value)
    assert fragment in message, message
    assert message.startswith(str(path))
    assert "\n" not in message


def test_pyproject_errors_use_dotted_tool_key(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", "[tool.bpfdoctor]\nfail_on = 'error'\n")
    with pytest.raises(InputError, match=r"pyproject.toml: tool.bpfdoctor.fail_on: unknown key"):
        load_config(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="configuration file not found"):
        load_config(tmp_path / "nope.toml")


def test_find_config_prefers_bpfdoctor_toml_and_walks_up(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    write(tmp_path / "pyproject.toml", "[tool.bpfdoctor]\nobjects = ['a.o']\n")
    sub = tmp_path / "src" / "deep"
    sub.mkdir(parents=True)
    assert find_config(sub) == tmp_path / "pyproject.toml"
    write(tmp_path / "bpfdoctor.toml", "objects = ['a.o']\n")
    assert find_config(sub) == tmp_path / "bpfdoctor.toml"


def test_find_config_skips_pyproject_without_table(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    write(tmp_path / "pyproject.toml", "[project]\nname = 'x'\n")
    assert find_config(tmp_path) is None


def test_expand_objects(tmp_path: Path) -> None:
    for name in ("build/a.bpf.o", "build/sub/b.bpf.o", "build/c.txt", "one.o"):
        write(tmp_path / name, "x")
    found = expand_objects(["build/**/*.bpf.o", "one.o", "build/a.bpf.o"], tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "build/a.bpf.o", "build/sub/b.bpf.o", "one.o"]


def test_expand_objects_pattern_matching_nothing_fails(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"'out/\*.o' matched no file"):
        expand_objects(["out/*.o"], tmp_path)


def _finding(rule: str, program: str | None = None) -> Finding:
    return Finding(rule, Category.LOADER_UNSUPPORTED, Severity.ERROR, "m", program=program)


def test_ignore_matching() -> None:
    ign = Ignore("KC*", "why", object="build/legacy*.o", program="xdp_*", target="lts")
    assert ign.matches(_finding("KC003", "xdp_main"), "build/legacy_v1.o", "lts")
    assert not ign.matches(_finding("OB002", "xdp_main"), "build/legacy_v1.o", "lts")
    assert not ign.matches(_finding("KC003", "tc_main"), "build/legacy_v1.o", "lts")
    assert not ign.matches(_finding("KC003", None), "build/legacy_v1.o", "lts")
    assert not ign.matches(_finding("KC003", "xdp_main"), "build/new.o", "lts")
    assert not ign.matches(_finding("KC003", "xdp_main"), "build/legacy_v1.o", "live")
    # an object pattern may also name just the file
    assert Ignore("KC003", "why", object="legacy*.o").matches(
        _finding("KC003"), "deep/dir/legacy_v1.o", "live")


_toml_scalars = st.one_of(st.booleans(), st.integers(-2, 5), st.sampled_from(
    ["live", "kernel:5.10", "profile:p.json", "error", "KC003", "", "x", "*.o"]))
_toml_values = st.recursive(
    _toml_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.sampled_from(
                                ["rule", "reason", "target", "btf", "kernel", "live", "objects",
                                 "name", "x"]), inner, max_size=3)),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(
    ["objects", "targets", "loader", "fail-on", "ignore", "jobs", "other"]), _toml_values,
    max_size=5))
def test_any_table_validates_or_fails_with_one_line(table: dict[str, object]) -> None:
    from bpfdoctor.config import parse_config

    try:
        parse_config(table, source="fuzz.toml", root=Path("."))
    except InputError as exc:
        message = str(exc)
        assert message.startswith("fuzz.toml: ") or message.startswith("fuzz.toml")
        assert "\n" not in message
