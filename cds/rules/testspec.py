"""Format of rule test files (rules/tests/<ID>.yaml): named cases with a pinned clock.

    rule: R02
    now: "2026-06-01T12:00:00Z"
    cases:
      - name: phq9 12 with moderate pain gets an info card
        hook: patient-view                 # default patient-view
        given: {...fixture shorthand...}   # or fixture: ../../fhir_examples/x.json
        expect:
          fires: [R02]
          not_fires: [R04]
          cards: [{rule: R02, indicator: info, summary_contains: "PHQ-9 12"}]

A case gives its patient one of three ways: `given` (the fixture shorthand of
cds.fhir.synth), `fixture` (a CDS Hooks request file, relative to the test file) or `facts`
(a list of facts, bypassing FHIR: for engine-level cases).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Hook = Literal["patient-view", "order-select", "order-sign", "encounter-start",
               "encounter-discharge"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("must carry a time zone, e.g. 2026-06-01T12:00:00Z")
    return value


class CardExpect(_Strict):
    rule: str
    indicator: Literal["info", "warning", "critical"] | None = None
    summary_contains: str | None = None
    detail_contains: str | None = None
    detail_not_contains: str | None = None
    suggestions: int | None = Field(default=None, ge=0, description="Number of suggestions")
    also_from: list[str] | None = None


class Expect(_Strict):
    fires: list[str] = Field(default_factory=list, description="Rules that must give a card")
    not_fires: list[str] = Field(default_factory=list, description="Rules that must not")
    cards: list[CardExpect] = Field(default_factory=list)
    card_count: int | None = Field(default=None, ge=0)


class Case(_Strict):
    name: str = Field(min_length=1)
    hook: Hook = "patient-view"
    now: datetime | None = None
    given: dict[str, Any] | None = None
    fixture: str | None = None
    facts: list[dict[str, Any]] | None = None
    expect: Expect

    @field_validator("now")
    @classmethod
    def _tz(cls, value: datetime | None) -> datetime | None:
        return _aware(value)

    @model_validator(mode="after")
    def _one_source(self) -> Case:
        given = [k for k in ("given", "fixture", "facts") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give the patient one way only, not {' and '.join(given)}")
        return self


class RuleTests(_Strict):
    rule: str
    now: datetime
    cases: list[Case] = Field(min_length=1)

    @field_validator("now")
    @classmethod
    def _tz(cls, value: datetime) -> datetime:
        return _aware(value) or value
