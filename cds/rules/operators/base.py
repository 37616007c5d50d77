"""What every field-test operator is, and the registry the rule language reads them from.

An operator (`where: {value: {gte: 10}}`) is one object: how its operand is read from a
rule file, where it sits in a compiled pattern, how the engine tests it (a durable_rules
term, or a flag computed in Python), how Python evaluates it, how `cds explain` writes it,
how a sample fact satisfies it, which fields it fits and how the JSON Schema documents it.
Everything that handles operators asks the registry (`OPERATORS`); adding one is a subclass
and a `register()` call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag, TypeAdapter

JOIN = r"^[a-z][a-z0-9_]*\.[a-z_]+$"
MISSING: Any = object()  # a field the fact does not have


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("true/false is not a fact value: yes/no fields hold the text 'yes'/'no'")
    return value


Scalar = Annotated[float | int | str, BeforeValidator(_not_bool)]


class Ref(BaseModel):
    """A join: compare with a field of a fact bound earlier (`binding.field`)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    ref: str = Field(pattern=JOIN,
                     description="binding.field of a fact bound earlier in the same `all`")


def dict_or(tag_for_dict: str, other: str) -> Discriminator:
    """Choose a union member by shape (mapping or not), so a validation error names the
    member that was meant instead of listing the failure of every member."""

    def pick(value: Any) -> str:
        return tag_for_dict if isinstance(value, dict | BaseModel) else other

    return Discriminator(pick)


Operand = Annotated[
    Annotated[Ref, Tag("ref")] | Annotated[Scalar, Tag("value")], dict_or("ref", "value")
]


@dataclass(frozen=True)
class JoinRef:
    """A field of a fact bound earlier in the same branch."""

    binding: str
    field: str

    def __str__(self) -> str:
        return f"{self.binding}.{self.field}"


Value = float | str | bool | tuple[float | str, ...] | JoinRef


def number(value: Any) -> Any:
    """Numbers as floats (the engine hashes 5 and 5.0 differently); other values as they are."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def show(value: Any) -> str:
    """A value as explanations write it (5.0 as 5)."""
    return f"{value:g}" if isinstance(value, float) else str(value)


# What an operator's operand is, which decides how the pack check and the JSON Schema treat
# it: a value compared with the field, a list of such values, a value-set id (list fields),
# or true/false (the field's presence).
OperandKind = Literal["value", "values", "valueset", "presence"]


@dataclass(frozen=True, kw_only=True, eq=False)
class Operator:
    """One operator. Subclasses add what they need and override what differs."""

    name: str
    doc: str  # its description in the JSON Schema and the docs
    operand: TypeAdapter[Any]  # reads the operand from a rule file
    operand_kind: OperandKind
    symbol: str = ""  # how `cds explain` writes it: "value >= 10"
    order: int = 5  # position among a pattern's tests (shared leading tests share nodes)
    equality: bool = False  # the operand must be one of the field's choices
    joinable: bool = False  # the operand may be `{ref: binding.field}`
    field_kinds: frozenset[str] = frozenset({"number", "string"})

    def normalise(self, raw: Any) -> Value:
        """The operand as compiled tests hold it."""
        if isinstance(raw, Ref):
            binding, _, field = raw.ref.partition(".")
            return JoinRef(binding, field)
        result: Value = number(raw)
        return result

    def flagged(self, value: Value) -> bool:
        """Whether the test is computed in Python and asserted as a flag field (the engine
        then tests the flag for equality): see compiler.py for why."""
        del value
        return False

    def predicate(self, value: Value) -> Callable[[Any], bool]:
        """The test of a flagged operator as a function of a fact's field value, built once
        per program (it runs for every fact of every call)."""
        return lambda field_value: self.holds(field_value, value)

    def term(self, field: str, value: Value) -> dict[str, Any]:
        """The durable_rules term of a test the engine evaluates itself."""
        raise NotImplementedError(f"operator {self.name} has no engine term")

    def holds(self, value: Any, expected: Any) -> bool:
        """Whether a fact's field value (MISSING when absent) passes the test."""
        raise NotImplementedError

    def satisfy(self, fact: dict[str, Any], field: str, value: Value, longest: bool) -> None:
        """Make a sample fact pass the test (with `longest`, its longest-rendering value)."""

    def describe(self, field: str, value: Value) -> str:
        shown = ("[" + ", ".join(show(v) for v in value) + "]" if isinstance(value, tuple)
                 else show(value))
        return f"{field} {self.symbol} {shown}"

    def fits(self, kind: str) -> bool:
        return kind in self.field_kinds


_OPERATORS: dict[str, Operator] = {}
OPERATORS: Mapping[str, Operator] = _OPERATORS


def register(operator: Operator) -> None:
    _OPERATORS[operator.name] = operator


def unregister(name: str) -> None:
    _OPERATORS.pop(name, None)


def operators() -> Iterator[Operator]:
    return iter(tuple(_OPERATORS.values()))
