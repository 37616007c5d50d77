"""The FHIR client contacts only allow-listed servers: look-alike URLs are refused, and
redirects and `next` links off the list are never followed (the off-list server sees
no request at all)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from cds.fhir.client import FhirClient, UrlPolicy
from cds.fhir.connections import FhirConnections
from cds.settings import Settings
from tests.auth.support import RecordingServer
from tests.integration.fhir_server import LoopbackFhirServer

ALLOW = ["https://ehr.example.org/fhir/", "https://fhir.example.com:8443"]


@pytest.mark.parametrize(
    "url",
    [
        "https://ehr.example.org/fhir",
        "https://ehr.example.org/fhir/",
        "https://EHR.example.org/fhir/Patient/1",
        "https://ehr.example.org:443/fhir/Observation?patient=1&_count=5",
        "https://fhir.example.com:8443/r4/Patient/1",
    ],
)
def test_urls_under_an_allow_listed_prefix_are_permitted(url: str) -> None:
    assert UrlPolicy(ALLOW).permits(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://ehr.example.org.evil.com/fhir/Patient/1",
        "https://ehr.example.org@evil.com/fhir/Patient/1",
        "https://evil.com/https://ehr.example.org/fhir",
        "https://ehr.example.org/fhirx/Patient/1",
        "https://ehr.example.org/fhir/../admin",
        "https://ehr.example.org/fhir/%2e%2e/admin",
        "https://ehr.example.org/other",
        "https://ehr.example.org:8443/fhir/Patient/1",
        "https://fhir.example.com/r4/Patient/1",
        "http://ehr.example.org/fhir/Patient/1",
        "file:///etc/passwd",
        "gopher://ehr.example.org/fhir",
        "ftp://ehr.example.org/fhir/",
        "https://ehr.example.org/fhir/Patient/1\r\nX-Injected: 1",
        "https://ehr.example.org\\@evil.com/fhir",
        "//ehr.example.org/fhir/Patient/1",
        "",
    ],
)
def test_look_alike_and_off_list_urls_are_refused(url: str) -> None:
    assert not UrlPolicy(ALLOW).permits(url)


def test_plain_http_needs_the_explicit_switch() -> None:
    assert not UrlPolicy(["http://127.0.0.1:8080/fhir"]).permits("http://127.0.0.1:8080/fhir/x")
    assert UrlPolicy(["http://127.0.0.1:8080/fhir"], allow_http=True).permits(
        "http://127.0.0.1:8080/fhir/x"
    )


def test_an_empty_allow_list_permits_nothing() -> None:
    assert not UrlPolicy([]).permits("https://ehr.example.org/fhir")


# ----------------------------------------------------------------------------- live servers

live = pytest.mark.fhirserver


@asynccontextmanager
async def fhir_client(
    base_url: str, settings: Settings, token: str | None = None
) -> AsyncIterator[FhirClient]:
    connections = FhirConnections(settings)
    try:
        yield connections.client(base_url, token, settings)
    finally:
        await connections.aclose()


def client_for(fhir: LoopbackFhirServer, settings: Settings, token: str | None = None):
    return fhir_client(fhir.fhir, settings, token)


@live
async def test_a_redirect_off_the_list_is_not_followed(
    fhir: LoopbackFhirServer, settings: Settings, off_list: RecordingServer
) -> None:
    fhir.faults({"match": "Patient/", "fault": "redirect", "location": off_list.url("/steal")})
    async with client_for(fhir, settings, "secret-token") as client:
        result = await client.fetch("patient", "Patient/p1")
    assert (result.ok, result.reason) == (False, "redirect-blocked")
    assert off_list.requests == []


@live
async def test_a_redirect_within_the_allow_list_is_followed(
    fhir: LoopbackFhirServer, settings: Settings
) -> None:
    fhir.faults({"match": "Patient/moved", "fault": "redirect", "location": "/fhir/Patient/p1",
                 "status": 301})
    async with client_for(fhir, settings) as client:
        result = await client.fetch("patient", "Patient/moved")
    assert result.ok and result.resource["id"] == "p1"
    assert fhir.paths() == ["Patient/moved", "Patient/p1"]


@live
async def test_a_redirect_loop_stops_after_three_hops(
    fhir: LoopbackFhirServer, settings: Settings
) -> None:
    fhir.faults({"match": "Patient/loop", "fault": "redirect", "location": "/fhir/Patient/loop",
                 "times": 100})
    async with client_for(fhir, settings) as client:
        result = await client.fetch("patient", "Patient/loop")
    assert result.reason == "too-many-redirects"
    assert len(fhir.paths()) == 4


@live
async def test_the_token_does_not_follow_a_redirect_to_another_allow_listed_server(
    fhir: LoopbackFhirServer, off_list: RecordingServer
) -> None:
    other = off_list.serve_json("/fhir/Patient/p1", {"resourceType": "Patient", "id": "p1"})
    settings = Settings(fhir_server_allow=[fhir.fhir, off_list.url("/fhir")],
                        fhir_allow_http=True)
    fhir.faults({"match": "Patient/", "fault": "redirect", "location": other})
    async with client_for(fhir, settings, "secret-token") as client:
        result = await client.fetch("patient", "Patient/p1")
    assert result.ok
    assert fhir.log()[0]["authorization"] == "Bearer secret-token"
    assert "Authorization" not in off_list.requests[0]["headers"]


@live
async def test_a_next_link_off_the_list_is_not_followed_and_page_one_is_kept(
    fhir: LoopbackFhirServer, settings: Settings, off_list: RecordingServer
) -> None:
    fhir.faults({"match": "Observation", "fault": "next-link",
                 "location": off_list.url("/fhir/Observation?page=2")})
    async with client_for(fhir, settings, "secret-token") as client:
        result = await client.fetch("pain", "Observation?patient=p1&_count=2")
    assert result.ok and len(result.resource["entry"]) == 2
    assert result.warnings == ["next-link-blocked"]
    assert off_list.requests == []


@live
async def test_a_fhir_server_url_off_the_list_is_never_contacted(
    settings: Settings, off_list: RecordingServer
) -> None:
    async with fhir_client(off_list.url("/fhir"), settings, "secret-token") as client:
        result = await client.fetch("patient", "Patient/p1")
    assert (result.ok, result.reason) == (False, "not-allowed")
    assert off_list.requests == []


@live
async def test_an_absolute_query_off_the_list_is_never_contacted(
    fhir: LoopbackFhirServer, settings: Settings, off_list: RecordingServer
) -> None:
    async with client_for(fhir, settings, "secret-token") as client:
        result = await client.fetch("patient", off_list.url("/fhir/Patient/p1"))
    assert result.reason == "not-allowed"
    assert off_list.requests == []


@live
async def test_a_server_that_is_down_is_a_transport_failure(settings: Settings) -> None:
    gone = RecordingServer()
    base = gone.url("/fhir")
    gone.close()
    allowed = settings.model_copy(update={"fhir_server_allow": [base]})
    async with fhir_client(base, allowed) as client:
        result = await client.fetch("patient", "Patient/p1")
    assert not result.ok and result.reason.startswith("transport-")
