"""Encounter and EpisodeOfCare -> `encounter` facts: care the patient is in or had, coded by
its type, reason and (Encounter) discharge disposition, so that hospice or end-of-life care
recorded as an encounter or an episode excludes the rules that do not apply to it.

Encounters count unless cancelled or entered in error; episodes unless entered in error.
The fact's code is the first coding that belongs to a value set (else the first coding);
`valuesets` covers every coding of type, reason and disposition."""

from __future__ import annotations

from typing import Any

from cds.facts.access import Ctx, keys_of
from cds.fhir.codings import codings, display_of

EXCLUDED = frozenset({"cancelled", "entered-in-error"})


def _concepts(res: dict[str, Any]) -> list[Any]:
    out: list[Any] = []
    for key in ("type", "reasonCode"):
        value = res.get(key)
        out.extend(value if isinstance(value, list) else [])
    service = res.get("serviceType")
    if isinstance(service, dict):
        out.append(service)
    hospitalization = res.get("hospitalization")
    if isinstance(hospitalization, dict):
        out.append(hospitalization.get("dischargeDisposition"))
    return out


def encounter_fact(res: dict[str, Any], ctx: Ctx, ref: str) -> dict[str, Any] | None:
    status = res.get("status")
    if not isinstance(status, str) or status in EXCLUDED:
        return None
    found: list[dict[str, Any]] = []
    concepts = _concepts(res)
    for concept in concepts:
        found.extend(codings(concept))
    if not found:
        return None  # an uncoded visit tells the rules nothing; not a data problem
    index = ctx.config.vs_index
    keys = keys_of(found)
    chosen = next((c for c, k in zip(found, keys, strict=True)
                   if index.contains("encounter", k)), found[0])
    fact: dict[str, Any] = {
        "id": f"enc:{ref}", "type": "encounter", "source": ref,
        "resource": res["resourceType"].lower(), "status": status.lower(),
        "code": chosen["code"], "system": chosen.get("system") or "",
        "valuesets": index.of("encounter", keys),
    }
    display = display_of(None, chosen, found)
    if display:
        fact["display"] = display
    period = res.get("period")
    if isinstance(period, dict):
        key = "end" if period.get("end") else "start" if period.get("start") else None
        if key:
            when = ctx.when(period[key], ref, f"period.{key}")
            if when is not None:
                fact["age_days"] = float(max(ctx.now_day - when.day, 0))
    return fact
