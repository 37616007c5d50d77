"""`exp`, `iat` and `nbf` are JSON numbers, and a token lives at most
CDS_JWT_MAX_LIFETIME_SECONDS (plus the clock skew): all checked against one pinned clock."""

from __future__ import annotations

from typing import Any

import pytest

from cds.auth import JWTVerifier, TokenRejected
from cds.settings import Settings
from tests.auth.support import AUDIENCE, ISSUER, RecordingServer, SigningKey, claims, jwks, mint

NOW = 1_790_000_000


def verifier_for(key_host: RecordingServer, key: SigningKey, **settings: Any) -> JWTVerifier:
    url = key_host.serve_json("/jwks", jwks(key))
    return JWTVerifier(Settings(trusted_issuers={ISSUER: {"jwks_url": url}}, **settings),
                       clock=lambda: NOW)


async def why_rejected(verifier: JWTVerifier, token: str) -> str:
    with pytest.raises(TokenRejected) as caught:
        await verifier.verify(f"Bearer {token}", AUDIENCE)
    return caught.value.why


@pytest.mark.parametrize(
    ("overrides", "why"),
    [
        ({"exp": str(NOW + 300)}, "exp-not-a-number"),
        ({"exp": f"{NOW + 300}.0"}, "exp-not-a-number"),
        ({"exp": True}, "exp-not-a-number"),
        ({"iat": str(NOW)}, "iat-not-a-number"),
        ({"iat": False}, "iat-not-a-number"),
        ({"nbf": str(NOW)}, "nbf-not-a-number"),
        ({"nbf": [NOW]}, "nbf-not-a-number"),
    ],
)
async def test_a_time_claim_that_is_not_a_json_number_is_refused(
    key_host: RecordingServer, ec_key: SigningKey, overrides: dict[str, Any], why: str
) -> None:
    verifier = verifier_for(key_host, ec_key)
    token = mint(ec_key, claims(**{"iat": NOW, "exp": NOW + 300, **overrides}))
    assert await why_rejected(verifier, token) == why


async def test_fractional_seconds_are_numbers_too(
    key_host: RecordingServer, ec_key: SigningKey
) -> None:
    verifier = verifier_for(key_host, ec_key)
    token = mint(ec_key, claims(iat=NOW - 0.5, exp=NOW + 299.5, nbf=NOW - 0.5))
    assert (await verifier.verify(f"Bearer {token}", AUDIENCE))["exp"] == NOW + 299.5


async def test_a_token_living_longer_than_the_maximum_plus_skew_is_refused(
    key_host: RecordingServer, ec_key: SigningKey
) -> None:
    verifier = verifier_for(key_host, ec_key)  # 300 s maximum, 60 s skew
    token = mint(ec_key, claims(iat=NOW, exp=NOW + 361))
    assert await why_rejected(verifier, token) == "lifetime-too-long"


async def test_a_token_at_the_maximum_lifetime_plus_skew_is_accepted(
    key_host: RecordingServer, ec_key: SigningKey
) -> None:
    verifier = verifier_for(key_host, ec_key)
    assert await verifier.verify(f"Bearer {mint(ec_key, claims(iat=NOW, exp=NOW + 360))}",
                                 AUDIENCE)


async def test_a_year_long_token_is_refused_even_when_issued_long_ago(
    key_host: RecordingServer, ec_key: SigningKey
) -> None:
    verifier = verifier_for(key_host, ec_key)
    token = mint(ec_key, claims(iat=NOW - 3600, exp=NOW + 365 * 86400))
    assert await why_rejected(verifier, token) == "lifetime-too-long"


async def test_the_maximum_lifetime_is_configurable(
    key_host: RecordingServer, ec_key: SigningKey
) -> None:
    verifier = verifier_for(key_host, ec_key, jwt_max_lifetime_seconds=3600,
                            jwt_clock_skew_seconds=0)
    assert await verifier.verify(f"Bearer {mint(ec_key, claims(iat=NOW, exp=NOW + 3600))}",
                                 AUDIENCE)
    token = mint(ec_key, claims(iat=NOW, exp=NOW + 3601))
    assert await why_rejected(verifier, token) == "lifetime-too-long"


async def test_a_token_without_iat_is_refused_as_cds_hooks_requires_it(
    key_host: RecordingServer, ec_key: SigningKey
) -> None:
    verifier = verifier_for(key_host, ec_key)
    token = mint(ec_key, claims(iat=None, exp=NOW + 300))
    assert await why_rejected(verifier, token) == "missing-claim-iat"


@pytest.mark.parametrize(
    ("iat", "exp", "nbf", "why"),
    [
        (NOW - 400, NOW - 61, None, "expired"),
        (NOW - 400, NOW - 60, None, "expired"),
        (NOW + 61, NOW + 300, None, "not-yet-valid"),
        (NOW, NOW + 300, NOW + 61, "not-yet-valid"),
    ],
)
async def test_times_outside_the_clock_skew_are_refused(
    key_host: RecordingServer, ec_key: SigningKey, iat: int, exp: int, nbf: int | None,
    why: str,
) -> None:
    verifier = verifier_for(key_host, ec_key)
    assert await why_rejected(verifier, mint(ec_key, claims(iat=iat, exp=exp, nbf=nbf))) == why


async def test_times_within_the_clock_skew_are_accepted(
    key_host: RecordingServer, ec_key: SigningKey
) -> None:
    verifier = verifier_for(key_host, ec_key)
    token = mint(ec_key, claims(iat=NOW + 60, exp=NOW + 300, nbf=NOW + 60))
    assert await verifier.verify(f"Bearer {token}", AUDIENCE)
    assert await verifier.verify(f"Bearer {mint(ec_key, claims(iat=NOW - 300, exp=NOW - 59))}",
                                 AUDIENCE)
