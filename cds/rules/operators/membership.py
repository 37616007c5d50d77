"""Membership: `in` (the field is one of several values) and `contains` (a list field holds a
value-set id). The engine never shares the nodes such tests need between rules, so both are
computed in Python and asserted as flags (compiler.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter

from cds.rules.operators.base import MISSING, Operator, Scalar, Value, number


@dataclass(frozen=True, kw_only=True, eq=False)
class OneOf(Operator):
    def normalise(self, raw: Any) -> Value:
        return tuple(number(v) for v in raw)

    def flagged(self, value: Value) -> bool:
        return not (isinstance(value, tuple) and len(value) == 1)

    def term(self, field: str, value: Value) -> dict[str, Any]:
        assert isinstance(value, tuple) and len(value) == 1  # more values: a flag
        return {field: value[0]}

    def predicate(self, value: Value) -> Callable[[Any], bool]:
        allowed = frozenset(value) if isinstance(value, tuple) else frozenset()
        return allowed.__contains__

    def holds(self, value: Any, expected: Any) -> bool:
        return value is not MISSING and any(
            isinstance(value, str) == isinstance(v, str) and value == v for v in expected)

    def satisfy(self, fact: dict[str, Any], field: str, value: Value, longest: bool) -> None:
        if isinstance(value, tuple) and value:
            fact[field] = max(value, key=lambda v: len(str(v))) if longest else value[0]


@dataclass(frozen=True, kw_only=True, eq=False)
class Contains(Operator):
    def normalise(self, raw: Any) -> Value:
        result: Value = raw
        return result

    def flagged(self, value: Value) -> bool:
        del value  # always: a list field is never asserted as it is
        return True

    def predicate(self, value: Value) -> Callable[[Any], bool]:
        return lambda field_value: isinstance(field_value, list) and value in field_value

    def holds(self, value: Any, expected: Any) -> bool:
        return isinstance(value, list) and expected in value

    def satisfy(self, fact: dict[str, Any], field: str, value: Value, longest: bool) -> None:
        del longest
        fact[field] = sorted({*fact.get(field, []), str(value)})


IN = OneOf(name="in", doc="One of these values", symbol="in", order=2,
           operand=TypeAdapter(list[Scalar]), operand_kind="values", equality=True)
CONTAINS = Contains(name="contains", doc="A value-set id the list must hold", symbol="contains",
                    order=3, operand=TypeAdapter(str), operand_kind="valueset",
                    field_kinds=frozenset({"list"}))
