"""Run the pack's rule test cases (rules/tests/*.yaml) against an evaluator.

A case's patient comes from `given` (fixture shorthand, cds.authoring.synth), `fixture` (a CDS
Hooks request file) or `facts` (ready-made facts). The case passes when every expectation
holds:

    fires       each rule gave a card, or was merged into another card of its problem
                (then it is named in that card's `alsoFrom`)
    not_fires   none of these rules did
    cards       the card of that rule (shown as its own card) has the indicator, text and
                number of suggestions given
    card_count  the number of cards
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cds.authoring.check import load_pack
from cds.authoring.synth import build_patient_data
from cds.errors import RulePackError
from cds.fhir.collect import collect
from cds.hooks.models import Card
from cds.pipeline import Evaluation, Evaluator, context_fact
from cds.rules.pack import FactConfigLoader, LoadedTests
from cds.rules.packfiles import CardPolicyFile
from cds.rules.testspec import CardExpect, Case


@dataclass
class CaseResult:
    file: str
    rule: str
    name: str
    line: int
    failures: list[str] = field(default_factory=list)
    ms: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def id(self) -> str:
        return f"{self.rule}: {self.name}"


def iter_cases(tests: list[LoadedTests]) -> Iterator[tuple[LoadedTests, int, Case]]:
    for loaded in tests:
        for index, case in enumerate(loaded.tests.cases):
            yield loaded, index, case


def _service_for(evaluator: Evaluator, hook: str) -> str:
    services = evaluator.pack.services
    found = next((s.id for s in services.services if s.hook == hook), None) if services else None
    return found or hook


def rule_test_policy(evaluator: Evaluator) -> CardPolicyFile:
    """The card policy rule cases run with: the pack's indicator policy, one card per problem
    and each proposal once, but no bundles and no budget, so a case sees its rule's own card
    (bundles and the budget have their own tests)."""
    return CardPolicyFile(indicators=evaluator.pack.card_policy.indicators)


def evaluate_case(evaluator: Evaluator, loaded: LoadedTests, case: Case) -> Evaluation:
    now: datetime = case.now or loaded.tests.now
    policy = rule_test_policy(evaluator)
    hook = case.hook
    service = _service_for(evaluator, hook)
    if case.facts is not None:
        facts = [dict(f) for f in case.facts]
        if not any(f.get("type") == "context" for f in facts):
            facts.append(context_fact(hook, service))
        return evaluator.evaluate_facts(facts, hook, now, patient_id="example",
                                        card_policy=policy)
    if case.fixture is not None:
        request = json.loads((loaded.path.parent / case.fixture).read_text(encoding="utf-8"))
        hook = str(request.get("hook", hook))
        data = collect(request.get("prefetch"), request.get("context") or {}, hook,
                       _service_for(evaluator, hook))
        return evaluator.evaluate(data, now, policy)
    data = build_patient_data(case.given or {}, now, hook, service,
                              rules_dir=evaluator.pack.root)
    return evaluator.evaluate(data, now, policy)


def _card_failures(expect: CardExpect, card: Card | None) -> Iterator[str]:
    if card is None:
        yield f"no card of {expect.rule}"
        return
    if expect.indicator and card.indicator != expect.indicator:
        yield f"{expect.rule}: indicator {card.indicator}, expected {expect.indicator}"
    if expect.summary_contains and expect.summary_contains not in card.summary:
        yield f"{expect.rule}: summary {card.summary!r} lacks {expect.summary_contains!r}"
    detail = card.detail or ""
    if expect.detail_contains and expect.detail_contains not in detail:
        yield f"{expect.rule}: detail lacks {expect.detail_contains!r}"
    if expect.detail_not_contains and expect.detail_not_contains in detail:
        yield f"{expect.rule}: detail contains {expect.detail_not_contains!r}"
    if expect.suggestions is not None and len(card.suggestions) != expect.suggestions:
        yield (f"{expect.rule}: {len(card.suggestions)} suggestion(s), expected "
               f"{expect.suggestions}")
    if expect.also_from is not None:
        also = list(card.meta.also_from)
        if sorted(also) != sorted(expect.also_from):
            yield f"{expect.rule}: alsoFrom {also}, expected {expect.also_from}"


def check_case(evaluation: Evaluation, case: Case) -> list[str]:
    by_rule = {c.meta.rule: c for c in evaluation.cards}
    fired = {rule for card in evaluation.cards for rule in card.meta.rules}
    failures = [f"{r} did not fire (cards: {', '.join(sorted(by_rule)) or 'none'})"
                for r in case.expect.fires if r not in fired]
    failures += [f"{r} fired but should not" for r in case.expect.not_fires if r in fired]
    for expect in case.expect.cards:
        failures.extend(_card_failures(expect, by_rule.get(expect.rule)))
    count = case.expect.card_count
    if count is not None and len(evaluation.cards) != count:
        failures.append(f"{len(evaluation.cards)} card(s), expected {count}")
    return failures


def run_case(evaluator: Evaluator, loaded: LoadedTests, index: int, case: Case) -> CaseResult:
    origin = loaded.origin
    line = origin.doc.position(("cases", index))[0] if origin.doc else 1
    result = CaseResult(origin.doc.name if origin.doc else "", loaded.tests.rule, case.name,
                        line)
    started = time.perf_counter()
    try:
        evaluation = evaluate_case(evaluator, loaded, case)
    except Exception as exc:  # a broken case is a failed case, not a crashed run
        result.failures.append(f"could not evaluate: {type(exc).__name__}: {exc}")
    else:
        result.failures = check_case(evaluation, case)
    result.ms = (time.perf_counter() - started) * 1000.0
    return result


def run_tests(evaluator: Evaluator, rule: str | None = None) -> list[CaseResult]:
    """Every case of the pack (or of one rule's test file), in file order."""
    return [run_case(evaluator, loaded, index, case)
            for loaded, index, case in iter_cases(evaluator.pack.tests)
            if rule is None or loaded.tests.rule == rule]


def build_evaluator(rules_dir: Path, *, fact_config_loader: FactConfigLoader | None = None,
                    strict: bool = False, run_pack_tests: bool = True) -> Evaluator:
    """Load, check, compile and (by default) test a pack; raises RulePackError."""
    evaluator = Evaluator(load_pack(rules_dir, fact_config_loader), strict=strict)
    if run_pack_tests:
        failed = [r for r in run_tests(evaluator) if not r.passed]
        if failed:
            lines = [f"{r.file}:{r.line}: test '{r.id}' failed: {'; '.join(r.failures)}"
                     for r in failed]
            raise RulePackError(f"{len(failed)} rule test case(s) failed:\n" + "\n".join(lines),
                                details=lines)
    return evaluator
