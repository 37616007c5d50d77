"""The fact catalogue: every fact type the extractor emits and every field a rule may test.

This is the single source that `cds rules check`, the rule JSON Schema and the extractor
agree on. A fact is a flat dict: `{"id": "<unique>", "type": "<fact type>", <fields>}`.

Value conventions (the rule engine compares loosely, so the extractor normalises):
- every number is a Python float (never int, never bool, never a numeric string);
- every code, status and enumeration is a lower-case string unless it is a code value;
- dates are never compared as strings: `*_days` fields are ages in days before "now",
  `day` fields are days since 1970-01-01 (floats) for joins; ISO strings (`date`) are for
  display only;
- yes/no facts are strings "yes" / "no";
- `valuesets` lists the ids of pack value sets whose codes the fact's code belongs to
  (membership is resolved in Python so the engine never sees long code lists);
- `source` is a relative FHIR reference ("Observation/123") of the resource the fact came
  from, so cards can cite it and suggestions can point at it (reasonReference).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from cds.hookdefs import hook_names

FieldKind = Literal["number", "string", "list"]


@dataclass(frozen=True)
class FactField:
    name: str
    kind: FieldKind
    description: str
    unit: str | None = None
    choices: tuple[str, ...] = ()
    max_len: int = 64  # longest rendering in card text, for the 140-character summary check
    choices_of: Callable[[], tuple[str, ...]] | None = None  # choices read when needed

    @property
    def options(self) -> tuple[str, ...]:
        """The values the field can take (empty: any)."""
        return self.choices_of() if self.choices_of is not None else self.choices


@dataclass(frozen=True)
class FactType:
    name: str
    description: str
    fields: tuple[FactField, ...] = field(default_factory=tuple)

    def field(self, name: str) -> FactField | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None


_f = FactField


_COMMON = (
    _f("id", "string", "Unique fact id within one call", max_len=40),
    _f("type", "string", "Fact type name", max_len=20),
)
_SOURCE = _f("source", "string", "Relative reference of the source resource", max_len=80)
_DATE = _f("date", "string", "ISO date of the value (display only)", max_len=10)
_AGE = _f("age_days", "number", "Days between the value's date and now", unit="d", max_len=5)
_DAY = _f("day", "number", "Days since 1970-01-01 of the value's date (for joins)", max_len=6)
_VALUESETS = _f("valuesets", "list", "Ids of pack value sets containing this fact's code")
_CODE = _f("code", "string", "The code (first coding matched by a value set, else first)")
_SYSTEM = _f("system", "string", "The code system URL of `code`", max_len=80)
_DISPLAY = _f("display", "string", "Human-readable name", max_len=60)

FACT_TYPES: dict[str, FactType] = {
    t.name: t
    for t in (
        FactType(
            "context",
            "The hook call itself; exactly one per call.",
            (
                *_COMMON,
                _f("hook", "string", "The hook that triggered the call",
                   choices_of=hook_names),
                _f("service", "string", "The CDS service id called"),
            ),
        ),
        FactType(
            "patient",
            "Demographics from the Patient resource; at most one per call.",
            (
                *_COMMON,
                _SOURCE,
                _f("age", "number", "Age in whole years at now", unit="a", max_len=3),
                _f("sex", "string", "Administrative gender",
                   choices=("male", "female", "other", "unknown")),
                _f("pregnant", "string", "yes when pregnant or lactating by an active Condition "
                   "or the latest pregnancy status (rules/patient-status.yaml)",
                   choices=("yes", "no")),
            ),
        ),
        FactType(
            "measure",
            "The latest value of one measure (pack `measures.yaml`) from an Observation or a "
            "scored QuestionnaireResponse. One per measure that has a value.",
            (
                *_COMMON,
                _f("measure", "string", "Measure id from measures.yaml, e.g. phq9, pain_nrs"),
                _f("value", "number", "The value in the measure's canonical unit", max_len=5),
                _f("unit", "string", "Canonical UCUM unit of the measure", max_len=10),
                _AGE,
                _DAY,
                _DATE,
                _SOURCE,
                _f("method", "string", "How the value was obtained",
                   choices=("observation", "questionnaire", "computed")),
                _f("approximate", "string", "yes when derived from a surrogate (e.g. eGFR for "
                   "CrCl)", choices=("yes", "no")),
                _f("code", "string", "The code the value came from (e.g. 72514-3 NRS or "
                   "91147-9 PEG for `pain`); absent for computed values", max_len=12),
            ),
        ),
        FactType(
            "missing",
            "A measure with no usable value within its lookback window (measures.yaml).",
            (
                *_COMMON,
                _f("measure", "string", "Measure id"),
                _f("lookback_days", "number", "The window searched", unit="d", max_len=4),
                _f("last_age_days", "number", "Age of the newest value outside the window, if "
                   "any", unit="d", max_len=5),
            ),
        ),
        FactType(
            "trend",
            "The last readings of a trended measure within its trend window.",
            (
                *_COMMON,
                _f("measure", "string", "Measure id"),
                _f("direction", "string", "Per the pack's trend definition; insufficient when "
                   "fewer readings than the definition needs are spaced within the window",
                   choices=("worsening", "improving", "stable", "insufficient")),
                _f("n", "number", "Readings used", max_len=2),
                _f("first", "number", "First reading used", max_len=5),
                _f("last", "number", "Last reading used", max_len=5),
                _f("delta", "number", "last - first", max_len=6),
                _f("pct_change", "number", "100 * (last - first) / first", unit="%", max_len=6),
                _f("span_days", "number", "Days between first and last reading", max_len=4),
                _f("first_date", "string", "ISO date of the first reading", max_len=10),
                _f("last_date", "string", "ISO date of the last reading", max_len=10),
                _f("nondecreasing", "string", "yes when every reading >= the one before",
                   choices=("yes", "no")),
                _f("span_ge_90d", "string", "yes when two readings at or above the chronic "
                   "threshold (measures.yaml, pain 4) are at least 90 days apart",
                   choices=("yes", "no")),
            ),
        ),
        FactType(
            "medication",
            "An active or draft medication (MedicationRequest, MedicationStatement, draft order).",
            (
                *_COMMON,
                _SOURCE,
                _f("ingredient", "string", "Ingredient name, lower case", max_len=30),
                _f("rxcui", "string", "RxNorm ingredient (IN) code", max_len=10),
                _CODE,
                _SYSTEM,
                _DISPLAY,
                _VALUESETS,
                _f("status", "string", "active or draft (draft = context.draftOrders)",
                   choices=("active", "draft")),
                _f("is_new", "string", "yes for a draft whose ingredient is not already active",
                   choices=("yes", "no")),
                _f("named", "string", "Unknown code only: yes when the order has a name",
                   choices=("yes", "no")),
                _f("name_suggests", "string", "Unknown code only: the ingredient its name "
                   "mentions (an ingredient or brand name of the pack's products)", max_len=40),
                _f("daily_dose", "number", "Daily dose in mg (mcg/h for patches)", max_len=6),
                _f("dose_unit", "string", "mg/d or ug/h", max_len=6),
                _f("dose_days", "number", "Days the current dose has been unchanged", unit="d",
                   max_len=4),
                _f("mme", "number", "Morphine milligram equivalents per day (opioids)",
                   max_len=6),
            ),
        ),
        FactType(
            "indication",
            "The stated indication of a medication (its reasonCode), one per medication fact "
            "whose order gives one.",
            (
                *_COMMON,
                _SOURCE,
                _f("medication", "string", "Fact id of the medication", max_len=40),
                _f("valuesets", "list", "Condition value sets of the reasonCode codes"),
            ),
        ),
        FactType(
            "dose_response",
            "Change of a trended measure since a medication's current dose started.",
            (
                *_COMMON,
                _f("medication", "string", "Fact id of the medication", max_len=40),
                _f("ingredient", "string", "Ingredient name", max_len=30),
                _f("measure", "string", "Measure id (pain series)"),
                _f("baseline", "number", "Last value on or before the dose start", max_len=5),
                _f("baseline_date", "string", "ISO date of the baseline", max_len=10),
                _f("latest", "number", "Latest value", max_len=5),
                _f("latest_age_days", "number", "Age of the latest value", unit="d", max_len=4),
                _f("pct_change", "number", "100 * (latest - baseline) / baseline", unit="%",
                   max_len=6),
            ),
        ),
        FactType(
            "condition",
            "An active, not refuted Condition.",
            (*_COMMON, _SOURCE, _CODE, _SYSTEM, _DISPLAY, _VALUESETS, _AGE),
        ),
        FactType(
            "referral",
            "A ServiceRequest (active, draft, on-hold or completed) or a Procedure (therapy).",
            (
                *_COMMON,
                _SOURCE,
                _CODE,
                _SYSTEM,
                _DISPLAY,
                _VALUESETS,
                _f("resource", "string", "servicerequest or procedure",
                   choices=("servicerequest", "procedure")),
                _f("status", "string", "FHIR status, lower case", max_len=16),
                _AGE,
                _f("reason_valuesets", "list", "Value sets of its reasonCode codes"),
                _f("category_valuesets", "list", "Value sets of its category codes (e.g. "
                   "surgical procedure), when it has a category"),
            ),
        ),
        FactType(
            "encounter",
            "An Encounter or EpisodeOfCare (not cancelled or entered in error), coded by its "
            "type, reason, service type and discharge disposition.",
            (
                *_COMMON,
                _SOURCE,
                _CODE,
                _SYSTEM,
                _DISPLAY,
                _VALUESETS,
                _f("resource", "string", "encounter or episodeofcare",
                   choices=("encounter", "episodeofcare")),
                _f("status", "string", "FHIR status, lower case", max_len=16),
                _f("age_days", "number", "Days since the period ended (or started, when it "
                   "has no end)", unit="d", max_len=5),
            ),
        ),
        FactType(
            "total",
            "A per-patient aggregate, e.g. mme_per_day, cns_active_count.",
            (
                *_COMMON,
                _f("name", "string", "Aggregate name"),
                _f("value", "number", "The aggregate", max_len=6),
                _f("includes_draft", "string", "yes when draft orders contributed",
                   choices=("yes", "no")),
                _f("uncounted", "string", "mme_per_day: opioids whose MME could not be "
                   "computed (no CDC factor, route, or daily dose), comma-separated",
                   max_len=60),
            ),
        ),
    )
}
