"""The preflight matrix on the real fixture objects: fan-out, ignores, verdicts, renderers."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from bpfdoctor.config import Ignore, PreflightConfig
from bpfdoctor.errors import InputError
from bpfdoctor.model import Severity
from bpfdoctor.preflight import (
    Cell,
    matrix_rows,
    plan_tasks,
    render_table,
    resolve_target,
    run_config,
    run_matrix,
)
from bpfdoctor.report.check_json import preflight_document, render_check_json
from bpfdoctor.report.github import escape_property, render_annotations, render_summary
from bpfdoctor.targets import parse_target

REPO = Path(__file__).resolve().parent.parent
ELF = REPO / "fixtures" / "elf"
GPL = ELF / "fail" / "gpl_helper_proprietary.bpf.o"
LEGACY = ELF / "legacy_maps.bpf.o"
XDP = ELF / "xdp_lb.bpf.o"
PROFILE = REPO / "tests" / "data" / "debian-6.1.profile.json"

TARGETS = (parse_target("none,name=inventory"), parse_target("kernel:5.10,name=lts"),
           parse_target(f"profile:{PROFILE},name=debian"))


def summary(cells: tuple[Cell, ...]) -> list[tuple[str, str, str, tuple[str, ...]]]:
    return [(c.object_path, c.target.name, c.status, tuple(f.rule for f in c.findings))
            for c in cells]


def test_plan_tasks_is_target_major_and_keeps_workers_busy() -> None:
    targets = [parse_target(f"kernel:5.{i}") for i in range(20)]
    objects = [f"{i}.o" for i in range(10)]
    tasks = plan_tasks(objects, targets, jobs=2)
    assert len(tasks) == 20 and all(t.objects == tuple(objects) for t in tasks)
    assert [t.target for t in tasks] == targets
    few = plan_tasks(objects, targets[:1], jobs=2)
    assert len(few) == 4
    assert [o for t in few for o in t.objects] == objects
    assert plan_tasks(["a.o"], targets[:1], jobs=2) == [type(few[0])(targets[0], ("a.o",))]
    assert plan_tasks([], targets, 2) == []


def test_matrix_is_object_major_and_same_serial_or_parallel() -> None:
    objects = [GPL, LEGACY, XDP]
    serial = run_matrix(objects, TARGETS, jobs=1)
    parallel = run_matrix(objects, TARGETS, jobs=2, min_parallel_seconds=0)
    assert summary(serial.cells) == summary(parallel.cells)
    assert parallel.jobs == 2 and serial.jobs == 1
    assert [(c.object_path.rsplit("/", 1)[-1], c.target.name) for c in serial.cells] == [
        (o.name, t.name) for o in objects for t in TARGETS]


def test_verdicts_against_fail_on() -> None:
    report = run_matrix([GPL, LEGACY, XDP], TARGETS, jobs=1)
    for target in TARGETS:
        # object-level facts hold on every target; target checks may add more findings
        gpl = report.cell(report.objects[0], target.name)
        assert gpl.status == "fail"
        assert [f.program for f in gpl.findings if f.rule == "OB008"] == ["read_kernel_memory"]
        legacy = report.cell(report.objects[1], target.name)
        assert "OB002" in [f.rule for f in legacy.findings]
    gpl = report.cell(report.objects[0], "inventory")
    assert gpl.first_code == "OB008"
    assert report.cell(report.objects[1], "inventory").status == "pass"  # a warning only
    assert report.exit_code == 1 and report.verdict == "fail"
    strict = run_matrix([LEGACY], TARGETS[:1], jobs=1, fail_on=Severity.WARNING)
    assert strict.cells[0].status == "fail" and strict.exit_code == 1


def test_ignores_suppress_with_reason() -> None:
    ignores = (Ignore("OB008", "vendor blob, accepted", object="gpl_*.o"),
               Ignore("OB002", "only on lts", target="lts"))
    report = run_matrix([GPL, LEGACY], TARGETS, jobs=1, ignores=ignores,
                        fail_on=Severity.WARNING)
    for target in TARGETS:
        gpl = report.cell(report.objects[0], target.name)
        assert "OB008" not in [f.rule for f in gpl.findings]
        assert [(s.finding.rule, s.reason) for s in gpl.suppressed] == [
            ("OB008", "vendor blob, accepted")]
    legacy_lts = report.cell(report.objects[1], "lts")
    assert "OB002" not in [f.rule for f in legacy_lts.findings]
    assert ("OB002", "only on lts") in [(s.finding.rule, s.reason) for s in legacy_lts.suppressed]
    inventory = report.cell(report.objects[1], "inventory")
    assert inventory.status == "fail" and inventory.first_code == "OB002"
    assert not inventory.suppressed


def test_unreadable_object_is_an_error_cell(tmp_path: Path) -> None:
    bad = tmp_path / "broken.bpf.o"
    bad.write_bytes(b"\x7fELF" + b"\0" * 12)
    report = run_matrix([bad, XDP], TARGETS[:2], jobs=2, min_parallel_seconds=0)
    errors = [c for c in report.cells if c.status == "error"]
    assert len(errors) == 2 and all(c.error and "broken.bpf.o" in c.error for c in errors)
    assert report.exit_code == 2
    assert all(c.status != "error" for c in report.cells if c.object_path.endswith("xdp_lb.bpf.o"))
    assert "ERROR" in render_table(report)


def test_no_objects_or_targets_is_input_error() -> None:
    with pytest.raises(InputError, match="no objects"):
        run_matrix([], TARGETS)
    with pytest.raises(InputError, match="no targets"):
        run_matrix([XDP], [])


def test_resolve_target_anchors_and_checks_paths(tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text("{}")
    spec = resolve_target(parse_target("profile:p.json"), tmp_path)
    assert spec.value == str(tmp_path / "p.json")
    with pytest.raises(InputError, match=r"target 'gone': gone.json does not exist"):
        resolve_target(parse_target("profile:gone.json"), tmp_path)
    assert resolve_target(parse_target("kernel:5.4"), tmp_path).value == "5.4"


def test_run_config_applies_loader_to_targets_without_one(tmp_path: Path) -> None:
    cfg = PreflightConfig("t", tmp_path, targets=(parse_target("none"),
                                                  parse_target("none,name=b,loader=bcc")))
    cfg = replace(cfg, loader=parse_target("none,loader=aya").loader or cfg.loader)
    report = run_config(cfg, [XDP], jobs=1)
    assert [str(t.loader) for t in report.targets] == ["aya", "bcc"]


def test_table_rows_and_cells() -> None:
    report = run_matrix([GPL, LEGACY], TARGETS[:2], jobs=1)
    rows = matrix_rows(report)
    assert rows[0] == ["object", "inventory", "lts"]
    assert rows[1][1] == "FAIL OB008"
    assert rows[2][1] == "pass (OB002)"
    text = render_table(report)
    assert text.splitlines()[0].split() == ["object", "inventory", "lts"]


def test_json_documents() -> None:
    report = run_matrix([GPL, LEGACY], TARGETS[:2], jobs=1,
                        ignores=(Ignore("OB002", "known"),))
    doc = json.loads(json.dumps(preflight_document(report)))
    assert doc["schema"] == "bpfdoctor.preflight/1"
    assert doc["verdict"] == "fail" and doc["exit_code"] == 1
    assert len(doc["cells"]) == 4
    cell = doc["cells"][0]
    assert cell["check"]["schema"] == "bpfdoctor.check/1"
    assert cell["check"]["target"]["name"] == "inventory"
    assert cell["check"]["findings"][0]["rule"] == "OB008"
    legacy = doc["cells"][2]
    assert legacy["check"]["findings"] == []
    assert legacy["suppressed"][0]["reason"] == "known"
    one = json.loads(render_check_json(report.results[0]))
    assert one["schema"] == "bpfdoctor.check/1"
    many = json.loads(render_check_json(report.results))
    assert isinstance(many, list) and len(many) == 4


def test_github_annotations_and_summary() -> None:
    report = run_matrix([GPL, LEGACY], TARGETS[:1], jobs=1)
    lines = render_annotations(report).splitlines()
    gpl = [ln for ln in lines if "OB008" in ln]
    assert len(gpl) == 1 and gpl[0].startswith("::error file=")
    assert "title=OB008 on inventory (read_kernel_memory)::" in gpl[0]
    assert "%0AFix: " in gpl[0]
    legacy = [ln for ln in lines if "OB002" in ln]
    assert legacy[0].startswith("::warning file=")
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    md = render_summary(report)
    assert md.startswith("## ❌ bpfdoctor preflight: fail")
    assert "| object | inventory |" in md and "FAIL OB008" in md
    assert "### Findings" in md


def test_program_findings_are_anchored_at_their_c_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from bpfdoctor.elf.object import BpfObject
    from bpfdoctor.model import Category, CheckResult, Finding, Location, TargetInfo
    from bpfdoctor.preflight import anchor_findings

    monkeypatch.chdir(REPO)
    obj = BpfObject.open("fixtures/elf/maps_btf.bpf.o")
    prog = next(p for p in obj.entry_programs if p.name == "count_execs")
    line = obj.btf_ext.line_for(prog.section, prog.start) if obj.btf_ext else None
    assert line is not None
    found = (
        Finding("KC003", Category.HELPER_UNAVAILABLE, Severity.ERROR, "m", program="count_execs"),
        Finding("OB002", Category.LOADER_UNSUPPORTED, Severity.WARNING, "object level"),
        Finding("KC099", Category.KFUNC, Severity.ERROR, "already placed", program="count_execs",
                location=Location("x.o", "s", None, "other.c", 7)),
    )
    result = CheckResult("fixtures/elf/maps_btf.bpf.o", {}, TargetInfo("none"), "fail", found)
    anchored = anchor_findings(obj, result).findings
    loc = anchored[0].location
    assert loc is not None
    assert (loc.source_file, loc.source_line) == ("fixtures/elf/maps_btf.bpf.c", line.line)
    assert loc.section == "tp_btf/sched_process_exec"
    assert anchored[1].location is None
    assert anchored[2].location == found[2].location


def test_annotations_put_errors_first_and_hide_info_unless_asked() -> None:
    from bpfdoctor.model import Category, CheckResult, Finding, TargetInfo
    from bpfdoctor.preflight import PreflightReport

    t = parse_target("kernel:5.10")
    info = Finding("KC028", Category.TOKEN_CREATE, Severity.INFO, "no token")
    warn = Finding("OB002", Category.LOADER_UNSUPPORTED, Severity.WARNING, "legacy")
    err = Finding("KC003", Category.HELPER_UNAVAILABLE, Severity.ERROR, "no helper")
    res = CheckResult("a.o", {"programs": []}, TargetInfo("kernel-version"), "fail",
                      (info, warn, err))
    cells = (Cell("a.o", t, "pass", res, (info, warn)), Cell("b.o", t, "fail", res, (err,)))
    report = PreflightReport(("a.o", "b.o"), (t,), cells)
    lines = render_annotations(report).splitlines()
    assert [ln.split(" ", 1)[0] for ln in lines] == ["::error", "::warning"]
    verbose = replace(report, fail_on=Severity.INFO)
    assert render_annotations(verbose).splitlines()[-1].startswith("::notice ")


def test_duplicate_objects_collapse_and_duplicate_target_names_are_refused() -> None:
    report = run_matrix([XDP, XDP], TARGETS[:1], jobs=1)
    assert len(report.objects) == 1 and len(report.cells) == 1
    with pytest.raises(InputError, match=r"two targets are named 'kernel-5\.10'"):
        run_matrix([XDP], [parse_target("kernel:5.10"), parse_target("kernel:5.10")])


def test_a_bug_in_a_check_becomes_an_error_cell(monkeypatch: pytest.MonkeyPatch) -> None:
    import bpfdoctor.check

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("boom")

    monkeypatch.setattr(bpfdoctor.check, "run_check", broken)
    report = run_matrix([XDP], TARGETS[:1], jobs=1)
    (cell,) = report.cells
    assert cell.status == "error" and report.exit_code == 2
    assert cell.error is not None
    assert cell.error.startswith("internal error in bpfdoctor: KeyError: 'boom' at ")


def test_an_unusable_target_stops_the_run_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "bpfdoctor.profile/1"}')
    with pytest.raises(InputError) as err:
        run_matrix([XDP], [parse_target(f"profile:{bad},name=broken")], jobs=1)
    assert str(err.value).startswith("target 'broken': ")
    assert "\n" not in str(err.value)


def test_small_matrices_stay_in_process_unless_forced() -> None:
    objects = [GPL, LEGACY, XDP, ELF / "globals.bpf.o"]
    adaptive = run_matrix(objects, TARGETS, jobs=2, min_parallel_seconds=3600)
    forced = run_matrix(objects, TARGETS, jobs=2, min_parallel_seconds=0)
    assert adaptive.jobs == 1 and forced.jobs == 2
    assert summary(adaptive.cells) == summary(forced.cells)
