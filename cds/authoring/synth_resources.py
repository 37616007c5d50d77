"""Builders of single FHIR R4 resources for the fixture shorthand (see synth.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cds.facts.codes import LOINC, RXNORM, UCUM, resolve_system

ORDINAL = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"


def iso(now: datetime, days_ago: float = 0) -> str:
    """A FHIR dateTime `days_ago` days before now, in UTC."""
    when = now.astimezone(UTC) - timedelta(days=float(days_ago))
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _concept(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding: dict[str, Any] = {"system": system, "code": str(code)}
    if display:
        coding["display"] = display
    return {"coding": [coding], **({"text": display} if display else {})}


def observation(spec: dict[str, Any], i: int, now: datetime, subject: dict[str, Any],
                pack: dict[str, Any]) -> dict[str, Any]:
    system = resolve_system(spec.get("system", "loinc"), pack["local"])
    code = str(spec["code"])
    res: dict[str, Any] = {
        "resourceType": "Observation", "id": spec.get("id", f"obs-{i}"),
        "status": spec.get("status", "final"), "code": _concept(system, code),
        "subject": subject, "effectiveDateTime": iso(now, spec.get("days_ago", 0)),
    }
    if "answer" in spec:
        res["valueCodeableConcept"] = _concept(LOINC, spec["answer"])
    elif isinstance(spec.get("value"), str):
        res["valueString"] = spec["value"]  # for broken-data tests
    elif "value" in spec:
        unit = spec.get("unit") or pack["units"].get((system, code))
        quantity: dict[str, Any] = {"value": spec["value"]}
        if unit:
            quantity.update({"unit": unit, "system": UCUM, "code": unit})
        res["valueQuantity"] = quantity
    return res


def _answer(value: float, style: str, instrument: str, pack: dict[str, Any]) -> dict[str, Any]:
    if style == "integer":
        return {"valueInteger": int(value)} if value == int(value) else {"valueDecimal": value}
    if style == "la":
        code = pack["la"].get(float(value))
        if code is None:
            raise ValueError(f"no LOINC answer code scores {value}; use style ordinal")
        return {"valueCoding": {"system": LOINC, "code": code}}
    if style == "ordinal":
        return {"valueCoding": {
            "extension": [{"url": ORDINAL, "valueDecimal": value}],
            "system": pack["local"], "code": f"{instrument}-answer-{value:g}"}}
    raise ValueError(f"unknown answer style {style!r} (la, ordinal or integer)")


def questionnaire_response(spec: dict[str, Any], i: int, now: datetime,
                           subject: dict[str, Any], pack: dict[str, Any]) -> dict[str, Any]:
    inst = pack["instruments"][spec["instrument"]]
    answers = list(spec.get("answers") or [])
    if len(answers) != len(inst.items):
        raise ValueError(f"{inst.id} has {len(inst.items)} items; {len(answers)} answers given")
    style = spec.get("style", "la" if inst.item_high <= 3 else "integer")
    items = []
    for item, value in zip(inst.items, answers, strict=True):
        if value is None:
            continue
        link = f"/{item.key}" if item.code[0] == LOINC else item.key
        items.append({"linkId": link, "answer": [_answer(value, style, inst.id, pack)]})
    res: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse", "id": spec.get("id", f"qr-{i}"),
        "status": spec.get("status", "completed"), "subject": subject,
        "authored": iso(now, spec.get("days_ago", 0)), "item": items,
    }
    if inst.canonicals:
        res["questionnaire"] = sorted(inst.canonicals)[0]
    return res


def _dosage(spec: dict[str, Any]) -> dict[str, Any]:
    dose = spec.get("dose", spec.get("dose_mg"))
    dosage: dict[str, Any] = {}
    if dose is not None:
        unit = spec.get("dose_unit", "mg")
        dosage["doseAndRate"] = [{"doseQuantity": {"value": dose, "unit": unit,
                                                   "system": UCUM, "code": unit}}]
    if "times_per_day" in spec:
        dosage["timing"] = {"repeat": {"frequency": spec["times_per_day"], "period": 1,
                                       "periodUnit": "d"}}
    elif "every_hours" in spec:
        dosage["timing"] = {"repeat": {"frequency": 1, "period": spec["every_hours"],
                                       "periodUnit": "h"}}
    elif "timing_code" in spec:
        dosage["timing"] = {"code": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation",
            "code": spec["timing_code"]}]}}
    if "as_needed" in spec:
        dosage["asNeededBoolean"] = bool(spec["as_needed"])
    return dosage


def _reasons(spec: dict[str, Any], local: str) -> list[dict[str, Any]]:
    system = resolve_system(spec.get("reason_system", "snomed"), local)
    return [_concept(system, str(r)) for r in spec.get("reason") or []]


def medication(spec: dict[str, Any], i: int, now: datetime, subject: dict[str, Any], *,
               draft: bool, local: str = "") -> dict[str, Any]:
    concept = _concept(RXNORM, str(spec["rxnorm"]), spec.get("display"))
    dosage = [_dosage(spec)] if ("dose" in spec or "dose_mg" in spec) else []
    when = iso(now, spec.get("days_ago", 0))
    if spec.get("kind", "request") == "statement":
        res: dict[str, Any] = {
            "resourceType": "MedicationStatement", "id": spec.get("id", f"med-{i}"),
            "status": spec.get("status", "active"), "medicationCodeableConcept": concept,
            "subject": subject, "effectivePeriod": {"start": when}, "dateAsserted": when}
        if dosage:
            res["dosage"] = dosage
        return res
    res = {
        "resourceType": "MedicationRequest",
        "id": spec.get("id", f"draft-{i}" if draft else f"med-{i}"),
        "status": "draft" if draft else spec.get("status", "active"),
        "intent": spec.get("intent", "order"), "medicationCodeableConcept": concept,
        "subject": subject, "authoredOn": when}
    if dosage:
        res["dosageInstruction"] = dosage
    if spec.get("reason"):
        res["reasonCode"] = _reasons(spec, local)
    if "supply_days" in spec:
        res["dispenseRequest"] = {
            "expectedSupplyDuration": {"value": spec["supply_days"], "unit": "days",
                                       "system": UCUM, "code": "d"},
            "numberOfRepeatsAllowed": spec.get("repeats", 0)}
    return res


def dispense(spec: dict[str, Any], i: int, now: datetime, subject: dict[str, Any]
             ) -> dict[str, Any]:
    """A completed MedicationDispense of medication `i` (`dispensed_days_ago`)."""
    return {"resourceType": "MedicationDispense", "id": f"disp-{i}", "status": "completed",
            "medicationCodeableConcept": _concept(RXNORM, str(spec["rxnorm"]),
                                                  spec.get("display")),
            "subject": subject,
            "authorizingPrescription": [{"reference": f"MedicationRequest/"
                                                      f"{spec.get('id', f'med-{i}')}"}],
            "whenHandedOver": iso(now, spec["dispensed_days_ago"])}


def condition(spec: dict[str, Any], i: int, now: datetime, subject: dict[str, Any],
              pack: dict[str, Any]) -> dict[str, Any]:
    system = resolve_system(spec.get("system", "snomed"), pack["local"])
    return {
        "resourceType": "Condition", "id": spec.get("id", f"cond-{i}"),
        "clinicalStatus": _concept(CLINICAL, spec.get("clinical_status", "active")),
        "verificationStatus": _concept(VERIFICATION,
                                       spec.get("verification_status", "confirmed")),
        "code": _concept(system, str(spec["code"]), spec.get("display")),
        "subject": subject, "onsetDateTime": iso(now, spec.get("days_ago", 0)),
    }


def referral(spec: dict[str, Any], i: int, now: datetime, subject: dict[str, Any],
             pack: dict[str, Any], *, draft: bool) -> dict[str, Any]:
    system = resolve_system(spec.get("system", "snomed"), pack["local"])
    code = _concept(system, str(spec["code"]), spec.get("display"))
    when = iso(now, spec.get("days_ago", 0))
    if spec.get("resource", "servicerequest") == "procedure":
        procedure = {"resourceType": "Procedure", "id": spec.get("id", f"proc-{i}"),
                     "status": spec.get("status", "completed"), "code": code,
                     "subject": subject, "performedDateTime": when}
        if "category" in spec:
            procedure["category"] = _concept(resolve_system("snomed", pack["local"]),
                                             str(spec["category"]))
        return procedure
    res: dict[str, Any] = {
        "resourceType": "ServiceRequest", "id": spec.get("id", f"sr-{i}"),
        "status": "draft" if draft else spec.get("status", "active"),
        "intent": spec.get("intent", "order"), "code": code, "subject": subject,
        "authoredOn": when}
    if spec.get("reason"):
        res["reasonCode"] = _reasons(spec, pack["local"])
    return res


def encounter(spec: dict[str, Any], i: int, now: datetime, subject: dict[str, Any],
              pack: dict[str, Any]) -> dict[str, Any]:
    """An Encounter (default) or EpisodeOfCare (`resource: episodeofcare`) whose type is the
    given code; `disposition` adds an Encounter discharge disposition code."""
    system = resolve_system(spec.get("system", "snomed"), pack["local"])
    concept = _concept(system, str(spec["code"]), spec.get("display"))
    start = iso(now, spec.get("days_ago", 0))
    if spec.get("resource", "encounter") == "episodeofcare":
        return {"resourceType": "EpisodeOfCare", "id": spec.get("id", f"eoc-{i}"),
                "status": spec.get("status", "active"), "type": [concept],
                "patient": subject, "period": {"start": start}}
    res: dict[str, Any] = {
        "resourceType": "Encounter", "id": spec.get("id", f"enc-{i}"),
        "status": spec.get("status", "finished"),
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                  "code": spec.get("class", "AMB")},
        "type": [concept], "subject": subject, "period": {"start": start, "end": start}}
    if "disposition" in spec:
        res["hospitalization"] = {"dischargeDisposition": _concept(
            resolve_system(spec.get("disposition_system", "snomed"), pack["local"]),
            str(spec["disposition"]))}
    return res
