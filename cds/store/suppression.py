"""Card suppression: a card overridden for a patient stays away for a while.

The window of an override is the rule pack's setting for the card's rule: the days for
the override reason the clinician chose, else the rule's default, never more than its cap
(safety rules cap at a day or so, so a warning returns quickly). An override without a
reason (a plain "dismiss") is recorded but hides nothing.

Overrides come from the in-memory cache of cds/store/overrides.py, so that a hook call never
waits for the database; replicas sharing a database agree within its refresh interval. When
the cache cannot be refreshed, the call says so in a data note.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from cds.hooks.models import Card
from cds.metrics import Metrics
from cds.rules.schema import Suppression
from cds.store.overrides import Override, OverrideCache
from cds.store.pseudonym import Pseudonymiser

log = logging.getLogger("cds.store.suppression")

RuleSuppression = Callable[[str], Suppression | None] | Mapping[str, Suppression]
ReasonIds = (
    Callable[[str | None, str], str | None] | Mapping[tuple[str | None, str], str]
)
DEFAULT = Suppression()


def rule_of(card: Card) -> str | None:
    return card.meta.rule or None


def window_days(setting: Suppression, reason_id: str | None) -> float:
    """Days an override hides the rule's cards: by reason, else default, capped."""
    days = setting.default_days
    if reason_id is not None and reason_id in setting.by_reason:
        days = setting.by_reason[reason_id]
    if setting.max_days is not None:
        days = min(days, setting.max_days)
    return days


class SQLSuppressor:
    def __init__(
        self,
        overrides: OverrideCache,
        pseudonymise: Pseudonymiser,
        rules: RuleSuppression | None = None,
        reasons: ReasonIds | None = None,
        *,
        metrics: Metrics | None = None,
    ) -> None:
        self.overrides = overrides
        self.pseudonymise = pseudonymise
        self._rules = _as_callable(rules) if rules is not None else (lambda _rule: None)
        self._reasons = _reason_callable(reasons)
        self.metrics = metrics

    def suppression_of(self, rule_id: str) -> Suppression:
        return self._rules(rule_id) or DEFAULT

    def filter(self, patient_id: str | None, cards: list[Card], now: datetime) -> list[Card]:
        """The cards minus those of rules overridden for this patient within their window."""
        patient = self.pseudonymise(patient_id)
        if patient is None or not cards:
            return cards
        found = self.overrides.of(patient)
        if not found:
            return cards
        suppressed = self._suppressed_rules(found, {rule_of(c) for c in cards} - {None}, now)
        if not suppressed:
            return cards
        kept = []
        for card in cards:
            rule = rule_of(card)
            if rule in suppressed:
                if self.metrics is not None:
                    self.metrics.cards_suppressed.labels(rule=rule).inc()
            else:
                kept.append(card)
        return kept

    def unavailable_since(self) -> tuple[bool, datetime | None]:
        """(True, when overrides were last read) while they cannot be read; (False, None)
        when suppression is current."""
        if not self.overrides.unavailable:
            return False, None
        if self.metrics is not None:
            self.metrics.observe_error("suppression-unavailable")
        return True, self.overrides.stale_since

    def _suppressed_rules(self, found: list[Override], rules: set[str | None],
                          now: datetime) -> set[str]:
        suppressed = set()
        for override in found:
            if override.rule_id not in rules or override.reason_code is None:
                continue
            reason_id = self._reasons(override.reason_system, override.reason_code)
            days = window_days(self.suppression_of(override.rule_id), reason_id)
            if override.outcome_at <= now < override.outcome_at + timedelta(days=days):
                suppressed.add(override.rule_id)
        return suppressed


def _as_callable(rules: RuleSuppression) -> Callable[[str], Suppression | None]:
    if isinstance(rules, Mapping):
        return rules.get
    return rules


def _reason_callable(reasons: ReasonIds | None) -> Callable[[str | None, str], str | None]:
    if reasons is None:
        return lambda _system, _code: None
    if isinstance(reasons, Mapping):
        table = reasons
        return lambda system, code: table.get((system, code))
    return reasons
