"""Collecting prefetch and draft orders: CDS Hooks prefetch semantics, lenient with junk."""

from __future__ import annotations

import logging

import pytest

from cds.fhir.collect import collect

PATIENT = {"resourceType": "Patient", "id": "p1", "gender": "female"}
OBS = {"resourceType": "Observation", "id": "o1", "status": "final",
       "code": {"coding": [{"system": "http://loinc.org", "code": "72514-3"}]}}


def _bundle(*resources: object) -> dict:
    return {"resourceType": "Bundle", "type": "searchset",
            "entry": [{"resource": r} for r in resources]}


def test_searchset_bundles_are_unwrapped_and_single_resources_kept() -> None:
    data = collect({"patient": PATIENT, "observations": _bundle(OBS)},
                   {"patientId": "p1"}, "patient-view", "svc")
    assert [r["resourceType"] for r in data.resources] == ["Patient", "Observation"]
    assert data.patient_id == "p1" and data.hook == "patient-view" and data.service_id == "svc"
    assert data.notes == []


def test_null_prefetch_means_no_data_and_is_not_an_error() -> None:
    data = collect({"patient": PATIENT, "observations": None}, {"patientId": "p1"},
                   "patient-view", "svc")
    assert len(data.resources) == 1 and data.notes == []


def test_an_operation_outcome_becomes_a_prefetch_error_naming_the_key() -> None:
    outcome = {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "timeout", "diagnostics": "query timed out"}]}
    data = collect({"observations": outcome}, {}, "patient-view", "svc")
    assert data.resources == []
    [note] = data.notes
    assert note.kind == "prefetch-error"
    assert "'observations'" in note.message and "query timed out" in note.message


def test_junk_prefetch_values_and_entries_are_noted_not_fatal() -> None:
    data = collect({"a": "not a resource", "b": [1, 2], "c": _bundle(OBS, 42, {"x": 1})},
                   {}, "patient-view", "svc")
    assert [r["id"] for r in data.resources] == ["o1"]
    kinds = sorted(n.kind for n in data.notes)
    assert kinds == ["invalid-resource", "invalid-resource", "prefetch-error", "prefetch-error"]


def test_resources_are_deduplicated_by_type_and_id() -> None:
    data = collect({"patient": PATIENT, "everything": _bundle(PATIENT, OBS, OBS)},
                   {}, "patient-view", "svc")
    assert [r["resourceType"] for r in data.resources] == ["Patient", "Observation"]


def test_searchset_outcome_entries_become_warnings() -> None:
    bundle = _bundle(OBS)
    bundle["entry"].append({"resource": {"resourceType": "OperationOutcome", "issue": [
        {"severity": "warning", "code": "incomplete", "diagnostics": "page limit"}]},
        "search": {"mode": "outcome"}})
    data = collect({"observations": bundle}, {}, "patient-view", "svc")
    assert [n.kind for n in data.notes] == ["prefetch-warning"]


def _med_order(rid: str, **fields: object) -> dict:
    return {"resourceType": "MedicationRequest", "id": rid, "status": "draft",
            "intent": "order", **fields}


DULOXETINE = {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                          "code": "596930"}]}
IMAGING = {"resourceType": "ServiceRequest", "id": "ct", "status": "draft", "intent": "plan",
           "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "72133"}]}}


def _order_context(*drafts: dict, selections: list[str] | None = None) -> dict:
    context: dict = {"patientId": "p1", "draftOrders": {
        "resourceType": "Bundle", "entry": [{"resource": d} for d in drafts]}}
    if selections is not None:
        context["selections"] = selections
    return context


def test_draft_orders_come_from_context_and_a_missing_bundle_type_is_accepted() -> None:
    draft = _med_order("d1", medicationCodeableConcept=DULOXETINE)
    data = collect(None, _order_context(draft), "order-sign", "svc")
    assert data.draft_orders == [draft] and data.resources == []
    assert data.orders_to_check == [draft] and not data.nothing_to_check


def test_order_select_checks_only_the_selected_medication_orders() -> None:
    selected = _med_order("d2", medicationCodeableConcept=DULOXETINE)
    earlier = _med_order("d1", medicationCodeableConcept=DULOXETINE)
    data = collect(None, _order_context(earlier, selected, selections=["MedicationRequest/d2"]),
                   "order-select", "svc")
    assert data.draft_orders == [earlier, selected]  # the earlier draft stays as context
    assert data.orders_to_check == [selected]


def test_order_select_naming_no_draft_order_has_nothing_to_check() -> None:
    draft = _med_order("d1", medicationCodeableConcept=DULOXETINE)
    for selections in ([], ["MedicationRequest/other"]):
        data = collect(None, _order_context(draft, selections=selections), "order-select", "svc")
        assert data.nothing_to_check, selections


def test_drafts_still_being_entered_or_of_other_kinds_are_left_out_without_a_note() -> None:
    composing = _med_order("d1")
    empty_concept = _med_order("d2", medicationCodeableConcept={"text": " "})
    diet = {"resourceType": "NutritionOrder", "id": "n1", "status": "draft"}
    uncoded_referral = {**IMAGING, "id": "sr", "code": {"text": "CT"}}
    data = collect(None, _order_context(composing, empty_concept, diet, uncoded_referral,
                                        IMAGING, selections=["ServiceRequest/ct",
                                                             "MedicationRequest/d1"]),
                   "order-select", "svc")
    assert data.draft_orders == [IMAGING]  # a coded referral being ordered is context
    assert data.notes == [] and data.nothing_to_check


def test_drafts_left_out_are_counted_by_type_in_a_debug_line_without_ids(
        caplog: pytest.LogCaptureFixture) -> None:
    diet = {"resourceType": "NutritionOrder", "id": "diet-77", "status": "draft"}
    with caplog.at_level(logging.DEBUG, logger="cds.fhir.collect"):
        collect(None, _order_context(_med_order("rx-55"), diet, _med_order("rx-56")),
                "order-sign", "svc")
    [line] = caplog.messages
    assert line.endswith(": 2 MedicationRequest, 1 NutritionOrder")
    assert "diet-77" not in line and "rx-55" not in line


def test_a_medication_chosen_by_text_or_reference_is_checked() -> None:
    by_text = _med_order("d1", medicationCodeableConcept={"text": "hospital formulary tablet"})
    by_ref = _med_order("d2", medicationReference={"reference": "#med"})
    data = collect(None, _order_context(by_text, by_ref), "order-sign", "svc")
    assert data.orders_to_check == [by_text, by_ref]


def test_patient_view_has_no_orders_to_check_and_is_evaluated() -> None:
    data = collect({"patient": PATIENT}, {"patientId": "p1"}, "patient-view", "svc")
    assert data.orders_to_check == [] and not data.nothing_to_check


def test_a_draft_orders_value_that_is_not_a_bundle_is_noted() -> None:
    data = collect(None, {"draftOrders": "oops"}, "order-sign", "svc")
    assert data.draft_orders == [] and [n.kind for n in data.notes] == ["invalid-resource"]
