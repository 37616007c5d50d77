"""Which patients have any card override on record, so that suppression queries only for them.

Nearly every hook call is for a patient nobody ever overrode a card for, and a query per call
costs a database round trip. This process therefore keeps the set of pseudonyms that appear
in overridden feedback and runs the suppression query only for those:

- its own feedback adds a patient at once;
- every `refresh_s` at most, the rows received since the last refresh are read, with an
  overlap (`overlap_s`) for transactions that commit late and replicas whose clocks differ;
- every `reload_s` every such row is read again (a safety net for a row missed anyway).

An override recorded by another replica therefore takes effect here within `refresh_s`
(`CDS_SUPPRESSION_REFRESH_MS`; 0 reads the database on every call). While the set cannot be
read, every patient counts as possibly overridden: the suppression query runs, and its own
failure handling applies.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine, bindparam, select

from cds.store import tables

log = logging.getLogger("cds.store.suppression")

_f = tables.feedback.c
_ALL = select(_f.patient).where(_f.outcome == "overridden").where(_f.patient.is_not(None)) \
    .distinct()
_SINCE = _ALL.where(_f.received_at > bindparam("since"))


class OverriddenPatients:
    def __init__(
        self,
        engine: Engine,
        clock: Callable[[], datetime],
        *,
        refresh_s: float = 1.0,
        reload_s: float = 600.0,
        overlap_s: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.refresh_s = refresh_s
        self.reload_s = reload_s
        self.overlap = timedelta(seconds=overlap_s)
        self.monotonic = monotonic
        self._patients: set[str] = set()
        self._lock = threading.Lock()
        self._loaded_at: float | None = None  # monotonic time of the last full read
        self._refreshed_at = 0.0
        self._read_since: datetime | None = None  # received_at bound of the next refresh
        self._readable = False

    def add(self, patient: str | None) -> None:
        """A patient this process has just recorded an override for."""
        if patient is not None:
            self._patients.add(patient)

    def may_have(self, patient: str) -> bool:
        """False only when the patient surely has no override on record (as of the last
        refresh); True when they have one or the set could not be read."""
        now = self.monotonic()
        if self._loaded_at is None or now - self._refreshed_at >= self.refresh_s:
            self._refresh(now)
        return not self._readable or patient in self._patients

    def _refresh(self, now: float) -> None:
        if not self._lock.acquire(blocking=False):
            return  # another thread is reading; use the set as it is
        try:
            full = self._loaded_at is None or now - self._loaded_at >= self.reload_s
            started = self.clock()
            with self.engine.connect() as conn:
                if full or self._read_since is None:
                    found = {row.patient for row in conn.execute(_ALL)}
                else:
                    found = {row.patient for row in conn.execute(
                        _SINCE, {"since": self._read_since})}
            self._patients.update(found)  # rows are never deleted: nothing to drop
            if full:
                self._loaded_at = now
            self._read_since = started - self.overlap
            self._refreshed_at = now
            self._readable = True
        except Exception as exc:
            log.warning("overridden patients could not be read (%s); suppression queries "
                        "every call until they can", type(exc).__name__)
            self._readable = False
            self._refreshed_at = now
        finally:
            self._lock.release()
