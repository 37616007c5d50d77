"""A small chart served by the loopback FHIR server, the prefetch templates that read it,
and prefetch resolution over connections of its own."""

from __future__ import annotations

import uuid
from typing import Any

from cds.fhir.connections import FhirConnections
from cds.hooks.models import HookRequest
from cds.hooks.prefetch import ResolvedPrefetch, resolve_prefetch
from cds.settings import Settings

PATIENT = "p1"
PAIN_LOINC = "72514-3"
PAIN_SCORES = 7  # observations on the server; templates page through them 2 at a time

TEMPLATES = {
    "patient": "Patient/{{context.patientId}}",
    "pain": "Observation?patient={{context.patientId}}&code=http://loinc.org|72514-3"
            "&_sort=-date&_count=2",
    "conditions": "Condition?patient={{context.patientId}}",
    "medications": "MedicationRequest?patient={{context.patientId}}&status=active",
    "user": "Practitioner/{{userPractitionerId}}",
}


def chart(patient: str = PATIENT) -> list[dict[str, Any]]:
    subject = {"reference": f"Patient/{patient}"}
    resources: list[dict[str, Any]] = [
        {"resourceType": "Patient", "id": patient, "gender": "female", "birthDate": "1974-03-02"},
        {"resourceType": "Practitioner", "id": "dr-1", "name": [{"family": "Osei"}]},
        {"resourceType": "Condition", "id": f"{patient}-cond-1", "subject": subject,
         "code": {"coding": [{"system": "http://snomed.info/sct", "code": "82423001"}]}},
        {"resourceType": "MedicationRequest", "id": f"{patient}-med-1", "status": "active",
         "intent": "order", "subject": subject,
         "medicationCodeableConcept": {"coding": [{
             "system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "72625"}]}},
    ]
    for day in range(1, PAIN_SCORES + 1):
        resources.append({
            "resourceType": "Observation", "id": f"{patient}-pain-{day}", "status": "final",
            "subject": subject, "effectiveDateTime": f"2026-05-{day:02d}T09:00:00Z",
            "code": {"coding": [{"system": "http://loinc.org", "code": PAIN_LOINC}]},
            "valueQuantity": {"value": float(day), "unit": "{score}"},
        })
    return resources


def hook_request(
    fhir_server: str | None, prefetch: dict[str, Any] | None = None, token: str | None = None
) -> HookRequest:
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/dr-1", "patientId": PATIENT},
    }
    if fhir_server is not None:
        body["fhirServer"] = fhir_server
    if prefetch is not None:
        body["prefetch"] = prefetch
    if token is not None:
        body["fhirAuthorization"] = {
            "access_token": token, "token_type": "Bearer", "expires_in": 300,
            "scope": "user/*.read", "subject": "stress-pain-cds",
        }
    return HookRequest.model_validate(body)


async def resolve(
    request: HookRequest, templates: dict[str, str], required: list[str], settings: Settings
) -> ResolvedPrefetch:
    """`resolve_prefetch` as the app runs it, on a connection pool closed afterwards."""
    connections = FhirConnections(settings)
    try:
        return await resolve_prefetch(request, templates, required, settings, connections.client)
    finally:
        await connections.aclose()
