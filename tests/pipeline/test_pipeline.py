"""The whole pipeline on FHIR data: real fact extraction (the bundled facts files), rules of the
engine fixture pack, cards; and rule test cases written with the fixture shorthand."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from cds.authoring.check import load_pack
from cds.authoring.synth import build_patient_data
from cds.authoring.testing import run_tests
from cds.pipeline import Evaluator

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
GIVEN = {
    "patient": {"age": 50, "sex": "female"},
    "observations": [{"code": "72514-3", "value": 6, "days_ago": 3},
                     {"code": "72514-3", "value": 6, "unit": "kg", "days_ago": 2}],
    "questionnaires": [{"instrument": "phq9", "answers": [1, 1, 2, 0, 1, 2, 2, 2, 0],
                        "days_ago": 5}],
}


@pytest.fixture(scope="module")
def real(real_facts_dir: Path) -> Evaluator:
    return Evaluator(load_pack(real_facts_dir))


def test_a_scored_phq9_questionnaire_with_pain_6_gets_the_psychology_card(real, real_facts_dir):
    data = build_patient_data(GIVEN, NOW, "patient-view", rules_dir=real_facts_dir)
    result = real.evaluate(data, NOW)
    assert [m.audit_entry() for m in result.matches] == [
        {"rule": "R02", "facts": ["measure:pain", "measure:phq9"]}]
    (card,) = result.cards
    assert card.summary == "Pain 6 with PHQ-9 11: offer psychology"
    assert [f["type"] for f in result.facts].count("context") == 1
    assert set(result.timings_ms) == {"extract", "evaluate", "render", "policy", "total"}


def test_a_value_in_a_wrong_unit_is_named_on_the_card_not_used(real, real_facts_dir):
    data = build_patient_data(GIVEN, NOW, "patient-view", rules_dir=real_facts_dir)
    result = real.evaluate(data, NOW)
    assert [(n.kind, n.resource) for n in result.notes] == [("unit", "Observation/obs-2")]
    assert "(Observation/obs-2)" in result.cards[0].detail.split("**Data not used**")[1]


def test_rule_cases_written_with_the_fixture_shorthand_run(real_facts_dir, tmp_path):
    (real_facts_dir / "tests" / "R02-given.yaml").write_text(
        "rule: R02\nnow: \"2026-06-01T12:00:00Z\"\ncases:\n"
        "  - name: pain 7 and gad-7 answers scoring 16 give a warning\n"
        "    given:\n"
        "      observations: [{code: 72514-3, value: 7, days_ago: 1}]\n"
        "      questionnaires: [{instrument: gad7, answers: [3, 3, 2, 2, 2, 2, 2], days_ago: 1}]\n"
        "    expect:\n"
        "      cards: [{rule: R02, indicator: warning, summary_contains: GAD-7 16}]\n"
        "  - name: no pain score, no card\n"
        "    given: {questionnaires: [{instrument: phq9, answers: [2,2,2,2,2,2,0,0,0],"
        " days_ago: 1}]}\n"
        "    expect: {not_fires: [R02]}\n", encoding="utf-8")
    try:
        results = run_tests(Evaluator(load_pack(real_facts_dir)), "R02")
    finally:
        (real_facts_dir / "tests" / "R02-given.yaml").unlink()
    assert [(r.name, r.failures) for r in results if "given" in r.file or "R02-given" in r.file
            ] == [("pain 7 and gad-7 answers scoring 16 give a warning", []),
                  ("no pain score, no card", [])]
