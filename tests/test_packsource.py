"""Pack YAML: positions of keys and items, YAML 1.2 scalars, errors at their place."""

from __future__ import annotations

import pytest

from cds.packsource import PackProblems, load_yaml


def test_yes_no_and_dates_stay_text_and_only_true_false_are_booleans(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text("a: yes\nb: no\nc: on\nd: true\ne: 2026-06-01\nf: 1.5\ng: 7\n")
    assert load_yaml(path).data == {"a": "yes", "b": "no", "c": "on", "d": True,
                                    "e": "2026-06-01", "f": 1.5, "g": 7}


def test_a_path_resolves_to_the_line_and_column_of_its_deepest_element(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("when:\n  all:\n    - {bind: p, fact: measure}\n"
                    "    - bind: q\n      where: {value: {gte: 4}}\n")
    doc = load_yaml(path)
    assert doc.position(("when", "all", 1, "where", "value")) == (5, 15)
    assert doc.position(("when", "all", 0, "pattern", "bind")) == (3, 8)  # tag skipped
    assert doc.position(("when", "missing")) == (1, 1)


def test_duplicate_keys_are_errors_at_the_second_key(tmp_path):
    path = tmp_path / "d.yaml"
    path.write_text("a: 1\nb: 2\na: 3\n")
    with pytest.raises(PackProblems) as caught:
        load_yaml(path)
    (problem,) = caught.value.problems
    assert (problem.line, problem.col) == (3, 1)
    assert "duplicate key 'a'" in problem.message
