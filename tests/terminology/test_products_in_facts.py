"""Brand, extended-release and combination products behave as their ingredients, and doses
in tablets, patches, sprays or mL are converted through the product's strength."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cds.facts.config import FactConfig
from cds.facts.extract import Extraction, extract
from cds.fhir.collect import collect

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def order(code: str, dose: float | None, unit: str | None, per_day: float = 1, *,
          system: str = RXNORM, draft: bool = False, rid: str = "m1",
          display: str | None = None) -> dict[str, Any]:
    coding: dict[str, Any] = {"system": system, "code": code}
    if display:
        coding["display"] = display
    res: dict[str, Any] = {
        "resourceType": "MedicationRequest", "id": rid, "intent": "order",
        "status": "draft" if draft else "active", "subject": {"reference": "Patient/p1"},
        "authoredOn": "2026-05-01", "medicationCodeableConcept": {"coding": [coding]}}
    if dose is not None:
        quantity: dict[str, Any] = {"value": dose}
        if unit is not None:
            quantity.update({"unit": unit, "system": UCUM, "code": unit})
        res["dosageInstruction"] = [{
            "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
            "doseAndRate": [{"doseQuantity": quantity}]}]
    return res


def run(config: FactConfig, *active: dict[str, Any], drafts: tuple[dict[str, Any], ...] = (),
        hook: str = "patient-view") -> Extraction:
    context: dict[str, Any] = {"patientId": "p1"}
    if drafts:
        context["draftOrders"] = {"resourceType": "Bundle", "type": "collection",
                                  "entry": [{"resource": r} for r in drafts]}
    prefetch = {"meds": {"resourceType": "Bundle", "type": "searchset",
                         "entry": [{"resource": r} for r in active]}}
    return extract(collect(prefetch, context, hook, "svc"), config, NOW)


def meds(ex: Extraction) -> list[dict[str, Any]]:
    return [f for f in ex.facts if f["type"] == "medication"]


@pytest.mark.parametrize(("code", "dose", "unit", "per_day", "ingredient", "daily", "mme"), [
    ("1049613", 1, "{pill}", 4, "oxycodone", 60.0, 90.0),     # Roxicodone 15 mg (SBD)
    ("1049504", 1, "TAB", 2, "oxycodone", 20.0, 30.0),        # OxyContin 10 mg ER (SBD)
    ("892672", 2, "{pill}", 3, "morphine", 180.0, 180.0),     # morphine 30 mg, sandbox style
    ("892672", 2, "{tbl}", 3, "morphine", 180.0, 180.0),
    ("892672", 2, "tablet", 3, "morphine", 180.0, 180.0),
    ("892672", 60, "mg", 1, "morphine", 60.0, 60.0),
])
def test_doses_in_units_of_the_dose_form_become_mg_and_mme(
        shipped: FactConfig, code, dose, unit, per_day, ingredient, daily, mme) -> None:
    (fact,) = meds(run(shipped, order(code, dose, unit, per_day)))
    assert fact["ingredient"] == ingredient and "opioids" in fact["valuesets"]
    assert fact["daily_dose"] == pytest.approx(daily)
    assert fact["mme"] == pytest.approx(mme)


def test_a_combination_product_gives_one_fact_per_ingredient(shipped: FactConfig) -> None:
    # acetaminophen 325 MG / oxycodone hydrochloride 10 MG, 2 tablets four times a day
    ex = run(shipped, order("1049214", 2, "{tbl}", 4))
    by_name = {f["ingredient"]: f for f in meds(ex)}
    assert set(by_name) == {"acetaminophen", "oxycodone"}
    assert by_name["oxycodone"]["daily_dose"] == 80.0 and by_name["oxycodone"]["mme"] == 120.0
    assert by_name["acetaminophen"]["daily_dose"] == 2600.0
    assert "mme" not in by_name["acetaminophen"]
    assert {f["id"] for f in meds(ex)} == {"med:MedicationRequest/m1|acetaminophen",
                                           "med:MedicationRequest/m1|oxycodone"}
    total = next(f for f in ex.facts if f["id"] == "total:mme_per_day")
    assert total["value"] == 120.0


def test_a_fentanyl_patch_counted_in_patches_is_a_rate(shipped: FactConfig) -> None:
    (fact,) = meds(run(shipped, order("245135", 1, "{patch}", 1 / 3)))  # 50 mcg/h
    assert (fact["daily_dose"], fact["dose_unit"], fact["mme"]) == (50.0, "ug/h", 120.0)


def test_a_solution_dosed_in_ml_uses_its_concentration(shipped: FactConfig) -> None:
    code = next(c for c, p in shipped.drugs.products.items()
                if p.dose_form == "Oral Solution" and p.parts[0].name == "oxycodone"
                and p.parts[0].unit == "mg/mL" and len(p.parts) == 1)
    strength = shipped.drugs.products[code].parts[0].strength
    (fact,) = meds(run(shipped, order(code, 5, "mL", 4)))
    assert fact["daily_dose"] == pytest.approx(20 * strength)
    assert fact["mme"] == pytest.approx(20 * strength * 1.5)


def test_a_dose_that_cannot_be_converted_is_named_never_dropped(shipped: FactConfig) -> None:
    ex = run(shipped, order("1049613", 1, "{scoop}", 2))
    (fact,) = meds(ex)
    assert "daily_dose" not in fact and "mme" not in fact
    messages = " ".join(n.message for n in ex.notes)
    assert "oxycodone: dose unit '{scoop}' cannot be converted to mg" in messages
    assert "strength 15 mg" in messages
    assert "MME not computed for oxycodone" in messages
    total = next(f for f in ex.facts if f["id"] == "total:mme_per_day")
    assert total["uncounted"] == "oxycodone"


def test_a_rectal_opioid_is_not_converted_with_oral_factors(shipped: FactConfig) -> None:
    code = next(c for c, p in shipped.drugs.products.items()
                if p.dose_form == "Rectal Suppository" and p.parts[0].name == "hydromorphone")
    ex = run(shipped, order(code, 4, "mg", 6))
    (fact,) = meds(ex)
    assert fact["daily_dose"] == 24.0 and "mme" not in fact  # hydromorphone, factor 5 oral
    assert any(n.kind == "mme-not-computed" and "not for" in n.message for n in ex.notes)


def test_naloxone_products_count_as_naloxone_but_suboxone_does_not(shipped: FactConfig) -> None:
    ex = run(shipped, order("1725059", 1, "{spray}", 1))
    (spray,) = meds(ex)
    assert "naloxone" in spray["valuesets"] and spray["rxcui"] == "7242"
    assert "daily_dose" not in spray and ex.notes == []  # dose_not_needed: no dose, no note
    suboxone = {f["ingredient"]: f for f in meds(run(shipped, order("1010606", 1, "{film}")))}
    assert set(suboxone) == {"buprenorphine", "naloxone"}
    assert "naloxone" not in suboxone["naloxone"]["valuesets"]
    assert "opioids" in suboxone["buprenorphine"]["valuesets"]
    assert "mme" not in suboxone["buprenorphine"]  # CDC: buprenorphine not counted


def test_a_brand_benzodiazepine_and_a_non_us_one_are_benzodiazepines(
        shipped: FactConfig) -> None:
    xanax = next(c for c, p in shipped.drugs.products.items()
                 if p.tty == "SBD" and p.parts[0].name == "alprazolam")
    (fact,) = meds(run(shipped, order(xanax, 1, "{pill}", 2)))
    assert fact["rxcui"] == "596" and "benzodiazepines" in fact["valuesets"]
    nitrazepam = next(c for c, p in shipped.drugs.products.items()
                      if p.parts[0].name == "nitrazepam")
    (fact,) = meds(run(shipped, order(nitrazepam, 1, "{pill}", 1)))
    assert "rxcui" not in fact and fact["ingredient"] == "nitrazepam"
    assert "benzodiazepines" in fact["valuesets"] and "cns-active" in fact["valuesets"]


def test_an_unknown_code_named_like_a_pack_drug_is_noted_and_listed(shipped: FactConfig) -> None:
    ex = run(shipped, drafts=(order("999999901", 10, "mg", draft=True,
                                    display="Roxicodone 10 MG Oral Tablet (local)"),),
             hook="order-sign")
    (fact,) = meds(ex)
    assert fact["ingredient"] == "unknown" and fact["status"] == "draft"
    assert (fact["named"], fact["name_suggests"]) == ("yes", "oxycodone")  # brand -> ingredient
    assert ex.unresolved == [(RXNORM, "999999901", "Roxicodone 10 MG Oral Tablet (local)")]
    assert any(n.kind == "unmapped-medication" and "999999901" in n.message
               and "suggests oxycodone" in n.message for n in ex.notes)


def test_an_unknown_code_outside_the_checked_drugs_has_no_hint(shipped: FactConfig) -> None:
    ex = run(shipped, order("999999902", 10, "mg", 1, display="lisinopril 10 MG Oral Tablet"))
    (fact,) = meds(ex)
    assert fact["named"] == "yes" and "name_suggests" not in fact
    assert ex.unresolved == [(RXNORM, "999999902", "lisinopril 10 MG Oral Tablet")]
    (note,) = [n for n in ex.notes if n.kind == "unmapped-medication"]
    assert "suggests" not in note.message


def test_an_ndc_only_order_is_unresolved(shipped: FactConfig) -> None:
    ex = run(shipped, order("00406-0552-01", 1, "{pill}", 2,
                            system="http://hl7.org/fhir/sid/ndc"))
    assert ex.unresolved == [("http://hl7.org/fhir/sid/ndc", "00406-0552-01", "")]
