"""The SQL store: audit sink, feedback sink and suppressor over one database.

    store = SQLStore.from_settings(settings, rules=..., reasons=..., metrics=metrics)
    store.start()          # the audit writer and override-cache threads
    store.record(audit)    # spooled to local disk, never waits for the database
    store.record_feedback(service_id, items)
    store.filter(patient_id, cards, now)
    store.ping()           # readiness
    store.close()          # store what the database takes, release connections
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from cds.errors import StoreUnavailable
from cds.hooks.models import Card, Feedback
from cds.metrics import Metrics
from cds.settings import Settings
from cds.store.audit import Rows, rows_of, spool_line, write_rows
from cds.store.database import Database, safe_url
from cds.store.feedback import Clock, FeedbackStore, ReasonDisplay
from cds.store.interfaces import AuditRecord
from cds.store.overrides import OverrideCache
from cds.store.spool import Spool
from cds.store.suppression import ReasonIds, RuleSuppression, SQLSuppressor
from cds.store.writer import AuditWriter

log = logging.getLogger("cds.store")


def default_spool_dir(database_url: str) -> Path:
    """Beside a SQLite file; else under ./cds-audit-spool, one directory per database (a
    spool must only ever drain into the database its records were meant for)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database in (None, "", ":memory:"):
            return Path(tempfile.mkdtemp(prefix="cds-audit-spool-"))
        return Path(url.database).with_name(Path(url.database).name + ".audit-spool")
    digest = hashlib.sha256(url.render_as_string(hide_password=True).encode()).hexdigest()
    return Path("cds-audit-spool") / digest[:16]


class SQLStore:
    def __init__(
        self,
        database: Database,
        *,
        rules: RuleSuppression | None = None,
        reasons: ReasonIds | None = None,
        reason_display: ReasonDisplay | None = None,
        metrics: Metrics | None = None,
        keep_raw_patient_id: bool = False,
        spool_dir: Path | None = None,
        batch_size: int = 200,
        flush_ms: int = 200,
        suppression_refresh_ms: int = 1000,
        clock: Clock | None = None,
    ) -> None:
        self.database = database
        self.metrics = metrics if metrics is not None else Metrics()
        pseudonymise = database.pseudonymiser
        spool = Spool(spool_dir or default_spool_dir(database.engine.url.render_as_string(
            hide_password=False)))
        self.writer = AuditWriter(
            spool, lambda record: spool_line(record, pseudonymise, keep_raw_patient_id),
            self._store_lines, batch_size=batch_size, flush_ms=flush_ms,
            count=self._count_writes,
        )
        self.metrics.track_queue_depth(lambda: self.writer.depth)
        self.overrides = OverrideCache(
            database.engine, clock or (lambda: datetime.now(UTC)),
            refresh_s=suppression_refresh_ms / 1000.0, before_read=database.ensure_schema,
        )
        self.suppressor = SQLSuppressor(
            self.overrides, pseudonymise, rules, reasons, metrics=self.metrics,
        )
        self.feedback = FeedbackStore(
            database.engine, pseudonymise, self.writer.pending_card,
            clock=clock, metrics=self.metrics,
            # A card's audit record reaches the database within a few flush intervals.
            settle_s=max(5.0, 10 * flush_ms / 1000.0),
            audit_behind=lambda: self.writer.failing_since is not None,
            reason_display=reason_display,
            on_override=self.overrides.add,
        )

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        rules: RuleSuppression | None = None,
        reasons: ReasonIds | None = None,
        reason_display: ReasonDisplay | None = None,
        metrics: Metrics | None = None,
        clock: Clock | None = None,
    ) -> SQLStore:
        database = Database.open(settings.database_url, settings.pseudonym_key,
                                 timeout_ms=settings.database_timeout_ms)
        log.info("store opened at %s", safe_url(database.engine))
        return cls(
            database, rules=rules, reasons=reasons, reason_display=reason_display,
            metrics=metrics, keep_raw_patient_id=settings.audit_raw_patient_id,
            spool_dir=settings.audit_spool_dir, batch_size=settings.audit_batch_size,
            flush_ms=settings.audit_flush_ms,
            suppression_refresh_ms=settings.suppression_refresh_ms, clock=clock,
        )

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        self.overrides.start()
        self.writer.start()

    def close(self) -> None:
        """Store what the database takes (the rest stays spooled), release connections."""
        self.overrides.close()
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
        try:
            self.database.ensure_schema()
        except SQLAlchemyError as exc:
            raise StoreUnavailable("feedback cannot be stored now: the audit database is "
                                   "unavailable; send it again later") from exc
        self.feedback.record_feedback(service_id, items)

    def filter(self, patient_id: str | None, cards: list[Card], now: datetime) -> list[Card]:
        return self.suppressor.filter(patient_id, cards, now)

    def unavailable_since(self) -> tuple[bool, datetime | None]:
        return self.suppressor.unavailable_since()

    # --- writer callbacks --------------------------------------------------------------

    def _store_lines(self, lines: list[bytes]) -> int:
        self.database.ensure_schema()
        rows = Rows()
        for line in lines:
            rows.add(rows_of(line))
        return write_rows(self.database.engine, rows)

    def _count_writes(self, result: str, n: int) -> None:
        self.metrics.audit_writes.labels(result=result).inc(n)
