"""Helpers for facts tests: run the extractor on shorthand or raw resources."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cds.authoring.synth import build_patient_data
from cds.facts.config import FactConfig
from cds.facts.extract import Extraction, extract
from cds.fhir.collect import collect

PATIENT = {"reference": "Patient/p1"}
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"


def run(given: dict[str, Any], config: FactConfig, now: datetime, hook: str = "patient-view",
        *, strict: bool = False) -> Extraction:
    return extract(build_patient_data(given, now, hook), config, now, strict=strict)


def run_raw(resources: list[dict[str, Any]], config: FactConfig, now: datetime, *,
            drafts: list[dict[str, Any]] | None = None, hook: str = "patient-view",
            strict: bool = False) -> Extraction:
    prefetch = {"all": {"resourceType": "Bundle", "type": "searchset",
                        "entry": [{"resource": r} for r in resources]}}
    context: dict[str, Any] = {"patientId": "p1", "userId": "Practitioner/1"}
    if drafts is not None:
        context["draftOrders"] = {"resourceType": "Bundle", "type": "collection",
                                  "entry": [{"resource": r} for r in drafts]}
    return extract(collect(prefetch, context, hook, "svc"), config, now, strict=strict)


def fact(ex: Extraction, fid: str) -> dict[str, Any]:
    found = [f for f in ex.facts if f["id"] == fid]
    assert found, f"no fact {fid}; have {[f['id'] for f in ex.facts]}"
    return found[0]


def has_fact(ex: Extraction, fid: str) -> bool:
    return any(f["id"] == fid for f in ex.facts)


def of_type(ex: Extraction, ftype: str) -> list[dict[str, Any]]:
    return [f for f in ex.facts if f["type"] == ftype]


def notes(ex: Extraction, kind: str) -> list[str]:
    return [f"{n.resource}: {n.message}" for n in ex.notes if n.kind == kind]


def obs(oid: str, code: str, value: Any, when: str, unit: str | None = "{score}",
        **extra: Any) -> dict[str, Any]:
    """A realistic final R4 Observation with a UCUM valueQuantity."""
    res: dict[str, Any] = {
        "resourceType": "Observation", "id": oid, "status": "final",
        "category": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "survey"}]}],
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": PATIENT, "effectiveDateTime": when,
    }
    if value is not None:
        quantity: dict[str, Any] = {"value": value}
        if unit is not None:
            quantity.update({"unit": unit, "system": "http://unitsofmeasure.org", "code": unit})
        res["valueQuantity"] = quantity
    res.update(extra)
    return res
