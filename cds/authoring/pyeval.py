"""A small Python evaluator of compiled patterns, for `cds explain` (near misses) and for
tests that cross-check the engine. It mirrors the engine's semantics on normalised facts:
a test on a missing field fails (except `exists: false`), a fact is bound at most once per
branch, and joins compare with the facts bound earlier in the branch. Not used to serve calls.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cds.rules.dnf import CPattern, Test
from cds.rules.operators import MISSING, OPERATORS, JoinRef


def test_holds(test: Test, fact: Mapping[str, Any], bound: Mapping[str, Mapping[str, Any]],
               ) -> bool:
    expected: Any = test.value
    if isinstance(expected, JoinRef):
        other = bound.get(expected.binding)
        if other is None or expected.field not in other:
            return False
        expected = other[expected.field]
    return OPERATORS[test.op].holds(fact.get(test.field, MISSING), expected)


def failed_tests(pattern: CPattern, fact: Mapping[str, Any],
                 bound: Mapping[str, Mapping[str, Any]]) -> list[Test]:
    if fact.get("type") != pattern.fact:
        return [Test("type", "eq", pattern.fact)]
    return [t for t in pattern.tests if not test_holds(t, fact, bound)]


@dataclass(frozen=True)
class Step:
    """One pattern of a branch: the fact chosen for it (None: no fact of that type) and the
    tests that fact fails."""

    pattern: CPattern
    fact: Mapping[str, Any] | None
    failed: tuple[Test, ...]

    @property
    def cost(self) -> int:
        return 1 if self.fact is None else len(self.failed)


def closest(branch: Sequence[CPattern], facts: Sequence[Mapping[str, Any]],
            limit: int = 1) -> list[Step] | None:
    """The assignment of facts to the branch's patterns failing the fewest tests, if that
    number is at most `limit` (0: a full match). None when every assignment fails more."""
    by_type: dict[str, list[Mapping[str, Any]]] = {}
    for fact in facts:
        by_type.setdefault(str(fact.get("type")), []).append(fact)
    best: list[list[Step]] = []
    best_cost = [limit + 1]

    def search(i: int, steps: list[Step], cost: int, used: set[int]) -> None:
        if cost >= best_cost[0]:
            return
        if i == len(branch):
            best_cost[0], best[:] = cost, [list(steps)]
            return
        pattern = branch[i]
        bound = {s.pattern.bind: s.fact for s in steps if s.fact is not None}
        for fact in by_type.get(pattern.fact, []):
            if id(fact) in used:
                continue
            failed = tuple(failed_tests(pattern, fact, bound))
            steps.append(Step(pattern, fact, failed))
            search(i + 1, steps, cost + len(failed), used | {id(fact)})
            steps.pop()
        steps.append(Step(pattern, None, ()))
        search(i + 1, steps, cost + 1, used)
        steps.pop()

    search(0, [], 0, set())
    return best[0] if best else None


def full_matches(branch: Sequence[CPattern], facts: Sequence[Mapping[str, Any]],
                 ) -> Iterator[dict[str, Mapping[str, Any]]]:
    """Every assignment that passes all tests (what the engine reports for the branch)."""

    def search(i: int, bound: dict[str, Mapping[str, Any]], used: set[int],
               ) -> Iterator[dict[str, Mapping[str, Any]]]:
        if i == len(branch):
            yield dict(bound)
            return
        pattern = branch[i]
        for fact in facts:
            if id(fact) in used or failed_tests(pattern, fact, bound):
                continue
            bound[pattern.bind] = fact
            yield from search(i + 1, bound, used | {id(fact)})
            del bound[pattern.bind]

    yield from search(0, {}, set())
