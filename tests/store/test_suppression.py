"""Suppression: an overridden card stays away for that patient for the rule's window."""

from __future__ import annotations

import time
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


def override(store, clock, rule, reason="other-reason", patient="patient-123"):
    """An override with a reason (one the pack has no window for, unless given)."""
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


def test_an_override_without_a_reason_is_recorded_but_hides_nothing(make_store, clock):
    store = make_store(rules=RULES, reasons=REASONS)
    override(store, clock, "R02", reason=None)
    with store.database.engine.connect() as conn:
        assert conn.execute(text("select count(*) from cds_feedback")).scalar_one() == 1
    assert rules_shown(store, clock) == ["R02", "R09", "R11"]
    other = make_store(key=None, rules=RULES, reasons=REASONS)
    override(other, clock, "R02", reason=None)
    assert other.overrides.refresh()  # read back from the database: still nothing hidden
    assert rules_shown(other, clock) == ["R02", "R09", "R11"]


def test_replicas_sharing_the_database_agree_once_overrides_are_refreshed(make_store, clock):
    first = make_store(key=None, rules=RULES, reasons=REASONS)
    second = make_store(key=None, rules=RULES, reasons=REASONS, suppression_refresh_ms=60_000)
    override(first, clock, "R02")
    assert "R02" in rules_shown(second, clock)  # not read yet: its refresh interval is long
    assert second.overrides.refresh()
    assert "R02" not in rules_shown(second, clock)


def test_the_background_refresh_brings_another_replicas_override_within_its_interval(
        make_store, clock):
    first = make_store(key=None, rules=RULES, reasons=REASONS)
    second = make_store(key=None, rules=RULES, reasons=REASONS, suppression_refresh_ms=100)
    override(first, clock, "R02")
    deadline = time.monotonic() + 5
    while "R02" in rules_shown(second, clock) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "R02" not in rules_shown(second, clock)


def _lose_feedback_table(store) -> None:
    with store.database.engine.begin() as conn:
        conn.execute(text("DROP TABLE cds_feedback"))


def _suppression_failures(store) -> float | None:
    return store.metrics.registry.get_sample_value(
        "cds_errors_total", {"kind": "suppression-unavailable"})


def test_when_overrides_cannot_be_read_the_last_known_ones_apply_and_calls_are_told(
        make_store, clock):
    store = make_store(rules=RULES, reasons=REASONS, suppression_refresh_ms=60_000)
    seconds = [1000.0]
    store.overrides.monotonic = lambda: seconds[0]
    override(store, clock, "R02")
    assert store.overrides.refresh()
    assert store.unavailable_since() == (False, None)
    _lose_feedback_table(store)
    assert store.overrides.refresh() is False
    seconds[0] += 3
    assert store.unavailable_since() == (False, None)  # one failed read is not yet stale
    seconds[0] += 60
    unavailable, since = store.unavailable_since()
    assert unavailable and since == clock.now
    assert rules_shown(store, clock) == ["R09", "R11"]  # the last known override still holds
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


def test_suppression_never_queries_the_database_on_a_hook_call(make_store, clock):
    store = make_store(rules=RULES, reasons=REASONS, suppression_refresh_ms=60_000)
    override(store, clock, "R02")
    queries = _feedback_queries(store)
    for _ in range(5):
        assert rules_shown(store, clock, patient="never-overridden") == ["R02", "R09", "R11"]
        assert rules_shown(store, clock) == ["R09", "R11"]
    assert queries == []


def test_an_override_committed_late_is_still_found_by_the_next_refresh(make_store, clock):
    store = make_store(rules=RULES, reasons=REASONS, suppression_refresh_ms=60_000)
    assert "R02" in rules_shown(store, clock)
    shown = card("R02")
    store.record(audit([shown], time=clock.now))
    store.flush()
    patient = store.database.pseudonymiser("patient-123")
    clock.advance(seconds=5)
    assert store.overrides.refresh()
    # Received (timestamped) before the last refresh, committed after it.
    with store.database.engine.begin() as conn:
        conn.execute(insert(tables.feedback).values(
            key="late", card_uuid=shown.uuid, service="pv", rule_id="R02", patient=patient,
            outcome="overridden", accepted=[], reason_system=REASON_SYSTEM,
            reason_code="other-reason", outcome_at=clock.now - timedelta(seconds=20),
            received_at=clock.now - timedelta(seconds=20)))
    assert store.overrides.refresh()
    assert "R02" not in rules_shown(store, clock)


def test_a_store_that_never_read_overrides_says_so(make_store, clock):
    store = make_store(rules=RULES, reasons=REASONS, start=False)
    assert store.unavailable_since() == (True, None)
