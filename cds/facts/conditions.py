"""Condition -> `condition` facts: active (clinicalStatus active, recurrence or relapse; a
missing clinicalStatus counts as active unless the Condition has abated) and not refuted or
entered in error."""

from __future__ import annotations

from typing import Any

from cds.facts.access import Ctx, keys_of, status_code
from cds.fhir.codings import codings, display_of

ACTIVE = frozenset({"active", "recurrence", "relapse"})
EXCLUDED_VERIFICATION = frozenset({"refuted", "entered-in-error"})
_ABATEMENT = ("abatementDateTime", "abatementPeriod", "abatementAge", "abatementRange",
              "abatementString", "abatementBoolean")


def _is_active(cond: dict[str, Any]) -> bool:
    if status_code(cond.get("verificationStatus")) in EXCLUDED_VERIFICATION:
        return False
    clinical = status_code(cond.get("clinicalStatus"))
    if clinical is None:
        return not any(key in cond for key in _ABATEMENT)
    return clinical in ACTIVE


def coded_fields(concept: Any, found: list[dict[str, Any]], kind: str, ctx: Ctx
                 ) -> dict[str, Any]:
    """code / system / display / valuesets of a CodeableConcept whose `codings` are `found`:
    the code shown is the first coding that belongs to a value set (else the first coding)."""
    index = ctx.config.vs_index
    keys = keys_of(found)
    chosen = found[0] if found else None
    for coding, key in zip(found, keys, strict=True):
        if index.contains(kind, key):
            chosen = coding
            break
    out: dict[str, Any] = {"valuesets": index.of(kind, keys)}
    display = display_of(concept, chosen, found)
    if display:
        out["display"] = display
    if chosen is not None:
        out["code"] = chosen["code"]
        out["system"] = chosen.get("system") or ""
    return out


def condition_fact(cond: dict[str, Any], ctx: Ctx, ref: str) -> dict[str, Any] | None:
    if not _is_active(cond):
        return None
    concept = cond.get("code")
    found = codings(concept)
    if not found:
        ctx.note("invalid-resource", "the Condition has no coded code; skipped", ref)
        return None
    fact: dict[str, Any] = {"id": f"cond:{ref}", "type": "condition", "source": ref}
    fact.update(coded_fields(concept, found, "condition", ctx))
    onset = None
    for key in ("onsetDateTime", "recordedDate"):
        if key in cond:
            onset = ctx.when(cond[key], ref, key)
            break
    period = cond.get("onsetPeriod")
    if onset is None and isinstance(period, dict) and "start" in period:
        onset = ctx.when(period["start"], ref, "onsetPeriod.start")
    if onset is not None:
        fact["age_days"] = float(max(ctx.now_day - onset.day, 0))
    return fact
