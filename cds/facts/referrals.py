"""ServiceRequest and Procedure -> `referral` facts (what has been asked for or done).

ServiceRequests of any status count except entered-in-error and revoked; the status is kept
so rules can tell a draft from an active or completed referral. Procedures count unless
entered-in-error or not-done. Draft ServiceRequests from context.draftOrders are included
with their own status (normally "draft")."""

from __future__ import annotations

from typing import Any

from cds.facts.access import Ctx, code_keys
from cds.facts.conditions import coded_fields
from cds.fhir.codings import codings

EXCLUDED = {
    "ServiceRequest": frozenset({"entered-in-error", "revoked"}),
    "Procedure": frozenset({"entered-in-error", "not-done"}),
}
_DATES = {
    "ServiceRequest": ("authoredOn", "occurrenceDateTime"),
    "Procedure": ("performedDateTime",),
}


def _when(res: dict[str, Any], rtype: str, ctx: Ctx, ref: str) -> float | None:
    for key in _DATES[rtype]:
        if key in res:
            found = ctx.when(res[key], ref, key)
            return None if found is None else float(max(ctx.now_day - found.day, 0))
    period = res.get("performedPeriod" if rtype == "Procedure" else "occurrencePeriod")
    if isinstance(period, dict) and (period.get("start") or period.get("end")):
        key = "start" if period.get("start") else "end"
        found = ctx.when(period[key], ref, f"period.{key}")
        return None if found is None else float(max(ctx.now_day - found.day, 0))
    return None


def referral_fact(res: dict[str, Any], ctx: Ctx, ref: str) -> dict[str, Any] | None:
    rtype = res["resourceType"]
    status = res.get("status")
    if not isinstance(status, str) or status in EXCLUDED[rtype]:
        return None
    concept = res.get("code")
    found = codings(concept)
    if not found:
        ctx.note("invalid-resource", f"the {rtype} has no coded code; skipped", ref)
        return None
    fact: dict[str, Any] = {"id": f"ref:{ref}", "type": "referral", "source": ref,
                            "resource": rtype.lower(), "status": status.lower()}
    fact.update(coded_fields(concept, found, "referral", ctx))
    age = _when(res, rtype, ctx, ref)
    if age is not None:
        fact["age_days"] = age
    reasons = res.get("reasonCode")
    reasons = reasons if isinstance(reasons, list) else []
    codes = [k for concept in reasons for k in code_keys(concept)]
    fact["reason_valuesets"] = ctx.config.vs_index.of("condition", codes)
    category = res.get("category")
    categories = category if isinstance(category, list) else [category]
    category_codes = [k for concept in categories for k in code_keys(concept)]
    if category_codes:
        fact["category_valuesets"] = ctx.config.vs_index.of("referral", category_codes)
    return fact
