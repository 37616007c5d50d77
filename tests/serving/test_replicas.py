"""Two replicas behind a real load balancer behave as one service.

Two `cds serve` processes on different loopback addresses share PostgreSQL and Redis, with
HAProxy in front of them (routing on /readyz), authentication on. A token replayed to the
other replica is refused; an override posted to one replica suppresses the card on the
other within the refresh bound; a pack rolled out to one replica shows in its /readyz, its
answers and its audit records; a replica killed under load loses no answered call's audit
record (its spool is stored when it starts again).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from cds.authoring.synth import build_request
from cds.serving.workers import REUSEPORT_AVAILABLE
from cds.settings import BUNDLED_RULES_DIR
from tests.auth.support import ISSUER, SigningKey, claims, jwks, mint
from tests.services import redis_server_url
from tests.serving.processes import cds_serve, free_port, stop_group
from tests.store.conftest import postgres_schema

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.skipif(not REUSEPORT_AVAILABLE, reason="needs Linux"),
]

BASE = "https://cds.example.org"
SERVICE = "stress-pain-patient-view"
REFRESH_MS = 500
# PHQ-9 item 9 positive: R01, a card with override reasons.
ITEM9 = {"patient": {"age": 70, "sex": "male"},
         "observations": [{"code": "44260-8", "answer": "LA6569-3", "days_ago": 1}]}


@dataclass
class Replica:
    host: str
    port: int
    workdir: Path
    rules: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = cds_serve(self.port, self.workdir, f"replica-{self.host}", workers=1,
                              env={**self.env, "CDS_RULES_DIR": str(self.rules)},
                              host=self.host, auth=True)

    def kill(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None:
            stop_group(self.proc)


@dataclass
class Cluster:
    replicas: list[Replica]
    lb_port: int
    database_url: str
    key: SigningKey

    def token(self, path: str = f"/cds-services/{SERVICE}") -> str:
        return mint(self.key, claims(aud=f"{BASE}{path}"))

    def audited(self, pack_version: str | None = None) -> int:
        engine = create_engine(self.database_url)
        where = " where pack_version = :v" if pack_version else ""
        try:
            with engine.connect() as conn:
                return int(conn.execute(text(f"select count(*) from cds_calls{where}"),
                                        {"v": pack_version}).scalar_one())
        finally:
            engine.dispose()


def call(host: str, port: int, method: str, path: str, body: Any = None,
         token: str | None = None, timeout: float = 10) -> tuple[int, dict[str, str], Any]:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn.request(method, path, json.dumps(body) if body is not None else None, headers)
        response = conn.getresponse()
        raw = response.read()
        headers = {k.lower(): v for k, v in response.getheaders()}
        is_json = headers.get("content-type", "").startswith("application/json")
        return response.status, headers, json.loads(raw) if raw and is_json else None
    finally:
        conn.close()


def wait_until(condition: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if condition():
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return bool(condition())


HAPROXY = """
global
    maxconn 512
defaults
    mode http
    timeout connect 1s
    timeout client 15s
    timeout server 15s
    retries 2
    option redispatch
frontend cds
    bind 127.0.0.1:{lb_port}
    default_backend replicas
backend replicas
    balance roundrobin
    option httpchk GET /readyz
    default-server inter 300ms fall 1 rise 1
{servers}
listen stats
    bind 127.0.0.1:{stats_port}
    stats enable
    stats uri /stats
"""


def servers_up(stats_port: int) -> set[str]:
    """The replicas HAProxy currently routes to (its own view, from the CSV stats page)."""
    conn = http.client.HTTPConnection("127.0.0.1", stats_port, timeout=5)
    try:
        conn.request("GET", "/stats;csv")
        rows = conn.getresponse().read().decode().splitlines()
    finally:
        conn.close()
    header = rows[0].lstrip("# ").split(",")
    status = header.index("status")
    return {fields[1] for fields in (row.split(",") for row in rows[1:])
            if fields[0] == "replicas" and fields[1] != "BACKEND" and fields[status] == "UP"}


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        pytest.fail("haproxy is not installed (scripts/test.d/40-haproxy.sh installs it)")
    key = SigningKey.es384("replica-key")
    (tmp_path / "jwks.json").write_text(json.dumps(jwks(key)))
    port, lb_port, stats_port = free_port(), free_port(), free_port()
    with postgres_schema() as database_url:
        env = {
            "CDS_AUTH": "on", "CDS_PUBLIC_BASE_URL": BASE,
            "CDS_TRUSTED_ISSUERS": json.dumps({ISSUER: {"jwks_file":
                                                        str(tmp_path / "jwks.json")}}),
            "CDS_DATABASE_URL": database_url, "CDS_PSEUDONYM_KEY": "replica-test",
            "CDS_REDIS_URL": redis_server_url(), "CDS_REPLAY_STORE": "redis",
            "CDS_SUPPRESSION_REFRESH_MS": str(REFRESH_MS), "CDS_RELOAD": "true",
        }
        replicas = []
        for host in ("127.0.0.2", "127.0.0.3"):
            workdir = tmp_path / host
            workdir.mkdir()
            rules = workdir / "rules"
            shutil.copytree(BUNDLED_RULES_DIR, rules)
            replicas.append(Replica(host, port, workdir, rules, {
                **env, "CDS_AUDIT_SPOOL_DIR": str(workdir / "spool")}))
        servers = "\n".join(f"    server r{i} {r.host}:{r.port} check"
                            for i, r in enumerate(replicas))
        (tmp_path / "haproxy.cfg").write_text(HAPROXY.format(lb_port=lb_port, stats_port=stats_port,
                                                                 servers=servers))
        lb = subprocess.Popen([haproxy, "-f", str(tmp_path / "haproxy.cfg"), "-db"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for replica in replicas:
                replica.start()
            for replica in replicas:
                assert wait_until(lambda r=replica: call(r.host, r.port, "GET", "/readyz")[0]
                                  == 200, 40), (replica.workdir / f"replica-{replica.host}.log"
                                                ).read_text(errors="replace")
            # The load balancer routes only after its own health check has seen each replica
            # ready; a call before that is its 503, not the service's.
            names = {f"r{i}" for i in range(len(replicas))}
            assert wait_until(lambda: servers_up(stats_port) == names, 20)
            yield Cluster(replicas, lb_port, database_url, key)
        finally:
            for replica in replicas:
                replica.stop()
            lb.terminate()
            lb.wait(10)


def hook_body(patient: str) -> dict[str, Any]:
    return build_request(ITEM9, datetime.now(UTC), service_id=SERVICE, patient_id=patient)


def rules_of(cards: list[dict[str, Any]]) -> list[str]:
    return [c["extension"]["org.stresspain.cds"]["rule"] for c in cards]


def test_a_token_replayed_to_the_other_replica_is_refused(cluster: Cluster) -> None:
    first, second = cluster.replicas
    token = cluster.token()
    path = f"/cds-services/{SERVICE}"
    assert call(first.host, first.port, "POST", path, hook_body("p1"), token)[0] == 200
    assert call(second.host, second.port, "POST", path, hook_body("p1"), token)[0] == 401
    assert call("127.0.0.1", cluster.lb_port, "POST", path, hook_body("p1"), token)[0] == 401


def test_an_override_on_one_replica_suppresses_the_card_on_the_other(cluster: Cluster) -> None:
    first, second = cluster.replicas
    path = f"/cds-services/{SERVICE}"
    status, _, body = call(first.host, first.port, "POST", path, hook_body("p-ovr"),
                           cluster.token())
    [card] = [c for c in body["cards"] if rules_of([c]) == ["R01"]]
    feedback = {"feedback": [{"card": card["uuid"], "outcome": "overridden",
                              "overrideReason": {"reason": card["overrideReasons"][0]},
                              "outcomeTimestamp": datetime.now(UTC).isoformat()}]}
    status, _, _ = call(first.host, first.port, "POST", f"{path}/feedback", feedback,
                        cluster.token(f"{path}/feedback"))
    assert status == 200
    time.sleep(REFRESH_MS / 1000 * 2 + 0.5)  # the stated bound: one refresh interval (+ margin)
    status, _, body = call(second.host, second.port, "POST", path, hook_body("p-ovr"),
                           cluster.token())
    assert status == 200 and "R01" not in rules_of(body["cards"])
    status, _, body = call(second.host, second.port, "POST", path, hook_body("p-other"),
                           cluster.token())
    assert "R01" in rules_of(body["cards"])


def test_a_pack_rolled_out_to_one_replica_shows_in_readyz_answers_and_audit(
        cluster: Cluster) -> None:
    first, _second = cluster.replicas
    pack_file = first.rules / "pack.yaml"
    pack_file.write_text(pack_file.read_text().replace("version: 2.0.0", "version: 2.0.1"))
    assert wait_until(lambda: call(first.host, first.port, "GET", "/readyz")[2]
                      ["packVersion"] == "2.0.1", 60)
    path = f"/cds-services/{SERVICE}"
    status, headers, _ = call(first.host, first.port, "POST", path, hook_body("p-roll"),
                              cluster.token())
    assert (status, headers["x-cds-pack-version"]) == (200, "2.0.1")
    assert wait_until(lambda: cluster.audited("2.0.1") == 1, 10)


@dataclass
class Load:
    """Hook calls through the load balancer, back to back on two threads."""

    cluster: Cluster
    answered: int = 0
    failed: int = 0
    other: dict[int, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self) -> None:
        body = hook_body("p-load")
        while not self._stop.is_set():
            try:
                status, _, _ = call("127.0.0.1", self.cluster.lb_port, "POST",
                                    f"/cds-services/{SERVICE}", body, self.cluster.token())
            except (OSError, http.client.HTTPException):
                with self._lock:
                    self.failed += 1
                continue
            with self._lock:
                if status == 200:
                    self.answered += 1
                else:
                    self.other[status] = self.other.get(status, 0) + 1


def test_a_replica_killed_under_load_loses_no_answered_calls_audit_record(
        cluster: Cluster) -> None:
    load = Load(cluster)
    threads = [threading.Thread(target=load.run, daemon=True) for _ in range(2)]
    for thread in threads:
        thread.start()
    time.sleep(2)
    victim = cluster.replicas[1]
    victim.kill()
    time.sleep(2)
    load._stop.set()
    for thread in threads:
        thread.join(15)
    # 502/503 from the balancer for calls in flight on the killed replica are not answers.
    assert load.answered > 0, (load.other, load.failed)
    in_flight = load.failed + sum(load.other.values())
    victim.start()  # its spool is on disk: stored when it starts again
    assert wait_until(lambda: load.answered <= cluster.audited()
                      <= load.answered + in_flight, 40), (
        f"answered {load.answered}, audited {cluster.audited()}, in flight {in_flight}")
