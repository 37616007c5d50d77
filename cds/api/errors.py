"""One place where errors become HTTP responses: a JSON body, never a traceback.

Errors of the service's tree (cds/errors.py) and Starlette's HTTP errors become their 4xx;
any other exception becomes a 500 `internal-error`, its traceback logged once (with the
call's hookInstance) and never sent.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cds.errors import CDSError, InvalidRequest

log = logging.getLogger("cds.api")


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None
                  ) -> Response:
    return Response(
        content=orjson.dumps(body), status_code=status, media_type="application/json",
        headers=dict(headers) if headers is not None else None,
    )


def validation_details(exc: ValidationError | RequestValidationError, prefix: str = ""
                       ) -> list[dict[str, str]]:
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


def _log_unexpected(method: str, path: str, exc: Exception) -> None:
    log.error("unhandled error on %s %s: %s", method, path, type(exc).__name__, exc_info=exc)


def _internal_error() -> Response:
    return json_response(
        {"error": "internal-error", "message": "the service failed to process the request"},
        500,
    )


async def _unexpected(request: Request, exc: Exception) -> Response:
    """Last resort for an exception raised outside `UnexpectedErrorMiddleware`."""
    request.state.error_reason = "internal-error"
    _log_unexpected(request.method, request.url.path, exc)
    return _internal_error()


class UnexpectedErrorMiddleware:
    """Answers an exception no handler took with the 500 body, inside the request's scope.

    Starlette's own last-resort handler (`_unexpected` here) runs outside every middleware
    and then re-raises, so the server logged the traceback a second time, the access log
    saw no reason, and the call's log fields were gone by then. Added innermost, this one
    answers first: the access log and the error counter see `internal-error`, and the
    traceback is logged once, with the call's hookInstance.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            if started:  # too late for an answer: the server ends the connection
                raise
            scope.setdefault("state", {})["error_reason"] = "internal-error"
            _log_unexpected(scope["method"], scope["path"], exc)
            await _internal_error()(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(CDSError, _cds_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
