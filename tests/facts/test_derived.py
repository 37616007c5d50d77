"""Trends, dose responses and the chronic-pain span (clinical-content R07, R14)."""

from __future__ import annotations

from datetime import datetime

import pytest

from cds.facts.config import FactConfig

from .helpers import fact, has_fact, run


def _pain(*values_days: tuple[float, int], code: str = "72514-3") -> list[dict]:
    return [{"code": code, "value": v, "days_ago": d} for v, d in values_days]


@pytest.mark.parametrize(("series", "direction"), [
    (((4, 60), (5, 30), (6, 2)), "worsening"),      # +2 points, never decreasing
    (((5, 60), (5, 30), (6, 2)), "stable"),         # +1 point, +20%: neither threshold
    (((3, 60), (3, 30), (4, 2)), "worsening"),      # +1 point but +33%
    (((6, 60), (7, 30), (8.5, 2)), "worsening"),
    (((8, 60), (7, 30), (5, 2)), "improving"),      # 5 <= 0.7 x 8
    (((8, 60), (9, 30), (6, 2)), "stable"),         # 6 > 5.6
    (((4, 60), (8, 30), (6, 2)), "stable"),         # +2 but decreased on the way
])
def test_pain_trend_direction(series: tuple, direction: str, config: FactConfig,
                              now: datetime) -> None:
    trend = fact(run({"observations": _pain(*series)}, config, now), "trend:pain")
    assert trend["direction"] == direction and trend["n"] == 3.0


def test_trend_readings_are_spaced_at_least_seven_days_apart(config: FactConfig,
                                                             now: datetime) -> None:
    ex = run({"observations": _pain((4, 40), (9, 20), (5, 16), (6, 1), (7, 0))}, config, now)
    trend = fact(ex, "trend:pain")
    # newest 7 (day 0); day 1 is too close; then day 16 (5); day 20 too close; then day 40 (4)
    assert (trend["first"], trend["last"], trend["span_days"]) == (4.0, 7.0, 40.0)
    assert trend["direction"] == "worsening" and trend["pct_change"] == 75.0


def test_readings_older_than_the_window_do_not_make_a_trend(config: FactConfig,
                                                            now: datetime) -> None:
    trend = fact(run({"observations": _pain((3, 400), (4, 300), (7, 5))}, config, now),
                 "trend:pain")
    assert trend["direction"] == "insufficient" and trend["n"] == 1.0


def test_a_pain_trend_never_mixes_nrs_and_peg(config: FactConfig, now: datetime) -> None:
    given = {"observations": _pain((2, 90), (2, 60), (2, 30)) + _pain((8, 5), code="91147-9")}
    trend = fact(run(given, config, now), "trend:pain")
    assert trend["direction"] == "insufficient" and trend["n"] == 1.0
    assert fact(run(given, config, now), "trend:pain_nrs")["direction"] == "stable"


def test_two_readings_90_days_apart_mark_the_chronic_pain_span(config: FactConfig,
                                                               now: datetime) -> None:
    ex = run({"observations": _pain((5, 120), (6, 10))}, config, now)
    trend = fact(ex, "trend:pain")
    assert trend["span_ge_90d"] == "yes" and trend["direction"] == "insufficient"
    short = fact(run({"observations": _pain((5, 60), (6, 10))}, config, now), "trend:pain")
    assert short["span_ge_90d"] == "no"


def test_one_reading_makes_no_trend(config: FactConfig, now: datetime) -> None:
    assert not has_fact(run({"observations": _pain((5, 1))}, config, now), "trend:pain")


def test_duloxetine_dose_response_uses_the_baseline_before_the_dose_started(
        config: FactConfig, now: datetime) -> None:
    ex = run({"observations": _pain((8, 50), (7, 35), (6, 3)),
              "medications": [{"rxnorm": "596930", "dose": 1, "dose_unit": "capsule",
                               "times_per_day": 1, "days_ago": 40}]}, config, now)
    dr = fact(ex, "dr:MedicationRequest/med-1")
    assert dr["medication"] == "med:MedicationRequest/med-1" and dr["ingredient"] == "duloxetine"
    assert (dr["baseline"], dr["latest"], dr["latest_age_days"]) == (8.0, 6.0, 3.0)
    assert dr["pct_change"] == -25.0 and dr["measure"] == "pain"


def test_no_dose_response_without_a_reading_since_the_dose_started(config: FactConfig,
                                                                   now: datetime) -> None:
    ex = run({"observations": _pain((8, 50)),
              "medications": [{"rxnorm": "596930", "dose_mg": 30, "times_per_day": 1,
                               "days_ago": 40}]}, config, now)
    assert not has_fact(ex, "dr:MedicationRequest/med-1")


def test_no_dose_response_for_drugs_outside_the_configured_value_sets(
        config: FactConfig, now: datetime) -> None:
    ex = run({"observations": _pain((8, 50), (6, 3)),
              "medications": [{"rxnorm": "197321", "dose": 1, "dose_unit": "tablet",
                               "times_per_day": 1, "days_ago": 40}]}, config, now)
    assert not any(f["type"] == "dose_response" for f in ex.facts)
