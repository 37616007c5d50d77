"""Key-set fetches happen beside the calls, not in front of them: a cached `kid` never waits,
an unknown `kid` starts at most one refetch per window and waits for it only briefly, and an
expired key set keeps serving while its refresh is in flight."""

from __future__ import annotations

import asyncio
import time

from cds.auth import JWTVerifier, TokenRejected
from cds.auth.jwks import JWKSCache
from cds.settings import Settings
from tests.auth.support import (
    AUDIENCE,
    ISSUER,
    Hold,
    RecordingServer,
    SigningKey,
    jwks,
    mint,
)

# Verifying an ES384 token takes about a millisecond; a call that waited for a fetch of the
# slow key host below would take seconds.
FAST_CALL_SECONDS = 0.25


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def timed_rejection(verifier: JWTVerifier, token: str) -> tuple[str, float]:
    started = time.perf_counter()
    try:
        await verifier.verify(f"Bearer {token}", AUDIENCE)
    except TokenRejected as exc:
        return exc.why, time.perf_counter() - started
    raise AssertionError("accepted")


async def test_a_stream_of_made_up_kids_against_a_slow_key_host_never_delays_valid_tokens(
    key_host: RecordingServer, ec_key: SigningKey
) -> None:
    url = key_host.serve_json("/jwks", jwks(ec_key))
    verifier = JWTVerifier(Settings(trusted_issuers={ISSUER: {"jwks_url": url}},
                                    jwks_unknown_kid_wait_ms=300))
    slow = Hold(seconds=2.0)
    valid_seconds: list[float] = []
    try:
        await verifier.verify(f"Bearer {mint(ec_key)}", AUDIENCE)  # the key set is cached
        key_host.serve_json("/jwks", jwks(ec_key), hold=slow)
        made_up = [mint(SigningKey.es384(f"made-up-{i}")) for i in range(20)]
        flood = [asyncio.create_task(timed_rejection(verifier, made_up[0]))]
        assert await asyncio.to_thread(slow.arrived.wait, 5)  # the refetch is at the host
        for token in made_up[1:]:
            flood.append(asyncio.create_task(timed_rejection(verifier, token)))
            valid = f"Bearer {mint(ec_key)}"
            started = time.perf_counter()
            await verifier.verify(valid, AUDIENCE)
            valid_seconds.append(time.perf_counter() - started)
            await asyncio.sleep(0.03)  # a stream of calls over the slow fetch, not a burst
        rejected = await asyncio.gather(*flood)
    finally:
        await verifier.aclose()
    assert max(valid_seconds) < FAST_CALL_SECONDS
    assert {why for why, _ in rejected} == {"unknown-kid"}
    assert max(seconds for _, seconds in rejected) < 1.0  # 0.3 s bound, not the 2 s fetch
    assert key_host.hits("/jwks") == 2  # the first load and one refetch for 20 made-up kids


async def test_calls_before_the_first_key_set_share_one_fetch(
    key_host: RecordingServer, ec_key: SigningKey
) -> None:
    url = key_host.serve_json("/jwks", jwks(ec_key))
    verifier = JWTVerifier(Settings(trusted_issuers={ISSUER: {"jwks_url": url}}))
    calls = [verifier.verify(f"Bearer {mint(ec_key)}", AUDIENCE) for _ in range(10)]
    accepted = await asyncio.gather(*calls)
    assert len(accepted) == 10
    assert key_host.hits("/jwks") == 1


async def test_an_expired_key_set_keeps_serving_while_its_refresh_is_in_flight(
    key_host: RecordingServer, ec_key: SigningKey
) -> None:
    clock = Clock()
    url = key_host.serve_json("/jwks", jwks(ec_key))
    cache = JWKSCache(ttl_seconds=60, refetch_min_seconds=30, unknown_kid_wait_seconds=5,
                      clock=clock)
    assert await cache.key(url, ec_key.kid) is not None
    rotated = SigningKey.es384("ec-2")
    held = Hold()
    key_host.serve_json("/jwks", jwks(ec_key, rotated), hold=held)
    clock.now += 61  # past the TTL

    assert await cache.key(url, ec_key.kid) is not None  # served stale; refresh started
    assert await asyncio.to_thread(held.arrived.wait, 5)
    started = time.perf_counter()
    for _ in range(20):
        assert await cache.key(url, ec_key.kid) is not None
    assert time.perf_counter() - started < FAST_CALL_SECONDS

    held.release.set()
    assert await cache.key(url, rotated.kid) is not None  # found by the refresh in flight
    assert key_host.hits("/jwks") == 2


async def test_unknown_kids_refetch_once_per_window(
    key_host: RecordingServer, ec_key: SigningKey
) -> None:
    clock = Clock()
    url = key_host.serve_json("/jwks", jwks(ec_key))
    cache = JWKSCache(ttl_seconds=3600, refetch_min_seconds=30, unknown_kid_wait_seconds=3,
                      clock=clock)
    await cache.key(url, ec_key.kid)
    for i in range(50):
        assert await cache.key(url, f"made-up-{i}") is None
    assert key_host.hits("/jwks") == 2
    clock.now += 29
    assert await cache.key(url, "made-up-again") is None
    assert key_host.hits("/jwks") == 2
    clock.now += 1
    assert await cache.key(url, "made-up-again") is None
    assert key_host.hits("/jwks") == 3


async def test_a_failed_refresh_keeps_the_cached_keys(
    key_host: RecordingServer, ec_key: SigningKey
) -> None:
    clock = Clock()
    url = key_host.serve_json("/jwks", jwks(ec_key))
    cache = JWKSCache(ttl_seconds=60, refetch_min_seconds=30, unknown_kid_wait_seconds=3,
                      clock=clock)
    await cache.key(url, ec_key.kid)
    key_host.serve_json("/jwks", {"error": "down"}, status=503)
    clock.now += 61
    await cache.key(url, ec_key.kid)  # starts the refresh
    assert await cache.key(url, "made-up") is None  # waits for that refresh to fail
    assert key_host.hits("/jwks") == 2
    assert await cache.key(url, ec_key.kid) is not None
