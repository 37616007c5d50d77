"""`exists`: whether the fact has the field at all (`exists: false`: it has not)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter

from cds.rules.operators.base import MISSING, Operator, Value


@dataclass(frozen=True, kw_only=True, eq=False)
class Exists(Operator):
    def normalise(self, raw: Any) -> Value:
        return bool(raw)

    def term(self, field: str, value: Value) -> dict[str, Any]:
        return {("$ex" if value else "$nex"): {field: 1}}

    def holds(self, value: Any, expected: Any) -> bool:
        return (value is not MISSING) == bool(expected)

    def satisfy(self, fact: dict[str, Any], field: str, value: Value, longest: bool) -> None:
        del longest
        if value is False:
            fact.pop(field, None)

    def describe(self, field: str, value: Value) -> str:
        return f"{field} {'exists' if value else 'is absent'}"


EXISTS = Exists(name="exists", doc="true: the fact has this field; false: it has not",
                symbol="exists", order=4, operand=TypeAdapter(bool), operand_kind="presence",
                field_kinds=frozenset({"number", "string", "list"}))
