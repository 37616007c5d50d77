"""Reading pack YAML with line numbers, so every error reads `file:line: message`.

PyYAML's C loader builds the documents (fast enough to reload a pack of dozens of files in
milliseconds); its mapping and sequence constructors are replaced so every container
remembers the line of itself and of each key / item. Duplicate keys are an error instead of
silently keeping the last one. The helpers check types as they read and raise
`RulePackError` pointing at the line.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import yaml

from cds.errors import RulePackError
from cds.suggest import hint

_MISSING = object()
_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class LineDict(dict[Any, Any]):
    """A mapping that knows its own line and the line of each key (1-based)."""

    line: int = 1
    key_lines: dict[Any, int]


class LineList(list[Any]):
    """A sequence that knows its own line and the line of each item (1-based)."""

    line: int = 1
    item_lines: list[int]


class _DuplicateKey(yaml.MarkedYAMLError):
    pass


class _LineLoader(_Loader):  # type: ignore[misc]
    pass


def _mapping(loader: Any, node: yaml.MappingNode) -> LineDict:
    out = LineDict()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in out.key_lines:
            raise _DuplicateKey(problem=f"duplicate key '{key}'", problem_mark=key_node.start_mark)
        out.key_lines[key] = key_node.start_mark.line + 1
        out[key] = loader.construct_object(value_node, deep=True)
    return out


def _sequence(loader: Any, node: yaml.SequenceNode) -> LineList:
    out = LineList(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    out.item_lines = [child.start_mark.line + 1 for child in node.value]
    return out


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _sequence)


class YamlFile:
    """One parsed YAML file; `root` is its top-level node."""

    def __init__(self, path: Path, root: Any) -> None:
        self.path = path
        self.root = root

    @classmethod
    def load(cls, path: Path) -> YamlFile:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise RulePackError(f"{path}:1: cannot read: {exc.strerror or exc}") from exc
        try:
            root = yaml.load(text, Loader=_LineLoader)  # a SafeLoader subclass
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else 1
            problem = exc.problem or exc.context or "invalid YAML"
            raise RulePackError(f"{path}:{line}: {problem}") from exc
        except yaml.YAMLError as exc:
            raise RulePackError(f"{path}:1: invalid YAML: {exc}") from exc
        return cls(path, root)

    # -- locations ---------------------------------------------------------------------------

    def line(self, node: Any, key: Any = None) -> int:
        if isinstance(node, LineDict):
            return node.key_lines.get(key, node.line) if key is not None else node.line
        if isinstance(node, LineList):
            if isinstance(key, int) and 0 <= key < len(node.item_lines):
                return node.item_lines[key]
            return node.line
        return 1

    def fail(self, node: Any, key: Any, message: str) -> NoReturn:
        raise RulePackError(f"{self.path}:{self.line(node, key)}: {message}")

    # -- typed access ------------------------------------------------------------------------

    def mapping(self, node: Any, key: Any, *, required: bool = True) -> dict[str, Any]:
        value = self._get(node, key, required, {})
        if not isinstance(value, dict):
            self.fail(node, key, f"'{key}' must be a mapping")
        return value

    def sequence(self, node: Any, key: Any, *, required: bool = True) -> list[Any]:
        value = self._get(node, key, required, [])
        if not isinstance(value, list):
            self.fail(node, key, f"'{key}' must be a list")
        return value

    def text(self, node: Any, key: Any, *, required: bool = True, default: str = "") -> str:
        value = self._get(node, key, required, default)
        if isinstance(value, bool) or not isinstance(value, str | int):
            self.fail(node, key, f"'{key}' must be a string")
        return str(value)

    def number(self, node: Any, key: Any, *, required: bool = True,
               default: float | None = None) -> float | None:
        value = self._get(node, key, required, default)
        if value is None and not required:
            return None
        return self.to_number(value, node, key)

    def to_number(self, value: Any, node: Any, key: Any) -> float:
        """A number, or a fraction written as text ("1/60") for exact unit factors."""
        if isinstance(value, bool):
            self.fail(node, key, f"'{key}' must be a number")
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            num, sep, den = value.replace(" ", "").partition("/")
            try:
                return float(num) / float(den) if sep else float(num)
            except (ValueError, ZeroDivisionError):
                pass
        self.fail(node, key, f"'{key}' must be a number (or a fraction such as 1/60)")

    def items(self, node: dict[str, Any]) -> Iterator[tuple[str, Any]]:
        for key, value in node.items():
            yield str(key), value

    def only(self, node: dict[str, Any], allowed: set[str], where: str) -> None:
        for key in node:
            if str(key) not in allowed:
                self.fail(node, key, f"unknown key '{key}' in {where} "
                          + hint(str(key), sorted(allowed)))

    def _get(self, node: Any, key: Any, required: bool, default: Any) -> Any:
        if not isinstance(node, dict):
            self.fail(node, None, "expected a mapping")
        value = node.get(key, _MISSING)
        if value is _MISSING or value is None:
            if required:
                self.fail(node, None, f"missing required key '{key}'")
            return default
        return value
