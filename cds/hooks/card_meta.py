"""What the service knows about a card it built: the rule it stands for, the rules merged
into it, the pack that answered and the facts that matched.

Policy, suppression, the budget, audit and the dry-run read this typed value from the card;
the CDS Hooks `extension` an EHR receives is made from it only when the response is
serialised (`CardMeta.extension`), under the one key `EXTENSION_KEY`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

EXTENSION_KEY = "org.stresspain.cds"


@dataclass(frozen=True, slots=True)
class CardMeta:
    rule: str  # the rule the card stands for ("data-quality" for the data-quality card)
    problem: str | None = None  # the clinical problem the rule belongs to (card-policy.yaml)
    pack: str | None = None
    pack_version: str | None = None
    rule_version: str | None = None
    # (binding, fact) of the first match: the facts the card's text speaks of
    matches: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    also_from: tuple[str, ...] = ()  # rules whose cards were merged into this one
    bundle: str | None = None  # the card-policy bundle that merged them
    notes: tuple[Mapping[str, Any], ...] | None = None  # data-quality card: what was not used

    @property
    def rules(self) -> tuple[str, ...]:
        """The rule of the card and every rule merged into it."""
        return (self.rule, *self.also_from)

    def extension(self) -> dict[str, Any]:
        """The card's CDS Hooks `extension` (keys in a fixed order; unset optional keys
        left out)."""
        body: dict[str, Any] = {"rule": self.rule}
        if self.rule_version is not None:
            body["ruleVersion"] = self.rule_version
        if self.pack is not None:
            body["pack"] = self.pack
        if self.pack_version is not None:
            body["packVersion"] = self.pack_version
        body["problem"] = self.problem
        if self.notes is not None:
            body["notes"] = list(self.notes)
        body["matches"] = [{"binding": name, "fact": fact} for name, fact in self.matches]
        body["alsoFrom"] = list(self.also_from)
        if self.bundle is not None:
            body["bundle"] = self.bundle
        return {EXTENSION_KEY: body}
