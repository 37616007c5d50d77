"""`cds serve --workers 2`: one SO_REUSEPORT socket per worker, so a burst of keep-alive
connections reaches both workers; the port is not shared with a second server; SIGTERM stops
every process. Real processes on loopback (Linux only)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import cds.serving.workers
from cds.serving.workers import REUSEPORT_AVAILABLE, PortUnavailableError, bind_worker_sockets
from tests.serving.processes import (
    cds_serve,
    children,
    free_port,
    get,
    running,
    stop_group,
    wait_ready,
    worker_pids,
)

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not REUSEPORT_AVAILABLE, reason="needs Linux SO_REUSEPORT")]

CONNECTIONS = 16
STARTUP_FAILURE = 3


def server_side_inodes(port: int, client_ports: set[int]) -> set[str]:
    """Inodes of the service's ends of the established connections from `client_ports`."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].split(":")[1], 16)
        remote_port = int(fields[2].split(":")[1], 16)
        if fields[3] == "01" and local_port == port and remote_port in client_ports:
            inodes.add(fields[9])
    return inodes


def listening_inodes(port: int) -> set[str]:
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return {fields[9] for fields in map(str.split, lines)
            if fields[3] == "0A" and int(fields[1].split(":")[1], 16) == port}


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    try:
        fds = list((Path("/proc") / str(pid) / "fd").iterdir())
    except OSError:  # the process is gone
        return inodes
    for fd in fds:
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    return inodes


@dataclass
class Service:
    proc: subprocess.Popen[bytes]
    port: int
    workdir: Path

    def log(self) -> str:
        return (self.workdir / "first.log").read_text(errors="replace")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    workdir = tmp_path_factory.mktemp("serving")
    port = free_port()
    proc = cds_serve(port, workdir, "first")
    try:
        wait_ready(proc, port, workdir / "first.log")
        yield Service(proc, port, workdir)
    finally:
        stop_group(proc)


def test_a_burst_of_keep_alive_connections_reaches_both_workers(service: Service) -> None:
    clients = [http.client.HTTPConnection("127.0.0.1", service.port, timeout=15)
               for _ in range(CONNECTIONS)]
    try:
        for client in clients:  # all connections open before the first request
            client.connect()
        for _ in range(2):  # two requests per connection: they stay open (keep-alive)
            for client in clients:
                client.request("GET", "/cds-services")
            for client in clients:
                response = client.getresponse()
                assert response.status == 200
                assert b"services" in response.read()
        client_ports = {client.sock.getsockname()[1] for client in clients}
        served = server_side_inodes(service.port, client_ports)
        assert len(served) == CONNECTIONS
        per_worker = {pid: len(served & socket_inodes(pid))
                      for pid in worker_pids(service.proc.pid)}
    finally:
        for client in clients:
            client.close()
    assert len(per_worker) == 2
    assert sum(per_worker.values()) == CONNECTIONS
    assert all(count > 0 for count in per_worker.values()), per_worker


def test_a_second_cds_serve_on_the_same_port_fails(service: Service) -> None:
    second = cds_serve(service.port, service.workdir, "second")
    try:
        assert second.wait(timeout=30) == STARTUP_FAILURE
    finally:
        stop_group(second)
    message = (service.workdir / "second.log").read_text(errors="replace")
    assert f"port {service.port} on 127.0.0.1 is already in use" in message
    assert get(service.port, "/healthz") == 200  # the first service is untouched


def test_workers_refuse_a_port_another_program_listens_on() -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        with pytest.raises(PortUnavailableError, match="already in use"):
            bind_worker_sockets("127.0.0.1", other.getsockname()[1], 2, 16)


def test_a_listener_that_joins_the_port_while_binding_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two servers starting at the same instant both pass the probe; the check catches it."""
    port = free_port()
    intruder = socket.socket()
    real_check = cds.serving.workers._check_sole_listener

    def intrude_then_check(family: socket.AddressFamily, sockets: list[socket.socket]) -> None:
        intruder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        intruder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        intruder.bind(("127.0.0.1", port))
        intruder.listen()
        real_check(family, sockets)

    monkeypatch.setattr(cds.serving.workers, "_check_sole_listener", intrude_then_check)
    try:
        with pytest.raises(PortUnavailableError, match="another process started listening"):
            bind_worker_sockets("127.0.0.1", port, 2, 16)
    finally:
        intruder.close()
    monkeypatch.undo()
    owned = bind_worker_sockets("127.0.0.1", port, 2, 16)  # the port was released
    for sock in owned:
        sock.close()


def test_a_worker_that_cannot_start_stops_the_service(tmp_path: Path) -> None:
    proc = cds_serve(free_port(), tmp_path, "broken",
                     database_url=f"sqlite:///{tmp_path / 'missing' / 'dir' / 'x.sqlite3'}")
    try:
        assert proc.wait(timeout=30) == STARTUP_FAILURE
    finally:
        stop_group(proc)
    assert "before it served; stopping" in (tmp_path / "broken.log").read_text(errors="replace")


def test_a_worker_that_dies_is_replaced_on_the_same_socket(service: Service) -> None:
    listeners = listening_inodes(service.port)
    assert len(listeners) == 2
    victim, survivor = worker_pids(service.proc.pid)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while True:  # until a new worker holds the dead one's socket
        assert time.monotonic() < deadline, "no replacement worker took over the socket"
        workers = worker_pids(service.proc.pid)
        if len(workers) == 2 and victim not in workers:
            replacement = next(pid for pid in workers if pid != survivor)
            if listeners - socket_inodes(survivor) <= socket_inodes(replacement):
                break
        time.sleep(0.1)
    assert listening_inodes(service.port) == listeners  # no new socket joined the port
    assert get(service.port, "/healthz", timeout=15) == 200


def test_every_worker_writes_json_log_lines(service: Service) -> None:
    lines = [line for line in service.log().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines if line.startswith("{")]
    auth_off = [r for r in records if r["logger"] == "cds.app" and r["level"] == "warning"]
    # one per worker process started so far (a replaced worker adds one)
    assert len(auth_off) >= 2
    assert [line for line in lines if not line.startswith("{")] == [
        line for line in lines if line.startswith("WARNING: authentication is OFF")]


def test_sigterm_stops_every_process_with_status_0(service: Service) -> None:
    """Runs last in this module: it stops the shared service."""
    descendants = children(service.proc.pid)
    assert len(worker_pids(service.proc.pid)) == 2
    service.proc.send_signal(signal.SIGTERM)
    assert service.proc.wait(timeout=20) == 0, service.log()
    deadline = time.monotonic() + 5
    while any(running(pid) for pid in descendants) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in descendants if running(pid)]
    assert "Traceback" not in service.log()
    with pytest.raises(OSError):
        get(service.port, "/healthz", timeout=1)
