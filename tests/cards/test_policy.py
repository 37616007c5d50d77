"""Card policy: one card per problem, severity order, data notes on every card."""

from __future__ import annotations

from datetime import UTC, datetime

from cds.cards.policy import apply_policy
from cds.hooks.card_meta import CardMeta
from cds.hooks.models import Action, Card, Source, Suggestion
from cds.notes import DataNote

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
EXT = "org.stresspain.cds"
SEVERE = [
    {"id": "p", "type": "measure", "measure": "pain", "value": 8.0},
    {"id": "q", "type": "measure", "measure": "phq9", "value": 12.0},
    {"id": "i", "type": "measure", "measure": "isi", "value": 18.0},
    {"id": "s", "type": "measure", "measure": "pss10", "value": 30.0},
]
SAFETY = [
    {"id": "i9", "type": "measure", "measure": "phq9_item9", "value": 1.0, "age_days": 2.0},
    {"id": "o", "type": "medication", "ingredient": "morphine", "valuesets": ["opioids"],
     "status": "active"},
    {"id": "g", "type": "medication", "ingredient": "gabapentin",
     "valuesets": ["gabapentinoids"], "status": "active"},
]
NOTES = [DataNote("unit", f"Observation/{i} has a pain score in an unknown unit",
                  f"Observation/{i}") for i in range(5)]


def _rules(cards):
    return [c.extension[EXT]["rule"] for c in cards]


def test_rules_sharing_a_problem_give_one_card_naming_the_others(evaluator):
    cards = evaluator.evaluate_facts(SEVERE, "patient-view", NOW).cards
    assert _rules(cards) == ["R04"]  # warning R04 beats info R02 (problem: psychology)
    (card,) = cards
    assert card.extension[EXT]["alsoFrom"] == ["R02"]
    assert card.detail.startswith("2 findings, most important first.")
    assert "### Mood or anxiety with pain" in card.detail  # R02's own findings stay visible
    assert len(evaluator.evaluate_facts(SEVERE, "patient-view", NOW).matches) == 2


def test_cards_come_critical_first_then_warning_then_by_priority(evaluator):
    cards = evaluator.evaluate_facts(SEVERE + SAFETY, "patient-view", NOW).cards
    assert [(c.extension[EXT]["rule"], c.indicator) for c in cards] == [
        ("R01", "critical"), ("R10", "warning"), ("R04", "warning")]


def test_every_card_lists_the_data_that_could_not_be_used(evaluator):
    cards = evaluator.evaluate_facts(SEVERE + SAFETY, "patient-view", NOW, NOTES).cards
    for card in cards:
        section = card.detail.split("**Data not used**")[1]
        assert section.count("has a pain score in an unknown unit") == 3  # max_notes: 3
        assert "(Observation/0)" in section
        assert section.rstrip().endswith("- and 2 more")


def test_notes_without_any_card_give_one_data_quality_card(evaluator):
    facts = [{"id": "p", "type": "measure", "measure": "pain", "value": 1.0}]
    (card,) = evaluator.evaluate_facts(facts, "patient-view", NOW, NOTES[:2]).cards
    assert card.indicator == "info"
    assert card.summary == "Some data could not be used (2 items)"
    assert "Observation/1 has a pain score in an unknown unit" in card.detail
    assert card.extension[EXT]["rule"] == "data-quality"
    assert len(card.extension[EXT]["notes"]) == 2


def test_no_rule_and_no_note_means_no_card(evaluator):
    assert evaluator.evaluate_facts([], "patient-view", NOW).cards == []


def _card(rule: str, indicator: str, *suggestions):
    return Card(summary=f"{rule} card", indicator=indicator, source=Source(label="s"),
                suggestions=list(suggestions), selectionBehavior="any" if suggestions else None,
                ).with_meta(CardMeta(rule=rule, problem=rule))


def _create(code: str, rtype: str = "MedicationRequest", canonical: str | None = None):
    resource = {"resourceType": rtype}
    concept = {"coding": [{"system": "http://example.org", "code": code}]}
    resource["medicationCodeableConcept" if rtype == "MedicationRequest" else "code"] = concept
    if canonical:
        resource["instantiatesCanonical"] = canonical
    return Suggestion(label=f"create {code}", actions=[Action(type="create", description="d",
                                                              resource=resource)])


def test_the_same_proposal_is_offered_once_on_the_highest_card(evaluator):
    naloxone, followup = _create("1725059"), _create("task", "Task", "http://loinc.org/q/91148-7")
    gad7 = _create("task", "Task", "http://loinc.org/q/69737-5")
    cards = [_card("R13A", "warning", naloxone, followup), _card("R11", "critical", naloxone),
             _card("R15", "info", followup, gad7)]
    out = apply_policy(cards, {}, evaluator.texts, []).cards
    by_rule = {c.extension[EXT]["rule"]: [s.label for s in c.suggestions] for c in out}
    assert by_rule == {"R11": ["create 1725059"], "R13A": ["create task"],
                       "R15": ["create task"]}
    r15 = next(c for c in out if c.extension[EXT]["rule"] == "R15")
    canonical = r15.suggestions[0].actions[0].resource["instantiatesCanonical"]
    assert canonical == "http://loinc.org/q/69737-5"  # another questionnaire: not a repeat


def test_a_card_left_without_suggestions_drops_its_selection_behavior(evaluator):
    naloxone = _create("1725059")
    out = apply_policy([_card("R10", "warning", naloxone), _card("R11", "critical", naloxone)],
                       {}, evaluator.texts, []).cards
    r10 = next(c for c in out if c.extension[EXT]["rule"] == "R10")
    assert r10.suggestions == [] and r10.selectionBehavior is None
