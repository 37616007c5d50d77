"""The SQL store: audit sink, feedback sink and suppressor over one database.

    store = SQLStore.from_settings(settings, rules=..., reasons=..., metrics=metrics)
    store.start()          # the audit writer thread
    store.record(audit)    # queued, never blocks
    store.record_feedback(service_id, items)
    store.filter(patient_id, cards, now)
    store.ping()           # readiness
    store.close()          # drain the queue, release connections
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from cds.hooks.models import Card, Feedback
from cds.metrics import Metrics
from cds.settings import Settings
from cds.store.audit import AuditRows, Rows, write_rows
from cds.store.database import Database, safe_url
from cds.store.feedback import Clock, FeedbackStore
from cds.store.interfaces import AuditRecord
from cds.store.overridden import OverriddenPatients
from cds.store.suppression import ReasonIds, RuleSuppression, SQLSuppressor
from cds.store.writer import AuditWriter

log = logging.getLogger("cds.store")

GRACE_CAP_S = 1.0


class SQLStore:
    def __init__(
        self,
        database: Database,
        *,
        rules: RuleSuppression | None = None,
        reasons: ReasonIds | None = None,
        metrics: Metrics | None = None,
        keep_raw_patient_id: bool = False,
        queue_size: int = 10_000,
        batch_size: int = 200,
        flush_ms: int = 200,
        suppression_refresh_ms: int = 1000,
        clock: Clock | None = None,
    ) -> None:
        self.database = database
        self.metrics = metrics if metrics is not None else Metrics()
        self._rows = AuditRows(database.pseudonymiser, keep_raw_patient_id)
        self.writer = AuditWriter(
            self._write_batch, queue_size=queue_size, batch_size=batch_size,
            flush_ms=flush_ms, count=self._count_writes,
        )
        self.metrics.track_queue_depth(lambda: self.writer.depth)
        self.overridden = OverriddenPatients(
            database.engine, clock or (lambda: datetime.now(UTC)),
            refresh_s=suppression_refresh_ms / 1000.0,
        )
        self.suppressor = SQLSuppressor(
            database.engine, database.pseudonymiser, rules, reasons, metrics=self.metrics,
            overridden=self.overridden,
        )
        self.feedback = FeedbackStore(
            database.engine, database.pseudonymiser, self.writer.pending_card,
            clock=clock, metrics=self.metrics,
            # Another replica writes its audit within flush_ms: wait about that long once
            # before calling a card unknown.
            grace_s=min(GRACE_CAP_S, 2 * flush_ms / 1000.0),
            on_override=self.overridden.add,
        )

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        rules: RuleSuppression | None = None,
        reasons: ReasonIds | None = None,
        metrics: Metrics | None = None,
        clock: Clock | None = None,
    ) -> SQLStore:
        database = Database.open(settings.database_url, settings.pseudonym_key)
        log.info("store opened at %s", safe_url(database.engine))
        return cls(
            database, rules=rules, reasons=reasons, metrics=metrics,
            keep_raw_patient_id=settings.audit_raw_patient_id,
            queue_size=settings.audit_queue_size, batch_size=settings.audit_batch_size,
            flush_ms=settings.audit_flush_ms,
            suppression_refresh_ms=settings.suppression_refresh_ms, clock=clock,
        )

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        self.writer.start()

    def close(self) -> None:
        """Write everything queued, then release the database connections."""
        self.writer.close()
        self.database.dispose()

    def ping(self) -> bool:
        return self.database.ping()

    # --- protocols of cds.store.interfaces ---------------------------------------------

    def record(self, record: AuditRecord) -> None:
        try:
            self.metrics.observe_call(record)
        except Exception:  # metrics must never fail a hook call
            log.exception("metrics observation failed")
        self.writer.record(record)

    def flush(self, timeout: float | None = 10.0) -> bool:
        return self.writer.flush(timeout)

    def record_feedback(self, service_id: str, items: list[Feedback]) -> None:
        self.feedback.record_feedback(service_id, items)

    def filter(self, patient_id: str | None, cards: list[Card], now: datetime) -> list[Card]:
        return self.suppressor.filter(patient_id, cards, now)

    # --- writer callbacks --------------------------------------------------------------

    def _write_batch(self, records: list[AuditRecord]) -> None:
        rows = Rows()
        for record in records:
            rows.add(self._rows.build(record))
        write_rows(self.database.engine, rows)

    def _count_writes(self, result: str, n: int) -> None:
        self.metrics.audit_writes.labels(result=result).inc(n)
