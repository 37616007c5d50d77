"""The keys of the fixture shorthand (synth.py) as pydantic models, for the JSON Schema of
rule test files (`given:`): editors complete and check them. The builders read plain dicts."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cds.facts.formats import vocab

_DAYS_AGO = "Days before the test's now (default 0)"
_ID = "Resource id (default: a numbered id such as obs-1)"
_SYSTEM = "Code system: short name (loinc, snomed, rxnorm, local ...) or URL"
_REASON = "reasonCode codes of the order"
_REASON_SYSTEM = "System of the reason codes (default snomed)"
Code = str | int


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PatientSpec(_Spec):
    age: int | None = Field(default=None, ge=0, description="Age in years (birthDate is "
                                                            "computed from now)")
    sex: Literal["male", "female", "other", "unknown"] | None = Field(
        default=None, description="Administrative gender")


class ObservationSpec(_Spec):
    code: Code = Field(description="Observation code (LOINC unless `system`)")
    system: str | None = Field(default=None, description=_SYSTEM)
    value: float | str | None = Field(default=None, description="valueQuantity value (text: "
                                      "a valueString, for broken-data cases)")
    unit: str | None = Field(default=None, description="UCUM unit (default: the measure's "
                                                       "unit in measures.yaml)")
    answer: str | None = Field(default=None, description="LOINC answer code "
                                                         "(valueCodeableConcept)")
    days_ago: float | None = Field(default=None, description=_DAYS_AGO)
    status: str | None = Field(default=None, description="Observation status (default final)")
    id: str | None = Field(default=None, description=_ID)


class QuestionnaireSpec(_Spec):
    instrument: str = Field(description="Instrument id from instruments.yaml",
                            json_schema_extra=vocab("instrument"))
    answers: list[float | None] = Field(description="One answer per item, in order; null "
                                        "leaves the item out (an incomplete response)")
    style: Literal["la", "ordinal", "integer"] | None = Field(
        default=None, description="la: LOINC answer codes; ordinal: ordinalValue extension; "
                                  "integer: valueInteger")
    days_ago: float | None = Field(default=None, description=_DAYS_AGO)
    status: str | None = Field(default=None, description="Response status (default "
                                                         "completed)")
    id: str | None = Field(default=None, description=_ID)


class MedicationSpec(_Spec):
    rxnorm: Code = Field(description="RxNorm code of the product or ingredient")
    display: str | None = Field(default=None, description="Its name")
    dose_mg: float | None = Field(default=None, description="Dose per administration in mg")
    dose: float | None = Field(default=None, description="Dose per administration in "
                                                         "`dose_unit`")
    dose_unit: str | None = Field(default=None, description="Unit of `dose` (default mg), e.g. "
                                                            "{tbl} or patch")
    times_per_day: float | None = Field(default=None, description="Administrations per day")
    every_hours: float | None = Field(default=None, description="One administration every N "
                                                                "hours")
    timing_code: str | None = Field(default=None, description="Timing.code, e.g. BID")
    as_needed: bool | None = Field(default=None, description="PRN")
    days_ago: float | None = Field(default=None, description=_DAYS_AGO)
    status: str | None = Field(default=None, description="Status (default active)")
    kind: Literal["request", "statement"] | None = Field(
        default=None, description="MedicationRequest (default) or MedicationStatement")
    draft: bool | None = Field(default=None, description="true: an order being signed "
                                                         "(context.draftOrders)")
    intent: str | None = Field(default=None, description="Request intent (default order)")
    supply_days: float | None = Field(default=None, description="Expected supply duration")
    repeats: int | None = Field(default=None, description="Repeats allowed (with supply_days)")
    dispensed_days_ago: float | None = Field(default=None, description="Adds a completed "
                                             "MedicationDispense this many days ago")
    reason: list[Code] | None = Field(default=None, description=_REASON)
    reason_system: str | None = Field(default=None, description=_REASON_SYSTEM)
    id: str | None = Field(default=None, description=_ID)


class ConditionSpec(_Spec):
    code: Code = Field(description="Condition code (SNOMED CT unless `system`)")
    system: str | None = Field(default=None, description=_SYSTEM)
    display: str | None = Field(default=None, description="Its name")
    days_ago: float | None = Field(default=None, description="Onset, days before now")
    clinical_status: str | None = Field(default=None, description="Default active")
    verification_status: str | None = Field(default=None, description="Default confirmed")
    id: str | None = Field(default=None, description=_ID)


class ReferralSpec(_Spec):
    code: Code = Field(description="Service or procedure code (SNOMED CT unless `system`)")
    system: str | None = Field(default=None, description=_SYSTEM)
    display: str | None = Field(default=None, description="Its name")
    resource: Literal["servicerequest", "procedure"] | None = Field(
        default=None, description="ServiceRequest (default) or Procedure")
    status: str | None = Field(default=None, description="FHIR status (default active; "
                                                         "completed for a procedure)")
    days_ago: float | None = Field(default=None, description=_DAYS_AGO)
    reason: list[Code] | None = Field(default=None, description="reasonCode codes")
    reason_system: str | None = Field(default=None, description=_REASON_SYSTEM)
    category: Code | None = Field(default=None, description="Procedure category (SNOMED CT), "
                                                            "e.g. 387713003 surgical")
    intent: str | None = Field(default=None, description="Request intent (default order)")
    draft: bool | None = Field(default=None, description="true: a draft order in "
                                                         "context.draftOrders")
    id: str | None = Field(default=None, description=_ID)


class EncounterSpec(_Spec):
    code: Code = Field(description="Encounter or episode type code (SNOMED CT unless "
                                   "`system`)")
    system: str | None = Field(default=None, description=_SYSTEM)
    display: str | None = Field(default=None, description="Its name")
    resource: Literal["encounter", "episodeofcare"] | None = Field(
        default=None, description="Encounter (default) or EpisodeOfCare")
    status: str | None = Field(default=None, description="FHIR status (default finished; "
                                                         "active for an episode)")
    days_ago: float | None = Field(default=None, description=_DAYS_AGO)
    class_: str | None = Field(default=None, alias="class", description="Encounter class code "
                                                                        "(default AMB)")
    disposition: Code | None = Field(default=None, description="Discharge disposition code")
    disposition_system: str | None = Field(default=None, description="Its system (default "
                                                                     "snomed)")
    id: str | None = Field(default=None, description=_ID)


class Given(_Spec):
    """A patient in the fixture shorthand: each list becomes FHIR resources."""

    patient: PatientSpec | None = Field(default=None, description="The Patient resource")
    observations: list[ObservationSpec] | None = Field(default=None, description="Observations")
    questionnaires: list[QuestionnaireSpec] | None = Field(
        default=None, description="QuestionnaireResponses, scored by the extractor")
    medications: list[MedicationSpec] | None = Field(
        default=None, description="MedicationRequests (or statements); draft: true for orders "
                                  "being signed")
    conditions: list[ConditionSpec] | None = Field(default=None, description="Active "
                                                   "Conditions")
    referrals: list[ReferralSpec] | None = Field(default=None, description="ServiceRequests "
                                                 "or Procedures")
    encounters: list[EncounterSpec] | None = Field(default=None, description="Encounters or "
                                                   "EpisodesOfCare")
    resources: list[dict[str, Any]] | None = Field(default=None, description="Raw FHIR R4 "
                                                   "resources, passed through")


class FactSpec(BaseModel):
    """A fact given directly (engine-level cases): its type and fields."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="Fact type", json_schema_extra=vocab("fact_type"))
    id: str | None = Field(default=None, description="Unique fact id within the case")
