"""GET /cds-services: the services of the active rule pack (public, as the spec allows)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cds.api.errors import json_response
from cds.api.openapi import Services, responses
from cds.api.runtime import runtime_of

router = APIRouter()


@router.get("/cds-services", responses=responses(Services, 500))
async def discovery(request: Request) -> Response:
    pack = runtime_of(request).packs.current()
    services = pack.services.services if pack is not None else []
    return json_response(
        {"services": [s.descriptor().model_dump(mode="json") for s in services]}
    )
