"""Hook calls through a database outage: answers, latency and audit records lost.

    .venv/bin/python -m bench.outage --postgres postgresql+psycopg://postgres@127.0.0.1/cds_test

Starts `cds serve --workers 2 --no-auth` on a fresh schema of that PostgreSQL, reached
through a TCP proxy (bench/faultproxy.py), and sends the M-size patient-view call at a fixed
rate (open loop: latency counts from when a call was due, so a stall is not hidden by the
client slowing down). After `--before` seconds the proxy freezes the database (connections
hang) for half of `--outage`, then refuses it (connections reset) for the other half; then
`--after` seconds of normal service. Feedback for an issued card is posted in each phase.
Finally it waits for the audit trail to catch up and prints, per phase: calls due, answered
200, other statuses, client errors, latency p50/p99/max; then records lost = calls answered
minus calls audited.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.faultproxy import FaultProxy
from bench.load import Connection, build_request
from bench.patients import SERVICE_ID
from bench.scaling import request_body
from bench.server import Server, ServerConfig
from bench.stats import percentile

# Replaced by a fresh uuid per call: the same length, so Content-Length stays right.
PLACEHOLDER = b"00000000-0000-4000-8000-000000000000"


@dataclass
class Phase:
    name: str
    due: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    feedback: list[int] = field(default_factory=list)

    @property
    def answered(self) -> int:
        return self.statuses.get(200, 0)

    def line(self) -> str:
        lat = sorted(self.latencies_ms)
        others = {k: v for k, v in self.statuses.items() if k != 200}
        return (f"{self.name:<16} due {self.due:>6}  answered {self.answered:>6}  "
                f"other {others or '-'}  errors {self.errors:>3}  "
                f"p50 {percentile(lat, 50):7.1f} ms  p99 {percentile(lat, 99):7.1f} ms  "
                f"max {max(lat, default=float('nan')):7.1f} ms  feedback {self.feedback}")


class Schedule:
    """Which phase a moment belongs to, and the proxy action at each phase change."""

    def __init__(self, before: float, outage: float, after: float) -> None:
        self.ends = [("before", before), ("db frozen", before + outage / 2),
                     ("db refusing", before + outage), ("after", before + outage + after)]
        self.phases = {name: Phase(name) for name, _ in self.ends}

    def phase_at(self, elapsed: float) -> Phase | None:
        for name, end in self.ends:
            if elapsed < end:
                return self.phases[name]
        return None


async def caller(conn: Connection, request: bytes, schedule: Schedule, start: float,
                 interval: float, offset: float) -> None:
    due = start + offset
    while (phase := schedule.phase_at(due - start)) is not None:
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        phase.due += 1
        body = request.replace(PLACEHOLDER, str(uuid.uuid4()).encode())
        try:
            status, _ = await asyncio.wait_for(conn.exchange(body), 30)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
            phase.errors += 1
            await conn.close()
        else:
            phase.statuses[status] = phase.statuses.get(status, 0) + 1
            phase.latencies_ms.append((time.perf_counter() - due) * 1000.0)
        due += interval


async def drive(port: int, body: bytes, schedule: Schedule, proxy: FaultProxy, rate: float,
                connections: int, card_uuid: str) -> None:
    request = build_request("127.0.0.1", port, f"/cds-services/{SERVICE_ID}", body)
    interval = connections / rate
    start = time.perf_counter()
    conns = [Connection("127.0.0.1", port) for _ in range(connections)]
    tasks = [caller(c, request, schedule, start, interval, i * interval / connections)
             for i, c in enumerate(conns)]
    await asyncio.gather(*tasks, phases(proxy, schedule, start, port, card_uuid))
    await asyncio.gather(*(c.close() for c in conns))


async def phases(proxy: FaultProxy, schedule: Schedule, start: float, port: int,
                 card_uuid: str) -> None:
    """Switch the proxy at each phase change; post feedback halfway through each phase."""
    actions = {"db frozen": proxy.freeze, "db refusing": proxy.refuse, "after": proxy.heal}
    begin = 0.0
    for name, end in schedule.ends:
        await asyncio.sleep(max(0.0, start + begin - time.perf_counter()))
        if name in actions:
            actions[name]()
        await asyncio.sleep(max(0.0, start + (begin + end) / 2 - time.perf_counter()))
        schedule.phases[name].feedback.append(await post_feedback(port, card_uuid))
        begin = end


async def post_feedback(port: int, card_uuid: str) -> int:
    item = {"card": card_uuid, "outcome": "overridden",
            "outcomeTimestamp": datetime.now(UTC).isoformat()}
    body = orjson.dumps({"feedback": [item]})
    conn = Connection("127.0.0.1", port)
    try:
        status, _ = await asyncio.wait_for(conn.exchange(build_request(
            "127.0.0.1", port, f"/cds-services/{SERVICE_ID}/feedback", body)), 30)
        return status
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        return 0
    finally:
        await conn.close()


def issued_card(port: int, body: bytes) -> str:
    """The uuid of a card the service issues for the call (feedback needs a real card)."""
    async def once() -> str:
        conn = Connection("127.0.0.1", port)
        try:
            status, reply = await conn.exchange(build_request(
                "127.0.0.1", port, f"/cds-services/{SERVICE_ID}",
                body.replace(PLACEHOLDER, str(uuid.uuid4()).encode())))
        finally:
            await conn.close()
        cards = orjson.loads(reply)["cards"] if status == 200 else []
        if not cards:
            raise SystemExit(f"the benchmark call gave no card (HTTP {status})")
        return str(cards[0]["uuid"])
    return asyncio.run(once())


def audited(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("select count(*) from cds_calls")).scalar_one())
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", required=True, help="PostgreSQL URL (a schema is made)")
    parser.add_argument("--rate", type=float, default=100.0, help="hook calls per second")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--before", type=float, default=10.0)
    parser.add_argument("--outage", type=float, default=20.0)
    parser.add_argument("--after", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)

    base = make_url(args.postgres)
    schema = f"outage_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'create schema "{schema}"'))
    direct = base.update_query_dict({"options": f"-csearch_path={schema}"})
    request, _ = request_body("M", 7, datetime.now(UTC))
    body = orjson.dumps({**orjson.loads(request), "hookInstance": PLACEHOLDER.decode()})
    try:
        with tempfile.TemporaryDirectory() as workdir, \
                FaultProxy(base.host or "127.0.0.1", base.port or 5432) as proxy:
            through = direct.set(host="127.0.0.1", port=proxy.port)
            config = ServerConfig(args.workers, Path(workdir),
                                  database_url=through.render_as_string(hide_password=False),
                                  env={"CDS_AUDIT_SPOOL_DIR": f"{workdir}/spool"})
            with Server(config) as server:
                card_uuid = issued_card(server.port, body)
                schedule = Schedule(args.before, args.outage, args.after)
                asyncio.run(drive(server.port, body, schedule, proxy, args.rate,
                                  args.connections, card_uuid))
                answered = sum(p.answered for p in schedule.phases.values()) + 1
                deadline = time.monotonic() + 120
                url = direct.render_as_string(hide_password=False)
                while audited(url) < answered and time.monotonic() < deadline:
                    time.sleep(0.5)
                caught_up_s = 120 - (deadline - time.monotonic())
                stored = audited(url)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'drop schema "{schema}" cascade'))
        admin.dispose()

    print(f"cds serve --workers {args.workers}, PostgreSQL through a TCP proxy; "
          f"M patient-view call at {args.rate:g}/s open loop on {args.connections} "
          f"keep-alive connections; database frozen {args.outage / 2:g} s then refusing "
          f"{args.outage / 2:g} s")
    for phase in schedule.phases.values():
        print(phase.line())
    print(f"calls answered {answered} (incl. 1 setup call), audited {stored}, "
          f"records lost {answered - stored}; audit caught up {caught_up_s:.1f} s after the "
          "load ended")


if __name__ == "__main__":
    main()
