"""Medications: ingredient from codes only, daily dose arithmetic, dose duration, MME."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from cds.facts.config import FactConfig

from .helpers import PATIENT, RXNORM, fact, has_fact, notes, of_type, run, run_raw

PAT = {"resourceType": "Patient", "id": "p1"}


def _request(rid: str, code: str, dosage: list[dict[str, Any]] | None = None,
             **extra: Any) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "MedicationRequest", "id": rid, "status": "active", "intent": "order",
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code}]},
        "subject": PATIENT, "authoredOn": "2026-05-01"}
    if dosage is not None:
        res["dosageInstruction"] = dosage
    res.update(extra)
    return res


def _dose(value: float, unit: str, repeat: dict[str, Any] | None = None,
          **extra: Any) -> dict[str, Any]:
    dosage: dict[str, Any] = {"doseAndRate": [{"doseQuantity": {
        "value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}}]}
    if repeat is not None:
        dosage["timing"] = {"repeat": repeat}
    dosage.update(extra)
    return dosage


def test_gabapentin_300_mg_three_times_daily_is_900_mg_per_day(config: FactConfig,
                                                               now: datetime) -> None:
    ex = run({"medications": [{"rxnorm": "310431", "dose_mg": 300, "times_per_day": 3,
                               "days_ago": 30}]}, config, now)
    med = fact(ex, "med:MedicationRequest/med-1")
    assert med["ingredient"] == "gabapentin" and med["rxcui"] == "25480"
    assert med["daily_dose"] == 900.0 and med["dose_unit"] == "mg/d"
    assert "gabapentinoids" in med["valuesets"] and "mme" not in med


def test_tramadol_50_mg_every_8_hours_is_150_mg_and_30_mme(config: FactConfig,
                                                           now: datetime) -> None:
    ex = run({"medications": [{"rxnorm": "835603", "dose_mg": 50, "every_hours": 8,
                               "days_ago": 10}]}, config, now)
    med = fact(ex, "med:MedicationRequest/med-1")
    assert med["daily_dose"] == 150.0 and med["mme"] == 30.0


def test_fentanyl_25_mcg_per_hour_patch_is_60_mme(config: FactConfig, now: datetime) -> None:
    ex = run({"medications": [{"rxnorm": "245134", "dose": 1, "dose_unit": "patch",
                               "every_hours": 72, "days_ago": 12}]}, config, now)
    med = fact(ex, "med:MedicationRequest/med-1")
    assert (med["daily_dose"], med["dose_unit"], med["mme"]) == (25.0, "ug/h", 60.0)


def test_tablet_counts_use_the_product_strength(config: FactConfig, now: datetime) -> None:
    # oxycodone/acetaminophen 5/325: 2 tablets every 6 hours = 40 mg oxycodone = 60 MME
    ex = run_raw([PAT, _request("m1", "1049221", [_dose(2, "{tbl}", {
        "frequency": 1, "period": 6, "periodUnit": "h"})])], config, now)
    med = fact(ex, "med:MedicationRequest/m1|oxycodone")
    assert med["ingredient"] == "oxycodone" and med["daily_dose"] == 40.0 and med["mme"] == 60.0
    paracetamol = fact(ex, "med:MedicationRequest/m1|acetaminophen")
    assert paracetamol["daily_dose"] == 2600.0 and "mme" not in paracetamol


def test_timing_codes_and_dose_ranges_use_the_highest_dose(config: FactConfig,
                                                           now: datetime) -> None:
    dosage = {"doseAndRate": [{"doseRange": {"low": {"value": 1, "unit": "mg"},
                                              "high": {"value": 2, "unit": "mg"}}}],
              "timing": {"code": {"coding": [{"code": "BID"}]}}}
    ex = run_raw([PAT, _request("m1", "6470", [dosage])], config, now)
    assert fact(ex, "med:MedicationRequest/m1")["daily_dose"] == 4.0


def test_grams_and_weekly_periods_are_converted(config: FactConfig, now: datetime) -> None:
    dosage = _dose(0.6, "g", {"frequency": 14, "period": 1, "periodUnit": "wk"})
    ex = run_raw([PAT, _request("m1", "25480", [dosage])], config, now)
    assert fact(ex, "med:MedicationRequest/m1")["daily_dose"] == 1200.0


def test_no_timing_means_once_daily_with_a_note(config: FactConfig, now: datetime) -> None:
    ex = run_raw([PAT, _request("m1", "596930", [_dose(1, "capsule")])], config, now)
    assert fact(ex, "med:MedicationRequest/m1")["daily_dose"] == 30.0
    assert notes(ex, "dose-assumed")


def test_as_needed_without_timing_has_no_daily_dose(config: FactConfig, now: datetime) -> None:
    dosage = _dose(5, "mg", asNeededBoolean=True)
    ex = run_raw([PAT, _request("m1", "1049621", [dosage])], config, now)
    med = fact(ex, "med:MedicationRequest/m1")
    assert "daily_dose" not in med and "mme" not in med
    assert notes(ex, "dose-unknown")


@pytest.mark.parametrize(("code", "ingredient"), [
    ("596930", "duloxetine"),   # SCD
    ("596932", "duloxetine"),   # SBD [Cymbalta]
    ("476250", "duloxetine"),   # PIN duloxetine hydrochloride
    ("72625", "duloxetine"),    # IN
    ("857002", "acetaminophen|hydrocodone"),  # one fact per ingredient of a combination
    ("828348", "cyclobenzaprine"),
    ("854873", "zolpidem"),
])
def test_product_and_pin_codes_resolve_to_the_ingredient(code: str, ingredient: str,
                                                         config: FactConfig,
                                                         now: datetime) -> None:
    ex = run_raw([PAT, _request("m1", code)], config, now)
    names = ingredient.split("|")
    ids = ["med:MedicationRequest/m1"] if len(names) == 1 else [
        f"med:MedicationRequest/m1|{name}" for name in names]
    assert [fact(ex, fid)["ingredient"] for fid in ids] == names


@pytest.mark.parametrize(("text", "suggests"), [
    ("oxycodone 5 mg tablet", "oxycodone"),  # a hint for the card and note, never an ingredient
    ("lisinopril 10 mg tablet", None),  # outside the checked drugs: no hint
])
def test_an_unmapped_code_is_unknown_and_never_guessed_from_text(
        config: FactConfig, now: datetime, text: str, suggests: str | None) -> None:
    res = _request("m1", "99999999")
    res["medicationCodeableConcept"]["text"] = text
    ex = run_raw([PAT, res], config, now)
    med = fact(ex, "med:MedicationRequest/m1")
    assert med["ingredient"] == "unknown" and med["valuesets"] == [] and "rxcui" not in med
    assert med["named"] == "yes" and med.get("name_suggests") == suggests
    (note,) = notes(ex, "unmapped-medication")
    assert ("suggests" in note) == (suggests is not None)
    assert ex.unresolved == [(RXNORM, "99999999", text)]


def test_contained_medication_references_are_resolved(config: FactConfig, now: datetime) -> None:
    res = _request("m1", "x")
    del res["medicationCodeableConcept"]
    res["contained"] = [{"resourceType": "Medication", "id": "med", "code": {
        "coding": [{"system": RXNORM, "code": "483450"}]}}]
    res["medicationReference"] = {"reference": "#med"}
    ex = run_raw([PAT, res], config, now)
    assert fact(ex, "med:MedicationRequest/m1")["ingredient"] == "pregabalin"


def test_only_active_order_intents_and_active_statements_count(config: FactConfig,
                                                               now: datetime) -> None:
    ex = run({"medications": [
        {"rxnorm": "72625", "dose_mg": 30, "times_per_day": 1, "days_ago": 5},
        {"rxnorm": "704", "dose_mg": 10, "times_per_day": 1, "days_ago": 5,
         "intent": "proposal"},
        {"rxnorm": "7531", "dose_mg": 10, "times_per_day": 1, "days_ago": 5,
         "status": "stopped"},
        {"rxnorm": "596", "dose_mg": 0.5, "times_per_day": 2, "days_ago": 5,
         "kind": "statement"}]}, config, now)
    assert sorted(m["ingredient"] for m in of_type(ex, "medication")) == [
        "alprazolam", "duloxetine"]


def test_dose_days_run_back_through_renewals_at_the_same_dose(config: FactConfig,
                                                              now: datetime) -> None:
    ex = run({"medications": [
        {"rxnorm": "72625", "dose_mg": 30, "times_per_day": 1, "days_ago": 120,
         "status": "completed"},
        {"rxnorm": "72625", "dose_mg": 60, "times_per_day": 1, "days_ago": 90,
         "status": "completed"},
        {"rxnorm": "72625", "dose_mg": 30, "times_per_day": 1, "days_ago": 60,
         "status": "completed"},
        {"rxnorm": "72625", "dose_mg": 30, "times_per_day": 1, "days_ago": 20}]}, config, now)
    [med] = of_type(ex, "medication")
    assert med["dose_days"] == 60.0  # back to the 30 mg restart, not the earlier 30 mg course


def test_a_draft_of_a_new_ingredient_is_new_and_a_renewal_is_not(config: FactConfig,
                                                                now: datetime) -> None:
    ex = run({"medications": [
        {"rxnorm": "1049621", "dose_mg": 5, "every_hours": 6, "days_ago": 30},
        {"rxnorm": "1049621", "dose_mg": 5, "every_hours": 6, "draft": True},
        {"rxnorm": "197321", "dose": 1, "dose_unit": "tablet", "times_per_day": 1,
         "draft": True}]}, config, now, "order-sign")
    renewal = fact(ex, "med:draft:MedicationRequest/draft-2")
    benzo = fact(ex, "med:draft:MedicationRequest/draft-3")
    assert renewal["status"] == "draft" and renewal["is_new"] == "no"
    assert benzo["is_new"] == "yes" and benzo["daily_dose"] == 1.0
    assert "dose_days" not in benzo


def test_mme_total_counts_active_and_draft_opioids_once(config: FactConfig,
                                                        now: datetime) -> None:
    ex = run({"medications": [
        {"rxnorm": "1049621", "dose_mg": 10, "times_per_day": 2, "days_ago": 30},  # 30 MME
        {"rxnorm": "1049621", "dose_mg": 10, "times_per_day": 2, "draft": True},  # renewal
        {"rxnorm": "857002", "dose": 1, "dose_unit": "tablet", "every_hours": 6,
         "draft": True},                                                          # 20 MME
        {"rxnorm": "351264", "dose_mg": 2, "times_per_day": 1, "days_ago": 10},   # excluded
    ]}, config, now, "order-sign")
    total = fact(ex, "total:mme_per_day")
    assert total["value"] == 50.0 and total["includes_draft"] == "yes"
    assert "mme" not in fact(ex, "med:MedicationRequest/med-4")  # buprenorphine


def test_cns_active_count_is_distinct_ingredients(config: FactConfig, now: datetime) -> None:
    ex = run({"medications": [
        {"rxnorm": "1049621", "dose_mg": 5, "times_per_day": 2, "days_ago": 30},
        {"rxnorm": "1049683", "dose_mg": 10, "times_per_day": 2, "days_ago": 30},
        {"rxnorm": "310431", "dose_mg": 300, "times_per_day": 3, "days_ago": 30},
        {"rxnorm": "197901", "dose": 1, "dose_unit": "tablet", "times_per_day": 1,
         "draft": True}]}, config, now, "order-select")
    total = fact(ex, "total:cns_active_count")
    assert total["value"] == 3.0 and total["includes_draft"] == "yes"


def test_a_negative_dose_is_noted_but_the_medication_still_counts(config: FactConfig,
                                                                  now: datetime) -> None:
    ex = run_raw([PAT, _request("m1", "1049621", [_dose(-5, "mg", {
        "frequency": 1, "period": 1, "periodUnit": "d"})])], config, now)
    med = fact(ex, "med:MedicationRequest/m1")
    assert med["ingredient"] == "oxycodone" and "daily_dose" not in med
    assert any("negative" in n for n in notes(ex, "unusable-value"))
    assert has_fact(ex, "total:mme_per_day")

