"""The evaluation pipeline of one hook call: facts -> matches -> cards.

    PatientData --extract--> facts (+ a `context` fact) --engine--> matches
                --render--> one card per rule --policy--> merged, ordered cards

`Evaluator` is built once per pack (rules compiled, templates compiled) and is safe to share
between threads. The web layer applies suppression and writes the audit record afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cds.cards.notes import EngineTextRenderer
from cds.cards.policy import apply_policy
from cds.cards.render import CardRenderer, ResourceLookup
from cds.facts.extract import extract
from cds.hooks.models import Card
from cds.hooks.services import ServiceCatalogue
from cds.notes import DataNote
from cds.packsource import PackProblems
from cds.rules.compiler import compile_pack
from cds.rules.engine import Engine, Match
from cds.rules.pack import Pack
from cds.rules.packfiles import CardPolicyFile
from cds.rules.schema import Suppression

# Drops cards before merging (suppression) and may add notes for the cards that remain.
CardFilter = Callable[[list[Card]], tuple[list[Card], Sequence[DataNote]]]

if TYPE_CHECKING:
    from cds.fhir.collect import PatientData


@dataclass
class Evaluation:
    cards: list[Card]
    matches: list[Match]
    facts: list[dict[str, Any]]
    notes: list[DataNote]
    timings_ms: dict[str, float] = field(default_factory=dict)
    # (system, code, display) of medication codes the pack could not resolve (fail-safe)
    unresolved: list[tuple[str, str, str]] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)  # rules whose cards the budget held back
    template_errors: list[str] = field(default_factory=list)  # rules whose card templates failed


class Evaluator:
    """A loaded pack, compiled and ready: `evaluate(data, now)` per hook call."""

    def __init__(self, pack: Pack, *, strict: bool = False) -> None:
        programs, problems = compile_pack(pack)
        self.renderer = CardRenderer(pack)
        problems += self.renderer.problems
        if problems:
            raise PackProblems(problems)
        self.pack = pack
        self.strict = strict
        self.engine = Engine(programs, name=pack.name)
        self.texts = EngineTextRenderer(pack.texts, pack.name, pack.version)
        self.rules = {lr.rule.id: lr.rule for lr in pack.rules}

    @property
    def name(self) -> str:
        return self.pack.name

    @property
    def pack_version(self) -> str:
        return self.pack.version

    @property
    def version(self) -> str:
        return self.pack.version

    def suppression(self, rule_id: str) -> Suppression | None:
        """How long an overridden card of this rule stays hidden (store look-up)."""
        rule = self.rules.get(rule_id)
        return rule.suppression if rule is not None else None

    def override_reason_id(self, system: str | None, code: str) -> str | None:
        """The pack's id of an override-reason Coding received in feedback."""
        for rid, reason in self.pack.override_reasons.items():
            if reason.code == code and (system is None or reason.system == system):
                return rid
        return None

    def override_reason_display(self, system: str | None, code: str) -> str | None:
        """The pack's words for an override-reason Coding (EHRs often send no display)."""
        rid = self.override_reason_id(system, code)
        return self.pack.override_reasons[rid].display if rid is not None else None

    @property
    def services(self) -> ServiceCatalogue:
        assert self.pack.services is not None  # load_pack guarantees services.yaml
        return self.pack.services

    def evaluate(self, data: PatientData, now: datetime,
                 card_policy: CardPolicyFile | None = None,
                 keep: CardFilter | None = None) -> Evaluation:
        """Extract facts from the call's FHIR data, run the hook's rules, render cards
        (`card_policy`: the pack's own unless given, e.g. without bundles for rule tests;
        `keep`: drops cards before they are merged and budgeted - suppression works per rule,
        so overriding a bundled card never hides the other rules' findings for long).
        An order hook call with no medication order to check gets no cards, not even a
        data-quality card: the clinician is still entering the order (cds/fhir/orders.py)."""
        started = time.perf_counter()
        if data.nothing_to_check:
            return Evaluation([], [], [], list(data.notes),
                              {"total": (time.perf_counter() - started) * 1000.0})
        assert self.pack.fact_config is not None
        extraction = extract(data, self.pack.fact_config, now, strict=self.strict)
        notes = _unique([*data.notes, *extraction.notes])
        facts = list(extraction.facts)
        if not any(f.get("type") == "context" for f in facts):
            facts.append(context_fact(data.hook, data.service_id))
        extracted = time.perf_counter()
        result = self.evaluate_facts(facts, data.hook, now, notes, data.patient_id,
                                     resources=ResourcesByRef(data), card_policy=card_policy,
                                     keep=keep)
        result.unresolved = extraction.unresolved
        result.timings_ms = {"extract": (extracted - started) * 1000.0, **result.timings_ms}
        result.timings_ms["total"] = (time.perf_counter() - started) * 1000.0
        return result

    def evaluate_facts(self, facts: list[dict[str, Any]], hook: str, now: datetime,
                       notes: Sequence[DataNote] = (), patient_id: str | None = None,
                       resources: ResourceLookup | None = None,
                       card_policy: CardPolicyFile | None = None,
                       keep: CardFilter | None = None) -> Evaluation:
        """Run the hook's rules on ready-made facts (the engine half of `evaluate`);
        `resources` finds the call's resources for suggestions that change one."""
        t0 = time.perf_counter()
        matches = self.engine.evaluate(facts, hook)
        t1 = time.perf_counter()
        by_rule: dict[str, list[Match]] = {}
        for match in matches:
            by_rule.setdefault(match.rule, []).append(match)
        failed: list[str] = []
        cards = [self.renderer.render(rule_id, found, hook, now, patient_id, resources, failed)
                 for rule_id, found in by_rule.items()]
        t2 = time.perf_counter()
        if keep is not None:
            cards, kept_notes = keep(cards)
            if cards:  # a note about the cards, never a card of its own
                notes = [*notes, *kept_notes]
        policy = apply_policy(cards, self.rules, self.texts, notes,
                              card_policy or self.pack.card_policy, hook)
        t3 = time.perf_counter()
        return Evaluation(policy.cards, matches, facts, list(notes), {
            "evaluate": (t1 - t0) * 1000.0, "render": (t2 - t1) * 1000.0,
            "policy": (t3 - t2) * 1000.0},
            left_out=[rule for card in policy.left_out for rule in card.meta.rules],
            template_errors=failed)


class ResourcesByRef:
    """The call's resources (prefetch and draft orders) by relative reference; the index is
    built on first use, which only suggestions that stop or hold an order need."""

    def __init__(self, data: PatientData) -> None:
        self._data = data
        self._index: dict[str, dict[str, Any]] | None = None

    def __call__(self, ref: str) -> dict[str, Any] | None:
        if self._index is None:
            self._index = {f"{r.get('resourceType')}/{r.get('id')}": r
                           for r in (*self._data.resources, *self._data.draft_orders)
                           if isinstance(r, dict) and isinstance(r.get("id"), str)}
        return self._index.get(ref)


def context_fact(hook: str, service: str) -> dict[str, Any]:
    return {"id": "context", "type": "context", "hook": hook, "service": service}


def _unique(notes: Sequence[DataNote]) -> list[DataNote]:
    return list(dict.fromkeys(notes))
