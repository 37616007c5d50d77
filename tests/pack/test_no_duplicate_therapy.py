"""Every dose-change suggestion either replaces the draft being signed (delete + create) or
pairs its new draft with an update that stops the current order, in one suggestion; new
starts use label start doses and real product strengths."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cds.authoring.synth import build_patient_data
from cds.hooks.models import Card, Suggestion
from cds.pipeline import Evaluator

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
EXT = "org.stresspain.cds"


@pytest.fixture
def evaluator(shipped_evaluator: Evaluator) -> Evaluator:
    return shipped_evaluator


def cards(evaluator: Evaluator, given: dict[str, Any], hook: str = "patient-view") -> list[Card]:
    return evaluator.evaluate(build_patient_data(given, NOW, hook), NOW).cards


def medication_suggestions(card: Card) -> list[Suggestion]:
    return [s for s in card.suggestions
            if any(a.type == "create" and a.resource
                   and a.resource.get("resourceType") == "MedicationRequest"
                   and "1725059" not in str(a.resource) for a in s.actions)]


def of_rule(found: list[Card], rule: str) -> Card:
    return next(c for c in found if c.extension[EXT]["rule"] == rule)


def current_order(given: dict[str, Any]) -> dict[str, Any]:
    """The patient's MedicationRequest as the EHR sends it (the resource a stop must target)."""
    return next(r for r in build_patient_data(given, NOW).resources
                if r["resourceType"] == "MedicationRequest")


def assert_replaces_without_duplicate(suggestion: Suggestion, current: dict[str, Any] | None,
                                      draft: bool) -> None:
    kinds = [a.type for a in suggestion.actions]
    if draft:
        assert kinds[0] == "delete" and "create" in kinds, kinds
    else:
        assert sorted(kinds) == ["create", "update"], kinds
        update = next(a for a in suggestion.actions if a.type == "update")
        assert current is not None
        assert update.resource["id"] == current["id"]
        assert update.resource["status"] == "stopped"
        assert update.resource["medicationCodeableConcept"] == current[
            "medicationCodeableConcept"]  # the order as the EHR sent it, only stopped


def test_renal_reduction_of_an_active_pregabalin_stops_the_current_order(evaluator) -> None:
    given = {"patient": {"age": 70, "sex": "female"},
             "observations": [{"code": "2160-0", "value": 2.2, "days_ago": 10},
                              {"code": "29463-7", "value": 70, "days_ago": 10}],
             "medications": [{"rxnorm": "483440", "display": "pregabalin 150 MG Oral Capsule",
                              "dose_mg": 150, "times_per_day": 2, "days_ago": 60}]}
    found = cards(evaluator, given)
    (suggestion,) = medication_suggestions(of_rule(found, "R08"))
    current = current_order(given)
    assert_replaces_without_duplicate(suggestion, current, draft=False)
    create = next(a for a in suggestion.actions if a.type == "create")
    coding = create.resource["medicationCodeableConcept"]["coding"][0]
    assert coding["code"] == "483450"  # pregabalin 75 MG Oral Capsule: a real product
    assert "75 mg twice daily" in suggestion.label


def test_a_new_gabapentin_order_above_the_renal_maximum_starts_low(evaluator) -> None:
    given = {"patient": {"age": 72, "sex": "male"},
             "observations": [{"code": "2160-0", "value": 1.9, "days_ago": 20},
                              {"code": "29463-7", "value": 78, "days_ago": 20}],
             "medications": [{"rxnorm": "310433", "display": "gabapentin 600 MG Oral Tablet",
                              "dose_mg": 600, "times_per_day": 3, "draft": True}]}
    found = cards(evaluator, given, "order-sign")
    (suggestion,) = medication_suggestions(of_rule(found, "R08"))
    assert_replaces_without_duplicate(suggestion, None, draft=True)
    create = next(a for a in suggestion.actions if a.type == "create")
    assert create.resource["medicationCodeableConcept"]["coding"][0]["code"] == "310430"
    dose = create.resource["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"]
    assert dose == 200 and "Start low instead" in suggestion.label  # not 700 mg, not the max


def test_duloxetine_step_up_stops_the_30_mg_order(evaluator) -> None:
    given = {"patient": {"age": 56, "sex": "female"},
             "observations": [{"code": "91147-9", "value": 7, "days_ago": 48},
                              {"code": "91147-9", "value": 6.3, "days_ago": 3},
                              {"code": "2160-0", "value": 0.9, "days_ago": 40},
                              {"code": "29463-7", "value": 72, "days_ago": 40},
                              {"code": "44261-6", "value": 4, "days_ago": 20}],
             "medications": [{"rxnorm": "596930",
                              "display": "duloxetine 30 MG Delayed Release Oral Capsule",
                              "dose_mg": 30, "times_per_day": 1, "days_ago": 42}]}
    found = cards(evaluator, given)
    (suggestion,) = medication_suggestions(of_rule(found, "R07"))
    current = current_order(given)
    assert_replaces_without_duplicate(suggestion, current, draft=False)


def test_without_the_current_resource_no_half_replacement_is_offered(evaluator) -> None:
    """Facts alone (no FHIR resources): the stop cannot be built, so the step-up is left out
    rather than offered as a second order."""
    facts = [
        {"id": "context", "type": "context", "hook": "patient-view", "service": "s"},
        {"id": "patient", "type": "patient", "source": "Patient/p", "age": 50.0},
        {"id": "med:MedicationRequest/m", "type": "medication", "source": "MedicationRequest/m",
         "ingredient": "pregabalin", "rxcui": "187832", "valuesets": ["gabapentinoids"],
         "status": "active", "is_new": "no", "daily_dose": 300.0, "dose_unit": "mg/d"},
        {"id": "measure:crcl", "type": "measure", "measure": "crcl", "value": 25.0,
         "age_days": 5.0, "day": 20600.0, "source": "Observation/c"},
        {"id": "total:cns_active_count", "type": "total", "name": "cns_active_count",
         "value": 1.0},
    ]
    found = evaluator.evaluate_facts(facts, "patient-view", NOW).cards
    assert medication_suggestions(of_rule(found, "R08")) == []
