"""Through the HTTP API: the EHR's JWT guards invocation and feedback (discovery stays
public), missing required prefetch without a FHIR server is 412, and prefetch the EHR left
out is fetched from a real FHIR server before the rules run."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds.app import create_app
from cds.settings import Settings
from cds.store.interfaces import MemoryStore
from tests.api_support import OneCardPack, PackSource, patient_view_request
from tests.auth.support import ISSUER, RecordingServer, SigningKey, claims, jwks, mint
from tests.integration.fhir_server import LoopbackFhirServer

pytestmark = pytest.mark.fhirserver

BASE = "https://cds.example.org"
PV_AUDIENCE = f"{BASE}/cds-services/pv"
ACCESS_TOKEN = "fhir-access-SECRET-api-81c3"


@pytest.fixture
def key_host(ec_key: SigningKey) -> Iterator[RecordingServer]:
    server = RecordingServer()
    server.serve_json("/jwks", jwks(ec_key))
    yield server
    server.close()


@pytest.fixture
def pack() -> OneCardPack:
    return OneCardPack()


def client_for(settings: Settings, pack: OneCardPack) -> TestClient:
    return TestClient(create_app(settings, packs=PackSource(pack), store=MemoryStore()))


@pytest.fixture
def secured(
    key_host: RecordingServer, fhir: LoopbackFhirServer, pack: OneCardPack
) -> Iterator[TestClient]:
    settings = Settings(
        auth="on", public_base_url=BASE,
        trusted_issuers={ISSUER: {"jwks_url": key_host.url("/jwks")}},
        fhir_server_allow=[fhir.fhir], fhir_allow_http=True, fhir_deadline_ms=3000,
    )
    with client_for(settings, pack) as client:
        yield client


@pytest.fixture
def open_client(fhir: LoopbackFhirServer, pack: OneCardPack) -> Iterator[TestClient]:
    settings = Settings(auth="off", fhir_server_allow=[fhir.fhir], fhir_allow_http=True,
                        fhir_deadline_ms=3000)
    with client_for(settings, pack) as client:
        yield client


def post(client: TestClient, path: str, body: Any, token: str | None = None):
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return client.post(path, content=json.dumps(body), headers=headers)


def feedback_body() -> dict[str, Any]:
    return {"feedback": [{
        "card": str(uuid.uuid4()), "outcome": "overridden",
        "outcomeTimestamp": datetime.now(UTC).isoformat(),
    }]}


# ----------------------------------------------------------------------------- auth


def test_a_call_with_a_valid_ehr_jwt_gets_cards(secured: TestClient, ec_key: SigningKey) -> None:
    token = mint(ec_key, claims(aud=PV_AUDIENCE))
    response = post(secured, "/cds-services/pv", patient_view_request(), token)
    assert response.status_code == 200
    assert response.json()["cards"][0]["summary"] == "patient-view: 1 resources"


def test_a_token_signed_by_an_unknown_key_is_401_with_a_challenge_and_no_detail(
    secured: TestClient,
) -> None:
    stranger = SigningKey.es384("not-published")
    response = post(secured, "/cds-services/pv", patient_view_request(),
                    mint(stranger, claims(aud=PV_AUDIENCE)))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert response.json() == {"error": "unauthorized",
                               "message": "missing or invalid bearer token"}


def test_a_call_without_a_token_is_401_with_a_bare_challenge(secured: TestClient) -> None:
    response = post(secured, "/cds-services/pv", patient_view_request())
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_token_for_another_service_is_401(secured: TestClient, ec_key: SigningKey) -> None:
    token = mint(ec_key, claims(aud=f"{BASE}/cds-services/os"))
    response = post(secured, "/cds-services/pv", patient_view_request(), token)
    assert response.status_code == 401


def test_a_replayed_token_is_401(secured: TestClient, ec_key: SigningKey) -> None:
    token = mint(ec_key, claims(aud=PV_AUDIENCE))
    assert post(secured, "/cds-services/pv", patient_view_request(), token).status_code == 200
    assert post(secured, "/cds-services/pv", patient_view_request(), token).status_code == 401


def test_feedback_needs_a_valid_token(secured: TestClient, ec_key: SigningKey) -> None:
    response = post(secured, "/cds-services/pv/feedback", feedback_body())
    assert response.status_code == 401
    forged = mint(SigningKey.es384(ec_key.kid), claims(aud=f"{PV_AUDIENCE}/feedback"))
    response = post(secured, "/cds-services/pv/feedback", feedback_body(), forged)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def test_feedback_with_a_valid_token_is_accepted(secured: TestClient, ec_key: SigningKey) -> None:
    token = mint(ec_key, claims(aud=f"{PV_AUDIENCE}/feedback"))
    response = post(secured, "/cds-services/pv/feedback", feedback_body(), token)
    assert response.status_code != 401


def test_discovery_stays_public(secured: TestClient) -> None:
    assert secured.get("/cds-services").status_code == 200


# ----------------------------------------------------------------------------- prefetch


def test_missing_required_prefetch_without_a_fhir_server_is_412(open_client: TestClient) -> None:
    response = post(open_client, "/cds-services/pv", patient_view_request(prefetch={}))
    assert response.status_code == 412
    body = response.json()
    assert body["error"] == "prefetch-unavailable" and "patient" in body["message"]


def test_missing_required_prefetch_with_an_off_list_fhir_server_is_412(
    open_client: TestClient, off_list: RecordingServer
) -> None:
    body = patient_view_request(prefetch={}, fhirServer=off_list.url("/fhir"))
    assert post(open_client, "/cds-services/pv", body).status_code == 412
    assert off_list.requests == []


def test_prefetch_left_out_by_the_ehr_is_fetched_and_cards_come_back(
    secured: TestClient,
    fhir: LoopbackFhirServer,
    pack: OneCardPack,
    ec_key: SigningKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    fhir.require_token(ACCESS_TOKEN)
    body = patient_view_request(
        prefetch={}, fhirServer=fhir.fhir,
        fhirAuthorization={"access_token": ACCESS_TOKEN, "token_type": "Bearer",
                           "expires_in": 300, "scope": "user/Patient.read", "subject": "cds"},
    )
    token = mint(ec_key, claims(aud=PV_AUDIENCE))
    response = post(secured, "/cds-services/pv", body, token)
    assert response.status_code == 200
    assert response.json()["cards"][0]["summary"] == "patient-view: 1 resources"
    assert pack.calls[0].resources[0]["id"] == "p1"
    assert [(e["path"], e["authorization"]) for e in fhir.log()] == [
        ("Patient/p1", f"Bearer {ACCESS_TOKEN}")
    ]
    assert ACCESS_TOKEN not in caplog.text and token.split(".")[2] not in caplog.text


def test_a_fhir_server_failure_still_answers_with_cards(
    open_client: TestClient, fhir: LoopbackFhirServer, pack: OneCardPack
) -> None:
    fhir.faults({"match": "Patient/", "fault": "status", "status": 500})
    body = patient_view_request(prefetch={}, fhirServer=fhir.fhir)
    response = post(open_client, "/cds-services/pv", body)
    assert response.status_code == 200
    assert response.json()["cards"][0]["summary"] == "patient-view: 0 resources"
    notes = [n.message for n in pack.calls[0].notes]
    assert any("'patient' could not be loaded" in note for note in notes)
