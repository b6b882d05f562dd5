"""SARIF 2.1.0: valid against the official schema, rule metadata, locations, suppressions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from bpfdoctor.model import Category, CheckResult, Finding, Severity, TargetInfo
from bpfdoctor.preflight import Cell, PreflightReport
from bpfdoctor.report.sarif import artifact_uri, build_sarif, lookup_rule_meta, render_sarif
from bpfdoctor.targets import parse_target
from test_junit import sample_report

SCHEMA_PATH = Path(__file__).parent / "schemas" / "sarif-2.1.0.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft4Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())


def validate_sarif(validator: jsonschema.Draft4Validator, text: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(text)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)
    return doc


def test_schema_is_the_official_one() -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    assert schema["id"].endswith("/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json")
    assert {"run", "result", "reportingDescriptor", "suppression"} <= set(schema["definitions"])


def test_validator_rejects_a_broken_log(validator: jsonschema.Draft4Validator) -> None:
    doc = json.loads(render_sarif(sample_report()))
    doc["runs"][0]["results"][0]["level"] = "fatal"
    assert list(validator.iter_errors(doc))


def test_sample_report_is_valid(validator: jsonschema.Draft4Validator) -> None:
    doc = validate_sarif(validator, render_sarif(sample_report(), base=Path("/nonexistent")))
    run = doc["runs"][0]
    assert run["tool"]["driver"]["name"] == "bpfdoctor"
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["KC003", "KC010", "OB002"]
    for result in run["results"]:
        assert run["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == result["ruleId"]


def test_locations_levels_and_suppressions(validator: jsonschema.Draft4Validator) -> None:
    doc = validate_sarif(validator, render_sarif(sample_report()))
    by_rule = {r["ruleId"]: r for r in doc["runs"][0]["results"]}
    kc003 = by_rule["KC003"]
    assert kc003["level"] == "error"
    phys = kc003["locations"][0]["physicalLocation"]
    assert phys["artifactLocation"]["uri"] == "src/a.bpf.c"
    assert phys["region"] == {"startLine": 42, "startColumn": 5, "snippet": {"text": "bpf_loop(...)"}}
    assert kc003["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == "xdp/xdp_main"
    assert kc003["message"]["text"].startswith("[lts] ")
    assert kc003["properties"]["target"] == "lts"
    ob002 = by_rule["OB002"]
    assert ob002["level"] == "warning"
    assert ob002["locations"][0]["physicalLocation"] == {"artifactLocation": {"uri": "a.bpf.o"}}
    kc010 = by_rule["KC010"]
    assert kc010["suppressions"] == [
        {"kind": "external", "status": "accepted", "justification": "tracked in #1"}]
    assert kc010["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == "tc/tc_main"


def test_unchecked_cells_become_notifications(validator: jsonschema.Draft4Validator) -> None:
    doc = validate_sarif(validator, render_sarif(sample_report(), command_line=["bpfdoctor", "x"]))
    inv = doc["runs"][0]["invocations"][0]
    assert inv["executionSuccessful"] is False
    assert inv["exitCode"] == 2
    notes = inv["toolExecutionNotifications"]
    assert len(notes) == 2 and "not an ELF file" in notes[0]["message"]["text"]


def test_info_maps_to_note_and_fingerprints_differ_per_target() -> None:
    info = Finding("OB003", Category.SECTION_UNKNOWN, Severity.INFO, "static program", program="p")
    res = CheckResult("x.o", {"programs": [{"name": "p", "section": "xdp"}]},
                      TargetInfo("none"), "pass", (info,))
    t1, t2 = parse_target("kernel:5.10"), parse_target("kernel:6.1")
    report = PreflightReport(("x.o",), (t1, t2), (
        Cell("x.o", t1, "pass", res, (info,)), Cell("x.o", t2, "pass", res, (info,))))
    results = build_sarif(report)["runs"][0]["results"]
    assert [r["level"] for r in results] == ["note", "note"]
    prints = {r["partialFingerprints"]["bpfdoctorFinding/v1"] for r in results}
    assert len(prints) == 2


RULE = '''
code = "VF901"
name = "test-rule-for-sarif"
category = "map-ptr-scalar"
severity = "error"
title = "A helper got a number where a map pointer was expected"
message = "R{reg} is not a map pointer"
fixes = ["Load the object with a libbpf-based loader"]
references = ["https://docs.kernel.org/bpf/verifier.html"]

[[match]]
pattern = 'R(?P<reg>\\d+) type=scalar expected=map_ptr'

[explanation]
what = "The helper's first argument must be a map."
why = "The verifier tracks register types."
fix = "Relocate the map reference."
'''


def test_rule_metadata_comes_from_the_rule_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, validator: jsonschema.Draft4Validator
) -> None:
    (tmp_path / "VF901.toml").write_text(RULE)
    monkeypatch.setenv("BPFDOCTOR_RULES_DIR", str(tmp_path))
    meta = lookup_rule_meta("VF901")
    assert meta is not None and meta.name == "test-rule-for-sarif"
    f = Finding("VF901", Category.MAP_PTR_SCALAR, Severity.ERROR, "R1 is not a map pointer")
    res = CheckResult("x.o", {"programs": []}, TargetInfo("live"), "fail", (f,))
    t = parse_target("live")
    report = PreflightReport(("x.o",), (t,), (Cell("x.o", t, "fail", res, (f,)),))
    doc = validate_sarif(validator, render_sarif(report))
    (rule,) = doc["runs"][0]["tool"]["driver"]["rules"]
    assert rule["name"] == "test-rule-for-sarif"
    assert rule["shortDescription"]["text"] == "A helper got a number where a map pointer was expected"
    assert rule["fullDescription"]["text"] == "The helper's first argument must be a map."
    assert rule["helpUri"] == "https://docs.kernel.org/bpf/verifier.html"
    assert "### How to fix" in rule["help"]["markdown"]
    assert rule["defaultConfiguration"]["level"] == "error"
    assert rule["properties"]["category"] == "map-ptr-scalar"


def test_unknown_codes_still_get_a_descriptor(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    monkeypatch.setenv("BPFDOCTOR_RULES_DIR", str(tmp_path / "missing"))
    assert lookup_rule_meta("ZZ999") is None
    f = Finding("ZZ999", Category.TOOLCHAIN, Severity.WARNING, "m", fixes=("do x",), title="T")
    res = CheckResult("x.o", {"programs": []}, TargetInfo("none"), "pass", (f,))
    t = parse_target("none")
    report = PreflightReport(("x.o",), (t,), (Cell("x.o", t, "pass", res, (f,)),))
    (rule,) = build_sarif(report)["runs"][0]["tool"]["driver"]["rules"]
    assert rule["shortDescription"]["text"] == "T"
    assert rule["help"]["text"] == "- do x"


def test_artifact_uri(tmp_path: Path) -> None:
    assert artifact_uri("build/a b.o", tmp_path) == "build/a%20b.o"
    assert artifact_uri(str(tmp_path / "x" / "y.o"), tmp_path) == "x/y.o"
    assert artifact_uri("/elsewhere/y.o", tmp_path) == "file:///elsewhere/y.o"


def test_code_check_metadata_comes_from_the_registry() -> None:
    registry = pytest.importorskip("bpfdoctor.checks.registry")
    code, info = next(iter(registry.CHECKS.items()))
    meta = lookup_rule_meta(code)
    assert meta is not None
    assert (meta.name, meta.title) == (info.name, info.title)
    assert meta.full_description == info.explanation
    assert meta.help_uri is not None and meta.help_uri.startswith("https://")
