"""Sample facts for checking card templates without a patient.

For each branch of a rule's `when`, every binding gets a fact of its type whose fields pass
the pattern's own tests where that is easy (equality, lists, value sets, bounds), so the
card renders as it would for a real match of that branch. Two flavours: *typical* values
(short, plausible: used to render suggested FHIR resources) and *longest* values (each free
field at the catalogue's `max_len`: used to bound the length of summaries).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cds.facts.catalogue import FACT_TYPES, FactField
from cds.rules.dnf import CPattern, Expander
from cds.rules.operators import OPERATORS, JoinRef
from cds.rules.pack import Pack


def _free_value(spec: FactField, longest: bool) -> Any:
    if spec.kind == "number":
        return float(10 ** min(spec.max_len, 12) - 1) if longest else 1.0
    if spec.kind == "list":
        return ["W" * spec.max_len] if longest else []
    if spec.options:
        return max(spec.options, key=len) if longest else spec.options[0]
    if spec.name == "source":
        return "W" * spec.max_len if longest else "Observation/example"
    return "W" * spec.max_len if longest else "example"


def sample_fact(pattern: CPattern, longest: bool) -> dict[str, Any]:
    ftype = FACT_TYPES[pattern.fact]
    fact: dict[str, Any] = {spec.name: _free_value(spec, longest) for spec in ftype.fields}
    fact.update(id=f"sample-{pattern.bind}", type=pattern.fact)
    for test in pattern.tests:
        if not isinstance(test.value, JoinRef):
            OPERATORS[test.op].satisfy(fact, test.field, test.value, longest)
    return fact


def branch_samples(pack: Pack, rule_id: str, longest: bool,
                   ) -> Iterator[dict[str, dict[str, Any]]]:
    """Bindings (name -> sample fact) for each branch of the rule's `when`."""
    loaded = next(lr for lr in pack.rules if lr.rule.id == rule_id)
    expander = Expander(pack.definitions)
    for branch in expander.expand(loaded.rule.when, loaded.origin.at("when")):
        if all(p.fact in FACT_TYPES for p in branch):
            yield {p.bind: sample_fact(p, longest) for p in branch}
