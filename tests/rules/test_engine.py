"""The engine on in-memory rules: matches, vetoes, normalisation, threads, state hygiene."""

from __future__ import annotations

import threading

import durable_rules_engine as dre
import pytest

from cds.errors import RulePackError
from tests.rules.builders import engine, ids, measure, med, pattern, rule

MOOD = rule("R02", {"all": [
    pattern("pain", "measure", measure="pain", value={"gte": 4}),
    {"any": [pattern("phq9", "measure", measure="phq9", value={"gte": 10}),
             pattern("gad7", "measure", measure="gad7", value={"gte": 10})]},
]}, unless=[pattern("therapy", "referral", valuesets={"contains": "psychology"},
                    status={"in": ["active", "draft"]})])
ITEM9 = rule("R01", pattern("item9", "measure", measure="phq9_item9", value={"gte": 1}),
             unless=[pattern("assessed", "referral", valuesets={"contains": "mh"},
                             age_days={"lte": {"ref": "item9.age_days"}})])
COMBO = rule("R10", {"all": [pattern("opioid", "medication", valuesets={"contains": "opioids"}),
                             pattern("gaba", "medication",
                                     valuesets={"contains": "gabapentinoids"})]})


@pytest.fixture(scope="module")
def eng():
    return engine(MOOD, ITEM9, COMBO)


def test_pain_with_high_phq9_and_gad7_matches_each_branch_of_the_mood_rule(eng):
    facts = [measure("p", "pain", 6.0), measure("q", "phq9", 12.0), measure("g", "gad7", 11.0)]
    assert ids(eng.evaluate(facts, "patient-view")) == [("R02", ["p", "q"]), ("R02", ["p", "g"])]


def test_facts_no_rule_uses_do_not_hide_the_matches_of_the_others(eng):
    facts = [{"id": "ctx", "type": "context", "hook": "patient-view", "service": "s"},
             {"id": "c1", "type": "condition", "valuesets": []},
             measure("x", "bmi", 31.0), measure("p", "pain", 6.0), measure("q", "phq9", 12.0),
             {"id": "pt", "type": "patient", "age": 40.0}]
    assert ids(eng.evaluate(facts, "patient-view")) == [("R02", ["p", "q"])]


def test_an_active_psychology_referral_vetoes_the_mood_rule(eng):
    facts = [measure("p", "pain", 6.0), measure("q", "phq9", 12.0),
             {"id": "r", "type": "referral", "valuesets": ["psychology"], "status": "active"}]
    assert eng.evaluate(facts, "patient-view") == []
    facts[2]["status"] = "completed"
    assert ids(eng.evaluate(facts, "patient-view")) == [("R02", ["p", "q"])]


def test_a_referral_older_than_the_item9_answer_does_not_veto_it(eng):
    item9 = measure("i9", "phq9_item9", 2.0, age_days=3.0)
    older = {"id": "r", "type": "referral", "valuesets": ["mh"], "age_days": 10.0}
    newer = {"id": "r", "type": "referral", "valuesets": ["mh"], "age_days": 1.0}
    assert ids(eng.evaluate([item9, older], "patient-view")) == [("R01", ["i9"])]
    assert eng.evaluate([item9, newer], "patient-view") == []


def test_every_opioid_gabapentinoid_pair_is_a_match(eng):
    facts = [med("o1", "opioids"), med("o2", "opioids"), med("g", "gabapentinoids")]
    assert ids(eng.evaluate(facts, "patient-view")) == [("R10", ["o1", "g"]), ("R10", ["o2", "g"])]


def test_a_number_sent_as_text_is_never_compared_with_numbers(eng):
    # The engine alone would compare "9" >= 10 as text and say yes.
    facts = [measure("p", "pain", 6.0), measure("q", "phq9", "9")]  # type: ignore[arg-type]
    assert eng.evaluate(facts, "patient-view") == []


def test_integers_and_floats_join_as_the_same_number():
    eng = engine(rule("J", {"all": [
        pattern("a", "measure", measure="pain"),
        pattern("b", "measure", measure="peg", value={"ref": "a.value"})]}))
    facts = [measure("a", "pain", 5), measure("b", "peg", 5.0)]
    assert ids(eng.evaluate(facts, "patient-view")) == [("J", ["a", "b"])]


def test_a_match_found_by_two_branches_is_reported_once():
    eng = engine(rule("D", {"any": [pattern("q", "measure", measure="phq9", value={"gte": 10}),
                                    pattern("q", "measure", measure="phq9", value={"gte": 12})]}))
    assert ids(eng.evaluate([measure("q1", "phq9", 15.0)], "patient-view")) == [("D", ["q1"])]


def test_duplicate_fact_ids_are_evaluated_not_rejected(eng):
    facts = [med("m", "opioids"), med("m", "gabapentinoids")]
    assert [m.rule for m in eng.evaluate(facts, "patient-view")] == ["R10"]


def test_no_facts_and_unknown_hooks_give_no_matches(eng):
    assert eng.evaluate([], "patient-view") == []
    assert eng.evaluate([measure("p", "pain", 9.0)], "order-sign") == []


def test_eight_threads_evaluating_at_once_get_identical_results(eng):
    facts = [measure("p", "pain", 6.0), measure("q", "phq9", 12.0), measure("g", "gad7", 11.0),
             med("o", "opioids"), med("g2", "gabapentinoids"),
             measure("i9", "phq9_item9", 1.0, age_days=2.0)]
    expected = ids(eng.evaluate(facts, "patient-view"))
    results: list[list[object]] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(300):
                results.append(ids(eng.evaluate(facts, "patient-view")))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 2400
    assert all(r == expected for r in results)


def test_no_fact_outlives_its_call_and_each_ruleset_keeps_one_state(eng):
    facts = [measure("p", "pain", 6.0), measure("q", "phq9", 12.0)]
    for _ in range(2000):  # twice the engine's cap of live states
        assert len(eng.evaluate(facts, "patient-view")) == 1
    ruleset = eng._rulesets["patient-view"][0]
    assert dre.get_facts(ruleset.handle, ruleset.sid) == "[]"
    assert "sid-" in dre.get_state(ruleset.handle, ruleset.sid)
    with pytest.raises(dre.error, match="309"):  # 309: no such state
        dre.get_state(ruleset.handle, "s-never-used")


def test_the_probe_for_leftover_facts_sees_facts_that_are_left():
    ruleset = engine(MOOD)._rulesets["patient-view"][0]
    dre.assert_facts(ruleset.handle, '[{"id": "x", "type": "measure", "measure": "pain", '
                     f'"value": 5.0, "sid": "{ruleset.sid}"}}]')
    assert '"id": "x"' in dre.get_facts(ruleset.handle, ruleset.sid)


def test_a_join_on_a_field_the_bound_fact_lacks_is_no_match_not_an_engine_error():
    eng = engine(rule("J", {"all": [
        pattern("a", "measure", measure="pain"),
        pattern("b", "measure", measure="peg", value={"gte": {"ref": "a.value"}})]}))
    facts = [{"id": "a", "type": "measure", "measure": "pain"}, measure("b", "peg", 5.0)]
    assert eng.evaluate(facts, "patient-view") == []


def test_a_call_where_no_fact_matches_anything_is_safe_on_a_fresh_ruleset():
    for _ in range(20):
        fresh = engine(ITEM9, COMBO)
        assert fresh.evaluate([{"id": "x", "type": "condition", "valuesets": []}],
                              "patient-view") == []


def test_an_engine_failure_fails_the_call_and_the_next_call_runs_on_a_fresh_ruleset(monkeypatch):
    eng = engine(MOOD)
    facts = [measure("p", "pain", 6.0), measure("q", "phq9", 12.0)]
    broken = eng._rulesets["patient-view"][0]
    real_assert = dre.assert_facts

    def fail_once(handle, payload):
        monkeypatch.setattr(dre, "assert_facts", real_assert)
        raise dre.error("Could not assert facts, error code: 303")

    monkeypatch.setattr(dre, "assert_facts", fail_once)
    with pytest.raises(RulePackError, match="303"):
        eng.evaluate(facts, "patient-view")
    assert eng._rulesets["patient-view"][0] is not broken
    assert ids(eng.evaluate(facts, "patient-view")) == [("R02", ["p", "q"])]
