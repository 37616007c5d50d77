"""Loading the facts files: the project's own files load, and mistakes point at file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from cds.errors import RulePackError
from cds.facts.codes import LOINC, RXNORM
from cds.facts.config import FactConfig, load_fact_config

from .conftest import RULES, make_rules_dir


def test_project_facts_files_load_with_the_project_value_sets() -> None:
    config = load_fact_config(RULES)
    assert {"pain", "phq9", "phq9_item9", "crcl", "sleep_hours"} <= config.measure_ids
    assert {"snri", "opioids", "cns-active"} <= config.valueset_ids


def test_measures_carry_codes_units_ranges_and_trend_settings(config: FactConfig) -> None:
    pain = config.measures["pain"]
    assert set(pain.codes) == {(LOINC, "72514-3"), (LOINC, "38208-5"), (LOINC, "91147-9")}
    assert pain.trend is not None
    assert (pain.trend.window_days, pain.trend.n, pain.trend.min_spacing_days) == (180, 3, 7)
    assert pain.trend.worsening_min_delta == 2 and pain.trend.worsening_min_pct == 30
    assert pain.trend.improving_max_ratio == 0.7
    sleep = config.measures["sleep_hours"]
    assert sleep.unit == "h" and sleep.units["min"] == pytest.approx(1 / 60)
    assert config.measures["creatinine"].units["umol/l"] == pytest.approx(1 / 88.42)
    assert config.measures_by_code[(LOINC, "72514-3")] == ("pain", "pain_nrs")


def test_pin_and_scd_codes_map_to_their_ingredient(config: FactConfig) -> None:
    drugs = config.drugs
    assert drugs.products["476250"].parts[0].rxcui == "72625"  # duloxetine hydrochloride PIN
    (duloxetine,) = drugs.products["596930"].parts
    assert (duloxetine.rxcui, duloxetine.strength, duloxetine.unit) == ("72625", 30, "mg")
    assert drugs.products["245134"].parts[0].unit == "ug/h"  # fentanyl 25 mcg/h patch
    assert drugs.ingredients["72625"].name == "duloxetine"


def test_mme_factors_are_the_cdc_2022_table(config: FactConfig) -> None:
    factors = {rx: f.factor for rx, f in config.drugs.mme.items()}
    assert factors == {"2670": 0.15, "4337": 2.4, "5489": 1, "3423": 5, "6813": 4.7,
                       "7052": 1, "7804": 1.5, "7814": 3, "787390": 0.4, "10689": 0.2}
    assert config.drugs.mme["4337"].per == "ug/h"
    assert "1819" in config.drugs.mme_excluded


def test_value_set_membership_is_per_fact_kind(config: FactConfig) -> None:
    index = config.vs_index
    assert index.of("medication", [(RXNORM, "7804")]) == ["cns-active", "opioids", "order-checked"]
    assert index.of("condition", [(RXNORM, "7804")]) == []


def _broken(tmp_path: Path, name: str, old: str, new: str) -> Path:
    rules = make_rules_dir(tmp_path / "rules")
    path = rules / name
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return rules


def _line_of(path: Path, needle: str) -> int:
    return _position_of(path, needle)[0]


def _position_of(path: Path, needle: str) -> tuple[int, int]:
    """(line, col), 1-based, of the first occurrence of `needle`."""
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if needle in line:
            return number, line.index(needle) + 1
    raise AssertionError(f"{needle!r} is not in {path}")


def test_a_bad_unit_factor_is_reported_at_its_line(tmp_path: Path) -> None:
    rules = _broken(tmp_path, "measures.yaml", "umol/L: 1/88.42", "umol/L: lots")
    with pytest.raises(RulePackError) as err:
        load_fact_config(rules)
    line = _line_of(rules / "measures.yaml", "umol/L: lots")
    assert f"measures.yaml:{line}:" in err.value.message


def test_yaml_syntax_errors_name_file_and_line(tmp_path: Path) -> None:
    rules = _broken(tmp_path, "instruments.yaml", "score: mean", "score: [mean")
    with pytest.raises(RulePackError) as err:
        load_fact_config(rules)
    assert "instruments.yaml:" in err.value.message


def test_an_unknown_value_set_in_dose_response_fails_the_load(tmp_path: Path) -> None:
    rules = _broken(tmp_path, "medications.yaml", "valuesets: [snri,", "valuesets: [snris,")
    with pytest.raises(RulePackError) as err:
        load_fact_config(rules)
    line, col = _position_of(rules / "medications.yaml", "snris,")
    assert (f"medications.yaml:{line}:{col}: unknown value set 'snris' (did you mean 'snri'? "
            "valid: ") in err.value.message


def test_an_unknown_value_set_in_unknown_products_fails_the_load(tmp_path: Path) -> None:
    rules = _broken(tmp_path, "medications.yaml", "valuesets: [order-checked]",
                    "valuesets: [order-check]")
    with pytest.raises(RulePackError) as err:
        load_fact_config(rules)
    line, col = _position_of(rules / "medications.yaml", "order-check]")
    assert (f"medications.yaml:{line}:{col}: unknown value set 'order-check' (did you mean "
            "'order-checked'? valid: ") in err.value.message


def test_a_product_pointing_at_an_unknown_ingredient_fails(tmp_path: Path) -> None:
    rules = _broken(tmp_path, "medications.yaml", '"596932": {ingredient: "72625"',
                    '"596932": {ingredient: "99999999"')
    with pytest.raises(RulePackError, match="unknown ingredient 99999999"):
        load_fact_config(rules)


def test_an_instrument_total_that_feeds_no_measure_fails(tmp_path: Path) -> None:
    rules = _broken(tmp_path, "instruments.yaml", "total: loinc#44261-6", "total: loinc#1-1")
    with pytest.raises(RulePackError, match="total 1-1 is not a code of any measure"):
        load_fact_config(rules)


def test_unknown_keys_are_rejected_not_ignored(tmp_path: Path) -> None:
    rules = _broken(tmp_path, "measures.yaml", "    lookback_days: 90\n",
                    "    lookback_day: 90\n")
    with pytest.raises(RulePackError, match="unknown key 'lookback_day'"):
        load_fact_config(rules)


def test_a_duplicate_key_is_an_error_not_a_silent_overwrite(tmp_path: Path) -> None:
    rules = _broken(tmp_path, "medications.yaml", "  QD: 1\n", "  QD: 1\n  QD: 2\n")
    with pytest.raises(RulePackError) as err:
        load_fact_config(rules)
    line, col = _position_of(rules / "medications.yaml", "QD: 2")
    assert f"medications.yaml:{line}:{col}: invalid YAML: duplicate key 'QD'" in err.value.message
