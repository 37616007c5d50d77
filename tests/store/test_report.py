"""`cds report`: per-rule numbers on a seeded audit trail."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from cds.store.cli import app
from cds.store.report import build_report
from tests.store.records import NOW, accepted, audit, card, overridden


@pytest.fixture
def seeded(make_store, database_url):
    """R02 fired four times (one a month ago) with four cards; R05 fired twice, one card."""
    store = make_store()
    old, b, c, d, e = card("R02"), card("R02"), card("R02"), card("R05"), card("R02")
    both = [{"rule": "R02", "facts": ["f1"]}, {"rule": "R05", "facts": ["f2"]}]
    store.record(audit([old], time=NOW - timedelta(days=30)))
    store.record(audit([b], fired=both))
    store.record(audit([c, d], fired=both))
    store.record(audit([e]))
    store.record_feedback("pv", [
        accepted(old.uuid), accepted(b.uuid),
        overridden(c.uuid, "patient-declined"), overridden(e.uuid, "not-relevant"),
        overridden(d.uuid),
    ])
    store.record_feedback("pv", [overridden(e.uuid, "not-relevant")])  # sent twice
    store.close()
    return database_url


def by_rule(report):
    return {rule.rule: rule for rule in report.rules}


def test_the_report_counts_firings_cards_and_outcomes_per_rule(make_store, seeded):
    store = make_store()
    rules = by_rule(build_report(store.database.engine))
    r02, r05 = rules["R02"], rules["R05"]
    assert (r02.fired, r02.cards, r02.accepted, r02.overridden) == (4, 4, 2, 2)
    assert r02.acceptance_rate == 0.5
    assert sorted((r.code, r.cards) for r in r02.override_reasons) == [
        ("not-relevant", 1), ("patient-declined", 1)]
    assert (r05.fired, r05.cards, r05.accepted, r05.overridden) == (2, 1, 0, 1)
    assert [(r.code, r.cards) for r in r05.override_reasons] == [(None, 1)]
    assert r05.acceptance_rate == 0.0


def test_the_report_since_a_date_leaves_older_calls_out(make_store, seeded):
    store = make_store()
    report = build_report(store.database.engine, NOW - timedelta(days=1))
    r02 = by_rule(report)["R02"]
    assert report.calls == 3
    assert (r02.fired, r02.cards, r02.accepted, r02.overridden) == (3, 3, 1, 2)
    assert r02.acceptance_rate == pytest.approx(1 / 3)


def test_the_report_command_prints_json_and_a_table(seeded):
    runner = CliRunner()
    result = runner.invoke(app, ["--database-url", seeded, "--format", "json",
                                 "--since", "2026-05-31"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["calls"] == 3
    r02 = next(rule for rule in data["rules"] if rule["rule"] == "R02")
    assert (r02["fired"], r02["cards"], r02["accepted"], r02["overridden"]) == (3, 3, 1, 2)

    table = runner.invoke(app, ["--database-url", seeded], env={"COLUMNS": "160"})
    assert table.exit_code == 0, table.output
    assert "R02" in table.output and "50%" in table.output
    assert "patient declined (1)" in table.output


def test_the_report_command_says_when_there_is_no_audit_trail(tmp_path):
    result = CliRunner().invoke(app, ["--database-url", f"sqlite:///{tmp_path / 'none.db'}"])
    assert result.exit_code == 1
    assert "no audit trail" in result.output


RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def test_the_report_lists_unresolved_medication_codes_most_frequent_first(make_store,
                                                                          database_url):
    store = make_store()
    new_opioid = (RXNORM, "999999901", "investigational analgesic 10 MG Oral Tablet")
    ndc = ("http://hl7.org/fhir/sid/ndc", "00406-0552-01", "")
    store.record(audit([], unresolved=[new_opioid], time=NOW - timedelta(days=30)))
    store.record(audit([], unresolved=[new_opioid, ndc]))
    store.record(audit([], unresolved=[new_opioid]))
    store.close()
    report = build_report(make_store().database.engine)
    assert [(u.code, u.calls) for u in report.unresolved] == [("999999901", 3),
                                                              ("00406-0552-01", 1)]
    assert report.unresolved[0].display == "investigational analgesic 10 MG Oral Tablet"
    recent = build_report(make_store().database.engine, NOW - timedelta(days=1))
    assert [(u.code, u.calls) for u in recent.unresolved] == [("999999901", 2),
                                                              ("00406-0552-01", 1)]
    runner = CliRunner()
    data = json.loads(runner.invoke(app, ["--database-url", database_url, "--format",
                                          "json"]).output)
    assert data["unresolved_codes"][0] == {"system": RXNORM, "code": "999999901",
                                           "display": new_opioid[2], "calls": 3}
    table = runner.invoke(app, ["--database-url", database_url], env={"COLUMNS": "160"})
    assert "Medication codes the pack could not resolve" in table.output
    assert "999999901" in table.output
