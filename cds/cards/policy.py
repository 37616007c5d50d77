"""Card policy: one card per clinical problem, most severe first, each proposal once, data notes
on every card.

Rules that share a `problem` key propose the same thing in different words (a psychology
referral from the mood rule and from the multimodal rule). Only the most severe of their
cards is shown (then the lower `priority`, then the rule id); it names the others in its
detail ("Also proposed by ...") and in the `alsoFrom` extension. Cards are ordered critical
-> warning -> info, then by priority and rule id. A suggestion that creates what a card
higher in that order already proposes (the same resource type and code, e.g. a naloxone
MedicationRequest or a psychology referral) is dropped from the lower card, so a clinician
is offered each thing once. Summaries are never truncated: `check` keeps every summary
short enough. Suppression after overrides happens later, in the web layer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cds.cards.notes import EXTENSION_KEY, EngineTextRenderer, RuleRef
from cds.facts.notes import DataNote
from cds.hooks.models import Card, Suggestion
from cds.rules.schema import Rule

SEVERITY = {"critical": 0, "warning": 1, "info": 2}


def _meta(card: Card) -> dict[str, object]:
    return (card.extension or {}).get(EXTENSION_KEY, {})


def _rank(card: Card, rules: Mapping[str, Rule]) -> tuple[int, int, str]:
    rule_id = str(_meta(card).get("rule", ""))
    rule = rules.get(rule_id)
    return (SEVERITY[card.indicator], rule.priority if rule else 1000, rule_id)


def apply_policy(cards: Sequence[Card], rules: Mapping[str, Rule], texts: EngineTextRenderer,
                 notes: Sequence[DataNote]) -> list[Card]:
    """Merge by problem, order, and add the data-quality section (or card)."""
    groups: dict[str, list[Card]] = {}
    for card in cards:
        meta = _meta(card)
        key = str(meta.get("problem") or f"rule:{meta.get('rule')}")
        groups.setdefault(key, []).append(card)
    kept: list[Card] = []
    for group in groups.values():
        group.sort(key=lambda c: _rank(c, rules))
        best, others = group[0], group[1:]
        if others:
            refs = []
            for other in others:
                rid = str(_meta(other).get("rule"))
                rule = rules.get(rid)
                refs.append(RuleRef(rid, rule.title if rule else rid))
            best = _with_detail(best, texts.also_from(refs))
            _meta(best)["alsoFrom"] = [r.id for r in refs]
        kept.append(best)
    kept.sort(key=lambda c: _rank(c, rules))
    kept = _each_proposal_once(kept)
    if notes:
        if kept:
            section = texts.section(notes)
            kept = [_with_detail(c, section) for c in kept]
        else:
            card = texts.card(notes)
            if card is not None:
                kept = [card]
    return kept


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
