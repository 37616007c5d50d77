"""Conditions to disjunctive normal form: a rule's `when` becomes a list of *branches*, each a
conjunction of patterns, so every branch compiles to one engine rule without engine `or`.

`all` multiplies its children's branch lists, `any` concatenates them and `use` splices in a
named condition from definitions.yaml. Patterns are normalised on the way: every field test
becomes a `Test` with numbers as floats, and each pattern remembers where it was written
(`Origin`) so later checks can report `file:line:col`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from cds.packsource import PathItem, Problem, SourceDoc
from cds.rules.operators import OPERATORS, JoinRef, Value, operators
from cds.rules.schema import AllGroup, AnyGroup, Condition, FieldTest, Pattern, Use
from cds.suggest import unknown

MAX_BRANCHES = 64


@dataclass(frozen=True)
class Origin:
    """Where a condition was written: a document and the path inside it."""

    doc: SourceDoc | None
    path: tuple[PathItem, ...] = ()

    def at(self, *more: PathItem) -> Origin:
        return Origin(self.doc, self.path + more)

    def problem(self, message: str, *more: PathItem, severity: str = "error",
                near: str | None = None) -> Problem:
        """A problem at this origin (+ `more`), or at the match of `near` inside it."""
        if self.doc is None:
            return Problem("<rule>", 1, 1, message, severity)
        return self.doc.problem(self.path + more, message, severity, near)


@dataclass(frozen=True)
class Test:
    field: str
    op: str  # an operator of cds.rules.operators
    value: Value


@dataclass(frozen=True)
class CPattern:
    """A normalised pattern: fact type, binding name and field tests."""

    bind: str
    fact: str
    tests: tuple[Test, ...]
    origin: Origin = field(default=Origin(None), compare=False, hash=False)

    def refs(self) -> set[str]:
        return {t.value.binding for t in self.tests if isinstance(t.value, JoinRef)}


Branch = tuple[CPattern, ...]


def normalise(pattern: Pattern, origin: Origin) -> CPattern:
    tests: list[Test] = []
    for name, spec in pattern.where.items():
        if not isinstance(spec, FieldTest):  # a plain value or `{ref: b.f}`: equality
            tests.append(Test(name, "eq", OPERATORS["eq"].normalise(spec)))
            continue
        tests += [Test(name, op.name, op.normalise(spec.tests[op.name]))
                  for op in operators() if op.name in spec.tests]
    return CPattern(pattern.bind, pattern.fact, tuple(tests), origin)


@dataclass
class Expander:
    """Expands conditions against the pack's definitions, collecting problems."""

    definitions: Mapping[str, tuple[Condition, Origin]]
    cap: int = MAX_BRANCHES
    problems: list[Problem] = field(default_factory=list)

    def expand(self, condition: Condition, origin: Origin) -> list[Branch]:
        size = self._size(condition, origin, ())
        if size is None:
            return []
        if size > self.cap:
            self.problems.append(origin.problem(
                f"this condition expands to {size} alternatives (at most {self.cap}); "
                "move shared parts out of `any` or split the rule"))
            return []
        return self._expand(condition, origin)

    def _size(self, cond: Condition, origin: Origin, stack: tuple[str, ...]) -> int | None:
        if isinstance(cond, Pattern):
            return 1
        if isinstance(cond, Use):
            entry = self.definitions.get(cond.use)
            if entry is None:
                self.problems.append(origin.problem(
                    unknown("definition", cond.use, self.definitions), "use",
                ).needing("definitions.yaml"))
                return None
            if cond.use in stack:
                chain = " -> ".join((*stack, cond.use))
                self.problems.append(origin.problem(f"definitions use each other in a cycle: "
                                                    f"{chain}", "use"))
                return None
            return self._size(entry[0], entry[1], (*stack, cond.use))
        key = "all" if isinstance(cond, AllGroup) else "any"
        items = cond.all if isinstance(cond, AllGroup) else cond.any
        sizes = [self._size(c, origin.at(key, i), stack) for i, c in enumerate(items)]
        if any(s is None for s in sizes):
            return None
        counted = [s for s in sizes if s is not None]
        return math.prod(counted) if key == "all" else sum(counted)

    def _expand(self, cond: Condition, origin: Origin) -> list[Branch]:
        if isinstance(cond, Pattern):
            return [(normalise(cond, origin),)]
        if isinstance(cond, Use):
            definition, def_origin = self.definitions[cond.use]
            return self._expand(definition, def_origin)
        if isinstance(cond, AnyGroup):
            return [b for i, c in enumerate(cond.any) for b in self._expand(c, origin.at("any", i))]
        assert isinstance(cond, AllGroup)
        branches: list[Branch] = [()]
        for i, child in enumerate(cond.all):
            parts = self._expand(child, origin.at("all", i))
            branches = [left + right for left in branches for right in parts]
        return branches
