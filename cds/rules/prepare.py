"""Facts as the engine gets them: normalised, projected, with membership flags.

- Normalised by the fact catalogue: numbers become floats (the engine compares "9" with 10
  as text and hashes 5 and 5.0 differently), yes/no become "yes"/"no", and a value of the
  wrong kind is left out (and logged) rather than compared wrongly.
- Projected: only the fact types and fields some pattern of the hook's program tests are
  asserted (the engine's cost grows with every property it parses); matches are mapped back
  to the caller's complete fact objects by id.
- Flagged: tests of flagged operators (`in` with several values, `contains`) are evaluated
  here and asserted as flag fields (1.0) that the compiled rules test for equality (see
  compiler.py for why).
- Ids are unique: a repeated id gets a suffix, so the engine never rejects a batch.
"""

from __future__ import annotations

import functools
import logging
import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cds.facts.catalogue import FACT_TYPES
from cds.rules.operators import OPERATORS, JoinRef

if TYPE_CHECKING:
    from cds.rules.compiler import Program

log = logging.getLogger("cds.rules.engine")
SENTINEL_ID = "__state__"
Predicate = Callable[[Any], bool]


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def _list(value: Any) -> list[str] | None:
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, str)]
    return None


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    return None


# A value as the catalogue kind wants it, or None when it is not of that kind.
_NORMALISERS: dict[str, Callable[[Any], Any]] = defaultdict(
    lambda: _text, {"number": _number, "list": _list})


@dataclass(frozen=True)
class TypePlan:
    name: str
    fields: tuple[tuple[str, str], ...]  # (field, kind) asserted
    flags: tuple[tuple[str, str, str, Predicate], ...]  # (flag, field, kind, holds)

    @functools.cached_property
    def read(self) -> tuple[tuple[str, str, Callable[[Any], Any]], ...]:
        """Every field the plan asserts or flags, once each, with its normaliser."""
        kinds = dict(self.fields) | {name: kind for _flag, name, kind, _holds in self.flags}
        return tuple((name, kind, _NORMALISERS[kind]) for name, kind in kinds.items())

    @functools.cached_property
    def asserted(self) -> frozenset[str]:
        return frozenset(name for name, _kind in self.fields)


def _plans(program: Program | None) -> dict[str, TypePlan]:
    if program is None:
        return {t.name: TypePlan(t.name, tuple((f.name, f.kind) for f in t.fields
                                               if f.name not in ("id", "type")), ())
                for t in FACT_TYPES.values()}
    used: dict[str, set[str]] = {}
    for plan in program.plans.values():
        types = {p.bind: p.fact for p in plan.patterns}
        for p in plan.patterns:
            fields = used.setdefault(p.fact, set())
            for t in p.tests:
                if not OPERATORS[t.op].flagged(t.value):
                    fields.add(t.field)
                if isinstance(t.value, JoinRef) and t.value.binding in types:
                    used.setdefault(types[t.value.binding], set()).add(t.value.field)
    flags: dict[str, list[tuple[str, str, str, Predicate]]] = {}
    for flag in program.flags:
        spec = FACT_TYPES[flag.fact].field(flag.test.field)
        if spec is not None:
            flags.setdefault(flag.fact, []).append(
                (flag.name, spec.name, spec.kind,
                 OPERATORS[flag.test.op].predicate(flag.test.value)))
    out = {}
    for name, fields in used.items():
        ftype = FACT_TYPES.get(name)
        if ftype is not None:
            kept = tuple((f.name, f.kind) for f in ftype.fields
                         if f.name in fields and f.name not in ("id", "type"))
            out[name] = TypePlan(name, kept, tuple(flags.get(name, ())))
    return out


class FactPreparer:
    """Prepares the facts of one call for one program (or, without one, every field)."""

    def __init__(self, program: Program | None = None) -> None:
        self.types = _plans(program)

    def __call__(self, facts: Iterable[dict[str, Any]], sid: str = "",
                 ) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
        asserted: list[dict[str, Any]] = []
        by_id: dict[str, dict[str, Any]] = {}
        for index, fact in enumerate(facts):
            plan = self.types.get(fact.get("type", ""))
            if plan is None:
                continue
            fid = str(fact.get("id") or f"fact-{index}")
            if fid in by_id or fid == SENTINEL_ID:
                fid = f"{fid}#{index}"
            out: dict[str, Any] = {"id": fid, "type": plan.name, "sid": sid}
            values: dict[str, Any] = {}  # normalised once, even when several flags read it
            for name, kind, normalise in plan.read:
                if name in fact:
                    value = values[name] = normalise(fact[name])
                    if name not in plan.asserted:
                        continue
                    if value is None:
                        log.warning("fact %s: %s is not a %s; left out", fid, name, kind)
                    else:
                        out[name] = value
            for flag, name, _kind, holds in plan.flags:
                if name in values and holds(values[name]):
                    out[flag] = 1.0
            asserted.append(out)
            by_id[fid] = fact
        return asserted, by_id


_FULL = FactPreparer()


def prepare(facts: Iterable[dict[str, Any]], sid: str = "",
            ) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Every catalogue field of every fact, normalised (for explain and tests)."""
    return _FULL(facts, sid)
