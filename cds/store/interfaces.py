"""What the web layer needs from the store: small protocols with an in-memory implementation.

The SQL store (SQLite by default, PostgreSQL by URL) implements the same protocols.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from cds.hooks.models import Card, Feedback


@dataclass(frozen=True)
class CardRecord:
    """One card as the audit trail keeps it: enough to answer feedback and suppress."""

    uuid: str
    rule_id: str
    indicator: str
    summary: str
    problem: str | None = None


@dataclass(frozen=True)
class AuditRecord:
    """One hook call. No tokens, no payloads; the patient id is pseudonymised by the store."""

    time: datetime
    service_id: str
    hook: str
    hook_instance: str
    patient_id: str | None
    pack_version: str
    status: int
    latency_ms: float
    fired: list[dict[str, Any]] = field(default_factory=list)  # {"rule": id, "facts": [ids]}
    cards: list[CardRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    # medication codes no ingredient was known for: (system, code, display), no patient data
    unresolved: list[tuple[str, str, str]] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)  # rules whose cards the budget held back
    template_errors: list[str] = field(default_factory=list)  # rules whose templates failed


class AuditSink(Protocol):
    def record(self, record: AuditRecord) -> None:
        """Queue a record; must not block the caller on I/O."""


class FeedbackSink(Protocol):
    def record_feedback(self, service_id: str, items: list[Feedback]) -> None:
        """Store feedback; raises cds.errors.UnknownCard for a card uuid never issued."""


class Suppressor(Protocol):
    def filter(self, patient_id: str | None, cards: list[Card], now: datetime) -> list[Card]:
        """Drop cards whose rule was overridden for this patient within its window."""

    def unavailable_since(self) -> tuple[bool, datetime | None]:
        """(True, when overrides were last read) while suppression cannot see them."""


class MemoryStore:
    """In-memory audit + feedback + no suppression: used when no store is configured."""

    def __init__(self) -> None:
        self.audits: list[AuditRecord] = []
        self.feedback: list[tuple[str, Feedback]] = []

    def record(self, record: AuditRecord) -> None:
        self.audits.append(record)

    def record_feedback(self, service_id: str, items: list[Feedback]) -> None:
        self.feedback.extend((service_id, item) for item in items)

    def filter(self, patient_id: str | None, cards: list[Card], now: datetime) -> list[Card]:
        del patient_id, now  # the protocol's signature; nothing is suppressed in memory
        return cards

    def unavailable_since(self) -> tuple[bool, datetime | None]:
        return False, None
