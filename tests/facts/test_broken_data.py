"""Broken resources each leave a note and never hide the facts of the good ones."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from cds.facts.config import FactConfig

from .helpers import PATIENT, RXNORM, fact, has_fact, notes, obs, run_raw

GOOD = [
    {"resourceType": "Patient", "id": "p1", "birthDate": "1970-01-01", "gender": "female"},
    obs("good-pain", "72514-3", 6, "2026-05-30T10:00:00Z"),
    {"resourceType": "MedicationRequest", "id": "good-med", "status": "active",
     "intent": "order", "subject": PATIENT, "authoredOn": "2026-05-01",
     "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "1049621"}]},
     "dosageInstruction": [{"timing": {"repeat": {"frequency": 4, "period": 1,
                                                  "periodUnit": "d"}},
                            "doseAndRate": [{"doseQuantity": {"value": 5, "unit": "mg"}}]}]},
]


def _with_dose(value: Any) -> dict[str, Any]:
    return {"resourceType": "MedicationRequest", "id": "bad", "status": "active",
            "intent": "order", "subject": PATIENT, "authoredOn": "2026-05-01",
            "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "596930"}]},
            "dosageInstruction": [{"timing": {"repeat": {"frequency": 1, "period": 1,
                                                         "periodUnit": "d"}},
                                   "doseAndRate": [{"doseQuantity": {"value": value,
                                                                     "unit": "mg"}}]}]}


BROKEN = {
    "string value": obs("bad", "44261-6", "12", "2026-05-30T10:00:00Z"),
    "value string": {**obs("bad", "44261-6", None, "2026-05-30"), "valueString": "twelve"},
    "negative dose": _with_dose(-30),
    "impossible date": obs("bad", "44261-6", 12, "2026-02-30T10:00:00Z"),
    "future date": obs("bad", "44261-6", 12, "2027-01-01T10:00:00Z"),
    "date before 1900": obs("bad", "44261-6", 12, "1850-01-01"),
    "absurd PHQ-9 of 40": obs("bad", "44261-6", 40, "2026-05-30T10:00:00Z"),
    "unknown resourceType": {"resourceType": "Observaton", "id": "bad"},
    "code is a string": {"resourceType": "Observation", "id": "bad", "status": "final",
                         "code": "44261-6", "valueInteger": 12},
    "item list is junk": {"resourceType": "QuestionnaireResponse", "id": "bad",
                          "status": "completed", "authored": "2026-05-30",
                          "questionnaire": "http://loinc.org/q/44249-1", "item": [1, "x", None]},
    "dosage is a dict": {**_with_dose(30), "dosageInstruction": {"oops": True}},
    "medication without code": {"resourceType": "MedicationRequest", "id": "bad",
                                "status": "active", "intent": "order", "subject": PATIENT},
    "condition code missing": {"resourceType": "Condition", "id": "bad", "subject": PATIENT},
    "coding system is a list": {
        **_with_dose(30), "medicationCodeableConcept": {"coding": [{"system": [RXNORM],
                                                                    "code": "596930"}]}},
    "coding system is an object": {
        "resourceType": "Condition", "id": "bad", "subject": PATIENT,
        "code": {"coding": [{"system": {"url": "http://snomed.info/sct"}, "code": "1"}]}},
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_resource_is_noted_and_does_not_hide_other_facts(
        name: str, config: FactConfig, now: datetime) -> None:
    ex = run_raw([*GOOD, BROKEN[name]], config, now)
    assert fact(ex, "measure:pain")["value"] == 6.0
    assert fact(ex, "med:MedicationRequest/good-med")["mme"] == 30.0
    assert fact(ex, "patient")["age"] == 56.0
    assert not has_fact(ex, "measure:phq9")
    assert ex.notes, f"{name} left no note"


def test_each_note_says_what_was_wrong(config: FactConfig, now: datetime) -> None:
    ex = run_raw([*GOOD, obs("s", "44261-6", "12", "2026-05-30T10:00:00Z"),
                  obs("d", "44261-6", 12, "2026-02-30T10:00:00Z")], config, now)
    messages = notes(ex, "invalid-resource")
    assert "Observation/s: valueQuantity.value is not a number; skipped" in messages
    assert any(m.startswith("Observation/d: effectiveDateTime is not a valid FHIR date")
               for m in messages)


def test_a_resource_that_makes_a_reader_fail_is_skipped_with_a_note(
        config: FactConfig, now: datetime, monkeypatch: pytest.MonkeyPatch) -> None:
    import cds.facts.extract as extract_module

    real = extract_module.observation

    def fragile(res: dict[str, Any], *args: Any) -> Any:
        if res.get("id") == "boom":
            raise KeyError("unexpected shape")
        return real(res, *args)

    monkeypatch.setattr(extract_module, "observation", fragile)
    ex = run_raw([*GOOD, obs("boom", "44261-6", 9, "2026-05-30")], config, now)
    assert fact(ex, "measure:pain")["value"] == 6.0
    assert "Observation/boom: the resource could not be read (KeyError); skipped" in notes(
        ex, "invalid-resource")


@pytest.mark.parametrize("gender", [{"x": 1}, ["female"], 3, "woman"])
def test_a_patient_gender_that_is_not_a_gender_is_noted_and_age_still_read(
        gender: Any, config: FactConfig, now: datetime) -> None:
    patient = {**GOOD[0], "gender": gender}
    ex = run_raw([patient, *GOOD[1:]], config, now)
    assert fact(ex, "patient")["age"] == 56.0
    assert "sex" not in fact(ex, "patient")
    assert "Patient/p1: Patient.gender is not a FHIR administrative gender" in notes(
        ex, "invalid-resource")
