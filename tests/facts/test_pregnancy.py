"""patient.pregnant: an active pregnancy or lactation Condition, or the latest pregnancy status."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from cds.facts.config import FactConfig, load_fact_config
from tests.terminology.conftest import RULES

from .helpers import fact, run

BASE: dict[str, Any] = {"patient": {"age": 30, "sex": "female"}}


CASES = [
    ({}, "no"),
    ({"conditions": [{"code": "O26.891", "system": "icd10cm", "days_ago": 30}]}, "yes"),
    ({"conditions": [{"code": "Z34.80", "system": "icd10cm", "days_ago": 30}]}, "yes"),
    ({"conditions": [{"code": "Z34.80", "system": "icd10cm", "days_ago": 30,
                      "clinical_status": "resolved"}]}, "no"),
    ({"observations": [{"code": "82810-3", "answer": "LA15173-0", "days_ago": 5}]}, "yes"),
    ({"observations": [{"code": "82810-3", "answer": "LA15173-0", "days_ago": 200},
                       {"code": "82810-3", "answer": "LA26683-5", "days_ago": 5}]}, "no"),
]
@pytest.fixture(scope="module")
def shipped() -> FactConfig:
    return load_fact_config(RULES)


@pytest.mark.parametrize(("given", "expected"), CASES)
def test_pregnancy_status_on_the_patient_fact(shipped: FactConfig, now: datetime,
                                              given: dict[str, Any], expected: str) -> None:
    ex = run({**BASE, **given}, shipped, now)
    assert fact(ex, "patient")["pregnant"] == expected
