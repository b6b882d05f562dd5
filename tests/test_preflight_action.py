"""The GitHub Action and the pre-commit hooks: their scripts run and call real commands."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
yaml = pytest.importorskip("yaml")

needs_cli = pytest.mark.skipif(shutil.which("bpfdoctor") is None,
                               reason="the bpfdoctor console script is not on PATH")


def action() -> dict[str, object]:
    doc = yaml.safe_load((REPO / "action.yml").read_text())
    assert isinstance(doc, dict)
    return doc


def preflight_script() -> str:
    steps = action()["runs"]["steps"]  # type: ignore[index]
    (step,) = [s for s in steps if s.get("id") == "preflight"]
    assert step["shell"] == "bash"
    return str(step["run"])


def test_action_is_composite_and_installs_with_pip() -> None:
    doc = action()
    runs = doc["runs"]
    assert isinstance(runs, dict) and runs["using"] == "composite"
    install = [s for s in runs["steps"] if s.get("name") == "Install bpfdoctor"]
    assert install and "pip install" in install[0]["run"]
    assert {"exit-code", "sarif-file"} <= set(doc["outputs"])  # type: ignore[arg-type]


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
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert {h["id"] for h in hooks} == {"bpfdoctor-preflight", "bpfdoctor-check"}
    for hook in hooks:
        assert hook["language"] == "python"
        argv = hook["entry"].split()
        proc = subprocess.run([*argv, "--help"], capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr
