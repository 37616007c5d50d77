"""The store behind the HTTP API: audited calls, feedback that suppresses, metrics, readiness.

The app builds its own store from settings (SQLite file and PostgreSQL), as in production.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select, text

from cds.app import create_app
from cds.rules.schema import Suppression
from cds.settings import Settings
from cds.store import tables
from cds.store.interfaces import MemoryStore
from tests.api_support import OneCardPack, PackSource, patient_view_request

REASON = {"system": "http://example.org/override", "code": "declined", "display": "Declined"}


class SuppressingPack(OneCardPack):
    """The one-card double with the pack's suppression look-ups."""

    name = "test-pack"

    def suppression(self, rule_id: str) -> Suppression | None:
        return Suppression(default_days=7, by_reason={"declined": 60}) if rule_id == "T1" \
            else None

    def override_reason_id(self, system: str | None, code: str) -> str | None:
        return "declined" if (system, code) == (REASON["system"], REASON["code"]) else None


@pytest.fixture
async def app(database_url: str) -> AsyncIterator[Any]:
    settings = Settings(auth="off", database_url=database_url, pseudonym_key="api-test-key",
                        audit_flush_ms=20)
    application = create_app(settings, packs=PackSource(SuppressingPack()))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://cds.test") as c:
        yield c


async def call(client: httpx.AsyncClient, patient: str = "p1") -> list[dict[str, Any]]:
    body = patient_view_request(context={"userId": "Practitioner/1", "patientId": patient})
    body["prefetch"]["patient"]["id"] = patient
    response = await client.post("/cds-services/pv", content=json.dumps(body),
                                 headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    cards: list[dict[str, Any]] = response.json()["cards"]
    return cards


async def override(client: httpx.AsyncClient, card_uuid: str) -> httpx.Response:
    body = {"feedback": [{
        "card": card_uuid, "outcome": "overridden",
        "overrideReason": {"reason": REASON, "userComment": "not now"},
        "outcomeTimestamp": datetime.now(UTC).isoformat(),
    }]}
    return await client.post("/cds-services/pv/feedback", content=json.dumps(body),
                             headers={"Content-Type": "application/json"})


async def test_a_hook_call_leaves_an_audit_row_without_the_patient_id(app, client,
                                                                       database_url):
    [card] = await call(client, patient="p1")
    assert app.state.runtime.audit.flush()
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            [row] = conn.execute(select(tables.calls)).mappings().all()
            [issued] = conn.execute(select(tables.cards)).mappings().all()
    finally:
        engine.dispose()
    assert (row["service"], row["hook"], row["status"], row["pack_version"]) == (
        "pv", "patient-view", 200, "test-1")
    assert row["patient"] and row["patient"] != "p1"
    assert row["patient_id"] is None
    assert (issued["uuid"], issued["rule_id"]) == (card["uuid"], "T1")


async def test_an_overridden_card_is_not_shown_again_to_that_patient(client):
    [card] = await call(client, patient="p1")
    response = await override(client, card["uuid"])  # straight away: audit may be queued
    assert response.status_code == 200, response.text
    assert await call(client, patient="p1") == []
    assert len(await call(client, patient="p2")) == 1


async def test_feedback_for_an_unknown_card_is_404_naming_it(client):
    response = await override(client, "never-issued-card")
    assert response.status_code == 404
    body = response.json()
    assert body["error"] == "unknown-card"
    assert "never-issued-card" in body["message"]


async def test_metrics_and_readiness_show_the_store(client):
    [card] = await call(client)
    await override(client, card["uuid"])
    await override(client, "never-issued-card")

    text = (await client.get("/metrics")).text
    assert 'cds_hook_latency_seconds_count{service="pv"} 1.0' in text
    assert 'cds_cards_total{indicator="info",rule="T1"} 1.0' in text
    assert 'cds_feedback_total{outcome="overridden",rule="T1"} 1.0' in text
    assert 'cds_errors_total{kind="unknown-card"} 1.0' in text
    assert 'cds_rule_pack_info{name="test-pack",version="test-1"} 1.0' in text
    assert "cds_audit_queue_depth" in text

    ready = (await client.get("/readyz")).json()
    assert ready["checks"]["database"] is True


async def test_feedback_while_the_database_fails_is_503_with_retry_after(app, client,
                                                                        database_url):
    [card] = await call(client)
    assert app.state.runtime.audit.flush()
    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE cds_feedback"))
    finally:
        engine.dispose()
    response = await override(client, card["uuid"])
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert response.json()["error"] == "store-unavailable"
    assert len(await call(client)) == 1  # hook calls go on answering


class HangingStore(MemoryStore):
    """A store whose database never answers a ping."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def ping(self) -> bool:
        self.release.wait(30)
        return True


async def test_a_hanging_database_makes_readyz_not_ready_at_once_and_healthz_stays_up():
    store = HangingStore()
    application = create_app(Settings(auth="off"), packs=PackSource(SuppressingPack()),
                             store=store)
    transport = httpx.ASGITransport(app=application)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://cds.test") as c:
            for _ in range(3):  # the first probe times out, later ones do not queue behind it
                started = time.monotonic()
                ready = await c.get("/readyz")
                assert ready.status_code == 503
                assert ready.json()["checks"]["database"] is False
                assert time.monotonic() - started < 1.5
                assert (await c.get("/healthz")).status_code == 200
            assert len(await call(c)) == 1
    finally:
        store.release.set()
