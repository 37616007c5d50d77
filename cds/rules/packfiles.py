"""Formats of the small pack files: pack.yaml, override-reasons.yaml, data-quality.yaml.

Rule files have their own module (schema.py); rule test files are in testspec.py; services
are cds.hooks.services; facts files belong to cds.facts.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cds.facts.formats import vocab
from cds.rules.schema import CardSource


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PackMeta(_Strict):
    """pack.yaml: the identity every card carries (`pack`, `packVersion`)."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", description="Pack name; every card "
                      "carries it as `pack`")
    version: str = Field(pattern=r"^\d+\.\d+\.\d+$", description="Pack version "
                         "(`packVersion` on cards); bump it on any clinical change")
    title: str = Field(description="Human-readable name")
    publisher: str | None = Field(default=None, description="Who maintains the content")
    description: str | None = Field(default=None, description="What the pack is for")
    codesystem: str | None = Field(default=None, description="URL of the local CodeSystem "
                                   "(`local#code` in facts files); required")


class OverrideReasonDef(_Strict):
    """A coded reason a clinician can give for overriding a card."""

    system: str = Field(description="Code system URL")
    code: str = Field(description="The code")
    display: str = Field(description="Shown to the clinician")


class OverrideReasonsFile(_Strict):
    """rules/override-reasons.yaml: the override reasons cards may offer."""

    reasons: dict[str, OverrideReasonDef] = Field(description="Id (used in rules' "
                                                  "overrideReasons) -> coded reason")


class DataQualityCard(_Strict):
    indicator: Literal["info", "warning", "critical"] = Field(default="info",
                                                              description="Card urgency")
    summary: str = Field(description="Jinja template; `notes` is the list of data notes")
    detail: str = Field(description="Jinja template (markdown); `notes` and `more`")
    source: CardSource = Field(description="The card's source")


class EngineTexts(_Strict):
    """rules/data-quality.yaml: the words the engine itself adds to cards.

    `section` is appended to every card's detail when some data could not be used; `card` is
    shown alone when there are such notes but no rule fired. Both are Jinja templates:
    `notes` (kind, message, resource) and `more` (notes left out beyond `max_notes`) are
    available. (Merged cards list each rule's findings under its title: card-policy.yaml.)
    """

    card: DataQualityCard | None = Field(default=None, description="Shown alone when some data "
                                         "could not be used and no rule fired")
    section: str = Field(default=(
        "\n\n**Data not used**\n\n{% for n in notes %}- {{ n.message }}"
        "{% if n.resource %} ({{ n.resource }}){% endif %}\n{% endfor %}"
        "{% if more %}- and {{ more }} more\n{% endif %}"
    ), description="Appended to every card's detail when some data could not be used; Jinja "
                   "template")
    max_notes: int = Field(default=10, ge=1, description="Notes listed at most; the rest are "
                                                         "counted in `more`")


class Bundle(_Strict):
    title: str = Field(description="Shown above the findings of the merged cards")
    problems: list[str] = Field(min_length=1, description="Problem keys of the rules it merges",
                                json_schema_extra=vocab("problem"))


class CriticalFinding(_Strict):
    problem: str = Field(description="Problem key whose cards may be critical",
                         json_schema_extra=vocab("problem"))
    hooks: list[str] = Field(default_factory=list, description="Only on these hooks (all if "
                                                               "empty)",
                             json_schema_extra=vocab("hook"))


class IndicatorPolicy(_Strict):
    """One indicator policy for the whole pack: critical only for imminent harm; problems in
    `info` never go above info; everything else is at most a warning."""

    critical: list[CriticalFinding] = Field(default_factory=list, description="The only "
                                            "findings whose cards may be critical")
    info: list[str] = Field(default_factory=list, description="Problem keys shown as info",
                            json_schema_extra=vocab("problem"))

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

    bundles: dict[str, Bundle] = Field(default_factory=dict, description="Bundle id -> the "
                                       "problems whose cards merge into one card")
    safety: list[str] = Field(default_factory=list,
                              description="Problem keys or bundle ids whose cards are always "
                                          "shown", json_schema_extra=vocab("problem_or_bundle"))
    budget: int | None = Field(default=None, ge=0,
                               description="Other cards shown per response, at most (no limit "
                                           "when absent)")
    indicators: IndicatorPolicy | None = Field(default=None, description="The most urgent "
                                               "indicator each problem's cards may have")
