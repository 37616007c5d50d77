"""Rules to durable_rules rulesets: one `Program` per hook, compiled once at pack load.

Each DNF branch of a rule's `when` becomes one engine rule named `<rule id>#<branch>`, with no
actions (`run`): the engine only reports matches. `unless` never uses engine negation
(order-dependent in durable_rules); each exclusion becomes extra positive engine rules
`<rule id>#<branch>!<exclusion>.<alternative>` holding the exclusion's patterns plus the
branch patterns it joins with (transitively). After matching, a branch match is vetoed when
an exclusion match binds the same facts to those shared bindings. An exclusion that joins
with nothing is one engine rule `<rule id>!<exclusion>.<alternative>` for all branches, and
any match of it vetoes every match of the rule. (An exclusion may therefore match a fact the
branch also bound; the engine itself never binds one fact twice within one rule.)

Inside a pattern the tests are put in a canonical order: fact type, equality tests, value
lists, value-set membership, existence, comparisons, and joins last. Patterns that share
leading tests then share alpha nodes, which keeps the network inside the engine's limits.
The engine never shares `$iany`, `$or` or join nodes between rules (each use adds a node
that one fact may pass, and more than 64 of those overflow its matching stack), so value
lists (`in`) and value-set membership (`contains`) are computed in Python instead: each
distinct test becomes a *flag* field asserted as 1.0 on the facts that pass it, and the
engine tests `flag == 1.0`, which it shares like any equality.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from cds.packsource import Problem
from cds.rules.budget import plan_shards
from cds.rules.dnf import Branch, CPattern, Expander, Origin, Test
from cds.rules.operators import OPERATORS, JoinRef
from cds.rules.schema import Condition, Rule

if TYPE_CHECKING:
    from cds.rules.pack import Pack



@dataclass(frozen=True)
class BranchPlan:
    name: str
    rule_id: str
    index: int
    patterns: Branch

    @functools.cached_property
    def bindings(self) -> tuple[str, ...]:
        return tuple(p.bind for p in self.patterns)


@dataclass(frozen=True)
class VetoPlan:
    name: str
    rule_id: str
    branch: int | None  # None: an exclusion joined with nothing, shared by every branch
    keep: tuple[str, ...]  # branch bindings the exclusion shares (joins with)
    patterns: Branch

    def applies_to(self, branch: int) -> bool:
        return self.branch is None or self.branch == branch


@dataclass(frozen=True)
class CompiledRule:
    rule: Rule
    branches: tuple[BranchPlan, ...]
    vetoes: tuple[VetoPlan, ...]


@dataclass(frozen=True)
class Flag:
    """A membership test computed in Python and asserted as a field `name` (1.0 when the
    test holds, absent otherwise): `contains` (value sets) and `in` (several values)."""

    name: str
    fact: str
    test: Test


class Flags:
    """The flags of one program, one per distinct (fact type, test)."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, Test], Flag] = {}

    def name_for(self, fact: str, test: Test) -> str:
        flag = self._by_key.get((fact, test))
        if flag is None:
            flag = Flag(f"_f{len(self._by_key)}", fact, test)
            self._by_key[(fact, test)] = flag
        return flag.name

    def all(self) -> tuple[Flag, ...]:
        return tuple(self._by_key.values())


@dataclass(frozen=True)
class Program:
    """Everything the engine runs for one hook."""

    hook: str
    rules: tuple[CompiledRule, ...]
    shards: tuple[dict[str, Any], ...]
    plans: Mapping[str, BranchPlan | VetoPlan]
    flags: tuple[Flag, ...] = ()


def _term(test: Test, fact: str, flags: Flags) -> dict[str, Any]:
    operator = OPERATORS[test.op]
    if operator.flagged(test.value):
        return {flags.name_for(fact, test): 1.0}
    return operator.term(test.field, test.value)


def _sort_key(test: Test) -> tuple[int, int, str, str, str]:
    join = isinstance(test.value, JoinRef)
    return (1 if join else 0, OPERATORS[test.op].order, test.field, test.op, repr(test.value))


def pattern_terms(pattern: CPattern, flags: Flags) -> list[dict[str, Any]]:
    """The pattern's tests as engine terms, in canonical order (fact type first)."""
    return [{"type": pattern.fact}] + [_term(t, pattern.fact, flags)
                                       for t in sorted(pattern.tests, key=_sort_key)]


def guard_joins(patterns: Branch) -> Branch:
    """Both fields of every join must exist: `exists` tests are added to the joined patterns.

    When a comparison join refers to a field the earlier bound fact lacks, the engine fails
    the whole assert (error 311, "property not found"). A join on a missing field never
    holds, so the added tests change no match; they only keep such facts away from joins.
    """
    needed: dict[str, set[str]] = {p.bind: set() for p in patterns}
    for p in patterns:
        for t in p.tests:
            if isinstance(t.value, JoinRef):
                needed[p.bind].add(t.field)
                needed.setdefault(t.value.binding, set()).add(t.value.field)
    out = []
    for p in patterns:
        have = {t.field for t in p.tests if t.op == "exists" and t.value is True}
        extra = tuple(Test(f, "exists", True) for f in sorted(needed[p.bind] - have))
        out.append(replace(p, tests=p.tests + extra) if extra else p)
    return tuple(out)


def rule_json(patterns: Iterable[CPattern], flags: Flags) -> dict[str, Any]:
    return {"all": [{p.bind: {"$and": pattern_terms(p, flags)}} for p in patterns]}


def _branch_problems(patterns: Branch) -> list[Problem]:
    """Bindings must be unique in a branch and joins must refer to earlier bindings."""
    out: list[Problem] = []
    seen: set[str] = set()
    for p in patterns:
        for t in p.tests:
            if isinstance(t.value, JoinRef) and t.value.binding not in seen:
                out.append(p.origin.problem(
                    f"join {t.value} refers to '{t.value.binding}', which is not bound by an "
                    "earlier pattern of the same branch", "where", t.field))
        if p.bind in seen:
            out.append(p.origin.problem(f"binding '{p.bind}' is bound twice in one branch of "
                                        "the condition", "bind"))
        seen.add(p.bind)
    return out


def _closure(branch: Branch, names: set[str]) -> tuple[CPattern, ...]:
    """The branch patterns named, plus every pattern they join with (transitively)."""
    by_name = {p.bind: p for p in branch}
    todo, keep = list(names), set()
    while todo:
        name = todo.pop()
        if name in keep or name not in by_name:
            continue
        keep.add(name)
        todo.extend(by_name[name].refs())
    return tuple(p for p in branch if p.bind in keep)


def _vetoes(rule: Rule, bi: int, branch: Branch, exclusions: list[list[Branch]],
            origin: Origin, problems: list[Problem]) -> list[VetoPlan]:
    out: list[VetoPlan] = []
    bound = {p.bind for p in branch}
    for ui, alternatives in enumerate(exclusions):
        for ai, excl in enumerate(alternatives):
            refs = set().union(*(p.refs() for p in excl)) - {p.bind for p in excl}
            missing = sorted(refs - bound)
            if missing:
                problems.append(origin.problem(
                    f"unless refers to {', '.join(missing)}, which branch {bi} of `when` does "
                    "not bind", "unless", ui))
                continue
            clash = sorted({p.bind for p in excl} & bound)
            if clash:
                problems.append(origin.problem(
                    f"unless binds {', '.join(clash)} again; use a name `when` does not use",
                    "unless", ui))
                continue
            shared = _closure(branch, refs)
            patterns = shared + excl
            problems.extend(_branch_problems(patterns))
            if shared:
                out.append(VetoPlan(f"{rule.id}#{bi}!{ui}.{ai}", rule.id, bi,
                                    tuple(p.bind for p in shared), guard_joins(patterns)))
            else:  # the same engine rule for every branch: compiled once
                out.append(VetoPlan(f"{rule.id}!{ui}.{ai}", rule.id, None, (),
                                    guard_joins(patterns)))
    return out


def compile_rule(rule: Rule, origin: Origin, expander: Expander) -> CompiledRule | None:
    before = len(expander.problems)
    branches = expander.expand(rule.when, origin.at("when"))
    exclusions = [expander.expand(item, origin.at("unless", i))
                  for i, item in enumerate(rule.unless)]
    problems = expander.problems
    plans: list[BranchPlan] = []
    vetoes: list[VetoPlan] = []
    for bi, branch in enumerate(branches):
        problems.extend(_branch_problems(branch))
        plans.append(BranchPlan(f"{rule.id}#{bi}", rule.id, bi, guard_joins(branch)))
        vetoes.extend(_vetoes(rule, bi, branch, exclusions, origin, problems))
    if len(problems) > before:
        return None
    unique = tuple({v.name: v for v in vetoes}.values())
    return CompiledRule(rule, tuple(plans), unique)


def compile_program(hook: str, rules: Iterable[tuple[Rule, Origin]],
                    definitions: Mapping[str, tuple[Condition, Origin]],
                    ) -> tuple[Program | None, list[Problem]]:
    """Compile the enabled rules of one hook; (program or None, problems)."""
    expander = Expander(definitions)
    compiled: list[CompiledRule] = []
    origins: dict[str, Origin] = {}
    for rule, origin in rules:
        if not rule.enabled or hook not in rule.hooks:
            continue
        origins[rule.id] = origin
        result = compile_rule(rule, origin, expander)
        if result is not None:
            compiled.append(result)
    problems = list(expander.problems)
    plans: dict[str, BranchPlan | VetoPlan] = {}
    for cr in compiled:
        plans.update({p.name: p for p in cr.branches})
        plans.update({v.name: v for v in cr.vetoes})
    flags = Flags()
    shards, rejected = plan_shards(
        [(name, [pattern_terms(p, flags) for p in plan.patterns]) for name, plan in plans.items()])
    for name, reason in rejected.items():
        rule_id = plans[name].rule_id
        problems.append(origins[rule_id].problem(f"{hook}: engine rule {name} cannot be "
                                                 f"compiled: {reason}", "when"))
    if problems:
        return None, problems
    program = Program(
        hook=hook,
        rules=tuple(compiled),
        shards=tuple({n: rule_json(plans[n].patterns, flags) for n in names}
                     for names in shards),
        plans=plans,
        flags=flags.all(),
    )
    return program, []


def compile_pack(pack: Pack) -> tuple[dict[str, Program], list[Problem]]:
    """One program per hook of the pack; (programs, problems)."""
    rules = [(lr.rule, lr.origin) for lr in pack.rules]
    programs: dict[str, Program] = {}
    problems: list[Problem] = []
    for hook in pack.hooks():
        program, found = compile_program(hook, rules, pack.definitions)
        problems.extend(found)
        if program is not None:
            programs[hook] = program
    return programs, sorted(set(problems))
