"""Reading the facts files of a pack: each file parsed by the pack's one YAML reader and
validated by its model of cds.facts.formats, every problem of every file collected with its
`file:line:col`; `raise_problems` then fails the load with all of them at once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from pydantic import BaseModel, ValidationError

from cds.facts.codes import Code, parse_code
from cds.packsource import (
    PackProblems,
    PathItem,
    Problem,
    SourceDoc,
    load_yaml,
    validation_problems,
)

M = TypeVar("M", bound=BaseModel)
M_co = TypeVar("M_co", bound=BaseModel, covariant=True)


@dataclass(frozen=True)
class FactsFile(Generic[M_co]):
    """One facts file: its positioned text and its validated model."""

    doc: SourceDoc
    model: M_co


class FactsReader:
    """Reads facts files and collects the problems found in them."""

    def __init__(self, local: str) -> None:
        self.local = local  # the pack's own code system (`local#...`)
        self.problems: list[Problem] = []

    def read(self, path: Path, model: type[M]) -> FactsFile[M] | None:
        """The file validated by `model`; None (its problems collected) when it is not."""
        try:
            doc = load_yaml(path)
        except PackProblems as exc:
            self.problems.extend(exc.problems)
            return None
        try:
            return FactsFile(doc, model.model_validate(doc.data))
        except ValidationError as exc:
            self.problems.extend(validation_problems(doc, exc, model=model))
            return None

    def report(self, file: FactsFile[BaseModel], path: Sequence[PathItem], message: str) -> None:
        """A problem at `path` of `file`."""
        self.problems.append(file.doc.problem(path, message))

    def code(self, file: FactsFile[BaseModel], path: Sequence[PathItem], text: str
             ) -> Code | None:
        """`system#code` with the system resolved; None (reported) when it is malformed."""
        try:
            return parse_code(text, self.local)
        except ValueError as exc:
            self.report(file, path, str(exc))
            return None

    def codes(self, file: FactsFile[BaseModel], path: Sequence[PathItem],
              texts: Sequence[str] | None) -> tuple[Code, ...]:
        found = (self.code(file, (*path, i), text) for i, text in enumerate(texts or ()))
        return tuple(code for code in found if code is not None)

    def raise_problems(self) -> None:
        if self.problems:
            raise PackProblems(self.problems)
