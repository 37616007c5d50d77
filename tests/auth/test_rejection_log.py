"""Every rejection is logged with what an operator needs to decide what to allow — reason,
issuer, `kid`, `jku`, audience — and never with the token."""

from __future__ import annotations

import logging
import time

import pytest

from cds.auth import JWTVerifier, TokenRejected
from tests.auth.support import (
    AUDIENCE,
    ISSUER,
    RecordingServer,
    SigningKey,
    claims,
    mint,
    verifier_for,
)


def rejection_line(caplog: pytest.LogCaptureFixture) -> str:
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("JWT rejected")]
    assert len(lines) == 1
    return lines[0]


async def reject(verifier: JWTVerifier, token: str, caplog: pytest.LogCaptureFixture) -> str:
    caplog.clear()
    caplog.set_level(logging.INFO, logger="cds.auth")
    with pytest.raises(TokenRejected):
        await verifier.verify(f"Bearer {token}", AUDIENCE)
    line = rejection_line(caplog)
    logged = caplog.text + "".join(repr(r.__dict__) for r in caplog.records)
    for secret in (token, token.split(".")[1], token.split(".")[2]):
        assert secret not in logged
    return line


async def test_a_jku_off_the_list_is_logged_with_issuer_kid_and_jku(
    key_host: RecordingServer, ec_key: SigningKey, caplog: pytest.LogCaptureFixture
) -> None:
    verifier = verifier_for(key_host, ec_key)
    jku = "https://keys.ehr.example.org/jwks.json"
    line = await reject(verifier, mint(ec_key, jku=jku), caplog)
    assert "reason=jku-not-allowed" in line
    assert f"iss='{ISSUER}'" in line
    assert f"kid='{ec_key.kid}'" in line
    assert f"jku='{jku}'" in line
    assert "alg='ES384'" in line
    assert f"audience='{AUDIENCE}'" in line


async def test_an_unknown_kid_is_logged_with_the_kid(
    key_host: RecordingServer, ec_key: SigningKey, caplog: pytest.LogCaptureFixture
) -> None:
    verifier = verifier_for(key_host, ec_key)
    line = await reject(verifier, mint(SigningKey.es384("rotated-2031")), caplog)
    assert "reason=unknown-kid" in line
    assert f"iss='{ISSUER}'" in line and "kid='rotated-2031'" in line and "jku=None" in line


async def test_an_untrusted_issuer_is_logged_by_name(
    key_host: RecordingServer, ec_key: SigningKey, caplog: pytest.LogCaptureFixture
) -> None:
    verifier = verifier_for(key_host, ec_key)
    token = mint(ec_key, claims(iss="https://new-ehr.example.net"))
    line = await reject(verifier, token, caplog)
    assert "reason=unknown-issuer" in line and "iss='https://new-ehr.example.net'" in line


async def test_a_replayed_token_is_logged_with_its_jti(
    key_host: RecordingServer, ec_key: SigningKey, caplog: pytest.LogCaptureFixture
) -> None:
    verifier = verifier_for(key_host, ec_key)
    body = claims()
    token = mint(ec_key, body)
    await verifier.verify(f"Bearer {token}", AUDIENCE)
    line = await reject(verifier, token, caplog)
    assert "reason=replayed-jti" in line and f"jti='{body['jti']}'" in line


async def test_an_expired_token_is_logged_with_its_issuer(
    key_host: RecordingServer, ec_key: SigningKey, caplog: pytest.LogCaptureFixture
) -> None:
    now = int(time.time())
    verifier = verifier_for(key_host, ec_key)
    line = await reject(verifier, mint(ec_key, claims(iat=now - 900, exp=now - 600)), caplog)
    assert "reason=expired" in line and f"iss='{ISSUER}'" in line


async def test_a_malformed_header_is_logged_without_token_fields(
    key_host: RecordingServer, ec_key: SigningKey, caplog: pytest.LogCaptureFixture
) -> None:
    verifier = verifier_for(key_host, ec_key)
    caplog.set_level(logging.INFO, logger="cds.auth")
    with pytest.raises(TokenRejected):
        await verifier.verify("Basic dXNlcjpzZWNyZXQ=", AUDIENCE)
    line = rejection_line(caplog)
    assert "reason=malformed-header iss=None kid=None jku=None" in line
    assert "dXNlcjpzZWNyZXQ=" not in caplog.text


async def test_hostile_header_values_cannot_forge_log_lines(
    key_host: RecordingServer, ec_key: SigningKey, caplog: pytest.LogCaptureFixture
) -> None:
    verifier = verifier_for(key_host, ec_key)
    forged_kid = "x\nINFO JWT accepted: iss=" + "A" * 500
    line = await reject(verifier, mint(SigningKey(forged_kid, "ES384", ec_key.private)), caplog)
    assert "\n" not in line
    assert "x\\nINFO" in line
    assert len(line) < 1000
