"""The engine agrees with the plain-Python reading of the rules on random facts.

Every operator, `any` branches, joins and `unless` vetoes are covered by a small rule set;
hypothesis generates fact lists (with missing fields and integer-valued numbers) and the
matches of the engine must equal those of cds.authoring.pyeval, rule by rule and fact by fact.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cds.authoring.pyeval import full_matches
from cds.rules.engine import Engine
from cds.rules.prepare import prepare
from tests.rules.builders import pattern, program, rule

RULES = [
    rule("EQ", pattern("m", "measure", measure="a", value={"gte": 3, "lt": 7})),
    rule("NE", pattern("m", "measure", measure={"ne": "a"}, value={"lte": 2})),
    rule("IN", pattern("m", "measure", measure={"in": ["b", "c"]}, value={"gt": 4})),
    rule("EX", {"any": [pattern("m", "measure", age_days={"exists": False}, value=5),
                        pattern("d", "medication", status={"exists": True},
                                valuesets={"contains": "x"})]}),
    rule("JOIN", {"all": [pattern("a", "measure", measure="a"),
                          pattern("b", "measure", measure="b",
                                  value={"gte": {"ref": "a.value"}})]}),
    rule("EQJ", {"all": [pattern("d", "medication", valuesets={"contains": "y"}),
                         pattern("m", "measure", age_days={"ref": "d.dose_days"})]}),
    rule("VETO", {"all": [pattern("d", "medication", valuesets={"contains": "x"}),
                          pattern("m", "measure", measure="c")]},
         unless=[pattern("o", "medication", status="draft",
                         dose_days={"lt": {"ref": "m.value"}}),
                 pattern("z", "measure", measure="z")]),
]
PROGRAM = program(*RULES)
ENGINE = Engine({"patient-view": PROGRAM}, name="semantics")

numbers = st.one_of(st.none(), st.integers(0, 8), st.integers(0, 8).map(float))
measures = st.builds(
    lambda name, value, age: {"type": "measure", "measure": name, "value": value,
                              "age_days": age},
    st.sampled_from(["a", "b", "c", "z"]), numbers, numbers)
medications = st.builds(
    lambda vs, status, days: {"type": "medication", "valuesets": sorted(vs), "status": status,
                              "dose_days": days},
    st.sets(st.sampled_from(["x", "y"])), st.sampled_from([None, "active", "draft"]), numbers)


def _clean(facts: list[dict[str, object]]) -> list[dict[str, object]]:
    out = []
    for i, fact in enumerate(facts):
        out.append({"id": f"f{i}", **{k: v for k, v in fact.items() if v is not None}})
    return out


def _python_matches(facts: list[dict[str, object]]) -> set[tuple[str, frozenset[object]]]:
    normal, _ = prepare(facts, "")
    found = set()
    for compiled in PROGRAM.rules:
        for plan in compiled.branches:
            vetoes = [v for v in compiled.vetoes if v.applies_to(plan.index)]
            for bound in full_matches(plan.patterns, normal):
                vetoed = any(
                    all(ex[b]["id"] == bound[b]["id"] for b in v.keep)
                    for v in vetoes for ex in full_matches(v.patterns, normal))
                if not vetoed:
                    found.add((plan.rule_id, frozenset((k, f["id"]) for k, f in bound.items())))
    return found


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(measures, medications), max_size=7))
def test_the_engine_finds_exactly_the_matches_the_rules_describe(facts):
    facts = _clean(facts)
    engine = {(m.rule, frozenset((k, f["id"]) for k, f in m.bindings.items()))
              for m in ENGINE.evaluate(facts, "patient-view")}
    assert engine == _python_matches(facts)
