"""Every fact the extractor emits is described by the fact catalogue, field by field."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cds.facts.catalogue import FACT_TYPES
from cds.facts.config import FactConfig

from .helpers import run
from .test_synth_and_strict import GIVEN

RICH: dict[str, Any] = {
    **GIVEN,
    "patient": {"age": 70, "sex": "male"},
    "questionnaires": [q for q in GIVEN["questionnaires"] if q["instrument"] != "peg"],
    "observations": GIVEN["observations"] + [
        {"code": "72514-3", "value": v, "days_ago": d} for v, d in ((4, 120), (5, 60), (6, 30))
    ] + [{"code": "2160-0", "value": 1.2, "days_ago": 20},
         {"code": "29463-7", "value": 80, "days_ago": 20}],
    "medications": GIVEN["medications"] + [
        {"rxnorm": "245134", "dose": 1, "dose_unit": "patch", "every_hours": 72,
         "days_ago": 60, "reason": ["82423001"]}],
    "encounters": [{"code": "385763009", "resource": "episodeofcare", "days_ago": 20}],
}


def _check(fact: dict[str, Any]) -> list[str]:
    problems = []
    ftype = FACT_TYPES.get(fact.get("type", ""))
    if ftype is None:
        return [f"unknown fact type {fact.get('type')}"]
    for name, value in fact.items():
        spec = ftype.field(name)
        if spec is None:
            problems.append(f"{fact['id']}: field {name} is not in the catalogue")
        elif spec.kind == "number" and type(value) is not float:
            problems.append(f"{fact['id']}: {name} must be a float, got {value!r}")
        elif spec.kind == "string" and not isinstance(value, str):
            problems.append(f"{fact['id']}: {name} must be a string, got {value!r}")
        elif spec.kind == "list" and not (isinstance(value, list)
                                          and all(isinstance(v, str) for v in value)):
            problems.append(f"{fact['id']}: {name} must be a list of strings")
        elif spec.choices and value not in spec.choices:
            problems.append(f"{fact['id']}: {name}={value!r} not in {spec.choices}")
    return problems


def test_every_emitted_fact_matches_the_catalogue(config: FactConfig, now: datetime) -> None:
    ex = run(RICH, config, now, "order-sign")
    types = {f["type"] for f in ex.facts}
    assert types == set(FACT_TYPES)  # the rich fixture exercises every fact type
    problems = [p for f in ex.facts for p in _check(f)]
    assert problems == []


def test_fact_ids_are_unique_and_stable(config: FactConfig, now: datetime) -> None:
    first = run(RICH, config, now, "order-sign")
    ids = [f["id"] for f in first.facts]
    assert len(ids) == len(set(ids))
    assert ids == [f["id"] for f in run(RICH, config, now, "order-sign").facts]
