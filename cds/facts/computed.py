"""Measures computed from other measures (measures.yaml `compute`).

- product: a x b of the latest readings of two measures on the same calendar day (Exercise
  Vital Sign minutes/week = days/week x minutes/day).
- cockcroft_gault: creatinine clearance (mL/min) = (140 - age) x weight kg / (72 x serum
  creatinine mg/dL), x 0.85 for female patients, using the weight closest in time to the
  creatinine (within `weight_within_days`). Needs the patient's age and a sex of male or
  female; otherwise no value is computed.
- surrogate: readings of another measure (eGFR for CrCl) newer than every computed value
  are used as they are, flagged approximate.
"""

from __future__ import annotations

from collections.abc import Iterable

from cds.facts.access import Ctx
from cds.facts.packdefs import ComputeDef, MeasureDef
from cds.facts.readings import Reading

_FEMALE_FACTOR = 0.85


def latest_per_day(readings: Iterable[Reading]) -> dict[int, Reading]:
    out: dict[int, Reading] = {}
    for r in readings:
        kept = out.get(r.day)
        if kept is None or r.ts > kept.ts:
            out[r.day] = r
    return out


def _in_range(m: MeasureDef, value: float, ref: str, ctx: Ctx) -> bool:
    if m.low <= value <= m.high:
        return True
    ctx.note("unusable-value", f"{m.id}: computed {value:g} {m.unit} is outside the plausible "
             f"range {m.low:g}-{m.high:g}; skipped", ref)
    return False


def _product(m: MeasureDef, spec: ComputeDef, by_measure: dict[str, list[Reading]],
             ctx: Ctx) -> list[Reading]:
    a = latest_per_day(by_measure.get(spec.inputs[0], ()))
    b = latest_per_day(by_measure.get(spec.inputs[1], ()))
    out = []
    for day in a.keys() & b.keys():
        ra, rb = a[day], b[day]
        value = ra.value * rb.value
        if _in_range(m, value, ra.source, ctx):
            out.append(Reading(m.id, value, day, max(ra.ts, rb.ts), ra.date, ra.source,
                               "computed", m.id))
    return out


def _cockcroft_gault(m: MeasureDef, spec: ComputeDef, by_measure: dict[str, list[Reading]],
                     patient: dict[str, object], ctx: Ctx) -> list[Reading]:
    age, sex = patient.get("age"), patient.get("sex")
    if not isinstance(age, float) or sex not in ("male", "female"):
        return []
    weights = by_measure.get(spec.inputs[1], [])
    out = []
    for scr in by_measure.get(spec.inputs[0], []):
        near = [w for w in weights if abs(w.day - scr.day) <= spec.within_days]
        if not near or scr.value <= 0:
            continue
        weight = min(near, key=lambda w: (abs(w.day - scr.day), -w.ts))
        value = (140 - age) * weight.value / (72 * scr.value)
        if sex == "female":
            value *= _FEMALE_FACTOR
        value = round(value, 1)
        if _in_range(m, value, scr.source, ctx):
            out.append(Reading(m.id, value, scr.day, scr.ts, scr.date, scr.source,
                               "computed", "cockcroft-gault"))
    return out


def computed_readings(by_measure: dict[str, list[Reading]], patient: dict[str, object],
                      ctx: Ctx) -> None:
    """Add the readings of every computed measure to `by_measure` (in place)."""
    for m, spec in ctx.config.computed_measures:
        if spec.kind == "product":
            made = _product(m, spec, by_measure, ctx)
        else:
            made = _cockcroft_gault(m, spec, by_measure, patient, ctx)
        if spec.surrogate:
            newest = max((r.day for r in made), default=None)
            for r in by_measure.get(spec.surrogate, []):
                if (newest is None or r.day > newest) and m.low <= r.value <= m.high:
                    made.append(Reading(m.id, r.value, r.day, r.ts, r.date, r.source,
                                        r.method, r.series, approximate=True))
        if made:
            by_measure.setdefault(m.id, []).extend(made)
