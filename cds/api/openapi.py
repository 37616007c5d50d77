"""The OpenAPI description of the routes: bodies from the wire models, the real error statuses.

The hook and feedback routes read their bodies themselves (cds/api/body.py: media type,
size cap while streaming, one error shape), so FastAPI cannot see what they accept. Each
route declares it here instead: `openapi_extra=request_body(Model)` for the request,
`responses=responses(Model, *statuses)` for the answers. The models named in request
bodies are added to the document's components by `install_openapi`.

Declaring a `default` answer also keeps FastAPI from listing the 422 it adds to routes with
parameters: the service never answers 422 (a bad body is a 400 with field paths).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI
from pydantic import BaseModel, Field
from pydantic.json_schema import models_json_schema

from cds.hooks.models import ServiceDescriptor

REF = "#/components/schemas/{model}"
JSON_TYPES = ("application/json", "application/fhir+json")


class ErrorBody(BaseModel):
    """Every error the service answers (cds/errors.py)."""

    error: str = Field(description="Machine-readable reason, e.g. `invalid-request`.")
    message: str = Field(description="What went wrong, for a person.")
    details: list[dict[str, Any]] | None = Field(
        default=None,
        description="Structured extras: field paths (`path`, `message`), prefetch keys "
        "(`key`) or card ids (`card`).",
    )


class Services(BaseModel):
    """Discovery: the services of the active rule pack."""

    services: list[ServiceDescriptor]


class FeedbackReceipt(BaseModel):
    status: Literal["ok"]
    received: int = Field(description="How many feedback items were stored.")


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "not-ready"]
    checks: dict[str, bool] = Field(description="Each readiness check: the rule pack, the store.")
    packVersion: str | None = None


ERRORS: dict[int, str] = {
    400: "Malformed JSON (`malformed-json`), a body that is not a valid request "
    "(`invalid-request`, field paths in `details`), or a hook the service does not answer "
    "(`hook-mismatch`).",
    401: "Missing or invalid CDS Hooks JWT (`unauthorized`, with WWW-Authenticate).",
    404: "No such service (`unknown-service`), or feedback for a card this service did not "
    "issue (`unknown-card`).",
    408: "The request head did not arrive within CDS_HEADER_TIMEOUT_MS of its first byte "
    "(`request-timeout`); the connection is closed.",
    412: "Required prefetch missing and no usable fhirServer (`prefetch-unavailable`).",
    413: "Body over CDS_MAX_BODY_BYTES (`payload-too-large`).",
    414: "Request target over CDS_MAX_HEADER_LINE_BYTES (`uri-too-long`), answered before "
    "the request is read further.",
    415: "Content-Type is not application/json (`unsupported-media-type`).",
    431: "A header field over CDS_MAX_HEADER_LINE_BYTES, or the head (request line and "
    "header fields) over CDS_MAX_HEADER_BYTES (`header-fields-too-large`), answered before "
    "the request is read further.",
    500: "The service failed (`internal-error`); the body never carries a traceback.",
    503: "Readiness: no rule pack loaded or the store unreachable. Feedback: the store cannot "
    "take it now, or the card's audit record is still on its way (`store-unavailable`, with "
    "Retry-After); the same feedback may be sent again.",
}

HEAD_LIMITS = (408, 414, 431)  # every route: the HTTP protocol answers these before routing


def responses(model: type[BaseModel], *statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: 200 with `model`, each of `statuses`, and `default`."""
    declared: dict[int | str, dict[str, Any]] = {200: {"model": model}}
    for status in sorted({*statuses, *HEAD_LIMITS}):
        declared[status] = {"model": ErrorBody, "description": ERRORS[status]}
    declared["default"] = {"model": ErrorBody, "description": "Any other error."}
    return declared


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra=` for a route that reads a JSON body of `model` itself."""
    schema = {"$ref": REF.format(model=model.__name__)}
    return {"requestBody": {
        "required": True,
        "content": {media_type: {"schema": schema} for media_type in JSON_TYPES},
    }}


def install_openapi(app: FastAPI, request_models: tuple[type[BaseModel], ...]) -> None:
    """Build /openapi.json as FastAPI does, plus the schemas of `request_models`.

    The app must be built with `separate_input_output_schemas=False`: a wire model's
    serializer only leaves out empty optional fields, so its validated shape describes what
    is sent too, and each model then has one schema, whether FastAPI or this adds it.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            _, extra = models_json_schema(
                [(model, "validation") for model in request_models], ref_template=REF)
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for name, schema in extra.get("$defs", {}).items():
                schema = _without_none(schema)
                if schemas.setdefault(name, schema) != schema:
                    raise RuntimeError(f"two different OpenAPI schemas are named {name}")
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override


def _without_none(value: Any) -> Any:
    """A schema as FastAPI renders its own (`exclude_none`), so that the two compare equal."""
    if isinstance(value, dict):
        return {key: _without_none(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_none(item) for item in value]
    return value
