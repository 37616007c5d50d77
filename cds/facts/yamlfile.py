"""Typed reading of a facts file (measures, instruments, medications, value sets ...)
parsed by the pack's one YAML reader (cds.packyaml), so every error reads
`file:line:col: message` at the element it is about. The helpers check types as they read
and raise `RulePackError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import yaml

from cds.errors import RulePackError
from cds.packyaml import parse, position_of, syntax_error
from cds.suggest import hint

_MISSING = object()


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
            raise RulePackError(f"{path}:1:1: cannot read: {exc.strerror or exc}") from exc
        try:
            root = parse(text)
        except yaml.YAMLError as exc:
            (line, col), message = syntax_error(exc)
            raise RulePackError(f"{path}:{line}:{col}: {message}") from exc
        return cls(path, root)

    # -- locations ---------------------------------------------------------------------------

    def fail(self, node: Any, key: Any, message: str) -> NoReturn:
        line, col = position_of(node, key)
        raise RulePackError(f"{self.path}:{line}:{col}: {message}")

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
