"""Typed, read-only definitions loaded from the pack's facts files (measures, instruments,
medications, value sets). The YAML formats are documented in the header of each file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cds.facts.codes import Code


@dataclass(frozen=True, slots=True)
class TrendDef:
    """How a series of readings is judged (measures.yaml `trend_defaults` / `trend`)."""

    window_days: float
    n: int
    min_spacing_days: float
    worsening_min_delta: float
    worsening_min_pct: float
    improving_max_ratio: float
    chronic_min_value: float
    chronic_min_span_days: float


@dataclass(frozen=True, slots=True)
class ComputeDef:
    """A measure computed from others: `product` of two measures on the same day, or
    `cockcroft_gault` creatinine clearance from creatinine + weight (+ patient age, sex)."""

    kind: str
    inputs: tuple[str, ...]
    within_days: float = 0.0
    surrogate: str | None = None


@dataclass(frozen=True, slots=True)
class MeasureDef:
    id: str
    title: str
    codes: tuple[Code, ...]
    unit: str
    units: Mapping[str, float]  # accepted unit (lower case) -> factor to the canonical unit
    unitless: bool  # a value without a unit is taken to be in the canonical unit
    low: float
    high: float
    lookback_days: float | None
    trend: TrendDef | None
    mean_nights: int | None
    compute: ComputeDef | None


@dataclass(frozen=True, slots=True)
class ItemDef:
    key: str  # the item code, matched against linkId / definition / item code
    code: Code
    reverse: bool


@dataclass(frozen=True, slots=True)
class InstrumentDef:
    id: str
    title: str
    canonicals: frozenset[str]
    codes: frozenset[Code]
    items: tuple[ItemDef, ...]
    aliases: Mapping[str, str]  # other linkIds -> item key
    item_low: float
    item_high: float
    score: str  # sum | mean | item
    reverse_from: float
    total: Code
    score_from: tuple[str, ...]
    keys: frozenset[str] = frozenset()  # item keys, filled from `items`

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", frozenset(item.key for item in self.items))


@dataclass(frozen=True, slots=True)
class Ingredient:
    rxcui: str
    name: str


@dataclass(frozen=True, slots=True)
class Product:
    code: str
    tty: str
    ingredient: str  # RxNorm IN rxcui
    strength: float | None  # per dose unit (tablet, capsule, patch)
    strength_unit: str | None  # "mg" or "ug/h"


@dataclass(frozen=True, slots=True)
class MmeFactor:
    factor: float
    per: str  # "mg/d" or "ug/h": the daily-dose unit the factor multiplies


@dataclass(frozen=True)
class DrugMap:
    ingredients: Mapping[str, Ingredient]
    products: Mapping[str, Product]
    mme: Mapping[str, MmeFactor]
    mme_excluded: frozenset[str]
    timing_codes: Mapping[str, float]  # timing.code -> administrations per day
    dose_response_valuesets: tuple[str, ...]
    dose_response_measure: str
    cns_valuesets: tuple[str, ...]


@dataclass(frozen=True)
class ValueSetDef:
    id: str
    title: str
    applies_to: frozenset[str]  # medication | condition | referral | measure; empty = all
    codes: frozenset[Code]
