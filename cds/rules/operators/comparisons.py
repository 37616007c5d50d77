"""Comparisons of a field with a value or a joined field: eq ne lt lte gt gte."""

from __future__ import annotations

import operator as py
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter

from cds.rules.operators.base import MISSING, JoinRef, Operand, Operator, Value

_OPERAND: TypeAdapter[Any] = TypeAdapter(Operand)


@dataclass(frozen=True, kw_only=True, eq=False)
class Comparison(Operator):
    compare: Callable[[Any, Any], Any]
    engine: str | None  # the durable_rules operator; None: plain equality `{field: value}`
    nudge: float = 0.0  # a sample passes a strict comparison by this much

    def term(self, field: str, value: Value) -> dict[str, Any]:
        operand: Any = {value.binding: value.field} if isinstance(value, JoinRef) else value
        if self.engine is None:
            return {field: operand}
        return {self.engine: {field: operand}}

    def holds(self, value: Any, expected: Any) -> bool:
        if value is MISSING or isinstance(value, str) != isinstance(expected, str):
            return False  # text is never compared with a number: the check forbids it
        return bool(self.compare(value, expected))

    def satisfy(self, fact: dict[str, Any], field: str, value: Value, longest: bool) -> None:
        del longest  # one value passes
        if self.name == "ne" or isinstance(value, JoinRef):
            return
        if not self.nudge:
            fact[field] = value
        elif isinstance(value, float):
            fact[field] = value + self.nudge


def _comparison(name: str, doc: str, symbol: str, compare: Callable[[Any, Any], Any],
                engine: str | None, **more: Any) -> Comparison:
    return Comparison(name=name, doc=doc, symbol=symbol, compare=compare, engine=engine,
                      operand=_OPERAND, operand_kind="value", joinable=True,
                      equality=name in ("eq", "ne"), **more)


COMPARISONS = (
    _comparison("eq", "Equal to", "=", py.eq, None, order=1),
    _comparison("ne", "Not equal to", "!=", py.ne, "$neq"),
    _comparison("lt", "Less than", "<", py.lt, "$lt", nudge=-1.0),
    _comparison("lte", "At most", "<=", py.le, "$lte"),
    _comparison("gt", "More than", ">", py.gt, "$gt", nudge=1.0),
    _comparison("gte", "At least", ">=", py.ge, "$gte"),
)
