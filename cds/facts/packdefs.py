"""Typed, read-only definitions loaded from the pack's facts files (measures, instruments,
medications, value sets). The YAML formats are documented in the header of each file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

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
class ProductPart:
    """One ingredient of a product and its strength per unit of the dose form."""

    rxcui: str | None  # RxNorm IN, when the pack knows the ingredient's code
    name: str  # ingredient name, lower case, without salt words
    strength: float | None
    unit: str | None  # mg | ug/h | mg/mL | mg/actuat | a unit that is never converted


@dataclass(frozen=True, slots=True)
class Product:
    code: str
    tty: str  # SCD | SBD | GPCK | BPCK | PIN
    parts: tuple[ProductPart, ...]
    dose_form: str = ""
    volume_ml: float | None = None  # mL per unit (prefilled syringe, cartridge)


@dataclass(frozen=True, slots=True)
class MmeFactor:
    factor: float
    per: str  # "mg/d" or "ug/h": the daily-dose unit the factor multiplies


@dataclass(frozen=True, slots=True)
class CurrentTherapy:
    """When an active order stops counting as current therapy (medications.yaml)."""

    grace_days: float
    dispense_days: float
    undated_days: float


@dataclass(frozen=True)
class DrugMap:
    ingredients: Mapping[str, Ingredient]
    products: Mapping[str, Product]  # medications.yaml products, then the imported table
    mme: Mapping[str, MmeFactor]
    mme_excluded: frozenset[str]
    mme_valuesets: frozenset[str]  # opioids: without a factor they get "MME not computed"
    mme_routes: Mapping[str, tuple[str, ...]]  # factor unit -> dose-form words it applies to
    timing_codes: Mapping[str, float]  # timing.code -> administrations per day
    current_therapy: CurrentTherapy
    dose_not_needed: frozenset[str]  # value sets whose members get no daily dose (naloxone)
    dose_response_valuesets: tuple[str, ...]
    dose_response_measure: str
    cns_valuesets: tuple[str, ...]
    name_valuesets: tuple[str, ...] = ()  # unknown codes: names matched against these sets
    # Ingredient and brand names the pack knows, as word tuples -> ingredient name; matched
    # against the name of an order whose code is unknown (cds/facts/products_table.py).
    names: Mapping[tuple[str, ...], tuple[str, ...]] = field(default_factory=dict)
    names_max_words: int = 0

    def name_suggests(self, name_words: tuple[str, ...]) -> str | None:
        """The ingredients a product name mentions by ingredient or brand name ("oxycodone",
        "alprazolam, oxycodone"), or None."""
        found: list[str] = []
        for n in range(min(self.names_max_words, len(name_words)), 0, -1):
            for i in range(len(name_words) - n + 1):
                for ingredient in self.names.get(name_words[i:i + n], ()):
                    if ingredient not in found:
                        found.append(ingredient)
        return ", ".join(sorted(found)[:3]) or None


@dataclass(frozen=True)
class ValueSetDef:
    id: str
    title: str
    applies_to: frozenset[str]  # medication | condition | referral | encounter | measure
    codes: frozenset[Code]
    excludes: frozenset[Code] = frozenset()  # a fact with any of these codes is not a member
    prefixes: frozenset[Code] = frozenset()  # (system, code prefix): a hierarchy (ICD-10-CM S)


@dataclass(frozen=True)
class PregnancyDef:
    """How `patient.pregnant` is decided (rules/patient-status.yaml)."""

    valuesets: frozenset[str]  # an active Condition in one of these
    measure: str | None  # or the latest reading of this measure is 1
