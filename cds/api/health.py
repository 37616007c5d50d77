"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cds.api.blocking import BlockingGate
from cds.api.errors import json_response
from cds.api.openapi import ERRORS, Health, Readiness, responses
from cds.api.runtime import runtime_of

router = APIRouter()


@router.get("/healthz", responses=responses(Health))
async def healthz() -> Response:
    """Alive: the process answers HTTP."""
    return json_response({"status": "ok"})


@router.get("/readyz", responses={
    **responses(Readiness), 503: {"model": Readiness, "description": ERRORS[503]},
})
async def readyz(request: Request) -> Response:
    """Ready: a rule pack is loaded (and every readiness check registered by the store)."""
    runtime = runtime_of(request)
    pack = runtime.packs.current()
    checks: dict[str, bool] = {"rules": pack is not None}
    for name, check in runtime.extras.get("readiness", {}).items():
        try:
            gate = runtime.readiness_gates.setdefault(name, BlockingGate(1, 1.0, queue=False))
            checks[name] = bool(await gate.run(f"readiness of {name}", check))
        except Exception:  # a failing or hanging probe means not ready, never a 500
            checks[name] = False
    ready = all(checks.values())
    body: dict[str, object] = {"status": "ready" if ready else "not-ready", "checks": checks}
    if pack is not None:
        body["packVersion"] = pack.version
    return json_response(body, 200 if ready else 503)
