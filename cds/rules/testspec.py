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
cds.authoring.synth), `fixture` (a CDS Hooks request file, relative to the test file) or `facts`
(a list of facts, bypassing FHIR: for engine-level cases).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from cds.facts.formats import vocab
from cds.hookdefs import HookName
from cds.rules.synth_spec import FactSpec, Given


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _SchemaOf:
    """A field read as plain data whose JSON Schema is that of a stricter model (the editor
    checks the fixture shorthand; its builders take dicts)."""

    def __init__(self, model: type[BaseModel]) -> None:
        self.model = model

    def __get_pydantic_json_schema__(self, _core: CoreSchema, handler: GetJsonSchemaHandler
                                     ) -> JsonSchemaValue:
        return handler(self.model.__pydantic_core_schema__)


_RULE = vocab("tested_rule")
_TIME = "ISO 8601 date-time with a time zone, e.g. 2026-06-01T12:00:00Z"


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("must carry a time zone, e.g. 2026-06-01T12:00:00Z")
    return value


class CardExpect(_Strict):
    """A card the case must give."""

    rule: str = Field(description="The rule whose card it is", json_schema_extra=_RULE)
    indicator: Literal["info", "warning", "critical"] | None = Field(
        default=None, description="Its indicator")
    summary_contains: str | None = Field(default=None, description="Text its summary contains")
    detail_contains: str | None = Field(default=None, description="Text its detail contains")
    detail_not_contains: str | None = Field(default=None, description="Text its detail must "
                                                                      "not contain")
    suggestions: int | None = Field(default=None, ge=0, description="Number of suggestions")
    also_from: list[str] | None = Field(default=None, description="Rules merged into the card "
                                        "(alsoFrom)", json_schema_extra=vocab("rule"))


class Expect(_Strict):
    fires: list[str] = Field(default_factory=list, description="Rules that must give a card",
                             json_schema_extra=_RULE)
    not_fires: list[str] = Field(default_factory=list, description="Rules that must not",
                                 json_schema_extra=_RULE)
    cards: list[CardExpect] = Field(default_factory=list, description="Cards the response "
                                                                      "must hold")
    card_count: int | None = Field(default=None, ge=0, description="Exact number of cards")


class Case(_Strict):
    """One named case: a patient (given, fixture or facts), a hook, what must happen."""

    name: str = Field(min_length=1, description="What the case shows, as a clinical sentence")
    hook: HookName = Field(default="patient-view", description="The hook called")
    now: datetime | None = Field(default=None, description=f"Overrides the file's now; {_TIME}")
    given: Annotated[dict[str, Any], _SchemaOf(Given)] | None = Field(
        default=None, description="The patient in the fixture shorthand")
    fixture: str | None = Field(default=None, description="A CDS Hooks request file, relative "
                                                          "to this test file")
    facts: list[Annotated[dict[str, Any], _SchemaOf(FactSpec)]] | None = Field(
        default=None, description="Facts given directly, bypassing FHIR")
    expect: Expect = Field(description="What must (not) happen")

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
    """rules/tests/<ID>.yaml: one rule's test cases."""

    rule: str = Field(description="The rule tested", json_schema_extra=vocab("rule"))
    now: datetime = Field(description=f"The pinned clock of every case; {_TIME}")
    cases: list[Case] = Field(min_length=1, description="Named cases")

    @field_validator("now")
    @classmethod
    def _tz(cls, value: datetime) -> datetime:
        return _aware(value) or value
