"""A TCP proxy that can freeze or refuse, to put between the service and its database.

    with FaultProxy("127.0.0.1", 5432) as proxy:   # listens on proxy.port
        proxy.freeze()    # connections stay open, no byte is forwarded (a hung server)
        proxy.refuse()    # open connections are reset, new ones are closed at once
        proxy.heal()      # back to forwarding

Threads, not asyncio: the proxy runs beside a test or benchmark that may block its own loop.
"""

from __future__ import annotations

import select
import socket
import struct
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Literal

Mode = Literal["pass", "freeze", "refuse"]
_POLL_S = 0.05
_RESET_ON_CLOSE = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close sends RST


class FaultProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.mode: Mode = "pass"
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(_POLL_S)
        self.port = int(self._listener.getsockname()[1])
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.connections = 0

    # --- control -----------------------------------------------------------------------

    def freeze(self) -> None:
        self.mode = "freeze"

    def refuse(self) -> None:
        self.mode = "refuse"
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            _reset(*pair)

    def heal(self) -> None:
        self.mode = "pass"

    # --- lifecycle ---------------------------------------------------------------------

    def __enter__(self) -> FaultProxy:
        self._spawn(self._accept_loop)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        self.refuse()
        for thread in self._threads:
            thread.join(2)
        self._listener.close()

    # --- internals ---------------------------------------------------------------------

    def _spawn(self, target: Callable[..., object], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.mode == "refuse":
                _reset(client)
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                _reset(client)
                continue
            self.connections += 1
            with self._lock:
                self._pairs.append((client, server))
            self._spawn(self._pump, client, server)

    def _pump(self, client: socket.socket, server: socket.socket) -> None:
        peers = {client: server, server: client}
        try:
            while not self._stop.is_set():
                if self.mode == "freeze":
                    self._stop.wait(_POLL_S)  # bytes wait in the kernel buffers
                    continue
                readable, _, _ = select.select(list(peers), [], [], _POLL_S)
                for sock in readable:
                    if self.mode != "pass":
                        break
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
        except (OSError, ValueError):  # ValueError: refuse() closed the sockets under us
            return
        finally:
            _reset(client, server)
            with self._lock:
                if (client, server) in self._pairs:
                    self._pairs.remove((client, server))


def _reset(*socks: socket.socket) -> None:
    for sock in socks:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
            sock.close()
        except OSError:
            pass
