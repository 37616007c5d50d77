"""Collecting prefetch and draft orders: CDS Hooks prefetch semantics, lenient with junk."""

from __future__ import annotations

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


def test_draft_orders_come_from_context_and_a_missing_bundle_type_is_accepted() -> None:
    draft = {"resourceType": "MedicationRequest", "id": "d1", "status": "draft",
             "intent": "order"}
    data = collect(None, {"patientId": "p1", "draftOrders": {
        "resourceType": "Bundle", "entry": [{"resource": draft}]}}, "order-sign", "svc")
    assert data.draft_orders == [draft] and data.resources == []


def test_a_draft_orders_value_that_is_not_a_bundle_is_noted() -> None:
    data = collect(None, {"draftOrders": "oops"}, "order-sign", "svc")
    assert data.draft_orders == [] and [n.kind for n in data.notes] == ["invalid-resource"]
