"""The dry-run's tables against a hand count: the example patients of fhir_examples/, whose
cards fhir_examples/README.md lists, give exactly those cards per rule."""

from __future__ import annotations

from pathlib import Path

from tests.dryrun.conftest import dryrun, table
from tests.dryrun.exports import NOW, ORDER_SIGN, write_export


def _lead_cards(rows: list[dict], hook: str) -> dict[str, int]:
    return {r["rule"]: r["lead_cards"] for r in rows if r["hook"] == hook and r["lead_cards"]}


def test_patient_view_examples_give_the_readme_cards_per_rule(patient_view_run: Path) -> None:
    rules = table(patient_view_run, "rules")
    # README: r01 R01; r02 R02; r03 R03; r04 R04; r05 R05; r06 R06A (R06B, R06C merged);
    # r07 R07; r14 R14; r15 R15; well-patient none; complex-patient R11, R08, R02, R14.
    assert _lead_cards(rules, "patient-view") == {
        "R01": 1, "R02": 2, "R03": 1, "R04": 1, "R05": 1, "R06A": 1, "R07": 1, "R08": 1,
        "R11": 1, "R14": 2, "R15": 1}
    by_rule = {r["rule"]: r for r in rules}
    assert by_rule["R01"]["critical"] == 1 and by_rule["R01"]["patients_per_1000"] == 90.9
    # R06B (dietitian) is merged into r06's multimodal card and complex-patient's R02 card
    assert by_rule["R06B"]["merged_cards"] == 2 and by_rule["R06B"]["lead_cards"] == 0
    assert by_rule["R11"]["warning"] == 1
    assert by_rule["R09"]["cards"] == 0  # no tricyclic here: listed although it never fired


def test_patient_view_examples_give_the_readme_cards_per_chart_opening(
        patient_view_run: Path) -> None:
    rows = table(patient_view_run, "cards_per_opening")
    assert {r["cards"]: r["openings"] for r in rows} == {0: 1, 1: 9, 4: 1}
    assert table(patient_view_run, "openings") == [
        {"hook": "patient-view", "openings": 11, "patients": 11, "openings_per_1000": 1000.0}]


def test_rules_that_fire_together_in_one_chart_opening_are_counted_once_per_pair(
        patient_view_run: Path) -> None:
    pairs = {(r["rule_a"], r["rule_b"]): r["openings"] for r in table(patient_view_run,
                                                                      "overlaps")}
    assert pairs[("R08", "R11")] == 1  # complex-patient only
    assert pairs[("R02", "R02")] == 2  # the diagonal: how often R02 fired


def test_order_sign_examples_give_the_readme_cards_per_rule(tmp_path: Path) -> None:
    export = write_export(tmp_path / "export", ORDER_SIGN)
    out = tmp_path / "out"
    result = dryrun(str(export), "--now", NOW, "--out", str(out), "--hooks", "order-sign",
                    "--workers", "1")
    assert result.exit_code == 0, result.output
    rules = table(out, "rules")
    # README: r08 R08; r09 R01, R09; r01-duloxetine R01; r13b fibromyalgia R13B; r13b acute
    # fracture none; r13c R13C; r16 R16; unknown lisinopril R00.
    assert _lead_cards(rules, "order-sign") == {"R00": 1, "R01": 2, "R08": 1, "R09": 1,
                                                "R13B": 1, "R13C": 1, "R16": 1}
    critical = {r["rule"] for r in rules if r["critical"]}
    assert critical == {"R01", "R09"}  # r09 and r01-duloxetine: README's critical cards
    assert {r["cards"]: r["openings"] for r in table(out, "cards_per_opening")} == {
        0: 1, 1: 6, 2: 1}
    unresolved = table(out, "unresolved_codes")
    assert [(u["code"], u["openings"], u["patients"]) for u in unresolved] == [
        ("999999905", 1, 1)]
