"""Feedback: stored against the card, once, and only for cards the service issued."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text

from cds.errors import StoreUnavailable, UnknownCard
from cds.hooks.card_ids import new_card_uuid
from cds.store import tables
from tests.store.records import REASON_SYSTEM, accepted, audit, card, overridden


def feedback_rows(store):
    with store.database.engine.connect() as conn:
        return list(conn.execute(select(tables.feedback)).mappings())


def issue(store, *cards, patient="patient-123", service="pv"):
    store.record(audit(list(cards), patient=patient, service=service))
    assert store.flush()


def test_an_override_is_stored_with_its_coded_reason_and_comment(store, clock):
    shown = card("R02")
    issue(store, shown)
    store.record_feedback("pv", [overridden(shown.uuid, "patient-declined",
                                            comment="discussed already")])

    [row] = feedback_rows(store)
    assert (row["card_uuid"], row["rule_id"], row["outcome"]) == (shown.uuid, "R02", "overridden")
    assert (row["reason_system"], row["reason_code"], row["reason_display"]) == (
        REASON_SYSTEM, "patient-declined", "patient declined")
    assert row["comment"] == "discussed already"
    assert row["outcome_at"] == clock.now
    assert row["received_at"] == clock.now


def test_an_acceptance_keeps_the_accepted_suggestion_ids(store):
    shown = card("R02")
    issue(store, shown)
    store.record_feedback("pv", [accepted(shown.uuid, "refer-cbt")])
    [row] = feedback_rows(store)
    assert row["outcome"] == "accepted"
    assert row["accepted"] == ["refer-cbt"]
    value = store.metrics.registry.get_sample_value(
        "cds_feedback_total", {"rule": "R02", "outcome": "accepted"})
    assert value == 1


def test_the_same_feedback_sent_twice_is_stored_once(store):
    shown = card("R02")
    issue(store, shown)
    item = overridden(shown.uuid, "not-relevant")
    store.record_feedback("pv", [item])
    store.record_feedback("pv", [item, item])
    assert len(feedback_rows(store)) == 1
    value = store.metrics.registry.get_sample_value(
        "cds_feedback_total", {"rule": "R02", "outcome": "overridden"})
    assert value == 1


def test_feedback_for_a_card_never_issued_is_refused_naming_the_card(store):
    with pytest.raises(UnknownCard) as raised:
        store.record_feedback("pv", [overridden("no-such-card")])
    assert "no-such-card" in raised.value.message
    assert raised.value.status == 404
    assert feedback_rows(store) == []


def test_feedback_for_a_card_of_another_service_is_refused(store):
    shown = card("R02")
    issue(store, shown, service="os")
    with pytest.raises(UnknownCard, match=shown.uuid):
        store.record_feedback("pv", [overridden(shown.uuid)])


def test_known_cards_are_stored_even_when_one_card_of_the_request_is_unknown(store):
    shown = card("R02")
    issue(store, shown)
    with pytest.raises(UnknownCard, match="bogus"):
        store.record_feedback("pv", [overridden(shown.uuid), overridden("bogus")])
    assert [row["card_uuid"] for row in feedback_rows(store)] == [shown.uuid]


def test_feedback_right_after_the_response_finds_a_card_whose_audit_is_still_queued(
    make_store,
):
    store = make_store(start=False)  # nothing is written until close()
    shown = card("R02")
    store.record(audit([shown]))
    store.record_feedback("pv", [overridden(shown.uuid)])
    [row] = feedback_rows(store)
    assert (row["card_uuid"], row["rule_id"]) == (shown.uuid, "R02")


def test_an_outcome_time_in_the_future_counts_from_when_it_was_received(store, clock):
    shown = card("R02")
    issue(store, shown)
    store.record_feedback("pv", [overridden(shown.uuid, when=clock.now.replace(year=2027))])
    [row] = feedback_rows(store)
    assert row["outcome_at"] == clock.now


def test_a_card_issued_moments_ago_is_looked_for_again_before_it_is_called_unknown(
        make_store, clock):
    """Another replica issued the card; its audit record reaches the database while this
    one looks again (as happens when the EHR answers faster than a flush interval)."""
    here = make_store(key=None)
    there = make_store(key=None)
    shown = card("R02")
    shown.uuid = new_card_uuid(clock.now)
    looked: list[float] = []

    def pause(seconds: float) -> None:
        looked.append(seconds)
        if len(looked) == 2:
            there.record(audit([shown]))
            assert there.flush()

    here.feedback.sleep = pause
    here.record_feedback("pv", [overridden(shown.uuid)])
    assert [row["card_uuid"] for row in feedback_rows(here)] == [shown.uuid]
    assert len(looked) == 2


def test_a_young_card_still_missing_is_503_to_be_sent_again_not_404(store, clock):
    store.feedback.sleep = lambda _seconds: None
    young = new_card_uuid(clock.now - timedelta(seconds=1))
    with pytest.raises(StoreUnavailable) as raised:
        store.record_feedback("pv", [overridden(young)])
    assert raised.value.status == 503
    assert raised.value.headers["Retry-After"]
    old = new_card_uuid(clock.now - timedelta(minutes=10))
    with pytest.raises(UnknownCard):
        store.record_feedback("pv", [overridden(old)])


def test_while_audit_records_cannot_be_stored_a_missing_card_is_503(store, clock):
    store.feedback.audit_behind = lambda: True
    with pytest.raises(StoreUnavailable):
        store.record_feedback("pv", [overridden(new_card_uuid(clock.now - timedelta(hours=1)))])
    with pytest.raises(UnknownCard):  # not a uuid this service makes: unknown regardless
        store.record_feedback("pv", [overridden("no-such-card")])


def test_a_database_that_fails_makes_feedback_503_never_an_error(store):
    shown = card("R02")
    issue(store, shown)
    with store.database.engine.begin() as conn:
        conn.execute(text("DROP TABLE cds_feedback"))
    with pytest.raises(StoreUnavailable, match="send it again later"):
        store.record_feedback("pv", [overridden(shown.uuid, "patient-declined")])


def test_a_reason_without_display_gets_the_packs_words(make_store):
    store = make_store(reason_display=lambda system, code: "Patient declined"
                       if (system, code) == (REASON_SYSTEM, "patient-declined") else None)
    shown = card("R02")
    issue(store, shown)
    item = overridden(shown.uuid, "patient-declined")
    item.overrideReason.reason.display = None  # as the public CDS Hooks sandbox sends it
    store.record_feedback("pv", [item])
    [row] = feedback_rows(store)
    assert (row["reason_code"], row["reason_display"]) == ("patient-declined", "Patient declined")
