"""Find, parse and validate the rule files; compile every pattern once; cache the catalogue.

Validation happens here, at the boundary, so the matcher can trust what it gets: unknown keys,
a category outside CONTRACT.md, missing fixes, a pattern that does not compile or a template
placeholder no pattern captures each raise one ``RuleError`` naming the file and the key.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import tomllib
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Any

from bpfdoctor.errors import RuleError
from bpfdoctor.model import Category, Confidence, Severity
from bpfdoctor.rules.literals import required_literal
from bpfdoctor.rules.schema import (
    CONDITIONS,
    DEFAULT_PRIORITY,
    Catalogue,
    Cause,
    Explanation,
    LinePattern,
    MatchSpec,
    Rule,
    RuleCase,
)

_CODE = re.compile(r"^(VF|LG|LD|EN|BT|TC)\d{3}$")
_NAME = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
# Captures the engine adds to every diagnosis (see bpfdoctor.rules.matcher.derived_captures).
DERIVED_CAPTURES = frozenset(
    {"insn", "helper", "helper_name", "program", "source", "source_file", "source_lineno", "line"}
)
_DIALECTS = frozenset(
    {"kernel", "libbpf", "bpftool", "iproute2", "cilium-ebpf", "bcc", "aya", "bpftrace", "build",
     "unknown"}
)

_TOP_KEYS = {
    "code", "name", "category", "severity", "title", "priority", "dialects", "match", "cause",
    "message", "fixes", "references", "explanation", "tests", "confidence",
    "require_cause",
}
_MATCH_KEYS = {"pattern", "literal", "condition"}
_CAUSE_KEYS = {"id", "evidence", "window", "confidence", "message", "fixes", "title"}
_CASE_KEYS = {"source", "log", "captures", "cause", "category"}
_EXPLANATION_KEYS = {"what", "why", "fix"}

ENV_RULES_DIR = "BPFDOCTOR_RULES_DIR"


def rules_dir() -> Path | Traversable:
    """Where the catalogue lives: $BPFDOCTOR_RULES_DIR, the installed copy, or <repo>/rules."""
    override = os.environ.get(ENV_RULES_DIR)
    if override:
        return Path(override)
    installed = resources.files("bpfdoctor") / "rules_data"
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parents[3] / "rules"


@functools.cache
def load_catalogue(directory: str | None = None) -> Catalogue:
    """Load every ``*.toml`` rule in ``directory`` (default: ``rules_dir()``), validated."""
    where: Path | Traversable = Path(directory) if directory else rules_dir()
    if not where.is_dir():
        raise RuleError(f"rules directory not found: {where}")
    rules: list[Rule] = []
    for entry in sorted(where.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            rules.append(load_rule_text(entry.read_text(encoding="utf-8"), entry.name))
    by_code: dict[str, Rule] = {}
    names: dict[str, str] = {}
    for rule in rules:
        if rule.code in by_code:
            raise RuleError(f"{rule.path}: code {rule.code} is used twice")
        if rule.name in names:
            raise RuleError(f"{rule.path}: name {rule.name!r} is also used by {names[rule.name]}")
        by_code[rule.code] = rule
        names[rule.name] = rule.code
    return Catalogue(rules=tuple(rules), directory=str(where), by_code=by_code)


def load_rule_text(text: str, filename: str) -> Rule:
    """Parse and validate one rule file's text; ``filename`` names it in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleError(f"{filename}: not valid TOML: {exc}") from None
    return _Validator(filename).rule(data)


class _Validator:
    def __init__(self, filename: str) -> None:
        self.file = filename

    def fail(self, key: str, why: str) -> RuleError:
        return RuleError(f"{self.file}: key {key!r}: {why}")

    def keys(self, table: dict[str, Any], allowed: set[str], where: str) -> None:
        unknown = sorted(set(table) - allowed)
        if unknown:
            raise self.fail(f"{where}{unknown[0]}", "unknown key")

    def string(self, table: dict[str, Any], key: str, where: str = "", required: bool = True) -> str:
        value = table.get(key)
        if value is None:
            if required:
                raise self.fail(where + key, "missing")
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            raise self.fail(where + key, "must be a non-empty string")
        return value

    def strings(self, table: dict[str, Any], key: str, where: str = "") -> tuple[str, ...]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(where + key, "must be a list of non-empty strings")
        return tuple(value)

    def pattern(self, source: Any, key: str, literal: Any = None) -> LinePattern:
        if not isinstance(source, str) or not source:
            raise self.fail(key, "pattern must be a non-empty string")
        try:
            regex = re.compile(source)
        except re.error as exc:
            raise self.fail(key, f"pattern does not compile: {exc}") from None
        if literal is not None:
            if not isinstance(literal, str) or not literal:
                raise self.fail(key, "literal must be a non-empty string")
            if literal not in source.replace("\\", ""):
                raise self.fail(key, f"literal {literal!r} does not occur in the pattern")
            lit: str | None = literal
        else:
            lit = required_literal(source)
        return LinePattern(source=source, regex=regex, literal=lit)

    def confidence(self, value: Any, key: str) -> Confidence:
        try:
            return Confidence(value)
        except ValueError:
            raise self.fail(key, f"must be one of {[c.value for c in Confidence]}") from None

    def rule(self, data: dict[str, Any]) -> Rule:
        self.keys(data, _TOP_KEYS, "")
        code = self.string(data, "code")
        if not _CODE.match(code):
            raise self.fail("code", f"{code!r} is not a code like VF012")
        stem = self.file.rsplit("/", 1)[-1].removesuffix(".toml")
        if stem != code:
            raise self.fail("code", f"{code} does not match the file name {self.file}")
        name = self.string(data, "name")
        if not _NAME.match(name):
            raise self.fail("name", f"{name!r} is not kebab-case")
        try:
            category = Category(self.string(data, "category"))
        except ValueError:
            raise self.fail("category", "not a category of CONTRACT.md") from None
        try:
            severity = Severity(self.string(data, "severity"))
        except ValueError:
            raise self.fail("severity", "must be error, warning or info") from None
        priority = data.get("priority", DEFAULT_PRIORITY)
        if not isinstance(priority, int) or isinstance(priority, bool) or not 0 <= priority <= 100:
            raise self.fail("priority", "must be an integer 0..100")
        dialects = self.strings(data, "dialects")
        for d in dialects:
            if d not in _DIALECTS:
                raise self.fail("dialects", f"unknown dialect {d!r}")
        matches = self._matches(data.get("match"))
        causes = self._causes(data.get("cause", []))
        fixes = self.strings(data, "fixes")
        if not fixes:
            raise self.fail("fixes", "at least one fix is required")
        message = self.string(data, "message")
        explanation = data.get("explanation")
        if not isinstance(explanation, dict):
            raise self.fail("explanation", "missing table with what, why, fix")
        self.keys(explanation, _EXPLANATION_KEYS, "explanation.")
        rule = Rule(
            code=code,
            name=name,
            category=category,
            severity=severity,
            title=self.string(data, "title"),
            message=message,
            fixes=fixes,
            explanation=Explanation(
                what=self.string(explanation, "what", "explanation."),
                why=self.string(explanation, "why", "explanation."),
                fix=self.string(explanation, "fix", "explanation."),
            ),
            matches=matches,
            causes=causes,
            references=self.strings(data, "references"),
            priority=priority,
            dialects=dialects,
            confidence=self.confidence(data.get("confidence", "medium"), "confidence"),
            cases=self._cases(data.get("tests", {})),
            path=self.file,
        )
        require_cause = data.get("require_cause", False)
        if not isinstance(require_cause, bool):
            raise self.fail("require_cause", "must be true or false")
        if require_cause and not any(c.evidence for c in causes):
            raise self.fail("require_cause", "needs at least one [[cause]] with evidence")
        if require_cause:
            rule = dataclasses.replace(rule, require_cause=True)
        self._placeholders(rule)
        return rule

    def _matches(self, raw: Any) -> tuple[MatchSpec, ...]:
        if not isinstance(raw, list) or not raw:
            raise self.fail("match", "at least one [[match]] entry is required")
        out = []
        for i, entry in enumerate(raw):
            key = f"match[{i}]"
            if not isinstance(entry, dict):
                raise self.fail(key, "must be a table")
            self.keys(entry, _MATCH_KEYS, key + ".")
            if ("pattern" in entry) == ("condition" in entry):
                raise self.fail(key, "needs exactly one of pattern or condition")
            if "condition" in entry:
                if entry["condition"] not in CONDITIONS:
                    raise self.fail(key + ".condition", f"unknown condition {entry['condition']!r}")
                out.append(MatchSpec(condition=entry["condition"]))
            else:
                out.append(MatchSpec(pattern=self.pattern(entry["pattern"], key + ".pattern",
                                                          entry.get("literal"))))
        return tuple(out)

    def _causes(self, raw: Any) -> tuple[Cause, ...]:
        if not isinstance(raw, list):
            raise self.fail("cause", "must be an array of tables")
        out = []
        seen: set[str] = set()
        for i, entry in enumerate(raw):
            key = f"cause[{i}]"
            if not isinstance(entry, dict):
                raise self.fail(key, "must be a table")
            self.keys(entry, _CAUSE_KEYS, key + ".")
            cid = self.string(entry, "id", key + ".")
            if cid in seen:
                raise self.fail(key + ".id", f"duplicate cause id {cid!r}")
            seen.add(cid)
            evidence = entry.get("evidence", [])
            if not isinstance(evidence, list):
                raise self.fail(key + ".evidence", "must be a list of patterns")
            window = entry.get("window")
            if window is not None and (not isinstance(window, int) or window < 1):
                raise self.fail(key + ".window", "must be a positive integer")
            out.append(
                Cause(
                    id=cid,
                    evidence=tuple(
                        self.pattern(p, f"{key}.evidence[{j}]") for j, p in enumerate(evidence)
                    ),
                    window=window,
                    confidence=self.confidence(entry.get("confidence", "medium"),
                                               key + ".confidence"),
                    message=self.string(entry, "message", key + ".", required=False) or None,
                    fixes=self.strings(entry, "fixes", key + "."),
                    title=self.string(entry, "title", key + ".", required=False) or None,
                )
            )
        return tuple(out)

    def _cases(self, raw: Any) -> tuple[RuleCase, ...]:
        if not isinstance(raw, dict):
            raise self.fail("tests", "must be a table with match / no_match arrays")
        self.keys(raw, {"match", "no_match"}, "tests.")
        out = []
        for kind in ("match", "no_match"):
            entries = raw.get(kind, [])
            if not isinstance(entries, list):
                raise self.fail(f"tests.{kind}", "must be an array of tables")
            for i, entry in enumerate(entries):
                key = f"tests.{kind}[{i}]"
                if not isinstance(entry, dict):
                    raise self.fail(key, "must be a table")
                self.keys(entry, _CASE_KEYS, key + ".")
                captures = entry.get("captures", {})
                if not isinstance(captures, dict):
                    raise self.fail(key + ".captures", "must be an inline table")
                out.append(
                    RuleCase(
                        log=self.string(entry, "log", key + "."),
                        should_match=kind == "match",
                        source=self.string(entry, "source", key + ".", required=False) or None,
                        captures=tuple((str(k), str(v)) for k, v in captures.items()),
                        cause=self.string(entry, "cause", key + ".", required=False) or None,
                        category=self.string(entry, "category", key + ".", required=False) or None,
                    )
                )
        return tuple(out)

    def _placeholders(self, rule: Rule) -> None:
        known = set(DERIVED_CAPTURES)
        for p in rule.patterns:
            known.update(p.regex.groupindex)
        for c in rule.causes:
            for p in c.evidence:
                known.update(p.regex.groupindex)
        templates = [("message", rule.message), ("title", rule.title)]
        templates += [(f"fixes[{i}]", f) for i, f in enumerate(rule.fixes)]
        for i, c in enumerate(rule.causes):
            templates += [(f"cause[{i}].message", c.message or "")]
            templates += [(f"cause[{i}].fixes[{j}]", f) for j, f in enumerate(c.fixes)]
        for key, template in templates:
            for name in _PLACEHOLDER.findall(template):
                if name not in known:
                    raise self.fail(key, f"placeholder {{{name}}} is not captured by any pattern")
