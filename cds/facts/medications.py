"""MedicationRequest / MedicationStatement / draft orders -> `medication` facts.

- Active: a MedicationRequest with status active and an order-type intent (order, plan and
  the order sub-types), or a MedicationStatement with status active.
- Draft: every MedicationRequest in context.draftOrders (status "draft" in the fact).
- History: completed / stopped / on-hold requests and statements. They make no fact but
  tell how long the current dose has run (`dose_days`).
The ingredient comes only from medications.yaml (IN codes, or SCD/SBD/PIN products mapped to
their IN); an unknown code gives ingredient "unknown" and a DataNote "unmapped-medication".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cds.facts.access import Ctx, When, codings, display_of, keys_of
from cds.facts.codes import RXNORM, Code
from cds.facts.dosing import DailyDose, daily_dose
from cds.facts.packdefs import Product

ORDER_INTENTS = frozenset({"order", "plan", "original-order", "reflex-order", "filler-order",
                           "instance-order"})
HISTORY = frozenset({"completed", "stopped", "on-hold"})


@dataclass
class MedRecord:
    ref: str
    status: str  # active | draft | history
    rxcui: str | None
    name: str
    code: Code | None
    display: str
    codes: list[Code] = field(default_factory=list)
    dose: DailyDose | None = None
    start: When | None = None
    fact_id: str = ""


def _concept(res: dict[str, Any], meds: dict[str, dict[str, Any]]) -> Any:
    if "medicationCodeableConcept" in res:
        return res["medicationCodeableConcept"]
    ref = res.get("medicationReference")
    target = ref.get("reference") if isinstance(ref, dict) else None
    if not isinstance(target, str):
        return None
    if target.startswith("#"):
        for contained in res.get("contained") or []:
            if isinstance(contained, dict) and contained.get("id") == target[1:]:
                return contained.get("code")
        return None
    medication = meds.get(target.split("/_history", 1)[0])
    return medication.get("code") if medication else None


def _resolve(found: list[dict[str, Any]], ctx: Ctx
             ) -> tuple[str | None, Product | None, dict[str, Any] | None]:
    drugs = ctx.config.drugs
    for coding in found:
        if coding.get("system") != RXNORM:
            continue
        code = coding["code"]
        if code in drugs.ingredients:
            return code, None, coding
        product = drugs.products.get(code)
        if product is not None:
            return product.ingredient, product, coding
    return None, None, None


def _start(res: dict[str, Any], ctx: Ctx, ref: str) -> When | None:
    if res.get("resourceType") == "MedicationStatement":
        period = res.get("effectivePeriod")
        if isinstance(period, dict) and "start" in period:
            return ctx.when(period["start"], ref, "effectivePeriod.start")
        for key in ("effectiveDateTime", "dateAsserted"):
            if key in res:
                return ctx.when(res[key], ref, key)
        return None
    if "authoredOn" in res:
        return ctx.when(res["authoredOn"], ref, "authoredOn")
    validity = (res.get("dispenseRequest") or {}).get("validityPeriod")
    if isinstance(validity, dict) and "start" in validity:
        return ctx.when(validity["start"], ref, "dispenseRequest.validityPeriod.start")
    return None


def _status(res: dict[str, Any], draft: bool) -> str | None:
    if draft:
        return "draft" if res.get("resourceType") == "MedicationRequest" else None
    status = res.get("status")
    if res.get("resourceType") == "MedicationStatement":
        return "active" if status == "active" else "history" if status in HISTORY else None
    if res.get("intent") not in ORDER_INTENTS:
        return None
    return "active" if status == "active" else "history" if status in HISTORY else None


def medication_record(res: dict[str, Any], ctx: Ctx, ref: str, meds: dict[str, dict[str, Any]],
                      *, draft: bool = False) -> MedRecord | None:
    status = _status(res, draft)
    if status is None:
        return None
    concept = _concept(res, meds)
    found = codings(concept)
    if not found and not display_of(concept):
        ctx.note("invalid-resource", "the medication has no code; skipped", ref)
        return None
    rxcui, product, matched = _resolve(found, ctx)
    all_codes = keys_of(found)
    first = matched or (found[0] if found else None)
    if rxcui is None and status != "history":
        ctx.note("unmapped-medication", "no ingredient is known for the medication code "
                 f"{first['code'] if first else '(text only)'}", ref)
    record = MedRecord(
        ref=ref,
        status=status,
        rxcui=rxcui,
        name=ctx.config.drugs.ingredients[rxcui].name if rxcui else "unknown",
        code=((first.get("system") or "", first["code"]) if first else None),
        display=display_of(concept, matched, found),
        codes=all_codes + ([(RXNORM, rxcui)] if rxcui else []),
        start=_start(res, ctx, ref),
    )
    key = "dosage" if res.get("resourceType") == "MedicationStatement" else "dosageInstruction"
    if rxcui is None:
        return record  # no dose without an ingredient: nothing could use it
    if status == "history":
        kept = len(ctx.notes)  # a past order's dose problems are not the current treatment's
        record.dose = daily_dose(res.get(key), product, ctx, ref)
        del ctx.notes[kept:]
        return record
    record.dose = daily_dose(res.get(key), product, ctx, ref)
    return record


def _dose_days(record: MedRecord, same_ingredient: list[MedRecord], ctx: Ctx) -> float | None:
    """Days since the current dose started: walk back through earlier records of the same
    ingredient while they have the same daily dose (renewals keep the clock running)."""
    if record.start is None:
        return None
    start = record.start.day
    if record.dose is not None:
        earlier = sorted((r for r in same_ingredient if r is not record and r.status != "draft"
                          and r.start is not None and r.start.day <= start),
                         key=lambda r: r.start.ts if r.start else 0.0, reverse=True)
        for prev in earlier:
            if prev.dose is None or prev.dose != record.dose:
                break
            start = prev.start.day if prev.start else start
    return float(max(ctx.now_day - start, 0))


def _mme(record: MedRecord, ctx: Ctx) -> float | None:
    drugs = ctx.config.drugs
    if record.rxcui is None or record.rxcui in drugs.mme_excluded:
        return None
    factor = drugs.mme.get(record.rxcui)
    if factor is None:
        return None
    if record.dose is None or record.dose.unit != factor.per:
        ctx.note("dose-unknown", f"{record.name}: MME cannot be computed without a daily dose "
                 f"in {factor.per}", record.ref)
        return None
    return round(record.dose.value * factor.factor, 3)


def medication_facts(records: list[MedRecord], ctx: Ctx) -> list[dict[str, Any]]:
    """Facts for active and draft records; history records only inform `dose_days`."""
    active = [r for r in records if r.status == "active"]
    active_ingredients = {r.rxcui for r in active if r.rxcui}
    active_codes = {r.code for r in active}
    by_ingredient: dict[str | None, list[MedRecord]] = {}
    for r in records:
        by_ingredient.setdefault(r.rxcui, []).append(r)
    index = ctx.config.vs_index
    facts: list[dict[str, Any]] = []
    for r in records:
        if r.status == "history":
            continue
        fact: dict[str, Any] = {
            "id": r.fact_id, "type": "medication", "source": r.ref, "ingredient": r.name,
            "display": r.display or r.name, "valuesets": index.of("medication", r.codes),
            "status": r.status,
        }
        if r.rxcui:
            fact["rxcui"] = r.rxcui
        if r.code:
            fact["system"], fact["code"] = r.code
        if r.status == "draft":
            new = r.rxcui not in active_ingredients if r.rxcui else r.code not in active_codes
            fact["is_new"] = "yes" if new else "no"
        else:
            fact["is_new"] = "no"
            dose_days = _dose_days(r, by_ingredient[r.rxcui], ctx)
            if dose_days is not None:
                fact["dose_days"] = dose_days
        if r.dose is not None:
            fact["daily_dose"] = r.dose.value
            fact["dose_unit"] = r.dose.unit
        mme = _mme(r, ctx)
        if mme is not None:
            fact["mme"] = mme
        facts.append(fact)
    return facts
