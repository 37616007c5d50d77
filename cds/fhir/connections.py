"""The one HTTP client the FHIR fallback uses: shared by every call, built on first use,
closed with the app.

Building an `httpx.AsyncClient` costs about 25 ms of CPU (its TLS context) on the event loop,
and a new client opens new connections: built per call, that cost would come out of every
concurrent call's deadline. Shared, calls reuse warm keep-alive connections. Nothing of a
call lives on the shared client: the EHR's access token goes in each request's headers, and
the cookie jar refuses every cookie, so nothing a FHIR server sets for one call (one
patient, one user) is sent with another.

Importing this module also keeps URLs, headers and tokens out of httpx's and httpcore's log
lines (see `_redact_http_logs`).
"""

from __future__ import annotations

import logging
from http.cookiejar import CookieJar, CookiePolicy
from typing import Any

import httpx

from cds.fhir.client import FhirClient
from cds.settings import Settings

# Keep-alive connections kept open across calls, and how long an idle one is kept: about
# one busy EHR's worth of concurrent queries.
KEEPALIVE_CONNECTIONS = 32
KEEPALIVE_SECONDS = 30.0


class _RefuseAllCookies(CookiePolicy):
    """No cookie is ever stored, so none is ever sent."""

    netscape = True
    rfc2965 = False
    hide_cookie2 = True

    def set_ok(self, _cookie: Any, _request: Any) -> bool:
        return False

    def return_ok(self, _cookie: Any, _request: Any) -> bool:
        return False

    def domain_return_ok(self, _domain: str, _request: Any) -> bool:
        return False

    def path_return_ok(self, _path: str, _request: Any) -> bool:
        return False


class FhirConnections:
    """The process's HTTP connection pool to FHIR servers; `client()` gives the per-call
    view (one `fhirServer`, one access token) that prefetch resolution uses."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._http: httpx.AsyncClient | None = None

    @property
    def http(self) -> httpx.AsyncClient:
        """The shared client, built in the running event loop on first use."""
        if self._http is None:
            self._http = httpx.AsyncClient(
                follow_redirects=False,  # FhirClient follows them itself, each one checked
                cookies=CookieJar(policy=_RefuseAllCookies()),
                timeout=httpx.Timeout(self._settings.fhir_deadline_ms / 1000),
                limits=httpx.Limits(
                    max_connections=self._settings.fhir_max_connections,
                    max_keepalive_connections=min(
                        KEEPALIVE_CONNECTIONS, self._settings.fhir_max_connections),
                    keepalive_expiry=KEEPALIVE_SECONDS,
                ),
            )
        return self._http

    def client(self, base_url: str, access_token: str | None, settings: Settings) -> FhirClient:
        """A FHIR client for one call; cheap, it only borrows the shared connections."""
        return FhirClient(base_url, access_token, settings, self.http)

    async def aclose(self) -> None:
        """Close every connection (at app shutdown); a later use builds a new client."""
        if self._http is not None:
            http, self._http = self._http, None
            await http.aclose()


class _EventNameOnly(logging.Filter):
    """httpcore's DEBUG trace lines carry response headers (Location, Content-Location and
    Set-Cookie hold ids and tokens): keep only the event name, e.g.
    `http11.receive_response_headers.complete`."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = str(record.msg).split(" ", 1)[0]
        record.args = ()
        return True


class _NoRequestLines(logging.Filter):
    """httpx logs every request URL at INFO; URLs carry patient ids and paging tokens."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("HTTP Request:")


def _redact_http_logs() -> None:
    """Logger filters apply to their own logger only, so each httpcore logger gets one."""
    loggers: dict[str, type[logging.Filter]] = {
        "httpx": _NoRequestLines,
        **dict.fromkeys(("httpcore.connection", "httpcore.http11", "httpcore.http2",
                         "httpcore.proxy", "httpcore.socks"), _EventNameOnly),
    }
    for name, kind in loggers.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, kind) for f in logger.filters):
            logger.addFilter(kind())


_redact_http_logs()
