"""`cds dryrun <FHIR base URL>`: the Bulk Data `$export` client against a loopback stub of the
protocol (kick-off, polling, download): the tables equal those of the same patients read
from files. (The loopback Medplum router in tests/fhir_server has no $export.)"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import orjson
import pytest

from tests.dryrun.conftest import dryrun, table
from tests.dryrun.exports import NOW, PATIENT_VIEW, write_export

TOKEN = "s3cret-export-token"


class BulkStub:
    """Serves one export's NDJSON files through the Bulk Data Access protocol."""

    def __init__(self, files: Path, *, polls_before_done: int = 2, kick_off_status: int = 202
                 ) -> None:
        self.files = files
        self.polls_left = polls_before_done
        self.kick_off_status = kick_off_status
        self.requests: list[dict[str, Any]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # http.server's name for GET
                stub.requests.append({"path": self.path, "headers": dict(self.headers)})
                stub.answer(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_port}/fhir"

    def answer(self, h: BaseHTTPRequestHandler) -> None:
        url = urlparse(h.path)
        if h.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self.send(h, 401, {"resourceType": "OperationOutcome", "issue": [
                {"severity": "error", "code": "login", "diagnostics": "token required"}]})
        if url.path == "/fhir/Patient/$export":
            if self.kick_off_status != 202:
                return self.send(h, self.kick_off_status, {
                    "resourceType": "OperationOutcome", "issue": [{
                        "severity": "error", "code": "not-supported",
                        "diagnostics": "bulk export is switched off"}]})
            self.types = parse_qs(url.query)["_type"][0].split(",")
            return self.send(h, 202, None, {"Content-Location": f"{self.base}/status/1"})
        if url.path == "/fhir/status/1":
            if self.polls_left:
                self.polls_left -= 1
                return self.send(h, 202, None, {"X-Progress": "50% done", "Retry-After": "0.1"})
            output = [{"type": p.name.split(".")[0], "url": f"{self.base}/files/{p.name}"}
                      for p in sorted(self.files.glob("*.ndjson"))]
            return self.send(h, 200, {"transactionTime": NOW, "request": "x",
                                      "requiresAccessToken": True, "output": output,
                                      "error": []})
        if url.path.startswith("/fhir/files/"):
            data = (self.files / url.path.rsplit("/", 1)[1]).read_bytes()
            h.send_response(200)
            h.send_header("Content-Type", "application/fhir+ndjson")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
            return None
        return self.send(h, 404, None)

    @staticmethod
    def send(h: BaseHTTPRequestHandler, status: int, body: Any,
             headers: dict[str, str] | None = None) -> None:
        data = orjson.dumps(body) if body is not None else b""
        h.send_response(status)
        for key, value in (headers or {}).items():
            h.send_header(key, value)
        h.send_header("Content-Type", "application/fhir+json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)


@pytest.fixture
def stub(tmp_path: Path) -> Iterator[BulkStub]:
    server = BulkStub(write_export(tmp_path / "server-files", PATIENT_VIEW))
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()


def test_export_from_a_fhir_server_gives_the_same_tables_as_the_files(
        tmp_path: Path, stub: BulkStub, patient_view_run: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPORT_TOKEN", TOKEN)
    out = tmp_path / "out"
    result = dryrun(stub.base, "--now", NOW, "--out", str(out), "--hooks", "patient-view",
                    "--workers", "1", "--token-env", "EXPORT_TOKEN")
    assert result.exit_code == 0, result.output
    kick_off = stub.requests[0]
    assert kick_off["path"].startswith("/fhir/Patient/$export?_type=Patient%2CObservation")
    assert kick_off["headers"]["Prefer"] == "respond-async"
    assert kick_off["headers"]["Accept"] == "application/fhir+json"
    polls = [r for r in stub.requests if r["path"] == "/fhir/status/1"]
    assert len(polls) == 3  # two "in progress", then the manifest
    assert all(r["headers"]["Authorization"] == f"Bearer {TOKEN}" for r in stub.requests)
    assert TOKEN not in result.output
    assert table(out, "rules") == table(patient_view_run, "rules")
    assert (out / "export" / "export.json").exists()
    # A rerun reuses the finished export and the finished partitions: no request at all.
    before = len(stub.requests)
    assert dryrun(stub.base, "--now", NOW, "--out", str(out), "--hooks", "patient-view",
                  "--workers", "1", "--token-env", "EXPORT_TOKEN").exit_code == 0
    assert len(stub.requests) == before


def test_a_refused_export_is_a_clear_error_with_the_servers_words(
        tmp_path: Path, stub: BulkStub, monkeypatch: pytest.MonkeyPatch) -> None:
    stub.kick_off_status = 501
    monkeypatch.setenv("EXPORT_TOKEN", TOKEN)
    result = dryrun(stub.base, "--now", NOW, "--out", str(tmp_path / "out"),
                    "--token-env", "EXPORT_TOKEN")
    assert result.exit_code == 2
    assert ("the FHIR server refused the $export kick-off (HTTP 501: bulk export is switched "
            "off)") in " ".join(result.output.split())


def test_a_missing_token_variable_is_a_clear_error(tmp_path: Path, stub: BulkStub) -> None:
    result = dryrun(stub.base, "--now", NOW, "--out", str(tmp_path / "out"),
                    "--token-env", "NO_SUCH_VARIABLE_HERE")
    assert result.exit_code == 2
    assert "--token-env NO_SUCH_VARIABLE_HERE: that environment variable is not set" in \
        " ".join(result.output.split())
    assert stub.requests == []
