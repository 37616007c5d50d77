"""Order hooks called while an order is being entered, shaped as the CDS Hooks sandbox sends
them (hook definitions of order-select and order-sign): no selection yet, a medication order
whose medication is not chosen, an imaging order. Nothing is wrong in the record, so the
answer is no cards; a chosen medication still gets its cards and its data notes."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fhir_examples.generate import NOW
from tests.pack.examples import EXAMPLES, service

SELECT = "/cds-services/stress-pain-order-select"
SIGN = "/cds-services/stress-pain-order-sign"
# A 63-year-old with low back pain, on a naloxone spray: selecting morphine 30 mg tablets,
# 2 three times daily, gives R13A (180 MME/day) and nothing else.
RECORD = json.loads((EXAMPLES / "ehr-morphine-tablets-order-select.json").read_text("utf-8"))
PATIENT_ID = RECORD["context"]["patientId"]
[MORPHINE] = [e["resource"] for e in RECORD["context"]["draftOrders"]["entry"]]
MORPHINE_CARD = ("R13A", "warning", "Total 180 MME/day (>= 90): high dose")

# The sandbox's Rx View before a medication is picked: a draft with no medication[x].
NO_MEDICATION_YET = {"resourceType": "MedicationRequest", "id": "request-123",
                     "status": "draft", "subject": {"reference": f"Patient/{PATIENT_ID}"},
                     "authoredOn": "2026-11-20"}
# The sandbox's imaging screen: a lumbar spine CT ServiceRequest.
LUMBAR_CT = {"resourceType": "ServiceRequest", "id": "example-request-id", "status": "draft",
             "intent": "plan", "subject": {"reference": f"Patient/{PATIENT_ID}"},
             "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "72133",
                                  "display": "Lumbar spine CT"}], "text": "Lumbar spine CT"},
             "reasonCode": [{"coding": [{"system": "http://snomed.info/sct",
                                         "code": "279039007", "display": "Low back pain"}]}]}
# A pain score outside the 0-10 scale in the stored record: a data note when cards are made.
PAIN_15 = {"resourceType": "Observation", "id": "pain-15", "status": "final",
           "code": {"coding": [{"system": "http://loinc.org", "code": "72514-3"}]},
           "subject": {"reference": f"Patient/{PATIENT_ID}"},
           "effectiveDateTime": "2026-11-18T10:00:00Z", "valueInteger": 15}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with service(tmp_path_factory.mktemp("orders"), NOW) as test_client:
        yield test_client


def _request(hook: str, drafts: list[dict[str, Any]], selections: list[str] | None = None,
             *, record: dict[str, Any] | None = None) -> dict[str, Any]:
    body = copy.deepcopy(RECORD if record is None else record)
    body["hook"] = hook
    body["context"]["draftOrders"] = {"resourceType": "Bundle",
                                      "entry": [{"resource": d} for d in drafts]}
    body["context"].pop("selections", None)
    if selections is not None:
        body["context"]["selections"] = selections
    return body


def _cards(client: TestClient, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    reply = client.post(path, json=body)
    assert reply.status_code == 200, reply.text
    return list(reply.json()["cards"])


def _summaries(cards: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(c["extension"]["org.stresspain.cds"]["rule"], c["indicator"],
             c["summary"][:len(MORPHINE_CARD[2])]) for c in cards]


def _with_broken_pain_score() -> dict[str, Any]:
    record = copy.deepcopy(RECORD)
    record["prefetch"]["observations"]["entry"].append({"resource": PAIN_15})
    return record


def test_order_select_before_anything_is_chosen_gets_no_cards(client: TestClient) -> None:
    assert _cards(client, SELECT, _request("order-select", [], [])) == []


def test_a_medication_order_with_no_medication_yet_gets_no_cards(client: TestClient) -> None:
    body = _request("order-select", [NO_MEDICATION_YET], ["MedicationRequest/request-123"])
    assert _cards(client, SELECT, body) == []
    assert _cards(client, SIGN, _request("order-sign", [NO_MEDICATION_YET])) == []


def test_an_imaging_order_gets_no_cards_on_select_or_sign(client: TestClient) -> None:
    body = _request("order-select", [LUMBAR_CT], ["ServiceRequest/example-request-id"])
    assert _cards(client, SELECT, body) == []
    assert _cards(client, SIGN, _request("order-sign", [LUMBAR_CT])) == []


def test_a_pathway_finding_is_not_shown_when_an_imaging_order_is_signed(
        client: TestClient) -> None:
    """ISI 19 on zolpidem: a CBT-I card on patient-view, nothing while signing a CT."""
    record = json.loads((EXAMPLES / "r03-insomnia-on-zolpidem.json").read_text("utf-8"))
    patient = record["context"]["patientId"]
    ct = {**LUMBAR_CT, "subject": {"reference": f"Patient/{patient}"}}
    assert _cards(client, SIGN, _request("order-sign", [ct], record=record)) == []


def test_a_selection_naming_no_draft_order_gets_no_cards(client: TestClient) -> None:
    body = _request("order-select", [MORPHINE], ["MedicationRequest/not-in-the-bundle"])
    assert _cards(client, SELECT, body) == []


def test_a_chosen_medication_still_gets_its_card(client: TestClient) -> None:
    body = _request("order-select", [MORPHINE], [f"MedicationRequest/{MORPHINE['id']}"])
    assert _summaries(_cards(client, SELECT, body)) == [MORPHINE_CARD]
    assert _summaries(_cards(client, SIGN, _request("order-sign", [MORPHINE]))) == [
        MORPHINE_CARD]


def test_drafts_still_being_entered_beside_a_chosen_medication_leave_no_note(
        client: TestClient) -> None:
    drafts = [LUMBAR_CT, NO_MEDICATION_YET, MORPHINE]
    selected = ["ServiceRequest/example-request-id", "MedicationRequest/request-123",
                f"MedicationRequest/{MORPHINE['id']}"]
    for path, body in ((SIGN, _request("order-sign", drafts)),
                       (SELECT, _request("order-select", drafts, selected))):
        [card] = _cards(client, path, body)
        assert _summaries([card]) == [MORPHINE_CARD]
        assert "Data not used" not in card["detail"]


def test_a_fault_in_the_stored_record_is_still_noted_on_a_checked_order(
        client: TestClient) -> None:
    body = _request("order-select", [MORPHINE], [f"MedicationRequest/{MORPHINE['id']}"],
                    record=_with_broken_pain_score())
    [card] = _cards(client, SELECT, body)
    assert _summaries([card]) == [MORPHINE_CARD]
    assert "**Data not used**" in card["detail"] and "(Observation/pain-15)" in card["detail"]


def test_a_fault_in_the_stored_record_gives_no_card_while_nothing_is_chosen(
        client: TestClient) -> None:
    body = _request("order-select", [], [], record=_with_broken_pain_score())
    assert _cards(client, SELECT, body) == []


def test_nothing_to_check_needs_no_patient_data(client: TestClient) -> None:
    """Without prefetch or a FHIR server the patient's record cannot be read (412); a call
    with nothing to check does not need it."""
    body = _request("order-select", [], [])
    del body["prefetch"]
    assert _cards(client, SELECT, body) == []
    body = _request("order-select", [MORPHINE], [f"MedicationRequest/{MORPHINE['id']}"])
    del body["prefetch"]
    assert client.post(SELECT, json=body).status_code == 412
