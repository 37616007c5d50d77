"""Cards cite the source that fits what they found; laboratory requests are categorised."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cds.authoring.synth import build_patient_data
from cds.hooks.models import Card
from cds.pipeline import Evaluator

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
OXY = {"rxnorm": "1049621", "display": "oxycodone hydrochloride 5 MG Oral Tablet",
       "dose_mg": 5, "times_per_day": 4, "days_ago": 60}


@pytest.fixture
def evaluator(shipped_evaluator: Evaluator) -> Evaluator:
    return shipped_evaluator


def card(evaluator: Evaluator, rule: str, given: dict[str, Any]) -> Card:
    cards = evaluator.evaluate(build_patient_data(given, NOW), NOW).cards
    return next(c for c in cards if c.extension["org.stresspain.cds"]["rule"] == rule)


def test_r11_cites_the_boxed_warning_for_benzodiazepines_and_cdc_for_z_drugs(evaluator):
    benzo = card(evaluator, "R11", {"patient": {"age": 50, "sex": "female"}, "medications": [
        OXY, {"rxnorm": "308048", "display": "alprazolam 0.5 MG Oral Tablet", "dose_mg": 0.5,
              "times_per_day": 2, "days_ago": 60}]})
    assert "FDA boxed warning" in benzo.source.label
    zdrug = card(evaluator, "R11", {"patient": {"age": 50, "sex": "female"}, "medications": [
        OXY, {"rxnorm": "854873", "display": "zolpidem tartrate 10 MG Oral Tablet",
              "dose_mg": 10, "times_per_day": 1, "days_ago": 60}]})
    assert "CDC 2022 Rec 11" in zdrug.source.label and "cdc.gov" in (zdrug.source.url or "")


def test_r08_cites_the_label_of_the_drug_it_is_about_and_orders_a_laboratory_test(evaluator):
    found = card(evaluator, "R08", {"patient": {"age": 72, "sex": "male"}, "medications": [
        {"rxnorm": "310431", "display": "gabapentin 300 MG Oral Capsule", "dose_mg": 300,
         "times_per_day": 3, "days_ago": 60}]})
    assert found.source.url and found.source.url.endswith("query=gabapentin")
    requests = [a.resource for s in found.suggestions for a in s.actions
                if a.resource and a.resource["resourceType"] == "ServiceRequest"]
    (creatinine,) = requests
    assert creatinine["code"]["coding"][0]["code"] == "2160-0"
    assert creatinine["category"][0]["coding"][0]["code"] == "108252007"  # laboratory
