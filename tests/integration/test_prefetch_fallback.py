"""Prefetch fallback end to end: keys the EHR left out are fetched from a real FHIR server
(Medplum's in-memory router over loopback HTTP), within one deadline, and every failure
becomes a note instead of a crash."""

from __future__ import annotations

import time

import pytest

from cds.errors import PrefetchUnavailable
from cds.settings import Settings
from tests.integration.data import PATIENT, TEMPLATES, hook_request, resolve
from tests.integration.fhir_server import LoopbackFhirServer

pytestmark = pytest.mark.fhirserver

REQUIRED = ["patient"]


def entries(bundle: dict) -> list[dict]:
    return [e["resource"] for e in bundle.get("entry", [])]


async def test_every_missing_key_is_fetched_when_the_ehr_sent_no_prefetch(
    fhir: LoopbackFhirServer, settings: Settings
) -> None:
    resolved = await resolve(hook_request(fhir.fhir), TEMPLATES, REQUIRED, settings)
    assert sorted(resolved.fetched) == sorted(TEMPLATES)
    assert resolved.failed == [] and resolved.notes == []
    assert resolved.prefetch["patient"]["id"] == PATIENT
    assert resolved.prefetch["user"]["id"] == "dr-1"
    assert [r["id"] for r in entries(resolved.prefetch["conditions"])] == ["p1-cond-1"]
    assert [r["id"] for r in entries(resolved.prefetch["medications"])] == ["p1-med-1"]


async def test_only_the_keys_the_ehr_left_out_are_fetched(
    fhir: LoopbackFhirServer, settings: Settings
) -> None:
    sent_patient = {"resourceType": "Patient", "id": PATIENT, "gender": "female"}
    request = hook_request(fhir.fhir, prefetch={"patient": sent_patient, "conditions": None})
    resolved = await resolve(request, TEMPLATES, REQUIRED, settings)
    assert sorted(resolved.fetched) == ["medications", "pain", "user"]
    assert resolved.prefetch["patient"] == sent_patient
    assert resolved.prefetch["conditions"] is None  # null: the EHR has no data; not refetched
    requested = fhir.paths()
    assert not any(p.startswith(("Patient", "Condition")) for p in requested)
    assert any(p.startswith("MedicationRequest?") for p in requested)


async def test_an_operation_outcome_sent_by_the_ehr_is_kept_and_not_refetched(
    fhir: LoopbackFhirServer, settings: Settings
) -> None:
    outcome = {"resourceType": "OperationOutcome",
               "issue": [{"severity": "error", "code": "timeout"}]}
    request = hook_request(fhir.fhir, prefetch={"conditions": outcome})
    resolved = await resolve(request, TEMPLATES, REQUIRED, settings)
    assert resolved.prefetch["conditions"] == outcome
    assert "conditions" not in resolved.fetched
    assert not any(p.startswith("Condition") for p in fhir.paths())


async def test_nothing_is_fetched_when_the_ehr_sent_every_key(
    fhir: LoopbackFhirServer, settings: Settings
) -> None:
    request = hook_request(fhir.fhir, prefetch=dict.fromkeys(TEMPLATES))
    resolved = await resolve(request, TEMPLATES, REQUIRED, settings)
    assert resolved.fetched == [] and fhir.paths() == []


async def test_search_pages_are_followed_up_to_the_page_cap_with_a_note(
    fhir: LoopbackFhirServer, settings: Settings
) -> None:
    capped = settings.model_copy(update={"fhir_page_cap": 3})
    resolved = await resolve(
        hook_request(fhir.fhir), {"pain": TEMPLATES["pain"]}, [], capped
    )
    pain = entries(resolved.prefetch["pain"])
    # 7 scores, 2 per page, cap 3 pages: the 6 most recent, newest first
    assert [o["valueQuantity"]["value"] for o in pain] == [7.0, 6.0, 5.0, 4.0, 3.0, 2.0]
    assert len([p for p in fhir.paths() if p.startswith("Observation")]) == 3
    assert [n.kind for n in resolved.notes] == ["prefetch-error"]
    assert "page-cap-reached" in resolved.notes[0].message


async def test_all_pages_are_merged_when_they_fit_under_the_cap(
    fhir: LoopbackFhirServer, settings: Settings
) -> None:
    resolved = await resolve(
        hook_request(fhir.fhir), {"pain": TEMPLATES["pain"]}, [], settings
    )
    bundle = resolved.prefetch["pain"]
    assert len(entries(bundle)) == 7 and "link" not in bundle
    assert resolved.notes == []


async def test_a_server_slower_than_the_deadline_is_cut_off_and_the_rest_is_used(
    fhir: LoopbackFhirServer, settings: Settings
) -> None:
    fhir.faults({"match": "Condition", "fault": "delay", "ms": 8000})
    tight = settings.model_copy(update={"fhir_deadline_ms": 400})
    started = time.perf_counter()
    resolved = await resolve(hook_request(fhir.fhir), TEMPLATES, REQUIRED, tight)
    elapsed_ms = (time.perf_counter() - started) * 1000
    assert elapsed_ms < 400 + 1500  # the deadline plus a margin for a loaded machine; not 8 s
    assert resolved.failed == ["conditions"]
    assert "conditions" not in resolved.prefetch
    assert resolved.prefetch["patient"]["id"] == PATIENT
    assert any("did not arrive" in n.message and "'conditions'" in n.message
               for n in resolved.notes)


async def test_pages_that_arrived_before_the_deadline_are_kept_when_a_later_page_is_slow(
    fhir: LoopbackFhirServer, settings: Settings
) -> None:
    fhir.faults({"match": "_offset=4", "fault": "delay", "ms": 8000})
    tight = settings.model_copy(update={"fhir_deadline_ms": 600})
    resolved = await resolve(
        hook_request(fhir.fhir), {"pain": TEMPLATES["pain"]}, [], tight
    )
    assert resolved.fetched == ["pain"]
    assert len(entries(resolved.prefetch["pain"])) == 4  # pages 1 and 2 of 2 scores each
    assert [n.message for n in resolved.notes] == [
        "prefetch 'pain' is incomplete (next-page-timeout)"
    ]


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ({"fault": "status", "status": 500}, "http-500"),
        ({"fault": "status", "status": 401}, "http-401"),
        ({"fault": "status", "status": 403}, "http-403"),
        ({"fault": "malformed"}, "not-json"),
        ({"fault": "body", "body": "<html>busy</html>", "contentType": "text/html"}, "not-json"),
        ({"fault": "body", "body": "[1, 2]"}, "not-fhir"),
    ],
)
async def test_a_failing_fhir_server_becomes_a_note_not_a_crash(
    fhir: LoopbackFhirServer, settings: Settings, fault: dict, reason: str
) -> None:
    fhir.faults({"match": "MedicationRequest", **fault})
    resolved = await resolve(hook_request(fhir.fhir), TEMPLATES, REQUIRED, settings)
    assert resolved.failed == ["medications"]
    assert "medications" not in resolved.prefetch
    assert [n.message for n in resolved.notes] == [
        f"prefetch 'medications' could not be loaded from the FHIR server ({reason})"
    ]
    assert sorted(resolved.fetched) == ["conditions", "pain", "patient", "user"]


async def test_a_required_key_the_server_fails_to_deliver_gives_partial_data_not_412(
    fhir: LoopbackFhirServer, settings: Settings
) -> None:
    fhir.faults({"match": "Patient/", "fault": "status", "status": 500})
    resolved = await resolve(hook_request(fhir.fhir), TEMPLATES, REQUIRED, settings)
    assert resolved.failed == ["patient"]
    assert any("'patient'" in n.message for n in resolved.notes)
    assert "conditions" in resolved.prefetch


async def test_a_read_of_a_resource_that_does_not_exist_is_null(
    fhir: LoopbackFhirServer, settings: Settings
) -> None:
    resolved = await resolve(
        hook_request(fhir.fhir), {"enc": "Encounter/{{context.patientId}}"}, [], settings
    )
    assert resolved.prefetch == {"enc": None} and resolved.fetched == ["enc"]


async def test_a_template_the_context_cannot_fill_is_noted_and_not_fetched(
    fhir: LoopbackFhirServer, settings: Settings
) -> None:
    templates = {"role": "PractitionerRole?_id={{userPractitionerRoleId}}"}
    resolved = await resolve(hook_request(fhir.fhir), templates, [], settings)
    assert resolved.prefetch == {} and fhir.paths() == []
    assert [n.message for n in resolved.notes] == [
        "prefetch 'role' could not be built from the hook context"
    ]


async def test_a_required_template_the_context_cannot_fill_is_412(
    fhir: LoopbackFhirServer, settings: Settings
) -> None:
    templates = {"role": "PractitionerRole?_id={{userPractitionerRoleId}}"}
    with pytest.raises(PrefetchUnavailable):
        await resolve(hook_request(fhir.fhir), templates, ["role"], settings)


async def test_the_ehrs_access_token_is_sent_as_a_bearer_token(
    fhir: LoopbackFhirServer, settings: Settings
) -> None:
    fhir.require_token("fhir-token-123")
    request = hook_request(fhir.fhir, token="fhir-token-123")
    resolved = await resolve(request, TEMPLATES, REQUIRED, settings)
    assert resolved.failed == []
    assert {e["authorization"] for e in fhir.log()} == {"Bearer fhir-token-123"}


async def test_a_wrong_access_token_is_a_note_for_every_key(
    fhir: LoopbackFhirServer, settings: Settings
) -> None:
    fhir.require_token("the-right-one")
    request = hook_request(fhir.fhir, token="a-stale-one")
    resolved = await resolve(request, TEMPLATES, REQUIRED, settings)
    assert sorted(resolved.failed) == sorted(TEMPLATES)
    assert all("http-401" in n.message for n in resolved.notes)


# ----------------------------------------------------------------------------- 412


async def test_missing_required_data_without_a_fhir_server_is_412_naming_the_keys(
    fhir: LoopbackFhirServer, settings: Settings
) -> None:
    with pytest.raises(PrefetchUnavailable) as caught:
        await resolve(hook_request(None), TEMPLATES, ["patient", "pain"], settings)
    assert caught.value.status == 412
    assert "patient" in caught.value.message and "pain" in caught.value.message
    assert caught.value.details == [{"key": "patient"}, {"key": "pain"}]


async def test_missing_optional_data_without_a_fhir_server_is_only_noted(
    settings: Settings,
) -> None:
    request = hook_request(None, prefetch={"patient": {"resourceType": "Patient", "id": "p1"}})
    resolved = await resolve(request, TEMPLATES, ["patient"], settings)
    assert resolved.fetched == []
    assert len(resolved.notes) == len(TEMPLATES) - 1
    assert all("was not provided" in n.message for n in resolved.notes)


@pytest.mark.parametrize(
    "server",
    ["file:///etc/passwd", "gopher://127.0.0.1:70/_GET", "http://127.0.0.1:9/fhir",
     "ftp://ehr.example.org/fhir"],
)
async def test_a_fhir_server_off_the_allow_list_is_412_and_never_contacted(
    fhir: LoopbackFhirServer, settings: Settings, server: str
) -> None:
    with pytest.raises(PrefetchUnavailable) as caught:
        await resolve(hook_request(server), TEMPLATES, REQUIRED, settings)
    assert "allow-list" in caught.value.message
    assert fhir.paths() == []


async def test_a_context_value_cannot_smuggle_extra_query_parameters(
    fhir: LoopbackFhirServer, settings: Settings
) -> None:
    request = hook_request(fhir.fhir)
    request.context["encounterId"] = "e1&_include=*#frag"
    await resolve(
        request, {"enc": "Encounter?_id={{context.encounterId}}"}, [], settings
    )
    assert fhir.paths() == ["Encounter?_id=e1%26_include%3D%2A%23frag"]
