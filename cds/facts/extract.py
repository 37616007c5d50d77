"""FHIR R4 resources of one call -> facts (cds/facts/catalogue.py) and data notes.

One pass over the resources dispatches each to its reader (observations, questionnaires,
medications, conditions, referrals, patient); derived facts follow (latest measures,
missing, trends, dose responses, totals). A resource that cannot be read is skipped with a
DataNote; nothing here raises on bad data. With `strict=True` every resource is first
validated against the FHIR R4B models (slow: for debugging and tests, not the hot path).

Fact ids are unique and stable within a call: "context", "patient", "measure:<id>",
"missing:<id>", "trend:<id>", "med:<Type>/<id>" (drafts "med:draft:<Type>/<id>"; one per
ingredient of a combination product, "med:<Type>/<id>|<ingredient>"),
"ind:<medication fact id>", "cond:<Type>/<id>", "ref:<Type>/<id>", "enc:<Type>/<id>",
"dr:<Type>/<id>", "total:<name>".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cds.facts.access import Ctx
from cds.facts.conditions import condition_fact
from cds.facts.config import FactConfig
from cds.facts.currency import dispensed_days
from cds.facts.derived import dose_response_facts, measure_facts, total_facts
from cds.facts.encounters import encounter_fact
from cds.facts.fhirtypes import RESOURCE_TYPES
from cds.facts.medications import (
    MedRecord,
    indication_facts,
    medication_facts,
    medication_records,
)
from cds.facts.observations import observation
from cds.facts.patient import patient_fact
from cds.facts.questionnaires import questionnaire_response
from cds.facts.readings import Reading
from cds.facts.referrals import referral_fact
from cds.fhir.collect import PatientData
from cds.fhir.strict import validate_resources
from cds.notes import DataNote

_MEDICATIONS = frozenset({"MedicationRequest", "MedicationStatement"})
_REFERRALS = frozenset({"ServiceRequest", "Procedure"})
_ENCOUNTERS = frozenset({"Encounter", "EpisodeOfCare"})


@dataclass
class Extraction:
    facts: list[dict[str, Any]]
    notes: list[DataNote]
    # (system, code, display) of medication codes no ingredient is known for (fail-safe)
    unresolved: list[tuple[str, str, str]] = field(default_factory=list)


class _Run:
    def __init__(self, data: PatientData, ctx: Ctx, resources: list[dict[str, Any]]) -> None:
        self.data, self.ctx = data, ctx
        self.readings: list[Reading] = []
        self.records: list[MedRecord] = []
        self.clinical: list[dict[str, Any]] = []
        self.patients: list[tuple[dict[str, Any], str]] = []
        self.medications: dict[str, dict[str, Any]] = {}
        self.questionnaires: dict[str, dict[str, Any]] = {}
        dispenses: list[dict[str, Any]] = []
        for res in resources:
            rtype = res.get("resourceType")
            if rtype == "MedicationDispense":
                dispenses.append(res)
            elif rtype == "Medication":
                rid = res.get("id")
                if isinstance(rid, str):
                    self.medications[f"Medication/{rid}"] = res
            elif rtype == "Questionnaire":
                rid = res.get("id")
                if isinstance(rid, str):
                    self.questionnaires[f"Questionnaire/{rid}"] = res
                if isinstance(res.get("url"), str):
                    self.questionnaires[res["url"].split("|", 1)[0]] = res
        self.dispensed = dispensed_days(dispenses, ctx)

    def read(self, res: dict[str, Any], draft: bool) -> None:
        ctx = self.ctx
        rtype = res.get("resourceType")
        if rtype not in RESOURCE_TYPES:
            ctx.note("invalid-resource", f"unknown resourceType {str(rtype)[:40]!r}; skipped")
            return
        ref = ctx.ref(res)
        if rtype == "Patient":
            self.patients.append((res, ref))
            return
        if ctx.for_other_patient(res, ref):
            return
        if rtype == "Observation":
            self.readings.extend(observation(res, ctx, ref))
        elif rtype == "QuestionnaireResponse":
            self.readings.extend(questionnaire_response(res, ctx, ref, self.questionnaires))
        elif rtype in _MEDICATIONS:
            prefix = f"med:draft:{ref}" if draft else f"med:{ref}"
            for record in medication_records(res, ctx, ref, self.medications, self.dispensed,
                                             draft=draft):
                record.fact_id = prefix if record.parts == 1 else f"{prefix}|{record.name}"
                self.records.append(record)
        elif rtype == "Condition":
            self._add(condition_fact(res, ctx, ref))
        elif rtype in _ENCOUNTERS:
            self._add(encounter_fact(res, ctx, ref))
        elif rtype in _REFERRALS:
            fact = referral_fact(res, ctx, ref)
            if fact is not None and draft:
                fact["id"] = f"ref:draft:{ref}"
            self._add(fact)

    def _add(self, fact: dict[str, Any] | None) -> None:
        if fact is not None:
            self.clinical.append(fact)

    def patient(self) -> dict[str, Any]:
        if not self.patients:
            return {}
        chosen = next((p for p in self.patients if p[0].get("id") == self.data.patient_id),
                      self.patients[0])
        return patient_fact(chosen[0], self.ctx, chosen[1])


def _read_all(run: _Run, resources: list[dict[str, Any]], draft: bool) -> None:
    for res in resources:
        try:
            run.read(res, draft)
        except Exception as exc:  # one unreadable resource must never fail the call
            ref = f"{res.get('resourceType')}/{res.get('id')}" if isinstance(res, dict) else None
            run.ctx.note("invalid-resource",
                         f"the resource could not be read ({type(exc).__name__}); skipped", ref)


def _unique(facts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, int] = {}
    for fact in facts:
        fid = fact["id"]
        if fid in seen:
            seen[fid] += 1
            fact["id"] = f"{fid}~{seen[fid]}"
        else:
            seen[fid] = 1
    return facts


def pregnancy_status(config: FactConfig, clinical: list[dict[str, Any]],
                     measures: list[dict[str, Any]]) -> str:
    """"yes" when an active Condition is in a pregnancy value set, or the latest pregnancy
    status reading is 1 (rules/patient-status.yaml); else "no"."""
    rule = config.pregnancy
    if rule is None:
        return "no"
    if any(f["type"] == "condition" and not rule.valuesets.isdisjoint(f["valuesets"])
           for f in clinical):
        return "yes"
    if rule.measure is not None:
        latest = next((f for f in measures if f["type"] == "measure"
                       and f["measure"] == rule.measure), None)
        if latest is not None and latest["value"] == 1.0:
            return "yes"
    return "no"


def extract(data: PatientData, config: FactConfig, now: datetime, *,
            strict: bool = False) -> Extraction:
    ctx = Ctx(config, now, data.patient_id)
    ctx.notes.extend(data.notes)
    resources, drafts = data.resources, data.draft_orders
    if strict:
        resources, found = validate_resources(resources)
        ctx.notes.extend(found)
        drafts, found = validate_resources(drafts)
        ctx.notes.extend(found)
    run = _Run(data, ctx, resources)
    _read_all(run, resources, draft=False)
    _read_all(run, drafts, draft=True)
    facts: list[dict[str, Any]] = [
        {"id": "context", "type": "context", "hook": data.hook, "service": data.service_id}]
    patient = run.patient()
    if patient:
        facts.append(patient)
    measures, by_measure = measure_facts(run.readings, patient, ctx)
    meds = medication_facts(run.records, ctx)
    facts.extend(measures)
    facts.extend(meds)
    facts.extend(indication_facts(run.records, ctx))
    facts.extend(run.clinical)
    if patient:
        patient["pregnant"] = pregnancy_status(config, run.clinical, measures)
    facts.extend(dose_response_facts(meds, by_measure, ctx))
    facts.extend(total_facts(meds, ctx))
    notes = list(dict.fromkeys(ctx.notes))  # drop exact repeats, keep order
    return Extraction(_unique(facts), notes, list(dict.fromkeys(ctx.unresolved)))
