"""Neither the EHR's JWT nor the FHIR access token (nor a paging token in a URL) is ever
written to a log, at any level, on success or on failure."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from cds.auth import JWTVerifier, TokenRejected
from cds.logs import configure_logging
from cds.settings import Settings
from tests.auth.support import AUDIENCE, ISSUER, RecordingServer, SigningKey, claims, jwks, mint
from tests.integration.data import TEMPLATES, hook_request, resolve
from tests.integration.fhir_server import LoopbackFhirServer

pytestmark = pytest.mark.fhirserver

ACCESS_TOKEN = "fhir-access-SECRET-4f9a2c"
PAGE_TOKEN = "page-SECRET-77d1"


@pytest.fixture
def debug_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved_level, saved_handlers = root.level, list(root.handlers)
    noisy = [logging.getLogger(name) for name in ("httpx", "httpcore", "cds")]
    saved = [logger.level for logger in noisy]
    configure_logging("DEBUG", json=True)
    for logger in noisy:
        logger.setLevel(logging.DEBUG)
    yield
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)
    for logger, level in zip(noisy, saved, strict=True):
        logger.setLevel(level)


async def test_tokens_never_reach_the_logs(
    debug_logging: None,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    fhir: LoopbackFhirServer,
    settings: Settings,
    ec_key: SigningKey,
) -> None:
    caplog.set_level(logging.DEBUG)
    keys = RecordingServer()
    try:
        verifier = JWTVerifier(Settings(
            trusted_issuers={ISSUER: {"jwks_url": keys.serve_json("/jwks", jwks(ec_key))}}
        ))
        jwt_token = mint(ec_key)
        await verifier.verify(f"Bearer {jwt_token}", AUDIENCE)
        with pytest.raises(TokenRejected):
            await verifier.verify(f"Bearer {jwt_token}", AUDIENCE)  # replay
        wrong_audience = mint(ec_key, claims(aud="https://elsewhere.example.org"))
        with pytest.raises(TokenRejected):
            await verifier.verify(f"Bearer {wrong_audience}", AUDIENCE)
    finally:
        keys.close()

    fhir.require_token(ACCESS_TOKEN)
    fhir.faults(
        {"match": "Observation?patient", "fault": "next-link",
         "location": f"{fhir.fhir}/Observation?patient=p1&_getpages={PAGE_TOKEN}"},
        {"match": "Condition", "fault": "status", "status": 401},
        {"match": "MedicationRequest", "fault": "redirect", "location": "/fhir/Patient/p1"},
    )
    request = hook_request(fhir.fhir, token=ACCESS_TOKEN)
    resolved = await resolve(request, TEMPLATES, ["patient"], settings)
    assert "conditions" in resolved.failed  # the failure path was taken and logged
    assert any(PAGE_TOKEN in entry["path"] for entry in fhir.log())  # the page was fetched

    logged = caplog.text + "\n".join(str(r.__dict__) for r in caplog.records)
    logged += capfd.readouterr().err
    assert "FHIR fetch" in logged and "JWT rejected" in logged  # logging did happen
    for secret in (jwt_token, jwt_token.split(".")[2], wrong_audience.split(".")[2],
                   ACCESS_TOKEN, PAGE_TOKEN):
        assert secret not in logged
    assert repr(request.fhirAuthorization).count(ACCESS_TOKEN) == 0
