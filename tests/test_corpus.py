"""Every real case in ../shared/corpus/real gets its category (or an also_acceptable one) as the
primary diagnosis. The corpus lives next to the repository; without it these tests skip."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from bpfdoctor.explain import explain_file
from bpfdoctor.rules.loader import load_catalogue

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus" / "real"
MANIFEST = CORPUS / "manifest.toml"


def _cases() -> list[Any]:
    if not MANIFEST.is_file():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"corpus not found at {CORPUS}"))]
    cases = tomllib.loads(MANIFEST.read_text())["case"]
    return [pytest.param(c, id=c["id"]) for c in cases]


@pytest.mark.parametrize("case", _cases())
def test_corpus_case_primary_category(case: dict[str, Any]) -> None:
    accepted = {case["category"], *case.get("also_acceptable", [])}
    if not any(r.category.value in accepted for r in load_catalogue().rules):
        pytest.skip(f"no rule of category {sorted(accepted)} in the catalogue yet")
    result = explain_file(CORPUS / f"{case['id']}.log")
    assert result.diagnoses, f"{case['id']}: no diagnosis (expected {case['category']})"
    primary = result.diagnoses[0]
    assert primary.category.value in accepted, (
        f"{case['id']}: primary {primary.rule} {primary.category.value}, expected {sorted(accepted)}"
    )
    assert result.outcome == "failed"


def test_corpus_case_files_exist() -> None:
    if not MANIFEST.is_file():
        pytest.skip("corpus not present")
    for case in tomllib.loads(MANIFEST.read_text())["case"]:
        assert (CORPUS / f"{case['id']}.log").is_file(), case["id"]
