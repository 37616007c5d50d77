"""Strict mode: validate each resource against the FHIR R4B models of fhir.resources.

fhir.resources' top-level models are R5; R4 payloads validate with the R4B package (R4B
differs from R4 only by a few added resources). Validation costs ~100-300 us per resource,
so it is for tests, debugging and `strict=True` extraction, never the default hot path.
An invalid resource is dropped with a DataNote listing its first errors (field paths and
messages only: no values, which may hold patient data).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from cds.notes import DataNote

_MAX_ERRORS = 3


def _model(resource_type: str) -> Any:
    from fhir.resources.R4B import get_fhir_model_class

    try:
        return get_fhir_model_class(resource_type)
    except (ValueError, KeyError):
        return None


def validation_errors(resource: Any) -> list[str]:
    """The first validation errors of one resource; empty when it is valid R4(B)."""
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        return ["not a FHIR resource (no resourceType)"]
    model = _model(resource["resourceType"])
    if model is None:
        return [f"unknown resourceType {resource['resourceType'][:40]!r}"]
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        return [f"{'.'.join(str(p) for p in err['loc']) or '(resource)'}: {err['msg']}"
                for err in exc.errors()[:_MAX_ERRORS]]
    except (TypeError, ValueError) as exc:
        return [str(exc)[:120]]
    return []


def validate_resources(resources: list[dict[str, Any]]
                       ) -> tuple[list[dict[str, Any]], list[DataNote]]:
    """Keep the valid resources; a note for each invalid one."""
    kept: list[dict[str, Any]] = []
    notes: list[DataNote] = []
    for resource in resources:
        errors = validation_errors(resource)
        if not errors:
            kept.append(resource)
            continue
        ref = None
        if isinstance(resource, dict) and isinstance(resource.get("id"), str):
            ref = f"{resource.get('resourceType')}/{resource['id']}"
        notes.append(DataNote("invalid-resource",
                              "not valid FHIR R4: " + "; ".join(errors), ref))
    return kept, notes
