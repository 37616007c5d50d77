"""Running `cds serve` as a real process group in tests: start, find its workers, stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cds_serve(port: int, workdir: Path, name: str, *, workers: int = 2,
              database_url: str | None = None, log_level: str = "WARNING",
              env: dict[str, str] | None = None, host: str = "127.0.0.1",
              auth: bool = False) -> subprocess.Popen[bytes]:
    """`cds serve` (`--no-auth` unless `auth`) writing its output to `workdir/<name>.log`."""
    script = Path(sys.executable).with_name("cds")
    command = [str(script)] if script.exists() else [
        sys.executable, "-c", "from cds.cli import main; main()"]
    env = {
        **os.environ,
        "CDS_DATABASE_URL": database_url or f"sqlite:///{workdir / f'{name}.sqlite3'}",
        "CDS_LOG_LEVEL": log_level,
        **(env or {}),
    }
    with (workdir / f"{name}.log").open("wb") as log:
        return subprocess.Popen(
            [*command, "serve", *([] if auth else ["--no-auth"]), "--host", host,
             "--port", str(port), "--workers", str(workers)],
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


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def running(pid: int) -> bool:
    """True unless the process is gone or a zombie waiting for a reaper."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def worker_pids(parent: int) -> list[int]:
    """The spawned workers (not multiprocessing's resource tracker)."""
    pids = []
    for pid in children(parent):
        try:
            cmdline = (Path("/proc") / str(pid) / "cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmdline:
            pids.append(pid)
    return pids


def get(port: int, path: str, timeout: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def wait_ready(proc: subprocess.Popen[bytes], port: int, log: Path, workers: int = 2,
               seconds: float = 30.0) -> None:
    """Until /readyz answers 200 and every worker runs; fails with the server's log."""
    deadline = time.monotonic() + seconds
    while True:
        assert proc.poll() is None, log.read_text(errors="replace")
        assert time.monotonic() < deadline, "cds serve did not become ready"
        try:
            if get(port, "/readyz") == 200 and len(worker_pids(proc.pid)) == workers:
                return
        except OSError:
            pass
        time.sleep(0.1)
