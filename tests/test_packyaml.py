"""Every pack file is read by one YAML reader: the same scalars and the same positions in a
facts file as in a rule file."""

from __future__ import annotations

from pathlib import Path

import pytest

from cds.errors import RulePackError
from cds.facts.yamlfile import YamlFile
from cds.packyaml import parse, position_of
from cds.packsource import PackProblems, load_yaml

TEXT = "flag: yes\nswitch: on\nreal: true\nday: 2026-01-01\nlist:\n  - a\n  - {b: no}\n"


def test_only_true_and_false_are_booleans_and_dates_stay_text() -> None:
    assert parse(TEXT) == {"flag": "yes", "switch": "on", "real": True, "day": "2026-01-01",
                           "list": ["a", {"b": "no"}]}


def test_a_facts_file_and_a_rule_file_read_the_same_values(tmp_path: Path) -> None:
    path = tmp_path / "any.yaml"
    path.write_text(TEXT)
    assert YamlFile.load(path).root == load_yaml(path).data == parse(TEXT)


def test_positions_are_line_and_column_of_each_key_and_item() -> None:
    data = parse(TEXT)
    assert position_of(data, "day") == (4, 1)
    assert position_of(data["list"], 1) == (7, 5)
    assert position_of(data["list"][1], "b") == (7, 6)
    assert position_of(data, "absent") == (1, 1)


def test_a_duplicate_key_fails_both_readers_at_the_same_place(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("a: 1\nb:\n  c: 1\n  c: 2\n")
    with pytest.raises(RulePackError, match=r"dup.yaml:4:3: invalid YAML: duplicate key 'c'"):
        YamlFile.load(path)
    with pytest.raises(PackProblems) as err:
        load_yaml(path)
    (problem,) = err.value.problems
    assert (problem.line, problem.col, problem.message) == (
        4, 3, "invalid YAML: duplicate key 'c'")


def test_a_facts_file_error_points_at_the_element(tmp_path: Path) -> None:
    path = tmp_path / "facts.yaml"
    path.write_text("measures:\n  pain:\n    unit: [mg]\n")
    doc = YamlFile.load(path)
    with pytest.raises(RulePackError, match=r"facts.yaml:3:5: 'unit' must be a string"):
        doc.text(doc.root["measures"]["pain"], "unit")
