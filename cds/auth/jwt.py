"""Verifying the JWT an EHR sends with every CDS Hooks call (CDS Hooks 2.0, "Trusting CDS
Clients", and the best-practice checklist).

Order of checks: bearer header shape -> JOSE header (alg on the asymmetric allow-list, typ,
kid) -> `iss` on the allow-list -> key source (`jku` only when the issuer allows or maps it,
see cds/auth/issuers.py) -> key by `kid` -> signature -> claims (`aud`; `exp`, `iat`, `nbf`
as numbers, with clock skew and a maximum lifetime; `jti`) -> optional tenant allow-list ->
`jti` replay. Claims are read before the signature is checked only to pick the issuer's key
set; nothing from them is trusted until the signature holds.

Every failure raises `TokenRejected` (an `AuthError`, 401). Its message is generic; the
specific reason is in `why` and in an INFO log line with the reason, the unverified `iss`,
`kid`, `jku`, `alg` and `jti` and the audience expected, never the token itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import jwt
from jwt.exceptions import PyJWTError

from cds.auth.claims import check_times
from cds.auth.errors import TokenRejected
from cds.auth.issuers import PUBLIC_TEST_ISSUERS, Issuer, load_trusted_issuers
from cds.auth.jwks import JWKSCache
from cds.auth.replay import MemoryReplay, ReplayStore
from cds.settings import Settings

log = logging.getLogger("cds.auth")

# Symmetric (HS*) and `none` are forbidden by CDS Hooks; whatever the settings list,
# only these can ever be accepted.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "jti")
LOGGED_HEADER = ("kid", "jku", "alg")
LOGGED_CLAIMS = ("iss", "jti")
MAX_LOGGED_CHARS = 200


def _bearer_token(authorization: str | None) -> str:
    if authorization is None or not authorization.strip():
        raise TokenRejected("missing", missing=True)
    parts = authorization.split()
    if len(parts) != 2 or parts[0].lower() != "bearer":
        raise TokenRejected("malformed-header")
    if parts[1].count(".") != 2:
        raise TokenRejected("malformed-token")
    return parts[1]


def _audience_matches(claim: Any, audience: str) -> bool:
    expected = audience.rstrip("/")
    values = [claim] if isinstance(claim, str) else claim
    if not isinstance(values, list):
        return False
    return any(isinstance(v, str) and v.rstrip("/") == expected for v in values)


def _loggable(value: Any) -> str:
    """A header or claim value for a log line: quoted, escaped, cut short (it is untrusted)."""
    text = repr(value)
    return text if len(text) <= MAX_LOGGED_CHARS else text[:MAX_LOGGED_CHARS] + "..."


def _unverified_fields(token: str | None) -> dict[str, str]:
    """What an operator needs to tell which issuer and key a rejected token named."""
    header: dict[str, Any] = {}
    payload: dict[str, Any] = {}
    if token is not None:
        try:
            header = jwt.get_unverified_header(token)
        except PyJWTError:
            pass
        try:
            payload = jwt.decode(token, options={"verify_signature": False})
        except PyJWTError:
            pass
    fields = {name: header.get(name) for name in LOGGED_HEADER}
    fields.update({name: payload.get(name) for name in LOGGED_CLAIMS})
    return {name: _loggable(value) for name, value in fields.items()}


class JWTVerifier:
    """`await verify(authorization_header, audience)` -> the verified claims, or AuthError."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        jwks: JWKSCache | None = None,
        replay: ReplayStore | None = None,
    ) -> None:
        """`replay`: where `jti`s are remembered (default: this process only)."""
        self._issuers = load_trusted_issuers(settings.trusted_issuers)
        for iss in sorted(set(self._issuers) & set(PUBLIC_TEST_ISSUERS)):
            log.warning(
                "trusted issuer %s is %s, whose private signing key is published: anyone can "
                "mint tokens it accepts. TESTING ONLY, never with real patient data.",
                iss, PUBLIC_TEST_ISSUERS[iss],
            )
        self._algorithms = [a for a in settings.jwt_algorithms if a in ASYMMETRIC_ALGORITHMS]
        ignored = sorted(set(settings.jwt_algorithms) - ASYMMETRIC_ALGORITHMS)
        if ignored:
            log.warning("JWT algorithms ignored (not asymmetric): %s", ", ".join(ignored))
        self._skew = settings.jwt_clock_skew_seconds
        self._max_lifetime = settings.jwt_max_lifetime_seconds
        self._clock = clock
        self._jwks = jwks or JWKSCache(
            settings.jwks_cache_seconds,
            settings.jwks_refetch_min_seconds,
            settings.jwks_unknown_kid_wait_ms / 1000,
        )
        self._replay: ReplayStore = replay or MemoryReplay(settings.jti_cache_size, clock)

    async def verify(self, authorization_header: str | None, audience: str) -> dict[str, Any]:
        token: str | None = None
        try:
            token = _bearer_token(authorization_header)
            claims = await self._verify(token, audience)
        except TokenRejected as exc:
            seen = _unverified_fields(token)
            log.info(
                "JWT rejected reason=%s iss=%s kid=%s jku=%s alg=%s jti=%s audience=%s",
                exc.why, seen["iss"], seen["kid"], seen["jku"], seen["alg"], seen["jti"],
                _loggable(audience),
            )
            raise
        log.debug("JWT accepted: iss=%s jti=%s", claims.get("iss"), claims.get("jti"))
        return claims

    async def aclose(self) -> None:
        """Stop key-set fetches in flight and close the replay store (at shutdown)."""
        await self._jwks.aclose()
        close = getattr(self._replay, "aclose", None)
        if close is not None:
            await close()

    async def _verify(self, token: str, audience: str) -> dict[str, Any]:
        header = self._header(token)
        issuer = self._issuer(token)
        source = issuer.key_source(header.get("jku"))
        key = await self._jwks.key(source, header["kid"])
        if key is None:
            raise TokenRejected("unknown-kid")
        if key.alg is not None and key.alg != header["alg"]:
            raise TokenRejected("alg-not-for-key")
        claims = self._decode(token, key.key, header["alg"], issuer.iss)
        if not _audience_matches(claims["aud"], audience):
            raise TokenRejected("wrong-audience")
        self._check_tenant(claims, issuer)
        if not await self._replay.first_use(issuer.iss, claims["jti"],
                                            float(claims["exp"]) + self._skew):
            raise TokenRejected("replayed-jti")
        return claims

    def _header(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except PyJWTError:
            raise TokenRejected("malformed-token") from None
        if header.get("alg") not in self._algorithms:
            raise TokenRejected("alg-not-allowed")
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str) or typ.upper() != "JWT"):
            raise TokenRejected("wrong-typ")
        if not isinstance(header.get("kid"), str) or not header["kid"]:
            raise TokenRejected("missing-kid")
        return header

    def _issuer(self, token: str) -> Issuer:
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except PyJWTError:
            raise TokenRejected("malformed-token") from None
        issuer = unverified.get("iss")
        if not isinstance(issuer, str) or issuer not in self._issuers:
            raise TokenRejected("unknown-issuer")
        return self._issuers[issuer]

    def _decode(self, token: str, key: Any, alg: str, issuer: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[alg],
                issuer=issuer,
                # Times are checked by check_times: PyJWT would take "exp": "1700000000".
                options={"require": list(REQUIRED_CLAIMS), "verify_aud": False,
                         "verify_exp": False, "verify_iat": False, "verify_nbf": False},
            )
        except jwt.InvalidSignatureError:
            raise TokenRejected("bad-signature") from None
        except jwt.MissingRequiredClaimError as exc:
            raise TokenRejected(f"missing-claim-{exc.claim}") from None
        except PyJWTError as exc:
            raise TokenRejected(f"invalid-{type(exc).__name__}") from None
        if not isinstance(claims.get("jti"), str) or not claims["jti"]:
            raise TokenRejected("missing-claim-jti")
        check_times(claims, self._clock(), self._skew, self._max_lifetime)
        return claims

    @staticmethod
    def _check_tenant(claims: dict[str, Any], issuer: Issuer) -> None:
        tenant = claims.get("tenant")
        if issuer.tenants is not None and (
            not isinstance(tenant, str) or tenant not in issuer.tenants
        ):
            raise TokenRejected("tenant-not-allowed")
