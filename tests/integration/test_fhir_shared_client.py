"""Hook calls whose prefetch the EHR left out share one HTTP client: the deadline holds
for each call however many run at once, and nothing of one call (token, cookie) reaches
another's requests."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from cds.app import create_app
from cds.hooks.services import ServiceCatalogue
from cds.settings import Settings
from cds.store.interfaces import MemoryStore
from tests.api_support import OneCardPack, PackSource
from tests.integration.stub_fhir import Answer, StubFhirServer, fhir_json

DEADLINE_MS = 300
MARGIN_MS = 250  # event-loop scheduling on a loaded 2-core machine; not a second deadline
CONCURRENT_CALLS = 8


class FallbackPack(OneCardPack):
    """The one-card double with a service that reads three prefetch keys."""

    services = ServiceCatalogue.model_validate({"services": [{
        "id": "pv", "hook": "patient-view", "title": "Patient view",
        "description": "Test service reading three keys",
        "prefetch": {
            "patient": "Patient/{{context.patientId}}",
            "conditions": "Condition?patient={{context.patientId}}",
            "medications": "MedicationRequest?patient={{context.patientId}}&status=active",
        },
        "required_prefetch": ["patient"],
    }]})


def call_body(server: str, patient: str, token: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hook": "patient-view", "hookInstance": str(uuid.uuid4()), "fhirServer": server,
        "context": {"userId": "Practitioner/dr-1", "patientId": patient},
    }
    if token is not None:
        body["fhirAuthorization"] = {"access_token": token, "token_type": "Bearer",
                                     "expires_in": 300, "scope": "user/*.read",
                                     "subject": "cds"}
    return body


def patient(pid: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "gender": "female"}


@dataclass
class Service:
    client: httpx.AsyncClient  # calls the app in-process over ASGI
    pack: FallbackPack
    http_clients: list[object]  # every httpx.AsyncClient the app built


def count_http_clients(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every httpx.AsyncClient built from now on."""
    built: list[object] = []
    original = httpx.AsyncClient.__init__

    def counting_init(self: httpx.AsyncClient, *args: Any, **kwargs: Any) -> None:
        built.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(httpx.AsyncClient, "__init__", counting_init)
    return built


@pytest.fixture
async def service(stub: StubFhirServer, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Service]:
    """The app with its startup and shutdown run, after one call that fetched its data from
    the FHIR server (the first call of a process builds the middleware stack and imports
    what the HTTP client first needs; the test's deadline is too short to include that)."""
    settings = Settings(auth="off", fhir_server_allow=[stub.fhir], fhir_allow_http=True,
                        fhir_deadline_ms=DEADLINE_MS)
    pack = FallbackPack()
    app = create_app(settings, packs=PackSource(pack), store=MemoryStore())
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://cds.test"
    ) as client:
        built = count_http_clients(monkeypatch)
        stub.serve([patient("p0")])
        warm_up = await client.post("/cds-services/pv", json=call_body(stub.fhir, "p0"))
        assert warm_up.json()["cards"][0]["summary"] == "patient-view: 1 resources"
        pack.calls.clear()
        stub.requests.clear()
        yield Service(client, pack, built)


async def timed_post(client: httpx.AsyncClient, body: dict[str, Any]) -> tuple[httpx.Response,
                                                                                 float]:
    started = time.perf_counter()
    response = await client.post("/cds-services/pv", json=body)
    return response, (time.perf_counter() - started) * 1000


async def test_eight_concurrent_fallbacks_each_answer_within_the_deadline_on_one_client(
    stub: StubFhirServer, service: Service
) -> None:
    stub.serve([patient("p1")])
    stub.answer("Condition", Answer(hold=True))  # far beyond the deadline
    stub.answer("MedicationRequest", Answer(hold=True))

    answers = await asyncio.gather(*(
        timed_post(service.client, call_body(stub.fhir, "p1")) for _ in range(CONCURRENT_CALLS)
    ))

    assert [r.status_code for r, _ in answers] == [200] * CONCURRENT_CALLS
    assert {r.json()["cards"][0]["summary"] for r, _ in answers} == {"patient-view: 1 resources"}
    slowest = max(ms for _, ms in answers)
    assert slowest < DEADLINE_MS + MARGIN_MS, f"slowest call took {slowest:.0f} ms"
    assert len(service.http_clients) == 1  # one shared HTTP client for all calls and keys
    for data in service.pack.calls:
        assert sorted(n.message for n in data.notes) == [
            f"prefetch 'conditions' did not arrive from the FHIR server within {DEADLINE_MS} ms",
            f"prefetch 'medications' did not arrive from the FHIR server within {DEADLINE_MS} ms",
        ]


async def test_later_calls_reuse_the_open_connections(
    stub: StubFhirServer, service: Service
) -> None:
    stub.serve([patient("p1"), {"resourceType": "Condition", "id": "c1"}])
    stub.answer("MedicationRequest", fhir_json({"resourceType": "Bundle", "type": "searchset"}))
    for _ in range(5):
        response = await service.client.post("/cds-services/pv",
                                             json=call_body(stub.fhir, "p1"))
        assert response.json()["cards"][0]["summary"] == "patient-view: 2 resources"
    assert len(stub.requests) == 15
    assert len(stub.connections()) <= 3  # the warm-up call's three connections, kept alive


async def test_no_token_or_cookie_of_one_call_reaches_the_requests_of_another(
    stub: StubFhirServer, service: Service
) -> None:
    client = service.client
    for pid in ("p1", "p2"):
        stub.answer(f"Patient/{pid}", fhir_json(
            patient(pid), **{"Set-Cookie": f"session={pid}-session; Path=/"}))
    stub.answer("Condition", fhir_json({"resourceType": "Bundle", "type": "searchset"},
                                       **{"Set-Cookie": "tracking=abc; Path=/"}))
    stub.answer("MedicationRequest", fhir_json({"resourceType": "Bundle", "type": "searchset"}))

    first = await client.post("/cds-services/pv", json=call_body(stub.fhir, "p1", "token-A"))
    second = await client.post("/cds-services/pv", json=call_body(stub.fhir, "p2"))
    third = await client.post("/cds-services/pv", json=call_body(stub.fhir, "p1", "token-B"))

    assert [r.status_code for r in (first, second, third)] == [200, 200, 200]
    auth = [entry["headers"].get("Authorization") for entry in stub.requests]
    assert auth == ["Bearer token-A"] * 3 + [None] * 3 + ["Bearer token-B"] * 3
    assert not any("Cookie" in entry["headers"] for entry in stub.requests)
