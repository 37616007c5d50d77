"""Putting the store into the app: built from settings, started and drained with the app,
probed by /readyz, fed the suppression settings of whichever rule pack is serving.

The serving pack may expose two look-ups; a pack without them gets the defaults of
`cds.rules.schema.Suppression` and no override-reason mapping:

    pack.suppression(rule_id) -> Suppression | None
    pack.override_reason_id(system, code) -> str | None
    pack.override_reason_display(system, code) -> str | None
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from cds.metrics import Metrics
from cds.rules.schema import Suppression
from cds.settings import Settings
from cds.store.sql import SQLStore

log = logging.getLogger("cds.store")


class _Packs(Protocol):
    def current(self) -> Any: ...


class PackLookups:
    """Suppression settings and override-reason ids read from the current pack per call,
    so a reloaded pack's settings apply at once."""

    def __init__(self, packs: _Packs) -> None:
        self.packs = packs

    def suppression(self, rule_id: str) -> Suppression | None:
        lookup = self._lookup("suppression")
        return lookup(rule_id) if lookup else None

    def reason_id(self, system: str | None, code: str) -> str | None:
        lookup = self._lookup("override_reason_id")
        return lookup(system, code) if lookup else None

    def reason_display(self, system: str | None, code: str) -> str | None:
        lookup = self._lookup("override_reason_display")
        return lookup(system, code) if lookup else None

    def _lookup(self, name: str) -> Callable[..., Any] | None:
        lookup = getattr(self.packs.current(), name, None)
        return lookup if callable(lookup) else None


def build_store(settings: Settings, packs: _Packs, metrics: Metrics | None = None,
                clock: Callable[[], datetime] | None = None) -> SQLStore:
    """The SQL store; `clock` (a pinned "now" in tests) dates feedback and bounds overrides."""
    lookups = PackLookups(packs)
    return SQLStore.from_settings(
        settings, rules=lookups.suppression, reasons=lookups.reason_id,
        reason_display=lookups.reason_display, metrics=metrics, clock=clock,
    )


def lifecycle(store: Any) -> dict[str, Any]:
    """Start/stop hooks and a readiness probe for the app's runtime extras. A store
    without `start`/`close`/`ping` (the in-memory one) contributes nothing."""
    extras: dict[str, Any] = {"on_startup": [], "on_shutdown": [], "readiness": {}}
    if callable(getattr(store, "start", None)):
        async def start() -> None:
            await asyncio.to_thread(store.start)  # reads the overrides once
        extras["on_startup"].append(start)
    if callable(getattr(store, "close", None)):
        async def stop() -> None:
            # Draining the audit queue may take a moment: off the event loop.
            await asyncio.to_thread(store.close)
        extras["on_shutdown"].append(stop)
    if callable(getattr(store, "ping", None)):
        extras["readiness"]["database"] = store.ping
    return extras
