"""Questionnaire scoring: recognition, answer scores (never display text), completeness."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from cds.facts.config import FactConfig

from .helpers import LOINC, PATIENT, fact, has_fact, notes, obs, run, run_raw

PHQ9_ITEMS = ["44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5",
              "44253-3", "44260-8"]
LA = {0: "LA6568-5", 1: "LA6569-3", 2: "LA6570-1", 3: "LA6571-9"}
PAT = {"resourceType": "Patient", "id": "p1"}


def _qr(items: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    res = {"resourceType": "QuestionnaireResponse", "id": "q1", "status": "completed",
           "subject": PATIENT, "authored": "2026-05-25T10:00:00Z", "item": items}
    res.update(extra)
    return res


@pytest.mark.parametrize("style", ["la", "ordinal", "integer"])
def test_phq9_is_the_sum_of_its_nine_items_in_every_answer_style(
        style: str, config: FactConfig, now: datetime) -> None:
    ex = run({"questionnaires": [{"instrument": "phq9", "answers": [1, 1, 2, 0, 1, 0, 1, 0, 1],
                                  "days_ago": 5, "style": style}]}, config, now)
    phq9 = fact(ex, "measure:phq9")
    assert phq9["value"] == 7.0 and phq9["method"] == "questionnaire"
    assert phq9["code"] == "44261-6"
    assert fact(ex, "measure:phq9_item9")["value"] == 1.0
    assert fact(ex, "measure:phq2")["value"] == 2.0  # PHQ-2 from PHQ-9 items 1-2


def test_display_text_is_never_scored(config: FactConfig, now: datetime) -> None:
    items = [{"linkId": f"/{c}", "answer": [{"valueCoding": {
        "system": "http://example.org/answers", "code": "x", "display": "Nearly every day"}}]}
        for c in PHQ9_ITEMS]
    ex = run_raw([PAT, _qr(items, questionnaire="http://loinc.org/q/44249-1")], config, now)
    assert not has_fact(ex, "measure:phq9")
    assert notes(ex, "incomplete-questionnaire") and notes(ex, "unusable-value")


def test_the_ordinal_extension_wins_over_a_misleading_display(config: FactConfig,
                                                             now: datetime) -> None:
    ordinal = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
    items = [{"linkId": c, "answer": [{"valueCoding": {
        "extension": [{"url": ordinal, "valueDecimal": 2}], "system": "urn:x", "code": "a2",
        "display": "Not at all"}}]} for c in PHQ9_ITEMS]
    ex = run_raw([PAT, _qr(items, questionnaire="http://loinc.org/q/44249-1|2.68")], config, now)
    assert fact(ex, "measure:phq9")["value"] == 18.0


def test_r5_item_weight_extension_is_read_too(config: FactConfig, now: datetime) -> None:
    weight = "http://hl7.org/fhir/StructureDefinition/itemWeight"
    items = [{"linkId": c, "answer": [{"valueCoding": {
        "extension": [{"url": weight, "valueDecimal": 1}], "code": "a1"}}]} for c in PHQ9_ITEMS]
    ex = run_raw([PAT, _qr(items)], config, now)  # recognised by its items alone
    assert fact(ex, "measure:phq9")["value"] == 9.0


def test_an_incomplete_phq9_has_no_total_but_item9_still_counts(config: FactConfig,
                                                                now: datetime) -> None:
    ex = run({"questionnaires": [{"instrument": "phq9", "days_ago": 2,
                                  "answers": [1, 1, None, 0, 1, 0, 1, 0, 2]}]}, config, now)
    assert not has_fact(ex, "measure:phq9")
    assert fact(ex, "measure:phq9_item9")["value"] == 2.0
    assert any("1 of 9 items" in n for n in notes(ex, "incomplete-questionnaire"))


def test_difficulty_item_69722_7_is_not_scored(config: FactConfig, now: datetime) -> None:
    items = [{"linkId": f"/{c}", "answer": [{"valueCoding": {"system": LOINC, "code": LA[1]}}]}
             for c in PHQ9_ITEMS]
    items.append({"linkId": "/69722-7", "answer": [{"valueCoding": {
        "system": LOINC, "code": "LA6571-9"}}]})
    ex = run_raw([PAT, _qr(items, questionnaire="http://loinc.org/q/44249-1")], config, now)
    assert fact(ex, "measure:phq9")["value"] == 9.0


def test_nested_groups_and_definition_fragments_are_found(config: FactConfig,
                                                          now: datetime) -> None:
    inner = [{"linkId": f"q{i}", "definition": f"http://loinc.org/q/44249-1#{c}",
              "answer": [{"valueInteger": 2}]} for i, c in enumerate(PHQ9_ITEMS)]
    ex = run_raw([PAT, _qr([{"linkId": "group", "item": inner}])], config, now)
    assert fact(ex, "measure:phq9")["value"] == 18.0


def test_a_questionnaire_is_recognised_by_its_questionnaire_code(config: FactConfig,
                                                                 now: datetime) -> None:
    questionnaire = {"resourceType": "Questionnaire", "id": "local-gad7", "status": "active",
                     "url": "https://clinic.example/Questionnaire/anxiety",
                     "code": [{"system": LOINC, "code": "69737-5"}]}
    items = [{"linkId": c, "answer": [{"valueInteger": 2}]}
             for c in ["69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8",
                       "69736-7"]]
    qr = _qr(items, questionnaire="https://clinic.example/Questionnaire/anxiety|3")
    ex = run_raw([PAT, questionnaire, qr], config, now)
    assert fact(ex, "measure:gad7")["value"] == 14.0
    assert fact(ex, "measure:gad2")["value"] == 4.0  # GAD-2 from GAD-7 items 1-2


def test_peg_is_the_mean_of_its_three_items(config: FactConfig, now: datetime) -> None:
    ex = run({"questionnaires": [{"instrument": "peg", "answers": [7, 6, 8], "days_ago": 1}]},
             config, now)
    assert fact(ex, "measure:peg")["value"] == 7.0
    assert fact(ex, "measure:pain")["code"] == "91147-9"


def test_pss10_reverses_items_4_5_7_and_8(config: FactConfig, now: datetime) -> None:
    ex = run({"questionnaires": [{"instrument": "pss10", "days_ago": 3,
                                  "answers": [2, 2, 2, 4, 4, 2, 4, 4, 2, 2]}]}, config, now)
    assert fact(ex, "measure:pss10")["value"] == 12.0  # 6 x 2 + 4 x (4 - 4)


def test_prenudge_pss10_frequency_codes_are_scored(config: FactConfig, now: datetime) -> None:
    system = ("https://fhir.hl7.at/prenudge/appdata/r4/CodeSystem/"
              "at-prenudge-pss-frequency-codesystem")
    codes = ["often"] * 10
    items = [{"linkId": "pss10", "item": [
        {"linkId": f"pss10-q{i + 1}", "answer": [{"valueCoding": {"system": system, "code": c}}]}
        for i, c in enumerate(codes)]}]
    qr = _qr(items, questionnaire=(
        "https://fhir.hl7.at/prenudge/appdata/r4/Questionnaire/Pss10Questionnaire"))
    ex = run_raw([PAT, qr], config, now)
    assert fact(ex, "measure:pss10")["value"] == 22.0  # 6 x 3 + 4 x (4 - 3)


def test_isi_is_scored_from_local_items(config: FactConfig, now: datetime) -> None:
    ex = run({"questionnaires": [{"instrument": "isi", "answers": [3, 3, 2, 3, 2, 2, 3],
                                  "days_ago": 10}]}, config, now)
    assert fact(ex, "measure:isi")["value"] == 18.0


def test_an_answer_outside_the_item_range_is_noted_and_voids_the_total(
        config: FactConfig, now: datetime) -> None:
    ex = run({"questionnaires": [{"instrument": "phq9", "style": "integer", "days_ago": 1,
                                  "answers": [1, 1, 1, 1, 1, 1, 1, 1, 7]}]}, config, now)
    assert not has_fact(ex, "measure:phq9") and not has_fact(ex, "measure:phq9_item9")
    assert any("answer 7 is outside 0-3" in n for n in notes(ex, "unusable-value"))


def test_an_observation_total_and_a_scored_response_on_one_day_count_once(
        config: FactConfig, now: datetime) -> None:
    items = [{"linkId": f"/{c}", "answer": [{"valueInteger": 1}]} for c in PHQ9_ITEMS]
    qr = _qr(items, authored="2026-05-25T09:00:00Z")
    total = obs("t", "44261-6", 12, "2026-05-25T08:00:00Z")
    earlier = obs("e", "44261-6", 10, "2026-04-01T08:00:00Z")
    before = obs("b", "44261-6", 8, "2026-03-01T08:00:00Z")
    ex = run_raw([PAT, qr, total, earlier, before], config, now)
    phq9 = fact(ex, "measure:phq9")
    assert phq9["value"] == 12.0 and phq9["method"] == "observation"
    trend = fact(ex, "trend:phq9")
    assert trend["n"] == 3.0 and trend["last"] == 12.0


def test_in_progress_responses_are_ignored(config: FactConfig, now: datetime) -> None:
    ex = run({"questionnaires": [{"instrument": "phq9", "answers": [3] * 9, "days_ago": 1,
                                  "status": "in-progress"}]}, config, now)
    assert not has_fact(ex, "measure:phq9")
