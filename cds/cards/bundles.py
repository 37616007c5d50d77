"""One card per clinical problem or bundle, and the per-response budget (card-policy.yaml).

Cards of the same problem, and of the problems a bundle groups (the opioid combination,
dose, naloxone and older-adult cards; the parts of a multimodal pain plan), become one card:
the most important card's summary and indicator, then every merged card's findings under its
rule's title, so no number is hidden (the PHQ-9 of the mood card stays visible inside the
programme card). Suggestions are offered once (the policy's proposal de-duplication runs
after this). The budget then keeps every safety card and at most `budget` others, most
important first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from cds.hooks.models import Card, Coding, Link
from cds.rules.packfiles import CardPolicyFile
from cds.rules.schema import Rule

Rank = Callable[[Card], tuple[int, int, str]]


def _group_of(card: Card, policy: CardPolicyFile) -> tuple[str, str | None]:
    """(group key, bundle id): the bundle whose problems include the card's problem, else the
    problem itself, else the rule."""
    meta = card.meta
    bid = next((b for b, spec in policy.bundles.items() if meta.problem in spec.problems), None)
    if bid is not None:
        return f"bundle:{bid}", bid
    return meta.problem or f"rule:{meta.rule}", None


def merge_cards(cards: Sequence[Card], policy: CardPolicyFile, rules: Mapping[str, Rule],
                rank: Rank) -> list[Card]:
    """One card per problem or bundle."""
    groups: dict[str, tuple[str | None, list[Card]]] = {}
    for card in cards:
        key, bid = _group_of(card, policy)
        groups.setdefault(key, (bid, []))[1].append(card)
    out = []
    for bid, members in groups.values():
        members.sort(key=rank)
        if len(members) == 1:
            out.append(members[0])
        else:
            out.append(_merge(bid, policy.bundles[bid].title if bid else None, members, rules))
    return out


def _merge(bid: str | None, title: str | None, members: list[Card],
           rules: Mapping[str, Rule]) -> Card:
    best = members[0]
    sections = []
    for card in members:
        rule = rules.get(card.meta.rule)
        heading = rule.title if rule else card.summary
        sections.append(f"### {heading}\n\n{(card.detail or card.summary).strip()}")
    intro = f"**{title}**: " if title else ""
    detail = (f"{intro}{len(members)} findings, most important first.\n\n"
              + "\n\n".join(sections))
    suggestions = [s for card in members for s in card.suggestions]
    reasons: dict[tuple[str | None, str], Coding] = {}
    for card in members:
        for reason in card.overrideReasons:
            reasons.setdefault((reason.system, reason.code), reason)
    links: dict[str, Link] = {}
    for card in members:
        for link in card.links:
            links.setdefault(link.url, link)
    meta = replace(best.meta, also_from=tuple(c.meta.rule for c in members[1:]),
                   bundle=bid if bid is not None else best.meta.bundle)
    return best.model_copy(update={
        "detail": detail, "suggestions": suggestions,
        "selectionBehavior": "any" if suggestions else None,
        "overrideReasons": list(reasons.values()), "links": list(links.values()),
    }).with_meta(meta)


def apply_budget(cards: Sequence[Card], policy: CardPolicyFile) -> tuple[list[Card], list[Card]]:
    """(shown, left out): safety cards always, then the first `budget` others (cards come in
    rank order)."""
    safety = set(policy.safety)
    shown: list[Card] = []
    left_out: list[Card] = []
    others = 0
    for card in cards:
        _key, bid = _group_of(card, policy)
        if card.meta.problem in safety or bid in safety:
            shown.append(card)
        elif policy.budget is None or others < policy.budget:
            shown.append(card)
            others += 1
        else:
            left_out.append(card)
    return shown, left_out
