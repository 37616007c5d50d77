"""Prometheus metrics: one `Metrics` object (with its own registry) per app.

A registry per app keeps two apps in one process (tests, several workers in one
interpreter) from colliding over global series. Labels are bounded on purpose: rule ids,
service ids from the pack, card indicators, error reasons from cds/errors.py. Patient
ids, hook instances and card uuids never become labels.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response


class ObservedCard(Protocol):
    """What the metrics read of a card that went out (a `cds.store.interfaces.CardRecord`)."""

    @property
    def rule_id(self) -> str: ...
    @property
    def indicator(self) -> str: ...


class ObservedCall(Protocol):
    """What the metrics read of one hook call (a `cds.store.interfaces.AuditRecord`, which
    lives in a layer above this module)."""

    @property
    def service_id(self) -> str: ...
    @property
    def status(self) -> int: ...
    @property
    def latency_ms(self) -> float: ...
    @property
    def cards(self) -> Sequence[ObservedCard]: ...
    @property
    def template_errors(self) -> Sequence[str]: ...
    @property
    def unresolved(self) -> Sequence[tuple[str, str, str]]: ...

# The spec asks for answers "on the order of 500 ms"; buckets resolve around that.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
AUTH_FAILURE_REASON = "unauthorized"


class Metrics:
    """Every series the service exposes on /metrics."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        reg = self.registry
        self.hook_latency = Histogram(
            "cds_hook_latency_seconds", "Hook call latency as audited, per service",
            ["service"], buckets=LATENCY_BUCKETS, registry=reg,
        )
        self.hook_calls = Counter(
            "cds_hook_calls", "Audited hook calls per service and HTTP status",
            ["service", "status"], registry=reg,
        )
        self.cards = Counter(
            "cds_cards", "Cards sent to EHRs per rule and indicator",
            ["rule", "indicator"], registry=reg,
        )
        self.template_errors = Counter(
            "cds_template_errors", "Cards whose templates failed while rendering (sent with "
            "the rule's title only), per rule", ["rule"], registry=reg,
        )
        self.cards_suppressed = Counter(
            "cds_cards_suppressed", "Cards held back after a recent override, per rule",
            ["rule"], registry=reg,
        )
        self.feedback = Counter(
            "cds_feedback", "Feedback outcomes per rule", ["rule", "outcome"], registry=reg,
        )
        self.errors = Counter(
            "cds_errors", "Error responses by reason", ["kind"], registry=reg,
        )
        # One series per distinct code: bounded by the codes EHRs send that the pack lacks,
        # which an informaticist adds (or imports) once they show up here.
        self.unresolved_codes = Counter(
            "cds_unresolved_medication_codes",
            "Medication codes (current or ordered) the pack could not resolve to ingredients",
            ["system", "code"], registry=reg,
        )
        self.auth_failures = Counter(
            "cds_auth_failures", "Requests refused for a missing or invalid JWT", registry=reg,
        )
        self.audit_writes = Counter(
            "cds_audit_writes", "Audit records written, failed or dropped (queue full)",
            ["result"], registry=reg,
        )
        self.audit_queue_depth = Gauge(
            "cds_audit_queue_depth", "Audit records waiting to be written", registry=reg,
        )
        self.rule_pack = Info("cds_rule_pack", "The rule pack serving calls", registry=reg)
        for result in ("ok", "failed", "dropped"):
            self.audit_writes.labels(result=result)

    # --- observations ------------------------------------------------------------------

    def observe_call(self, record: ObservedCall) -> None:
        """One audited hook call: latency, status and the cards that went out."""
        self.hook_latency.labels(service=record.service_id).observe(record.latency_ms / 1000.0)
        self.hook_calls.labels(service=record.service_id, status=str(record.status)).inc()
        for card in record.cards:
            self.cards.labels(rule=card.rule_id or "-", indicator=card.indicator).inc()
        for rule in record.template_errors:
            self.template_errors.labels(rule=rule).inc()
        for system, code, _display in record.unresolved:
            self.unresolved_codes.labels(system=system, code=code).inc()

    def observe_error(self, reason: str) -> None:
        self.errors.labels(kind=reason).inc()
        if reason == AUTH_FAILURE_REASON:
            self.auth_failures.inc()

    def track_queue_depth(self, depth: Callable[[], int]) -> None:
        """Read the audit queue depth at scrape time rather than on every change."""
        self.audit_queue_depth.set_function(lambda: float(depth()))

    def set_rule_pack(self, name: str | None, version: str | None) -> None:
        self.rule_pack.info({"name": name or "", "version": version or ""})

    # --- exposition --------------------------------------------------------------------

    def render(self) -> bytes:
        """The Prometheus text exposition of this app's registry."""
        return generate_latest(self.registry)


def metrics_endpoint(
    metrics: Metrics, current_pack: Callable[[], Any]
) -> Callable[[Request], Awaitable[Response]]:
    """The GET /metrics handler: the pack serving now, then the exposition."""

    async def endpoint(_request: Request) -> Response:
        pack = current_pack()
        if pack is not None:
            metrics.set_rule_pack(getattr(pack, "name", None), getattr(pack, "version", None))
        return Response(metrics.render(), media_type=metrics.content_type)

    return endpoint
