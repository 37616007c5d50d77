"""JWK Sets of trusted issuers: fetched (or read from a file) in the background, cached, rotated.

A key set is looked up by `kid`, and no call with a `kid` the cache holds ever waits for a
fetch: when the cached set is older than the TTL it is refreshed in the background while
the old set keeps serving. A `kid` the set lacks (the issuer rotated its keys, or the `kid`
is made up) starts at most one refetch per source every `refetch_min_seconds`, and only
when none is in flight (single flight); such a call waits for that fetch at most
`unknown_kid_wait_seconds`, so a stream of made-up `kid`s costs one fetch per window and
holds no one else. Only before a source's first key set has arrived do calls wait for the
fetch itself (up to its deadline): nothing else could verify them.

A failed fetch keeps serving the previous key set. Only asymmetric signing keys are kept:
`oct` (shared secret) keys and keys marked `use: enc` are dropped on load.

Sources are the operator's configuration (see cds/auth/issuers.py): http(s) URLs, fetched
without following redirects, with a size cap and an overall deadline, or `file:<path>`.
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
FETCH_DEADLINE_SECONDS = 3.0
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
    fetch: asyncio.Task[None] | None = None  # the one fetch in flight


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


def file_source(path: Path) -> str:
    return f"{FILE_PREFIX}{path}"


def read_key_file(path: Path) -> dict[str, VerificationKey]:
    """The usable keys of a JWK Set file (JWKSUnavailable when it cannot be read or parsed)."""
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise JWKSUnavailable(f"cannot read JWK Set file: {type(exc).__name__}") from exc
    return parse_jwks(data)


async def _fetch_url(url: str, transport: httpx.AsyncBaseTransport | None) -> Any:
    async with httpx.AsyncClient(
        follow_redirects=False, timeout=FETCH_DEADLINE_SECONDS, transport=transport
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


class JWKSCache:
    """Key sets by source: an http(s) URL or `file:<path>` (see `file_source`)."""

    def __init__(
        self,
        ttl_seconds: float,
        refetch_min_seconds: float,
        unknown_kid_wait_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._ttl = ttl_seconds
        self._refetch_min = refetch_min_seconds
        self._unknown_kid_wait = unknown_kid_wait_seconds
        self._clock = clock
        self._transport = transport
        self._entries: dict[str, _Entry] = {}

    async def key(self, source: str, kid: str) -> VerificationKey | None:
        """The key with this `kid` from the source, or None when the source has none.

        Returns at once for a cached `kid`; otherwise waits, within the bounds above, for
        the one fetch in flight for this source."""
        entry = self._entries.setdefault(source, _Entry())
        now = self._clock()
        fetch = self._in_flight(entry)
        if fetch is None:
            stale = entry.loaded_at is None or now - entry.loaded_at >= self._ttl
            if stale and self._due(entry.last_attempt, now):
                fetch = self._start(source, entry, now)
            elif kid not in entry.keys and self._due(entry.last_forced, now):
                log.info("unknown kid: refetching JWK Set %s", _display(source))
                entry.last_forced = now
                fetch = self._start(source, entry, now)
        known = entry.keys.get(kid)
        if known is not None or fetch is None:
            return known
        bound = FETCH_DEADLINE_SECONDS if entry.loaded_at is None else self._unknown_kid_wait
        await asyncio.wait({fetch}, timeout=bound)  # never cancels the shared fetch
        return entry.keys.get(kid)

    async def aclose(self) -> None:
        """Stop the fetches in flight (at shutdown)."""
        fetches = [f for e in self._entries.values() if (f := self._in_flight(e)) is not None]
        for fetch in fetches:
            fetch.cancel()
        await asyncio.gather(*fetches, return_exceptions=True)

    def _due(self, last: float | None, now: float) -> bool:
        return last is None or now - last >= self._refetch_min

    @staticmethod
    def _in_flight(entry: _Entry) -> asyncio.Task[None] | None:
        fetch = entry.fetch
        if fetch is None or fetch.done() or fetch.get_loop() is not asyncio.get_running_loop():
            return None  # a fetch left behind by a closed event loop does not count
        return fetch

    def _start(self, source: str, entry: _Entry, now: float) -> asyncio.Task[None]:
        entry.last_attempt = now
        entry.fetch = asyncio.create_task(self._load(source, entry, now))
        return entry.fetch

    async def _load(self, source: str, entry: _Entry, now: float) -> None:
        try:
            if source.startswith(FILE_PREFIX):
                keys = read_key_file(Path(source.removeprefix(FILE_PREFIX)))
            else:
                async with asyncio.timeout(FETCH_DEADLINE_SECONDS):
                    keys = parse_jwks(await _fetch_url(source, self._transport))
        except (JWKSUnavailable, TimeoutError) as exc:
            # Keep the previous keys: a flaky JWKS endpoint must not lock every EHR out.
            reason = str(exc) or type(exc).__name__
            log.warning("JWK Set %s unavailable (%s); %d cached keys kept",
                        _display(source), reason, len(entry.keys))
            return
        entry.keys = keys
        entry.loaded_at = now


def _display(source: str) -> str:
    """A source for logs: URLs without their query string, files by path."""
    return source.split("?", 1)[0]
