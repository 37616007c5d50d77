"""Daily dose from FHIR R4 Dosage: dose x administrations per day, in mg/d (or ug/h for
transdermal patches, whose dose is a rate and is not multiplied by the timing).

- Dose: doseAndRate[0].doseQuantity, else doseRange.high (the highest prescribed dose).
  Mass units are converted to mg (g, mg, ug/mcg). A count of units of the dose form
  (tablets, capsules, patches, films, sprays: `{pill}`, `{tbl}`, `TAB`, `{actuat}`, ...) is
  multiplied by the ingredient's strength per unit in the product, a volume in mL by its
  concentration (mg/mL), a prefilled syringe by concentration x volume. A dose that cannot be
  converted names the unit and the product strength in its DataNote.
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

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cds.facts.access import Ctx, number
from cds.facts.packdefs import Product, ProductPart
from cds.fhir.codings import codings

_MASS_TO_MG = {"mg": 1.0, "g": 1000.0, "ug": 0.001, "mcg": 0.001, "µg": 0.001}
_RATE_TO_UGH = {"ug/h": 1.0, "mcg/h": 1.0, "ug/hr": 1.0, "mcg/hr": 1.0, "µg/h": 1.0,
                "mg/h": 1000.0}
_DAILY_MG = {"mg/d": 1.0, "mg/day": 1.0, "g/d": 1000.0}
# Units that count units of the dose form (UCUM annotations, NCI/HL7 orderable-drug-form
# codes such as TAB and CAP, and plain words), lower case.
_COUNT = frozenset({
    "", "1", "tab", "tabs", "tablet", "tablets", "cap", "caps", "capsule", "capsules", "patch",
    "patches", "each", "ea", "dose", "doses", "pill", "pills", "film", "films", "lozenge",
    "troche", "suppository", "supp", "spray", "sprays", "actuation", "actuations", "puff",
    "puffs", "syringe", "cartridge", "device", "unit", "units", "{tbl}", "{tab}", "{tablet}",
    "{tablets}", "{pill}", "{pills}", "{capsule}", "{capsules}", "{cap}", "{patch}", "{each}",
    "{dose}", "{puff}", "{spray}", "{sprays}", "{actuat}", "{actuation}", "{film}",
    "{lozenge}", "{suppository}", "{syringe}", "{cartridge}", "{device}", "{unit}",
    "{applicator}", "{package}"})
_VOLUME_TO_ML = {"ml": 1.0, "l": 1000.0, "cl": 10.0, "dl": 100.0}
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
    if isinstance(rng, dict) and isinstance(high := rng.get("high"), dict):
        return high
    return None


def _per_unit(part: ProductPart, product: Product | None) -> tuple[float, str] | None:
    """The ingredient amount in one unit of the dose form: (amount, mg | ug/h)."""
    if part.strength is None:
        return None
    if part.unit in ("mg", "ug/h"):
        return part.strength, part.unit
    if part.unit == "mg/actuat":
        return part.strength, "mg"
    if part.unit == "mg/mL" and product is not None and product.volume_ml:
        return part.strength * product.volume_ml, "mg"
    return None


def _strength_text(part: ProductPart) -> str:
    if part.strength is None:
        return "no strength known (coded as an ingredient, or a pack of several strengths)"
    return f"strength {part.strength:g} {part.unit}"


def _amount(q: dict[str, Any], part: ProductPart, product: Product | None
            ) -> tuple[float, str] | str:
    """(amount, unit in mg | ug/h | mg/d) or an error text naming what could not be used."""
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
    if unit in _VOLUME_TO_ML and part.unit == "mg/mL" and part.strength is not None:
        return value * _VOLUME_TO_ML[unit] * part.strength, "mg"
    if unit in _COUNT:
        per_unit = _per_unit(part, product)
        if per_unit is not None:
            return value * per_unit[0], per_unit[1]
    shown = raw.strip()[:16] if isinstance(raw, str) and raw.strip() else "(none)"
    form = f" {product.dose_form}" if product is not None and product.dose_form else ""
    return f"dose unit '{shown}' cannot be converted to mg:{form} {_strength_text(part)}"


def _per_day(dosage: dict[str, Any], timing_codes: Mapping[str, float]) -> float | None:
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
            if isinstance(times := repeat.get(key), list) and times:
                return float(len(times))
    for coding in codings(timing.get("code")):
        per_day = timing_codes.get(str(coding["code"]).upper())
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


def daily_dose(dosages: Any, part: ProductPart, product: Product | None, ctx: Ctx, ref: str,
               name: str) -> DailyDose | None:
    """The daily dose of ingredient `part` (named `name` in notes) of `product`."""
    if not isinstance(dosages, list) or not dosages:
        ctx.note("dose-unknown", f"{name}: no dosage instructions; daily dose unknown", ref)
        return None
    total, unit_seen = 0.0, None
    for dosage in _current(dosages):
        dar = dosage.get("doseAndRate")
        q = _quantity(dar[0] if isinstance(dar, list) and dar else None)
        if q is None:
            ctx.note("dose-unknown", f"{name}: no dose quantity; daily dose unknown", ref)
            return None
        amount = _amount(q, part, product)
        if isinstance(amount, str):
            bad = "negative" in amount or "number" in amount
            ctx.note("unusable-value" if bad else "dose-unknown",
                     f"{name}: {amount}; daily dose unknown", ref)
            return None
        value, unit = amount
        if unit == "mg":
            per_day = _per_day(dosage, ctx.config.drugs.timing_codes)
            if per_day is None:
                if dosage.get("asNeededBoolean") is True or "asNeededCodeableConcept" in dosage:
                    ctx.note("dose-unknown",
                             f"{name}: as-needed dose without timing; daily dose unknown", ref)
                    return None
                ctx.note("dose-assumed", f"{name}: no timing; once daily assumed", ref)
                per_day = 1.0
            value, unit = value * per_day, "mg/d"
        if unit_seen not in (None, unit):
            ctx.note("dose-unknown", f"{name}: dosages in different units; daily dose unknown",
                     ref)
            return None
        unit_seen = unit
        total += value
    if unit_seen is None:
        return None
    return DailyDose(round(total, 6), "ug/h" if unit_seen == "ug/h" else "mg/d")
