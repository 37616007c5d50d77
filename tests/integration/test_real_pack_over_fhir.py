"""The shipped rule pack fed from a real FHIR server: an EHR that sends no prefetch still
gets the clinical cards, and a failing part of the server costs only the data it held."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from cds.app import create_app
from cds.authoring.synth import build_resources
from cds.settings import Settings
from cds.store.interfaces import MemoryStore
from tests.integration.fhir_server import LoopbackFhirServer

pytestmark = pytest.mark.fhirserver

PATIENT = "fhir-real-pack"
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
def client(fhir: LoopbackFhirServer, tmp_path) -> Iterator[TestClient]:
    fhir.load(build_resources(GIVEN, NOW, patient_id=PATIENT))
    settings = Settings(
        auth="off", fhir_server_allow=[fhir.fhir], fhir_allow_http=True,
        fhir_deadline_ms=1500, database_url=f"sqlite:///{tmp_path / 'cds.sqlite3'}",
    )
    with TestClient(create_app(settings, store=MemoryStore())) as test_client:
        yield test_client


def call_without_prefetch(client: TestClient, fhir: LoopbackFhirServer) -> dict:
    body = {
        "hook": "patient-view", "hookInstance": str(uuid.uuid4()), "fhirServer": fhir.fhir,
        "context": {"userId": "Practitioner/1", "patientId": PATIENT},
    }
    reply = client.post("/cds-services/stress-pain-patient-view", json=body)
    assert reply.status_code == 200, reply.text
    return reply.json()


def rules_of(body: dict) -> dict[str, str]:
    return {c["extension"]["org.stresspain.cds"]["rule"]: c["indicator"] for c in body["cards"]}


def test_cards_come_from_data_fetched_from_the_fhir_server(
    client: TestClient, fhir: LoopbackFhirServer
) -> None:
    cards = rules_of(call_without_prefetch(client, fhir))
    assert cards["R01"] == "critical"
    assert cards["R11"] == "warning"


def test_a_failing_medication_search_keeps_the_mood_card_and_names_what_was_lost(
    client: TestClient, fhir: LoopbackFhirServer
) -> None:
    fhir.faults({"match": "MedicationRequest", "fault": "status", "status": 500})
    body = call_without_prefetch(client, fhir)
    cards = rules_of(body)
    assert cards.get("R01") == "critical"
    assert "R11" not in cards  # the medicines could not be loaded
    item9 = next(c for c in body["cards"] if c["extension"]["org.stresspain.cds"]["rule"] == "R01")
    assert "medicationRequests" in item9["detail"]


def test_a_slow_fhir_server_is_cut_off_at_the_deadline(
    client: TestClient, fhir: LoopbackFhirServer
) -> None:
    fhir.faults({"match": "Observation", "fault": "delay", "ms": 8000})
    started = time.perf_counter()
    body = call_without_prefetch(client, fhir)
    elapsed = time.perf_counter() - started
    assert elapsed < 5.0  # 1.5 s deadline plus evaluation; never the server's 8 s
    cards = rules_of(body)
    assert "R01" not in cards  # the item-9 observation never arrived
    assert cards.get("R11") == "warning"
