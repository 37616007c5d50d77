"""Is an "active" medication order current therapy? EHR medication lists keep orders active
long after the supply ran out (a 5-day post-operative opioid authored two years ago and never
closed). An active MedicationRequest counts as current only while one of these holds
(medications.yaml `current_therapy`):

- its validity period (dispenseRequest.validityPeriod.end) or its expected supply
  (validityPeriod.start or authoredOn + expectedSupplyDuration x (1 + numberOfRepeatsAllowed))
  ended less than `grace_days` ago;
- it was dispensed (a completed MedicationDispense naming it, or of the same medication code)
  within the last `dispense_days`;
- it states neither, and was authored within the last `undated_days`.
An order that is not current is past therapy: it informs how long a dose has run, and no
rule sees it as something the patient takes. MedicationStatements say what the patient takes:
they stay current unless their effective period ended more than `grace_days` ago.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cds.facts.access import Ctx, keys_of, number, parse_when
from cds.facts.packdefs import CurrentTherapy
from cds.fhir.codings import codings

_DAYS = {"d": 1.0, "day": 1.0, "days": 1.0, "wk": 7.0, "week": 7.0, "mo": 30.0, "month": 30.0,
         "a": 365.0, "h": 1 / 24}


def _day(value: Any) -> int | None:
    """The day of a FHIR date (future dates allowed: validity periods end in the future)."""
    found = parse_when(value) if isinstance(value, str) else None
    return found.day if found is not None else None


def _supply_days(request: dict[str, Any]) -> float | None:
    duration = request.get("expectedSupplyDuration")
    if not isinstance(duration, dict):
        return None
    value = number(duration.get("value"))
    unit = duration.get("code") or duration.get("unit")
    per = _DAYS.get(unit.lower()) if isinstance(unit, str) else None
    if value is None or value <= 0 or per is None:
        return None
    repeats = number(request.get("numberOfRepeatsAllowed")) or 0.0
    return value * per * (1.0 + max(repeats, 0.0))


def _ends(res: dict[str, Any]) -> list[float]:
    """The days on which the order's validity or expected supply ends (none when unstated)."""
    request = res.get("dispenseRequest")
    if not isinstance(request, dict):
        return []
    validity = request.get("validityPeriod")
    validity = validity if isinstance(validity, dict) else {}
    ends: list[float] = []
    end = _day(validity.get("end"))
    if end is not None:
        ends.append(float(end))
    supply = _supply_days(request)
    start = _day(validity.get("start")) or _day(res.get("authoredOn"))
    if supply is not None and start is not None:
        ends.append(start + supply)
    return ends


def dispensed_days(resources: Iterable[dict[str, Any]], ctx: Ctx) -> dict[str, int]:
    """Latest day handed over, by prescription reference and by medication code key."""
    out: dict[str, int] = {}

    def keep(key: str, day: int) -> None:
        if day > out.get(key, -1):
            out[key] = day

    for res in resources:
        if res.get("resourceType") != "MedicationDispense" or res.get("status") != "completed":
            continue
        if ctx.for_other_patient(res, ctx.ref(res)):
            continue
        day = _day(res.get("whenHandedOver")) or _day(res.get("whenPrepared"))
        if day is None or day > ctx.now_day + 1:
            continue
        for prescription in res.get("authorizingPrescription") or []:
            target = prescription.get("reference") if isinstance(prescription, dict) else None
            if isinstance(target, str):
                keep("rx:" + target, day)
        for system, code in keys_of(codings(res.get("medicationCodeableConcept"))):
            keep(f"code:{system}|{code}", day)
    return out


def is_current(res: dict[str, Any], ref: str, codes: list[tuple[str, str]],
               dispensed: Mapping[str, int], ctx: Ctx) -> bool:
    rule: CurrentTherapy = ctx.config.drugs.current_therapy
    now = ctx.now_day
    if res.get("resourceType") == "MedicationStatement":
        period = res.get("effectivePeriod")
        end = _day(period.get("end")) if isinstance(period, dict) else None
        return end is None or end >= now - rule.grace_days
    if dispensed:
        keys = ["rx:" + ref, *(f"code:{s}|{c}" for s, c in codes)]
        if any(now - dispensed.get(key, -10**9) <= rule.dispense_days for key in keys):
            return True
    ends = _ends(res)
    if ends:
        return max(ends) >= now - rule.grace_days
    authored = _day(res.get("authoredOn"))
    return authored is None or now - authored <= rule.undated_days
