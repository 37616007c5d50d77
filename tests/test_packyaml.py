"""Every pack file is read by one YAML reader: the same scalars and the same positions in a
facts file as in a rule file."""

from __future__ import annotations

from pathlib import Path

import pytest

from cds.facts.factfiles import FactsReader
from cds.facts.formats import MeasuresFile
from cds.packsource import PackProblems, load_yaml
from cds.packyaml import parse, position_of
from cds.rules.schema import RuleFile

TEXT = "flag: yes\nswitch: on\nreal: true\nday: 2026-01-01\nlist:\n  - a\n  - {b: no}\n"


def test_only_true_and_false_are_booleans_and_dates_stay_text() -> None:
    assert parse(TEXT) == {"flag": "yes", "switch": "on", "real": True, "day": "2026-01-01",
                           "list": ["a", {"b": "no"}]}


def test_yes_reads_the_same_in_a_facts_file_as_in_a_rule_file(tmp_path: Path) -> None:
    """`yes` is text to the reader of every file; a boolean field of any model (a rule's
    `enabled`, a measure's `unitless`) takes it as pydantic does."""
    text = ("trend_defaults: {window_days: 1, n: 2, min_spacing_days: 1,\n"
            "  worsening: {min_delta: 1, min_pct: 1}, improving: {max_ratio: 0.5},\n"
            "  chronic: {min_value: 1, min_span_days: 1}}\n"
            "measures:\n  pain: {title: yes, unit: '1', unitless: yes, range: [0, 10],\n"
            "    codes: ['loinc#1-1']}\n")
    path = tmp_path / "measures.yaml"
    path.write_text(text)
    file = FactsReader("http://example.org/local").read(path, MeasuresFile)
    assert file is not None and file.doc.data == load_yaml(path).data == parse(text)
    pain = file.model.measures["pain"]
    assert (pain.title, pain.unitless) == ("yes", True)
    assert RuleFile.model_fields["enabled"].annotation is bool


def test_positions_are_line_and_column_of_each_key_and_item() -> None:
    data = parse(TEXT)
    assert position_of(data, "day") == (4, 1)
    assert position_of(data["list"], 1) == (7, 5)
    assert position_of(data["list"][1], "b") == (7, 6)
    assert position_of(data, "absent") == (1, 1)


def test_a_duplicate_key_is_an_error_at_the_second_key(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("a: 1\nb:\n  c: 1\n  c: 2\n")
    with pytest.raises(PackProblems) as err:
        load_yaml(path)
    (problem,) = err.value.problems
    assert (problem.line, problem.col, problem.message) == (
        4, 3, "invalid YAML: duplicate key 'c'")


def test_every_mistake_of_a_facts_file_is_reported_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "measures.yaml"
    path.write_text("trend_defaults: {}\n"
                    "measures:\n"
                    "  pain:\n"
                    "    title: Pain\n"
                    "    unit: [mg]\n"
                    "    range: [0, 10]\n"
                    "    codes: [loinc#1-1]\n"
                    "    lookback_day: 90\n")
    reader = FactsReader("http://example.org/local")
    assert reader.read(path, MeasuresFile) is None
    found = {(p.line, p.col, p.message.split(" (")[0]) for p in reader.problems}
    assert (5, 5, "measures.pain.unit: expected a number or a text value") in found
    assert (1, 1, "trend_defaults: every key is needed here: missing window_days, n, "
            "min_spacing_days, worsening.min_delta, worsening.min_pct, improving.max_ratio, "
            "chronic.min_value, chronic.min_span_days") in found
    assert (8, 5, "unknown key 'lookback_day'") in found
