"""The audit trail: what is kept (and what is not), concurrency, shutdown, failures."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import select, text

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


def test_a_full_queue_drops_and_counts_instead_of_blocking(make_store):
    store = make_store(start=False, queue_size=3)
    for _ in range(5):
        store.record(audit([card("R02")]))  # returns at once: nothing writes yet
    assert metric(store, "cds_audit_writes_total", result="dropped") == 2
    store.close()
    assert len(all_rows(store, tables.calls)) == 3


def test_a_failing_database_is_counted_and_never_raised(make_store):
    store = make_store()
    with store.database.engine.begin() as conn:
        conn.execute(text("DROP TABLE cds_cards"))

    store.record(audit([card("R02")]))
    store.record(audit([]))  # no card: this one can still be written
    store.close()  # must not raise

    assert metric(store, "cds_audit_writes_total", result="failed") == 1
    assert metric(store, "cds_audit_writes_total", result="ok") == 1


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
