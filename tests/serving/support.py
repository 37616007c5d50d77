"""Starting and stopping real `cds serve` processes on loopback, for the serving tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cds_serve(port: int, workdir: Path, name: str, *, workers: int = 2,
              database_url: str | None = None,
              log_level: str = "WARNING") -> subprocess.Popen[bytes]:
    """`cds serve --no-auth` writing its output to `workdir/<name>.log`."""
    script = Path(sys.executable).with_name("cds")
    command = [str(script)] if script.exists() else [
        sys.executable, "-c", "from cds.cli import main; main()"]
    env = {
        **os.environ,
        "CDS_DATABASE_URL": database_url or f"sqlite:///{workdir / f'{name}.sqlite3'}",
        "CDS_LOG_LEVEL": log_level,
    }
    with (workdir / f"{name}.log").open("wb") as log:
        return subprocess.Popen(
            [*command, "serve", "--no-auth", "--host", "127.0.0.1", "--port", str(port),
             "--workers", str(workers)],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill whatever is left of a server's process group (it has its own session)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


def get(port: int, path: str, timeout: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code
