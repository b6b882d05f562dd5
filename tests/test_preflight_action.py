"""The GitHub Action and the pre-commit hooks: their scripts run and call real commands."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

needs_cli = pytest.mark.skipif(shutil.which("bpfdoctor") is None,
                               reason="the bpfdoctor console script is not on PATH")


def preflight_script() -> str:
    """The ``run: |`` block of the step with ``id: preflight`` (no YAML library needed)."""
    lines = (REPO / "action.yml").read_text().splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.strip() == "id: preflight")
    run = next(i for i in range(start, len(lines)) if lines[i].strip() == "run: |")
    indent = len(lines[run]) - len(lines[run].lstrip())
    body: list[str] = []
    for ln in lines[run + 1:]:
        if ln.strip() and len(ln) - len(ln.lstrip()) <= indent:
            break
        body.append(ln)
    return textwrap.dedent("\n".join(body))


def test_action_is_composite_and_installs_with_pip() -> None:
    yaml = pytest.importorskip("yaml")
    doc = yaml.safe_load((REPO / "action.yml").read_text())
    runs = doc["runs"]
    assert runs["using"] == "composite"
    install = [s for s in runs["steps"] if s.get("name") == "Install bpfdoctor"]
    assert install and "pip install" in install[0]["run"]
    (step,) = [s for s in runs["steps"] if s.get("id") == "preflight"]
    assert step["shell"] == "bash" and step["run"].strip() == preflight_script().strip()
    assert {"exit-code", "sarif-file"} <= set(doc["outputs"])


def run_step(tmp_path: Path, **inputs: str) -> tuple[subprocess.CompletedProcess[str], Path, Path]:
    out, summary = tmp_path / "github_output", tmp_path / "summary.md"
    env = {**os.environ, "GITHUB_OUTPUT": str(out), "GITHUB_STEP_SUMMARY": str(summary),
           "IN_CONFIG": "", "IN_OBJECTS": "", "IN_TARGETS": "", "IN_LOADER": "",
           "IN_FAIL_ON": "", "IN_SARIF": "", "IN_JUNIT": "", "IN_SUMMARY": "true", **inputs}
    proc = subprocess.run(["bash", "-c", preflight_script()], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    return proc, out, summary


@needs_cli
def test_action_script_runs_preflight(tmp_path: Path) -> None:
    objects = f"{REPO}/fixtures/elf/fail/gpl_helper_*.bpf.o\n{REPO}/fixtures/elf/xdp_lb.bpf.o\n"
    proc, out, summary = run_step(tmp_path, IN_OBJECTS=objects, IN_TARGETS="none\n",
                                  IN_SARIF="out.sarif", IN_JUNIT="out.xml")
    assert proc.returncode == 1, proc.stderr
    assert "exit-code=1" in out.read_text() and "sarif-file=out.sarif" in out.read_text()
    assert (tmp_path / "out.sarif").is_file() and (tmp_path / "out.xml").is_file()
    assert "::error file=" in proc.stdout
    assert "bpfdoctor preflight: fail" in summary.read_text()


@needs_cli
def test_action_script_reports_unmatched_glob(tmp_path: Path) -> None:
    proc, out, _ = run_step(tmp_path, IN_OBJECTS="build/*.o", IN_TARGETS="none")
    assert proc.returncode == 2
    assert "matched no file" in proc.stdout and "exit-code=2" in out.read_text()


@needs_cli
def test_pre_commit_hooks_name_real_commands() -> None:
    text = (REPO / ".pre-commit-hooks.yaml").read_text()
    ids = re.findall(r"^- id: (\S+)$", text, re.MULTILINE)
    entries = re.findall(r"^  entry: (.+)$", text, re.MULTILINE)
    languages = re.findall(r"^  language: (\S+)$", text, re.MULTILINE)
    assert ids == ["bpfdoctor-preflight", "bpfdoctor-check"]
    assert languages == ["python", "python"] and len(entries) == 2
    for entry in entries:
        proc = subprocess.run([*entry.split(), "--help"], capture_output=True, text=True,
                              check=False)
        assert proc.returncode == 0, proc.stderr
