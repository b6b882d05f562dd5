"""Rule catalogue: schema, loading with validation, line matching and ranking of diagnoses.

The catalogue itself is data (``rules/<CODE>.toml`` at the repository root, shipped inside the
package as ``bpfdoctor/rules_data``); see ``docs/rule-schema.md``.
"""

from bpfdoctor.rules.loader import load_catalogue, rules_dir
from bpfdoctor.rules.schema import Catalogue, Cause, Explanation, Rule, RuleCase

__all__ = ["Catalogue", "Cause", "Explanation", "Rule", "RuleCase", "load_catalogue", "rules_dir"]
