"""The `jti` replay cache: a JWT is accepted once; its id is remembered until it expires.

In memory and per process. A bound keeps memory flat under a flood of valid tokens: when
the cache is full after dropping expired ids, the id closest to expiry is forgotten first
(and a warning logged), because that is the one whose replay window is shortest.
Several replicas behind a load balancer each keep their own cache; see the README.
"""

from __future__ import annotations

import heapq
import logging
import time
from collections.abc import Callable

log = logging.getLogger("cds.auth")


class ReplayCache:
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
