"""The audit trail: what is kept (and what is not), concurrency, shutdown, failures."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import select, text

from cds.errors import StoreError
from cds.store import tables
from cds.store.database import Database, make_engine
from cds.store.pseudonym import Pseudonymiser
from tests.store.records import audit, card


def all_rows(store: Any, table: Any) -> list[Any]:
    with store.database.engine.connect() as conn:
        return list(conn.execute(select(table)).mappings())


def metric(store: Any, name: str, **labels: str) -> float:
    value = store.metrics.registry.get_sample_value(name, labels)
    return value or 0.0


def test_an_audited_call_keeps_a_pseudonym_never_the_patient_id(store):
    cards = [card("R02"), card("R07", "warning")]
    store.record(audit(cards, patient="patient-123"))
    store.close()

    [call] = all_rows(store, tables.calls)
    assert call["patient"] == Pseudonymiser("test-key")("patient-123")
    assert call["patient_id"] is None
    assert "patient-123" not in repr(call)
    assert (call["service"], call["hook"], call["status"], call["pack_version"]) == (
        "pv", "patient-view", 200, "1.0.0")
    issued = {row["uuid"]: row for row in all_rows(store, tables.cards)}
    assert set(issued) == {c.uuid for c in cards}
    assert {row["rule_id"] for row in issued.values()} == {"R02", "R07"}
    assert all(row["patient"] == call["patient"] for row in issued.values())
    assert all(row["call_id"] == call["id"] for row in issued.values())


def test_the_raw_patient_id_is_kept_only_when_configured(make_store):
    store = make_store(keep_raw_patient_id=True)
    store.record(audit([card("R02")], patient="patient-123"))
    store.close()
    [call] = all_rows(store, tables.calls)
    assert call["patient_id"] == "patient-123"


def test_fired_rules_keep_matched_fact_ids_not_fact_values(store):
    store.record(audit([], fired=[{"rule": "R02", "facts": ["phq9-latest", "pain-latest"]},
                                  {"rule": "R05", "facts": []}]))
    store.close()
    fired = sorted(all_rows(store, tables.fired), key=lambda row: row["rule_id"])
    assert [(row["rule_id"], row["facts"]) for row in fired] == [
        ("R02", ["phq9-latest", "pain-latest"]), ("R05", [])]


def test_replicas_without_a_configured_key_share_the_generated_one(make_store):
    first = make_store(key=None)
    second = make_store(key=None)
    assert first.database.pseudonymiser("p1") == second.database.pseudonymiser("p1")
    assert first.database.pseudonymiser("p1") != Pseudonymiser("test-key")("p1")


def test_fifty_concurrent_calls_leave_exactly_fifty_audit_rows(make_store):
    store = make_store(batch_size=7)
    start = threading.Barrier(50)

    def call() -> None:
        start.wait()
        store.record(audit([card("R02")]))

    threads = [threading.Thread(target=call) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store.close()

    assert len(all_rows(store, tables.calls)) == 50
    assert len(all_rows(store, tables.cards)) == 50
    assert metric(store, "cds_audit_writes_total", result="ok") == 50


def test_shutdown_under_load_writes_every_queued_record(make_store):
    store = make_store(batch_size=5, flush_ms=1000)
    records = 400

    def burst() -> None:
        for _ in range(records // 4):
            store.record(audit([card("R02")]))

    threads = [threading.Thread(target=burst) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store.close()  # most records are still queued here: close must drain them

    assert len(all_rows(store, tables.calls)) == records
    assert metric(store, "cds_audit_writes_total", result="dropped") == 0


def test_records_spooled_before_the_writer_runs_are_stored_by_the_next_store(
        make_store, tmp_path):
    spool = tmp_path / "shared-spool"
    first = make_store(start=False, spool_dir=spool)
    for _ in range(5):
        first.record(audit([card("R02")]))  # returns at once: nothing stores yet
    first.close()  # never started: the records stay in the spool
    assert all_rows(first, tables.calls) == []

    second = make_store(spool_dir=spool)  # the next start adopts them
    assert _eventually(lambda: len(all_rows(second, tables.calls)) == 5)
    assert list(spool.glob("*.audit.jsonl")) == []


def test_a_database_that_fails_keeps_the_records_until_it_takes_them(make_store):
    store = make_store()
    with store.database.engine.begin() as conn:
        conn.execute(text("DROP TABLE cds_cards"))

    store.record(audit([card("R02")]))
    store.record(audit([]))
    assert store.flush(timeout=0.5) is False  # nothing raised, nothing stored, nothing lost
    assert store.writer.failing_since is not None

    tables.metadata.create_all(store.database.engine)  # the database is back
    assert store.flush(timeout=10) is True
    assert len(all_rows(store, tables.calls)) == 2
    assert metric(store, "cds_audit_writes_total", result="ok") == 2
    assert store.writer.failing_since is None


def test_a_record_the_database_refuses_is_set_aside_and_the_others_stored(make_store,
                                                                          tmp_path):
    store = make_store(spool_dir=tmp_path / "spool")
    shown = card("R02")
    store.record(audit([shown]))
    assert store.flush()
    store.record(audit([shown]))  # the same card uuid again: the database refuses it
    store.record(audit([card("R05")]))
    assert store.flush()

    assert len(all_rows(store, tables.calls)) == 2
    assert metric(store, "cds_audit_writes_total", result="failed") == 1
    [rejected] = (tmp_path / "spool").glob("rejected-*.jsonl")
    assert shown.uuid in rejected.read_text()


def _eventually(condition: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_the_store_answers_ping_and_an_unreachable_one_does_not(store):
    assert store.ping() is True
    nowhere = Database(make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none"),
                       Pseudonymiser("k"))
    assert nowhere.ping() is False


@pytest.mark.parametrize("count", [0, 1, 5, 127, 128, 129, 200, 1400, 6200])
def test_audit_rows_go_out_in_pages_of_few_distinct_sizes(count: int) -> None:
    from cds.store.audit import PAGE_ROWS, pages

    rows = list(range(count))
    sliced = list(pages(rows))
    assert [r for page in sliced for r in page] == rows
    sizes = {len(page) for page in sliced}
    assert sizes <= {PAGE_ROWS >> shift for shift in range(PAGE_ROWS.bit_length())}


def test_a_database_away_at_start_stops_the_start_unless_the_pseudonym_key_is_configured():
    nowhere = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    with pytest.raises(StoreError, match="CDS_PSEUDONYM_KEY"):
        Database.open(nowhere, timeout_ms=500)
    database = Database.open(nowhere, "configured", timeout_ms=500)
    try:
        assert database.ping() is False
    finally:
        database.dispose()
