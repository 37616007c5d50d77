"""JSON logs: every line logged while a hook call is handled names its hookInstance and
service; a server error logs its traceback once, and neither the answer nor the log carries
the request's data."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds.app import create_app
from cds.logs import configure_logging
from cds.metrics import Metrics
from cds.settings import Settings
from cds.store.interfaces import MemoryStore
from tests.api_support import OneCardPack, PackSource, patient_view_request

PATIENT = "pat-7f3c9e21"

JsonLog = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def json_log() -> Iterator[JsonLog]:
    """The service's JSON log lines, as configured for `cds serve`, captured."""
    stream = io.StringIO()
    root = logging.getLogger()
    saved_level, saved_handlers = root.level, list(root.handlers)
    configure_logging("INFO", json=True, stream=stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)


class UnqueueableAudit(MemoryStore):
    def record(self, record: Any) -> None:
        raise RuntimeError("audit queue unavailable")


class ExplodingPack(OneCardPack):
    def evaluate(self, data: Any, now: Any, card_policy: None = None, keep: Any = None) -> Any:
        raise RuntimeError("evaluation exploded")


def call(client: TestClient) -> tuple[Any, str]:
    body = patient_view_request(context={"userId": "Practitioner/1", "patientId": PATIENT})
    body["prefetch"]["patient"]["id"] = PATIENT
    response = client.post("/cds-services/pv", content=json.dumps(body),
                           headers={"Content-Type": "application/json"})
    return response, body["hookInstance"]


def test_a_line_logged_inside_a_call_names_its_hook_instance_and_service(
    json_log: JsonLog,
) -> None:
    app = create_app(Settings(auth="off"), packs=PackSource(OneCardPack()),
                     store=UnqueueableAudit())
    with TestClient(app) as client:
        response, hook_instance = call(client)
        assert response.status_code == 200  # the audit trail never fails a call
        assert client.get("/healthz").status_code == 200
    lines = json_log()
    audit = next(line for line in lines if line["event"] == "audit record could not be queued")
    assert (audit["hookInstance"], audit["service"]) == (hook_instance, "pv")
    assert "RuntimeError: audit queue unavailable" in audit["exception"]
    access = [line for line in lines if line["logger"] == "cds.access"]
    assert access[0]["hookInstance"] == hook_instance and access[0]["status"] == 200
    assert "hookInstance" not in access[1] and "service" not in access[1]  # /healthz after


def test_a_server_error_logs_its_traceback_once_and_answers_without_it(
    json_log: JsonLog,
) -> None:
    app = create_app(Settings(auth="off"), packs=PackSource(ExplodingPack()),
                     store=MemoryStore())
    metrics: Metrics = app.state.metrics
    with TestClient(app) as client:
        response, hook_instance = call(client)
    assert response.status_code == 500
    assert response.json() == {"error": "internal-error",
                               "message": "the service failed to process the request"}
    assert "Traceback" not in response.text and "exploded" not in response.text

    lines = json_log()
    tracebacks = [line for line in lines if "exception" in line]
    assert len(tracebacks) == 1
    error = tracebacks[0]
    assert error["level"] == "error" and error["logger"] == "cds.api"
    assert error["exception"].startswith("Traceback (most recent call last):")
    assert "RuntimeError: evaluation exploded" in error["exception"]
    assert (error["hookInstance"], error["service"]) == (hook_instance, "pv")
    access = next(line for line in lines if line["logger"] == "cds.access")
    assert (access["status"], access["reason"]) == (500, "internal-error")
    assert PATIENT not in json.dumps(lines)  # no request data in any line
    assert metrics.registry.get_sample_value("cds_errors_total", {"kind": "internal-error"}) == 1
