"""CDS Hooks 2.0 protocol: discovery, invocation, feedback, health, CORS and every bad-input
status, tested through HTTP with the rule pack replaced by a one-card double."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from cds.app import create_app
from cds.errors import AuthError
from cds.settings import Settings
from cds.store.interfaces import MemoryStore
from tests.api_support import OneCardPack, PackSource, patient_view_request, spec_validator


class RejectAll:
    async def verify(self, authorization: str | None, audience: str) -> dict:
        raise AuthError("invalid token")


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def pack() -> OneCardPack:
    return OneCardPack()


@pytest.fixture
def client(store: MemoryStore, pack: OneCardPack) -> Iterator[TestClient]:
    settings = Settings(auth="off", max_body_bytes=4096)
    app = create_app(settings, packs=PackSource(pack), store=store)
    with TestClient(app) as test_client:
        yield test_client


def post(client: TestClient, path: str, body: object, **kw: object):
    return client.post(path, content=json.dumps(body),
                       headers={"Content-Type": "application/json"}, **kw)


# ----------------------------------------------------------------------------- discovery


def test_discovery_lists_every_service_in_the_spec_shape(client: TestClient) -> None:
    response = client.get("/cds-services")
    assert response.status_code == 200
    body = response.json()
    spec_validator("CdsServiceInformation").validate(body)
    assert {s["id"]: s["hook"] for s in body["services"]} == {"pv": "patient-view",
                                                            "os": "order-sign"}
    pv = body["services"][0]
    assert pv["prefetch"] == {"patient": "Patient/{{context.patientId}}"}
    assert "required_prefetch" not in pv  # internal detail, not part of the wire format


def test_discovery_stays_public_when_auth_is_on(pack: OneCardPack) -> None:
    app = create_app(Settings(), packs=PackSource(pack), store=MemoryStore(),
                     authenticator=RejectAll())
    with TestClient(app) as client:
        assert client.get("/cds-services").status_code == 200
        denied = post(client, "/cds-services/pv", patient_view_request())
        assert denied.status_code == 401
        assert denied.json()["error"] == "unauthorized"


# ----------------------------------------------------------------------------- invocation


def test_valid_patient_view_call_returns_cards_in_the_spec_shape(
    client: TestClient, pack: OneCardPack, store: MemoryStore
) -> None:
    response = post(client, "/cds-services/pv", patient_view_request())
    assert response.status_code == 200, response.text
    body = response.json()
    spec_validator("CdsResponse").validate(body)
    assert body["cards"][0]["summary"] == "patient-view: 1 resources"
    assert body["systemActions"] == []
    assert pack.calls[0].patient_id == "p1"
    assert store.audits[-1].status == 200
    assert store.audits[-1].cards[0].rule_id == "T1"


def test_order_sign_call_hands_draft_orders_to_the_pipeline(
    client: TestClient, pack: OneCardPack
) -> None:
    draft = {"resourceType": "MedicationRequest", "id": "d1", "status": "draft",
             "intent": "order", "subject": {"reference": "Patient/p1"},
             "medicationCodeableConcept": {"coding": [
                 {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "10689"}]}}
    body = patient_view_request(hook="order-sign")
    body["context"]["draftOrders"] = {"resourceType": "Bundle", "entry": [{"resource": draft}]}
    response = post(client, "/cds-services/os", body)
    assert response.status_code == 200, response.text
    assert [r["id"] for r in pack.calls[0].draft_orders] == ["d1"]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "malformed-json"),
        (b"", "malformed-json"),
        (b"[1, 2]", "invalid-request"),
        (b'"just a string"', "invalid-request"),
    ],
)
def test_unparseable_or_non_object_bodies_get_400(client: TestClient, raw: bytes,
                                                  reason: str) -> None:
    response = client.post("/cds-services/pv", content=raw,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"] == reason
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda b: b.pop("hookInstance"), "hookInstance"),
        (lambda b: b.update(hookInstance="not-a-uuid"), "hookInstance"),
        (lambda b: b.pop("context"), "context"),
        (lambda b: b["context"].pop("patientId"), "context.patientId"),
        (lambda b: b["context"].update(patientId="a/b"), "context.patientId"),
        (lambda b: b.update(fhirAuthorization={"access_token": "x", "token_type": "Bearer",
                                               "expires_in": 30, "scope": "s",
                                               "subject": "c"}), "(body)"),
    ],
)
def test_invalid_requests_get_400_naming_the_field(client: TestClient, mutate, path) -> None:
    body = patient_view_request()
    mutate(body)
    response = post(client, "/cds-services/pv", body)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["error"] == "invalid-request"
    assert path in [d["path"] for d in error["details"]]


def test_order_sign_without_draft_orders_names_the_missing_context_field(
    client: TestClient,
) -> None:
    response = post(client, "/cds-services/os", patient_view_request(hook="order-sign"))
    assert response.status_code == 400
    assert "context.draftOrders" in [d["path"] for d in response.json()["details"]]


def test_unknown_service_gets_404(client: TestClient) -> None:
    response = post(client, "/cds-services/nope", patient_view_request())
    assert response.status_code == 404
    assert response.json()["error"] == "unknown-service"


def test_hook_that_does_not_match_the_service_gets_400(client: TestClient) -> None:
    response = post(client, "/cds-services/pv", patient_view_request(hook="order-select"))
    assert response.status_code == 400
    assert response.json()["error"] == "hook-mismatch"


def test_wrong_content_type_gets_415(client: TestClient) -> None:
    response = client.post("/cds-services/pv", content=json.dumps(patient_view_request()),
                           headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported-media-type"


def test_body_over_the_limit_gets_413(client: TestClient) -> None:
    body = patient_view_request(extension={"padding": "x" * 5000})
    response = post(client, "/cds-services/pv", body)
    assert response.status_code == 413
    assert response.json()["error"] == "payload-too-large"


def test_streamed_body_over_the_limit_is_cut_off_with_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"hook": "patient-view", "padding": "'
        for _ in range(100):
            yield b"x" * 1000
        yield b'"}'

    response = client.post("/cds-services/pv", content=chunks(),
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 413


def test_service_keeps_serving_after_bad_requests(client: TestClient) -> None:
    for raw in (b"{", b"[]", b"null"):
        client.post("/cds-services/pv", content=raw, headers={"Content-Type": "application/json"})
    assert post(client, "/cds-services/pv", patient_view_request()).status_code == 200


def test_failed_calls_are_audited_with_their_status(client: TestClient,
                                                     store: MemoryStore) -> None:
    body = patient_view_request()
    body["prefetch"] = {}
    response = post(client, "/cds-services/pv", body)
    assert response.status_code == 412
    assert store.audits[-1].status == 412
    assert store.audits[-1].error == "prefetch-unavailable"


def test_unknown_route_and_wrong_method_answer_json(client: TestClient) -> None:
    missing = client.get("/nowhere")
    assert missing.status_code == 404 and missing.json()["error"] == "not-found"
    wrong = client.get("/cds-services/pv")
    assert wrong.status_code == 405 and wrong.json()["error"] == "method-not-allowed"


# ----------------------------------------------------------------------------- feedback


def feedback_item(**overrides: object) -> dict:
    item: dict = {
        "card": str(uuid.uuid4()),
        "outcome": "overridden",
        "overrideReason": {
            "reason": {"code": "patient-declined", "system": "http://example.org/reasons",
                       "display": "Patient declined"},
            "userComment": "Discussed today",
        },
        "outcomeTimestamp": datetime.now(UTC).isoformat(),
    }
    item.update(overrides)
    return item


def test_valid_feedback_is_accepted_and_handed_to_the_sink(client: TestClient,
                                                           store: MemoryStore) -> None:
    accepted = feedback_item(outcome="accepted", acceptedSuggestions=[{"id": "s-1"}])
    accepted.pop("overrideReason")
    response = post(client, "/cds-services/pv/feedback",
                    {"feedback": [feedback_item(), accepted]})
    assert response.status_code == 200
    assert [f.outcome for _, f in store.feedback] == ["overridden", "accepted"]
    assert store.feedback[0][1].overrideReason.reason.code == "patient-declined"


@pytest.mark.parametrize(
    "item",
    [
        feedback_item(outcome="ignored"),
        feedback_item(outcome="accepted"),  # accepted needs acceptedSuggestions
        feedback_item(outcomeTimestamp="2026-01-01T10:00:00"),  # no time zone
        feedback_item(outcomeTimestamp="yesterday"),
        {"outcome": "overridden", "outcomeTimestamp": "2026-01-01T10:00:00Z"},  # no card
    ],
)
def test_invalid_feedback_gets_400(client: TestClient, item: dict) -> None:
    response = post(client, "/cds-services/pv/feedback", {"feedback": [item]})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid-request"


def test_feedback_without_items_or_for_unknown_service_is_rejected(client: TestClient) -> None:
    assert post(client, "/cds-services/pv/feedback", {"feedback": []}).status_code == 400
    assert post(client, "/cds-services/nope/feedback",
                {"feedback": [feedback_item()]}).status_code == 404


# ----------------------------------------------------------------------------- health, CORS


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["rules"] is True


def test_not_ready_without_a_rule_pack() -> None:
    app = create_app(Settings(auth="off"), packs=PackSource(None), store=MemoryStore())
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 503
        assert post(client, "/cds-services/pv", patient_view_request()).status_code == 404


def test_cors_preflight_allows_the_sandbox_to_call_with_a_jwt(client: TestClient) -> None:
    response = client.options(
        "/cds-services/pv",
        headers={
            "Origin": "https://sandbox.cds-hooks.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed
    assert "access-control-allow-credentials" not in response.headers


def test_cors_origins_are_configurable(pack: OneCardPack) -> None:
    settings = Settings(auth="off", cors_origins="https://ehr.example.org")
    app = create_app(settings, packs=PackSource(pack), store=MemoryStore())
    with TestClient(app) as client:
        other = client.get("/cds-services", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
        ok = client.get("/cds-services", headers={"Origin": "https://ehr.example.org"})
        assert ok.headers["access-control-allow-origin"] == "https://ehr.example.org"
