"""RxNorm normalized names are read back into ingredients, strengths and dose forms."""

from __future__ import annotations

import pytest

from cds.terminology.rxnorm_names import Component, base_name, parse_drug_name


@pytest.mark.parametrize(("display", "tty", "parts", "form"), [
    ("oxycodone hydrochloride 15 MG Oral Tablet [Roxicodone]", "SBD",
     [("oxycodone", 15.0, "mg")], "Oral Tablet"),
    ("Abuse-Deterrent 12 HR oxycodone hydrochloride 10 MG Extended Release Oral Tablet "
     "[Oxycontin]", "SBD", [("oxycodone", 10.0, "mg")], "Extended Release Oral Tablet"),
    ("acetaminophen 325 MG / hydrocodone bitartrate 5 MG Oral Tablet", "SCD",
     [("acetaminophen", 325.0, "mg"), ("hydrocodone", 5.0, "mg")], "Oral Tablet"),
    ("72 HR fentanyl 0.025 MG/HR Transdermal System", "SCD",
     [("fentanyl", 25.0, "ug/h")], "Transdermal System"),
    ("naloxone hydrochloride 4 MG/ACTUAT Nasal Spray [Narcan]", "SBD",
     [("naloxone", 4.0, "mg/actuat")], "Nasal Spray"),
    ("buprenorphine 8 MG / naloxone 2 MG Sublingual Film [Suboxone]", "SBD",
     [("buprenorphine", 8.0, "mg"), ("naloxone", 2.0, "mg")], "Sublingual Film"),
    ("clorazepate dipotassium 7.5 MG Oral Tablet", "SCD",
     [("clorazepate", 7.5, "mg")], "Oral Tablet"),
    ("gabapentin enacarbil 600 MG Extended Release Oral Tablet", "SCD",
     [("gabapentin enacarbil", 600.0, "mg")], "Extended Release Oral Tablet"),
    # two salts of one ingredient are one ingredient: 4.5 + 0.38 mg oxycodone
    ("aspirin 325 MG / oxycodone hydrochloride 4.5 MG / oxycodone terephthalate 0.38 MG Oral "
     "Tablet", "SCD", [("aspirin", 325.0, "mg"), ("oxycodone", 4.88, "mg")], "Oral Tablet"),
])
def test_clinical_and_branded_drug_names(display, tty, parts, form) -> None:
    drug = parse_drug_name(display)
    assert drug is not None
    assert drug.tty == tty and drug.dose_form == form
    assert [(c.base, c.strength, c.unit) for c in drug.components] == parts


def test_a_quantity_factor_in_ml_gives_the_volume_of_one_unit() -> None:
    drug = parse_drug_name("2 ML naloxone hydrochloride 1 MG/ML Prefilled Syringe")
    assert drug is not None and drug.volume_ml == 2.0
    assert drug.components == (Component("naloxone hydrochloride", "naloxone", 1.0, "mg/mL"),)


def test_packs_keep_one_strength_only_when_all_their_units_agree() -> None:
    same = parse_drug_name("{30 (diazepam 5 MG Oral Tablet) } Pack [Diastat]")
    assert same is not None and same.tty == "BPCK"
    assert [(c.base, c.strength) for c in same.components] == [("diazepam", 5.0)]
    mixed = parse_drug_name("{14 (gabapentin 300 MG Oral Tablet) / 60 (gabapentin 600 MG Oral "
                            "Tablet) } Pack")
    assert mixed is not None and mixed.tty == "GPCK"
    assert [(c.base, c.strength, c.unit) for c in mixed.components] == [("gabapentin", None,
                                                                          None)]
    nested = parse_drug_name("{1 (0.1 ML) (diazepam 100 MG/ML Nasal Spray [Valtoco]) } Pack "
                             "[Valtoco 10 MG Dose Kit]")
    assert nested is not None and nested.components[0].base == "diazepam"


@pytest.mark.parametrize("text", ["oxycodone", "Hospice care", "", "morphine sulfate Oral Tablet",
                                  "{not a pack"])
def test_text_that_is_no_drug_name_is_not_guessed(text: str) -> None:
    assert parse_drug_name(text) is None


def test_base_names_drop_only_trailing_salt_words() -> None:
    assert base_name("Oxycodone Hydrochloride") == "oxycodone"
    assert base_name("sodium oxybate") == "sodium oxybate"
    assert base_name("divalproex sodium") == "divalproex"
    assert base_name("hydrochloride") == "hydrochloride"
