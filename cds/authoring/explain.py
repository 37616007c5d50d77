"""Why did (or didn't) a card fire? `cds explain REQUEST.json` in data form.

For one CDS Hooks request: the facts extracted, the data notes, the rules that fired with
the facts bound to each name, the cards after policy, rules whose match was vetoed by
`unless`, and *near misses*: rules of the hook that did not fire but have a branch that fails
on exactly one test (or lacks exactly one fact). Near misses are found with the small Python
evaluator (pyeval.py) on the same normalised facts the engine saw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from cds.authoring.pyeval import closest, full_matches
from cds.errors import HookMismatch, InvalidRequest, UnknownService
from cds.fhir.collect import collect
from cds.hooks.models import HookRequest
from cds.hooks.services import ServiceCatalogue
from cds.pipeline import Evaluation, Evaluator
from cds.rules.compiler import CompiledRule
from cds.rules.dnf import CPattern, Test
from cds.rules.engine import Match
from cds.rules.operators import OPERATORS, JoinRef, show
from cds.rules.prepare import prepare
from cds.suggest import unknown

NOTHING_TO_CHECK = ("nothing to check, so no cards: no selected (order-select) or signed "
                    "(order-sign) order is a MedicationRequest with its medication chosen")


@dataclass(frozen=True)
class Miss:
    rule: str
    title: str
    branch: int
    reason: str


@dataclass
class Explanation:
    hook: str
    service: str
    now: datetime
    evaluation: Evaluation
    vetoed: list[Miss] = field(default_factory=list)
    near_misses: list[Miss] = field(default_factory=list)
    not_run: str | None = None  # why the rules did not run (the call had nothing to check)

    @property
    def fired(self) -> list[Match]:
        return self.evaluation.matches


def describe_test(test: Test) -> str:
    return OPERATORS[test.op].describe(test.field, test.value)


def describe_pattern(pattern: CPattern) -> str:
    tests = [describe_test(t) for t in pattern.tests if not isinstance(t.value, JoinRef)]
    where = f" with {', '.join(tests)}" if tests else ""
    return f"{pattern.fact}{where}"


def _near_reason(steps: list[Any]) -> str:
    for step in steps:
        if step.fact is None:
            return f"{step.pattern.bind}: no {describe_pattern(step.pattern)}"
        if step.failed:
            test = step.failed[0]
            actual = step.fact.get(test.field, "absent")
            return (f"{step.pattern.bind} ({step.fact.get('id')}): {describe_test(test)} "
                    f"does not hold ({test.field} is {show(actual)})")
    return "matches"


def _veto_reason(compiled: CompiledRule, branch: int,
                 facts: Sequence[Mapping[str, Any]]) -> str | None:
    main = compiled.branches[branch]
    for bound in full_matches(main.patterns, facts):
        for veto in (v for v in compiled.vetoes if v.applies_to(branch)):
            for excluded in full_matches(veto.patterns, facts):
                if all(excluded[b]["id"] == bound[b]["id"] for b in veto.keep):
                    names = [p.bind for p in veto.patterns if p.bind not in veto.keep]
                    found = ", ".join(f"{n} = {excluded[n]['id']}" for n in names)
                    return f"vetoed by unless ({found})"
    return None


def explain_facts(evaluator: Evaluator, evaluation: Evaluation, hook: str, service: str,
                  now: datetime) -> Explanation:
    out = Explanation(hook, service, now, evaluation)
    program = evaluator.engine.programs.get(hook)
    if program is None:
        return out
    facts, _ = prepare(evaluation.facts, "")
    fired = {m.rule for m in evaluation.matches}
    for compiled in program.rules:
        rule = compiled.rule
        if rule.id in fired:
            continue
        for plan in compiled.branches:
            steps = closest(plan.patterns, facts, limit=1)
            if steps is None:
                continue
            if all(s.cost == 0 for s in steps):
                reason = _veto_reason(compiled, plan.index, facts) or "matches"
                out.vetoed.append(Miss(rule.id, rule.title, plan.index, reason))
            else:
                out.near_misses.append(Miss(rule.id, rule.title, plan.index,
                                            _near_reason(steps)))
    return out


def _request(body: Any) -> HookRequest:
    """The body as a CDS Hooks request, checked as the service checks it."""
    if not isinstance(body, dict):
        raise InvalidRequest("a CDS Hooks request is a JSON object")
    try:
        request = HookRequest.model_validate(body)
    except ValidationError as exc:
        raise _invalid(exc, ()) from exc
    try:
        request.typed_context()
    except ValidationError as exc:
        raise _invalid(exc, ("context",)) from exc
    return request


def _invalid(exc: ValidationError, prefix: tuple[str, ...]) -> InvalidRequest:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in (*prefix, *err["loc"])) or "(body)"
    return InvalidRequest(f"not a CDS Hooks request: {where}: {err['msg']}")


def _service(services: ServiceCatalogue, hook: str, service_id: str | None) -> str:
    """The id of the service that answers the request (`service_id`, else the first service
    of its hook)."""
    ids = [s.id for s in services.services]
    if service_id is None:
        found = next((s for s in services.services if s.hook == hook), None)
        if found is None:
            raise UnknownService(f"no service of this pack answers the '{hook}' hook "
                                 f"(services: {', '.join(ids)})")
        return found.id
    service = services.get(service_id)
    if service is None:
        raise UnknownService(unknown("service", service_id, ids))
    if service.hook != hook:
        raise HookMismatch(f"service '{service_id}' answers the '{service.hook}' hook; the "
                           f"request is a '{hook}' call")
    return service.id


def explain_request(evaluator: Evaluator, body: Any, now: datetime,
                    service_id: str | None = None) -> Explanation:
    """Evaluate a CDS Hooks request body exactly as the service would, and explain it;
    raises a `RequestError` (cds.errors) for a body or service the service would refuse."""
    request = _request(body)
    hook = request.hook
    service_id = _service(evaluator.services, hook, service_id)
    data = collect(request.prefetch, dict(request.context), hook, service_id)
    evaluation = evaluator.evaluate(data, now)
    if data.nothing_to_check:
        return Explanation(hook, service_id, now, evaluation, not_run=NOTHING_TO_CHECK)
    return explain_facts(evaluator, evaluation, hook, service_id, now)
