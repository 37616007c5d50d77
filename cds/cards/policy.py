"""Card policy: one card per clinical problem or bundle, most severe first, each proposal
once, data notes on every card.

Rules that share a `problem` key, and the problems a bundle of rules/card-policy.yaml groups,
give one card (cds/cards/bundles.py): the most severe card's summary and indicator (then the
lower `priority`, then the rule id), every merged card's findings as sections of its detail,
the merged rules in the `alsoFrom` extension. Each card is first held to the pack's indicator
policy; after merging, safety cards are always shown and the others kept to the budget.
Cards are ordered critical -> warning -> info, then by priority and rule id. A suggestion
that creates what a card higher in that order already proposes (the same resource type and
code, e.g. a naloxone MedicationRequest or a psychology referral) is dropped from the lower
card, so a clinician is offered each thing once. Summaries are never truncated: `check`
keeps every summary short enough. Suppression after overrides happens before this, per rule
(the pipeline's `keep` filter), so overriding a merged card hides only its lead rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cds.cards.bundles import apply_budget, merge_cards
from cds.cards.notes import EngineTextRenderer
from cds.hooks.models import Card, Suggestion
from cds.notes import DataNote
from cds.rules.packfiles import CardPolicyFile, IndicatorPolicy
from cds.rules.schema import Rule

SEVERITY = {"critical": 0, "warning": 1, "info": 2}


def _rank(card: Card, rules: Mapping[str, Rule]) -> tuple[int, int, str]:
    rule_id = card.meta.rule
    rule = rules.get(rule_id)
    return (SEVERITY[card.indicator], rule.priority if rule else 1000, rule_id)


@dataclass
class PolicyResult:
    cards: list[Card]
    left_out: list[Card] = field(default_factory=list)  # beyond the budget (audited)


def apply_policy(cards: Sequence[Card], rules: Mapping[str, Rule], texts: EngineTextRenderer,
                 notes: Sequence[DataNote], card_policy: CardPolicyFile | None = None,
                 hook: str = "patient-view") -> PolicyResult:
    """Hold each card to the indicator policy, merge by problem, then by bundle, order, keep
    to the budget, offer each proposal once, and add the data-quality section (or card)."""
    card_policy = card_policy or CardPolicyFile()
    if card_policy.indicators is not None:
        cards = [_held_to(card, card_policy.indicators, hook) for card in cards]
    kept = merge_cards(cards, card_policy, rules, lambda c: _rank(c, rules))
    kept.sort(key=lambda c: _rank(c, rules))
    kept, left_out = apply_budget(kept, card_policy)
    kept = _each_proposal_once(kept)
    if notes:
        if kept:
            section = texts.section(notes)
            kept = [_with_detail(c, section) for c in kept]
        else:
            card = texts.card(notes)
            if card is not None:
                kept = [card]
    return PolicyResult(kept, left_out)


def _held_to(card: Card, policy: IndicatorPolicy, hook: str) -> Card:
    """The card with its indicator no more urgent than the policy allows for its problem on
    this hook (the pack's test keeps rules within it; this guards what the test misses)."""
    highest = policy.highest(card.meta.problem, hook)
    if SEVERITY[card.indicator] >= SEVERITY[highest]:
        return card
    return card.model_copy(update={"indicator": highest})


def _proposal_key(suggestion: Suggestion) -> tuple[tuple[str, ...], ...] | None:
    """What a suggestion creates: (resource type, code system, code, canonical) per created
    resource (the canonical tells questionnaire Tasks apart); None when it creates nothing
    coded (deletes and updates are never deduplicated)."""
    keys = []
    for action in suggestion.actions:
        if action.type != "create" or not action.resource:
            continue
        resource = action.resource
        concept = resource.get("medicationCodeableConcept") or resource.get("code")
        codings = concept.get("coding") if isinstance(concept, dict) else None
        coding = codings[0] if isinstance(codings, list) and codings else None
        if not isinstance(coding, dict) or not coding.get("code"):
            return None
        keys.append((str(resource.get("resourceType")), str(coding.get("system")),
                     str(coding["code"]), str(resource.get("instantiatesCanonical") or "")))
    if len(keys) != len(suggestion.actions):
        return None  # it also updates or deletes something: a different proposal
    return tuple(keys) or None


def _each_proposal_once(cards: list[Card]) -> list[Card]:
    seen: set[tuple[tuple[str, ...], ...]] = set()
    out = []
    for card in cards:
        kept = []
        for suggestion in card.suggestions:
            key = _proposal_key(suggestion)
            if key is not None and key in seen:
                continue
            if key is not None:
                seen.add(key)
            kept.append(suggestion)
        if len(kept) != len(card.suggestions):
            card = card.model_copy(update={"suggestions": kept,
                                           "selectionBehavior": card.selectionBehavior
                                           if kept else None})
        out.append(card)
    return out


def _with_detail(card: Card, extra: str) -> Card:
    if not extra:
        return card
    detail = (card.detail or "") + extra
    return card.model_copy(update={"detail": detail.strip()})
