"""JWK Sets of trusted issuers: fetched (or read from a file), cached with a TTL, rotated.

A key set is looked up by `kid`. An unknown `kid` triggers one refetch (key rotation at the
issuer), but at most one fetch per source every `refetch_min_seconds`, so a stream of
tokens with made-up `kid`s cannot turn the service into a request amplifier. A failed fetch
keeps serving the previous key set. Only asymmetric signing keys are kept: `oct` (shared
secret) keys and keys marked `use: enc` are dropped on load.

Sources are the operator's configuration (see cds/auth/issuers.py): http(s) URLs, fetched
without following redirects and with a size cap, or `file:<path>`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from jwt import PyJWK
from jwt.exceptions import PyJWTError

log = logging.getLogger("cds.auth")

MAX_JWKS_BYTES = 512 * 1024
FETCH_TIMEOUT_SECONDS = 3.0
FILE_PREFIX = "file:"


class JWKSUnavailable(Exception):
    """The key set could not be fetched or parsed (reason in the message, no secrets)."""


@dataclass(frozen=True)
class VerificationKey:
    key: Any  # a cryptography public key object
    alg: str | None  # the JWK's own `alg`, when it states one


@dataclass
class _Entry:
    keys: dict[str, VerificationKey] = field(default_factory=dict)
    loaded_at: float | None = None  # None: never loaded successfully
    last_attempt: float | None = None  # any fetch: backs off a failing source
    last_forced: float | None = None  # refetch for an unknown kid: rate-limited
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def parse_jwks(data: Any) -> dict[str, VerificationKey]:
    """`{"keys": [...]}` -> {kid: key} for the usable asymmetric signing keys."""
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise JWKSUnavailable("not a JWK Set (no 'keys' array)")
    keys: dict[str, VerificationKey] = {}
    for raw in data["keys"]:
        if not isinstance(raw, dict) or not isinstance(raw.get("kid"), str):
            continue
        if raw.get("kty") == "oct" or raw.get("use", "sig") != "sig":
            continue
        try:
            alg = raw.get("alg") if isinstance(raw.get("alg"), str) else None
            keys[raw["kid"]] = VerificationKey(PyJWK(raw).key, alg)
        except (PyJWTError, ValueError, TypeError, KeyError) as exc:
            log.warning("JWKS key %r skipped: %s", raw["kid"], type(exc).__name__)
    return keys


async def _fetch_url(url: str, transport: httpx.AsyncBaseTransport | None) -> Any:
    async with httpx.AsyncClient(
        follow_redirects=False, timeout=FETCH_TIMEOUT_SECONDS, transport=transport
    ) as client:
        try:
            async with client.stream("GET", url, headers={"Accept": "application/json"}) as resp:
                if resp.status_code != 200:
                    raise JWKSUnavailable(f"HTTP {resp.status_code}")
                body = bytearray()
                async for chunk in resp.aiter_bytes():
                    body.extend(chunk)
                    if len(body) > MAX_JWKS_BYTES:
                        raise JWKSUnavailable("JWK Set larger than the size cap")
        except httpx.HTTPError as exc:
            raise JWKSUnavailable(type(exc).__name__) from exc
    try:
        return orjson.loads(bytes(body))
    except orjson.JSONDecodeError as exc:
        raise JWKSUnavailable("JWK Set is not JSON") from exc


def file_source(path: Path) -> str:
    return f"{FILE_PREFIX}{path}"


def read_key_file(path: Path) -> dict[str, VerificationKey]:
    """The usable keys of a JWK Set file (JWKSUnavailable when it cannot be read or parsed)."""
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise JWKSUnavailable(f"cannot read JWK Set file: {type(exc).__name__}") from exc
    return parse_jwks(data)


class JWKSCache:
    """Key sets by source: an http(s) URL or `file:<path>` (see `file_source`)."""

    def __init__(
        self,
        ttl_seconds: float,
        refetch_min_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._ttl = ttl_seconds
        self._refetch_min = refetch_min_seconds
        self._clock = clock
        self._transport = transport
        self._entries: dict[str, _Entry] = {}

    async def key(self, source: str, kid: str) -> VerificationKey | None:
        """The key with this `kid` from the source, or None when there is none (after at
        most one rate-limited refetch)."""
        entry = self._entries.setdefault(source, _Entry())
        async with entry.lock:
            now = self._clock()
            stale = entry.loaded_at is None or now - entry.loaded_at >= self._ttl
            if stale and self._due(entry.last_attempt, now):
                await self._load(source, entry, now)
            elif kid not in entry.keys and self._due(entry.last_forced, now):
                log.info("unknown kid: refetching JWK Set")
                entry.last_forced = now
                await self._load(source, entry, now)
            return entry.keys.get(kid)

    def _due(self, last: float | None, now: float) -> bool:
        return last is None or now - last >= self._refetch_min

    async def _load(self, source: str, entry: _Entry, now: float) -> None:
        entry.last_attempt = now
        try:
            if source.startswith(FILE_PREFIX):
                keys = read_key_file(Path(source.removeprefix(FILE_PREFIX)))
            else:
                keys = parse_jwks(await _fetch_url(source, self._transport))
            entry.keys = keys
            entry.loaded_at = now
        except JWKSUnavailable as exc:
            # Keep the previous keys: a flaky JWKS endpoint must not lock every EHR out.
            log.warning("JWK Set unavailable (%s); %d cached keys kept", exc, len(entry.keys))

