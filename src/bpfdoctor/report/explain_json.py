"""``--format json`` for explain: exactly CONTRACT.md's ``bpfdoctor.explain/1``."""

from __future__ import annotations

import json

from bpfdoctor.explain import ExplainResult


def render(result: ExplainResult) -> str:
    return json.dumps(result.to_json(), indent=2) + "\n"
