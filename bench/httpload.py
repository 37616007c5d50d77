"""Drive `cds serve` over loopback from a separate load process; collect latency and RSS."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from bench.server import Server, ServerConfig
from bench.stats import Summary


@dataclass
class LoadResult:
    workers: int
    concurrency: int
    completed: int
    elapsed_s: float
    errors: int
    latency: Summary
    statuses: dict[str, int]
    first_error: str | None = None

    @property
    def rps(self) -> float:
        return self.completed / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclass
class ServerRun:
    workers: int
    rss_before_mib: dict[int, float] = field(default_factory=dict)
    rss_after_mib: dict[int, float] = field(default_factory=dict)
    loads: list[LoadResult] = field(default_factory=list)
    probe_cards: int = 0
    failure: str | None = None
    requests_served: int = 0  # probe, warm-up and timed requests answered
    audit_rows: int | None = None  # hook calls in the audit trail after a drained stop

    @property
    def audit_missing(self) -> int | None:
        return None if self.audit_rows is None else self.requests_served - self.audit_rows

    @property
    def rss_before_total(self) -> float:
        return sum(self.rss_before_mib.values())

    @property
    def rss_after_total(self) -> float:
        return sum(self.rss_after_mib.values())


@dataclass(frozen=True)
class LoadPlan:
    concurrency: tuple[int, ...]
    count: int          # timed requests per level, at most
    duration_s: float   # seconds per level, at most
    warmup: int         # untimed requests per level


def probe(server: Server, path: str, body: bytes) -> int:
    """One request through the real server; the number of cards returned (fails loudly)."""
    request = urllib.request.Request(server.base_url + path, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as resp:
        payload = orjson.loads(resp.read())
    return len(payload.get("cards", []))


def run_load(port: int, path: str, body_file: Path, concurrency: int, plan: LoadPlan,
             workers: int) -> LoadResult:
    cmd = [sys.executable, "-m", "bench.load", "--port", str(port), "--path", path,
           "--body", str(body_file), "--concurrency", str(concurrency),
           "--count", str(plan.count), "--duration", str(plan.duration_s),
           "--warmup", str(plan.warmup)]
    done = subprocess.run(cmd, capture_output=True, check=False,
                          timeout=2 * plan.duration_s + 60,
                          cwd=Path(__file__).resolve().parent.parent)
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed: {done.stderr.decode(errors='replace')}")
    raw = orjson.loads(done.stdout)
    return LoadResult(
        workers=workers,
        concurrency=concurrency,
        completed=raw["completed"],
        elapsed_s=raw["elapsed_s"],
        errors=raw["errors"],
        latency=Summary.of(raw["latencies_ms"]),
        statuses=raw["statuses"],
        first_error=raw["first_error"],
    )


def run_server(workers: int, workdir: Path, path: str, body: bytes, plan: LoadPlan,
               rules_dir: Path | None = None) -> ServerRun:
    """Start a server with `workers`, run each concurrency level, stop it."""
    body_file = workdir / "request-body.json"
    body_file.write_bytes(body)
    result = ServerRun(workers)
    server = Server(ServerConfig(workers=workers, workdir=workdir, rules_dir=rules_dir))
    try:
        with server:
            result.probe_cards = probe(server, path, body)
            result.rss_before_mib = server.rss_mib()
            for concurrency in plan.concurrency:
                result.loads.append(run_load(server.port, path, body_file, concurrency, plan,
                                             workers))
            result.rss_after_mib = server.rss_mib()
        result.requests_served = 1 + sum(plan.warmup + load.completed for load in result.loads)
        result.audit_rows = server.audit_rows()
    except (RuntimeError, OSError, subprocess.SubprocessError, sqlite3.Error) as exc:
        result.failure = f"{type(exc).__name__}: {exc}\n{server.log_tail()}"
    return result
