"""Per-rule numbers from the audit trail: how often each rule fired, how its cards fared.

Feedback counts are per card (a card answered twice counts once per outcome) and cover the
cards issued in the period. The acceptance rate is accepted cards over cards issued:
the EHR never reports ignored cards, so accepted over answered would flatter the rule.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, distinct, func, inspect, select

from cds.store import tables


@dataclass
class OverrideCount:
    code: str | None
    display: str | None
    system: str | None
    cards: int


@dataclass
class RuleReport:
    rule: str
    fired: int = 0
    cards: int = 0
    accepted: int = 0
    overridden: int = 0
    left_out: int = 0  # cards held back by the per-response budget
    override_reasons: list[OverrideCount] = field(default_factory=list)

    @property
    def acceptance_rate(self) -> float | None:
        return self.accepted / self.cards if self.cards else None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["acceptance_rate"] = self.acceptance_rate
        return data


@dataclass
class UnresolvedCode:
    """A medication code the pack could not resolve, and in how many calls it came."""

    system: str
    code: str
    display: str
    calls: int


@dataclass
class Report:
    since: datetime | None
    calls: int
    rules: list[RuleReport]
    unresolved: list[UnresolvedCode] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat() if self.since else None,
            "calls": self.calls,
            "rules": [rule.to_json() for rule in self.rules],
            "unresolved_codes": [asdict(u) for u in self.unresolved],
        }


TOP_UNRESOLVED = 20


def _unresolved(engine: Engine, since: datetime | None, limit: int) -> list[UnresolvedCode]:
    """The most frequent unresolved medication codes (an audit trail older than this table
    has none)."""
    if not inspect(engine).has_table(tables.unresolved.name):
        return []
    u = tables.unresolved.c
    query = select(u.system, u.code, func.max(u.display), func.count(distinct(u.call_id))
                   ).group_by(u.system, u.code)
    if since is not None:
        query = query.where(u.time >= since)
    query = query.order_by(func.count(distinct(u.call_id)).desc(), u.code).limit(limit)
    with engine.connect() as conn:
        return [UnresolvedCode(system, code, display or "", n)
                for system, code, display, n in conn.execute(query)]


def build_report(engine: Engine, since: datetime | None = None,
                 top_unresolved: int = TOP_UNRESOLVED) -> Report:
    calls, fired, cards, fb = tables.calls.c, tables.fired.c, tables.cards.c, tables.feedback.c
    rules: dict[str, RuleReport] = {}

    def rule(rule_id: str) -> RuleReport:
        return rules.setdefault(rule_id, RuleReport(rule_id))

    call_count = select(func.count()).select_from(tables.calls)
    fired_q = select(fired.rule_id, func.count()).join(
        tables.calls, calls.id == fired.call_id
    ).group_by(fired.rule_id)
    cards_q = select(cards.rule_id, func.count()).group_by(cards.rule_id)
    outcome_q = select(cards.rule_id, fb.outcome, func.count(distinct(fb.card_uuid))).join(
        tables.cards, cards.uuid == fb.card_uuid
    ).group_by(cards.rule_id, fb.outcome)
    reasons_q = select(
        cards.rule_id, fb.reason_system, fb.reason_code, func.max(fb.reason_display),
        func.count(distinct(fb.card_uuid)),
    ).join(tables.cards, cards.uuid == fb.card_uuid).where(
        fb.outcome == "overridden"
    ).group_by(cards.rule_id, fb.reason_system, fb.reason_code)
    if since is not None:
        call_count = call_count.where(calls.time >= since)
        fired_q = fired_q.where(calls.time >= since)
        cards_q = cards_q.where(cards.issued_at >= since)
        outcome_q = outcome_q.where(cards.issued_at >= since)
        reasons_q = reasons_q.where(cards.issued_at >= since)

    with engine.connect() as conn:
        total_calls = conn.execute(call_count).scalar_one()
        for rule_id, n in conn.execute(fired_q):
            rule(rule_id).fired = n
        for rule_id, n in conn.execute(cards_q):
            rule(rule_id).cards = n
        for rule_id, outcome, n in conn.execute(outcome_q):
            setattr(rule(rule_id), "accepted" if outcome == "accepted" else "overridden", n)
        for rule_id, system, code, display, n in conn.execute(reasons_q):
            rule(rule_id).override_reasons.append(OverrideCount(code, display, system, n))

    if inspect(engine).has_table(tables.left_out.name):
        lo = tables.left_out.c
        left_q = select(lo.rule_id, func.count()).group_by(lo.rule_id)
        if since is not None:
            left_q = left_q.where(lo.time >= since)
        with engine.connect() as conn:
            for rule_id, n in conn.execute(left_q):
                rule(rule_id).left_out = n
    for report in rules.values():
        report.override_reasons.sort(key=lambda r: (-r.cards, r.code or ""))
    return Report(since, total_calls, [rules[key] for key in sorted(rules)],
                  _unresolved(engine, since, top_unresolved))
