"""Start `cds serve` on a free loopback port with a throwaway database, and stop it."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from bench.machine import tree_rss_mib


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cds_command() -> list[str]:
    """The `cds` console script of this interpreter's environment (or `-m cds.cli`)."""
    script = Path(sys.executable).with_name("cds")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from cds.cli import main; main()"]


@dataclass
class ServerConfig:
    workers: int
    workdir: Path
    rules_dir: Path | None = None
    start_timeout_s: float = 60.0
    database_url: str | None = None  # default: a throwaway SQLite file in workdir
    env: dict[str, str] = field(default_factory=dict)


class Server:
    """A `cds serve --no-auth` process tree; use as a context manager."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = config.workdir / f"serve-{config.workers}w-{self.port}.log"

    @property
    def database(self) -> Path:
        return self.config.workdir / f"bench-{self.port}.sqlite3"

    def audit_rows(self) -> int:
        """Hook calls in the server's audit trail (read after it stopped and drained)."""
        with sqlite3.connect(self.database) as conn:
            return int(conn.execute("SELECT count(*) FROM cds_calls").fetchone()[0])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        cfg = self.config
        env = dict(os.environ)
        env.update({
            "CDS_DATABASE_URL": cfg.database_url or f"sqlite:///{self.database}",
            "CDS_LOG_LEVEL": "WARNING",
            **cfg.env,
        })
        cmd = [*cds_command(), "serve", "--host", "127.0.0.1", "--port", str(self.port),
               "--workers", str(cfg.workers), "--no-auth"]
        if cfg.rules_dir is not None:
            cmd += ["--rules", str(cfg.rules_dir)]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                         start_new_session=True)
        self._wait_ready()

    def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + self.config.start_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"cds serve exited with {self.proc.returncode}:\n"
                                   + self.log_tail())
            if self._ready() and self._workers_up():
                self._settle()
                return
            time.sleep(0.2)
        raise RuntimeError("cds serve did not become ready in time:\n" + self.log_tail())

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.base_url + "/readyz", timeout=2) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def _workers_up(self) -> bool:
        """With several workers, wait until each worker process exists (not just one)."""
        if self.config.workers == 1:
            return True
        return len(self.rss_mib()) >= 1 + self.config.workers

    def _settle(self, window_s: float = 1.0, limit_s: float = 30.0) -> None:
        """Wait until the tree's memory stops growing: every worker has finished importing."""
        deadline = time.monotonic() + limit_s
        last = sum(self.rss_mib().values())
        while time.monotonic() < deadline:
            time.sleep(window_s)
            now = sum(self.rss_mib().values())
            if abs(now - last) <= 0.01 * last:
                return
            last = now

    def rss_mib(self) -> dict[int, float]:
        assert self.proc is not None
        return tree_rss_mib(self.proc.pid)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the group this harness started
            self.proc.wait(timeout=10)

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
