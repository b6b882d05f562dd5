"""End to end: ``bpfdoctor preflight`` on the fixture objects against three kinds of target.

Targets: this machine (``live``), a saved profile (``tests/data/debian-6.1.profile.json``) and
a kernel version (``kernel:5.10``). The run writes every format in one go; SARIF is validated
against the official schema, JUnit against the JUnit XSD, and the exit code and findings are
checked against what the fixtures are known to contain (a proprietary-licensed program calling
a GPL-only helper fails everywhere; legacy ``maps`` sections warn).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from test_junit import validate_junit

REPO = Path(__file__).resolve().parent.parent
ELF = REPO / "fixtures" / "elf"
PROFILE = REPO / "tests" / "data" / "debian-6.1.profile.json"
SARIF_SCHEMA = json.loads((REPO / "tests" / "schemas" / "sarif-2.1.0.json").read_text())


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI in ``cwd``; a ``.git`` there stops the config search at the test's directory."""
    (cwd / ".git").mkdir(exist_ok=True)
    full_env = {**os.environ, "CI": "true", **env}
    full_env.pop("GITHUB_STEP_SUMMARY", None) if "GITHUB_STEP_SUMMARY" not in env else None
    return subprocess.run([sys.executable, "-m", "bpfdoctor", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=300, check=False)


def write_config(tmp_path: Path, targets: dict[str, str], extra: str = "") -> Path:
    lines = [
        "objects = [",
        f'  "{ELF}/*.bpf.o",',
        f'  "{ELF}/fail/gpl_helper_proprietary.bpf.o",',
        "]",
        "",
        "[targets]",
        *(f'{name} = "{spec}"' for name, spec in targets.items()),
        extra,
    ]
    path = tmp_path / "bpfdoctor.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def check_outputs(tmp_path: Path, n_targets: int) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((tmp_path / "out.json").read_text())
    n_objects = len(list(ELF.glob("*.bpf.o"))) + 1
    assert len(doc["objects"]) == n_objects
    assert len(doc["cells"]) == n_objects * n_targets
    sarif = json.loads((tmp_path / "out.sarif").read_text())
    validator = jsonschema.Draft4Validator(SARIF_SCHEMA, format_checker=jsonschema.FormatChecker())
    errors = list(validator.iter_errors(sarif))
    assert not errors, errors[0].message
    root = validate_junit((tmp_path / "out.xml").read_text())
    suites = root.findall("testsuite")
    assert len(suites) == n_objects * n_targets
    return doc


def gpl_cells(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in doc["cells"] if c["object"].endswith("gpl_helper_proprietary.bpf.o")]


def assert_known_findings(doc: dict[str, Any], targets: list[str]) -> None:
    gpl = gpl_cells(doc)
    assert [c["target"] for c in gpl] == targets
    for cell in gpl:
        if cell["status"] == "error":
            pytest.fail(f"gpl fixture not checked on {cell['target']}: {cell['error']}")
        assert cell["status"] == "fail"
        assert "OB008" in [f["rule"] for f in cell["check"]["findings"]]
    for cell in doc["cells"]:
        if cell["object"].endswith("legacy_maps.bpf.o") and cell["status"] != "error":
            assert "OB002" in [f["rule"] for f in cell["check"]["findings"]]


OFFLINE = {"debian": f"profile:{PROFILE}", "lts": "kernel:5.10"}


def test_offline_targets_all_formats(tmp_path: Path) -> None:
    config = write_config(tmp_path, OFFLINE)
    proc = run(["preflight", "--config", str(config), "--format", "sarif",
                "-o", f"json={tmp_path}/out.json", "-o", f"sarif={tmp_path}/out.sarif",
                "-o", f"junit={tmp_path}/out.xml", "-o", f"markdown={tmp_path}/summary.md"],
               tmp_path)
    assert proc.returncode in (1, 2), proc.stderr
    doc = check_outputs(tmp_path, 2)
    assert_known_findings(doc, ["debian", "lts"])
    assert proc.returncode == doc["exit_code"]
    # SARIF went to stdout, the human table to stderr (CONTRACT.md)
    assert json.loads(proc.stdout)["version"] == "2.1.0"
    assert "object" in proc.stderr.splitlines()[0] and "debian" in proc.stderr
    assert "FAIL" in (tmp_path / "summary.md").read_text()
    # program findings point at the C line (line info), not only at the object
    sarif = json.loads((tmp_path / "out.sarif").read_text())
    regions = [loc["physicalLocation"] for r in sarif["runs"][0]["results"]
               for loc in r["locations"] if "region" in loc["physicalLocation"]]
    assert regions, "no result carries a source region"
    for phys in regions:
        uri = phys["artifactLocation"]["uri"]
        assert uri.startswith("file:///") and uri.endswith(".bpf.c")
        assert Path(uri.removeprefix("file://")).is_file()
        assert phys["region"]["startLine"] >= 1


@pytest.mark.kernel
def test_live_profile_and_kernel_version(tmp_path: Path) -> None:
    targets = {"this-host": "live", **OFFLINE}
    config = write_config(tmp_path, targets)
    proc = run(["preflight", "--config", str(config), "--format", "json",
                "-o", f"sarif={tmp_path}/out.sarif", "-o", f"junit={tmp_path}/out.xml",
                "-o", f"json={tmp_path}/out.json"], tmp_path)
    doc = json.loads(proc.stdout)
    assert proc.returncode == doc["exit_code"] == (2 if doc["verdict"] == "error" else 1)
    check_outputs(tmp_path, 3)
    assert_known_findings(doc, list(targets))


def test_ignoring_everything_with_a_reason_passes(tmp_path: Path) -> None:
    extra = '\n[[ignore]]\nrule = "*"\nreason = "accepted for this test"\n'
    config = write_config(tmp_path, OFFLINE, extra)
    proc = run(["preflight", "--config", str(config), "--format", "json"], tmp_path)
    doc = json.loads(proc.stdout)
    checked = [c for c in doc["cells"] if c["status"] != "error"]
    assert checked and all(c["status"] == "pass" for c in checked)
    assert all(c["check"]["findings"] == [] for c in checked)
    assert any(s["reason"] == "accepted for this test" for c in checked
               for s in c.get("suppressed", []))
    assert proc.returncode == (2 if len(checked) < len(doc["cells"]) else 0)


def test_fail_on_warning_fails_legacy_maps(tmp_path: Path) -> None:
    legacy = ELF / "legacy_maps.bpf.o"
    proc = run(["preflight", str(legacy), "-t", "none", "--fail-on", "warning"], tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "FAIL OB002" in proc.stdout
    ok = run(["preflight", str(legacy), "-t", "none"], tmp_path)
    assert ok.returncode == 0 and "pass (OB002)" in ok.stdout


def test_github_format_writes_annotations_and_step_summary(tmp_path: Path) -> None:
    summary = tmp_path / "step-summary.md"
    summary.write_text("earlier step\n")
    proc = run(["preflight", str(ELF / "fail" / "gpl_helper_proprietary.bpf.o"), "-t", "none",
                "--format", "github"], tmp_path, GITHUB_STEP_SUMMARY=str(summary))
    assert proc.returncode == 1
    assert any(line.startswith("::error file=") and "title=OB008" in line
               for line in proc.stdout.splitlines())
    text = summary.read_text()
    assert text.startswith("earlier step\n## ❌ bpfdoctor preflight: fail")


@pytest.mark.parametrize(
    ("args", "config", "fragment"),
    [
        (["--format", "pdf"], None, "--format: unknown format 'pdf'"),
        (["-o", "sarif"], None, "--output: expected FORMAT=FILE"),
        ([], "objects = ['x.o']\n[targets]\nx = 'kernel:5'\n", "targets.x: kernel version '5'"),
        ([], "objects = ['missing/*.o']\ntargets = ['none']\n", "'missing/*.o' matched no file"),
        ([], "targets = ['none']\n", "no objects"),
        (["-t", "profile:nope.json"], "objects = ['a.o']\n", "does not exist"),
        (["--fail-on", "fatal"], None, "--fail-on: unknown severity 'fatal'"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path: Path, args: list[str], config: str | None,
                                      fragment: str) -> None:
    (tmp_path / "a.o").write_bytes((ELF / "xdp_lb.bpf.o").read_bytes())
    if config is not None:
        (tmp_path / "bpfdoctor.toml").write_text(config)
    base = [] if config is not None else [str(tmp_path / "a.o"), "-t", "none"]
    proc = run(["preflight", *base, *args], tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.kernel
def test_profile_saved_by_probe_on_this_machine(tmp_path: Path) -> None:
    saved = tmp_path / "this-host.json"
    probe = run(["probe", "--save", str(saved), "--format", "json", "-o", str(tmp_path / "p")],
                tmp_path)
    assert probe.returncode in (0, 1), probe.stderr
    targets = {"host": "live", "saved": f"profile:{saved}", "lts": "kernel:5.10"}
    config = write_config(tmp_path, targets)
    proc = run(["preflight", "--config", str(config), "--format", "junit",
                "-o", f"sarif={tmp_path}/out.sarif", "-o", f"json={tmp_path}/out.json"],
               tmp_path)
    (tmp_path / "out.xml").write_text(proc.stdout)
    doc = check_outputs(tmp_path, 3)
    assert proc.returncode == doc["exit_code"]
    assert_known_findings(doc, list(targets))
