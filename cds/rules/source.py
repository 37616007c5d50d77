"""Pack YAML read with source positions, so every problem reads `file:line:col: message`.

The ruamel.yaml round-trip loader keeps the line and column of every mapping key and sequence
item. A `SourceDoc` holds both that tree (for positions) and a plain-Python copy of the data
(for validation), and turns a path such as `("when", "all", 0, "where", "value")` into the
position of the deepest element of the path that exists in the file. Path elements that are
not in the file (pydantic's union tags, for example) are skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from cds.errors import RulePackError

PathItem = str | int


@dataclass(frozen=True, order=True)
class Problem:
    """One error in a pack file; `str()` is the `file:line:col: message` form."""

    file: str
    line: int
    col: int
    message: str
    severity: str = "error"  # or "warning": reported by check, never blocks a load

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def __str__(self) -> str:
        prefix = "" if self.is_error else "warning: "
        return f"{self.file}:{self.line}:{self.col}: {prefix}{self.message}"


class PackProblems(RulePackError):
    """A pack that failed to load; `problems` lists every error found."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = sorted(set(problems))
        lines = [str(p) for p in self.problems]
        super().__init__(
            f"{len(lines)} problem(s) in the rule pack:\n" + "\n".join(lines),
            details=lines,
        )


def display_path(path: Path) -> str:
    """The path relative to the working directory when it is below it (shorter messages)."""
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)


def plain(node: Any) -> Any:
    """A deep copy of a ruamel tree made of builtin types only (dict, list, str, float ...)."""
    if isinstance(node, dict):
        return {str(k): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


class SourceDoc:
    """One YAML file: `data` (plain Python) and positions of every element."""

    def __init__(self, path: Path, tree: Any) -> None:
        self.path = path
        self.name = display_path(path)
        self.tree = tree
        self.data = plain(tree)

    def position(self, path: Sequence[PathItem]) -> tuple[int, int]:
        """1-based (line, col) of the deepest element of `path` present in the file."""
        node = self.tree
        line, col = 1, 1
        if isinstance(node, CommentedMap | CommentedSeq):
            line, col = node.lc.line + 1, node.lc.col + 1
        for item in path:
            if isinstance(node, CommentedMap) and isinstance(item, str) and item in node:
                kline, kcol = node.lc.key(item)
                line, col = kline + 1, kcol + 1
                node = node[item]
            elif (isinstance(node, CommentedSeq) and isinstance(item, int)
                  and 0 <= item < len(node)):
                iline, icol = node.lc.item(item)
                line, col = iline + 1, icol + 1
                node = node[item]
            # anything else (a union tag, a missing key) keeps the last position found
        return line, col

    def problem(self, path: Sequence[PathItem], message: str,
                severity: str = "error") -> Problem:
        line, col = self.position(path)
        return Problem(self.name, line, col, message, severity)


def load_yaml(path: Path) -> SourceDoc:
    """Parse one file; a syntax error raises `PackProblems` at the error's position."""
    name = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PackProblems([Problem(name, 1, 1, f"cannot read: {exc.strerror or exc}")]) from exc
    try:
        tree = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        message = exc.problem or exc.context or "invalid YAML"
        raise PackProblems([Problem(name, line, col, f"invalid YAML: {message}")]) from exc
    except YAMLError as exc:
        raise PackProblems([Problem(name, 1, 1, f"invalid YAML: {exc}")]) from exc
    return SourceDoc(path, tree)


def problem_from_error(error: RulePackError, fallback: str) -> Problem:
    """A `RulePackError` whose message starts with `file:line:` as a Problem (col 1)."""
    text = error.message
    head, sep, rest = text.partition(": ")
    if sep:
        file, _, line = head.rpartition(":")
        if file and line.isdigit():
            return Problem(display_path(Path(file)), int(line), 1, rest)
    return Problem(fallback, 1, 1, text)
