"""Every case of every rule file runs here (select one rule with ``pytest -k VF012``), plus the
catalogue's own invariants: validation, coverage of the categories, generated docs up to date."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bpfdoctor.errors import RuleError
from bpfdoctor.explain import explain_text
from bpfdoctor.model import Category
from bpfdoctor.rules.loader import load_catalogue, load_rule_text, rules_dir
from bpfdoctor.rules.schema import Catalogue, Rule, RuleCase

REPO = Path(__file__).resolve().parent.parent
CATALOGUE = load_catalogue()


def _cases() -> list[object]:
    params = []
    for rule in CATALOGUE.rules:
        counts = {True: 0, False: 0}
        for case in rule.cases:
            kind = "match" if case.should_match else "no_match"
            params.append(pytest.param(rule, case, id=f"{rule.code}-{kind}-{counts[case.should_match]}"))
            counts[case.should_match] += 1
    return params


@pytest.mark.parametrize(("rule", "case"), _cases())
def test_rule_case(rule: Rule, case: RuleCase) -> None:
    # the rule alone: how rules rank against each other is tested in test_explain/test_corpus
    alone = Catalogue(rules=(rule,), directory=CATALOGUE.directory, by_code={rule.code: rule})
    result = explain_text(case.log, source=f"{rule.code} case", catalogue=alone)
    found = [d for d in result.diagnoses if d.rule == rule.code]
    if not case.should_match:
        assert not found, f"{rule.code} must not match:\n{case.log}"
        return
    assert found, f"{rule.code} did not match:\n{case.log}\ngot {[d.rule for d in result.diagnoses]}"
    diag = found[0]
    assert diag.category is rule.category
    captures = dict(diag.captures)
    for key, value in case.captures:
        assert captures.get(key) == value, f"capture {key}: {captures.get(key)!r} != {value!r}"
    if case.cause is not None:
        assert captures.get("cause") == case.cause
    assert "{" + "reg}" not in diag.message or "reg" not in captures


def test_every_rule_has_match_and_no_match_cases() -> None:
    for rule in CATALOGUE.rules:
        if rule.code.startswith(("VF", "LG")):
            kinds = {case.should_match for case in rule.cases}
            assert kinds == {True, False}, f"{rule.code} needs match and no_match cases"


def test_verifier_rules_cover_their_categories() -> None:
    vf = [r for r in CATALOGUE.rules if r.code.startswith("VF")]
    assert len(vf) >= 35
    covered = {r.category for r in CATALOGUE.rules if r.code.startswith(("VF", "LG"))}
    wanted = {
        Category.MAP_PTR_SCALAR, Category.NULL_CHECK_MISSING, Category.SCALAR_DEREF,
        Category.UNINIT_REGISTER, Category.UNINIT_STACK, Category.PACKET_BOUNDS,
        Category.CTX_ACCESS, Category.MAP_VALUE_BOUNDS, Category.STACK,
        Category.LOOP_COMPLEXITY, Category.HELPER_UNAVAILABLE, Category.HELPER_ARG,
        Category.GPL_ONLY, Category.KFUNC, Category.REFERENCE_LEAK, Category.RETURN_VALUE,
        Category.POINTER_ARITH, Category.ISA_UNSUPPORTED, Category.LOG_TRUNCATED,
    }
    assert wanted <= covered, wanted - covered


def test_catalogue_found_in_repo_or_package() -> None:
    where = rules_dir()
    assert where.is_dir()
    assert any(e.name == "VF001.toml" for e in where.iterdir())


GOOD = """
code = "VF999"
name = "test-rule"
category = "stack"
severity = "error"
title = "t"
message = "R{reg} bad"
fixes = ["do x"]
[[match]]
pattern = 'R(?P<reg>\\d+) is bad'
[explanation]
what = "w"
why = "y"
fix = "f"
"""


def test_valid_rule_text_loads() -> None:
    rule = load_rule_text(GOOD, "VF999.toml")
    assert rule.patterns[0].literal == " is bad"


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (("severity = \"error\"", "severity = \"fatal\""), "'severity'"),
        (("category = \"stack\"", "category = \"stacks\""), "'category'"),
        (("fixes = [\"do x\"]", "fixes = []"), "'fixes'"),
        (("'R(?P<reg>\\d+) is bad'", "'R(?P<reg>\\d+ is bad'"), "does not compile"),
        (("title = \"t\"", "title = \"t\"\ncolour = 1"), "'colour'"),
        (("R{reg} bad", "R{register} bad"), "placeholder {register}"),
        (("code = \"VF999\"", "code = \"VF998\""), "file name"),
        (("title = \"t\"", "title = \"t\"\nrequire_cause = true"), "'require_cause'"),
        (("[[match]]", "[[match]]\ncondition = \"no-such-condition\""), "needs exactly one"),
    ],
)
def test_invalid_rule_is_one_clear_error(change: tuple[str, str], needle: str) -> None:
    text = GOOD.replace(*change)
    assert text != GOOD
    with pytest.raises(RuleError) as err:
        load_rule_text(text, "VF999.toml")
    assert "VF999.toml" in str(err.value)
    assert needle in str(err.value)


def test_docs_are_up_to_date() -> None:
    out = subprocess.run(
        [sys.executable, str(REPO / "tools" / "gen_rule_docs.py"), "--check"],
        capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_rules_show_matches_docs() -> None:
    from typer.testing import CliRunner

    from bpfdoctor.cli import app

    result = CliRunner().invoke(app, ["rules", "show", "VF001"])
    assert result.exit_code == 0
    assert result.stdout.strip() == (REPO / "docs" / "rules" / "VF001.md").read_text().strip()
    listing = CliRunner().invoke(app, ["rules", "list"])
    assert listing.exit_code == 0
    assert "VF001" in listing.stdout and "LG004" in listing.stdout
    missing = CliRunner().invoke(app, ["rules", "show", "ZZ999"])
    assert missing.exit_code != 0


@pytest.mark.slow
@pytest.mark.network
def test_plain_install_ships_the_rules(tmp_path: Path) -> None:
    """`pip install .` (not editable) must carry rules/ as bpfdoctor/rules_data."""
    import shutil
    import zipfile

    src = tmp_path / "src"  # build from a copy: an in-tree build leaves build/ and egg-info
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        if (REPO / name).is_file():
            shutil.copy(REPO / name, src / name)
    for name in ("src", "rules"):
        shutil.copytree(REPO / name, src / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(src)],
        capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    (wheel,) = tmp_path.glob("bpfdoctor-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for rule in CATALOGUE.rules:
        assert f"bpfdoctor/rules_data/{rule.code}.toml" in names
