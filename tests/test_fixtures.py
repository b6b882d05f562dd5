"""The committed BPF fixtures are complete, described truthfully by the manifest, reproducible
from their sources, and (where a kernel is at hand) still behave as recorded."""

from __future__ import annotations

import importlib.util
import platform
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from bpfdoctor.knowledge import uapi
from bpfdoctor.model import Category

REPO = Path(__file__).resolve().parent.parent
ELF = REPO / "fixtures" / "elf"
MANIFEST = ELF / "manifest.toml"


def _load_module(name: str) -> ModuleType:
    """Import fixtures/elf/<name>.py (build.py, survey.py) by path, under a private name."""
    full = f"bpfdoctor_fixture_{name}"
    if full in sys.modules:
        return sys.modules[full]
    spec = importlib.util.spec_from_file_location(full, ELF / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[full] = mod
    spec.loader.exec_module(mod)
    return mod


build = _load_module("build")
survey = _load_module("survey")


def _manifest() -> dict[str, Any]:
    return tomllib.loads(MANIFEST.read_text())


OBJECTS: list[dict[str, Any]] = _manifest()["object"]
BY_NAME = {o["name"]: o for o in OBJECTS}
FAIL = [o for o in OBJECTS if o["kind"] == "fail"]


def _sources() -> set[Path]:
    return set(ELF.glob("*.bpf.c")) | set(ELF.glob("fail/*.bpf.c"))


def _objects() -> set[Path]:
    return set(ELF.glob("*.bpf.o")) | set(ELF.glob("fail/*.bpf.o"))


def test_every_source_has_its_object_and_the_reverse() -> None:
    sources = {p.with_suffix(".o") for p in _sources()}
    objects = _objects()
    assert sources - objects == set(), "sources without a committed object (run build.py)"
    assert objects - sources == set(), "objects without a source"


def test_enough_fixtures() -> None:
    assert len(list(ELF.glob("*.bpf.c"))) >= 22
    assert len(list(ELF.glob("fail/*.bpf.c"))) >= 16


def test_manifest_lists_every_fixture_once() -> None:
    listed = [o["source"] for o in OBJECTS]
    assert len(listed) == len(set(listed))
    assert {str(p.relative_to(ELF)) for p in _sources()} == set(listed)
    names = [o["name"] for o in OBJECTS]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("obj", OBJECTS, ids=lambda o: o["name"])
def test_manifest_names_existing_files_and_valid_values(obj: dict[str, Any]) -> None:
    assert (ELF / obj["source"]).is_file()
    assert (ELF / obj["object"]).is_file()
    categories = {c.value for c in Category}
    if "expected_category" in obj:
        assert obj["expected_category"] in categories
    if obj["kind"] == "fail":
        assert "expected_category" in obj, "a fail fixture must say which category it shows"
        assert "expected_message" in obj, "a fail fixture must say what the kernel prints"
    prog_types = set(uapi.prog_types().values()) | {"unknown"}
    attach_types = set(uapi.attach_types().values()) | {""}
    for prog in obj.get("program", []):
        assert prog["type"] in prog_types, prog
        assert prog["attach_type"] in attach_types, prog
    live = obj.get("live_result")
    if live is not None:
        assert live["result"] in {"ok", "load-failed", "open-failed"}
        if live["result"] != "ok":
            assert (REPO / live["log"]).is_file()
            if "expected_message" in obj:
                assert obj["expected_message"] in (REPO / live["log"]).read_text()
    if live is not None and "tc_log" in live:
        assert live["tc_result"] in {"ok", "failed"}
        assert (REPO / live["tc_log"]).is_file()
    if obj["kind"] == "fail":
        assert live is not None and live["result"] != "ok"
    if live is not None and live["result"] != "ok":
        category = live.get("category", obj.get("expected_category"))
        assert category in categories, "a load that fails here must carry a category"
        if "expected_errno" in obj:
            assert live["errno"] == obj["expected_errno"]


def test_objects_declare_their_build_flags_truthfully() -> None:
    """ELF header endianness matches the recipe's target (bpfeb objects are big-endian)."""
    for obj in OBJECTS:
        with (ELF / obj["object"]).open("rb") as fh:
            big = ELFFile(fh).little_endian is False
        assert big == (obj["target"] == "bpfeb"), obj["name"]


@pytest.mark.parametrize("obj", OBJECTS, ids=lambda o: o["name"])
def test_manifest_matches_the_committed_object(obj: dict[str, Any]) -> None:
    """The manifest was regenerated after the last rebuild (survey.py reads the same ELF)."""
    info = survey.inspect_object(build.read_recipe(ELF / obj["source"]))
    got = [(p.name, p.section) for p in info.programs]
    assert got == [(p["name"], p["section"]) for p in obj.get("program", [])]
    assert info.maps == obj["maps"]
    assert info.legacy_maps == obj["legacy_maps"]
    assert info.data_sections == obj["data_sections"]
    assert info.license == obj["license"]
    assert (info.recipe.target, info.recipe.mcpu) == (obj["target"], obj["mcpu"])


def test_section_table_follows_libbpf_rules() -> None:
    assert survey.section_type("xdp") == ("xdp", "xdp")
    assert survey.section_type("xdp.frags") == ("xdp", "xdp")
    assert survey.section_type("xdpfoo") is None
    assert survey.section_type("tc") == ("sched_cls", "")
    assert survey.section_type("tcx/ingress") == ("sched_cls", "tcx_ingress")
    assert survey.section_type("fentry.s/do_unlinkat") == ("tracing", "trace_fentry")
    assert survey.section_type("uprobe.s/libc.so.6:malloc") == ("kprobe", "")
    assert survey.section_type("sk_skb/stream_verdict") == ("sk_skb", "sk_skb_stream_verdict")
    assert survey.section_type("not_a_section") is None


def test_objects_are_small() -> None:
    """Committed objects stay small: no vmlinux.h-sized BTF sneaks in."""
    for path in _objects():
        assert path.stat().st_size < 200_000, path


def _elf_shape(path: Path) -> tuple[list[str], list[tuple[str, str]]]:
    with path.open("rb") as fh:
        elf = ELFFile(fh)
        sections = [s.name for s in elf.iter_sections()]
        symtab = elf.get_section_by_name(".symtab")
        assert isinstance(symtab, SymbolTableSection)
        symbols = sorted(
            (s.name, s["st_info"]["type"])
            for s in symtab.iter_symbols()
            if s.name and s["st_info"]["type"] in ("STT_FUNC", "STT_OBJECT")
        )
    return sections, symbols


REBUILD_SAMPLE = ["xdp_lb", "core_relos", "maps_btf", "fail/null_check_missing"]


@pytest.mark.clang
@pytest.mark.parametrize("name", REBUILD_SAMPLE)
def test_rebuild_gives_same_sections_and_symbols(name: str, tmp_path: Path) -> None:
    recipe = build.read_recipe(ELF / f"{name}.bpf.c")
    out = tmp_path / "x.bpf.o"
    proc = build.build(recipe, build.DEFAULT_CLANG, out)
    assert proc.returncode == 0, proc.stderr
    assert _elf_shape(out) == _elf_shape(ELF / recipe.output)


@pytest.fixture(scope="module")
def loaded_here() -> Any:
    """Load each object once with bpftool, each in a private mount namespace and bpffs."""
    results: dict[str, Any] = {}
    for obj in OBJECTS:
        info = survey.inspect_object(build.read_recipe(ELF / obj["source"]))
        results[obj["name"]] = survey.load_with_bpftool(info)
    return results


@pytest.mark.kernel
@pytest.mark.bpftool
@pytest.mark.parametrize("obj", FAIL, ids=lambda o: o["name"])
def test_fail_fixture_still_fails_here_for_its_reason(
    obj: dict[str, Any], loaded_here: Any
) -> None:
    live = loaded_here[obj["name"]]
    assert live.result != "ok"
    if _manifest()["meta"]["kernel"] == platform.release():
        # Wording changes between kernels; the reason is pinned on the kernel it was recorded on.
        assert obj["expected_message"] in live.log
    if "expected_errno" in obj:
        assert live.errno_name == obj["expected_errno"]


@pytest.mark.kernel
@pytest.mark.bpftool
@pytest.mark.parametrize("obj", OBJECTS, ids=lambda o: o["name"])
def test_live_result_matches_manifest_on_the_recorded_kernel(
    obj: dict[str, Any], loaded_here: Any
) -> None:
    meta = _manifest()["meta"]
    if meta["kernel"] != platform.release():
        pytest.skip(f"manifest recorded on {meta['kernel']}, this is {platform.release()}")
    live = loaded_here[obj["name"]]
    assert live.result == obj["live_result"]["result"], live.log[-2000:]
    assert live.loaded == obj["live_result"]["loaded"]


@pytest.mark.kernel
@pytest.mark.bpftool
def test_loading_leaves_nothing_behind(loaded_here: Any) -> None:
    """After every fixture was loaded, no program or map named like ours is left."""
    progs = subprocess.run(["bpftool", "prog", "show"], capture_output=True, text=True).stdout
    maps = subprocess.run(["bpftool", "map", "show"], capture_output=True, text=True).stdout
    ours = {p["name"][:15] for o in OBJECTS for p in o.get("program", [])}
    left = [n for n in ours if f" name {n} " in progs]
    assert left == []
    assert " name shared_config " not in maps
    assert not survey.PIN_DIR.exists()


@pytest.mark.clang
def test_build_list_mode_shows_deterministic_flags() -> None:
    """`build.py --list` prints one clang command per fixture with the deterministic flags."""
    if shutil.which(build.DEFAULT_CLANG) is None:
        pytest.skip("clang-19 not installed")
    out = subprocess.run(
        [sys.executable, str(ELF / "build.py"), "--list"], capture_output=True, text=True
    )
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    assert len(lines) == len(_sources())
    assert all("-fdebug-prefix-map=" in line and "-g" in line.split() for line in lines)
