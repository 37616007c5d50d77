"""Storing card feedback: against the card uuid, once (the same feedback may arrive twice)."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from cds.errors import UnknownCard
from cds.hooks.models import Feedback
from cds.metrics import Metrics
from cds.store import tables
from cds.store.pseudonym import Pseudonymiser
from cds.store.writer import PendingCard

log = logging.getLogger("cds.store.feedback")

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class IssuedCard:
    rule_id: str
    service_id: str
    patient: str | None  # pseudonym


class FeedbackStore:
    """`record_feedback` for the SQL store.

    A card is found in the database or, when its audit record is still queued, in the
    writer's pending map. `grace_s` covers a card issued by another replica whose writer
    has not flushed yet: an unknown uuid is looked up once more after that pause.
    """

    def __init__(
        self,
        engine: Engine,
        pseudonymise: Pseudonymiser,
        pending: Callable[[str], PendingCard | None],
        *,
        clock: Clock | None = None,
        metrics: Metrics | None = None,
        grace_s: float = 0.0,
        on_override: Callable[[str | None], None] | None = None,
    ) -> None:
        self.engine = engine
        self.pseudonymise = pseudonymise
        self.pending = pending
        self.clock = clock or (lambda: datetime.now(UTC))
        self.metrics = metrics
        self.grace_s = grace_s
        self.on_override = on_override

    def record_feedback(self, service_id: str, items: list[Feedback]) -> None:
        """Store every item whose card this service issued; then raise UnknownCard naming
        the others, if any (the EHR may resend all: storing is idempotent)."""
        issued = self._find_cards({item.card for item in items})
        unknown = sorted({item.card for item in items if item.card not in issued})
        if unknown and self.grace_s > 0:
            time.sleep(self.grace_s)
            issued.update(self._find_cards(set(unknown)))
            unknown = [uuid for uuid in unknown if uuid not in issued]
        received = self.clock()
        known = [item for item in items if item.card in issued]
        wrong_service = sorted({i.card for i in known if issued[i.card].service_id != service_id})
        stored = [i for i in known if issued[i.card].service_id == service_id]
        if stored:
            self._store(service_id, stored, issued, received)
        if unknown or wrong_service:
            raise _unknown(service_id, unknown, wrong_service, len(stored))

    def _find_cards(self, uuids: set[str]) -> dict[str, IssuedCard]:
        if not uuids:
            return {}
        c = tables.cards.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(c.uuid, c.rule_id, c.service, c.patient).where(c.uuid.in_(uuids))
            ).all()
        found = {row.uuid: IssuedCard(row.rule_id, row.service, row.patient) for row in rows}
        for uuid in uuids - found.keys():
            pending = self.pending(uuid)
            if pending is not None:
                found[uuid] = IssuedCard(
                    pending.rule_id, pending.service_id, self.pseudonymise(pending.patient_id)
                )
        return found

    def _store(
        self, service_id: str, items: list[Feedback], issued: dict[str, IssuedCard],
        received: datetime,
    ) -> None:
        new: list[tuple[str, str]] = []
        with self.engine.begin() as conn:
            for item in items:
                card = issued[item.card]
                if _insert_once(conn, _row(service_id, item, card, received)):
                    new.append((card.rule_id, item.outcome))
        if self.on_override is not None:
            for item in items:
                if item.outcome == "overridden":
                    self.on_override(issued[item.card].patient)
        if self.metrics is not None:
            for rule_id, outcome in new:
                self.metrics.feedback.labels(rule=rule_id or "-", outcome=outcome).inc()


def _row(service_id: str, item: Feedback, card: IssuedCard, received: datetime) -> dict[str, Any]:
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
        "reason_display": reason.display if reason else None,
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
