"""Patient -> the `patient` fact: age in whole years at now, administrative gender."""

from __future__ import annotations

from datetime import date
from typing import Any

from cds.facts.access import Ctx

SEXES = frozenset({"male", "female", "other", "unknown"})


def age_years(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def patient_fact(res: dict[str, Any], ctx: Ctx, ref: str) -> dict[str, Any]:
    fact: dict[str, Any] = {"id": "patient", "type": "patient", "source": ref}
    if "birthDate" in res:
        when = ctx.when(res["birthDate"], ref, "birthDate")
        if when is not None:
            fact["age"] = float(age_years(date.fromisoformat(when.date), ctx.now.date()))
    gender = res.get("gender")
    if isinstance(gender, str) and gender in SEXES:
        fact["sex"] = gender
    elif gender is not None:
        ctx.note("invalid-resource", "Patient.gender is not a FHIR administrative gender", ref)
    return fact
