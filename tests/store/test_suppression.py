"""Suppression: an overridden card stays away for that patient for the rule's window."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event, insert, text

from cds.rules.schema import Suppression
from cds.store import tables
from tests.store.records import REASON_SYSTEM, accepted, audit, card, overridden

RULES = {
    "R02": Suppression(default_days=30, by_reason={"patient-declined": 90, "not-relevant": 7}),
    "R09": Suppression(default_days=30, max_days=1),  # safety warning: back after a day
}
REASONS = {
    (REASON_SYSTEM, "patient-declined"): "patient-declined",
    (REASON_SYSTEM, "not-relevant"): "not-relevant",
}


def rules_shown(store, clock, patient="patient-123", rules=("R02", "R09", "R11")):
    cards = [card(rule) for rule in rules]
    kept = store.filter(patient, cards, clock.now)
    return [c.extension["org.stresspain.cds"]["rule"] for c in kept]


def override(store, clock, rule, reason=None, patient="patient-123"):
    shown = card(rule)
    store.record(audit([shown], patient=patient, time=clock.now))
    store.record_feedback("pv", [overridden(shown.uuid, reason, when=clock.now)])


def test_an_overridden_card_is_not_shown_again_to_the_same_patient(make_store, clock):
    store = make_store(rules=RULES, reasons=REASONS)
    assert rules_shown(store, clock) == ["R02", "R09", "R11"]
    override(store, clock, "R02")
    clock.advance(hours=1)
    assert rules_shown(store, clock) == ["R09", "R11"]
    assert rules_shown(store, clock, patient="someone-else") == ["R02", "R09", "R11"]
    value = store.metrics.registry.get_sample_value("cds_cards_suppressed_total",
                                                    {"rule": "R02"})
    assert value == 1


def test_the_card_returns_once_the_default_window_has_passed(make_store, clock):
    store = make_store(rules=RULES, reasons=REASONS)
    override(store, clock, "R02")
    clock.advance(days=29, hours=23)
    assert "R02" not in rules_shown(store, clock)
    clock.advance(hours=2)
    assert "R02" in rules_shown(store, clock)


def test_the_override_reason_sets_the_window(make_store, clock):
    store = make_store(rules=RULES, reasons=REASONS)
    override(store, clock, "R02", "not-relevant")
    clock.advance(days=8)
    assert "R02" in rules_shown(store, clock)

    override(store, clock, "R02", "patient-declined")
    clock.advance(days=60)
    assert "R02" not in rules_shown(store, clock)
    clock.advance(days=31)
    assert "R02" in rules_shown(store, clock)


def test_a_safety_rule_is_never_held_back_longer_than_its_cap(make_store, clock):
    store = make_store(rules=RULES, reasons=REASONS)
    override(store, clock, "R09", "patient-declined")
    clock.advance(hours=12)
    assert "R09" not in rules_shown(store, clock)
    clock.advance(hours=13)
    assert "R09" in rules_shown(store, clock)


def test_an_accepted_card_is_not_suppressed(make_store, clock):
    store = make_store(rules=RULES, reasons=REASONS)
    shown = card("R02")
    store.record(audit([shown]))
    store.record_feedback("pv", [accepted(shown.uuid)])
    assert "R02" in rules_shown(store, clock)


def test_a_rule_without_pack_settings_uses_the_default_window(make_store, clock):
    store = make_store()  # no lookups at all: default 30 days
    override(store, clock, "R11")
    clock.advance(days=10)
    assert rules_shown(store, clock) == ["R02", "R09"]


def test_replicas_sharing_the_database_agree_on_suppression(make_store, clock):
    first = make_store(key=None, rules=RULES, reasons=REASONS)
    second = make_store(key=None, rules=RULES, reasons=REASONS)
    override(first, clock, "R02")
    first.flush()
    assert "R02" not in rules_shown(second, clock)


def _lose_feedback_table(store) -> None:
    with store.database.engine.begin() as conn:
        conn.execute(text("DROP TABLE cds_feedback"))


def _suppression_failures(store) -> float | None:
    return store.metrics.registry.get_sample_value(
        "cds_errors_total", {"kind": "suppression-unavailable"})


def test_when_the_database_fails_cards_go_out_unfiltered(make_store, clock):
    store = make_store(rules=RULES, reasons=REASONS)
    override(store, clock, "R02")
    _lose_feedback_table(store)
    assert rules_shown(store, clock) == ["R02", "R09", "R11"]
    assert _suppression_failures(store) == 1


def test_cards_without_a_patient_are_never_suppressed(make_store, clock):
    store = make_store(rules=RULES, reasons=REASONS)
    cards = [card("R02")]
    assert store.filter(None, cards, clock.now) == cards


def _feedback_queries(store) -> list[str]:
    seen: list[str] = []
    event.listen(store.database.engine, "before_cursor_execute",
                 lambda _c, _cur, statement, *_rest: seen.append(statement)
                 if "cds_feedback" in statement else None)
    return seen


def test_calls_for_patients_without_overrides_do_not_query_the_feedback_table(
        make_store, clock):
    store = make_store(rules=RULES, reasons=REASONS, suppression_refresh_ms=60_000)
    override(store, clock, "R02")
    queries = _feedback_queries(store)
    for _ in range(5):
        assert rules_shown(store, clock, patient="never-overridden") == ["R02", "R09", "R11"]
    assert len(queries) == 1  # the first call reads the overridden patients, once
    assert rules_shown(store, clock) == ["R09", "R11"]  # this patient: the window query
    assert len(queries) == 2


def test_another_replicas_override_applies_here_once_the_set_is_refreshed(make_store, clock):
    first = make_store(key=None, rules=RULES, reasons=REASONS)
    second = make_store(key=None, rules=RULES, reasons=REASONS, suppression_refresh_ms=60_000)
    seconds = [1000.0]
    second.overridden.monotonic = lambda: seconds[0]
    assert "R02" in rules_shown(second, clock)  # read: nobody overridden yet
    override(first, clock, "R02")
    first.flush()
    seconds[0] += 30
    assert "R02" in rules_shown(second, clock)  # within the refresh interval: not yet seen
    seconds[0] += 31
    assert "R02" not in rules_shown(second, clock)


def test_an_override_committed_late_is_still_found_by_the_next_refresh(make_store, clock):
    store = make_store(rules=RULES, reasons=REASONS, suppression_refresh_ms=0)
    assert "R02" in rules_shown(store, clock)
    shown = card("R02")
    store.record(audit([shown], time=clock.now))
    store.flush()
    patient = store.database.pseudonymiser("patient-123")
    clock.advance(seconds=5)
    # Received (timestamped) before the last refresh, committed after it.
    with store.database.engine.begin() as conn:
        conn.execute(insert(tables.feedback).values(
            key="late", card_uuid=shown.uuid, service="pv", rule_id="R02", patient=patient,
            outcome="overridden", accepted=[], outcome_at=clock.now - timedelta(seconds=20),
            received_at=clock.now - timedelta(seconds=20)))
    assert "R02" not in rules_shown(store, clock)


def test_while_the_overridden_set_cannot_be_read_every_call_queries(make_store, clock):
    store = make_store(rules=RULES, reasons=REASONS, start=False)
    _lose_feedback_table(store)
    assert rules_shown(store, clock) == ["R02", "R09", "R11"]
    assert _suppression_failures(store) == 1
