"""The fixture shorthand: short YAML/dict descriptions of a patient -> valid FHIR R4 resources
and whole CDS Hooks requests. Used by rule tests, examples and benchmarks.

    patient: {age: 52, sex: female}                  # birthDate computed from now
    observations:                                    # LOINC unless `system` is given
      - {code: 72514-3, value: 7, days_ago: 3}       # unit defaults from measures.yaml
      - {code: 93832-4, value: 330, unit: min, days_ago: 1}
      - {code: 44260-8, answer: LA6569-3, days_ago: 2}   # valueCodeableConcept
    questionnaires:                                  # scored by the extractor
      - {instrument: phq9, answers: [1,1,2,0,1,0,1,0,1], days_ago: 5, style: la}
        # style: la (LOINC answer codes) | ordinal (ordinalValue extension) | integer
        # an answer of null leaves the item out (an incomplete response)
    medications:                                     # MedicationRequest unless kind: statement
      - {rxnorm: "72625", display: duloxetine 30 MG, dose_mg: 30, times_per_day: 1,
         days_ago: 40, status: active, kind: request, draft: false}
        # also: dose + dose_unit (e.g. 1 patch), every_hours, timing_code (BID),
        # as_needed, intent; draft: true puts it in context.draftOrders (status draft);
        # supply_days (+ repeats): expected supply; dispensed_days_ago: a MedicationDispense;
        # reason: [codes] (+ reason_system, default snomed): the order's reasonCode
    conditions: [{code: "82423001", system: snomed, days_ago: 400}]
    referrals: [{code: "308459004", status: active, days_ago: 10,
                 resource: servicerequest, reason: ["193462001"]}]
                # a procedure may carry category: <SNOMED code> (387713003 surgical)
    encounters: [{code: "385763009", resource: episodeofcare, status: active, days_ago: 20}]
                 # Encounter unless resource: episodeofcare; disposition: <SNOMED code>
    resources: [ <raw FHIR R4 resource dicts, passed through> ]

Ids are deterministic (obs-1, qr-1, med-1, ...). Prefetch keys come from the service in
rules/services.yaml (each key's query names its resource type); resources of a type no key
asks for go under the key "other".
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from cds.authoring.synth_resources import (
    condition,
    dispense,
    encounter,
    medication,
    observation,
    questionnaire_response,
    referral,
)
from cds.facts.codes import LOINC
from cds.facts.config import load_instruments, load_measures, local_codesystem
from cds.fhir.collect import PatientData, collect
from cds.hookdefs import hook_def
from cds.packyaml import parse
from cds.settings import BUNDLED_RULES_DIR

DEFAULT_PREFETCH = {
    "patient": "Patient/{{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}",
    "questionnaireResponses": "QuestionnaireResponse?patient={{context.patientId}}",
    "medicationRequests": "MedicationRequest?patient={{context.patientId}}",
    "medicationStatements": "MedicationStatement?patient={{context.patientId}}",
    "medicationDispenses": "MedicationDispense?patient={{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}",
    "serviceRequests": "ServiceRequest?patient={{context.patientId}}",
    "procedures": "Procedure?patient={{context.patientId}}",
    "encounters": "Encounter?patient={{context.patientId}}",
    "episodesOfCare": "EpisodeOfCare?patient={{context.patientId}}",
}

__all__ = ["build_draft_orders", "build_patient_data", "build_request", "build_resources"]


@lru_cache(maxsize=8)
def _pack(rules_dir: Path) -> dict[str, Any]:
    local = local_codesystem(rules_dir)
    measures = load_measures(rules_dir, local)
    instruments, scores = load_instruments(rules_dir, local)
    units: dict[tuple[str, str], str] = {}
    for m in measures.values():
        for code in m.codes:
            units.setdefault(code, m.unit)
    la = {score: code for (system, code), score in scores.items() if system == LOINC}
    return {"local": local, "units": units, "instruments": instruments, "la": la}


def _birth_date(age: int, today: date) -> str:
    year = today.year - age
    day = 28 if (today.month, today.day) == (2, 29) else today.day
    return date(year, today.month, day).isoformat()


def _patient(given: dict[str, Any], now: datetime, patient_id: str) -> dict[str, Any]:
    spec = given.get("patient") or {}
    res: dict[str, Any] = {"resourceType": "Patient", "id": patient_id}
    if "age" in spec:
        res["birthDate"] = _birth_date(int(spec["age"]), now.date())
    if "sex" in spec:
        res["gender"] = spec["sex"]
    return res


def build_resources(given: dict[str, Any], now: datetime, patient_id: str = "example", *,
                    rules_dir: Path | None = None) -> list[dict[str, Any]]:
    """Every resource of `given` except draft orders (see build_draft_orders)."""
    pack = _pack((rules_dir or BUNDLED_RULES_DIR).resolve())
    subject = {"reference": f"Patient/{patient_id}"}
    out = [_patient(given, now, patient_id)]
    for i, spec in enumerate(given.get("observations") or [], 1):
        out.append(observation(spec, i, now, subject, pack))
    for i, spec in enumerate(given.get("questionnaires") or [], 1):
        out.append(questionnaire_response(spec, i, now, subject, pack))
    for i, spec in enumerate(given.get("medications") or [], 1):
        if not spec.get("draft"):
            out.append(medication(spec, i, now, subject, draft=False, local=pack["local"]))
            if "dispensed_days_ago" in spec:
                out.append(dispense(spec, i, now, subject))
    for i, spec in enumerate(given.get("conditions") or [], 1):
        out.append(condition(spec, i, now, subject, pack))
    for i, spec in enumerate(given.get("referrals") or [], 1):
        if not spec.get("draft"):
            out.append(referral(spec, i, now, subject, pack, draft=False))
    for i, spec in enumerate(given.get("encounters") or [], 1):
        out.append(encounter(spec, i, now, subject, pack))
    out.extend(given.get("resources") or [])
    return out


def build_draft_orders(given: dict[str, Any], now: datetime, patient_id: str = "example", *,
                       rules_dir: Path | None = None) -> list[dict[str, Any]]:
    """The draft orders of `given` (medications and referrals with draft: true)."""
    pack = _pack((rules_dir or BUNDLED_RULES_DIR).resolve())
    subject = {"reference": f"Patient/{patient_id}"}
    out = [medication(spec, i, now, subject, draft=True, local=pack["local"])
           for i, spec in enumerate(given.get("medications") or [], 1) if spec.get("draft")]
    out += [referral(spec, i, now, subject, pack, draft=True)
            for i, spec in enumerate(given.get("referrals") or [], 1) if spec.get("draft")]
    return out


def _service(hook: str, service_id: str | None, rules_dir: Path) -> tuple[str, dict[str, str]]:
    path = rules_dir / "services.yaml"
    services: list[Any] = []
    if path.is_file():
        loaded = parse(path.read_text(encoding="utf-8")) or {}
        services = loaded.get("services") or [] if isinstance(loaded, dict) else []
    for svc in services:
        if isinstance(svc, dict) and (svc.get("id") == service_id
                                      or service_id is None and svc.get("hook") == hook):
            return str(svc["id"]), dict(svc.get("prefetch") or {})
    return service_id or f"stress-pain-{hook}", dict(DEFAULT_PREFETCH)


def _bundle(resources: list[dict[str, Any]], kind: str = "searchset") -> dict[str, Any]:
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": kind, "entry": [
        {"fullUrl": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, str(i) + repr(r.get('id')))}",
         "resource": r} for i, r in enumerate(resources)]}
    if kind == "searchset":
        bundle["total"] = len(resources)
    return bundle


def build_request(given: dict[str, Any], now: datetime, hook: str = "patient-view",
                  service_id: str | None = None, *, patient_id: str = "example",
                  rules_dir: Path | None = None) -> dict[str, Any]:
    """A whole CDS Hooks request: context (with draftOrders for order hooks) and prefetch
    filled per the service's keys in rules/services.yaml."""
    rules_dir = (rules_dir or BUNDLED_RULES_DIR).resolve()
    sid, prefetch_spec = _service(hook, service_id, rules_dir)
    resources = build_resources(given, now, patient_id, rules_dir=rules_dir)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for res in resources:
        by_type.setdefault(res["resourceType"], []).append(res)
    prefetch: dict[str, Any] = {}
    for key, template in prefetch_spec.items():
        rtype = str(template).split("?", 1)[0].split("/", 1)[0]
        if "?" not in str(template) and "/" in str(template):  # a read: the resource itself
            found = by_type.pop(rtype, [])
            prefetch[key] = found[0] if found else None
        else:
            prefetch[key] = _bundle(by_type.pop(rtype, []))
    rest = [r for group in by_type.values() for r in group]
    if rest:
        prefetch["other"] = _bundle(rest)
    context: dict[str, Any] = {"userId": "Practitioner/example", "patientId": patient_id}
    drafts = build_draft_orders(given, now, patient_id, rules_dir=rules_dir)
    definition = hook_def(hook)
    orders = definition.orders if definition is not None else "none"
    if orders != "none" or drafts:
        context["draftOrders"] = _bundle(drafts, "collection")
    if orders == "selected":
        context["selections"] = [f"{d['resourceType']}/{d['id']}" for d in drafts]
    instance = uuid.uuid5(uuid.NAMESPACE_URL, f"{sid}|{hook}|{patient_id}|{now.isoformat()}")
    return {"hookInstance": str(instance), "hook": hook, "context": context,
            "prefetch": prefetch}


def build_patient_data(given: dict[str, Any], now: datetime, hook: str = "patient-view",
                       service_id: str | None = None, *, patient_id: str = "example",
                       rules_dir: Path | None = None) -> PatientData:
    """build_request, then collect: the PatientData a rule test evaluates."""
    request = build_request(given, now, hook, service_id, patient_id=patient_id,
                            rules_dir=rules_dir)
    return collect(request["prefetch"], request["context"], hook,
                   _service(hook, service_id, (rules_dir or BUNDLED_RULES_DIR).resolve())[0])

