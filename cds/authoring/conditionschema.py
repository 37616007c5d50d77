"""JSON Schema of conditions (`when`, `unless`, definitions.yaml), drawn from the fact
catalogue and the pack: which fields each fact type has, which operators fit each field,
which values a field takes (its choices, the pack's measure ids, the value sets meant for
that fact type) and which parameters ("@group.name") hold a value of the right kind.

It mirrors the checks of validate.py, so the editor flags as you type what `cds rules check`
would report, and accepts what check accepts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from cds.authoring.validate import GLOBAL_NAMES, MEASURE_TYPES, VALUESET_KIND
from cds.authoring.vocabulary import Vocabulary
from cds.facts.catalogue import FACT_TYPES, FactField, FactType
from cds.rules.operators import JOIN, OperandKind, operators
from cds.rules.schema import BINDING

Schema = dict[str, Any]

_JOIN = "binding.field of a fact bound earlier in the same `all`: equal to it"


NUMBER_PARAMETER = "parameter.number"


def ref(name: str) -> Schema:
    return {"$ref": f"#/definitions/{name}"}


def number_parameters(vocab: Vocabulary) -> Schema | None:
    """The pack's numeric parameters ("@group.name"), each shown with its value."""
    numbers = {name: value for name, value in vocab.parameters.items() if _is_number(value)}
    if not numbers:
        return None
    return {"description": "A number from parameters.yaml", "enum": list(numbers),
            "enumDescriptions": [f"= {value}" for value in numbers.values()]}


class _Defs:
    """Definitions added to the schema, each written once however many fields share it."""

    def __init__(self) -> None:
        self.defs: dict[str, Schema] = {}
        self._names: dict[str, str] = {}

    def add(self, name: str, schema: Schema) -> Schema:
        key = json.dumps(schema, sort_keys=True)
        if key not in self._names:
            while name in self.defs:
                name += "_"
            self.defs[name] = schema
            self._names[key] = name
        return ref(self._names[key])


class ConditionSchema:
    """The definitions that replace the generic `Pattern` and `Use` of the rule models."""

    def __init__(self, vocab: Vocabulary) -> None:
        self.vocab = vocab
        self.defs = _Defs()

    def refs_where(self, accept: Callable[[Any], bool]) -> list[str]:
        """Parameter references whose value `accept`s."""
        return [name for name, value in self.vocab.parameters.items() if accept(value)]

    def build(self, base_pattern: Schema) -> dict[str, Schema]:
        """Every definition conditions need; `base_pattern` is the model's Pattern schema
        (its property descriptions are kept)."""
        props = base_pattern["properties"]
        where = props["where"]["description"]
        fact_types = sorted(FACT_TYPES)
        pattern: Schema = {
            "type": "object",
            "description": base_pattern.get("description", ""),
            "properties": {
                "bind": {**props["bind"], "pattern": _binding_pattern(),
                         "patternErrorMessage": "A binding name: lower case letters, digits "
                         "and _, not one reserved for card templates "
                         f"({', '.join(sorted(GLOBAL_NAMES))})"},
                "fact": {"description": props["fact"]["description"], "enum": fact_types,
                         "enumDescriptions": [FACT_TYPES[t].description for t in fact_types]},
                "where": {"description": where, "type": "object"},
            },
            "required": ["bind", "fact"],
            "additionalProperties": False,
            "allOf": [{"if": {"properties": {"fact": {"const": t}}, "required": ["fact"]},
                       "then": {"properties": {"where": {
                           "description": where, "allOf": [self._where(FACT_TYPES[t])]}}}}
                      for t in fact_types],
        }
        use: Schema = {"type": "object", "description": "Insert a named condition from "
                       "definitions.yaml (its patterns and bindings)",
                       "properties": {"use": {"description": "Name of the definition",
                                              **self._enum("definition")}},
                       "required": ["use"], "additionalProperties": False}
        return {"Pattern": pattern, "Use": use, **self.defs.defs}

    def _enum(self, vocabulary: str) -> Schema:
        ids = self.vocab.ids.get(vocabulary)
        return {"type": "string"} if ids is None else {"enum": list(ids)}

    def _where(self, ftype: FactType) -> Schema:
        fields = {f.name: {"description": _describe(f), "allOf": [self._test(ftype, f)]}
                  for f in ftype.fields}
        return self.defs.add(f"where.{ftype.name}", {
            "type": "object",
            "description": f"Tests on the fields of a {ftype.name} fact; all must hold. A plain "
                           "value means equality.",
            "properties": fields,
            "additionalProperties": False,
        })

    def _test(self, ftype: FactType, spec: FactField) -> Schema:
        if spec.kind == "list":
            return self._list_test(ftype, spec)
        hint, value, accept = self._value(ftype, spec)
        operand = self.defs.add(f"operand.{hint}",
                                _object_or(ref("Ref"), value, "join {ref: binding.field}"))
        lists = self.refs_where(lambda v: isinstance(v, list) and all(map(accept, v)))
        values: Schema = {"type": "array", "items": value}
        operands: dict[OperandKind, Schema] = {
            "value": {"allOf": [operand]},
            "values": {"anyOf": [values, {"enum": lists}]} if lists else values,
            "presence": {"type": "boolean"},
        }
        ops: Schema = {op.name: {"description": op.doc, **operands[op.operand_kind]}
                       for op in operators() if op.fits(spec.kind)
                       and op.operand_kind in operands}
        ops["ref"] = {"description": _JOIN, "type": "string", "pattern": JOIN}
        tests = self.defs.add(f"ops.{hint}", {
            "type": "object", "description": "One or more operators, all of which must hold; "
                                             "or `ref` alone, equality with a joined field",
            "properties": ops, "additionalProperties": False,
            "if": {"required": ["ref"]}, "then": {"maxProperties": 1}})
        return self.defs.add(f"test.{hint}", _object_or(tests, value, "operators"))

    def _value(self, ftype: FactType, spec: FactField
               ) -> tuple[str, Schema, Callable[[Any], bool]]:
        """A value the field can be compared with (a literal or a parameter holding one), a
        name for it, and the test of a parameter's value."""
        if spec.kind == "number":
            params = number_parameters(self.vocab)
            if params is None:
                return "number", self.defs.add("number", {"type": "number"}), _is_number
            self.defs.defs[NUMBER_PARAMETER] = params
            return "number", self.defs.add("number", _parameter_or(
                ref(NUMBER_PARAMETER), {"type": "number"})), _is_number
        hint = "yes-no" if spec.options == ("yes", "no") else f"{ftype.name}.{spec.name}"
        allowed: dict[str, str | None] | None = dict.fromkeys(spec.options) or None
        if spec.name == "measure" and ftype.name in MEASURE_TYPES:
            hint, allowed = "measure", self.vocab.ids.get("measure")
        if allowed is not None:
            fits = allowed.__contains__
            refs = self.refs_where(lambda v: isinstance(v, str) and fits(v))
            values: Schema = {"enum": [*allowed, *refs]}
            if any(allowed.values()):
                values["enumDescriptions"] = [*(t or "" for t in allowed.values()),
                                              *(f"= {self.vocab.parameters[r]}" for r in refs)]
            return hint, self.defs.add(hint, values), fits
        texts = self.refs_where(lambda v: isinstance(v, str))
        literal = {"type": "string", "pattern": "^[^@]|^$"}
        return "text", self.defs.add("text", _parameter_or({"enum": texts}, literal)
                                     if texts else literal), lambda v: isinstance(v, str)

    def _list_test(self, ftype: FactType, spec: FactField) -> Schema:
        kind = VALUESET_KIND.get(ftype.name, ftype.name)
        kinds = self.vocab.valueset_kinds
        ids = self.vocab.ids.get("valueset")
        contains: Schema = {"type": "string"}
        if ids is not None:
            fits = [v for v in ids if spec.name != "valuesets" or not kinds.get(v)
                    or kind in kinds[v]]
            contains = {"enum": fits + self.refs_where(lambda v: v in fits)}
        operands: dict[OperandKind, Schema] = {"valueset": contains,
                                               "presence": {"type": "boolean"}}
        return self.defs.add(f"list-test.{kind if spec.name == 'valuesets' else 'any'}", {
            "type": "object",
            "description": "A list is tested with `contains` (a value-set id) or `exists`",
            "properties": {op.name: {"description": op.doc, **operands[op.operand_kind]}
                           for op in operators() if op.fits("list")
                           and op.operand_kind in operands},
            "additionalProperties": False,
        })


# A choice by shape (mapping or value; "@parameter" or literal) is written as a test of the
# shape (so an editor names the wrong key or value, not every alternative that failed) beside
# a union (an editor completes values from a union, never from `then` or `else`).


def _object_or(mapping: Schema, value: Schema, title: str) -> Schema:
    """`mapping` (named `title` in messages) for a mapping, else `value`."""
    return {"allOf": [{"if": {"type": "object"}, "then": mapping},
                      {"anyOf": [value, {"type": "object", "title": title}]}]}


def _parameter_or(parameters: Schema, literal: Schema) -> Schema:
    """One of `parameters` for text starting with @, else `literal`."""
    return {"allOf": [{"if": {"type": "string", "pattern": "^@"}, "then": parameters},
                      {"anyOf": [literal, parameters]}]}


def _binding_pattern() -> str:
    reserved = "|".join(sorted(GLOBAL_NAMES))
    return f"^(?!({reserved})$)" + BINDING.removeprefix("^")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _describe(spec: FactField) -> str:
    text = spec.description
    if spec.unit:
        text += f" (unit: {spec.unit})"
    if spec.options:
        text += f"; one of {', '.join(spec.options)}"
    return text
