"""MedicationRequest / MedicationStatement / draft orders -> `medication` facts.

- Active: a MedicationRequest with status active and an order-type intent (order, plan and
  the order sub-types), or a MedicationStatement with status active.
- Draft: every MedicationRequest in context.draftOrders (status "draft" in the fact).
- History: completed / stopped / on-hold requests and statements. They make no fact but
  tell how long the current dose has run (`dose_days`).
The ingredients come only from the pack: medications.yaml (IN codes, hand-mapped products)
and the imported product table (rules/terminology/products.json: every SCD, SBD, GPCK and
BPCK of the imported value sets). A product with several ingredients (oxycodone with
acetaminophen, buprenorphine with naloxone) gives one record per ingredient, each with its
own strength, daily dose and MME, so a brand, extended-release or combination product meets
the same class rules as its generic. Each record's codes are the resource's codings, the IN
code and a local "ingredient/<name>" code (for value sets that must name an ingredient by
name). An unknown code gives ingredient "unknown", a DataNote "unmapped-medication" naming the
code, and is listed in `unresolved_codes` (metric, audit). When its name mentions an ingredient
or brand of medications.yaml `unknown_products`, the fact and the note say so (`name_suggests`):
a hint for the clinician, never an ingredient.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cds.facts.access import Ctx, When, code_keys, keys_of
from cds.facts.codes import RXNORM, Code
from cds.facts.currency import is_current
from cds.facts.dosing import DailyDose, daily_dose
from cds.facts.packdefs import Product, ProductPart
from cds.facts.products_table import ingredient_codes, words
from cds.fhir.codings import codings, display_of

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
    reasons: list[Code] = field(default_factory=list)  # reasonCode codings (the indication)
    parts: int = 1  # ingredients of the product this record is one of
    dose_form: str = ""  # of the product ("" when coded as an ingredient)
    suggests: str | None = None  # unknown code: the pack ingredient its name mentions

    @property
    def key(self) -> str:
        """What makes two records the same drug: the IN code, else the ingredient name."""
        return self.rxcui or self.name


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
             ) -> tuple[tuple[ProductPart, ...], Product | None, dict[str, Any] | None]:
    """The ingredients of the first RxNorm coding the pack knows (IN code or product)."""
    drugs = ctx.config.drugs
    for coding in found:
        if coding.get("system") != RXNORM:
            continue
        code = coding["code"]
        ingredient = drugs.ingredients.get(code)
        if ingredient is not None:
            return (ProductPart(code, ingredient.name, None, None),), None, coding
        product = drugs.products.get(code)
        if product is not None:
            return product.parts, product, coding
    return (), None, None


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


def medication_records(res: dict[str, Any], ctx: Ctx, ref: str,
                       meds: dict[str, dict[str, Any]], dispensed: Mapping[str, int], *,
                       draft: bool = False) -> list[MedRecord]:
    """One record per ingredient of the medication (one "unknown" record when no code of it
    is known to the pack); none for statuses that are neither current, draft nor history.
    An active order past its validity or supply (cds/facts/currency.py) is history."""
    status = _status(res, draft)
    if status is None:
        return []
    concept = _concept(res, meds)
    found = codings(concept)
    if not found and not display_of(concept):
        ctx.note("invalid-resource", "the medication has no code; skipped", ref)
        return []
    all_codes = keys_of(found)
    if status == "active" and not is_current(res, ref, all_codes, dispensed, ctx):
        status = "history"
    parts, product, matched = _resolve(found, ctx)
    first = matched or (found[0] if found else None)
    code = (first.get("system") or "", first["code"]) if first else None
    display = display_of(concept, matched, found)
    start = _start(res, ctx, ref)
    if not parts:
        suggests = None
        if status != "history":
            suggests = ctx.config.drugs.name_suggests(words(display))
            label = f"{code[1]} ({display[:60]})" if code and display else (
                code[1] if code else "(text only)")
            hint = f" (the name suggests {suggests})" if suggests else ""
            ctx.note("unmapped-medication", f"no ingredient is known for the medication "
                     f"code {label}{hint}: interaction and dose checks could not be run "
                     "for it", ref)
            if code is not None:
                ctx.unresolved.append((code[0], code[1], display[:80]))
        return [MedRecord(ref=ref, status=status, rxcui=None, name="unknown", code=code,
                          display=display, codes=all_codes, start=start, suggests=suggests)]
    key = "dosage" if res.get("resourceType") == "MedicationStatement" else "dosageInstruction"
    ingredients = ctx.config.drugs.ingredients
    local = ctx.config.local_system
    reasons = res.get("reasonCode")
    reason_codes = [k for concept in (reasons if isinstance(reasons, list) else [])
                    for k in code_keys(concept)]
    records = []
    for part in parts:
        known = ingredients.get(part.rxcui) if part.rxcui else None
        record = MedRecord(
            ref=ref, status=status, rxcui=part.rxcui,
            name=known.name if known else part.name, code=code, display=display,
            codes=[*all_codes, *ingredient_codes(part, local)],
            start=start, parts=len(parts), dose_form=product.dose_form if product else "",
            reasons=reason_codes)
        if _dose_not_needed(record, ctx):
            records.append(record)
            continue
        kept = len(ctx.notes)
        record.dose = daily_dose(res.get(key), part, product, ctx, ref, record.name)
        if status == "history":
            del ctx.notes[kept:]  # a past order's dose problems are not the current treatment's
        records.append(record)
    return records


def _dose_not_needed(record: MedRecord, ctx: Ctx) -> bool:
    """A medicine whose daily dose no rule uses (medications.yaml `dose_not_needed`): a
    member of one of those value sets, their `exclude` honoured."""
    for codes, excludes in ctx.config.dose_not_needed_codes:
        if any(c in codes for c in record.codes) and not any(
                c in excludes for c in record.codes):
            return True
    return False


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


def _mme(record: MedRecord, valuesets: list[str], ctx: Ctx) -> float | None:
    """MME/day with the CDC factor of the ingredient. An opioid (medications.yaml
    `mme.opioid_valuesets`) without a factor, by a route the factors are not for, or without
    a daily dose in the factor's unit gets a "mme-not-computed" note naming it instead."""
    drugs = ctx.config.drugs
    if record.rxcui is not None and record.rxcui in drugs.mme_excluded:
        return None
    factor = drugs.mme.get(record.rxcui) if record.rxcui else None
    if factor is None:
        if any(v in drugs.mme_valuesets for v in valuesets):
            ctx.note("mme-not-computed", f"MME not computed for {record.name}: no CDC "
                     "conversion factor (not counted in the total)", record.ref)
        return None
    form = record.dose_form.lower()
    if form and not any(route in form for route in drugs.mme_routes.get(factor.per, ())):
        ctx.note("mme-not-computed", f"MME not computed for {record.name}: the CDC factors "
                 f"are not for {record.dose_form} (not counted in the total)", record.ref)
        return None
    if record.dose is None or record.dose.unit != factor.per:
        ctx.note("mme-not-computed", f"MME not computed for {record.name}: no daily dose in "
                 f"{factor.per} (not counted in the total)", record.ref)
        return None
    return round(record.dose.value * factor.factor, 3)


def medication_facts(records: list[MedRecord], ctx: Ctx) -> list[dict[str, Any]]:
    """Facts for active and draft records; history records only inform `dose_days`."""
    active = [r for r in records if r.status == "active"]
    active_ingredients = {r.key for r in active if r.name != "unknown"}
    active_codes = {r.code for r in active}
    by_ingredient: dict[str, list[MedRecord]] = {}
    for r in records:
        by_ingredient.setdefault(r.key, []).append(r)
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
        if r.name == "unknown":
            fact["named"] = "yes" if r.display else "no"
            if r.suggests:
                fact["name_suggests"] = r.suggests
        if r.code:
            fact["system"], fact["code"] = r.code
        if r.status == "draft":
            new = (r.key not in active_ingredients if r.name != "unknown"
                   else r.code not in active_codes)
            fact["is_new"] = "yes" if new else "no"
        else:
            fact["is_new"] = "no"
            dose_days = _dose_days(r, by_ingredient[r.key], ctx)
            if dose_days is not None:
                fact["dose_days"] = dose_days
        if r.dose is not None:
            fact["daily_dose"] = r.dose.value
            fact["dose_unit"] = r.dose.unit
        mme = _mme(r, fact["valuesets"], ctx)
        if mme is not None:
            fact["mme"] = mme
        facts.append(fact)
    return facts


def indication_facts(records: list[MedRecord], ctx: Ctx) -> list[dict[str, Any]]:
    """The stated indication (reasonCode) of each current or draft medication, as its own fact:
    rules join it to the medication by `medication` (a fact binds once per rule branch, so an
    `unless` cannot test the medication fact it already bound)."""
    index = ctx.config.vs_index
    return [{"id": f"ind:{r.fact_id}", "type": "indication", "medication": r.fact_id,
             "source": r.ref, "valuesets": index.of("condition", r.reasons)}
            for r in records if r.reasons and r.status != "history"]
