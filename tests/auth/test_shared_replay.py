"""`jti` replay protection shared by replicas: Redis, the database, and what happens when the
shared store cannot answer (refuse by default, accept only when configured; logged)."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from cds.app import create_app
from cds.auth.replay import RedisReplay, ReplayGuard, replay_key
from cds.errors import ReplayCheckUnavailable
from cds.settings import Settings
from cds.store.database import Database
from cds.store.replay import DatabaseReplay
from tests.api_support import OneCardPack, PackSource, patient_view_request
from tests.auth.support import ISSUER, RecordingServer, SigningKey, claims, jwks, mint
from tests.services import redis_server_url
from tests.store.conftest import postgres_schema


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cds.sqlite3'}"
        return
    with postgres_schema() as url:
        yield url


def _jti() -> str:
    return f"jti-{uuid.uuid4()}"


@pytest.mark.redis
async def test_replicas_sharing_redis_accept_a_token_once() -> None:
    first, second = RedisReplay(redis_server_url(), 1.0), RedisReplay(redis_server_url(), 1.0)
    jti, expires = _jti(), time.time() + 300
    try:
        assert await first.first_use("https://ehr", jti, expires) is True
        assert await second.first_use("https://ehr", jti, expires) is False
        assert await second.first_use("https://other-ehr", jti, expires) is True
        ttl = await first.client.ttl(f"cds:jti:{replay_key('https://ehr', jti)}")
        assert 0 < ttl <= 302  # forgotten when the token expires
    finally:
        await first.aclose()
        await second.aclose()


async def test_replicas_sharing_a_database_accept_a_token_once(database_url: str) -> None:
    first = DatabaseReplay(Database.open(database_url, "k"))
    second = DatabaseReplay(Database.open(database_url, "k"))
    jti = _jti()
    try:
        assert await first.first_use("https://ehr", jti, time.time() + 300) is True
        assert await second.first_use("https://ehr", jti, time.time() + 300) is False
        expired = _jti()
        assert await first.first_use("https://ehr", expired, time.time() - 1) is True
        assert await second.first_use("https://ehr", expired, time.time() + 300) is True
    finally:
        first.database.dispose()
        second.database.dispose()


class Down:
    async def first_use(self, issuer: str, jti: str, expires_at: float) -> bool:
        raise ConnectionError("store down")


async def test_an_unreachable_store_refuses_calls_by_default_and_says_so(caplog) -> None:
    guard = ReplayGuard(Down(), "redis", 0.5)
    with caplog.at_level(logging.ERROR, logger="cds.auth"), \
            pytest.raises(ReplayCheckUnavailable) as raised:
        await guard.first_use("https://ehr", _jti(), time.time() + 60)
    assert raised.value.status == 503 and raised.value.headers["Retry-After"]
    assert "CDS_REPLAY_UNAVAILABLE=reject" in caplog.text


async def test_accepting_without_the_store_is_a_choice_and_logged(caplog) -> None:
    guard = ReplayGuard(Down(), "redis", 0.5, "accept")
    with caplog.at_level(logging.ERROR, logger="cds.auth"):
        assert await guard.first_use("https://ehr", _jti(), time.time() + 60) is True
    assert "CDS_REPLAY_UNAVAILABLE=accept" in caplog.text


async def test_a_redis_that_does_not_answer_is_given_up_within_the_timeout() -> None:
    guard = ReplayGuard(RedisReplay("redis://127.0.0.1:1/0", 0.3), "redis", 0.5)
    started = time.monotonic()
    with pytest.raises(ReplayCheckUnavailable):
        await guard.first_use("https://ehr", _jti(), time.time() + 60)
    assert time.monotonic() - started < 1.5
    await guard.aclose()


def test_a_token_replayed_to_another_replica_is_refused(database_url: str,
                                                        key_host: RecordingServer,
                                                        ec_key: SigningKey) -> None:
    key_host.serve_json("/jwks", jwks(ec_key))
    base = "https://cds.example.org"
    settings = Settings(auth="on", public_base_url=base, database_url=database_url,
                        pseudonym_key="k", workers=2,  # several processes: shared by default
                        trusted_issuers={ISSUER: {"jwks_url": key_host.url("/jwks")}})
    token = mint(ec_key, claims(aud=f"{base}/cds-services/pv"))
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    body = json.dumps(patient_view_request())
    with TestClient(create_app(settings, packs=PackSource(OneCardPack()))) as first, \
            TestClient(create_app(settings, packs=PackSource(OneCardPack()))) as second:
        assert first.post("/cds-services/pv", content=body, headers=headers).status_code == 200
        replayed = second.post("/cds-services/pv", content=body, headers=headers)
    assert replayed.status_code == 401
