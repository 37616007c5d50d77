"""The facts files of a pack (measures, instruments, medications, value sets, patient status)
as pydantic models: the loaders validate each file with its model (every mistake of a file
reported at its file:line:col) and the JSON Schemas are generated from them
(`cds rules schema`). What needs more than one file (a value-set id that exists, a total
that is a measure's code) is checked by the loaders on the validated models. A field marked
with `vocab(name)` takes its values from the pack (measure ids, value-set ids ...): the
schema builder lists them as an enum.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError


def vocab(name: str) -> dict[str, Any]:
    """`json_schema_extra` of a field whose values are ids drawn from the pack (`name` is a
    vocabulary of cds.authoring.vocabulary); on a list it applies to the items, on a mapping to
    the keys."""
    return {"x-vocab": name}


FRACTION = r"^\s*-?\d+(\.\d+)?\s*(/\s*\d+(\.\d+)?\s*)?$"


def _number(value: Any) -> Any:
    """A number, or a fraction written as text ("1/60") for exact unit factors."""
    if isinstance(value, bool):
        raise ValueError("must be a number")
    if isinstance(value, str):
        num, sep, den = value.replace(" ", "").partition("/")
        try:
            return float(num) / float(den) if sep else float(num)
        except (ValueError, ZeroDivisionError):
            raise ValueError("must be a number (or a fraction such as 1/60)") from None
    return value


def _number_schema(**bounds: float) -> WithJsonSchema:
    return WithJsonSchema({"anyOf": [{"type": "number", **bounds},
                                     {"type": "string", "pattern": FRACTION}]})


Number = Annotated[float, BeforeValidator(_number), _number_schema()]
NonNegative = Annotated[float, BeforeValidator(_number), Field(ge=0), _number_schema(minimum=0)]
Positive = Annotated[float, BeforeValidator(_number), Field(gt=0),
                     _number_schema(exclusiveMinimum=0)]
Ratio = Annotated[float, BeforeValidator(_number), Field(gt=0, lt=1),
                  _number_schema(exclusiveMinimum=0, exclusiveMaximum=1)]
CodeText = Annotated[str, StringConstraints(pattern=r"^\S+#[^#\s]+$")]
Mark = Literal["V", "C", "U"]

_MARK = "Verification mark: V verified, C corroborated only, U unverified"
_SOURCE = "Where the value comes from (source ids of the clinical reference)"
_NOTE = "Free-text note for reviewers"
_RANGE = "[low, high]"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _keyed(key: str, message: str) -> PydanticCustomError:
    """An error of a model's validator about its key `key` (reported at that key)."""
    return PydanticCustomError("operand", message, {"key": key})


# ---- measures.yaml -------------------------------------------------------------------------


class Worsening(_Strict):
    """A series is worsening when it never decreases and rises by `min_delta` or `min_pct`."""

    min_delta: NonNegative | None = Field(default=None, description="Rise last - first that counts "
                                                               "as worsening")
    min_pct: NonNegative | None = Field(default=None, description="Rise in percent of the first "
                                                             "reading that counts as worsening")


class Improving(_Strict):
    max_ratio: Ratio | None = Field(default=None, description="Improving when last <= "
                                                              "max_ratio x first (0 to 1)")


class Chronic(_Strict):
    min_value: NonNegative | None = Field(default=None, description="Readings at or above this "
                                                               "count towards span_ge_90d")
    min_span_days: NonNegative | None = Field(default=None, description="Two such readings "
                                              "this many days apart: span_ge_90d yes")


class TrendOverrides(_Strict):
    """How a series of readings is judged; a measure's `trend` mapping overrides any of these
    keys of `trend_defaults`."""

    window_days: NonNegative | None = Field(default=None, description="Readings older than "
                                                                      "this are not used")
    n: int | None = Field(default=None, ge=2, description="Readings used: the latest, then each "
                                                          "at least min_spacing_days before the "
                                                          "one picked after it")
    min_spacing_days: NonNegative | None = Field(default=None, description="Least days between two "
                                                                      "readings used")
    worsening: Worsening | None = Field(default=None, description="When the trend is "
                                                                  "`worsening`")
    improving: Improving | None = Field(default=None, description="When the trend is "
                                                                  "`improving`")
    chronic: Chronic | None = Field(default=None, description="When `span_ge_90d` is yes")


_ALL_TREND: list[JsonValue] = ["window_days", "n", "min_spacing_days", "worsening",
                               "improving", "chronic"]


class TrendDefaults(TrendOverrides):
    """How every trended measure's series is judged unless the measure overrides a key."""

    model_config = ConfigDict(json_schema_extra={"required": _ALL_TREND})

    @model_validator(mode="after")
    def _complete(self) -> Self:
        missing = [f"{name}.{key}" if key else name for name, key in TREND_LEAVES
                   if trend_leaf(self, name, key) is None]
        if missing:
            raise ValueError(f"every key is needed here: missing {', '.join(missing)}")
        return self


TREND_LEAVES = (("window_days", ""), ("n", ""), ("min_spacing_days", ""),
                 ("worsening", "min_delta"), ("worsening", "min_pct"),
                 ("improving", "max_ratio"), ("chronic", "min_value"),
                 ("chronic", "min_span_days"))


def trend_leaf(trend: TrendOverrides, name: str, key: str) -> Any:
    """trend.name (.key): None when it is not given."""
    value = getattr(trend, name)
    return getattr(value, key) if key and value is not None else value


class CockcroftGault(_Strict):
    creatinine: str = Field(description="Measure id of serum creatinine (mg/dL)",
                            json_schema_extra=vocab("measure"))
    weight: str = Field(description="Measure id of body weight (kg)",
                        json_schema_extra=vocab("measure"))
    weight_within_days: Number = Field(description="The weight must be taken within this many "
                                                   "days of the creatinine")


class Compute(_Strict):
    """A measure derived from others (its facts have method `computed`): exactly one of
    `product` or `cockcroft_gault`."""

    model_config = ConfigDict(json_schema_extra={
        "oneOf": [{"required": ["product"]}, {"required": ["cockcroft_gault"]}]})

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if (self.product is None) == (self.cockcroft_gault is None):
            raise ValueError("'compute' needs exactly one of: cockcroft_gault, product")
        return self

    product: list[str] | None = Field(default=None, min_length=2, max_length=2,
                                      description="Two measure ids: a x b of readings on the "
                                                  "same calendar day",
                                      json_schema_extra=vocab("measure"))
    cockcroft_gault: CockcroftGault | None = Field(
        default=None, description="Creatinine clearance (140 - age) x kg / (72 x mg/dL), "
                                  "x 0.85 if female")
    surrogate: str | None = Field(default=None, description="Measure id whose readings newer "
                                                            "than any computed value are used "
                                                            "as-is, flagged approximate: yes",
                                  json_schema_extra=vocab("measure"))


class Measure(_Strict):
    """One clinical quantity: its `measure`, `missing` and `trend` facts."""

    title: str = Field(description="Human-readable name")
    codes: list[CodeText] | None = Field(default=None, description="Observation codes as "
                                         "system#code (loinc, snomed, local or a URL); a "
                                         "questionnaire total with one of these codes feeds "
                                         "the measure too. Required unless `compute`")
    unit: str = Field(description="Canonical UCUM unit of the fact's value")
    units: dict[str, Positive] | None = Field(default=None, description="Other accepted units "
                                            "(any case) -> factor: canonical = value x factor; "
                                            "a fraction such as 1/60 is allowed")
    unitless: bool | None = Field(default=None, description="true: a value without a unit is "
                                                            "taken as canonical (scores)")
    range: list[Number] = Field(min_length=2, max_length=2,
                                description=f"Plausible {_RANGE} in the canonical unit; a "
                                            "value outside is a data note, never a fact")
    lookback_days: Number | None = Field(default=None, description="A `missing` fact is "
                                         "emitted when no value is this recent")
    trend: bool | TrendOverrides | None = Field(default=None, description="Emit a `trend` "
                                                "fact: true (trend_defaults) or a mapping of "
                                                "overrides")
    mean_nights: int | None = Field(default=None, ge=1, description="The value is the mean of "
                                    "the latest reading per day over this many days ending at "
                                    "the newest reading (sleep)")
    compute: Compute | None = Field(default=None, description="Derive the measure from others")
    mark: Mark | None = Field(default=None, description=_MARK)
    source: str | None = Field(default=None, description=_SOURCE)
    note: str | None = Field(default=None, description=_NOTE)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.range[0] > self.range[1]:
            raise _keyed("range", "'range' low is above high")
        if self.codes is None and self.compute is None:
            raise _keyed("codes", "missing required key 'codes' (required unless 'compute')")
        return self


class MeasuresFile(_Strict):
    """rules/measures.yaml: every clinical quantity the extractor turns into facts."""

    trend_defaults: TrendDefaults = Field(description="How a series of readings is judged "
                                                      "(measures with `trend`)")
    measures: dict[str, Measure] = Field(description="Measure id (used in rules as "
                                                     "`measure: <id>`) -> definition")


# ---- instruments.yaml ----------------------------------------------------------------------


class Reverse(_Strict):
    from_: Number = Field(alias="from", description="Reversed items score from - answer")
    items: list[CodeText] = Field(description="Item codes (system#code) that are reversed")


class Instrument(_Strict):
    """How a QuestionnaireResponse is recognised and scored."""

    title: str = Field(description="Human-readable name")
    canonicals: list[str] | None = Field(default=None, description="Questionnaire canonicals "
                                         "(any |version is ignored)")
    codes: list[CodeText] | None = Field(default=None, description="Questionnaire.code of a "
                                         "referenced Questionnaire, as system#code")
    items: list[CodeText] = Field(min_length=1, description="Scored items in order, as "
                                  "system#code; found by linkId, definition fragment or code")
    aliases: dict[str, str] | None = Field(default=None, description="Other linkIds -> the item "
                                           "code they carry")
    item_range: list[Number] = Field(min_length=2, max_length=2, description=f"{_RANGE} of an "
                                     "answer; outside it the answer is unusable")
    reverse: Reverse | None = Field(default=None, description="Reverse-scored items")
    score: Literal["sum", "mean", "item"] = Field(description="sum or mean of the items; item: "
                                                  "the single item's answer is the score")
    total: CodeText = Field(description="The code the score is reported as: a code of a "
                                        "measure in measures.yaml")
    score_from: list[str] | None = Field(default=None, description="Also score this instrument "
                                         "from the items of a response recognised as one of "
                                         "these", json_schema_extra=vocab("instrument"))
    mark: Mark | None = Field(default=None, description=_MARK)
    source: str | None = Field(default=None, description=_SOURCE)
    note: str | None = Field(default=None, description=_NOTE)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.score == "item" and len(self.items) != 1:
            raise _keyed("score", "'score: item' needs exactly one item")
        keys = {_key(item) for item in self.items}
        if self.reverse is not None and not {_key(i) for i in self.reverse.items} <= keys:
            raise _keyed("reverse", "reverse lists codes that are not items: " + ", ".join(
                sorted({_key(i) for i in self.reverse.items} - keys)))
        for link_id, target in (self.aliases or {}).items():
            if _key(target) not in keys:
                raise _keyed("aliases", f"alias '{link_id}' points at '{target}', not an item")
        return self


def _key(code: str) -> str:
    """The item key of a `system#code`: the code."""
    return code.rpartition("#")[2]


class InstrumentsFile(_Strict):
    """rules/instruments.yaml: how questionnaire responses are recognised and scored."""

    answer_scores: dict[str, dict[str, Number]] = Field(
        description="Code system (loinc, local or a URL) -> answer code -> score; used when an "
                    "answer has no ordinalValue / itemWeight. Never scored from display text")
    instruments: dict[str, Instrument] = Field(description="Instrument id -> definition")


# ---- medications.yaml ----------------------------------------------------------------------


def _lower_case(name: str) -> str:
    if name != name.lower():
        raise ValueError(f"ingredient name '{name}' must be lower case")
    return name


class IngredientSpec(_Strict):
    name: Annotated[str, AfterValidator(_lower_case)] = Field(
        description="Ingredient name, lower case", json_schema_extra={"pattern": r"^[^A-Z]+$"})
    mark: Mark = Field(description=_MARK)
    source: str = Field(description=_SOURCE)
    note: str | None = Field(default=None, description=_NOTE)


class ProductSpec(_Strict):
    tty: Literal["SCD", "SBD", "GPCK", "BPCK", "PIN"] = Field(description="RxNorm term type")
    ingredient: str = Field(description="RxNorm IN code of the mapped ingredient (a key of "
                                        "`ingredients`)", json_schema_extra=vocab("ingredient"))
    strength: str | None = Field(default=None, pattern=r"^\s*\d+(\.\d+)?\s*(mg|ug/h)\s*$",
                                 description="Strength of the ingredient per dose unit, e.g. "
                                             "'30 mg' or '25 ug/h'; required for SCD and SBD")
    display: str = Field(description="RxNorm name of the product")
    mark: Mark = Field(description=_MARK)
    source: str = Field(description=_SOURCE)
    note: str | None = Field(default=None, description=_NOTE)

    @model_validator(mode="after")
    def _strength_given(self) -> Self:
        if self.strength is None and self.tty in ("SCD", "SBD"):
            raise ValueError(f"an {self.tty} needs a 'strength'")
        return self


class MmeFactorSpec(_Strict):
    factor: Number = Field(description="MME/day = daily dose x factor")
    per: Literal["mg/d", "ug/h"] = Field(default="mg/d", description="Unit of the daily dose "
                                         "the factor multiplies (ug/h: transdermal fentanyl)")
    note: str | None = Field(default=None, description=_NOTE)


class Mme(_Strict):
    factors: dict[str, MmeFactorSpec] = Field(description="Ingredient (RxNorm IN) -> CDC "
                                              "conversion factor",
                                              json_schema_extra=vocab("ingredient"))
    excluded: list[str] | None = Field(default=None, description="Opioid ingredients never "
                                       "counted in MME (buprenorphine)",
                                       json_schema_extra=vocab("ingredient"))
    source: str | None = Field(default=None, description=_SOURCE)
    opioid_valuesets: list[str] = Field(description="Members without a factor get 'MME not "
                                        "computed' instead of a silent zero",
                                        json_schema_extra=vocab("valueset"))
    routes: dict[Literal["mg/d", "ug/h"], list[str]] = Field(
        description="Factor unit -> dose-form words it applies to; other dose forms are not "
                    "converted")


class ValueSets(_Strict):
    valuesets: list[str] | None = Field(default=None, description="Value-set ids",
                                        json_schema_extra=vocab("valueset"))


class DoseResponse(_Strict):
    valuesets: list[str] = Field(description="A dose_response fact is emitted for each "
                                 "medication in these value sets",
                                 json_schema_extra=vocab("valueset"))
    measure: str = Field(description="Measure compared before and after the dose change",
                         json_schema_extra=vocab("measure"))


class CnsCount(_Strict):
    valuesets: list[str] = Field(description="Distinct ingredients in these value sets are "
                                 "counted", json_schema_extra=vocab("valueset"))


class Totals(_Strict):
    cns_active_count: CnsCount = Field(description="The `total` fact cns_active_count")


class CurrentTherapySpec(_Strict):
    """When an active order stops counting as current therapy."""

    grace_days: Number = Field(description="Its validity period or expected supply ended more "
                                           "than this many days ago")
    dispense_days: Number = Field(description="It has no dispense in this many days")
    undated_days: Number = Field(description="Stating neither, it was authored more than this "
                                             "many days ago")


class MedicationsFile(_Strict):
    """rules/medications.yaml: ingredients, hand-mapped products, MME factors, dose timing."""

    ingredients: dict[str, IngredientSpec] = Field(description="RxNorm IN code -> ingredient")
    products: dict[str, ProductSpec] = Field(description="RxNorm product code (SCD, SBD, PIN "
                                             "...) -> its one mapped ingredient; takes "
                                             "precedence over the imported product table")
    mme: Mme = Field(description="CDC 2022 morphine milligram equivalent factors")
    timing_codes: dict[str, Number] = Field(description="Timing.code -> administrations per "
                                            "day, used when a dosage has no timing.repeat")
    current_therapy: CurrentTherapySpec = Field(description="When an active order stops "
                                                "counting as current therapy")
    dose_not_needed: ValueSets | None = Field(default=None, description="Medicines whose daily "
                                              "dose no rule uses: no dose, no dose note")
    unknown_products: ValueSets | None = Field(default=None, description="An unknown code whose "
                                               "name mentions a drug of these value sets gets "
                                               "`name_suggests`")
    dose_response: DoseResponse = Field(description="Which medications get dose_response facts")
    totals: Totals = Field(description="Per-patient aggregates (`total` facts)")


# ---- valuesets/<id>.yaml -------------------------------------------------------------------


class CodeEntry(_Strict):
    system: str = Field(description="Code system URL (or short name: loinc, snomed, rxnorm, "
                                    "local ...)")
    code: str | int = Field(description="The code")
    display: str | None = Field(default=None, description="Its name")
    mark: Mark | None = Field(default=None, description=_MARK)
    source: str | None = Field(default=None, description=_SOURCE)
    note: str | None = Field(default=None, description=_NOTE)


class PrefixEntry(_Strict):
    system: str = Field(description="Code system URL (or short name)")
    prefix: str | int = Field(description="Every code of the system starting with this belongs "
                                          "to the set (hierarchies such as ICD-10-CM)")
    display: str | None = Field(default=None, description="Name of the group")
    mark: Mark | None = Field(default=None, description=_MARK)
    source: str | None = Field(default=None, description=_SOURCE)
    note: str | None = Field(default=None, description=_NOTE)


class ValueSetFile(_Strict):
    """rules/valuesets/<id>.yaml: a value set; facts carry the ids of the sets their code is
    in (`valuesets: {contains: <id>}` in rules)."""

    id: str = Field(description="The id rules use (`contains: <id>`); unique in the pack")
    title: str = Field(description="Human-readable name")
    description: str | None = Field(default=None, description="What the set is for")
    applies_to: list[Literal["medication", "condition", "referral", "encounter", "measure"]
                     ] | None = Field(default=None, description="Fact types whose codes are "
                                      "matched against the set (all when absent)")
    codes: list[CodeEntry] | None = Field(default=None, description="Member codes; required "
                                          "unless include or prefixes")
    prefixes: list[PrefixEntry] | None = Field(default=None, description="Code prefixes: every "
                                               "code starting with one is a member")
    include: list[str] | None = Field(default=None, description="Every code of these value "
                                      "sets (the pack's or imported) is a member too",
                                      json_schema_extra=vocab("valueset"))
    exclude: list[str] | None = Field(default=None, description="A fact carrying any code of "
                                      "these value sets is not a member",
                                      json_schema_extra=vocab("valueset"))
    mark: Mark | None = Field(default=None, description=_MARK)
    source: str | None = Field(default=None, description=_SOURCE)
    note: str | None = Field(default=None, description=_NOTE)

    @model_validator(mode="after")
    def _has_members(self) -> Self:
        if self.codes is None and not (self.include or self.prefixes):
            raise ValueError("missing required key 'codes' (required unless include or "
                             "prefixes)")
        return self


# ---- patient-status.yaml -------------------------------------------------------------------


class Pregnancy(_Strict):
    valuesets: list[str] = Field(description="Pregnant when an active Condition is in one of "
                                             "these value sets",
                                 json_schema_extra=vocab("valueset"))
    measure: str | None = Field(default=None, description="Or when the latest reading of this "
                                "measure is 1", json_schema_extra=vocab("measure"))


class PatientStatusFile(_Strict):
    """rules/patient-status.yaml: statuses written onto the `patient` fact."""

    pregnancy: Pregnancy = Field(description="How patient.pregnant (yes/no) is decided")
