"""`cds serve` over real sockets: a request head over the limits is answered 414/431 before the
app runs; huge or slow heads neither stall other requests nor grow memory; a client that
hangs up mid-body is logged and counted as 499, never as a server error."""

from __future__ import annotations

import json
import select
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.serving.processes import cds_serve, free_port, get, stop_group

SERVICE = "stress-pain-patient-view"
MIB = 1024 * 1024


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    def records(self) -> list[dict[str, Any]]:
        lines = self.log_path.read_text(errors="replace").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def wait_for(self, matches: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            found = [record for record in self.records() if matches(record)]
            if found:
                return found[0]
            time.sleep(0.05)
        raise AssertionError(f"no such log line in:\n{self.log_path.read_text()}")

    def rss_mib(self) -> float:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        kib = next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]
        return int(kib) / 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("limits")
    port = free_port()
    proc = cds_serve(port, workdir, "limits", workers=1, log_level="INFO")
    log_path = workdir / "limits.log"
    try:
        wait_until_ready(proc, port, log_path)
        yield Server(proc, port, log_path)
    finally:
        stop_group(proc)


def wait_until_ready(proc: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    """Until /readyz answers 200 (one worker); fails with the server's log if it exits."""
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, log_path.read_text(errors="replace")
        assert time.monotonic() < deadline, "cds serve did not become ready"
        try:
            if get(port, "/readyz") == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)


def head(target: str = "/healthz", fields: list[tuple[str, str]] | None = None) -> bytes:
    lines = [f"GET {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close",
             *(f"{name}: {value}" for name, value in fields or [])]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_all(sock: socket.socket) -> bytes:
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    return answer


def exchange(port: int, request: bytes, piece: int = 0, pause: float = 0.0) -> bytes:
    """Send `request` (in pieces of `piece` bytes, `pause` apart), then read until closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        step = piece or len(request)
        for offset in range(0, len(request), step):
            sock.sendall(request[offset:offset + step])
            time.sleep(pause)
        return read_all(sock)


def parse(answer: bytes) -> tuple[int, str, Any]:
    """Status, header block (lower case) and JSON body of one HTTP/1.1 answer."""
    head_block, _, body = answer.partition(b"\r\n\r\n")
    status = int(head_block.split(b" ", 2)[1])
    return status, head_block.decode().lower(), json.loads(body)


def refused(status: int) -> Callable[[dict[str, Any]], bool]:
    return lambda r: r["logger"] == "cds.http" and r.get("status") == status


# ----------------------------------------------------------------------------- limits


def test_a_header_field_over_8_kib_is_answered_431_before_the_app_runs(server: Server) -> None:
    answer = exchange(server.port, head("/never-routed/field", [("X-Padding", "a" * 8200)]))
    status, headers, body = parse(answer)
    assert status == 431
    assert "connection: close" in headers and "content-type: application/json" in headers
    assert body == {"error": "header-fields-too-large",
                    "message": "a request header field exceeds 8192 bytes"}
    line = server.wait_for(refused(431))
    assert line["level"] == "info" and line["reason"] == "header-fields-too-large"
    assert "aaaa" not in json.dumps(line)  # the header itself is never logged
    assert not [r for r in server.records() if "/never-routed/field" in r["event"]]


def test_header_fields_over_16_kib_in_all_are_answered_431(server: Server) -> None:
    fields = [(f"X-Part-{i}", "b" * 6000) for i in range(3)]  # each within 8 KiB
    status, _, body = parse(exchange(server.port, head("/healthz", fields)))
    assert status == 431
    assert body == {"error": "header-fields-too-large",
                    "message": "the request line and header fields exceed 16384 bytes"}


def test_a_request_target_over_8_kib_is_answered_414(server: Server) -> None:
    status, _, body = parse(exchange(server.port, head("/" + "u" * 8200)))
    assert status == 414
    assert body == {"error": "uri-too-long", "message": "the request target exceeds 8192 bytes"}


def head_of(size: int) -> bytes:
    """A GET /healthz head of exactly `size` bytes, in three fields within the line limit."""
    names = ("X-Part-1", "X-Part-2", "X-Part-3")
    room = size - len(head("/healthz", [(name, "") for name in names]))
    lengths = (room // 3, room // 3, room - 2 * (room // 3))
    request = head("/healthz", [(name, "v" * n) for name, n in zip(names, lengths, strict=True)])
    assert len(request) == size
    return request


@pytest.mark.parametrize("piece", [0, 1000], ids=["in-one-piece", "in-pieces"])
def test_a_head_of_exactly_16_kib_is_served_and_one_byte_more_is_refused(
    server: Server, piece: int,
) -> None:
    status, _, body = parse(exchange(server.port, head_of(16 * 1024), piece, pause=0.005))
    assert (status, body) == (200, {"status": "ok"})
    status, _, body = parse(exchange(server.port, head_of(16 * 1024 + 1), piece, pause=0.005))
    assert (status, body["error"]) == (431, "header-fields-too-large")


# ----------------------------------------------------------------------------- huge and slow


def stream_huge_header(port: int, piece: int, pause: float, progress: list[int]) -> int:
    """Stream one endless header field until the service answers; its status."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Huge: ")
        for _ in range(64 * MIB // piece):
            if select.select([sock], [], [], 0)[0]:
                break  # the answer is there
            sock.sendall(b"h" * piece)
            progress[0] += piece
            time.sleep(pause)
        return parse(read_all(sock))[0]


def test_healthz_answers_promptly_while_a_slow_sender_streams_a_huge_header(
    server: Server,
) -> None:
    progress, result = [0], {}
    sender = threading.Thread(target=lambda: result.update(
        status=stream_huge_header(server.port, 512, 0.02, progress)))
    sender.start()
    while progress[0] < 8 * 1024 and sender.is_alive():  # well into its head, not refused yet
        time.sleep(0.01)
    started = time.monotonic()
    assert get(server.port, "/healthz", timeout=5) == 200
    assert time.monotonic() - started < 1.0
    sender.join(timeout=30)
    assert result["status"] == 431
    assert 16 * 1024 - 512 < progress[0] < 256 * 1024  # refused soon after the limit


def test_six_clients_streaming_64_mib_headers_do_not_grow_memory(server: Server) -> None:
    before = server.rss_mib()
    statuses: list[int] = []
    senders = [threading.Thread(target=lambda: statuses.append(
        stream_huge_header(server.port, MIB, 0.0, [0]))) for _ in range(6)]
    for sender in senders:
        sender.start()
    started = time.monotonic()
    assert get(server.port, "/healthz", timeout=5) == 200
    assert time.monotonic() - started < 2.0
    for sender in senders:
        sender.join(timeout=60)
    assert statuses == [431] * 6
    assert server.rss_mib() - before < 30


# ----------------------------------------------------------------------------- hang-ups


def test_a_client_that_hangs_up_mid_body_is_logged_at_info_and_counted_as_499(
    server: Server,
) -> None:
    body = json.dumps({"hook": "patient-view", "padding": "p" * 2000}).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
        sock.sendall(
            f"POST /cds-services/{SERVICE} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body[:len(body) // 2])
        time.sleep(0.2)  # the service is reading the body now
    line = server.wait_for(lambda r: r["logger"] == "cds.access" and r.get("status") == 499)
    assert line["level"] == "info"
    assert line["reason"] == "client-closed-request"
    assert line["service"] == SERVICE
    assert "exception" not in line
    assert not [r for r in server.records() if r["level"] in ("error", "critical")]
    assert "Traceback" not in server.log_path.read_text()
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as resp:
        metrics = resp.read().decode()
    assert 'cds_errors_total{kind="client-closed-request"} 1.0' in metrics
    assert 'kind="internal-error"' not in metrics and 'kind="http-500"' not in metrics


def test_a_head_that_trickles_in_too_slowly_is_answered_408_and_closed(tmp_path: Path) -> None:
    port = free_port()
    proc = cds_serve(port, tmp_path, "slow-head", workers=1,
                     env={"CDS_HEADER_TIMEOUT_MS": "500"})
    try:
        wait_until_ready(proc, port, tmp_path / "slow-head.log")
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finished
            started = time.monotonic()
            answer = read_all(sock)
            took = time.monotonic() - started
        status, headers, body = parse(answer)
        assert (status, body["error"]) == (408, "request-timeout")
        assert "connection: close" in headers
        assert 0.3 < took < 4.0  # the 0.5 s limit, plus the linger before the close
        # An idle keep-alive connection between requests is not a head in progress.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            time.sleep(1.0)
            sock.sendall(head())
            assert parse(read_all(sock))[0] == 200
    finally:
        stop_group(proc)
