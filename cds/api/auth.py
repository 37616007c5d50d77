"""Applying the CDS Hooks JWT check to a route, and the audience it must carry."""

from __future__ import annotations

from fastapi import Request

from cds.api.runtime import Runtime


def audience_for(request: Request, runtime: Runtime) -> str:
    """The URL the EHR called: `aud` must equal it (configured base URL wins over Host)."""
    base = runtime.settings.public_base_url
    if base:
        return base.rstrip("/") + request.url.path
    return str(request.url.replace(query=None, fragment=None))


async def authenticate(request: Request, runtime: Runtime) -> None:
    if runtime.authenticator is None:
        return
    claims = await runtime.authenticator.verify(
        request.headers.get("authorization"), audience_for(request, runtime)
    )
    request.state.jwt_issuer = claims.get("iss")
