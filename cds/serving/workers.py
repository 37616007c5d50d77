"""Run `cds serve` workers that each accept on their own SO_REUSEPORT socket.

Why: uvicorn's multiprocess mode shares one listening socket between workers, and asyncio
accepts up to `backlog` connections per readiness event, so when an EHR opens a burst of
keep-alive connections one worker often takes all of them while the others idle. Here the
parent binds one socket per worker to the same host:port with SO_REUSEPORT and the Linux
kernel hashes each new connection to one of them, so every worker gets its share.

SO_REUSEPORT also lets any other process of the same user join the port and silently take
part of the traffic. Before binding, the parent therefore binds a plain socket, which fails
while anything listens on the port (a second `cds serve` included), and after binding it
checks that the only listeners on host:port are its own sockets, which closes the window
between the two steps.

The parent keeps the sockets for its whole life: a replacement worker takes over the socket
of the worker it replaces, and connections the kernel queued on it meanwhile are served.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import signal
import socket
import sys
import threading
from types import FrameType
from typing import Any

import uvicorn
from uvicorn import Config
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Process

log = logging.getLogger("cds.serving")

# BSD and macOS have SO_REUSEPORT too, but there it does not spread connections across the
# sockets (the last one bound gets them all), so only Linux uses one socket per worker.
REUSEPORT_AVAILABLE = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")

_TCP_LISTEN = "0A"


class PortUnavailableError(RuntimeError):
    """The port cannot be served by this process alone (in use, or the bind failed)."""


def bind_worker_sockets(host: str, port: int, count: int, backlog: int) -> list[socket.socket]:
    """Bind and listen on `count` SO_REUSEPORT sockets at host:port, owned by no one else."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    _probe(family, host, port)
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            sock.listen(backlog)
        _check_sole_listener(family, sockets)
    except BaseException as exc:
        for sock in sockets:
            sock.close()
        if isinstance(exc, OSError):
            raise PortUnavailableError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
        raise
    return sockets


def _probe(family: socket.AddressFamily, host: str, port: int) -> None:
    """Fail if anything listens on host:port, whether or not it uses SO_REUSEPORT.

    SO_REUSEADDR (as uvicorn sets it) only lets the probe bind over connections of an earlier
    run still in TIME_WAIT, never over a listening socket.
    """
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortUnavailableError(
                    f"port {port} on {host} is already in use (another `cds serve` or another "
                    "program listens there); stop it or choose another --port / CDS_PORT"
                ) from exc
            raise PortUnavailableError(f"cannot bind {host}:{port}: {exc.strerror}") from exc


def _check_sole_listener(family: socket.AddressFamily, sockets: list[socket.socket]) -> None:
    """Raise if a socket other than `sockets` listens on their address (it joined the group)."""
    host, port = sockets[0].getsockname()[:2]
    ours = {str(os.fstat(sock.fileno()).st_ino) for sock in sockets}
    table = "/proc/net/tcp6" if family == socket.AF_INET6 else "/proc/net/tcp"
    try:
        with open(table) as lines:
            rows = [line.split() for line in lines][1:]
    except OSError as exc:
        log.warning("cannot read %s to check the port has no other listener: %s", table, exc)
        return
    endpoint = (ipaddress.ip_address(host), port)
    if any(row[3] == _TCP_LISTEN and row[9] not in ours and _endpoint(row[1]) == endpoint
           for row in rows):
        raise PortUnavailableError(
            f"another process started listening on {host}:{port} at the same time; "
            "stop it or choose another --port / CDS_PORT"
        )


def _endpoint(field: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]:
    """Decode a /proc/net/tcp{,6} `address:port` field (32-bit words in host byte order)."""
    hex_address, hex_port = field.split(":")
    words = [bytes.fromhex(hex_address[i:i + 8]) for i in range(0, len(hex_address), 8)]
    if sys.byteorder == "little":
        words = [word[::-1] for word in words]
    return ipaddress.ip_address(b"".join(words)), int(hex_port, 16)


class Supervisor:
    """Keep one uvicorn worker process per socket running until SIGINT or SIGTERM.

    Workers are uvicorn's own `Process` wrappers (spawned interpreter, health-check pipe,
    `Server.run(sockets=[...])`), each given a single socket. A worker that dies while
    serving is replaced; one that dies before it serves (bad settings, unreachable database,
    a failing app import or lifespan startup) stops the whole service, since a replacement
    would fail the same way.
    """

    def __init__(self, config: Config, sockets: list[socket.socket]) -> None:
        self.config = config
        self.sockets = sockets
        self.workers: list[Process] = []
        self.serving: list[bool] = []
        self.should_exit = threading.Event()
        self.startup_failed = False

    def run(self) -> int:
        """Serve until told to stop; the exit status: 0, or STARTUP_FAILURE."""
        handled = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in handled}
        try:
            for sock in self.sockets:
                self.workers.append(self._start(sock))
                self.serving.append(False)
            while not self.should_exit.wait(0.5):
                self._check_workers()
        finally:
            # On SIGTERM a worker finishes its requests and runs the app's lifespan shutdown
            # (which drains the audit writer) before it exits.
            for worker in self.workers:
                worker.terminate()
            for worker in self.workers:
                worker.join()
            for sock in self.sockets:
                sock.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        log.info("all workers stopped")
        return STARTUP_FAILURE if self.startup_failed else 0

    def _on_signal(self, sig: int, _frame: FrameType | None) -> None:
        log.info("received %s, stopping the workers", signal.Signals(sig).name)
        self.should_exit.set()

    def _start(self, sock: socket.socket) -> Process:
        worker = Process(self.config, [sock])
        worker.start()
        return worker

    def _check_workers(self) -> None:
        timeout = self.config.timeout_worker_healthcheck
        for slot, worker in enumerate(self.workers):
            if self.should_exit.is_set():
                return
            if not self.serving[slot]:
                if worker.process.is_alive():
                    # A short wait, as uvicorn's own wait_until_ready: a worker that dies
                    # while asked is noticed on the next round instead of after `timeout`.
                    self.serving[slot] = worker.is_ready(timeout=1)
                    continue
                worker.join()
                log.error("worker %s exited with code %s before it served; stopping",
                          worker.pid, worker.exitcode)
                self.startup_failed = True
                self.should_exit.set()
                return
            if worker.is_alive(timeout):
                continue
            worker.kill()  # it may be hung rather than dead
            worker.join()
            log.warning("worker %s stopped answering or exited (code %s); starting a "
                        "replacement", worker.pid, worker.exitcode)
            self.workers[slot] = self._start(self.sockets[slot])
            self.serving[slot] = False


def serve(app: str, *, host: str, port: int, workers: int, **options: Any) -> int:
    """Run the import-string `app` with `workers` processes; the exit status.

    One worker is plain `uvicorn.run`. Several get one SO_REUSEPORT socket each where the
    kernel spreads connections over them (Linux), else uvicorn's shared socket. `options` are
    `uvicorn.Config` keywords. Raises PortUnavailableError when the workers cannot own the port.
    """
    if workers > 1 and REUSEPORT_AVAILABLE:
        config = Config(app, host=host, port=port, workers=workers, **options)
        sockets = bind_worker_sockets(host, port, workers, config.backlog)
        log.info("starting %s workers on %s:%s, one SO_REUSEPORT socket each",
                 workers, host, port)
        return Supervisor(config, sockets).run()
    if workers > 1:
        log.info("SO_REUSEPORT does not spread connections on %s: the %s workers share one "
                 "listening socket", sys.platform, workers)
    uvicorn.run(app, host=host, port=port, workers=workers, **options)
    return 0
