"""FHIR R4 resource builders for synthetic benchmark patients.

Each builder returns a plain dict that validates as FHIR R4 (R4B models): the shapes an EHR
sends in prefetch, with the codes the rule pack reads (LOINC scores, RxNorm ingredients,
SNOMED CT conditions and referrals).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CLINICAL_STATUS = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
ORDINAL = "http://hl7.org/fhir/StructureDefinition/ordinalValue"

Resource = dict[str, Any]

# LOINC answer list shared by PHQ-9 and GAD-7 items (clinical-content 1.1).
ANSWERS = (
    ("LA6568-5", "Not at all"),
    ("LA6569-3", "Several days"),
    ("LA6570-1", "More than half the days"),
    ("LA6571-9", "Nearly every day"),
)


def instant(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _coding(system: str, code: str, display: str) -> Resource:
    return {"system": system, "code": code, "display": display}


def patient(pid: str, birth_date: str, gender: str) -> Resource:
    return {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"system": "urn:oid:2.16.840.1.113883.19.5", "value": f"MRN-{pid}"}],
        "active": True,
        "name": [{"use": "official", "family": "Benchmark", "given": ["Alex"]}],
        "gender": gender,
        "birthDate": birth_date,
    }


def observation(
    rid: str,
    pid: str,
    code: tuple[str, str],
    when: datetime,
    value: float,
    unit: str,
    *,
    category: str = "survey",
) -> Resource:
    """A final Observation with a valueQuantity (UCUM)."""
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "category": [{"coding": [_coding(OBS_CATEGORY, category, category.title())]}],
        "code": {"coding": [_coding(LOINC, code[0], code[1])], "text": code[1]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": instant(when),
        "issued": instant(when),
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
    }


def answer_observation(
    rid: str, pid: str, code: tuple[str, str], when: datetime, score: int
) -> Resource:
    """A survey Observation answered with a LOINC answer code (e.g. PHQ-9 item 9)."""
    answer, display = ANSWERS[score]
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "category": [{"coding": [_coding(OBS_CATEGORY, "survey", "Survey")]}],
        "code": {"coding": [_coding(LOINC, code[0], code[1])]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": instant(when),
        "valueCodeableConcept": {"coding": [_coding(LOINC, answer, display)], "text": display},
    }


def questionnaire_response(
    rid: str, pid: str, canonical: str, items: list[str], scores: list[int], when: datetime
) -> Resource:
    """A completed LOINC-form QuestionnaireResponse answered with LA codes + ordinalValue."""
    answers = []
    for link_id, score in zip(items, scores, strict=True):
        answer, display = ANSWERS[score]
        coding = _coding(LOINC, answer, display)
        coding["extension"] = [{"url": ORDINAL, "valueDecimal": score}]
        answers.append({"linkId": link_id, "answer": [{"valueCoding": coding}]})
    return {
        "resourceType": "QuestionnaireResponse",
        "id": rid,
        "questionnaire": canonical,
        "status": "completed",
        "subject": {"reference": f"Patient/{pid}"},
        "authored": instant(when),
        "item": answers,
    }


def _dosage(dose_mg: float, times_per_day: int, text: str) -> Resource:
    return {
        "text": text,
        "timing": {"repeat": {"frequency": times_per_day, "period": 1, "periodUnit": "d"}},
        "route": {"coding": [_coding(SNOMED, "26643006", "Oral route")]},
        "doseAndRate": [{"doseQuantity": {"value": dose_mg, "unit": "mg", "system": UCUM,
                                          "code": "mg"}}],
    }


def medication_request(
    rid: str, pid: str, drug: tuple[str, str], dose_mg: float, times_per_day: int,
    when: datetime, status: str,
) -> Resource:
    text = f"{drug[1]} {dose_mg:g} mg {times_per_day} times a day"
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": status,
        "intent": "order",
        "medicationCodeableConcept": {"coding": [_coding(RXNORM, drug[0], drug[1])],
                                      "text": drug[1]},
        "subject": {"reference": f"Patient/{pid}"},
        "authoredOn": instant(when),
        "requester": {"reference": "Practitioner/bench-clinician"},
        "dosageInstruction": [_dosage(dose_mg, times_per_day, text)],
    }


def medication_statement(
    rid: str, pid: str, drug: tuple[str, str], dose_mg: float, times_per_day: int,
    when: datetime,
) -> Resource:
    text = f"{drug[1]} {dose_mg:g} mg {times_per_day} times a day"
    return {
        "resourceType": "MedicationStatement",
        "id": rid,
        "status": "active",
        "medicationCodeableConcept": {"coding": [_coding(RXNORM, drug[0], drug[1])]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectivePeriod": {"start": instant(when)},
        "dateAsserted": instant(when),
        "dosage": [_dosage(dose_mg, times_per_day, text)],
    }


def condition(rid: str, pid: str, code: tuple[str, str], onset: datetime) -> Resource:
    return {
        "resourceType": "Condition",
        "id": rid,
        "clinicalStatus": {"coding": [_coding(CLINICAL_STATUS, "active", "Active")]},
        "verificationStatus": {"coding": [_coding(VERIFICATION, "confirmed", "Confirmed")]},
        "category": [{"coding": [_coding(
            "http://terminology.hl7.org/CodeSystem/condition-category",
            "problem-list-item", "Problem List Item")]}],
        "code": {"coding": [_coding(SNOMED, code[0], code[1])], "text": code[1]},
        "subject": {"reference": f"Patient/{pid}"},
        "onsetDateTime": instant(onset),
        "recordedDate": instant(onset),
    }


def service_request(
    rid: str, pid: str, code: tuple[str, str], when: datetime, status: str
) -> Resource:
    return {
        "resourceType": "ServiceRequest",
        "id": rid,
        "status": status,
        "intent": "order",
        "code": {"coding": [_coding(SNOMED, code[0], code[1])], "text": code[1]},
        "subject": {"reference": f"Patient/{pid}"},
        "authoredOn": instant(when),
        "requester": {"reference": "Practitioner/bench-clinician"},
    }


def procedure(rid: str, pid: str, code: tuple[str, str], when: datetime) -> Resource:
    return {
        "resourceType": "Procedure",
        "id": rid,
        "status": "completed",
        "code": {"coding": [_coding(SNOMED, code[0], code[1])], "text": code[1]},
        "subject": {"reference": f"Patient/{pid}"},
        "performedDateTime": instant(when),
    }


def searchset(base: str, resources: list[Resource]) -> Resource:
    """A searchset Bundle as a FHIR server returns it for a prefetch query."""
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [
            {"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r,
             "search": {"mode": "match"}}
            for r in resources
        ],
    }
