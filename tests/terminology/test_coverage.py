"""Every product of the imported expansions resolves, through the extractor's own tables, to
an ingredient of the right class; every opioid product gets an MME or a visible note."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cds.cli import app
from cds.facts.config import FactConfig
from cds.facts.extract import extract
from cds.fhir.collect import collect
from cds.terminology.coverage import coverage
from cds.terminology.store import read_json

from .conftest import RULES

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
CLASSES = {"opioids", "benzodiazepines", "naloxone", "gabapentinoids", "antidepressants",
           "hypnotics"}


def test_every_product_of_the_class_expansions_resolves_into_its_class(
        shipped: FactConfig) -> None:
    results = coverage(RULES, shipped)
    assert {r.cls for r in results} == CLASSES
    for r in results:
        assert r.codes > 0, r.source
        assert r.resolved == r.codes, (r.cls, r.source, r.missing[:5])
        assert r.in_class + r.excluded == r.codes, (r.cls, r.source, r.missing[:5])
    sizes = {(r.cls, r.source): r.codes for r in results}
    assert sizes[("opioids", "cdc-opioid-analgesics")] == 557
    assert sizes[("benzodiazepines", "cdc-benzodiazepines")] == 207
    assert sizes[("naloxone", "cdc-naloxone")] == 50


def test_naloxone_combinations_are_the_only_exclusions(shipped: FactConfig) -> None:
    naloxone = next(r for r in coverage(RULES, shipped) if r.cls == "naloxone")
    products = shipped.drugs.products
    codes = [c[1] for c in read_json(RULES / "terminology/valuesets/cdc-naloxone.json")["codes"]]
    combos = [c for c in codes if len(products[c].parts) > 1]
    assert naloxone.excluded == len(combos) == 29
    assert all({"naloxone"} < {p.name for p in products[c].parts} for c in combos)


def _opioid_codes() -> list[tuple[str, str]]:
    out: dict[str, str] = {}
    for vid in ("cdc-opioid-analgesics", "cdc-er-opioids", "cdc-buprenorphine-methadone"):
        for system, code, display in read_json(
                RULES / f"terminology/valuesets/{vid}.json")["codes"]:
            if system == RXNORM:
                out[code] = display
    return sorted(out.items())


def test_every_opioid_product_gets_an_mme_or_a_named_not_computed_note(
        shipped: FactConfig) -> None:
    """One unit twice a day of each product: the opioid fact carries an MME, or a note names
    the opioid as not computed; buprenorphine is left out of MME by the CDC on purpose."""
    silent = []
    for code, display in _opioid_codes():
        order = {"resourceType": "MedicationRequest", "id": "m", "status": "active",
                 "intent": "order", "subject": {"reference": "Patient/p1"},
                 "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code,
                                                           "display": display}]},
                 "dosageInstruction": [{"timing": {"repeat": {"frequency": 2, "period": 1,
                                                              "periodUnit": "d"}},
                                        "doseAndRate": [{"doseQuantity": {
                                            "value": 1, "unit": "{unit}", "code": "{unit}"}}]}]}
        data = collect({"meds": {"resourceType": "Bundle", "type": "searchset",
                                 "entry": [{"resource": order}]}},
                       {"patientId": "p1"}, "patient-view", "svc")
        ex = extract(data, shipped, NOW)
        opioids = [f for f in ex.facts if f["type"] == "medication"
                   and "opioids" in f["valuesets"]]
        assert opioids, (code, display)
        for fact in opioids:
            if "mme" in fact or fact.get("rxcui") in shipped.drugs.mme_excluded:
                continue
            named = [n for n in ex.notes if n.kind == "mme-not-computed"
                     and fact["ingredient"] in n.message]
            if not named:
                silent.append(f"{code} {display}")
    assert silent == []


def test_the_coverage_command_prints_every_class_and_exits_0(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["terminology", "coverage", "--rules", str(RULES)])
    assert result.exit_code == 0, result.output
    for cls in CLASSES:
        assert cls in result.output
    assert "557 (100%)" in result.output


@pytest.mark.parametrize("code", ["1049613", "1049504", "1725059", "1010606", "892672"])
def test_products_named_in_the_field_reports_are_in_the_table(shipped: FactConfig,
                                                              code: str) -> None:
    assert code in shipped.drugs.products
