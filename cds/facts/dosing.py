"""Daily dose from FHIR R4 Dosage: dose x administrations per day, in mg/d (or ug/h for
transdermal patches, whose dose is a rate and is not multiplied by the timing).

- Dose: doseAndRate[0].doseQuantity, else doseRange.high (the highest prescribed dose).
  Mass units are converted to mg (g, mg, ug/mcg); a count of tablets, capsules or patches
  is multiplied by the product strength from medications.yaml.
- Timing: timing.repeat frequency (frequencyMax when given) per period (h, d, wk, mo, ...),
  else one administration per `when` / `timeOfDay` entry, else timing.code (BID, TID, ...).
- No timing at all: a regular (not PRN) dose is taken once daily, with a DataNote
  "dose-assumed"; a PRN dose without timing has no daily dose ("dose-unknown").
- Several Dosage entries with the same (or no) `sequence` are taken together and summed;
  later sequences (a planned taper) are ignored.
A negative or zero dose makes the daily dose unknown (DataNote "unusable-value"); the
medication itself is still reported, since its ingredient matters for safety rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cds.facts.access import Ctx, codings, number
from cds.facts.packdefs import Product

_MASS_TO_MG = {"mg": 1.0, "g": 1000.0, "ug": 0.001, "mcg": 0.001, "µg": 0.001}
_RATE_TO_UGH = {"ug/h": 1.0, "mcg/h": 1.0, "ug/hr": 1.0, "mcg/hr": 1.0, "µg/h": 1.0,
                "mg/h": 1000.0}
_DAILY_MG = {"mg/d": 1.0, "mg/day": 1.0, "g/d": 1000.0}
_COUNT = {"", "1", "tab", "tablet", "tablets", "cap", "capsule", "capsules", "patch",
          "patches", "each", "ea", "dose", "{tbl}", "{tablet}", "{capsule}", "{cap}",
          "{patch}", "{each}", "{dose}", "{puff}"}
_PER_DAY = {"s": 86400.0, "min": 1440.0, "h": 24.0, "d": 1.0, "wk": 1 / 7, "mo": 1 / 30,
            "a": 1 / 365}


@dataclass(frozen=True, slots=True)
class DailyDose:
    value: float
    unit: str  # "mg/d" or "ug/h"


def _quantity(dar: Any) -> dict[str, Any] | None:
    if not isinstance(dar, dict):
        return None
    q = dar.get("doseQuantity")
    if isinstance(q, dict):
        return q
    rng = dar.get("doseRange")
    if isinstance(rng, dict) and isinstance(rng.get("high"), dict):
        return rng["high"]
    return None


def _amount(q: dict[str, Any], product: Product | None) -> tuple[float, str] | str:
    """(amount, unit in mg | ug/h | mg/d) or an error text."""
    value = number(q.get("value"))
    if value is None:
        return "the dose is not a number"
    if value <= 0:
        return "the dose is zero or negative"
    raw = q.get("code") or q.get("unit") or ""
    unit = raw.strip().lower() if isinstance(raw, str) else ""
    if unit in _MASS_TO_MG:
        return value * _MASS_TO_MG[unit], "mg"
    if unit in _RATE_TO_UGH:
        return value * _RATE_TO_UGH[unit], "ug/h"
    if unit in _DAILY_MG:
        return value * _DAILY_MG[unit], "mg/d"
    if unit in _COUNT:
        if product is None or product.strength is None or product.strength_unit is None:
            return "a dose in units needs a product strength, and the product is not mapped"
        return value * product.strength, product.strength_unit
    return f"dose unit '{unit[:16]}' is not supported"


def _per_day(dosage: dict[str, Any], timing_codes: dict[str, float]) -> float | None:
    timing = dosage.get("timing")
    if not isinstance(timing, dict):
        return None
    repeat = timing.get("repeat")
    if isinstance(repeat, dict):
        freq = number(repeat.get("frequencyMax")) or number(repeat.get("frequency")) or 1.0
        period = number(repeat.get("period"))
        unit = repeat.get("periodUnit")
        if period and period > 0 and unit in _PER_DAY:
            return freq * _PER_DAY[unit] / period
        for key in ("when", "timeOfDay"):
            if isinstance(repeat.get(key), list) and repeat[key]:
                return float(len(repeat[key]))
    for coding in codings(timing.get("code")):
        per_day = timing_codes.get(coding["code"].upper())
        if per_day is not None:
            return per_day
    return None


def _current(dosages: list[Any]) -> list[dict[str, Any]]:
    valid: list[dict[str, Any]] = []
    sequences: list[float] = []
    for d in dosages:
        if isinstance(d, dict):
            valid.append(d)
            sequence = number(d.get("sequence"))
            if sequence is not None:
                sequences.append(sequence)
    if not sequences:
        return valid
    first = min(sequences)
    return [d for d in valid if number(d.get("sequence")) in (None, first)]


def daily_dose(dosages: Any, product: Product | None, ctx: Ctx, ref: str) -> DailyDose | None:
    if not isinstance(dosages, list) or not dosages:
        ctx.note("dose-unknown", "no dosage instructions; daily dose unknown", ref)
        return None
    total, unit_seen = 0.0, None
    for dosage in _current(dosages):
        dar = dosage.get("doseAndRate")
        q = _quantity(dar[0] if isinstance(dar, list) and dar else None)
        if q is None:
            ctx.note("dose-unknown", "no dose quantity; daily dose unknown", ref)
            return None
        amount = _amount(q, product)
        if isinstance(amount, str):
            bad = "negative" in amount or "number" in amount
            ctx.note("unusable-value" if bad else "dose-unknown", f"{amount}; daily dose unknown",
                     ref)
            return None
        value, unit = amount
        if unit == "mg":
            per_day = _per_day(dosage, ctx.config.drugs.timing_codes)
            if per_day is None:
                if dosage.get("asNeededBoolean") is True or "asNeededCodeableConcept" in dosage:
                    ctx.note("dose-unknown", "as-needed dose without timing; daily dose unknown",
                             ref)
                    return None
                ctx.note("dose-assumed", "no timing; once daily assumed", ref)
                per_day = 1.0
            value, unit = value * per_day, "mg/d"
        if unit_seen not in (None, unit):
            ctx.note("dose-unknown", "dosages in different units; daily dose unknown", ref)
            return None
        unit_seen = unit
        total += value
    if unit_seen is None:
        return None
    return DailyDose(round(total, 6), "ug/h" if unit_seen == "ug/h" else "mg/d")
