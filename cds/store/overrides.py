"""The card overrides on record, held in memory so that suppression never waits for the database.

A hook call must answer while the database is slow or away, so the suppression check reads
this cache only. A background thread keeps it current:

- every `refresh_s` it reads the overrides received since its last read, with an overlap
  (`overlap_s`) for transactions that commit late and replicas whose clocks differ;
- every `reload_s` it reads them all again (a safety net, and old ones fall out);
- this process's own feedback is added at once.

An override recorded through another replica therefore applies here within `refresh_s`
(`CDS_SUPPRESSION_REFRESH_MS`). When the cache cannot be read for a while it keeps the last
state it read, and `stale_since` says since when: calls then carry a data note that a card
dismissed since then may show again.

Overrides older than HORIZON_DAYS are not kept: no suppression window is that long.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, bindparam, select

from cds.store import tables

log = logging.getLogger("cds.store.suppression")

HORIZON_DAYS = 366
STALE_AFTER_S = 5.0  # the least age at which a cache that cannot be refreshed is called stale

_f = tables.feedback.c
_ALL = (
    select(_f.key, _f.patient, _f.rule_id, _f.reason_system, _f.reason_code, _f.outcome_at)
    .where(_f.outcome == "overridden")
    .where(_f.patient.is_not(None))
    .where(_f.reason_code.is_not(None))  # an override without a reason suppresses nothing
    .where(_f.outcome_at > bindparam("horizon"))
)
_SINCE = _ALL.where(_f.received_at > bindparam("since"))


@dataclass(frozen=True)
class Override:
    rule_id: str
    reason_system: str | None
    reason_code: str | None
    outcome_at: datetime


class OverrideCache:
    def __init__(
        self,
        engine: Engine,
        clock: Callable[[], datetime],
        *,
        refresh_s: float = 1.0,
        reload_s: float = 600.0,
        overlap_s: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
        before_read: Callable[[], None] = lambda: None,
    ) -> None:
        self.engine = engine
        self.before_read = before_read
        self.clock = clock
        self.refresh_s = refresh_s
        self.reload_s = reload_s
        self.overlap = timedelta(seconds=overlap_s)
        self.monotonic = monotonic
        self._by_patient: dict[str, dict[str, Override]] = {}
        self._lock = threading.Lock()  # one read at a time
        self._loaded_at: float | None = None  # monotonic time of the last full read
        self._read_since: datetime | None = None  # received_at bound of the next refresh
        self._read_ok_at: float | None = None  # monotonic time of the last good read
        self._read_ok_wall: datetime | None = None
        self._failing = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Read once, then keep refreshing in the background."""
        self.refresh()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="cds-override-cache",
                                            daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(max(self.refresh_s, 0.05)):
            self.refresh()

    # --- what suppression reads --------------------------------------------------------

    def add(self, patient: str | None, key: str, override: Override) -> None:
        """An override this process has just stored."""
        if patient is not None and override.reason_code is not None:
            self._by_patient.setdefault(patient, {})[key] = override

    def of(self, patient: str) -> list[Override]:
        found = self._by_patient.get(patient)
        return list(found.values()) if found else []

    @property
    def stale_since(self) -> datetime | None:
        """When the cache was last read, if it could not be read for a while since."""
        age = self.monotonic() - self._read_ok_at if self._read_ok_at is not None else None
        limit = max(STALE_AFTER_S, 3 * self.refresh_s)
        if age is None or age > limit or (self._failing and age > self.refresh_s):
            return self._read_ok_wall
        return None

    @property
    def unavailable(self) -> bool:
        """Never read, or not read for longer than the stale limit."""
        return self._read_ok_at is None or self.stale_since is not None

    # --- reading -----------------------------------------------------------------------

    def refresh(self) -> bool:
        """One read from the database (full or incremental); False when it failed."""
        if not self._lock.acquire(blocking=False):
            return True  # another thread is reading
        try:
            now = self.monotonic()
            full = self._loaded_at is None or now - self._loaded_at >= self.reload_s
            started = self.clock()
            params = {"horizon": started - timedelta(days=HORIZON_DAYS)}
            self.before_read()
            with self.engine.connect() as conn:
                if full or self._read_since is None:
                    rows = conn.execute(_ALL, params).all()
                else:
                    rows = conn.execute(_SINCE, {**params, "since": self._read_since}).all()
            found: dict[str, dict[str, Override]] = {} if full else self._by_patient
            for row in rows:
                found.setdefault(row.patient, {})[row.key] = Override(
                    row.rule_id, row.reason_system, row.reason_code, row.outcome_at)
            if full:
                self._by_patient = found
                self._loaded_at = now
            self._read_since = started - self.overlap
            self._read_ok_at = now
            self._read_ok_wall = started
            if self._failing:
                log.warning("card overrides can be read again")
            self._failing = False
            return True
        except Exception as exc:
            if not self._failing:
                log.error("card overrides cannot be read (%s); suppression uses the overrides "
                          "read until now", type(exc).__name__)
            self._failing = True
            return False
        finally:
            self._lock.release()
