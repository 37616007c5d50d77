"""`jti` replay protection: a JWT is accepted once; its id is remembered until it expires.

Where the ids are remembered decides what "once" means:

- `MemoryReplay`: this process only. Right for one process; behind several workers or
  replicas a token replayed to another one would be accepted.
- `RedisReplay`: every process sharing a Redis (`SET key NX EXAT expiry`, one round trip).
- a database table (`cds/store/replay.py`): every process sharing the database.

`ReplayGuard` wraps the shared ones with a deadline and the operator's choice for when the
store cannot answer (`CDS_REPLAY_UNAVAILABLE`): `reject` (the default: the call is refused
with 503, never accepted unchecked) or `accept` (the call goes on unchecked). Either way
each failure is logged, never silent.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import logging
import time
from collections.abc import Callable
from typing import Any, Literal, Protocol

from cds.errors import ReplayCheckUnavailable

log = logging.getLogger("cds.auth")


class ReplayStore(Protocol):
    async def first_use(self, issuer: str, jti: str, expires_at: float) -> bool:
        """True the first time (issuer, jti) is seen before `expires_at`; False for a replay.
        Raises when the store cannot answer."""


def replay_key(issuer: str, jti: str) -> str:
    """A fixed-length key for (issuer, jti): both are caller-chosen strings of any length."""
    return hashlib.sha256(f"{issuer}\x00{jti}".encode()).hexdigest()


class ReplayCache:
    """In-memory ids with a bound that keeps memory flat under a flood of valid tokens: when
    the cache is full after dropping expired ids, the id closest to expiry is forgotten first
    (and a warning logged), because that is the one whose replay window is shortest."""

    def __init__(self, max_entries: int, clock: Callable[[], float] = time.time) -> None:
        self._max = max_entries
        self._clock = clock
        self._expiry: dict[tuple[str, str], float] = {}
        self._heap: list[tuple[float, tuple[str, str]]] = []

    def __len__(self) -> int:
        return len(self._expiry)

    def seen(self, issuer: str, jti: str, expires_at: float) -> bool:
        """True when (issuer, jti) was already used; otherwise remember it and return False."""
        now = self._clock()
        self._purge(now)
        key = (issuer, jti)
        known = self._expiry.get(key)
        if known is not None and known > now:
            return True
        if len(self._expiry) >= self._max:
            self._evict_one()
        self._expiry[key] = expires_at
        heapq.heappush(self._heap, (expires_at, key))
        return False

    def _purge(self, now: float) -> None:
        while self._heap and self._heap[0][0] <= now:
            expires_at, key = heapq.heappop(self._heap)
            if self._expiry.get(key) == expires_at:
                del self._expiry[key]

    def _evict_one(self) -> None:
        while self._heap:
            expires_at, key = heapq.heappop(self._heap)
            if self._expiry.get(key) == expires_at:
                del self._expiry[key]
                log.warning("jti replay cache full (%d entries): oldest entry dropped", self._max)
                return


class MemoryReplay:
    def __init__(self, max_entries: int, clock: Callable[[], float] = time.time) -> None:
        self.cache = ReplayCache(max_entries, clock)

    async def first_use(self, issuer: str, jti: str, expires_at: float) -> bool:
        return not self.cache.seen(issuer, jti, expires_at)


class RedisReplay:
    """Ids in Redis: `SET cds:jti:<hash> 1 NX EXAT <expiry>` answers and remembers at once."""

    def __init__(self, url: str, timeout_s: float) -> None:
        import redis.asyncio

        self.client: Any = redis.asyncio.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)

    async def first_use(self, issuer: str, jti: str, expires_at: float) -> bool:
        stored = await self.client.set(f"cds:jti:{replay_key(issuer, jti)}", b"1", nx=True,
                                       exat=max(int(expires_at) + 1, int(time.time()) + 1))
        return bool(stored)

    async def aclose(self) -> None:
        await self.client.aclose()


class ReplayGuard:
    """A replay store with a deadline and a stated behaviour when it cannot answer."""

    def __init__(self, store: ReplayStore, name: str, timeout_s: float,
                 when_unavailable: Literal["reject", "accept"] = "reject") -> None:
        self.store = store
        self.name = name
        self.timeout_s = timeout_s
        self.when_unavailable = when_unavailable
        self._logged_at = float("-inf")

    async def first_use(self, issuer: str, jti: str, expires_at: float) -> bool:
        try:
            return await asyncio.wait_for(self.store.first_use(issuer, jti, expires_at),
                                          self.timeout_s)
        except Exception as exc:  # any failure of the store: the operator's choice applies
            self._log(exc)
            if self.when_unavailable == "accept":
                return True
            raise ReplayCheckUnavailable(
                "the token's replay check cannot be made now; try again shortly") from None

    async def aclose(self) -> None:
        close = getattr(self.store, "aclose", None)
        if close is not None:
            await close()

    def _log(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._logged_at < 5.0:  # one line per burst
            return
        self._logged_at = now
        action = ("calls are accepted without it (CDS_REPLAY_UNAVAILABLE=accept)"
                  if self.when_unavailable == "accept"
                  else "calls are refused with 503 (CDS_REPLAY_UNAVAILABLE=reject)")
        log.error("jti replay store %s cannot answer (%s); %s", self.name,
                  type(exc).__name__, action)
