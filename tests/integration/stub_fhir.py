"""A scripted loopback FHIR server for the fallback's limits: answers held back past any
deadline, pages bigger than the byte cap, cookies and redirects. It runs in its own thread,
so a stalled event loop under test never slows the server down."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOLD_LIMIT_SECONDS = 30  # a held answer is released at close(), or after this at the latest
CHUNK_BYTES = 64 * 1024


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    hold: bool = False  # answer only when the server closes: far beyond any deadline
    chunked: bool = False  # no Content-Length: the client learns the size only by reading


def fhir_json(resource: Any, status: int = 200, **headers: str) -> Answer:
    return Answer(status, json.dumps(resource).encode(),
                  {"Content-Type": "application/fhir+json", **headers})


def searchset(resources: list[dict[str, Any]], next_url: str | None = None) -> dict[str, Any]:
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset",
                              "entry": [{"resource": r} for r in resources]}
    if next_url is not None:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


class StubFhirServer:
    """Answers GET /fhir/<query> with the answer scripted for the longest prefix of the
    query; other searches find nothing and other reads 404. Records every request."""

    def __init__(self) -> None:
        self._answers: dict[str, Answer] = {}
        self.requests: list[dict[str, Any]] = []
        self._release = threading.Event()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as FHIR servers answer

            def do_GET(self) -> None:
                query = self.path.removeprefix("/fhir/")
                stub.requests.append({"path": query, "headers": dict(self.headers),
                                      "connection": self.client_address})
                answer = stub._answer_for(query)
                if answer.hold:
                    stub._release.wait(HOLD_LIMIT_SECONDS)
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                if not answer.chunked:
                    self.send_header("Content-Length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                    return
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for start in range(0, len(answer.body), CHUNK_BYTES):
                    chunk = answer.body[start:start + CHUNK_BYTES]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.write(b"0\r\n\r\n")

            def log_message(self, *args: Any) -> None:
                return

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 128  # many calls connect at once (socketserver's default: 5)

            def handle_error(self, request: Any, client_address: Any) -> None:
                return  # the client hung up (deadline, byte cap): expected here

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self.fhir = f"{self.base}/fhir"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def _answer_for(self, query: str) -> Answer:
        matches = [prefix for prefix in self._answers if query.startswith(prefix)]
        if matches:
            return self._answers[max(matches, key=len)]
        if "?" in query.split("/", 1)[0]:  # a search nothing was scripted for: no matches
            return fhir_json(searchset([]))
        missing = {"resourceType": "OperationOutcome",
                   "issue": [{"severity": "error", "code": "not-found"}]}
        return fhir_json(missing, 404)

    def answer(self, prefix: str, answer: Answer) -> None:
        """Answer queries starting with `prefix` (e.g. "Condition", "Patient/p1")."""
        self._answers[prefix] = answer

    def serve(self, resources: list[dict[str, Any]]) -> None:
        """Reads of these resources, and searches of their types returning all of a type."""
        by_type: dict[str, list[dict[str, Any]]] = {}
        for resource in resources:
            by_type.setdefault(resource["resourceType"], []).append(resource)
            self.answer(f"{resource['resourceType']}/{resource['id']}", fhir_json(resource))
        for resource_type, found in by_type.items():
            self.answer(f"{resource_type}?", fhir_json(searchset(found)))

    def connections(self) -> set[Any]:
        return {entry["connection"] for entry in self.requests}

    def close(self) -> None:
        self._release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
