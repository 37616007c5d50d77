"""Cards rendered from the fixture pack: text, variants, resources, extension, robustness."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cds.authoring.check import load_pack
from cds.cards import templating
from cds.cards.templating import Scope, compile_condition, compile_native, num
from cds.hooks.models import Card
from cds.pipeline import Evaluator
from tests.packs import copy_pack
from tests.rules.standin import standin_fact_config

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
EXT = "org.stresspain.cds"


def _card(evaluator, facts, hook="patient-view", rule=None) -> Card:
    cards = evaluator.evaluate_facts(facts, hook, NOW, patient_id="p1").cards
    if rule is None:
        assert len(cards) == 1, [c.summary for c in cards]
        return cards[0]
    return next(c for c in cards if c.extension[EXT]["rule"] == rule)


def _measure(fid, name, value, **extra):
    return {"id": fid, "type": "measure", "measure": name, "value": value,
            "source": f"Observation/{fid}", **extra}


@pytest.mark.parametrize(("value", "text"), [
    (12.0, "12"), (12, "12"), (6.666, "6.7"), (67.5, "67.5"), (0.04, "0"), (None, ""),
    ("n/a", "n/a")])
def test_numbers_read_as_people_write_them(value, text):
    assert num(value) == text


def test_a_phq9_of_12_with_pain_5_renders_the_info_card_with_its_values(evaluator):
    card = _card(evaluator, [_measure("p", "pain", 5.0), _measure("q", "phq9", 12.0)])
    assert card.summary == "Pain 5 with PHQ-9 12: offer psychology"
    assert card.indicator == "info"
    assert card.source.label == "Fixture pathway"
    assert [(r.code, r.display) for r in card.overrideReasons] == [
        ("indication-order-exists", "Already in treatment"), ("patient-refuses",
                                                             "Patient declined")]
    assert [link.url for link in card.links] == ["https://example.org/pathway/psychology"]
    meta = card.extension[EXT]
    assert {k: meta[k] for k in ("rule", "ruleVersion", "pack", "packVersion", "problem")} == {
        "rule": "R02", "ruleVersion": "1.2.0", "pack": "engine-fixture",
        "packVersion": "0.3.0", "problem": "psychology"}
    assert [(m["binding"], m["fact"]["id"]) for m in meta["matches"]] == [("pain", "p"),
                                                                          ("phq9", "q")]
    assert meta["alsoFrom"] == []


def test_a_severe_score_selects_the_warning_variant(evaluator):
    card = _card(evaluator, [_measure("p", "pain", 5.0), _measure("g", "gad7", 16.0)])
    assert (card.indicator, card.summary) == ("warning", "Pain 5 with GAD-7 16: offer psychology")


def test_a_binding_of_the_other_branch_renders_empty(evaluator):
    card = _card(evaluator, [_measure("p", "pain", 5.0), _measure("g", "gad7", 11.0)])
    assert card.detail == "Pain 5/10; mood 11."


def test_suggested_resources_are_filled_typed_and_pruned(evaluator):
    card = _card(evaluator, [_measure("p", "pain", 5.0), _measure("g", "gad7", 11.0)])
    assert card.selectionBehavior == "at-most-one"
    (suggestion,) = card.suggestions
    resource = suggestion.actions[0].resource
    assert resource["code"]["coding"][0]["code"] == "308459004"
    assert resource["subject"] == {"reference": "Patient/p1"}
    assert "priority" not in resource  # not passed: the element is left out
    assert resource["reasonReference"] == [{"reference": "Observation/p"},
                                           {"reference": "Observation/g"}]


def test_a_draft_gabapentinoid_gets_a_dose_proposal_with_a_numeric_dose(evaluator):
    facts = [{"id": "o", "type": "medication", "ingredient": "oxycodone",
              "valuesets": ["opioids"], "status": "active"},
             {"id": "g", "type": "medication", "ingredient": "pregabalin", "rxcui": "187832",
              "valuesets": ["gabapentinoids"], "status": "draft",
              "source": "MedicationRequest/d1"}]
    card = _card(evaluator, facts, hook="order-sign")
    assert card.indicator == "critical"
    create, delete = card.suggestions[0].actions
    dose = create.resource["dosageInstruction"][0]
    assert dose["text"] == "300 mg per day"
    assert dose["doseAndRate"][0]["doseQuantity"]["value"] == 300
    assert (delete.type, delete.resourceId) == ("delete", "MedicationRequest/d1")


def test_suggestions_and_cards_get_fresh_uuids(evaluator):
    facts = [_measure("p", "pain", 5.0), _measure("q", "phq9", 12.0)]
    first, second = _card(evaluator, facts), _card(evaluator, facts)
    assert first.uuid != second.uuid
    assert first.suggestions[0].uuid != second.suggestions[0].uuid


def test_a_summary_that_would_be_too_long_falls_back_to_the_rule_title(evaluator):
    facts = [{"id": "o", "type": "medication", "ingredient": "x" * 150, "valuesets": ["opioids"],
              "status": "active"},
             {"id": "g", "type": "medication", "ingredient": "gabapentin",
              "valuesets": ["gabapentinoids"], "status": "active"}]
    assert _card(evaluator, facts).summary == "Opioid with a gabapentinoid"


@pytest.mark.parametrize("source", ["missing.value >= 10", "1 / 0", "rule.id.upper() > 3"])
def test_a_condition_that_cannot_be_evaluated_is_false(source):
    assert compile_condition(source)(Scope({"rule": {"id": "R1"}})) is False


def test_resource_leaves_keep_native_types_and_drop_empty_elements():
    fill = compile_native({"a": "{{ n }}", "b": "n={{ n }}", "c": "{{ missing.x }}",
                           "d": [{"reference": "{{ missing }}"}], "e": {"f": "{{ none }}"},
                           "g": "{{ fact }}", "h": "constant"})
    assert fill(Scope({"n": 2.5, "fact": {"id": "x"}})) == {
        "a": 2.5, "b": "n=2.5", "g": {"id": "x"}, "h": "constant"}


def test_rendering_compiles_no_template_per_call(evaluator, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a template was compiled while serving a call")

    monkeypatch.setattr(templating.ENV, "from_string", refuse)
    monkeypatch.setattr(templating.ENV, "compile_expression", refuse)
    card = _card(evaluator, [_measure("p", "pain", 5.0), _measure("q", "phq9", 16.0)])
    assert card.indicator == "warning"


def test_a_variant_condition_that_fails_on_this_patient_sends_the_title_only(tmp_path, caplog):
    """Check passes (the sample PHQ-9 is the gate, 10); a PHQ-9 of 12 divides by zero."""
    root = copy_pack(tmp_path / "pack")
    rule = root / "rules" / "R02-mood.yaml"
    old = '    - when: "(phq9.value or 0)'
    rule.write_text(rule.read_text().replace(
        old, '    - when: "1 / ((phq9.value or 0) - 12) > 0 or (phq9.value or 0)'))
    evaluator = Evaluator(load_pack(root, standin_fact_config))
    fine = _card(evaluator, [_measure("p", "pain", 5.0), _measure("q", "phq9", 16.0)])
    assert (fine.summary, fine.indicator) == ("Pain 5 with PHQ-9 16: offer psychology", "warning")

    with caplog.at_level("ERROR", logger="cds.cards"):
        evaluation = evaluator.evaluate_facts(
            [_measure("p", "pain", 5.0), _measure("q", "phq9", 12.0)], "patient-view", NOW,
            patient_id="p1")
    (card,) = evaluation.cards
    assert (card.summary, card.indicator, card.detail) == ("Mood or anxiety with pain", "info",
                                                           None)
    assert card.suggestions == [] and card.links == []
    assert evaluation.template_errors == ["R02"]
    assert [r.getMessage() for r in caplog.records] == [
        "rule R02: a card template failed (ZeroDivisionError); the card is sent with its title "
        "only"]
