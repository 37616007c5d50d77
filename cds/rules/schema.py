"""The rule-file format: pydantic models that `cds rules schema` exports as JSON Schema.

A rule file reads top to bottom as what / why / when / then:

    id, version, title, hooks, priority, problem         what it is
    evidence, citations, source                          why (every card cites its source)
    when, unless                                         when (conditions over facts)
    card (+ variants), suppression                       then (what the clinician sees)

Conditions
----------
`when` is a tree of `all` / `any` groups whose leaves are *patterns*: one fact of a given
type whose fields pass tests, bound to a name (the *binding*) that card text can use::

    when:
      all:
        - bind: pain
          fact: measure
          where: {measure: pain, value: {gte: "@pain.moderate"}, age_days: {lte: 30}}
        - any:
            - {bind: phq9, fact: measure, where: {measure: phq9, value: {gte: 10}}}
            - {bind: gad7, fact: measure, where: {measure: gad7, value: {gte: 10}}}
        - use: chronic_pain_patient          # a named condition from definitions.yaml

Field tests: a plain scalar means equality; otherwise one or more of `eq ne lt lte gt gte`
(numbers or strings), `in` (list of allowed values), `contains` (a value-set id that must be
in a list field such as `valuesets`), `exists` (true/false). A value may be a parameter
reference `"@group.name"` (rules/parameters.yaml) or a join `{ref: binding.field}` to a
field of a fact bound earlier in the same `all`.

`unless` lists patterns that veto a match (absence logic without engine negation): the rule
fires only when none of them matches together with the rule's own bindings.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    JsonValue,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from cds.facts.formats import vocab
from cds.hookdefs import HookName
from cds.rules.operators import OPERATORS, Ref, Scalar
from cds.suggest import unknown

RULE_ID = r"^[A-Z][A-Z0-9]*(-[A-Za-z0-9]+)*$"
BINDING = r"^[a-z][a-z0-9_]*$"
PARAM_REF = re.compile(r"^@[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")


# A number field that may also be a parameter reference ("@group.name"): the JSON Schema
# lists the pack's numeric parameters there.
_PARAM: dict[str, JsonValue] = {"x-param": "number"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class FieldTest(BaseModel):
    """Tests on one fact field, operator -> operand (cds.rules.operators); several operators
    in one test must all hold."""

    model_config = ConfigDict(frozen=True)

    tests: dict[str, Any]  # operator name -> its operand as read

    @model_validator(mode="before")
    @classmethod
    def _read_operators(cls, data: Any) -> Any:
        if isinstance(data, FieldTest) or not isinstance(data, dict) or set(data) == {"tests"}:
            return data
        tests = {}
        for key, raw in data.items():
            operator = OPERATORS.get(key)
            if operator is None:
                raise PydanticCustomError("unknown_key", "{message}", {
                    "key": key, "message": unknown("operator", str(key), OPERATORS)})
            try:
                tests[key] = operator.operand.validate_python(raw)
            except ValidationError as exc:
                message = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
                raise PydanticCustomError("operand", "{message}", {
                    "key": key, "message": message}) from None
        return {"tests": tests}


def _where_kind(value: Any) -> str:
    """A field's test: operators (mapping), an equality join `{ref: b.f}`, or a value."""
    if isinstance(value, Ref) or (isinstance(value, dict) and set(value) == {"ref"}):
        return "ref"
    return "test" if isinstance(value, dict | FieldTest) else "value"


class Pattern(_Strict):
    """One fact of type `fact` whose fields pass `where`, bound to the name `bind`."""

    bind: str = Field(pattern=BINDING, description="Name of the matched fact in card text "
                      "(e.g. `{{ pain.value }}`); lower case, digits and _")
    fact: str = Field(description="Fact type from the fact catalogue")
    where: dict[
        str,
        Annotated[
            Annotated[FieldTest, Tag("test")]
            | Annotated[Ref, Tag("ref")]
            | Annotated[Scalar, Tag("value")],
            Discriminator(_where_kind),
        ],
    ] = Field(default_factory=dict, description="Field -> test; every test must hold (no "
              "`where`: any fact of the type)")


class Use(_Strict):
    """Insert a named condition from definitions.yaml."""

    use: str = Field(pattern=BINDING, description="Name of the definition")


class AllGroup(_Strict):
    """Every condition holds (their bindings join)."""

    all: list[Condition] = Field(min_length=1, description="Conditions that must all hold")


class AnyGroup(_Strict):
    """At least one condition holds; each alternative is tried (the first that matches binds
    its names)."""

    any: list[Condition] = Field(min_length=1, description="Alternatives; one must hold")


def _condition_kind(value: Any) -> str:
    """The condition form by its key: all / any / use, otherwise a pattern."""
    if isinstance(value, BaseModel):
        kinds: dict[type[BaseModel], str] = {AllGroup: "all", AnyGroup: "any", Use: "use"}
        return kinds.get(type(value), "pattern")
    if isinstance(value, dict):
        for key in ("all", "any", "use"):
            if key in value:
                return key
    return "pattern"


Condition = Annotated[
    Annotated[Pattern, Tag("pattern")]
    | Annotated[Use, Tag("use")]
    | Annotated[AllGroup, Tag("all")]
    | Annotated[AnyGroup, Tag("any")],
    Discriminator(_condition_kind),
]
Exclusion = Annotated[
    Annotated[Pattern, Tag("pattern")] | Annotated[Use, Tag("use")],
    Discriminator(_condition_kind),
]
AllGroup.model_rebuild()
AnyGroup.model_rebuild()


class Citation(_Strict):
    id: str = Field(description="Source id, e.g. NICE-NG193-2021 (clinical-content §3.2)")
    label: str = Field(description="The citation as readers see it")
    url: str | None = Field(default=None, description="Link to the source (one citation of a "
                                                      "rule at least must have one)")
    note: str | None = Field(default=None, description="Which part of the source applies")


class Evidence(_Strict):
    statement: str = Field(description="The guideline statement in one or two sentences")
    strength: str | None = Field(default=None, description="Strength of recommendation and "
                                                           "evidence type, where known")
    marks: list[str] = Field(
        default_factory=list,
        description="V/C/U marks of the facts the rule relies on, e.g. 'PHQ-9 bands: V (S3)'",
    )


class CardSource(_Strict):
    """The card's `source` (CDS Hooks): where its advice comes from."""

    label: str = Field(description="Shown as the card's source; may be a Jinja template")
    url: str | None = Field(default=None, description="Link to the source; may be a Jinja "
                                                      "template")
    icon: str | None = Field(default=None, description="URL of an icon for the source")
    topic: dict[str, str] | None = Field(default=None, description="A Coding (system, code, "
                                         "display) of the card's topic")


class ResourceRef(_Strict):
    """A FHIR resource built from a template in rules/templates/, filled with `with`."""

    template: str = Field(description="Template name: rules/templates/<name>.yaml",
                          json_schema_extra=vocab("template"))
    with_: dict[str, Any] = Field(default_factory=dict, alias="with",
                                  description="Values for the template's variables (text may "
                                              "be Jinja over the rule's bindings)")


class ActionSpec(_Strict):
    type: Literal["create", "update", "delete"] = Field(description="What the EHR is asked "
                                                                    "to do with the resource")
    description: str = Field(description="Shown to the clinician; Jinja template")
    resource: ResourceRef | None = Field(default=None, description="The resource to create or "
                                                                   "update, from a template")
    resourceId: str | None = Field(default=None, description="Template, e.g. '{{ drug.source }}'")
    setStatus: Literal["stopped", "on-hold", "cancelled"] | None = Field(
        default=None,
        description="update only: the resource named by resourceId, as the EHR sent it, with "
                    "this status (stops or holds the current order a new draft replaces); "
                    "without that resource the whole suggestion is left out")
    when: str | None = Field(default=None, description="Jinja expression; omit action if false")

    @model_validator(mode="after")
    def _set_status(self) -> ActionSpec:
        if self.setStatus is not None and (self.type != "update" or not self.resourceId
                                           or self.resource is not None):
            raise ValueError("setStatus needs type: update and resourceId, and no resource")
        return self


class SuggestionSpec(_Strict):
    """A proposal the clinician can accept; left out when none of its actions applies."""

    label: str = Field(description="Button text; Jinja template")
    isRecommended: bool | None = Field(default=None, description="Marked as the recommended "
                                                                 "suggestion")
    when: str | None = Field(default=None, description="Jinja expression; omit if false")
    actions: list[ActionSpec] = Field(min_length=1, description="What accepting it does")


class LinkSpec(_Strict):
    label: str = Field(description="Link text; Jinja template")
    url: str = Field(description="Absolute URL, or a SMART app launch URL; Jinja template")
    type: Literal["absolute", "smart"] = Field(default="absolute", description="absolute: a "
                                               "web page; smart: a SMART app to launch")
    appContext: str | None = Field(default=None, description="smart only: context passed to "
                                                             "the app; Jinja template")
    when: str | None = Field(default=None, description="Jinja expression; omit the link if "
                                                       "false")


class CardVariant(_Strict):
    """Overrides applied when `when` (a Jinja expression over the bindings) is true.

    Variants are tried in order; the first that holds wins.
    """

    when: str = Field(description="Jinja expression over the bindings and params")
    indicator: Literal["info", "warning", "critical"] | None = Field(
        default=None, description="Replaces the card's indicator")
    summary: str | None = Field(default=None, description="Replaces the card's summary; Jinja "
                                                          "template, under 140 characters")
    detail: str | None = Field(default=None, description="Replaces the card's detail; Jinja "
                                                         "template (markdown)")
    suggestions: list[SuggestionSpec] | None = Field(default=None, description="Replace the "
                                                     "card's suggestions ([] removes them)")


class CardSpec(_Strict):
    """What the clinician sees when the rule fires."""

    indicator: Literal["info", "warning", "critical"] = Field(
        description="Urgency; critical only for imminent harm (card-policy.yaml caps it)")
    summary: str = Field(description="Jinja template; the rendered text must stay < 140 chars")
    detail: str = Field(description="Jinja template producing GitHub-flavoured markdown")
    variants: list[CardVariant] = Field(default_factory=list, description="Alternatives "
                                        "tried in order; the first whose `when` holds "
                                        "overrides the parts it gives")
    suggestions: list[SuggestionSpec] = Field(default_factory=list,
                                              description="Proposals the clinician can accept")
    selectionBehavior: Literal["at-most-one", "any"] | None = Field(
        default=None, description="How many suggestions may be accepted (default "
                                  "at-most-one)")
    overrideReasons: list[str] = Field(
        default_factory=list, description="Ids from rules/override-reasons.yaml",
        json_schema_extra=vocab("override_reason"),
    )
    links: list[LinkSpec] = Field(default_factory=list, description="Links shown on the card")


class Suppression(_Strict):
    """How long an overridden card stays hidden for the same patient."""

    default_days: float = Field(default=30, ge=0, description="Days an overridden card "
                                "stays hidden", json_schema_extra=_PARAM)
    max_days: float | None = Field(default=None, ge=0, description="Hard cap (safety cards)",
                                   json_schema_extra=_PARAM)
    by_reason: dict[str, float] = Field(
        default_factory=dict, description="Override-reason id -> days",
        json_schema_extra={**vocab("override_reason"), **_PARAM},
    )


class Rule(_Strict):
    id: str = Field(pattern=RULE_ID, description="Stable id, never reused, e.g. R02")
    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", description="Short name in the file "
                                                                  "name, e.g. mood-anxiety")
    version: str = Field(pattern=r"^\d+\.\d+\.\d+$", description="Semantic version; "
                         "cards carry it (bump on any change)")
    title: str = Field(description="What the rule is about; under 140 characters (it stands "
                                   "in for a summary that cannot render)")
    hooks: list[HookName] = Field(min_length=1, description="CDS Hooks the rule runs on")
    priority: int = Field(default=50, ge=0, le=1000, description="Lower renders first")
    problem: str | None = Field(
        default=None,
        description="Clinical problem key; cards of rules sharing it merge into one",
    )
    enabled: bool = Field(default=True, description="false: the rule never runs")
    evidence: Evidence = Field(description="Why: the guideline statement behind the rule")
    citations: list[Citation] = Field(
        min_length=1, description="Sources; at least one with a url",
        json_schema_extra={"contains": {"required": ["url"],
                                        "properties": {"url": {"type": "string"}}}})
    source: CardSource = Field(description="The card's source (CDS Hooks `source`)")
    when: Condition = Field(description="When the rule fires: a pattern, `all`, `any` or "
                                        "`use`")
    unless: list[Exclusion] = Field(default_factory=list, description="Patterns (or `use`) "
                                    "that veto a match: the rule fires only when none matches")
    card: CardSpec = Field(description="What the clinician sees")
    suppression: Suppression = Field(default_factory=Suppression, description="How long an "
                                     "overridden card stays hidden")

    @field_validator("citations")
    @classmethod
    def _cited(cls, value: list[Citation]) -> list[Citation]:
        if not any(c.url for c in value):
            raise ValueError("at least one citation needs a url")
        return value


class RuleFile(Rule):
    """A file in rules/rules/: exactly one rule."""


class Definitions(_Strict):
    """rules/definitions.yaml: named conditions shared by rules (`use: name`)."""

    definitions: dict[str, Condition] = Field(
        description="Name (used as `use: <name>`) -> condition",
        json_schema_extra={"propertyNames": {"pattern": BINDING}})

