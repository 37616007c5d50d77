"""Card suppression: a card overridden for a patient stays away for a while.

The window of an override is the rule pack's setting for the card's rule: the days for
the override reason the clinician chose, else the rule's default, never more than its cap
(safety rules cap at a day or so, so a warning returns quickly). Overrides are read from
the database, so replicas sharing it agree; one indexed query covers every candidate card
of a call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import Engine, bindparam, select

from cds.hooks.models import Card
from cds.metrics import Metrics
from cds.rules.schema import Suppression
from cds.store import tables
from cds.store.overridden import OverriddenPatients
from cds.store.pseudonym import Pseudonymiser

log = logging.getLogger("cds.store.suppression")

EXTENSION_KEY = "org.stresspain.cds"

RuleSuppression = Callable[[str], Suppression | None] | Mapping[str, Suppression]
ReasonIds = (
    Callable[[str | None, str], str | None] | Mapping[tuple[str | None, str], str]
)
DEFAULT = Suppression()

# Built once: constructing the select on every call cost more than running it. The rules are
# filtered in Python: a patient has few overrides, and an expanding IN is re-rendered per call.
_f = tables.feedback.c
_OVERRIDES = (
    select(_f.rule_id, _f.reason_system, _f.reason_code, _f.outcome_at)
    .where(_f.patient == bindparam("patient"))
    .where(_f.outcome == "overridden")
    .where(_f.outcome_at > bindparam("since"))
    .where(_f.outcome_at <= bindparam("now"))
)


def rule_of(card: Card) -> str | None:
    meta = (card.extension or {}).get(EXTENSION_KEY)
    rule = meta.get("rule") if isinstance(meta, dict) else None
    return rule if isinstance(rule, str) and rule else None


def window_days(setting: Suppression, reason_id: str | None) -> float:
    """Days an override hides the rule's cards: by reason, else default, capped."""
    days = setting.default_days
    if reason_id is not None and reason_id in setting.by_reason:
        days = setting.by_reason[reason_id]
    if setting.max_days is not None:
        days = min(days, setting.max_days)
    return days


def longest_window_days(setting: Suppression) -> float:
    return max(window_days(setting, reason) for reason in (None, *setting.by_reason))


class SQLSuppressor:
    def __init__(
        self,
        engine: Engine,
        pseudonymise: Pseudonymiser,
        rules: RuleSuppression | None = None,
        reasons: ReasonIds | None = None,
        *,
        metrics: Metrics | None = None,
        overridden: OverriddenPatients | None = None,
    ) -> None:
        self.engine = engine
        self.pseudonymise = pseudonymise
        self._rules = _as_callable(rules) if rules is not None else (lambda _rule: None)
        self._reasons = _reason_callable(reasons)
        self.metrics = metrics
        self.overridden = overridden

    def suppression_of(self, rule_id: str) -> Suppression:
        return self._rules(rule_id) or DEFAULT

    def filter(self, patient_id: str | None, cards: list[Card], now: datetime) -> list[Card]:
        """The cards minus those of rules overridden for this patient within their window.

        A failing database never fails the call: the cards go out unfiltered.
        """
        patient = self.pseudonymise(patient_id)
        settings = {rule: self.suppression_of(rule) for c in cards if (rule := rule_of(c))}
        if patient is None or not settings:
            return cards
        if self.overridden is not None and not self.overridden.may_have(patient):
            return cards
        try:
            suppressed = self._suppressed_rules(patient, settings, now)
        except Exception as exc:
            log.error("suppression lookup failed (%s); cards sent unfiltered",
                      type(exc).__name__)
            if self.metrics is not None:
                self.metrics.observe_error("suppression-unavailable")
            return cards
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

    def _suppressed_rules(
        self, patient: str, settings: dict[str, Suppression], now: datetime
    ) -> set[str]:
        longest = max(longest_window_days(s) for s in settings.values())
        if longest <= 0:
            return set()
        params = {"patient": patient, "since": now - timedelta(days=longest), "now": now}
        with self.engine.connect() as conn:
            rows = conn.execute(_OVERRIDES, params).all()
        suppressed = set()
        for row in rows:
            if row.rule_id not in settings:
                continue
            reason_id = self._reasons(row.reason_system, row.reason_code) \
                if row.reason_code else None
            days = window_days(settings[row.rule_id], reason_id)
            if row.outcome_at + timedelta(days=days) > now:
                suppressed.add(row.rule_id)
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
