#!/usr/bin/env python3
"""Generate docs/rules/<CODE>.md and docs/rules/index.md from rules/*.toml.

The same text backs `bpfdoctor rules show CODE`. Run after editing any rule; `--check` exits 1
when the checked-in docs differ (tests/test_rules.py runs that check).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from bpfdoctor.rules.docs import index_markdown, rule_markdown  # noqa: E402
from bpfdoctor.rules.loader import load_catalogue  # noqa: E402


def expected(rules_dir: Path) -> dict[str, str]:
    catalogue = load_catalogue(str(rules_dir))
    pages = {f"{rule.code}.md": rule_markdown(rule) for rule in catalogue.rules}
    pages["index.md"] = index_markdown(catalogue)
    return pages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="only report stale docs")
    parser.add_argument("--rules", type=Path, default=REPO / "rules")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "rules")
    args = parser.parse_args(argv)
    pages = expected(args.rules)
    present = {p.name for p in args.out.glob("*.md")} if args.out.is_dir() else set()
    stale = sorted(n for n, text in pages.items()
                   if not (args.out / n).is_file() or (args.out / n).read_text() != text)
    extra = sorted(present - set(pages))
    if args.check:
        for name in stale:
            print(f"stale or missing: docs/rules/{name}")
        for name in extra:
            print(f"no rule for: docs/rules/{name}")
        if stale or extra:
            print("run: python3 tools/gen_rule_docs.py")
            return 1
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name in stale:
        (args.out / name).write_text(pages[name])
    for name in extra:
        (args.out / name).unlink()
    print(f"{len(pages)} pages, {len(stale)} written, {len(extra)} removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
