"""Storing card feedback: against the card uuid, once (the same feedback may arrive twice).

A card uuid the audit trail does not hold yet is not called unknown at once: its audit record
may still be on its way (spooled by this or another worker, or waiting for the database).
Card uuids carry their issue time (cds/hooks/card_ids.py), so:

- a card issued within `settle_s` is looked up again for a short while, then answered with
  503 and Retry-After if it is still missing;
- while this process cannot store its audit records, a missing card is 503 too;
- otherwise (an old card, a uuid this service never makes, a card of another service) 404.

A database that fails or times out makes feedback 503 with Retry-After, never 500.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from cds.errors import StoreUnavailable, UnknownCard
from cds.hooks.card_ids import issued_at
from cds.hooks.models import Feedback
from cds.metrics import Metrics
from cds.store import tables
from cds.store.overrides import Override
from cds.store.pseudonym import Pseudonymiser
from cds.store.writer import PendingCard

log = logging.getLogger("cds.store.feedback")

Clock = Callable[[], datetime]
ReasonDisplay = Callable[[str | None, str], str | None]
OnOverride = Callable[[str | None, str, Override], None]
LOOK_AGAIN_S = (0.05, 0.1, 0.2, 0.4, 0.8)  # pauses before looking for a young card again


@dataclass(frozen=True)
class IssuedCard:
    rule_id: str
    service_id: str
    patient: str | None  # pseudonym


class FeedbackStore:
    """`record_feedback` for the SQL store.

    A card is found in the database or, when its audit record is not stored yet, in this
    process's pending map (`pending`). `audit_behind()` is true while this process cannot
    store audit records.
    """

    def __init__(
        self,
        engine: Engine,
        pseudonymise: Pseudonymiser,
        pending: Callable[[str], PendingCard | None],
        *,
        clock: Clock | None = None,
        metrics: Metrics | None = None,
        settle_s: float = 5.0,
        audit_behind: Callable[[], bool] = lambda: False,
        reason_display: ReasonDisplay | None = None,
        on_override: OnOverride | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.engine = engine
        self.pseudonymise = pseudonymise
        self.pending = pending
        self.clock = clock or (lambda: datetime.now(UTC))
        self.metrics = metrics
        self.settle = timedelta(seconds=settle_s)
        self.audit_behind = audit_behind
        self.reason_display = reason_display or (lambda _system, _code: None)
        self.on_override = on_override
        self.sleep = sleep

    def record_feedback(self, service_id: str, items: list[Feedback]) -> None:
        """Store every item whose card this service issued; then raise UnknownCard naming
        the others, if any (the EHR may resend all: storing is idempotent). Raises
        StoreUnavailable when the database fails or a card may still be on its way."""
        try:
            self._record(service_id, items)
        except SQLAlchemyError as exc:
            log.error("feedback could not be stored (%s)", type(exc).__name__)
            raise StoreUnavailable(
                "feedback cannot be stored now: the audit database is unavailable; "
                "send it again later") from exc

    def _record(self, service_id: str, items: list[Feedback]) -> None:
        received = self.clock()
        issued = self._find_cards({item.card for item in items})
        unknown = {item.card for item in items if item.card not in issued}
        for pause in LOOK_AGAIN_S:
            young = {u for u in unknown if self._issued_lately(u, received)}
            if not young:
                break
            self.sleep(pause)
            issued.update(self._find_cards(young))
            unknown -= issued.keys()
        on_the_way = sorted(u for u in unknown if self._issued_lately(u, received)
                            or (self.audit_behind() and issued_at(u) is not None))
        known = [item for item in items if item.card in issued]
        wrong_service = sorted({i.card for i in known if issued[i.card].service_id != service_id})
        stored = [i for i in known if issued[i.card].service_id == service_id]
        if stored:
            self._store(service_id, stored, issued, received)
        if on_the_way:
            raise StoreUnavailable(
                f"card {on_the_way[0]!r} is not in the audit trail yet; send the feedback "
                "again shortly", retry_after_s=2)
        if unknown or wrong_service:
            raise _unknown(service_id, sorted(unknown), wrong_service, len(stored))

    def _issued_lately(self, card_uuid: str, now: datetime) -> bool:
        when = issued_at(card_uuid)
        return when is not None and now - self.settle <= when <= now + self.settle

    def _find_cards(self, uuids: set[str]) -> dict[str, IssuedCard]:
        if not uuids:
            return {}
        found: dict[str, IssuedCard] = {}
        for uuid in uuids:
            pending = self.pending(uuid)
            if pending is not None:
                found[uuid] = IssuedCard(
                    pending.rule_id, pending.service_id, self.pseudonymise(pending.patient_id)
                )
        missing = uuids - found.keys()
        if not missing:
            return found
        c = tables.cards.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(c.uuid, c.rule_id, c.service, c.patient).where(c.uuid.in_(missing))
            ).all()
        found.update({row.uuid: IssuedCard(row.rule_id, row.service, row.patient)
                      for row in rows})
        return found

    def _store(
        self, service_id: str, items: list[Feedback], issued: dict[str, IssuedCard],
        received: datetime,
    ) -> None:
        new: list[tuple[str, str]] = []
        rows = [_row(service_id, item, issued[item.card], received, self.reason_display)
                for item in items]
        with self.engine.begin() as conn:
            for item, row in zip(items, rows, strict=True):
                if _insert_once(conn, row):
                    new.append((row["rule_id"], item.outcome))
        if self.on_override is not None:
            for row in rows:
                if row["outcome"] == "overridden":
                    self.on_override(row["patient"], row["key"], Override(
                        row["rule_id"], row["reason_system"], row["reason_code"],
                        row["outcome_at"]))
        if self.metrics is not None:
            for rule_id, outcome in new:
                self.metrics.feedback.labels(rule=rule_id or "-", outcome=outcome).inc()


def _row(service_id: str, item: Feedback, card: IssuedCard, received: datetime,
         reason_display: ReasonDisplay) -> dict[str, Any]:
    reason = item.overrideReason.reason if item.overrideReason else None
    accepted = sorted(s.id for s in item.acceptedSuggestions or [])
    outcome_at = item.outcomeTimestamp.astimezone(UTC)
    row = {
        "card_uuid": item.card,
        "service": service_id,
        "rule_id": card.rule_id,
        "patient": card.patient,
        "outcome": item.outcome,
        "accepted": accepted,
        "reason_system": reason.system if reason else None,
        "reason_code": reason.code if reason else None,
        # EHRs often send the coding without its display: the pack's own words then.
        "reason_display": (reason.display or reason_display(reason.system, reason.code))
        if reason else None,
        "comment": item.overrideReason.userComment if item.overrideReason else None,
        # A clinician cannot act in the future: a fast EHR clock must not stretch a
        # suppression window, so the outcome time is capped at the time we received it.
        "outcome_at": min(outcome_at, received),
        "received_at": received,
    }
    identity = [item.card, item.outcome, outcome_at.isoformat(), accepted,
                row["reason_system"], row["reason_code"], row["comment"]]
    row["key"] = hashlib.sha256(json.dumps(identity).encode("utf-8")).hexdigest()
    return row


def _insert_once(conn: Connection, row: dict[str, Any]) -> bool:
    """Insert unless a row with the same idempotency key exists. True when inserted."""
    dialect = conn.dialect.name
    if dialect in ("postgresql", "sqlite"):
        module = postgresql if dialect == "postgresql" else sqlite
        statement = (
            module.insert(tables.feedback).values(**row)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(tables.feedback.c.id)
        )
        return conn.execute(statement).first() is not None
    try:  # other databases: rely on the unique constraint
        with conn.begin_nested():
            conn.execute(insert(tables.feedback).values(**row))
    except IntegrityError:
        return False
    return True


def _unknown(
    service_id: str, unknown: list[str], wrong_service: list[str], stored: int
) -> UnknownCard:
    named = unknown + wrong_service
    message = (
        f"unknown card {named[0]!r}" if len(named) == 1
        else f"unknown cards {', '.join(repr(u) for u in named)}"
    )
    message += f": not issued by service {service_id!r}"
    if stored:
        message += f" (feedback for the other {stored} card(s) was stored)"
    details = [{"card": uuid} for uuid in named]
    return UnknownCard(message, details)
