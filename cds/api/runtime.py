"""What the routes need at run time, built once by the app factory and kept on app.state."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from fastapi import Request

from cds.api.blocking import BlockingGate
from cds.hooks.services import ServiceCatalogue
from cds.settings import Settings
from cds.store.interfaces import AuditSink, FeedbackSink, Suppressor

if TYPE_CHECKING:
    from cds.fhir.collect import PatientData
    from cds.fhir.connections import FhirConnections
    from cds.pipeline import CardFilter, Evaluation


class ActivePack(Protocol):
    """The rule pack currently serving: its services and its evaluator."""

    @property
    def services(self) -> ServiceCatalogue: ...

    @property
    def version(self) -> str: ...

    def evaluate(self, data: PatientData, now: datetime, card_policy: None = None,
                 keep: CardFilter | None = None) -> Evaluation: ...


class PackSource(Protocol):
    def current(self) -> ActivePack | None: ...


class Authenticator(Protocol):
    async def verify(self, authorization: str | None, audience: str) -> dict[str, Any]: ...


@dataclass
class Runtime:
    settings: Settings
    packs: PackSource
    audit: AuditSink
    feedback: FeedbackSink
    suppressor: Suppressor
    fhir: FhirConnections
    """The FHIR-server connections prefetch resolution borrows for keys the EHR left out."""
    authenticator: Authenticator | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    """"Now" for rule evaluation (lookbacks, ages); replaced to replay a pinned moment."""
    store_gate: BlockingGate = field(default_factory=lambda: BlockingGate(8, 3.0))
    """Feedback waits for the database through this: bounded, with a deadline."""
    readiness_gates: dict[str, BlockingGate] = field(default_factory=dict)
    """Per readiness check: one probe at a time; a probe still hanging means not ready."""


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime
