"""Facts derived from all readings and medications of the call: the latest value of each
measure, `missing` measures, trends, dose responses and per-patient totals."""

from __future__ import annotations

from operator import attrgetter
from typing import Any

from cds.facts.access import Ctx
from cds.facts.computed import computed_readings, latest_per_day
from cds.facts.packdefs import MeasureDef
from cds.facts.readings import Reading
from cds.facts.trends import TS, current_series, trend_fact

_DAY = attrgetter("day")
_METHOD = attrgetter("method")


def _dedupe(readings: list[Reading]) -> list[Reading]:
    """A questionnaire score and an Observation of the same code on the same day count once:
    the Observation is kept."""
    if "questionnaire" not in map(_METHOD, readings):
        return readings
    observed = {(r.day, r.series) for r in readings if r.method == "observation"}
    if not observed:
        return readings
    return [r for r in readings
            if r.method != "questionnaire" or (r.day, r.series) not in observed]


def _latest(readings: list[Reading]) -> Reading:
    """The newest reading; of several at the same moment, the first Observation (else the
    first one)."""
    latest = max(readings, key=TS)  # the first of the newest
    if latest.method == "observation":
        return latest
    return next((r for r in readings if r.ts == latest.ts and r.method == "observation"),
                latest)


def _measure_fact(m: MeasureDef, readings: list[Reading], ctx: Ctx) -> dict[str, Any]:
    latest = _latest(readings)
    value, method = latest.value, latest.method
    if m.mean_nights:
        nights = [r for day, r in latest_per_day(readings).items()
                  if latest.day - day < m.mean_nights]
        if len(nights) > 1:
            value, method = sum(r.value for r in nights) / len(nights), "computed"
    fact: dict[str, Any] = {
        "id": f"measure:{m.id}", "type": "measure", "measure": m.id,
        "value": round(value, 3), "unit": m.unit,
        "age_days": float(max(ctx.now_day - latest.day, 0)), "day": float(latest.day),
        "date": latest.date, "source": latest.source, "method": method,
        "approximate": "yes" if latest.approximate else "no",
    }
    if latest.method != "computed":
        fact["code"] = latest.series
    return fact


def measure_facts(readings: list[Reading], patient: dict[str, Any], ctx: Ctx
                  ) -> tuple[list[dict[str, Any]], dict[str, list[Reading]]]:
    """measure, missing and trend facts; also returns the de-duplicated readings by measure."""
    by_measure: dict[str, list[Reading]] = {}
    for r in readings:
        by_measure.setdefault(r.measure, []).append(r)
    computed_readings(by_measure, patient, ctx)
    facts: list[dict[str, Any]] = []
    for mid, m in ctx.config.measures.items():
        found = by_measure.get(mid)
        if found:
            found = by_measure[mid] = _dedupe(found)
            facts.append(_measure_fact(m, found, ctx))
            if m.trend is not None:
                trend = trend_fact(mid, found, m.trend, ctx.now_day)
                if trend is not None:
                    facts.append(trend)
        if m.lookback_days is not None:
            age = ctx.now_day - max(map(_DAY, found)) if found else None
            if age is None or age > m.lookback_days:
                missing: dict[str, Any] = {"id": f"missing:{mid}", "type": "missing",
                                           "measure": mid, "lookback_days": m.lookback_days}
                if age is not None:
                    missing["last_age_days"] = float(age)
                facts.append(missing)
    return facts, by_measure


def dose_response_facts(meds: list[dict[str, Any]], by_measure: dict[str, list[Reading]],
                        ctx: Ctx) -> list[dict[str, Any]]:
    """For each active medication in the configured value sets: the measure's change since the
    current dose started (baseline = last value on or before that day)."""
    drugs = ctx.config.drugs
    wanted = set(drugs.dose_response_valuesets)
    series = current_series(by_measure.get(drugs.dose_response_measure, []))
    if not series:
        return []
    latest = series[-1]
    facts = []
    for med in meds:
        if med["status"] != "active" or "dose_days" not in med or not wanted & set(
                med["valuesets"]):
            continue
        start_day = ctx.now_day - med["dose_days"]
        before = [r for r in series if r.day <= start_day]
        if not before or latest.day <= start_day:
            continue
        baseline = before[-1]
        fact: dict[str, Any] = {
            "id": f"dr:{med['source']}", "type": "dose_response", "medication": med["id"],
            "ingredient": med["ingredient"], "measure": drugs.dose_response_measure,
            "baseline": baseline.value, "baseline_date": baseline.date,
            "latest": latest.value, "latest_age_days": float(ctx.now_day - latest.day),
        }
        if baseline.value > 0:
            fact["pct_change"] = round(100 * (latest.value - baseline.value) / baseline.value, 1)
        facts.append(fact)
    return facts


def total_facts(meds: list[dict[str, Any]], ctx: Ctx) -> list[dict[str, Any]]:
    """mme_per_day over active and draft opioids (a draft identical to an active order, i.e. a
    renewal, is not counted twice) and cns_active_count (distinct ingredients)."""
    active = [m for m in meds if m["status"] == "active"]
    renewals = {(m.get("code"), m.get("daily_dose")) for m in active}
    drugs = ctx.config.drugs
    mme, mme_draft = 0.0, False
    uncounted: list[str] = []
    for m in meds:
        if "mme" not in m:
            if (drugs.mme_valuesets & set(m["valuesets"])
                    and m.get("rxcui") not in drugs.mme_excluded
                    and m["ingredient"] not in uncounted):
                uncounted.append(m["ingredient"])
            continue
        if m["status"] == "draft":
            if (m.get("code"), m.get("daily_dose")) in renewals:
                continue
            mme_draft = True
        mme += m["mme"]
    cns_sets = set(drugs.cns_valuesets)
    cns = {m.get("rxcui") or m["ingredient"]: m["status"]
           for m in sorted(meds, key=lambda m: m["status"] == "active")
           if m["ingredient"] != "unknown" and cns_sets & set(m["valuesets"])}
    total = {"id": "total:mme_per_day", "type": "total", "name": "mme_per_day",
             "value": round(mme, 3), "includes_draft": "yes" if mme_draft else "no"}
    if uncounted:
        total["uncounted"] = ", ".join(uncounted)
    return [
        total,
        {"id": "total:cns_active_count", "type": "total", "name": "cns_active_count",
         "value": float(len(cns)),
         "includes_draft": "yes" if "draft" in cns.values() else "no"},
    ]
