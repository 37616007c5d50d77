"""Readings: one value of one measure at one time, before `measure` facts are derived.

Observations and scored questionnaires both produce readings through `readings_for`, which
converts units to the measure's canonical unit and refuses values outside the plausible
range (a DataNote "unusable-value", never a reading).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cds.facts.access import Ctx, When, number
from cds.facts.codes import Code

ORDINAL_EXTENSIONS = frozenset({
    "http://hl7.org/fhir/StructureDefinition/ordinalValue",
    "http://hl7.org/fhir/StructureDefinition/itemWeight",
    "http://hl7.org/fhir/StructureDefinition/iso21090-CO-value",
})


@dataclass(slots=True)
class Reading:
    measure: str
    value: float
    day: int
    ts: float
    date: str
    source: str
    method: str  # observation | questionnaire | computed
    series: str  # the code the value came from; a trend never mixes series
    approximate: bool = False


def coding_score(coding: dict[str, Any], ctx: Ctx) -> float | None:
    """The score of an answer coding: its ordinal extension, else the pack's answer table."""
    extensions = coding.get("extension")
    if isinstance(extensions, list):
        for ext in extensions:
            if isinstance(ext, dict) and ext.get("url") in ORDINAL_EXTENSIONS:
                value = number(ext.get("valueDecimal"))
                if value is None:
                    value = number(ext.get("valueInteger"))
                if value is not None:
                    return value
    code = coding.get("code")
    if not isinstance(code, str):
        return None
    return ctx.config.answer_scores.get((coding.get("system") or "", code))


def readings_for(ctx: Ctx, code: Code, value: float, unit: str | None, when: When, ref: str,
                 method: str) -> list[Reading]:
    """Readings of every measure `code` feeds, in each measure's canonical unit."""
    out: list[Reading] = []
    unit_key = unit.strip().lower() if unit else ""
    day, ts, date = when
    for m in ctx.config.measure_defs_by_code.get(code, ()):
        if unit:
            factor = m.units.get(unit_key)
            if factor is None:
                ctx.note("unit", f"{code[1]}: unit '{unit[:20]}' is not accepted "
                         f"(expected {m.unit}); value skipped", ref)
                continue
        elif m.unitless:
            factor = 1.0
        else:
            ctx.note("unit", f"{code[1]}: the value has no unit (expected {m.unit}); skipped", ref)
            continue
        canonical = value * factor
        if not m.low <= canonical <= m.high:
            ctx.note("unusable-value", f"{code[1]}: {canonical:g} {m.unit} is outside the "
                     f"plausible range {m.low:g}-{m.high:g}; skipped", ref)
            continue
        out.append(Reading(m.id, canonical, day, ts, date, ref, method, code[1]))
    return out
