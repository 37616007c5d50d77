"""Every resource the example cards suggest is valid FHIR R4 (fhir.resources R4B models) and
uses the terminologies the pathway promises: SNOMED CT (or LOINC / the pack's local codes)
for referrals, RxNorm with a structured dose for medication drafts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from tests.pack.examples import Example, readme_examples, service

CASES = readme_examples()
LOCAL = "https://fhir.stresspain.org/CodeSystem/local"
REFERRAL_SYSTEMS = {"http://snomed.info/sct", "http://loinc.org", LOCAL}
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


@pytest.fixture(scope="module")
def responses(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    from fhir_examples.generate import NOW

    with service(tmp_path_factory.mktemp("suggestions"), NOW) as client:
        return {e.file: client.post(f"/cds-services/{e.service}", json=e.request()).json()
                for e in CASES}


def _actions(response: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for card in response.get("cards", []):
        rule = card["extension"]["org.stresspain.cds"]["rule"]
        for suggestion in card.get("suggestions", []):
            for action in suggestion["actions"]:
                yield rule, action


def _resources(response: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for rule, action in _actions(response):
        if action.get("resource") is not None:
            yield rule, action["resource"]


def test_the_examples_suggest_resources_at_all(responses):
    kinds = {res["resourceType"] for r in responses.values() for _, res in _resources(r)}
    assert {"ServiceRequest", "MedicationRequest", "Task", "Goal"} <= kinds


@pytest.mark.parametrize("example", CASES, ids=[e.file for e in CASES])
def test_every_suggested_resource_validates_as_fhir_r4(example: Example, responses):
    for rule, action in _actions(responses[example.file]):
        resource = action.get("resource")
        if resource is None:
            continue
        model = get_fhir_model_class(resource["resourceType"])
        model.model_validate(resource)  # raises with the path of the first invalid element
        if action["type"] == "create":  # cards propose: new resources are drafts/proposals
            assert resource.get("status") in ("draft", "requested", None), rule
            if resource["resourceType"] != "Goal":
                assert resource["intent"] == "proposal", rule


@pytest.mark.parametrize("example", CASES, ids=[e.file for e in CASES])
def test_suggestions_are_for_the_patient_of_the_request(example: Example, responses):
    patient = f"Patient/{example.request()['context']['patientId']}"
    for rule, resource in _resources(responses[example.file]):
        subject = resource.get("subject") or resource.get("for")
        assert subject == {"reference": patient}, f"{rule}: {subject}"


@pytest.mark.parametrize("example", CASES, ids=[e.file for e in CASES])
def test_referrals_are_coded_and_medication_drafts_are_rxnorm_with_a_dose(example, responses):
    for rule, resource in _resources(responses[example.file]):
        if resource["resourceType"] == "ServiceRequest":
            coding = resource["code"]["coding"][0]
            assert coding["system"] in REFERRAL_SYSTEMS, rule
            assert coding["code"] and coding["display"], rule
        if resource["resourceType"] == "MedicationRequest":
            coding = resource["medicationCodeableConcept"]["coding"][0]
            assert coding["system"] == RXNORM, rule
            dose = resource["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]
            assert dose["value"] > 0 and dose["system"] == "http://unitsofmeasure.org", rule


@pytest.mark.parametrize("example", CASES, ids=[e.file for e in CASES])
def test_delete_actions_point_at_a_draft_order_of_the_request(example, responses):
    request = example.request()
    drafts = {f"{e['resource']['resourceType']}/{e['resource']['id']}"
              for e in (request["context"].get("draftOrders") or {}).get("entry", [])}
    for rule, action in _actions(responses[example.file]):
        if action["type"] == "delete":
            assert action["resourceId"] in drafts, f"{rule}: {action['resourceId']}"
        if action["type"] == "update":  # a draft being signed, or stopping the order replaced
            resource = action["resource"]
            ref = f"{resource['resourceType']}/{resource['id']}"
            assert ref in drafts or (ref in _prefetched(request)
                                     and resource["status"] in ("stopped", "on-hold")), rule


def _prefetched(request: dict[str, Any]) -> set[str]:
    return {f"{res['resourceType']}/{res['id']}"
            for value in request["prefetch"].values() if isinstance(value, dict)
            for res in ([value] if "entry" not in value else
                        [e["resource"] for e in value["entry"]])}


def test_reason_references_name_resources_of_the_request(responses):
    for example in CASES:
        request = example.request()
        known = {f"{res['resourceType']}/{res['id']}"
                 for value in request["prefetch"].values() if isinstance(value, dict)
                 for res in ([value] if "entry" not in value else
                             [e["resource"] for e in value["entry"]])}
        for rule, resource in _resources(responses[example.file]):
            for ref in resource.get("reasonReference", []):
                assert ref["reference"] in known, f"{example.file} {rule}: {ref}"
