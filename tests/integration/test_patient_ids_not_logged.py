"""A hook call whose prefetch comes from the FHIR server logs, at every level down to DEBUG,
the resource types it queried and the server's origin: never the patient id, a URL or query
string carrying it, a paging token, a cookie or the access token, whatever the server
answers (redirects, Content-Location, Set-Cookie, next links, errors, timeouts)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from cds.app import create_app
from cds.settings import Settings
from cds.store.interfaces import MemoryStore
from tests.integration.stub_fhir import Answer, StubFhirServer, fhir_json, searchset

PATIENT_ID = "pid-7f3e9c2a"
ACCESS_TOKEN = "fhir-access-SECRET-5d21"
PAGE_TOKEN = "page-SECRET-0b8e"


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    loggers = [logging.getLogger(name) for name in ("httpx", "httpcore", "cds")]
    saved = [logger.level for logger in loggers]
    caplog.set_level(logging.DEBUG)
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    yield caplog
    for logger, level in zip(loggers, saved, strict=True):
        logger.setLevel(level)


def script_revealing_answers(stub: StubFhirServer) -> None:
    """Answers whose headers and bodies all carry the patient id."""
    here = f"{stub.fhir}/Patient/{PATIENT_ID}"
    stub.answer(f"Patient/{PATIENT_ID}", Answer(302, headers={"Location": f"{here}/_history/1"}))
    stub.answer(f"Patient/{PATIENT_ID}/_history", fhir_json(
        {"resourceType": "Patient", "id": PATIENT_ID, "gender": "female"},
        **{"Content-Location": f"{here}/_history/1", "Set-Cookie": f"ctx={PATIENT_ID}"}))
    stub.answer("Observation?", fhir_json(searchset(
        [], f"{stub.fhir}/Observation?patient={PATIENT_ID}&_page={PAGE_TOKEN}")))
    stub.answer("Observation?patient=" + PATIENT_ID + "&_page", Answer(hold=True))
    outcome = {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "exception", "diagnostics": f"no access to {PATIENT_ID}"}]}
    stub.answer("MedicationRequest?", fhir_json(outcome, 500))
    stub.answer("Condition?", fhir_json(searchset([{"resourceType": "Condition",
                                                     "id": "c" * 4096}] * 64)))
    stub.answer("Encounter?", Answer(body=f"<html>{PATIENT_ID}</html>".encode()))


def test_no_patient_id_url_cookie_or_token_reaches_any_log_line(
    debug_logs: pytest.LogCaptureFixture, stub: StubFhirServer
) -> None:
    script_revealing_answers(stub)
    settings = Settings(auth="off", fhir_server_allow=[stub.fhir], fhir_allow_http=True,
                        fhir_deadline_ms=1000, fhir_max_response_bytes=64 * 1024)
    body = {
        "hook": "patient-view", "hookInstance": str(uuid.uuid4()), "fhirServer": stub.fhir,
        "context": {"userId": "Practitioner/1", "patientId": PATIENT_ID},
        "fhirAuthorization": {"access_token": ACCESS_TOKEN, "token_type": "Bearer",
                              "expires_in": 300, "scope": "user/*.read", "subject": "cds"},
    }
    with TestClient(create_app(settings, store=MemoryStore())) as client:
        reply = client.post("/cds-services/stress-pain-patient-view", json=body)
    assert reply.status_code == 200

    paths = [entry["path"] for entry in stub.requests]
    assert f"Patient/{PATIENT_ID}/_history/1" in paths  # the redirect was followed
    assert any(PAGE_TOKEN in path for path in paths)  # and the next link
    records = debug_logs.records
    assert any(r.name.startswith("httpcore") for r in records)  # DEBUG lines were written
    fetches = [r.getMessage() for r in records if r.getMessage().startswith("FHIR fetch")]
    assert any("type=Observation" in line and f"server={stub.base}" in line
               and "reason=None warnings=next-page-timeout" in line for line in fetches)
    assert any("type=Condition" in line and "reason=too-large" in line for line in fetches)
    for record in records:
        logged = f"{record.getMessage()} {record.__dict__}"
        for secret in (PATIENT_ID, ACCESS_TOKEN, PAGE_TOKEN):
            assert secret not in logged, f"{record.name}: {record.getMessage()}"
