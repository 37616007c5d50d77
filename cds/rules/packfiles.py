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
    shown alone when there are such notes but no rule fired; `also_from` names the rules whose
    cards were merged into another card of the same problem. All are Jinja templates:
    `notes` (kind, message, resource), `more` (notes left out beyond `max_notes`) and
    `others` (id, title) are available.
    """

    card: DataQualityCard | None = None
    section: str = (
        "\n\n**Data not used**\n\n{% for n in notes %}- {{ n.message }}"
        "{% if n.resource %} ({{ n.resource }}){% endif %}\n{% endfor %}"
        "{% if more %}- and {{ more }} more\n{% endif %}"
    )
    also_from: str = (
        "\n\nAlso proposed by: {% for r in others %}{{ r.id }} ({{ r.title }})"
        "{% if not loop.last %}; {% endif %}{% endfor %}."
    )
    max_notes: int = Field(default=10, ge=1)
