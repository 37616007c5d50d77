"""Trend facts (clinical-content R14) and the series they are built from.

A series is the readings of one measure with the same `series` (code) as the newest reading,
so a trend never mixes instruments (NRS vs PEG). From the newest reading backwards, a reading
is picked when it lies within `window_days` of now and at least `min_spacing_days` before the
reading picked after it, until `n` are picked. With fewer than `n` the direction is
"insufficient" (the fact still carries `span_ge_90d`, which the chronic-pain definition
needs from as few as two readings).

- worsening: the picked readings never decrease AND last - first >= worsening.min_delta
  OR 100 * (last - first) / first >= worsening.min_pct
- improving: last <= improving.max_ratio * first
- stable: otherwise
- span_ge_90d: two readings (any instrument, any age) >= chronic.min_value at least
  chronic.min_span_days apart
"""

from __future__ import annotations

from operator import attrgetter
from typing import Any

from cds.facts.packdefs import TrendDef
from cds.facts.readings import Reading

TS = attrgetter("ts")  # a sort key that costs no Python call per reading


def current_series(readings: list[Reading]) -> list[Reading]:
    """Readings sharing the newest reading's series, oldest first."""
    if not readings:
        return []
    series = max(readings, key=TS).series
    return sorted([r for r in readings if r.series == series], key=TS)


def pick(series: list[Reading], trend: TrendDef, now_day: int) -> list[Reading]:
    picked: list[Reading] = []
    for r in reversed(series):
        if now_day - r.day > trend.window_days:
            break
        if picked and picked[-1].day - r.day < trend.min_spacing_days:
            continue
        picked.append(r)
        if len(picked) == trend.n:
            break
    picked.reverse()
    return picked


def _direction(values: list[float], nondecreasing: bool, trend: TrendDef) -> str:
    first, last = values[0], values[-1]
    delta = last - first
    pct = 100 * delta / first if first > 0 else None
    if nondecreasing and delta > 0 and (
            delta >= trend.worsening_min_delta
            or (pct is not None and pct >= trend.worsening_min_pct)):
        return "worsening"
    if first > 0 and last <= trend.improving_max_ratio * first:
        return "improving"
    return "stable"


def _chronic_span(readings: list[Reading], trend: TrendDef) -> bool:
    days = [r.day for r in readings if r.value >= trend.chronic_min_value]
    return bool(days) and max(days) - min(days) >= trend.chronic_min_span_days


def trend_fact(measure: str, readings: list[Reading], trend: TrendDef,
               now_day: int) -> dict[str, Any] | None:
    if len(readings) < 2:
        return None
    picked = pick(current_series(readings), trend, now_day)
    fact: dict[str, Any] = {
        "id": f"trend:{measure}", "type": "trend", "measure": measure,
        "n": float(len(picked)),
        "span_ge_90d": "yes" if _chronic_span(readings, trend) else "no",
        "direction": "insufficient",
    }
    if len(picked) >= 2:
        values = [r.value for r in picked]
        first, last = values[0], values[-1]
        nondecreasing = all(b >= a for a, b in zip(values, values[1:], strict=False))
        fact.update({
            "first": first, "last": last, "delta": round(last - first, 6),
            "span_days": float(picked[-1].day - picked[0].day),
            "first_date": picked[0].date, "last_date": picked[-1].date,
            "nondecreasing": "yes" if nondecreasing else "no",
        })
        if first > 0:
            fact["pct_change"] = round(100 * (last - first) / first, 1)
        if len(picked) == trend.n:
            fact["direction"] = _direction(values, nondecreasing, trend)
    return fact
