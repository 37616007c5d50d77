"""A FHIR answer over `fhir_max_response_bytes` is abandoned while it streams in, whether
its size is declared, chunked or gzip-compressed, and becomes a data note naming the query
type; the rest of the data is used and the cards it supports still come."""

from __future__ import annotations

import gzip
import json
import tracemalloc
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds.app import create_app
from cds.authoring.synth import build_resources
from cds.fhir.connections import FhirConnections
from cds.settings import Settings
from cds.store.interfaces import MemoryStore
from tests.integration.data import hook_request, resolve
from tests.integration.stub_fhir import Answer, StubFhirServer, fhir_json, searchset

LIMIT = 100 * 1024
TEMPLATES = {
    "patient": "Patient/{{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}&_count=500",
}
PATIENT = {"resourceType": "Patient", "id": "p1", "gender": "female"}


def observations(size: int, first: int = 0) -> list[dict[str, Any]]:
    """About `size` bytes of JSON of Observations."""
    return [{"resourceType": "Observation", "id": f"o{first + i}", "status": "final",
             "code": {"text": "x" * 1000}} for i in range(size // 1050)]


def settings_for(stub: StubFhirServer, limit: int = LIMIT) -> Settings:
    return Settings(auth="off", fhir_server_allow=[stub.fhir], fhir_allow_http=True,
                    fhir_deadline_ms=3000, fhir_max_response_bytes=limit)


def gzipped(resource: Any) -> Answer:
    return Answer(body=gzip.compress(json.dumps(resource).encode()),
                  headers={"Content-Type": "application/fhir+json", "Content-Encoding": "gzip"})


OVER = searchset(observations(3 * LIMIT))


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(fhir_json(OVER), id="size-declared"),
        pytest.param(Answer(body=fhir_json(OVER).body, chunked=True), id="chunked"),
        pytest.param(gzipped(OVER), id="gzip-small-on-the-wire"),
    ],
)
async def test_an_answer_over_the_limit_is_dropped_with_a_note_naming_its_query_type(
    stub: StubFhirServer, answer: Answer
) -> None:
    stub.serve([PATIENT])
    stub.answer("Observation", answer)
    resolved = await resolve(hook_request(stub.fhir), TEMPLATES, ["patient"], settings_for(stub))
    assert resolved.prefetch["patient"] == PATIENT  # the rest of the data is kept
    assert resolved.failed == ["observations"] and "observations" not in resolved.prefetch
    assert [n.message for n in resolved.notes] == [
        "prefetch 'observations' could not be loaded from the FHIR server "
        "(Observation answer over the 100 KiB limit)"
    ]


async def test_the_pages_of_a_search_share_the_limit_and_those_within_it_are_kept(
    stub: StubFhirServer,
) -> None:
    stub.serve([PATIENT])
    for page in (1, 2, 3):
        following = f"{stub.fhir}/Observation?page={page + 1}" if page < 3 else None
        bundle = searchset(observations(40 * 1024, first=100 * page), following)
        stub.answer("Observation?patient" if page == 1 else f"Observation?page={page}",
                    fhir_json(bundle))
    resolved = await resolve(hook_request(stub.fhir), TEMPLATES, ["patient"], settings_for(stub))
    kept = resolved.prefetch["observations"]["entry"]
    assert {e["resource"]["id"][:2] for e in kept} == {"o1", "o2"}  # pages 1 and 2, not 3
    assert [n.message for n in resolved.notes] == [
        "prefetch 'observations' is incomplete (Observation answer over the 100 KiB limit)"
    ]


async def test_a_gzip_bomb_is_abandoned_without_being_inflated(stub: StubFhirServer) -> None:
    inflated = 32 * 1024 * 1024
    stub.answer("Observation", Answer(body=gzip.compress(b"{" + b" " * inflated),
                                      headers={"Content-Encoding": "gzip"}))
    settings = settings_for(stub)
    connections = FhirConnections(settings)
    client = connections.client(stub.fhir, None, settings)
    tracemalloc.start()
    try:
        result = await client.fetch("observations", "Observation?patient=p1")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        await connections.aclose()
    assert (result.ok, result.reason) == (False, "too-large")
    assert peak < 4 * 1024 * 1024  # of the 32 MiB it would inflate to


async def test_a_gzip_compressed_answer_within_the_limit_is_read(stub: StubFhirServer) -> None:
    stub.answer("Patient/p1", gzipped(PATIENT))
    stub.answer("Observation", gzipped(searchset(observations(2 * 1024))))
    resolved = await resolve(hook_request(stub.fhir), TEMPLATES, ["patient"], settings_for(stub))
    assert resolved.notes == []
    assert resolved.prefetch["patient"] == PATIENT
    assert len(resolved.prefetch["observations"]["entry"]) == 1


async def test_an_encoding_that_was_not_asked_for_is_a_note(stub: StubFhirServer) -> None:
    stub.serve([PATIENT])
    stub.answer("Observation", Answer(body=b"\x1b\x00", headers={"Content-Encoding": "br"}))
    resolved = await resolve(hook_request(stub.fhir), TEMPLATES, ["patient"], settings_for(stub))
    assert [n.message for n in resolved.notes] == [
        "prefetch 'observations' could not be loaded from the FHIR server (bad-encoding)"
    ]
    assert all(r["headers"]["Accept-Encoding"] == "gzip" for r in stub.requests)


# ----------------------------------------------------------------------------- whole calls

NOW = datetime.now(UTC)
# Item 9 positive (R01, critical) and opioid + benzodiazepine (R11, warning on patient-view).
GIVEN = {
    "patient": {"age": 48, "sex": "female"},
    "observations": [{"code": "44260-8", "answer": "LA6570-1", "days_ago": 2}],
    "medications": [
        {"rxnorm": "7804", "dose_mg": 5, "times_per_day": 2, "days_ago": 60},
        {"rxnorm": "596", "dose_mg": 0.5, "times_per_day": 2, "days_ago": 30},
    ],
}


@pytest.fixture
def service(stub: StubFhirServer) -> Iterator[TestClient]:
    stub.serve(build_resources(GIVEN, NOW, patient_id="cap-1"))
    with TestClient(create_app(settings_for(stub, limit=256 * 1024),
                               store=MemoryStore())) as client:
        yield client


def call(client: TestClient, stub: StubFhirServer) -> dict[str, Any]:
    body = {"hook": "patient-view", "hookInstance": str(uuid.uuid4()), "fhirServer": stub.fhir,
            "context": {"userId": "Practitioner/1", "patientId": "cap-1"}}
    reply = client.post("/cds-services/stress-pain-patient-view", json=body)
    assert reply.status_code == 200, reply.text
    return reply.json()


def rules_of(body: dict[str, Any]) -> dict[str, str]:
    return {c["extension"]["org.stresspain.cds"]["rule"]: c["indicator"] for c in body["cards"]}


def test_the_cards_come_without_the_medicines_when_their_answer_is_over_the_limit(
    service: TestClient, stub: StubFhirServer
) -> None:
    fits = rules_of(call(service, stub))
    assert (fits.get("R01"), fits.get("R11")) == ("critical", "warning")  # every answer fits
    stub.answer("MedicationRequest?", fhir_json(searchset(observations(1024 * 1024))))
    body = call(service, stub)
    cards = rules_of(body)
    assert cards.get("R01") == "critical"
    assert "R11" not in cards  # the medicines were not used
    item9 = next(c for c in body["cards"] if c["extension"]["org.stresspain.cds"]["rule"] == "R01")
    assert "MedicationRequest answer over the 256 KiB limit" in item9["detail"]
