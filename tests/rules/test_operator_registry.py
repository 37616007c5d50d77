"""An operator is one object of the registry (cds.rules.operators): a toy `startswith`,
defined and registered in this module only, is read from rule files, checked, compiled,
matched by the engine, evaluated by the Python evaluator, explained, satisfied by samples and
documented in the JSON Schema."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from cds.authoring.check import load_pack
from cds.authoring.explain import describe_test
from cds.authoring.packschema import pack_schemas
from cds.authoring.pyeval import test_holds as holds
from cds.authoring.samples import branch_samples
from cds.errors import RulePackError
from cds.rules.dnf import Test as FieldCheck
from cds.rules.operators import Operator, Value, register, unregister
from tests.rules.builders import engine, med, pattern, rule
from tests.rules.standin import PACK, standin_fact_config


@dataclass(frozen=True, kw_only=True, eq=False)
class StartsWith(Operator):
    """Text fields that begin with the operand; computed in Python (a flag)."""

    def flagged(self, value: Value) -> bool:
        return True

    def predicate(self, value: Value) -> Callable[[Any], bool]:
        return lambda field_value: isinstance(field_value, str) and field_value.startswith(
            str(value))

    def holds(self, value: Any, expected: Any) -> bool:
        return isinstance(value, str) and value.startswith(expected)

    def satisfy(self, fact: dict[str, Any], field: str, value: Value, longest: bool) -> None:
        fact[field] = f"{value}{'-and-more' if longest else ''}"


STARTSWITH = StartsWith(name="startswith", doc="Text the field begins with",
                        symbol="starts with", operand=TypeAdapter(str), operand_kind="value",
                        field_kinds=frozenset({"string"}))
RULE = """id: R90
slug: oxy
version: 1.0.0
title: An oxy- medicine
hooks: [patient-view]
evidence: {statement: Test rule.}
citations:
  - {id: T, label: Test, url: "https://example.org/t"}
source: {label: Test}
when: {bind: rx, fact: medication, where: {display: {startswith: %s}}}
card: {indicator: info, summary: "{{ rx.display }}", detail: d}
"""


@pytest.fixture
def toy_operator() -> Iterator[None]:
    register(STARTSWITH)
    yield
    unregister("startswith")


def _pack_with(tmp_path: Path, test: str) -> Path:
    root = shutil.copytree(PACK, tmp_path / "pack")
    (root / "rules" / "R90-oxy.yaml").write_text(RULE % test)
    return root


def test_the_engine_matches_by_the_operator(toy_operator: None) -> None:
    eng = engine(rule("R90", pattern("rx", "medication", display={"startswith": "Oxy"})))
    facts = [med("a", display="OxyContin 10 mg"), med("b", display="Tramadol 50 mg")]
    assert [m.fact_ids() for m in eng.evaluate(facts, "patient-view")] == [["a"]]


def test_a_rule_file_using_it_checks_explains_samples_and_is_documented(
        toy_operator: None, tmp_path: Path) -> None:
    root = _pack_with(tmp_path, "Oxy")
    pack = load_pack(root, standin_fact_config)
    test = FieldCheck("display", "startswith", "Oxy")
    assert describe_test(test) == "display starts with Oxy"
    assert holds(test, {"display": "OxyContin"}, {})
    assert not holds(test, {"display": "Tramadol"}, {})
    (sample,) = branch_samples(pack, "R90", longest=True)
    assert sample["rx"]["display"].startswith("Oxy")
    schema = json.dumps(pack_schemas(root, standin_fact_config))
    assert "Text the field begins with" in schema


def test_the_check_holds_it_to_its_field_kinds(toy_operator: None, tmp_path: Path) -> None:
    root = _pack_with(tmp_path, "Oxy")
    text = (root / "rules" / "R90-oxy.yaml").read_text()
    (root / "rules" / "R90-oxy.yaml").write_text(text.replace("display:", "ingredient:").replace(
        "fact: medication, where: {ingredient", "fact: measure, where: {value"))
    with pytest.raises(RulePackError, match="`startswith` needs a string field; "
                                            "measure.value is a number"):
        load_pack(root, standin_fact_config)


def test_without_the_registration_the_operator_is_unknown(tmp_path: Path) -> None:
    with pytest.raises(RulePackError, match=r"R90-oxy.yaml:10:\d+: unknown operator "
                                            r"'startswith' \(valid: eq, ne, lt, lte, gt, gte, "
                                            r"in, contains, exists\)"):
        load_pack(_pack_with(tmp_path, "Oxy"), standin_fact_config)
