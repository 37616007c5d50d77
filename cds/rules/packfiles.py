"""Formats of the small pack files: pack.yaml, override-reasons.yaml, data-quality.yaml.

Rule files have their own module (schema.py); rule test files are in testspec.py; services
are cds.hooks.services; facts files belong to cds.facts.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cds.rules.schema import CardSource


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PackMeta(_Strict):
    """pack.yaml: the identity every card carries (`pack`, `packVersion`)."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    title: str
    publisher: str | None = None
    description: str | None = None
    codesystem: str | None = Field(default=None, description="URL of the local CodeSystem")


class OverrideReasonDef(_Strict):
    system: str
    code: str
    display: str


class OverrideReasonsFile(_Strict):
    reasons: dict[str, OverrideReasonDef]


class DataQualityCard(_Strict):
    indicator: Literal["info", "warning", "critical"] = "info"
    summary: str = Field(description="Jinja template; `notes` is the list of data notes")
    detail: str
    source: CardSource


class EngineTexts(_Strict):
    """rules/data-quality.yaml: the words the engine itself adds to cards.

    `section` is appended to every card's detail when some data could not be used; `card` is
    shown alone when there are such notes but no rule fired. Both are Jinja templates:
    `notes` (kind, message, resource) and `more` (notes left out beyond `max_notes`) are
    available. (Merged cards list each rule's findings under its title: card-policy.yaml.)
    """

    card: DataQualityCard | None = None
    section: str = (
        "\n\n**Data not used**\n\n{% for n in notes %}- {{ n.message }}"
        "{% if n.resource %} ({{ n.resource }}){% endif %}\n{% endfor %}"
        "{% if more %}- and {{ more }} more\n{% endif %}"
    )
    max_notes: int = Field(default=10, ge=1)


class Bundle(_Strict):
    title: str = Field(description="Shown above the findings of the merged cards")
    problems: list[str] = Field(min_length=1, description="Problem keys of the rules it merges")


class CriticalFinding(_Strict):
    problem: str
    hooks: list[str] = Field(default_factory=list, description="Only on these hooks (all if "
                                                               "empty)")


class IndicatorPolicy(_Strict):
    """One indicator policy for the whole pack: critical only for imminent harm; problems in
    `info` never go above info; everything else is at most a warning."""

    critical: list[CriticalFinding] = Field(default_factory=list)
    info: list[str] = Field(default_factory=list, description="Problem keys shown as info")

    def highest(self, problem: str | None, hook: str) -> str:
        """The most urgent indicator a card of `problem` may have on `hook`."""
        if any(f.problem == problem and (not f.hooks or hook in f.hooks)
               for f in self.critical):
            return "critical"
        return "info" if problem in self.info else "warning"


class CardPolicyFile(_Strict):
    """rules/card-policy.yaml: how cards are combined and limited (cds/cards/policy.py).

    `bundles` merge the cards of several problems into one card that lists every merged
    card's findings under its title, with suggestions offered once. `safety_problems` (and
    bundles) are always shown; the other cards are limited to `budget` per response, most
    important first, and the ones left out are counted in the audit trail.
    """

    bundles: dict[str, Bundle] = Field(default_factory=dict)
    safety: list[str] = Field(default_factory=list,
                              description="Problem keys or bundle ids whose cards are always "
                                          "shown")
    budget: int | None = Field(default=None, ge=0,
                               description="Other cards shown per response, at most (no limit "
                                           "when absent)")
    indicators: IndicatorPolicy | None = None
