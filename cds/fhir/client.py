"""The FHIR client used when an EHR leaves prefetch keys unfilled: SSRF-safe by construction.

Only URLs on the operator's allow-list (`fhir_server_allow`) are ever contacted. A URL is
compared by its parsed parts (scheme, host, port, path-prefix by whole segments), so
`https://ehr.example.org.evil.com`, `https://ehr.example.org@evil.com` and
`https://ehr.example.org/fhir/../admin` do not pass for `https://ehr.example.org/fhir`.
Redirects and Bundle `next` links are followed by hand, each target checked again.
The bearer token goes only to URLs under the request's `fhirServer`.

Each query reads at most `fhir_max_response_bytes` of response body, all its pages together,
and ends by its deadline however long the server takes to send it.

The HTTP client is shared (`cds.fhir.connections`): this class holds one call's server and
token and puts the token into each request's headers, never onto the client.

Nothing raises: every failure is a `FetchResult` with a short `reason`. Log lines name the
prefetch key, the query's resource type, the server's origin, status and reason; never a
path or query string (they carry patient ids and paging tokens) and never the access token.
"""

from __future__ import annotations

import asyncio
import logging
import string
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import httpx
import orjson

from cds.fhir.body import ACCEPT_ENCODING, BodyTooLarge, BodyUndecodable, read_body
from cds.settings import Settings

log = logging.getLogger("cds.fhir.client")

MAX_REDIRECTS = 3
_DEFAULT_PORTS = {"http": 80, "https": 443}
_FORBIDDEN_CHARS = frozenset(string.whitespace) | {"\\"} | {chr(c) for c in range(32)}


@dataclass(frozen=True)
class _Origin:
    scheme: str
    host: str
    port: int
    path: str  # unquoted, without trailing slash ("" for the root)

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def contains(self, other: _Origin) -> bool:
        same_origin = (self.scheme, self.host, self.port) == (other.scheme, other.host, other.port)
        return same_origin and (other.path == self.path or other.path.startswith(self.path + "/"))


def _parse(url: str) -> _Origin | None:
    """The comparable parts of an http(s) URL, or None for anything odd or ambiguous."""
    if not isinstance(url, str) or any(c in _FORBIDDEN_CHARS for c in url):
        return None
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        port = parts.port
    except ValueError:
        return None
    if scheme not in _DEFAULT_PORTS or "@" in parts.netloc or not parts.hostname:
        return None
    path = unquote(parts.path)
    if any(segment in (".", "..") for segment in path.split("/")):
        return None
    host = parts.hostname.rstrip(".")
    return _Origin(scheme, host, port or _DEFAULT_PORTS[scheme], path.rstrip("/"))


class UrlPolicy:
    """Which URLs the service may contact: allow-listed prefixes, https unless allowed."""

    def __init__(self, prefixes: Iterable[str], allow_http: bool = False) -> None:
        self._schemes = {"https", "http"} if allow_http else {"https"}
        self._prefixes: list[_Origin] = []
        for prefix in prefixes:
            origin = _parse(prefix)
            if origin is None or origin.scheme not in self._schemes:
                log.warning("FHIR allow-list entry ignored (not a usable URL prefix)")
                continue
            self._prefixes.append(origin)

    @classmethod
    def from_settings(cls, settings: Settings) -> UrlPolicy:
        return cls(settings.fhir_server_allow, settings.fhir_allow_http)

    def permits(self, url: str) -> bool:
        origin = _parse(url)
        if origin is None or origin.scheme not in self._schemes:
            return False
        return any(prefix.contains(origin) for prefix in self._prefixes)


@dataclass
class FetchResult:
    """One prefetch key fetched: `resource` (None for a read of a resource that does not
    exist) when ok, else a `reason` such as "http-500", "timeout", "not-json"."""

    key: str
    ok: bool
    resource: Any = None
    reason: str | None = None
    status: int | None = None
    pages: int = 0
    bytes_read: int = 0  # of response body, all pages
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Page:
    body: Any = None
    status: int | None = None
    reason: str | None = None
    missing: bool = False  # 404/410 on a read
    size: int = 0  # bytes of body read


def _is_read(relative: str) -> bool:
    path = relative.split("?", 1)[0].strip("/")
    return "?" not in relative and len(path.split("/")) == 2


def _next_link(bundle: dict[str, Any]) -> str | None:
    for link in bundle.get("link") or []:
        if isinstance(link, dict) and link.get("relation") == "next":
            url = link.get("url")
            return url if isinstance(url, str) and url else None
    return None


def _is_searchset(body: Any) -> bool:
    return isinstance(body, dict) and body.get("resourceType") == "Bundle"


class FhirClient:
    """GETs relative FHIR queries against one `fhirServer` over a shared `http` client."""

    def __init__(
        self,
        base_url: str,
        access_token: str | None,
        settings: Settings,
        http: httpx.AsyncClient,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._base_origin = _parse(self._base)
        self._token = access_token
        self._policy = UrlPolicy.from_settings(settings)
        self._page_cap = settings.fhir_page_cap
        self._max_bytes = settings.fhir_max_response_bytes
        self._http = http

    def __repr__(self) -> str:
        return "FhirClient(token=<redacted>)"

    def url_for(self, relative: str) -> str:
        if urlsplit(relative).scheme:
            return relative
        return f"{self._base}/{relative.lstrip('/')}"

    async def fetch(
        self, key: str, relative: str, deadline: float | None = None, *, resource_type: str = "-"
    ) -> FetchResult:
        """Run one rendered prefetch query, following `next` links up to the page cap.

        `deadline` (a `time.monotonic()` instant) ends every request, however slowly its body
        arrives; pages that arrived before it are kept and the rest is reported in
        `warnings`. `resource_type` names the query in the log line.
        """
        started = time.perf_counter()
        result = await self._fetch(key, relative, deadline)
        log.info(
            "FHIR fetch key=%s type=%s server=%s ok=%s status=%s pages=%d bytes=%d reason=%s "
            "warnings=%s ms=%.0f",
            key, resource_type, self._base_origin or "-", result.ok, result.status,
            result.pages, result.bytes_read, result.reason, ",".join(result.warnings) or "-",
            (time.perf_counter() - started) * 1000,
        )
        return result

    async def _fetch(self, key: str, relative: str, deadline: float | None) -> FetchResult:
        url = self.url_for(relative)
        if not self._policy.permits(url):
            return FetchResult(key, ok=False, reason="not-allowed")
        page = await self._get(url, deadline, self._max_bytes)
        if page.missing and _is_read(relative):
            return FetchResult(key, ok=True, resource=None, status=page.status, pages=1)
        if page.reason is not None:
            return FetchResult(key, ok=False, reason=page.reason, status=page.status)
        result = FetchResult(key, ok=True, resource=page.body, status=page.status, pages=1,
                             bytes_read=page.size)
        if _is_searchset(page.body):
            await self._follow_pages(result, page.body, deadline)
        return result

    async def _follow_pages(
        self, result: FetchResult, first: dict[str, Any], deadline: float | None
    ) -> None:
        entries = list(first.get("entry") or [])
        current = first
        while (next_url := _next_link(current)) is not None:
            if result.pages >= self._page_cap:
                result.warnings.append("page-cap-reached")
                break
            if not self._policy.permits(next_url):
                result.warnings.append("next-link-blocked")
                break
            if deadline is not None and time.monotonic() >= deadline:
                result.warnings.append("deadline-reached")
                break
            page = await self._get(next_url, deadline, self._max_bytes - result.bytes_read)
            if page.reason is not None or not _is_searchset(page.body):
                result.warnings.append(f"next-page-{page.reason or 'not-a-bundle'}")
                break
            current = page.body
            entries.extend(current.get("entry") or [])
            result.pages += 1
            result.bytes_read += page.size
        merged = {k: v for k, v in first.items() if k != "link"}
        if entries:
            merged["entry"] = entries
        result.resource = merged

    def _may_send_token(self, url: str) -> bool:
        origin = _parse(url)
        return bool(self._token) and origin is not None and self._base_origin is not None \
            and self._base_origin.contains(origin)

    async def _get(self, url: str, deadline: float | None, max_bytes: int) -> _Page:
        """One page, redirects followed; ends at `deadline` even while the body trickles in
        (httpx's own timeouts bound each network read, not the whole request)."""
        try:
            async with asyncio.timeout(None if deadline is None else deadline - time.monotonic()):
                return await self._get_following_redirects(url, max_bytes)
        except (TimeoutError, httpx.TimeoutException):
            return _Page(reason="timeout")
        except httpx.HTTPError as exc:
            return _Page(reason=f"transport-{type(exc).__name__}")

    async def _get_following_redirects(self, url: str, max_bytes: int) -> _Page:
        for _ in range(MAX_REDIRECTS + 1):
            headers = {"Accept": "application/fhir+json", "Accept-Encoding": ACCEPT_ENCODING}
            if self._may_send_token(url):
                headers["Authorization"] = f"Bearer {self._token}"
            async with self._http.stream("GET", url, headers=headers) as resp:
                if resp.is_redirect:
                    target = urljoin(url, resp.headers.get("location", ""))
                    if not self._policy.permits(target):
                        return _Page(status=resp.status_code, reason="redirect-blocked")
                    url = target
                    continue
                return await self._read(resp, max_bytes)
        return _Page(reason="too-many-redirects")

    @staticmethod
    async def _read(resp: httpx.Response, max_bytes: int) -> _Page:
        status = resp.status_code
        if status in (404, 410):
            return _Page(status=status, reason=f"http-{status}", missing=True)
        if status >= 300:
            return _Page(status=status, reason=f"http-{status}")
        try:
            body = await read_body(resp, max_bytes)
        except BodyTooLarge:
            return _Page(status=status, reason="too-large")
        except BodyUndecodable:
            return _Page(status=status, reason="bad-encoding")
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            return _Page(status=status, reason="not-json")
        if not isinstance(parsed, dict) or not isinstance(parsed.get("resourceType"), str):
            return _Page(status=status, reason="not-fhir")
        return _Page(body=parsed, status=status, size=len(body))
