"""An "active" order counts as current therapy only within its validity or expected supply
(plus grace), after a recent dispense, or (stating neither) for a year after it was written."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from cds.authoring.synth import build_patient_data
from cds.facts.config import FactConfig
from cds.facts.extract import extract

from .helpers import run

OXY = {"rxnorm": "1049683", "display": "oxycodone hydrochloride 10 MG Oral Tablet",
       "dose_mg": 10, "times_per_day": 4}


def current(config: FactConfig, now: datetime, **spec: Any) -> bool:
    ex = run({"patient": {"age": 50, "sex": "male"}, "medications": [{**OXY, **spec}]},
             config, now)
    return any(f["type"] == "medication" for f in ex.facts)


@pytest.mark.parametrize(("spec", "expected"), [
    ({"days_ago": 720, "supply_days": 5}, False),          # post-operative, never closed
    ({"days_ago": 34, "supply_days": 5}, True),            # supply ended 29 days ago: grace
    ({"days_ago": 36, "supply_days": 5}, False),           # 31 days ago: past the grace
    ({"days_ago": 100, "supply_days": 30, "repeats": 2}, True),   # 90 days of supply
    ({"days_ago": 720, "supply_days": 5, "dispensed_days_ago": 60}, True),
    ({"days_ago": 720, "supply_days": 5, "dispensed_days_ago": 91}, False),
    ({"days_ago": 300}, True),                              # no supply data: within a year
    ({"days_ago": 400}, False),
    ({"days_ago": 400, "kind": "statement"}, True),         # the patient says they take it
])
def test_an_active_order_is_current_only_while_supplied(config: FactConfig, now: datetime,
                                                        spec: dict[str, Any],
                                                        expected: bool) -> None:
    assert current(config, now, **spec) is expected


def test_a_validity_period_ending_in_the_future_keeps_an_old_order_current(
        config: FactConfig, now: datetime) -> None:
    data = build_patient_data({"patient": {"age": 50, "sex": "male"},
                               "medications": [{**OXY, "days_ago": 500}]}, now)
    order = next(r for r in data.resources if r.get("resourceType") == "MedicationRequest")
    order["dispenseRequest"] = {"validityPeriod": {"start": "2025-01-01",
                                                   "end": f"{now.year + 1}-01-01"}}
    ex = extract(data, config, now)
    assert any(f["type"] == "medication" for f in ex.facts)


def test_a_dispense_for_another_patient_does_not_keep_an_order_current(config: FactConfig,
                                                                        now: datetime) -> None:
    data = build_patient_data({"patient": {"age": 50, "sex": "male"},
                               "medications": [{**OXY, "days_ago": 720, "supply_days": 5,
                                                "dispensed_days_ago": 10}]}, now)
    dispense = next(r for r in data.resources if r["resourceType"] == "MedicationDispense")
    dispense["subject"] = {"reference": "Patient/someone-else"}
    ex = extract(data, config, now)
    assert not any(f["type"] == "medication" for f in ex.facts)
    assert any(n.kind == "other-patient" for n in ex.notes)
