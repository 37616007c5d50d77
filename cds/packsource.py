"""Pack files with source positions, so every problem reads `file:line:col: message`.

Files are parsed by the pack's one YAML reader (cds.packyaml), which remembers the position
of every element. `SourceDoc.position` turns a path such
as `("when", "all", 0, "where", "value")` into the position of the deepest element of the
path present in the file; path elements that are not in the file (pydantic's union tags,
for example) are skipped. `SourceDoc.locate` finds a piece of text inside the value at a
path (a misspelt name inside a 40-line card template), so a problem can point at it.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from cds.errors import RulePackError
from cds.modelpath import keys_of, model_at
from cds.packyaml import PosDict, PosList, Span, parse, syntax_error
from cds.suggest import hint, unknown

PathItem = str | int


@dataclass(frozen=True, order=True)
class Problem:
    """One error in a pack file; `str()` is the `file:line:col: message` form."""

    file: str
    line: int
    col: int
    message: str
    severity: str = "error"  # or "warning": reported by check, never blocks a load
    # What the problem follows from ("parameters.yaml", "rule R02", ...): when that part of
    # the pack did not load, its own error says so and this one is left out.
    requires: str = field(default="", compare=False)

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def needing(self, part: str) -> Problem:
        """This problem, marked as following from `part` of the pack."""
        return replace(self, requires=part)

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


# Error types of a validator that reads a mapping key by key, with the key in `ctx["key"]`:
# `unknown_key` (the message names the key) and `operand` (its value is wrong).
KEYED_ERRORS = ("unknown_key", "operand")


def display_path(path: Path) -> str:
    """The path relative to the working directory when it is below it (shorter messages)."""
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)


class SourceDoc:
    """One YAML file: its data (dicts and lists that know their positions) and its text."""

    def __init__(self, path: Path, data: Any, text: str = "") -> None:
        self.path = path
        self.name = display_path(path)
        self.data = data
        self.text = text

    def _walk(self, path: Sequence[PathItem]) -> tuple[tuple[int, int], Span | None]:
        """Position and span of the deepest element of `path` present in the file."""
        node = self.data
        where = node.pos if isinstance(node, PosDict | PosList) else (1, 1)
        span: Span | None = None
        for item in path:
            if isinstance(node, PosDict) and isinstance(item, str) and item in node:
                where, span = node.key_pos[item], node.value_span[item]
                node = node[item]
            elif isinstance(node, PosList) and isinstance(item, int) and 0 <= item < len(node):
                where, span = node.item_pos[item], node.item_span[item]
                node = node[item]
            # anything else (a union tag, a missing key) keeps the last position found
        return where, span

    def position(self, path: Sequence[PathItem]) -> tuple[int, int]:
        """1-based (line, col) of the deepest element of `path` present in the file."""
        return self._walk(path)[0]

    def locate(self, path: Sequence[PathItem], pattern: str) -> tuple[int, int] | None:
        """1-based (line, col) of the first match of the regular expression `pattern` inside
        the value at `path` (None if it is not there, e.g. split over two lines)."""
        _where, span = self._walk(path)
        if span is None:
            return None
        found = re.compile(pattern).search(self.text, *span)
        if found is None:
            return None
        start = found.start()
        line_start = self.text.rfind("\n", 0, start) + 1
        return self.text.count("\n", 0, start) + 1, start - line_start + 1

    def problem(self, path: Sequence[PathItem], message: str,
                severity: str = "error", near: str | None = None) -> Problem:
        """A problem at `path`, or at the first match of the pattern `near` inside it."""
        line, col = (near and self.locate(path, near)) or self.position(path)
        return Problem(self.name, line, col, message, severity)


def load_yaml(path: Path) -> SourceDoc:
    """Parse one file; a syntax error raises `PackProblems` at the error's position."""
    name = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PackProblems([Problem(name, 1, 1, f"cannot read: {exc.strerror or exc}")]) from exc
    try:
        data = parse(text)
    except yaml.YAMLError as exc:
        (line, col), message = syntax_error(exc)
        raise PackProblems([Problem(name, line, col, message)]) from exc
    return SourceDoc(path, data, text)


_LOCATED = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?:(?P<col>\d+):)? (?P<message>.*)$", re.S)


def problem_from_error(error: RulePackError, fallback: str) -> Problem:
    """A `RulePackError` whose message starts with `file:line:col:` (or `file:line:`) as a
    Problem."""
    found = _LOCATED.match(error.message)
    if found is None:
        return Problem(fallback, 1, 1, error.message)
    return Problem(display_path(Path(found["file"])), int(found["line"]),
                   int(found["col"] or 1), found["message"])


def validation_problems(doc: SourceDoc, exc: ValidationError,
                        base: tuple[PathItem, ...] = (),
                        model: type[BaseModel] | None = None) -> list[Problem]:
    """Pydantic errors as positioned problems, one per place and message; with the `model`
    that was validated, an unknown key lists the keys that were expected."""
    out: dict[tuple[int, int, str], Problem] = {}
    errors = exc.errors()
    extra: dict[tuple[PathItem, ...], list[str]] = {}
    for err in errors:
        if err["type"] == "extra_forbidden":
            extra.setdefault(tuple(err["loc"][:-1]), []).append(str(err["loc"][-1]))
    for err in errors:
        kind = err["type"]
        # A mapping's validator names the key it rejects (an operator, or its operand).
        key = (err.get("ctx") or {}).get("key") if kind in KEYED_ERRORS else None
        loc = base + tuple(err["loc"]) + ((key,) if key is not None else ())
        if kind == "missing" and difflib.get_close_matches(
                str(loc[-1]), extra.get(tuple(err["loc"][:-1]), []), n=1):
            continue  # the misspelt key is reported as unknown, with this one as its guess
        message = str(err["msg"]).removeprefix("Value error, ")
        if kind in ("float_type", "int_type", "string_type", "float_parsing", "int_parsing"):
            message = "expected a number or a text value"
        elif kind == "missing":
            message = f"missing required key '{loc[-1]}'"
        elif kind == "extra_forbidden":
            message = _unknown_key(model, tuple(err["loc"]))
        elif kind == "literal_error":
            allowed = re.findall(r"'([^']*)'", str(err.get("ctx", {}).get("expected", "")))
            message = f"'{err['input']}' is not allowed {hint(str(err['input']), allowed)}"
        line, col = doc.position(loc)
        present = list(_present(doc, loc))
        where = ".".join(str(p) for p in present)
        text = (f"{where}: {message}" if where and kind not in ("extra_forbidden", "unknown_key")
                else message)
        problem = Problem(doc.name, line, col, text)
        if _is_reference(doc, present):  # it would be a parameter's value once it resolves
            problem = problem.needing("parameters.yaml")
        out.setdefault((line, col, message), problem)
    return list(out.values())


def _is_reference(doc: SourceDoc, path: list[PathItem]) -> bool:
    node: Any = doc.data
    for item in path:
        node = node[item]
    return isinstance(node, str) and node.startswith("@")


def _unknown_key(model: type[BaseModel] | None, loc: tuple[PathItem, ...]) -> str:
    parent = model_at(model, loc[:-1]) if model is not None else None
    if parent is None:
        return f"unknown key '{loc[-1]}'"
    return unknown(getattr(parent, "key_kind", "key"), str(loc[-1]), keys_of(parent))


def _present(doc: SourceDoc, loc: tuple[PathItem, ...]) -> Iterator[PathItem]:
    node: Any = doc.data
    for item in loc:
        if isinstance(node, dict) and item in node:
            node = node[item]
            yield item
        elif isinstance(node, list) and isinstance(item, int) and 0 <= item < len(node):
            node = node[item]
            yield item
