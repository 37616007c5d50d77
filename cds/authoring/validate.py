"""Semantic checks of conditions against the fact catalogue and the pack's facts config.

Every pattern (in rules and in definitions.yaml) is checked once where it was written:
known fact type, known field, operator fit for the field's kind (numbers are compared with
numbers only: "9" for a number field is an error, never a silent text comparison), known
value-set ids (and value sets meant for that fact type), known measure ids and allowed
choices. Joins are checked per branch, where the type of the joined binding is known.
"""

from __future__ import annotations

from collections.abc import Iterator

from cds.facts.catalogue import FACT_TYPES, FactField
from cds.packsource import Problem
from cds.rules.dnf import Branch, CPattern, Expander, Origin, Test, normalise
from cds.rules.operators import OPERATORS, JoinRef, operators
from cds.rules.pack import Pack
from cds.rules.schema import AllGroup, AnyGroup, Condition, Pattern
from cds.suggest import hint, unknown

GLOBAL_NAMES = frozenset({"matches", "params", "rule", "hook", "now", "patient_id",
                          "patient_ref"})
MEASURE_TYPES = ("measure", "missing", "trend", "dose_response")


def patterns_of(cond: Condition, origin: Origin) -> Iterator[tuple[Pattern, Origin]]:
    """Every pattern written in a condition tree (not following `use`)."""
    if isinstance(cond, Pattern):
        yield cond, origin
    elif isinstance(cond, AllGroup):
        for i, c in enumerate(cond.all):
            yield from patterns_of(c, origin.at("all", i))
    elif isinstance(cond, AnyGroup):
        for i, c in enumerate(cond.any):
            yield from patterns_of(c, origin.at("any", i))


def written_patterns(pack: Pack) -> Iterator[CPattern]:
    for loaded in pack.rules:
        yield from (normalise(p, o) for p, o in
                    patterns_of(loaded.rule.when, loaded.origin.at("when")))
        for i, item in enumerate(loaded.rule.unless):
            yield from (normalise(p, o) for p, o in
                        patterns_of(item, loaded.origin.at("unless", i)))
    for cond, origin in pack.definitions.values():
        yield from (normalise(p, o) for p, o in patterns_of(cond, origin))


class _PatternChecker:
    def __init__(self, pack: Pack) -> None:
        config = pack.fact_config
        self.valuesets = dict(config.valuesets) if config is not None else None
        self.measures = config.measure_ids if config is not None else None
        self.problems: list[Problem] = []

    def check(self, p: CPattern) -> None:
        ftype = FACT_TYPES.get(p.fact)
        if ftype is None:
            self.problems.append(p.origin.problem(
                unknown("fact type", p.fact, sorted(FACT_TYPES)), "fact"))
            return
        if p.bind in GLOBAL_NAMES:
            self.problems.append(p.origin.problem(
                f"binding name '{p.bind}' is reserved for card templates", "bind"))
        for test in p.tests:
            spec = ftype.field(test.field)
            if spec is None:
                self.problems.append(p.origin.problem(
                    f"fact type '{p.fact}' has no field '{test.field}' "
                    f"{hint(test.field, [f.name for f in ftype.fields], label='fields')}",
                    "where", test.field))
                continue
            message = self.test_problem(p, spec, test)
            if message:
                self.problems.append(p.origin.problem(message, "where", test.field))

    def test_problem(self, p: CPattern, spec: FactField, test: Test) -> str | None:
        name = f"{p.fact}.{spec.name}"
        operator = OPERATORS[test.op]
        if not operator.fits(spec.kind):
            if spec.kind == "list":
                return f"{name} is a list: test it with {_list_tests()}"
            return (f"`{test.op}` needs a {' or '.join(sorted(operator.field_kinds))} field; "
                    f"{name} is a {spec.kind}")
        if operator.operand_kind == "presence" or isinstance(test.value, JoinRef):
            return None
        if operator.operand_kind == "valueset":
            return self._contains(p, spec, str(test.value))
        values = test.value if isinstance(test.value, tuple) else (test.value,)
        for value in values:
            if isinstance(value, str) and value.startswith("@"):
                continue  # an unknown parameter, reported where it was resolved
            if spec.kind == "number" and not isinstance(value, float):
                return f"{name} is a number; {value!r} is text (write it without quotes)"
            if spec.kind == "string" and not isinstance(value, str):
                return f"{name} is text; compare it with text, e.g. '{value:g}'"
            if spec.options and operator.equality and value not in spec.options:
                return f"{name} cannot be {value!r} {hint(str(value), spec.options)}"
            if (spec.name == "measure" and p.fact in MEASURE_TYPES and self.measures is not None
                    and operator.equality and value not in self.measures):
                return unknown("measure", str(value), sorted(self.measures))
        return None

    def _contains(self, p: CPattern, spec: FactField, vs_id: str) -> str | None:
        if self.valuesets is None:
            return None
        vs = self.valuesets.get(vs_id)
        if vs is None:
            return unknown("value set", vs_id, sorted(self.valuesets))
        kind = VALUESET_KIND.get(p.fact, p.fact)
        if spec.name == "valuesets" and vs.applies_to and kind not in vs.applies_to:
            return (f"value set '{vs_id}' applies to {', '.join(sorted(vs.applies_to))} facts, "
                    f"not {p.fact}")
        return None


def _list_tests() -> str:
    """How a list field can be tested: "`contains: <value-set id>` or `exists`"."""
    shown = {"valueset": "`{}: <value-set id>`", "presence": "`{}`"}
    tests = [shown.get(op.operand_kind, "`{}`").format(op.name) for op in operators()
             if op.fits("list")]
    return " or ".join(tests)


# Fact types whose `valuesets` hold the value sets of another kind: an indication is a
# condition (the reasonCode of an order).
VALUESET_KIND = {"indication": "condition"}


def _join_problems(branch: Branch) -> Iterator[Problem]:
    types = {p.bind: p.fact for p in branch}
    for p in branch:
        own = FACT_TYPES.get(p.fact)
        for test in p.tests:
            if not isinstance(test.value, JoinRef) or own is None:
                continue
            other = FACT_TYPES.get(types.get(test.value.binding, ""))
            if other is None:
                continue
            target, mine = other.field(test.value.field), own.field(test.field)
            if target is None:
                yield p.origin.problem(f"join {test.value}: fact type '{other.name}' has no "
                                       f"field '{test.value.field}'", "where", test.field)
            elif mine is not None and mine.kind != target.kind:
                yield p.origin.problem(f"join {test.value} compares {mine.kind} "
                                       f"{p.fact}.{test.field} with {target.kind} "
                                       f"{other.name}.{target.name}", "where", test.field)
            elif not OPERATORS[test.op].joinable or target.kind == "list":
                yield p.origin.problem(f"join {test.value}: lists cannot be joined",
                                       "where", test.field)


def condition_problems(pack: Pack) -> list[Problem]:
    checker = _PatternChecker(pack)
    for pattern in written_patterns(pack):
        checker.check(pattern)
    problems = checker.problems
    expander = Expander(pack.definitions)
    for loaded in pack.rules:
        branches = expander.expand(loaded.rule.when, loaded.origin.at("when"))
        exclusions = [b for i, item in enumerate(loaded.rule.unless)
                      for b in expander.expand(item, loaded.origin.at("unless", i))]
        for branch in branches:
            problems.extend(_join_problems(branch))
            for excl in exclusions:
                problems.extend(_join_problems(branch + excl))
    return problems  # expansion problems are reported by the compiler


def binding_types(pack: Pack, rule_id: str) -> dict[str, set[str]]:
    """Binding name -> fact types it can hold, over every branch of the rule's `when`."""
    loaded = next(lr for lr in pack.rules if lr.rule.id == rule_id)
    out: dict[str, set[str]] = {}
    expander = Expander(pack.definitions)
    for branch in expander.expand(loaded.rule.when, loaded.origin.at("when")):
        for p in branch:
            out.setdefault(p.bind, set()).add(p.fact)
    return out
