"""The shipped rule pack behind the HTTP API with the real store (SQLite and PostgreSQL):
every concurrent call is audited, and an overridden card obeys its rule's window."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, func, select

from cds.app import create_app
from cds.authoring.synth import build_request
from cds.settings import Settings
from cds.store import tables

START = datetime(2026, 6, 1, 12, tzinfo=UTC)
SERVICE = "stress-pain-patient-view"
# PHQ-9 item 9 positive: R01, a critical card whose suppression is capped at one day.
ITEM9 = {"patient": {"age": 70, "sex": "male"},  # over 64: no anxiety screening card
         "observations": [{"code": "44260-8", "answer": "LA6569-3", "days_ago": 1}]}


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(auth="off", database_url=database_url, audit_flush_ms=20)


@pytest.fixture
async def client(settings: Settings, clock: Clock) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://cds.test") as c:
            yield c


def request_for(patient: str, now: datetime) -> dict[str, Any]:
    return build_request(ITEM9, now, service_id=SERVICE, patient_id=patient)


async def post(client: httpx.AsyncClient, body: dict[str, Any]) -> list[dict[str, Any]]:
    reply = await client.post(f"/cds-services/{SERVICE}", content=json.dumps(body),
                              headers={"Content-Type": "application/json"})
    assert reply.status_code == 200, reply.text
    cards: list[dict[str, Any]] = reply.json()["cards"]
    return cards


def rules(cards: list[dict[str, Any]]) -> list[str]:
    return [c["extension"]["org.stresspain.cds"]["rule"] for c in cards]


async def test_every_one_of_n_concurrent_calls_leaves_exactly_one_audit_row(
    settings: Settings, clock: Clock
) -> None:
    n = 24
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://cds.test") as c:
            replies = await asyncio.gather(
                *(post(c, request_for(f"p{i}", START)) for i in range(n)))
    assert all(rules(cards) == ["R01"] for cards in replies)
    # the lifespan has ended: the writer drained its queue on shutdown
    engine = create_engine(settings.database_url)
    with engine.connect() as conn:
        calls = conn.execute(select(func.count()).select_from(tables.calls)).scalar_one()
        issued = conn.execute(select(func.count()).select_from(tables.cards)).scalar_one()
    engine.dispose()
    assert (calls, issued) == (n, n)


async def test_an_overridden_safety_card_returns_after_its_one_day_cap(
    client: httpx.AsyncClient, clock: Clock
) -> None:
    cards = await post(client, request_for("p-safety", START))
    assert rules(cards) == ["R01"]
    feedback = {"feedback": [{
        "card": cards[0]["uuid"], "outcome": "overridden",
        # "patient declined" hides ordinary cards for months; R01 caps it at one day
        "overrideReason": {"reason": next(r for r in cards[0]["overrideReasons"])},
        "outcomeTimestamp": START.isoformat(),
    }]}
    reply = await client.post(f"/cds-services/{SERVICE}/feedback", content=json.dumps(feedback),
                              headers={"Content-Type": "application/json"})
    assert reply.status_code == 200, reply.text

    clock.now = START + timedelta(hours=6)
    assert rules(await post(client, request_for("p-safety", clock.now))) == []
    assert rules(await post(client, request_for("someone-else", clock.now))) == ["R01"]

    clock.now = START + timedelta(days=1, hours=1)
    assert rules(await post(client, request_for("p-safety", clock.now))) == ["R01"]


# Opioid + benzodiazepine + gabapentin: one opioid-safety card led by R11, with R10 merged.
STACK = {"patient": {"age": 50, "sex": "male"}, "medications": [
    {"rxnorm": "1049621", "display": "oxycodone hydrochloride 5 MG Oral Tablet", "dose_mg": 5,
     "times_per_day": 4, "days_ago": 60},
    {"rxnorm": "308048", "display": "alprazolam 0.5 MG Oral Tablet", "dose_mg": 0.5,
     "times_per_day": 2, "days_ago": 60},
    {"rxnorm": "310431", "display": "gabapentin 300 MG Oral Capsule", "dose_mg": 300,
     "times_per_day": 3, "days_ago": 60}]}


async def test_overriding_a_bundled_card_hides_only_its_lead_rules_finding(
    client: httpx.AsyncClient, clock: Clock
) -> None:
    body = build_request(STACK, START, service_id=SERVICE, patient_id="p-stack")
    (card,) = [c for c in await post(client, body)
               if c["extension"]["org.stresspain.cds"].get("bundle") == "opioid-safety"]
    meta = card["extension"]["org.stresspain.cds"]
    assert (meta["rule"], meta["alsoFrom"]) == ("R11", ["R10"])
    feedback = {"feedback": [{
        "card": card["uuid"], "outcome": "overridden",
        "overrideReason": {"reason": card["overrideReasons"][0]},
        "outcomeTimestamp": START.isoformat()}]}
    reply = await client.post(f"/cds-services/{SERVICE}/feedback", content=json.dumps(feedback),
                              headers={"Content-Type": "application/json"})
    assert reply.status_code == 200, reply.text

    clock.now = START + timedelta(hours=6)
    body = build_request(STACK, clock.now, service_id=SERVICE, patient_id="p-stack")
    after = await post(client, body)
    assert "R11" not in rules(after)  # the overridden finding stays away for its window
    (gabapentinoid,) = [c for c in after if c["extension"]["org.stresspain.cds"]["rule"] == "R10"]
    assert "gabapentin" in gabapentinoid["detail"]  # the merged finding was not hidden with it


async def test_while_overrides_cannot_be_read_the_cards_say_so(
    settings: Settings, clock: Clock
) -> None:
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        store = app.state.runtime.suppressor
        store.overrides.monotonic = lambda: 1e12  # long after the last good read
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://cds.test") as c:
            [card] = await post(c, request_for("p-note", START))
    assert card["extension"]["org.stresspain.cds"]["rule"] == "R01"
    assert "Dismissed cards could not be checked since" in card["detail"]
