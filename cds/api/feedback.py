"""POST /cds-services/{id}/feedback: validated per spec and handed to the feedback sink."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from cds.api.auth import authenticate
from cds.api.body import read_json_body
from cds.api.errors import invalid_request, json_response
from cds.api.openapi import FeedbackReceipt, request_body, responses
from cds.api.runtime import runtime_of
from cds.errors import InvalidRequest, UnknownService
from cds.hooks.models import FeedbackRequest
from cds.logs import bind_call

router = APIRouter()


@router.post(
    "/cds-services/{service_id}/feedback",
    openapi_extra=request_body(FeedbackRequest),
    responses=responses(FeedbackReceipt, 400, 401, 404, 413, 415, 500, 503),
)
async def feedback(service_id: str, request: Request) -> Response:
    runtime = runtime_of(request)
    pack = runtime.packs.current()
    if pack is None or pack.services.get(service_id) is None:
        raise UnknownService(f"no CDS service with id {service_id!r}")
    bind_call(service=service_id)
    await authenticate(request, runtime)
    body = await read_json_body(request, runtime.settings.max_body_bytes)
    if not isinstance(body, dict):
        raise InvalidRequest("feedback body must be a JSON object with a `feedback` array")
    try:
        parsed = FeedbackRequest.model_validate(body)
    except ValidationError as exc:
        raise invalid_request(exc, "invalid feedback") from exc
    # Database I/O (and a short wait for a card's audit record): off the loop, with a deadline.
    await runtime.store_gate.run(
        "feedback", lambda: runtime.feedback.record_feedback(service_id, parsed.feedback))
    return json_response({"status": "ok", "received": len(parsed.feedback)})
