"""Small builders for audit records, cards and feedback used by the store tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from cds.hooks.card_meta import CardMeta
from cds.hooks.models import Card, Feedback, Source
from cds.store.interfaces import AuditRecord, CardRecord

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
REASON_SYSTEM = "http://example.org/CodeSystem/override-reason"


def card(rule: str, indicator: str = "info", problem: str | None = None) -> Card:
    return Card(
        uuid=str(uuid.uuid4()),
        summary=f"{rule} card",
        indicator=indicator,  # type: ignore[arg-type]
        source=Source(label="Test pack"),
    ).with_meta(CardMeta(rule=rule, problem=problem))


def audit(
    cards: list[Card] | None = None,
    *,
    patient: str | None = "patient-123",
    service: str = "pv",
    time: datetime = NOW,
    fired: list[dict[str, Any]] | None = None,
    status: int = 200,
    unresolved: list[tuple[str, str, str]] | None = None,
) -> AuditRecord:
    cards = cards or []
    return AuditRecord(
        time=time,
        service_id=service,
        hook="patient-view",
        hook_instance=str(uuid.uuid4()),
        patient_id=patient,
        pack_version="1.0.0",
        status=status,
        latency_ms=12.5,
        unresolved=unresolved or [],
        fired=fired if fired is not None else [
            {"rule": c.meta.rule, "facts": ["f1"]}
            for c in cards
        ],
        cards=[
            CardRecord(
                uuid=c.uuid,
                rule_id=c.meta.rule,
                indicator=c.indicator,
                summary=c.summary,
                problem=c.meta.problem,
            )
            for c in cards
        ],
    )


def overridden(card_uuid: str, reason: str | None = None, when: datetime = NOW,
               comment: str | None = None) -> Feedback:
    body: dict[str, Any] = {"card": card_uuid, "outcome": "overridden",
                            "outcomeTimestamp": when.isoformat()}
    if reason is not None or comment is not None:
        body["overrideReason"] = {}
        if reason is not None:
            body["overrideReason"]["reason"] = {"system": REASON_SYSTEM, "code": reason,
                                                "display": reason.replace("-", " ")}
        if comment is not None:
            body["overrideReason"]["userComment"] = comment
    return Feedback.model_validate(body)


def accepted(card_uuid: str, suggestion: str = "s1", when: datetime = NOW) -> Feedback:
    return Feedback.model_validate({
        "card": card_uuid, "outcome": "accepted", "acceptedSuggestions": [{"id": suggestion}],
        "outcomeTimestamp": when.isoformat(),
    })
