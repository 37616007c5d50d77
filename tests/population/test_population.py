"""`cds population generate`: a seeded, valid FHIR R4 Bulk Data export whose codes come from
the pack (product table, value sets, measures) with about 100 resources per patient."""

from __future__ import annotations

import gzip
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import yaml
from typer.testing import CliRunner

from cds.cli import app
from cds.facts.codes import LOINC
from cds.facts.config import load_instruments, load_measures, local_codesystem
from cds.fhir.strict import validation_errors
from cds.population.patient import make_patient
from cds.population.profile import Profile

RULES = Path(__file__).resolve().parents[2] / "rules"
NOW = datetime(2026, 11, 20, 9, tzinfo=UTC)
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


@pytest.fixture(scope="module")
def profile() -> Profile:
    return Profile.load(RULES)


@pytest.fixture(scope="module")
def population(profile: Profile) -> list[list[dict]]:
    return [make_patient(profile, 3, i, NOW) for i in range(1000)]


def _generate(out: Path, *extra: str) -> None:
    result = CliRunner().invoke(app, ["population", "generate", "--patients", "40", "--seed",
                                      "5", "--now", "2026-11-20", "--out", str(out),
                                      "--workers", "1", *extra])
    assert result.exit_code == 0, result.output
    assert "40 patients" in result.output


def test_the_same_seed_gives_the_same_export_byte_for_byte(tmp_path: Path) -> None:
    _generate(tmp_path / "a")
    _generate(tmp_path / "b")
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert "Observation.000.ndjson" in files and "export.json" in files
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_gzip_export_lists_its_files_and_counts_in_a_bulk_data_manifest(tmp_path: Path) -> None:
    _generate(tmp_path / "gz", "--gzip")
    manifest = orjson.loads((tmp_path / "gz" / "export.json").read_bytes())
    for entry in manifest["output"]:
        lines = gzip.decompress((tmp_path / "gz" / entry["url"]).read_bytes()).splitlines()
        assert len(lines) == entry["count"]
        assert {orjson.loads(line)["resourceType"] for line in lines} == {entry["type"]}
    assert sum(e["count"] for e in manifest["output"] if e["type"] == "Patient") == 40


def test_patients_have_about_a_hundred_valid_fhir_r4_resources(population: list) -> None:
    sizes = [len(p) for p in population]
    assert 90 <= sum(sizes) / len(sizes) <= 115
    for patient in population[:25]:
        for resource in patient:
            assert validation_errors(resource) == [], resource["resourceType"]
    ids = Counter((r["resourceType"], r["id"]) for p in population for r in p)
    assert ids.most_common(1)[0][1] == 1  # unique ids, as in one server's export


def test_medicines_are_real_products_of_the_pack_or_listed_other_medicines(
        population: list) -> None:
    products = orjson.loads((RULES / "terminology" / "products.json").read_bytes())["products"]
    others = {m["rxnorm"] for m in yaml.safe_load(
        (Path(__file__).resolve().parents[2] / "cds" / "population" / "profile.yaml")
        .read_text())["other_medicines"]}
    codes = Counter()
    for patient in population:
        for r in patient:
            if r["resourceType"] == "MedicationRequest":
                coding = r["medicationCodeableConcept"]["coding"][0]
                assert coding["system"] == RXNORM
                assert coding["code"] in products or coding["code"] in others
                codes[products.get(coding["code"], {}).get("tty", "other")] += 1
    assert codes["SCD"] and codes["SBD"] and codes["other"]  # generic, brand, unknown to pack
    displays = {products[c]["display"] for p in population for r in p
                if r["resourceType"] == "MedicationRequest"
                and (c := r["medicationCodeableConcept"]["coding"][0]["code"]) in products}
    assert any("Extended Release" in d for d in displays)
    assert any("acetaminophen" in d and "hydrocodone" in d for d in displays)  # combination


def test_condition_prevalence_is_close_to_the_profile(population: list,
                                                      profile: Profile) -> None:
    def share(name: str) -> float:
        codes = {c for _, c, _ in profile.codes[name]}
        return sum(any(r["resourceType"] == "Condition" and r["code"]["coding"][0]["code"]
                       in codes for r in p) for p in population) / len(population)

    assert 0.16 <= share("chronic_pain") <= 0.26  # profile: 21% (P1)
    assert 0.06 <= share("insomnia") <= 0.20  # 10%, more with pain and depression
    assert 0.005 <= share("pregnancy") <= 0.04  # 4.5% of women aged 18-44


def test_scores_use_the_loinc_codes_the_pack_reads(population: list) -> None:
    measures = load_measures(RULES, local_codesystem(RULES))
    read = {code for m in measures.values() for system, code in m.codes if system == LOINC}
    seen = Counter(r["code"]["coding"][0]["code"] for p in population for r in p
                   if r["resourceType"] == "Observation")
    for code in ("72514-3", "44261-6", "44260-8", "70274-6", "93832-4", "106860-0", "82290-8",
                 "98979-8", "2160-0"):
        assert seen[code] > 0, code
        assert code in read, code
    questionnaires = [r for p in population for r in p if r["resourceType"] ==
                      "QuestionnaireResponse"]
    instruments, _ = load_instruments(RULES, local_codesystem(RULES))
    canonicals = {c: i for i in ("phq9", "gad7") for c in instruments[i].canonicals}
    assert {canonicals[q["questionnaire"]] for q in questionnaires} == {"phq9", "gad7"}
