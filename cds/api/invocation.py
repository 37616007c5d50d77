"""POST /cds-services/{id}: validate the call, resolve prefetch, evaluate, answer cards.

The route renders nothing clinical: it hands the parsed request to the evaluation pipeline
and applies suppression and audit around it.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from cds.api.auth import authenticate
from cds.api.body import read_json_body
from cds.api.errors import invalid_request
from cds.api.openapi import request_body, responses
from cds.api.runtime import ActivePack, Runtime, runtime_of
from cds.errors import CDSError, HookMismatch, InvalidRequest, UnknownService
from cds.fhir.collect import collect, draft_orders
from cds.hooks.models import Card, HookRequest, HookResponse
from cds.hooks.prefetch import resolve_prefetch
from cds.hooks.services import ServiceDefinition
from cds.logs import bind_call
from cds.notes import DataNote
from cds.store.interfaces import AuditRecord, CardRecord, Suppressor

if TYPE_CHECKING:
    from cds.pipeline import CardFilter

router = APIRouter()
PACK_VERSION_HEADER = "X-CDS-Pack-Version"  # which pack answered: a rollout can be watched
log = logging.getLogger("cds.api")


def parse_hook_request(body: Any, service: ServiceDefinition) -> HookRequest:
    """The body as a HookRequest whose hook and context match the service."""
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object")
    try:
        hook_request = HookRequest.model_validate(body)
    except ValidationError as exc:
        raise invalid_request(exc, "invalid CDS Hooks request") from exc
    if hook_request.hook != service.hook:
        raise HookMismatch(
            f"service {service.id!r} answers the {service.hook!r} hook, "
            f"not {hook_request.hook!r}"
        )
    try:
        hook_request.typed_context()
    except ValidationError as exc:
        raise invalid_request(exc, f"invalid context for {hook_request.hook}", "context") from exc
    return hook_request


def _service(pack: ActivePack | None, service_id: str) -> ServiceDefinition:
    service = pack.services.get(service_id) if pack is not None else None
    if service is None:
        raise UnknownService(f"no CDS service with id {service_id!r}")
    return service


def _card_records(cards: list[Card]) -> list[CardRecord]:
    return [CardRecord(uuid=card.uuid, rule_id=card.meta.rule, indicator=card.indicator,
                       summary=card.summary, problem=card.meta.problem) for card in cards]


@router.post(
    "/cds-services/{service_id}",
    openapi_extra=request_body(HookRequest),
    responses=responses(HookResponse, 400, 401, 404, 412, 413, 415, 500),
)
async def invoke(service_id: str, request: Request) -> Response:
    runtime = runtime_of(request)
    started = time.perf_counter()
    pack = runtime.packs.current()
    service = _service(pack, service_id)
    assert pack is not None
    bind_call(service=service.id)
    await authenticate(request, runtime)
    body = await read_json_body(request, runtime.settings.max_body_bytes)
    hook_request = parse_hook_request(body, service)
    bind_call(hookInstance=str(hook_request.hookInstance))
    try:
        response = await _evaluate(runtime, pack, service, hook_request, started)
    except CDSError as exc:
        _audit(runtime, pack, service, hook_request, started, exc.status, error=exc.reason)
        raise
    return response


async def _evaluate(
    runtime: Runtime,
    pack: ActivePack,
    service: ServiceDefinition,
    hook_request: HookRequest,
    started: float,
) -> Response:
    drafts = draft_orders(hook_request.hook, hook_request.context)
    prefetch: dict[str, Any] | None = None
    fetch_notes: list[DataNote] = []
    if not drafts.nothing_to_check:  # an order still being entered needs no patient data
        resolved = await resolve_prefetch(
            hook_request, service.prefetch, service.required_prefetch, runtime.settings,
            runtime.fhir.client,
        )
        prefetch, fetch_notes = resolved.prefetch, resolved.notes
    data = collect(prefetch, hook_request.context, hook_request.hook, service.id, drafts=drafts)
    data.notes.extend(fetch_notes)
    now = runtime.clock()
    evaluation = pack.evaluate(data, now, keep=_suppression(runtime.suppressor,
                                                             data.patient_id, now))
    cards = evaluation.cards
    _audit(runtime, pack, service, hook_request, started, 200, evaluation=evaluation,
           cards=cards)
    return Response(content=HookResponse(cards=cards).to_bytes(), media_type="application/json",
                    headers={PACK_VERSION_HEADER: pack.version})


def _suppression(suppressor: Suppressor, patient_id: str | None, now: datetime) -> CardFilter:
    """Drop the patient's overridden cards; say so when overrides cannot be read."""
    def keep(cards: list[Card]) -> tuple[list[Card], list[DataNote]]:
        kept = suppressor.filter(patient_id, cards, now)
        unavailable, since = suppressor.unavailable_since()
        if not unavailable:
            return kept, []
        when = f"since {since:%Y-%m-%d %H:%M} UTC" if since is not None else "for this call"
        return kept, [DataNote(
            "suppression-unavailable",
            f"Dismissed cards could not be checked {when}: a card dismissed since then may "
            "show again.")]
    return keep


def _audit(
    runtime: Runtime,
    pack: ActivePack,
    service: ServiceDefinition,
    hook_request: HookRequest,
    started: float,
    status: int,
    *,
    evaluation: Any = None,
    cards: list[Any] | None = None,
    error: str | None = None,
) -> None:
    fired = []
    notes: list[str] = []
    if evaluation is not None:
        fired = [match.audit_entry() for match in evaluation.matches]
        notes = [note.message for note in evaluation.notes]
    record = AuditRecord(
        time=datetime.now(UTC),
        service_id=service.id,
        hook=hook_request.hook,
        hook_instance=str(hook_request.hookInstance),
        patient_id=hook_request.context.get("patientId"),
        pack_version=pack.version,
        status=status,
        latency_ms=(time.perf_counter() - started) * 1000.0,
        fired=fired,
        cards=_card_records(cards or []),
        notes=notes,
        error=error,
        unresolved=evaluation.unresolved if evaluation is not None else [],
        left_out=evaluation.left_out if evaluation is not None else [],
        template_errors=evaluation.template_errors if evaluation is not None else [],
    )
    try:
        runtime.audit.record(record)
    except Exception:  # the audit trail must never fail a hook call
        log.exception("audit record could not be queued")
