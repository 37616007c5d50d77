"""Feedback: stored against the card, once, and only for cards the service issued."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from cds.errors import UnknownCard
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
