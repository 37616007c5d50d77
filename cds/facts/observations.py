"""Observation -> readings.

Only final, amended or corrected Observations count. The value may be a valueQuantity
(unit normalised to the measure's canonical UCUM unit), a valueInteger, or a
valueCodeableConcept whose coding is scored (ordinalValue extension or an answer code in
instruments.yaml, e.g. LA6569-3 = 1 for PHQ-9 item 9). The date is effectiveDateTime,
effectiveInstant, effectivePeriod.end (else .start), else `issued`. Components (e.g. the two
Exercise Vital Sign questions in one panel) are read the same way with the parent's date.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cds.facts.access import Ctx, When, number
from cds.facts.codes import UCUM, Code
from cds.facts.readings import Reading, coding_score, readings_for
from cds.fhir.codings import codings

FINAL = frozenset({"final", "amended", "corrected"})


def _effective(obs: dict[str, Any], ctx: Ctx, ref: str) -> When | None:
    if "effectiveDateTime" in obs:
        return ctx.when(obs["effectiveDateTime"], ref, "effectiveDateTime")
    if "effectiveInstant" in obs:
        return ctx.when(obs["effectiveInstant"], ref, "effectiveInstant")
    period = obs.get("effectivePeriod")
    if isinstance(period, dict) and (period.get("end") or period.get("start")):
        key = "end" if period.get("end") else "start"
        return ctx.when(period[key], ref, f"effectivePeriod.{key}")
    if "issued" in obs:
        return ctx.when(obs["issued"], ref, "issued")
    ctx.note("invalid-resource", "the Observation has no effective date; skipped", ref)
    return None


def _value(holder: dict[str, Any], ctx: Ctx, ref: str) -> tuple[float, str | None] | None:
    """(value, unit) of a value[x]; None (with a note) when it cannot be used."""
    if "valueQuantity" in holder:
        q = holder["valueQuantity"]
        value = number(q.get("value")) if isinstance(q, dict) else None
        if value is None:
            ctx.note("invalid-resource", "valueQuantity.value is not a number; skipped", ref)
            return None
        unit = q.get("code") if q.get("system") == UCUM else None
        unit = unit or q.get("unit") or q.get("code")
        return value, unit if isinstance(unit, str) else None
    if "valueInteger" in holder:
        value = number(holder["valueInteger"])
        if value is None or value != int(value):
            ctx.note("invalid-resource", "valueInteger is not an integer; skipped", ref)
            return None
        return value, None
    if "valueCodeableConcept" in holder:
        for coding in codings(holder["valueCodeableConcept"]):
            score = coding_score(coding, ctx)
            if score is not None:
                return score, None
        ctx.note("unusable-value", "the coded answer has no known score; skipped", ref)
        return None
    for key in holder:
        if key.startswith("value"):
            ctx.note("unusable-value", f"{key} cannot be used as a measure value; skipped", ref)
            return None
    return None  # no value (e.g. dataAbsentReason): nothing to report


def _measure_code(holder: dict[str, Any], by_code: Mapping[Code, Any]) -> Code | None:
    """The first code of the holder's `code` that feeds a measure (several codings of one
    concept: the first known one counts). Every coding is still looked at, so a malformed one
    (an unhashable system) fails the resource wherever it stands."""
    concept = holder.get("code")
    raw = concept.get("coding") if isinstance(concept, dict) else None
    if not isinstance(raw, list):
        return None
    first = None
    for c in raw:
        code = c.get("code") if isinstance(c, dict) else None
        if isinstance(code, str):
            key = (c.get("system") or "", code)
            if key in by_code and first is None:
                first = key
    return first


def observation(obs: dict[str, Any], ctx: Ctx, ref: str) -> list[Reading]:
    if obs.get("status") not in FINAL:
        return []
    if not isinstance(obs.get("code"), dict):
        ctx.note("invalid-resource", "Observation.code is not a CodeableConcept; skipped", ref)
        return []
    by_code = ctx.config.measures_by_code
    own = _measure_code(obs, by_code)
    components = obs.get("component")
    parts: list[tuple[dict[str, Any], Code]] = [] if own is None else [(obs, own)]
    if isinstance(components, list):
        for comp in components:
            if isinstance(comp, dict):
                code = _measure_code(comp, by_code)
                if code is not None:
                    parts.append((comp, code))
    if not parts:
        return []  # not a measure of this pack
    when = _effective(obs, ctx, ref)
    if when is None:
        return []
    out: list[Reading] = []
    for holder, code in parts:
        found = _value(holder, ctx, ref)
        if found is not None:
            value, unit = found
            out += readings_for(ctx, code, value, unit, when, ref, "observation")
    return out
