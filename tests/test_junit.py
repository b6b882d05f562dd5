"""JUnit XML: validated against the Jenkins JUnit XSD, one case per object x target x program.

``lxml``/``xmlschema`` are not dependencies, so the XSD is enforced by a small strict
validator below that understands the subset of XML Schema the JUnit XSD uses: global and
local element declarations, ``ref``, named and anonymous complex types, ``sequence`` and
``choice`` with ``minOccurs``/``maxOccurs``, ``mixed``, attributes with ``use="required"``
and pattern-restricted simple types. Anything else in the XSD makes the validator refuse, so
it cannot silently accept what it does not understand.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bpfdoctor.model import Category, CheckResult, Finding, Location, Severity, TargetInfo
from bpfdoctor.preflight import Cell, PreflightReport, Suppressed
from bpfdoctor.report.junit import render_junit
from bpfdoctor.targets import parse_target

XS = "{http://www.w3.org/2001/XMLSchema}"
SCHEMA = Path(__file__).parent / "schemas" / "junit.xsd"


class XsdSubset:
    """Strict validator for the XML Schema subset used by the JUnit XSD."""

    def __init__(self, path: Path) -> None:
        root = ET.parse(path).getroot()
        self.elements: dict[str, ET.Element] = {}
        self.types: dict[str, ET.Element] = {}
        self.patterns: dict[str, re.Pattern[str]] = {}
        for node in root:
            if node.tag == f"{XS}element":
                self.elements[node.get("name", "")] = node
            elif node.tag == f"{XS}complexType":
                self.types[node.get("name", "")] = node
            elif node.tag == f"{XS}simpleType":
                restriction = node.find(f"{XS}restriction")
                assert restriction is not None and restriction.get("base") == "xs:string"
                pattern = restriction.find(f"{XS}pattern")
                assert pattern is not None
                self.patterns[node.get("name", "")] = re.compile(pattern.get("value", ""))
            elif not isinstance(node.tag, str):  # comments
                continue
            else:
                raise AssertionError(f"unsupported schema construct {node.tag}")

    def validate(self, document: ET.Element) -> list[str]:
        errors: list[str] = []
        decl = self.elements.get(document.tag)
        if decl is None:
            return [f"root element <{document.tag}> is not declared"]
        self._element(document, decl, document.tag, errors)
        return errors

    def _resolve(self, decl: ET.Element) -> ET.Element:
        ref = decl.get("ref")
        return self.elements[ref] if ref is not None else decl

    def _element(self, elem: ET.Element, decl: ET.Element, path: str, errors: list[str]) -> None:
        decl = self._resolve(decl)
        type_name = decl.get("type")
        if type_name == "xs:string":
            if elem.attrib:
                errors.append(f"{path}: attributes not allowed on a string element")
            if len(elem):
                errors.append(f"{path}: child elements not allowed on a string element")
            return
        ctype = self.types[type_name] if type_name else decl.find(f"{XS}complexType")
        assert ctype is not None, f"{path}: element without a type"
        self._attributes(elem, ctype, path, errors)
        mixed = ctype.get("mixed") == "true"
        if not mixed:
            texts = [elem.text or ""] + [c.tail or "" for c in elem]
            if any(t.strip() for t in texts):
                errors.append(f"{path}: text content in an element that is not mixed")
        particles = [c for c in ctype if c.tag in (f"{XS}sequence", f"{XS}choice")]
        local: dict[str, ET.Element] = {}
        regex = self._regex(particles[0], local) if particles else ""
        tokens = "".join(f"<{c.tag}>" for c in elem)
        if not re.fullmatch(regex, tokens):
            errors.append(f"{path}: children {[c.tag for c in elem]} do not match the content model")
            return
        for i, child in enumerate(elem):
            child_decl = local.get(child.tag) or self.elements[child.tag]
            self._element(child, child_decl, f"{path}/{child.tag}[{i}]", errors)

    def _attributes(self, elem: ET.Element, ctype: ET.Element, path: str,
                    errors: list[str]) -> None:
        declared = {a.get("name", ""): a for a in ctype.findall(f"{XS}attribute")}
        for name, value in elem.attrib.items():
            attr = declared.get(name)
            if attr is None:
                errors.append(f"{path}: undeclared attribute {name!r}")
                continue
            pattern = self.patterns.get(attr.get("type", ""))
            if pattern is not None and not pattern.fullmatch(value):
                errors.append(f"{path}: attribute {name}={value!r} does not match its type")
        for name, attr in declared.items():
            if attr.get("use") == "required" and name not in elem.attrib:
                errors.append(f"{path}: required attribute {name!r} missing")

    def _regex(self, particle: ET.Element, local: dict[str, ET.Element]) -> str:
        if particle.tag == f"{XS}element":
            name = particle.get("ref") or particle.get("name", "")
            if particle.get("ref") is None:
                local[name] = particle
            body = f"(?:<{re.escape(name)}>)"
        elif particle.tag in (f"{XS}sequence", f"{XS}choice"):
            parts = [self._regex(c, local) for c in particle if isinstance(c.tag, str)]
            joiner = "" if particle.tag == f"{XS}sequence" else "|"
            body = f"(?:{joiner.join(parts)})"
        else:
            raise AssertionError(f"unsupported particle {particle.tag}")
        lo = int(particle.get("minOccurs", "1"))
        hi = particle.get("maxOccurs", "1")
        upper = "" if hi == "unbounded" else hi
        return f"{body}{{{lo},{upper}}}"


VALIDATOR = XsdSubset(SCHEMA)


def validate_junit(text: str) -> ET.Element:
    """Parse strictly and validate; fails the test with every schema violation listed."""
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(text.encode("utf-8"))
    errors = VALIDATOR.validate(root)
    assert not errors, "\n".join(errors)
    return root


def _result(path: str, programs: list[tuple[str, str]], findings: tuple[Finding, ...]) -> CheckResult:
    return CheckResult(
        object_path=path,
        object_json={"path": path, "programs": [{"name": n, "section": s} for n, s in programs]},
        target=TargetInfo("kernel-version", "5.10"),
        verdict="fail" if findings else "pass",
        findings=findings,
    )


def sample_report() -> PreflightReport:
    """A 2 objects x 2 targets matrix with a failure, a warning, a suppression and an error."""
    lts = parse_target("kernel:5.10,name=lts")
    live = parse_target("live")
    err = Finding("KC003", Category.HELPER_UNAVAILABLE, Severity.ERROR,
                  "bpf_loop needs 5.17", program="xdp_main",
                  location=Location("a.bpf.o", "xdp", 7, "src/a.bpf.c", 42, 5, "bpf_loop(...)"))
    obj_level = Finding("OB002", Category.LOADER_UNSUPPORTED, Severity.WARNING,
                        "legacy maps section <&> \"quoted\"")
    sup = Finding("KC010", Category.MAP_UNSUPPORTED, Severity.ERROR, "ringbuf needs 5.8",
                  program="tc_main")
    progs = [("xdp_main", "xdp"), ("tc_main", "tc")]
    cells = (
        Cell("a.bpf.o", lts, "fail", _result("a.bpf.o", progs, (err, obj_level, sup)),
             (err, obj_level), (Suppressed(sup, "tracked in #1", "KC010"),), None, 0.0125),
        Cell("a.bpf.o", live, "pass", _result("a.bpf.o", progs, ()), (), (), None, 0.002),
        Cell("b.bpf.o", lts, "error", None, (), (), "b.bpf.o: not an ELF file", 0.001),
        Cell("b.bpf.o", live, "error", None, (), (), "b.bpf.o: not an ELF file", 0.001),
    )
    return PreflightReport(objects=("a.bpf.o", "b.bpf.o"), targets=(lts, live), cells=cells,
                           seconds=0.5, jobs=2)


WHEN = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


def test_sample_report_is_valid_junit() -> None:
    root = validate_junit(render_junit(sample_report(), timestamp=WHEN))
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [
        "a.bpf.o @ lts", "a.bpf.o @ live", "b.bpf.o @ lts", "b.bpf.o @ live"]
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("7", "1", "2")


def test_one_case_per_program_plus_object_level() -> None:
    root = validate_junit(render_junit(sample_report(), timestamp=WHEN))
    lts = root.findall("testsuite")[0]
    cases = {c.get("name"): c for c in lts.findall("testcase")}
    assert list(cases) == ["lts/xdp_main", "lts/tc_main", "lts/(object)"]
    assert all(c.get("classname") == "a.bpf.o" for c in cases.values())
    failure = cases["lts/xdp_main"].find("failure")
    assert failure is not None and failure.get("type") == "KC003"
    assert failure.text is not None and "at src/a.bpf.c:42" in failure.text
    # a warning below --fail-on error is reported, not failed
    assert cases["lts/(object)"].find("failure") is None
    out = cases["lts/(object)"].find("system-out")
    assert out is not None and out.text is not None and '<&> "quoted"' in out.text
    # a suppressed error does not fail its program, and says why
    assert cases["lts/tc_main"].find("failure") is None
    tc_out = cases["lts/tc_main"].find("system-out")
    assert tc_out is not None and tc_out.text is not None and "tracked in #1" in tc_out.text
    live = root.findall("testsuite")[1]
    assert [c.get("name") for c in live.findall("testcase")] == ["live/xdp_main", "live/tc_main"]
    assert live.get("failures") == "0"


def test_unreadable_object_is_an_error_case() -> None:
    root = validate_junit(render_junit(sample_report(), timestamp=WHEN))
    suite = root.findall("testsuite")[2]
    (case,) = suite.findall("testcase")
    error = case.find("error")
    assert error is not None and error.get("message") == "b.bpf.o: not an ELF file"
    assert (suite.get("tests"), suite.get("errors"), suite.get("failures")) == ("1", "1", "0")


@pytest.mark.parametrize(
    "bad",
    [
        '<testsuites><testsuite name="x" tests="1" failures="0"/></testsuites>',  # errors missing
        '<testsuites><testsuite name="x" tests="1" failures="0" errors="0" time="1.5s"/></testsuites>',
        '<testsuites><testcase name="x"/></testsuites>',
        '<testsuites><testsuite name="x" tests="1" failures="0" errors="0">'
        '<testcase name="c" colour="red"/></testsuite></testsuites>',
        '<testsuites><testsuite name="x" tests="1" failures="0" errors="0">'
        '<testcase name="c"><failure><b/></failure></testcase></testsuite></testsuites>',
        '<testsuites><testsuite name="x" tests="1" failures="0" errors="0">'
        '<properties><property name="a"/></properties></testsuite></testsuites>',
        "<testrun/>",
    ],
)
def test_validator_rejects_invalid_documents(bad: str) -> None:
    assert VALIDATOR.validate(ET.fromstring(bad))
