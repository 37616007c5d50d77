"""Reading a JSON request body safely: media type checked, size capped while streaming."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from starlette.requests import ClientDisconnect

from cds.errors import ClientClosedRequest, MalformedJSON, PayloadTooLarge, UnsupportedMediaType

_JSON_TYPES = ("application/json", "application/fhir+json")


def _check_media_type(request: Request) -> None:
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type not in _JSON_TYPES:
        shown = media_type or "none"
        raise UnsupportedMediaType(
            f"Content-Type must be application/json (got {shown})",
        )


async def read_json_body(request: Request, limit: int) -> Any:
    """Return the parsed body; raise a 4xx error for a wrong type, oversize or bad JSON.

    The size limit is enforced on the declared Content-Length and again while the body
    streams in, so an oversized chunked upload is cut off without being buffered whole.
    A client that hangs up before its body has arrived is a ClientClosedRequest (499).
    """
    _check_media_type(request)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
    raw = await _read_capped(request, limit)
    if not raw.strip():
        raise MalformedJSON("request body is empty; a JSON object is required")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedJSON(f"request body is not valid JSON: {exc}") from exc


async def _read_capped(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect as exc:
        raise ClientClosedRequest(
            f"the client closed the connection after {received} bytes of the body"
        ) from exc
    return b"".join(chunks)
