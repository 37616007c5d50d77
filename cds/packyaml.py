"""The one YAML reader of the rule pack: every pack file, rule or facts file, is parsed here
with the same scalar rules and with the position of every element.

Files are parsed by libyaml (PyYAML's C parser: a pack of dozens of files loads in a
fraction of a second) with constructors that remember the line and column of every mapping
key and sequence item and the span of every value. Scalars follow YAML 1.2 as far as
authors notice: only true/false are booleans (`yes`, `no`, `on` stay text) and dates stay
text. Duplicate keys are errors.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

Span = tuple[int, int]  # character offsets of a value in its file: [start, end)
Position = tuple[int, int]  # 1-based (line, column)


class PosDict(dict[str, Any]):
    """A mapping that knows its position, the position of each key and the span of each
    value."""

    pos: Position = (1, 1)
    key_pos: dict[str, Position]
    value_span: dict[str, Span]


class PosList(list[Any]):
    """A sequence that knows its position, the position and span of each item."""

    pos: Position = (1, 1)
    item_pos: list[Position]
    item_span: list[Span]


def position_of(node: Any, key: str | int | None = None) -> Position:
    """The position of `node[key]` (of `node` itself without a key or when the key is not in
    it); (1, 1) for a value that is not a container of this module."""
    if isinstance(node, PosDict):
        return node.key_pos.get(key, node.pos) if isinstance(key, str) else node.pos
    if isinstance(node, PosList):
        if isinstance(key, int) and 0 <= key < len(node.item_pos):
            return node.item_pos[key]
        return node.pos
    return 1, 1


def _mark(node: yaml.Node) -> Position:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _span(node: yaml.Node) -> Span:
    return node.start_mark.index, node.end_mark.index


class _Loader(yaml.CSafeLoader):
    pass


_BOOL = "tag:yaml.org,2002:bool"
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers
            if tag not in (_BOOL, "tag:yaml.org,2002:timestamp")]
    for first, resolvers in yaml.CSafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))


def _mapping(loader: _Loader, node: yaml.MappingNode) -> PosDict:
    out = PosDict()
    out.pos = _mark(node)
    out.key_pos = {}
    out.value_span = {}
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = str(loader.construct_object(key_node, deep=True))
        if key in out.key_pos:
            raise yaml.MarkedYAMLError(problem=f"duplicate key '{key}'",
                                       problem_mark=key_node.start_mark)
        out.key_pos[key] = _mark(key_node)
        out.value_span[key] = _span(value_node)
        out[key] = loader.construct_object(value_node, deep=True)
    return out


def _sequence(loader: _Loader, node: yaml.SequenceNode) -> PosList:
    out = PosList(loader.construct_object(child, deep=True) for child in node.value)
    out.pos = _mark(node)
    out.item_pos = [_mark(child) for child in node.value]
    out.item_span = [_span(child) for child in node.value]
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _sequence)


def parse(text: str) -> Any:
    """The document in `text` (PosDict / PosList containers); raises yaml.YAMLError."""
    return yaml.load(text, Loader=_Loader)


def syntax_error(exc: yaml.YAMLError) -> tuple[Position, str]:
    """Where a parse error is and what it says ("invalid YAML: ...")."""
    if not isinstance(exc, yaml.MarkedYAMLError):
        return (1, 1), f"invalid YAML: {exc}"
    mark = exc.problem_mark or exc.context_mark
    where = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    message = exc.problem or exc.context or "invalid YAML"
    start = exc.context_mark
    if exc.problem and exc.context and start is not None and start.line + 1 != where[0]:
        message += f" ({exc.context} started at {start.line + 1}:{start.column + 1})"
    return where, f"invalid YAML: {message}"
