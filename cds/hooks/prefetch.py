"""Prefetch resolution: use what the EHR sent, fetch only the missing keys, within a deadline.

CDS Hooks 2.0 semantics of `request.prefetch[key]`:
- present with a resource or Bundle: used as is (an OperationOutcome stays; the collector
  turns it into a note);
- present and null: the EHR has no such data — used as is, never refetched;
- absent: the EHR did not fill it. The service renders the template and fetches it from
  `fhirServer` (if that server is allow-listed), all missing keys concurrently under ONE
  deadline (`fhir_deadline_ms`) that holds however many calls run at once: the HTTP
  client is shared (`cds.fhir.connections`), so a call builds nothing before its
  requests go out. What arrives in time is used; the rest becomes notes, as does an answer
  over `fhir_max_response_bytes`.

A required key that is absent with no usable `fhirServer` is a 412 (the spec's "unable to
obtain required data"). A required key the FHIR server failed to deliver is not: the call
goes on with partial data and a note that says what could not be loaded.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

from cds.errors import PrefetchUnavailable
from cds.fhir.client import FetchResult, UrlPolicy
from cds.hooks.models import HookRequest
from cds.notes import DataNote
from cds.settings import Settings

log = logging.getLogger("cds.prefetch")

NOTE_KIND = "prefetch-error"
SOFT_DEADLINE_SHARE = 0.85
_TOKEN = re.compile(r"\{\{\s*([A-Za-z][A-Za-z0-9_.]*)\s*\}\}")
_RESOURCE_TYPE = re.compile(r"/?([A-Z][A-Za-z]*)(?:[/?]|$)")
_USER_TOKENS = {
    "Practitioner": "userPractitionerId",
    "PractitionerRole": "userPractitionerRoleId",
    "Patient": "userPatientId",
    "RelatedPerson": "userRelatedPersonId",
}
# Characters kept verbatim when a context value is put into a query: enough for ids,
# references (Patient/1) and token values (system|code); never ?, &, # or spaces.
_SAFE = "/:|-._~"


class FhirFetcher(Protocol):
    async def fetch(
        self, key: str, relative: str, deadline: float | None = None, *, resource_type: str = "-"
    ) -> FetchResult: ...


ClientFactory = Callable[[str, str | None, Settings], FhirFetcher]


@dataclass
class ResolvedPrefetch:
    prefetch: dict[str, Any]
    notes: list[DataNote] = field(default_factory=list)
    fetched: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def user_tokens(user_id: Any) -> dict[str, str]:
    """`context.userId` ("Practitioner/123") -> {"userPractitionerId": "123"}."""
    if not isinstance(user_id, str) or user_id.count("/") != 1:
        return {}
    resource_type, _, ident = user_id.partition("/")
    token = _USER_TOKENS.get(resource_type)
    return {token: ident} if token and ident else {}


def _token_values(context: Mapping[str, Any], user: Mapping[str, str] | None) -> dict[str, str]:
    values = {
        f"context.{name}": str(value).lower() if isinstance(value, bool) else str(value)
        for name, value in context.items()
        if isinstance(value, str | int | float | bool)
    }
    values.update(user if user is not None else user_tokens(context.get("userId")))
    return values


def render_template(template: str, values: Mapping[str, str]) -> str | None:
    """The template with every token replaced (values percent-encoded), or None when a
    token has no value (unknown, nested or non-primitive context field)."""
    missing = False

    def replace(match: re.Match[str]) -> str:
        nonlocal missing
        value = values.get(match.group(1))
        if value is None:
            missing = True
            return ""
        return quote(value, safe=_SAFE)

    rendered = _TOKEN.sub(replace, template)
    return None if missing else rendered


def render_prefetch(
    templates: Mapping[str, str],
    context: Mapping[str, Any],
    user: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Render each template; keys whose tokens cannot all be filled are left out.

    `user` overrides the user tokens derived from `context.userId`.
    """
    values = _token_values(context, user)
    rendered = {key: render_template(t, values) for key, t in templates.items()}
    return {key: query for key, query in rendered.items() if query is not None}


def _query_type(template: str) -> str:
    """The resource type a template queries ("Observation?patient=..." -> "Observation"),
    read from the service's template, never from the request, so it can go into logs and
    notes; "FHIR" when the template does not start with one."""
    match = _RESOURCE_TYPE.match(template)
    return match.group(1) if match else "FHIR"


def _size(n: int) -> str:
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} bytes"


def _note(message: str) -> DataNote:
    return DataNote(kind=NOTE_KIND, message=message)


def _unavailable(keys: list[str], why: str) -> PrefetchUnavailable:
    return PrefetchUnavailable(
        f"required prefetch data missing: {', '.join(keys)} ({why})",
        details=[{"key": k} for k in keys],
    )


async def resolve_prefetch(
    request: HookRequest,
    templates: Mapping[str, str],
    required: list[str],
    settings: Settings,
    client_factory: ClientFactory,
) -> ResolvedPrefetch:
    """The prefetch the evaluation runs on. Raises PrefetchUnavailable (412) only when a
    required key is absent and no allow-listed `fhirServer` could provide it.

    `client_factory` gives the FHIR client for the call's server and token; the app's is
    `FhirConnections.client`, one shared connection pool."""
    sent = dict(request.prefetch or {})
    resolved = ResolvedPrefetch(prefetch=sent)
    missing = [key for key in templates if key not in sent]
    if not missing:
        return resolved
    required_missing = [key for key in missing if key in required]
    server = request.fhirServer
    if not server or not UrlPolicy.from_settings(settings).permits(server):
        why = "no fhirServer given" if not server else "fhirServer is not on the allow-list"
        if required_missing:
            raise _unavailable(required_missing, why)
        resolved.notes.extend(_note(f"prefetch '{k}' was not provided ({why})") for k in missing)
        return resolved

    queries = render_prefetch({k: templates[k] for k in missing}, request.context)
    unrenderable = [key for key in missing if key not in queries]
    if any(key in required for key in unrenderable):
        raise _unavailable([k for k in unrenderable if k in required], "context lacks a token")
    resolved.notes.extend(
        _note(f"prefetch '{k}' could not be built from the hook context") for k in unrenderable
    )
    if not queries:
        return resolved
    token = request.fhirAuthorization.access_token if request.fhirAuthorization else None
    types = {key: _query_type(templates[key]) for key in queries}
    started = time.monotonic()  # the deadline includes getting the client
    client = client_factory(server, token, settings)
    await _fetch_all(client, queries, types, started, settings, resolved)
    return resolved


async def _fetch_all(
    client: FhirFetcher,
    queries: dict[str, str],
    types: dict[str, str],
    started: float,
    settings: Settings,
    out: ResolvedPrefetch,
) -> None:
    deadline = settings.fhir_deadline_ms / 1000
    # Requests stop a little before the deadline so that pages already received come back
    # as partial results; the hard deadline below cancels whatever is still running.
    soft_deadline = started + deadline * SOFT_DEADLINE_SHARE
    tasks = {
        asyncio.ensure_future(
            client.fetch(key, query, soft_deadline, resource_type=types[key])
        ): key
        for key, query in queries.items()
    }
    try:
        _done, pending = await asyncio.wait(
            tasks, timeout=max(started + deadline - time.monotonic(), 0)
        )
    finally:  # also when this call itself is cancelled: leave no request running
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task, key in tasks.items():
        if task in pending:
            result = FetchResult(key, ok=False, reason="timeout")
        elif task.exception() is not None:
            log.error("prefetch fetch of %s failed: %s", key, type(task.exception()).__name__)
            result = FetchResult(key, ok=False, reason="client-error")
        else:
            result = task.result()
        _record(result, out, types[key], settings)
    log.info(
        "prefetch fallback: fetched=%s failed=%s ms=%.0f",
        ",".join(out.fetched) or "-", ",".join(out.failed) or "-",
        (time.monotonic() - started) * 1000,
    )


def _record(
    result: FetchResult, out: ResolvedPrefetch, resource_type: str, settings: Settings
) -> None:
    over_limit = f"{resource_type} answer over the {_size(settings.fhir_max_response_bytes)} limit"
    if not result.ok:
        out.failed.append(result.key)
        if result.reason == "timeout":
            why = f"did not arrive from the FHIR server within {settings.fhir_deadline_ms} ms"
        else:
            reason = over_limit if result.reason == "too-large" else result.reason
            why = f"could not be loaded from the FHIR server ({reason})"
        out.notes.append(_note(f"prefetch '{result.key}' {why}"))
        return
    out.prefetch[result.key] = result.resource
    out.fetched.append(result.key)
    for warning in result.warnings:
        reason = over_limit if warning == "next-page-too-large" else warning
        out.notes.append(_note(f"prefetch '{result.key}' is incomplete ({reason})"))
