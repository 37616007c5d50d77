"""Every example request in fhir_examples/ produces exactly the cards its README lists: the
files, at the moment they are dated from, and `cds example NAME` today, on the real clock."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from cds.cli import app as cli
from tests.pack.examples import EXAMPLES, Example, readme_examples, service

SEVERITY = {"critical": 0, "warning": 1, "info": 2}
CASES = readme_examples()


@pytest.fixture(scope="module")
def responses(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Each example posted once to its service, with the clock at the examples' moment."""
    from cds.examples.patients import NOW

    out: dict[str, dict[str, Any]] = {}
    with service(tmp_path_factory.mktemp("examples"), NOW) as client:
        for example in CASES:
            reply = client.post(f"/cds-services/{example.service}", json=example.request())
            assert reply.status_code == 200, f"{example.file}: {reply.status_code} {reply.text}"
            out[example.file] = reply.json()
    return out


@pytest.fixture(scope="module")
def todays_responses(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, tuple[datetime, dict[str, Any]]]:
    """Each example as `cds example NAME` prints it now, posted to the service on the real
    clock; with the moment it was printed."""
    runner = CliRunner()
    out: dict[str, tuple[datetime, dict[str, Any]]] = {}
    with service(tmp_path_factory.mktemp("today"), None) as client:
        for example in CASES:
            printed_at = datetime.now(UTC)
            printed = runner.invoke(cli, ["example", example.file.removesuffix(".json")])
            assert printed.exit_code == 0, printed.output
            reply = client.post(f"/cds-services/{example.service}", content=printed.stdout,
                                headers={"Content-Type": "application/json"})
            assert reply.status_code == 200, f"{example.file}: {reply.status_code} {reply.text}"
            out[example.file] = printed_at, reply.json()
    return out


def _rule(card: dict[str, Any]) -> str:
    return str(card["extension"]["org.stresspain.cds"]["rule"])


def _moved(text: str, days: int) -> str:
    """`text` with every YYYY-MM-DD date `days` days later."""
    return re.sub(r"\d{4}-\d{2}-\d{2}",
                  lambda m: (date.fromisoformat(m[0]) + timedelta(days=days)).isoformat(), text)


def test_readme_lists_every_example_file_once():
    listed = [e.file for e in CASES]
    on_disk = sorted(p.name for p in EXAMPLES.glob("*.json"))
    assert sorted(listed) == on_disk
    assert len(set(listed)) == len(listed)


def test_each_example_targets_the_service_of_its_hook():
    for example in CASES:
        hook = example.request()["hook"]
        assert example.service == f"stress-pain-{hook}", example.file


def test_examples_are_what_the_generator_writes():
    from cds.examples.patients import EXAMPLES as PATIENTS
    from cds.examples.patients import NOW, request_for

    assert sorted(f"{name}.json" for name in PATIENTS) == sorted(e.file for e in CASES)
    for name in PATIENTS:
        committed = json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))
        assert committed == json.loads(json.dumps(request_for(name, NOW))), (
            f"{name}.json is stale: run python fhir_examples/generate.py")


@pytest.mark.parametrize("example", CASES, ids=[e.file for e in CASES])
def test_example_produces_exactly_the_listed_cards(example: Example, responses):
    cards = responses[example.file]["cards"]
    got = [(_rule(c), c["indicator"]) for c in cards]
    want = [(c.rule, c.indicator) for c in example.cards]
    assert got == want, f"{example.file}: cards {got}, README lists {want}"
    for card, expected in zip(cards, example.cards, strict=True):
        assert card["summary"].startswith(expected.summary_start), (
            f"{example.file}: {card['summary']!r} does not start with {expected.summary_start!r}")


@pytest.mark.parametrize("example", CASES, ids=[e.file for e in CASES])
def test_example_printed_today_gets_the_listed_cards_on_the_real_clock(
    example: Example, todays_responses
):
    from cds.examples.patients import NOW

    printed_at, reply = todays_responses[example.file]
    days = (printed_at.date() - NOW.date()).days  # dates in summaries move with the example
    got = [(_rule(c), c["indicator"], c["summary"]) for c in reply["cards"]]
    want = [(c.rule, c.indicator, _moved(c.summary_start, days)) for c in example.cards]
    assert [g[:2] for g in got] == [w[:2] for w in want], (
        f"{example.file} printed on {printed_at:%Y-%m-%d}: cards {got}, README lists {want}")
    for (_, _, summary), (_, _, start) in zip(got, want, strict=True):
        assert summary.startswith(start), f"{example.file}: {summary!r} vs {start!r}"


@pytest.mark.parametrize("example", CASES, ids=[e.file for e in CASES])
def test_cards_come_most_severe_first_and_cite_their_source(example: Example, responses):
    cards = responses[example.file]["cards"]
    ranks = [SEVERITY[c["indicator"]] for c in cards]
    assert ranks == sorted(ranks)
    for card in cards:
        assert len(card["summary"]) < 140
        assert card["source"]["label"] and card["source"]["url"].startswith("https://")
        assert card["extension"]["org.stresspain.cds"]["pack"] == "stress-pain"
        if card.get("suggestions"):
            assert card["selectionBehavior"] in ("at-most-one", "any")


def test_the_complex_patient_gets_few_cards_that_hide_no_finding(responses):
    cards = responses["complex-patient.json"]["cards"]
    assert len(cards) <= 5
    opioid = next(c for c in cards if _rule(c) == "R11")
    meta = opioid["extension"]["org.stresspain.cds"]
    assert meta["bundle"] == "opioid-safety"
    assert sorted(meta["alsoFrom"]) == ["R10", "R13A", "R17"]
    for finding in ("alprazolam", "**gabapentin** 900 mg/day", "Total: 60 MME/day", "Beers 2023"):
        assert finding in opioid["detail"], finding
    naloxone = [s for c in cards for s in c.get("suggestions", []) if "naloxone" in s["label"]]
    assert len(naloxone) == 1  # proposed by R10, R11 and R13A; offered once
    plan = next(c for c in cards if _rule(c) == "R02")  # the mood finding leads the plan
    assert plan["extension"]["org.stresspain.cds"]["bundle"] == "multimodal-plan"
    assert "PHQ-9 **16**" in plan["detail"] or "PHQ-9 16" in plan["detail"]  # R02 stays visible


def test_the_well_patient_gets_no_cards(responses):
    assert responses["well-patient.json"]["cards"] == []
