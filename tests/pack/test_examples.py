"""Every example request in fhir_examples/ produces exactly the cards its README lists."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.pack.examples import EXAMPLES, Example, readme_examples, service

SEVERITY = {"critical": 0, "warning": 1, "info": 2}
CASES = readme_examples()


@pytest.fixture(scope="module")
def responses(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Each example posted once to its service, with the clock at the examples' moment."""
    from fhir_examples.generate import NOW

    out: dict[str, dict[str, Any]] = {}
    with service(tmp_path_factory.mktemp("examples"), NOW) as client:
        for example in CASES:
            reply = client.post(f"/cds-services/{example.service}", json=example.request())
            assert reply.status_code == 200, f"{example.file}: {reply.status_code} {reply.text}"
            out[example.file] = reply.json()
    return out


def _rule(card: dict[str, Any]) -> str:
    return str(card["extension"]["org.stresspain.cds"]["rule"])


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
    from fhir_examples.generate import EXAMPLES as SPECS
    from fhir_examples.generate import NOW, request_for

    assert sorted(SPECS) == sorted(e.file for e in CASES)
    for name in SPECS:
        committed = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
        assert committed == json.loads(json.dumps(request_for(name, NOW))), (
            f"{name} is stale: run python fhir_examples/generate.py")


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


def test_the_complex_patient_merges_the_mood_card_into_the_programme_card(responses):
    cards = responses["complex-patient.json"]["cards"]
    programme = next(c for c in cards if _rule(c) == "R04")
    assert programme["extension"]["org.stresspain.cds"]["alsoFrom"] == ["R02"]


def test_the_well_patient_gets_no_cards(responses):
    assert responses["well-patient.json"]["cards"] == []
