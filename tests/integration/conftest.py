"""Fixtures for the integration tests: the loopback FHIR server (one Node process for the
session, reset before each test), a scripted stub FHIR server and a recording off-list HTTP
server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cds.settings import Settings
from tests.auth.support import RecordingServer, SigningKey
from tests.integration.data import chart
from tests.integration.fhir_server import FhirServerError, LoopbackFhirServer
from tests.integration.stub_fhir import StubFhirServer


@pytest.fixture(scope="session")
def _fhir_process() -> Iterator[LoopbackFhirServer]:
    try:
        server = LoopbackFhirServer()
    except FhirServerError as exc:
        pytest.fail(str(exc))
    yield server
    server.stop()


@pytest.fixture
def fhir(_fhir_process: LoopbackFhirServer) -> LoopbackFhirServer:
    """The loopback FHIR server with a fresh copy of the test chart and no faults."""
    _fhir_process.reset(data=True)
    _fhir_process.load(chart())
    _fhir_process.reset()
    return _fhir_process


@pytest.fixture
def stub() -> Iterator[StubFhirServer]:
    """A scripted FHIR server in a thread (no Node needed)."""
    server = StubFhirServer()
    yield server
    server.close()


@pytest.fixture
def off_list() -> Iterator[RecordingServer]:
    """A server the service must never contact."""
    server = RecordingServer()
    yield server
    server.close()


@pytest.fixture
def settings(fhir: LoopbackFhirServer) -> Settings:
    return Settings(
        auth="off", fhir_server_allow=[fhir.fhir], fhir_allow_http=True,
        fhir_deadline_ms=3000, fhir_page_cap=5,
    )


@pytest.fixture(scope="session")
def ec_key() -> SigningKey:
    return SigningKey.es384("ec-int")
