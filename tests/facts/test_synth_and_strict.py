"""The fixture shorthand builds valid FHIR R4 (checked with fhir.resources R4B) and whole
CDS Hooks requests; strict mode drops invalid resources with a note."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cds.authoring.synth import build_draft_orders, build_request, build_resources
from cds.facts.config import FactConfig
from cds.fhir.strict import validate_resources, validation_errors

from .helpers import fact, has_fact, notes, obs, run, run_raw

GIVEN: dict[str, Any] = {
    "patient": {"age": 52, "sex": "female"},
    "observations": [{"code": "72514-3", "value": 7, "days_ago": 3},
                     {"code": "93832-4", "value": 330, "unit": "min", "days_ago": 1},
                     {"code": "44260-8", "answer": "LA6569-3", "days_ago": 2}],
    "questionnaires": [
        {"instrument": "phq9", "answers": [1, 1, 2, 0, 1, 0, 1, 0, 1], "days_ago": 5},
        {"instrument": "gad7", "answers": [2, 2, 1, 1, 0, 0, 1], "style": "ordinal"},
        {"instrument": "peg", "answers": [7, 6, 8], "style": "integer"}],
    "medications": [
        {"rxnorm": "72625", "display": "duloxetine 30 MG", "dose_mg": 30, "times_per_day": 1,
         "days_ago": 40},
        {"rxnorm": "596", "dose_mg": 0.5, "timing_code": "BID", "kind": "statement"},
        {"rxnorm": "310431", "dose_mg": 300, "times_per_day": 3, "draft": True}],
    "conditions": [{"code": "82423001", "system": "snomed", "days_ago": 400}],
    "referrals": [{"code": "308459004", "status": "active", "days_ago": 10,
                   "reason": ["193462001"]},
                  {"code": "229065009", "resource": "procedure", "days_ago": 30}],
}


def test_every_synthesised_resource_is_valid_fhir_r4(now: datetime) -> None:
    resources = build_resources(GIVEN, now) + build_draft_orders(GIVEN, now)
    assert len(resources) == 13
    for res in resources:
        assert validation_errors(res) == [], res["resourceType"]


def test_the_patient_is_the_given_age_today(config: FactConfig, now: datetime) -> None:
    ex = run(GIVEN, config, now)
    assert fact(ex, "patient")["age"] == 52.0


def test_build_request_fills_prefetch_per_service_keys(now: datetime) -> None:
    request = build_request(GIVEN, now, "order-sign")
    assert request["hook"] == "order-sign"
    prefetch = request["prefetch"]
    assert prefetch["patient"]["resourceType"] == "Patient"
    assert {"observations", "questionnaireResponses", "medicationRequests",
            "medicationStatements", "conditions", "serviceRequests", "procedures"} <= set(prefetch)
    assert [e["resource"]["resourceType"] for e in prefetch["observations"]["entry"]] == [
        "Observation"] * 3
    assert prefetch["observations"]["type"] == "searchset"
    [draft] = [e["resource"] for e in request["context"]["draftOrders"]["entry"]]
    assert draft["status"] == "draft" and request["context"]["patientId"] == "example"
    assert build_request(GIVEN, now, "order-sign")["hookInstance"] == request["hookInstance"]


def test_order_select_requests_name_their_selections(now: datetime) -> None:
    request = build_request(GIVEN, now, "order-select")
    assert request["context"]["selections"] == ["MedicationRequest/draft-3"]


def test_the_shorthand_round_trips_into_the_facts_it_describes(config: FactConfig,
                                                               now: datetime) -> None:
    ex = run(GIVEN, config, now, "order-sign")
    assert fact(ex, "measure:phq9")["value"] == 7.0
    assert fact(ex, "measure:gad7")["value"] == 7.0
    assert fact(ex, "measure:pain")["value"] == 7.0  # PEG today and NRS 3 days ago: PEG wins
    assert fact(ex, "measure:sleep_hours")["value"] == 5.5
    assert fact(ex, "med:MedicationStatement/med-2")["daily_dose"] == 1.0
    assert fact(ex, "med:draft:MedicationRequest/draft-3")["is_new"] == "yes"
    assert ex.notes == []


def test_strict_mode_drops_invalid_resources_with_their_first_errors(config: FactConfig,
                                                                     now: datetime) -> None:
    bad = obs("bad", "72514-3", 9, "2026-05-30T10:00:00Z")
    bad["status"] = "done"
    bad["valueQuantity"]["value"] = "nine"
    good = obs("good", "72514-3", 4, "2026-05-29T10:00:00Z")
    ex = run_raw([good, bad], config, now, strict=True)
    assert fact(ex, "measure:pain")["value"] == 4.0
    [message] = notes(ex, "invalid-resource")
    assert message.startswith("Observation/bad: not valid FHIR R4:")
    assert "valueQuantity.value" in message


def test_strict_mode_rejects_r5_only_shapes(now: datetime) -> None:
    r5 = {"resourceType": "MedicationRequest", "id": "r5", "status": "active",
          "intent": "order", "subject": {"reference": "Patient/p1"},
          "medication": {"concept": {"coding": [{"code": "72625"}]}}}
    kept, found = validate_resources([r5])
    assert kept == [] and found[0].resource == "MedicationRequest/r5"


def test_non_strict_extraction_ignores_fields_it_does_not_read(config: FactConfig,
                                                               now: datetime) -> None:
    odd = obs("odd", "72514-3", 5, "2026-05-30T10:00:00Z", madeUpField=True)
    assert has_fact(run_raw([odd], config, now), "measure:pain")
    assert not has_fact(run_raw([odd], config, now, strict=True), "measure:pain")
