"""The EHR's JWT: every check of CDS Hooks 2.0 and the best-practice list, with real ES384 and
RS384 keys and key sets served over loopback HTTP."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from cds.auth import JWTVerifier, TokenRejected
from cds.errors import AuthError
from cds.settings import Settings
from tests.auth.support import (
    AUDIENCE,
    ISSUER,
    RecordingServer,
    SigningKey,
    claims,
    jwks,
    mint,
    mint_raw,
    verifier_for,
)


async def rejected(verifier: JWTVerifier, header: str | None, audience: str = AUDIENCE) -> str:
    with pytest.raises(TokenRejected) as caught:
        await verifier.verify(header, audience)
    assert isinstance(caught.value, AuthError) and caught.value.status == 401
    return caught.value.why


# ----------------------------------------------------------------------------- accepted


async def test_an_es384_token_from_a_trusted_ehr_is_accepted_with_its_tenant(
    key_host: RecordingServer, ec_key: SigningKey
) -> None:
    verifier = verifier_for(key_host, ec_key)
    verified = await verifier.verify(f"Bearer {mint(ec_key)}", AUDIENCE)
    assert verified["iss"] == ISSUER
    assert verified["tenant"] == "tenant-a"


async def test_an_rs384_token_with_an_audience_array_is_accepted(
    key_host: RecordingServer, rsa_key: SigningKey, ec_key: SigningKey
) -> None:
    verifier = verifier_for(key_host, ec_key, rsa_key)
    token = mint(rsa_key, claims(aud=["https://other.example.org", AUDIENCE]))
    assert (await verifier.verify(f"bearer {token}", AUDIENCE))["aud"][1] == AUDIENCE


async def test_the_key_set_is_fetched_once_and_cached_across_calls(
    key_host: RecordingServer, ec_key: SigningKey
) -> None:
    verifier = verifier_for(key_host, ec_key)
    for _ in range(3):
        await verifier.verify(f"Bearer {mint(ec_key)}", AUDIENCE)
    assert key_host.hits("/jwks") == 1


async def test_a_token_that_expired_within_the_clock_skew_is_still_accepted(
    key_host: RecordingServer, ec_key: SigningKey
) -> None:
    now = int(time.time())
    verifier = verifier_for(key_host, ec_key)
    token = mint(ec_key, claims(iat=now - 120, exp=now - 20))
    assert await verifier.verify(f"Bearer {token}", AUDIENCE)


async def test_a_key_set_from_a_file_verifies_tokens(tmp_path: Path, ec_key: SigningKey) -> None:
    path = tmp_path / "ehr-jwks.json"
    path.write_text(json.dumps(jwks(ec_key)))
    verifier = JWTVerifier(Settings(trusted_issuers={ISSUER: {"jwks_file": str(path)}}))
    assert await verifier.verify(f"Bearer {mint(ec_key)}", AUDIENCE)


async def test_a_rotated_key_is_found_by_one_refetch_of_the_key_set(
    key_host: RecordingServer, ec_key: SigningKey
) -> None:
    verifier = verifier_for(key_host, ec_key)
    await verifier.verify(f"Bearer {mint(ec_key)}", AUDIENCE)
    rotated = SigningKey.es384("ec-2")
    key_host.serve_json("/jwks", jwks(rotated))
    assert await verifier.verify(f"Bearer {mint(rotated)}", AUDIENCE)
    assert key_host.hits("/jwks") == 2


async def test_a_jku_on_the_issuers_allow_list_supplies_the_key(
    key_host: RecordingServer, ec_key: SigningKey, rsa_key: SigningKey
) -> None:
    jku = key_host.serve_json("/ehr-keys", jwks(rsa_key))
    verifier = verifier_for(key_host, ec_key, jku_allow=[jku])
    assert await verifier.verify(f"Bearer {mint(rsa_key, jku=jku)}", AUDIENCE)
    assert key_host.hits("/ehr-keys") == 1


# ----------------------------------------------------------------------------- rejected


async def test_a_call_without_a_token_is_refused_with_a_bare_bearer_challenge(
    key_host: RecordingServer, ec_key: SigningKey
) -> None:
    verifier = verifier_for(key_host, ec_key)
    with pytest.raises(TokenRejected) as caught:
        await verifier.verify(None, AUDIENCE)
    assert caught.value.why == "missing"
    assert caught.value.headers == {"WWW-Authenticate": "Bearer"}
    assert await rejected(verifier, "") == "missing"


@pytest.mark.parametrize(
    "header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer a.b.c extra", "Bearer not-a-jwt",
               "Bearer a.b.c", "Token eyJ.eyJ.sig"]
)
async def test_a_malformed_authorization_header_is_refused(
    key_host: RecordingServer, ec_key: SigningKey, header: str
) -> None:
    verifier = verifier_for(key_host, ec_key)
    assert (await rejected(verifier, header)).startswith("malformed")
    assert key_host.hits("/jwks") == 0


async def test_an_invalid_token_gets_the_invalid_token_challenge(
    key_host: RecordingServer, ec_key: SigningKey
) -> None:
    verifier = verifier_for(key_host, ec_key)
    with pytest.raises(AuthError) as caught:
        await verifier.verify("Bearer a.b.c", AUDIENCE)
    assert caught.value.headers == {"WWW-Authenticate": 'Bearer error="invalid_token"'}
    assert "a.b.c" not in caught.value.message


async def test_an_unsigned_alg_none_token_is_refused(
    key_host: RecordingServer, ec_key: SigningKey
) -> None:
    verifier = verifier_for(key_host, ec_key)
    token = mint_raw({"alg": "none", "typ": "JWT", "kid": ec_key.kid}, claims(), None)
    assert await rejected(verifier, f"Bearer {token}") == "alg-not-allowed"


async def test_an_hs256_token_keyed_with_the_public_key_is_refused(
    key_host: RecordingServer, rsa_key: SigningKey
) -> None:
    verifier = verifier_for(key_host, rsa_key)
    token = mint_raw({"alg": "HS256", "typ": "JWT", "kid": rsa_key.kid}, claims(),
                     rsa_key.public_pem())
    assert await rejected(verifier, f"Bearer {token}") == "alg-not-allowed"


async def test_hmac_stays_forbidden_even_when_the_settings_list_it(
    key_host: RecordingServer, ec_key: SigningKey
) -> None:
    url = key_host.serve_json("/jwks", jwks(ec_key))
    settings = Settings(trusted_issuers={ISSUER: {"jwks_url": url}},
                        jwt_algorithms=["HS256", "ES384"])
    token = mint_raw({"alg": "HS256", "typ": "JWT", "kid": ec_key.kid}, claims(), b"secret")
    assert await rejected(JWTVerifier(settings), f"Bearer {token}") == "alg-not-allowed"


async def test_an_expired_token_is_refused(key_host: RecordingServer, ec_key: SigningKey) -> None:
    now = int(time.time())
    verifier = verifier_for(key_host, ec_key)
    token = mint(ec_key, claims(iat=now - 900, exp=now - 300))
    assert await rejected(verifier, f"Bearer {token}") == "expired"


async def test_a_token_not_yet_valid_by_nbf_is_refused(
    key_host: RecordingServer, ec_key: SigningKey
) -> None:
    now = int(time.time())
    verifier = verifier_for(key_host, ec_key)
    token = mint(ec_key, claims(nbf=now + 600, exp=now + 900))
    assert await rejected(verifier, f"Bearer {token}") == "not-yet-valid"


async def test_a_token_issued_in_the_future_beyond_the_skew_is_refused(
    key_host: RecordingServer, ec_key: SigningKey
) -> None:
    now = int(time.time())
    verifier = verifier_for(key_host, ec_key)
    token = mint(ec_key, claims(iat=now + 600, exp=now + 900))
    assert await rejected(verifier, f"Bearer {token}") == "not-yet-valid"


async def test_a_token_for_another_endpoint_is_refused(
    key_host: RecordingServer, ec_key: SigningKey
) -> None:
    verifier = verifier_for(key_host, ec_key)
    token = mint(ec_key, claims(aud="https://cds.example.org/cds-services/other"))
    assert await rejected(verifier, f"Bearer {token}") == "wrong-audience"


async def test_a_token_from_an_untrusted_issuer_is_refused_without_fetching_keys(
    key_host: RecordingServer, ec_key: SigningKey
) -> None:
    verifier = verifier_for(key_host, ec_key)
    token = mint(ec_key, claims(iss="https://evil.example.net"))
    assert await rejected(verifier, f"Bearer {token}") == "unknown-issuer"
    assert key_host.hits("/jwks") == 0


async def test_an_unknown_kid_refetches_once_then_is_refused_and_refetches_are_rate_limited(
    key_host: RecordingServer, ec_key: SigningKey
) -> None:
    verifier = verifier_for(key_host, ec_key)
    await verifier.verify(f"Bearer {mint(ec_key)}", AUDIENCE)
    stranger = SigningKey.es384("never-published")
    assert await rejected(verifier, f"Bearer {mint(stranger)}") == "unknown-kid"
    assert key_host.hits("/jwks") == 2  # first load, then one refetch for the unknown kid
    assert await rejected(verifier, f"Bearer {mint(stranger)}") == "unknown-kid"
    assert key_host.hits("/jwks") == 2


async def test_a_token_signed_by_another_key_under_a_known_kid_is_refused(
    key_host: RecordingServer, ec_key: SigningKey
) -> None:
    verifier = verifier_for(key_host, ec_key)
    impostor = SigningKey.es384(ec_key.kid)
    assert await rejected(verifier, f"Bearer {mint(impostor)}") == "bad-signature"


async def test_a_tampered_payload_is_refused(key_host: RecordingServer, ec_key: SigningKey) -> None:
    verifier = verifier_for(key_host, ec_key)
    head, _, sig = mint(ec_key).split(".")
    forged = mint_raw({"alg": "ES384"}, claims(tenant="tenant-b"), None).split(".")[1]
    assert await rejected(verifier, f"Bearer {head}.{forged}.{sig}") == "bad-signature"


async def test_a_replayed_jti_is_refused(key_host: RecordingServer, ec_key: SigningKey) -> None:
    verifier = verifier_for(key_host, ec_key)
    token = mint(ec_key)
    await verifier.verify(f"Bearer {token}", AUDIENCE)
    assert await rejected(verifier, f"Bearer {token}") == "replayed-jti"


async def test_a_jku_off_the_allow_list_is_refused_and_never_contacted(
    key_host: RecordingServer, ec_key: SigningKey
) -> None:
    attacker_keys = key_host.serve_json("/attacker-keys", jwks(ec_key))
    verifier = verifier_for(key_host, ec_key, jku_allow=[key_host.url("/ehr-keys")])
    token = mint(ec_key, jku=attacker_keys)
    assert await rejected(verifier, f"Bearer {token}") == "jku-not-allowed"
    assert key_host.hits("/attacker-keys") == 0


@pytest.mark.parametrize("claim", ["exp", "iat", "jti", "aud"])
async def test_a_token_missing_a_required_claim_is_refused(
    key_host: RecordingServer, ec_key: SigningKey, claim: str
) -> None:
    verifier = verifier_for(key_host, ec_key)
    token = mint(ec_key, claims(**{claim: None}))
    assert await rejected(verifier, f"Bearer {token}") == f"missing-claim-{claim}"


async def test_a_token_without_kid_is_refused(
    key_host: RecordingServer, ec_key: SigningKey
) -> None:
    verifier = verifier_for(key_host, ec_key)
    token = mint(ec_key, kid=None)
    assert await rejected(verifier, f"Bearer {token}") == "missing-kid"


async def test_a_token_typed_as_something_other_than_a_jwt_is_refused(
    key_host: RecordingServer, ec_key: SigningKey
) -> None:
    verifier = verifier_for(key_host, ec_key)
    assert await rejected(verifier, f"Bearer {mint(ec_key, typ='at+jwt')}") == "wrong-typ"


async def test_a_key_published_for_another_algorithm_is_not_used(
    key_host: RecordingServer, rsa_key: SigningKey
) -> None:
    verifier = verifier_for(key_host, rsa_key)
    token = mint(SigningKey(rsa_key.kid, "RS256", rsa_key.private))
    assert await rejected(verifier, f"Bearer {token}") == "alg-not-for-key"


async def test_a_tenant_off_the_issuers_tenant_list_is_refused(
    key_host: RecordingServer, ec_key: SigningKey
) -> None:
    verifier = verifier_for(key_host, ec_key, tenants=["tenant-b"])
    assert await rejected(verifier, f"Bearer {mint(ec_key)}") == "tenant-not-allowed"


async def test_an_unreachable_key_set_refuses_tokens_without_crashing(ec_key: SigningKey) -> None:
    server = RecordingServer()
    url = server.url("/jwks")
    server.close()
    verifier = JWTVerifier(Settings(trusted_issuers={ISSUER: {"jwks_url": url}}))
    assert await rejected(verifier, f"Bearer {mint(ec_key)}") == "unknown-kid"
