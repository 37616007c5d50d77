"""One place where errors become HTTP responses: a JSON body, never a traceback."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from cds.errors import CDSError, InvalidRequest

log = logging.getLogger("cds.api")


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        content=orjson.dumps(body), status_code=status, media_type="application/json",
        headers=headers,
    )


def validation_details(exc: ValidationError | RequestValidationError, prefix: str = "") -> list:
    """Pydantic errors as `{"path": "context.patientId", "message": ...}` entries."""
    details = []
    for err in exc.errors():
        path = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        if prefix:
            path = f"{prefix}.{path}" if path else prefix
        details.append({"path": path or "(body)", "message": err.get("msg", "invalid")})
    return details


def invalid_request(exc: ValidationError, what: str, prefix: str = "") -> InvalidRequest:
    details = validation_details(exc, prefix)
    first = details[0] if details else {"path": "(body)", "message": "invalid"}
    return InvalidRequest(f"{what}: {first['path']}: {first['message']}", details)


async def _cds_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CDSError)
    request.state.error_reason = exc.reason
    headers = getattr(exc, "headers", None)
    return json_response(exc.body(), exc.status, headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    reason = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
    request.state.error_reason = reason
    return json_response(
        {"error": reason, "message": str(exc.detail)}, exc.status_code, exc.headers,
    )


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    error = InvalidRequest("request is invalid", validation_details(exc))
    return await _cds_error(request, error)


async def _unexpected(request: Request, exc: Exception) -> Response:
    request.state.error_reason = "internal-error"
    log.error("unhandled error on %s %s: %s", request.method, request.url.path,
              type(exc).__name__, exc_info=exc)
    return json_response(
        {"error": "internal-error", "message": "the service failed to process the request"},
        500,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(CDSError, _cds_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
