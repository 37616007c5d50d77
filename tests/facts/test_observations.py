"""Observations become measure facts: status, units, ranges, dates and components."""

from __future__ import annotations

from datetime import datetime

import pytest

from cds.facts.config import FactConfig

from .helpers import LOINC, fact, has_fact, notes, obs, run, run_raw

PATIENT = {"resourceType": "Patient", "id": "p1", "birthDate": "1970-03-02",
           "gender": "female"}


def test_the_latest_pain_score_is_the_measure_with_its_age(config: FactConfig,
                                                          now: datetime) -> None:
    ex = run({"observations": [{"code": "72514-3", "value": 4, "days_ago": 20},
                               {"code": "72514-3", "value": 7, "days_ago": 3}]}, config, now)
    pain = fact(ex, "measure:pain")
    assert pain["value"] == 7.0 and pain["age_days"] == 3.0 and pain["unit"] == "{score}"
    assert pain["method"] == "observation" and pain["code"] == "72514-3"
    assert pain["source"] == "Observation/obs-2" and pain["date"] == "2026-05-29"
    assert fact(ex, "measure:pain_nrs")["value"] == 7.0


def test_preliminary_and_cancelled_observations_do_not_count(config: FactConfig,
                                                            now: datetime) -> None:
    ex = run({"observations": [
        {"code": "72514-3", "value": 9, "days_ago": 1, "status": "preliminary"},
        {"code": "72514-3", "value": 8, "days_ago": 1, "status": "entered-in-error"},
        {"code": "72514-3", "value": 3, "days_ago": 5, "status": "amended"}]}, config, now)
    assert fact(ex, "measure:pain")["value"] == 3.0


def test_sleep_minutes_are_converted_to_hours(config: FactConfig, now: datetime) -> None:
    ex = run({"observations": [{"code": "93832-4", "value": 330, "unit": "min",
                                "days_ago": 1}]}, config, now)
    assert fact(ex, "measure:sleep_hours")["value"] == 5.5


def test_sleep_is_the_mean_of_the_last_seven_nights(config: FactConfig, now: datetime) -> None:
    nights = [{"code": "93832-4", "value": v, "unit": "h", "days_ago": d}
              for v, d in ((5, 1), (6, 2), (7, 3), (4, 4), (6, 5), (5, 6), (8, 7), (2, 20))]
    sleep = fact(run({"observations": nights}, config, now), "measure:sleep_hours")
    assert sleep["value"] == round((5 + 6 + 7 + 4 + 6 + 5 + 8) / 7, 3)
    assert sleep["method"] == "computed" and sleep["age_days"] == 1.0


def test_creatinine_in_umol_per_litre_is_converted_to_mg_per_dl(config: FactConfig,
                                                                 now: datetime) -> None:
    ex = run({"observations": [{"code": "2160-0", "value": 176.84, "unit": "umol/L",
                                "days_ago": 10}]}, config, now)
    assert fact(ex, "measure:creatinine")["value"] == 2.0


def test_an_unaccepted_unit_is_noted_and_not_used(config: FactConfig, now: datetime) -> None:
    ex = run({"observations": [{"code": "93832-4", "value": 7, "unit": "kg", "days_ago": 1}]},
             config, now)
    assert not has_fact(ex, "measure:sleep_hours")
    assert any("unit 'kg'" in n for n in notes(ex, "unit"))


def test_an_absurd_phq9_total_is_noted_and_not_a_fact(config: FactConfig, now: datetime) -> None:
    ex = run({"observations": [{"code": "44261-6", "value": 40, "days_ago": 2},
                               {"code": "72514-3", "value": 6, "days_ago": 2}]}, config, now)
    assert not has_fact(ex, "measure:phq9")
    assert fact(ex, "measure:pain")["value"] == 6.0
    assert any("40 {score} is outside" in n for n in notes(ex, "unusable-value"))


def test_phq9_item9_coded_answer_is_scored_from_its_la_code(config: FactConfig,
                                                            now: datetime) -> None:
    ex = run({"observations": [{"code": "44260-8", "answer": "LA6570-1", "days_ago": 2}]},
             config, now)
    assert fact(ex, "measure:phq9_item9")["value"] == 2.0


def test_effective_period_end_then_issued_give_the_date(config: FactConfig,
                                                        now: datetime) -> None:
    a = obs("a", "72514-3", 5, "x")
    del a["effectiveDateTime"]
    a["effectivePeriod"] = {"start": "2026-05-01T08:00:00Z", "end": "2026-05-02T08:00:00Z"}
    b = obs("b", "91147-9", 6, "x")
    del b["effectiveDateTime"]
    b["issued"] = "2026-04-01T10:00:00+02:00"
    ex = run_raw([PATIENT, a, b], config, now)
    assert fact(ex, "measure:pain_nrs")["date"] == "2026-05-02"
    assert fact(ex, "measure:peg")["date"] == "2026-04-01"


def test_exercise_vital_sign_components_give_minutes_per_week(config: FactConfig,
                                                              now: datetime) -> None:
    panel = {
        "resourceType": "Observation", "id": "evs", "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "89574-8"}]}, "subject": PATIENT,
        "effectiveDateTime": "2026-05-20T09:00:00Z",
        "component": [
            {"code": {"coding": [{"system": LOINC, "code": "89555-7"}]},
             "valueQuantity": {"value": 3, "unit": "d/wk", "system": "http://unitsofmeasure.org",
                               "code": "d/wk"}},
            {"code": {"coding": [{"system": LOINC, "code": "68516-4"}]},
             "valueQuantity": {"value": 30, "unit": "min/d",
                               "system": "http://unitsofmeasure.org", "code": "min/d"}},
        ]}
    ex = run_raw([PATIENT, panel], config, now)
    evs = fact(ex, "measure:evs_min_week")
    assert evs["value"] == 90.0 and evs["method"] == "computed"
    assert not has_fact(ex, "missing:evs_min_week")


def test_a_direct_evs_minutes_per_week_reading_is_used(config: FactConfig, now: datetime) -> None:
    ex = run({"observations": [{"code": "82290-8", "value": 160, "days_ago": 30}]}, config, now)
    assert fact(ex, "measure:evs_min_week")["value"] == 160.0


def test_crcl_is_cockcroft_gault_from_creatinine_weight_age_and_sex(config: FactConfig,
                                                                    now: datetime) -> None:
    ex = run({"patient": {"age": 70, "sex": "male"},
              "observations": [{"code": "2160-0", "value": 1.4, "days_ago": 20},
                               {"code": "29463-7", "value": 72, "days_ago": 60}]}, config, now)
    crcl = fact(ex, "measure:crcl")
    assert crcl["value"] == 50.0  # (140 - 70) x 72 / (72 x 1.4)
    assert crcl["approximate"] == "no" and crcl["method"] == "computed"


def test_crcl_falls_back_to_egfr_flagged_approximate(config: FactConfig, now: datetime) -> None:
    ex = run({"patient": {"age": 70, "sex": "female"},
              "observations": [{"code": "98979-8", "value": 28, "unit": "mL/min/{1.73_m2}",
                                "days_ago": 15}]}, config, now)
    crcl = fact(ex, "measure:crcl")
    assert crcl["value"] == 28.0 and crcl["approximate"] == "yes"


def test_missing_facts_name_measures_absent_in_their_lookback(config: FactConfig,
                                                              now: datetime) -> None:
    ex = run({"observations": [{"code": "44261-6", "value": 8, "days_ago": 400},
                               {"code": "70274-6", "value": 4, "days_ago": 100}]}, config, now)
    missing = fact(ex, "missing:phq9")
    assert missing["lookback_days"] == 365.0 and missing["last_age_days"] == 400.0
    assert not has_fact(ex, "missing:gad7")
    assert "last_age_days" not in fact(ex, "missing:isi")
    assert fact(ex, "measure:phq9")["age_days"] == 400.0  # the latest is still reported


def test_an_observation_about_another_patient_is_skipped(config: FactConfig,
                                                         now: datetime) -> None:
    other = obs("x", "72514-3", 9, "2026-05-30", subject={"reference": "Patient/someone-else"})
    ex = run_raw([PATIENT, other], config, now)
    assert not has_fact(ex, "measure:pain")
    assert notes(ex, "other-patient")


@pytest.mark.parametrize(("code", "value", "unit", "measure", "expected"), [
    ("8636-3", 452, "ms", "qtc", 452.0),              # QTc (LOINC)
    ("14682-9", 150, "umol/L", "creatinine", 1.696),  # serum creatinine in umol/L
    ("38483-4", 1.1, "mg/dL", "creatinine", 1.1),     # creatinine in blood
    ("62238-1", 54, "mL/min/{1.73_m2}", "egfr", 54.0),
    ("48642-3", 61, "mL/min/{1.73_m2}", "egfr", 61.0),
    ("48643-1", 70, "mL/min/{1.73_m2}", "egfr", 70.0),
    ("3141-9", 81, "kg", "weight", 81.0),              # body weight measured
    ("38208-5", 6, "{score}", "pain", 6.0),            # pain severity, reported
])
def test_observation_codes_ehrs_send_feed_their_measures(config: FactConfig, now: datetime,
                                                         code: str, value: float, unit: str,
                                                         measure: str, expected: float) -> None:
    ex = run({"patient": {"age": 60, "sex": "male"},
              "observations": [{"code": code, "value": value, "unit": unit, "days_ago": 3}]},
             config, now)
    assert fact(ex, f"measure:{measure}")["value"] == pytest.approx(expected, rel=1e-3)
