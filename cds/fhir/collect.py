"""Collect the patient's FHIR resources of one hook call from prefetch and context.

CDS Hooks prefetch semantics (spec 2.0): a key holding `null` means no data exists; a Bundle
is unwrapped to its entries; a single resource is kept as is; an OperationOutcome means the
EHR's query failed (a `prefetch-error` note naming the key). Anything that is not a FHIR
resource is noted and skipped. `context.draftOrders` (order-select / order-sign) is a Bundle
of the orders being written; its resources become `draft_orders`.

Resources are de-duplicated by `resourceType/id` (the same Patient often arrives under
several keys); the first copy wins. Nothing here raises on bad input.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cds.facts.notes import DataNote

_MAX_DIAGNOSTICS = 160


@dataclass
class PatientData:
    patient_id: str | None
    hook: str
    service_id: str
    resources: list[dict[str, Any]] = field(default_factory=list)
    draft_orders: list[dict[str, Any]] = field(default_factory=list)
    notes: list[DataNote] = field(default_factory=list)


def _outcome_text(outcome: dict[str, Any]) -> str:
    issues = outcome.get("issue")
    if isinstance(issues, list):
        for issue in issues:
            if isinstance(issue, dict):
                text = issue.get("diagnostics") or (issue.get("details") or {}).get("text")
                if isinstance(text, str) and text:
                    return text[:_MAX_DIAGNOSTICS]
                code = issue.get("code")
                if isinstance(code, str):
                    return code
    return "no details"


class _Collector:
    def __init__(self) -> None:
        self.resources: list[dict[str, Any]] = []
        self.notes: list[DataNote] = []
        self._seen: set[tuple[str, str]] = set()

    def add(self, resource: Any, where: str) -> None:
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            self.notes.append(DataNote(
                "invalid-resource", f"{where}: an entry that is not a FHIR resource was skipped"))
            return
        rid = resource.get("id")
        if isinstance(rid, str) and rid:
            key = (resource["resourceType"], rid)
            if key in self._seen:
                return
            self._seen.add(key)
        self.resources.append(resource)

    def bundle(self, bundle: dict[str, Any], where: str) -> None:
        entries = bundle.get("entry")
        if entries is None:
            return
        if not isinstance(entries, list):
            self.notes.append(DataNote("invalid-resource", f"{where}: Bundle.entry is not a list"))
            return
        for entry in entries:
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if isinstance(resource, dict) and resource.get("resourceType") == "OperationOutcome":
                self.notes.append(DataNote(
                    "prefetch-warning", f"{where}: the server reported: {_outcome_text(resource)}"))
            elif isinstance(resource, dict) and resource.get("resourceType") == "Bundle":
                self.bundle(resource, where)
            else:
                self.add(resource, where)

    def value(self, value: Any, key: str) -> None:
        where = f"prefetch '{key}'"
        if value is None:
            return  # null: the EHR says no data exists
        if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
            self.notes.append(DataNote("prefetch-error",
                                       f"{where} does not hold a FHIR resource; it was ignored"))
            return
        rtype = value["resourceType"]
        if rtype == "OperationOutcome":
            self.notes.append(DataNote(
                "prefetch-error", f"{where} failed at the EHR: {_outcome_text(value)}"))
        elif rtype == "Bundle":
            self.bundle(value, where)
        else:
            self.add(value, where)


def _draft_orders(context: dict[str, Any], notes: list[DataNote]) -> list[dict[str, Any]]:
    drafts = context.get("draftOrders")
    if drafts is None:
        return []
    collector = _Collector()
    if isinstance(drafts, dict) and drafts.get("resourceType") == "Bundle":
        collector.bundle(drafts, "context.draftOrders")
    elif isinstance(drafts, list):  # lenient: a bare list of resources
        for item in drafts:
            collector.add(item, "context.draftOrders")
    else:
        notes.append(DataNote("invalid-resource", "context.draftOrders is not a Bundle"))
    notes.extend(collector.notes)
    return collector.resources


def collect(prefetch: dict[str, Any] | None, context: dict[str, Any], hook: str,
            service_id: str) -> PatientData:
    """Gather the resources of one call. Never raises on bad prefetch or context content."""
    context = context if isinstance(context, dict) else {}
    patient_id = context.get("patientId")
    collector = _Collector()
    items: Iterable[tuple[str, Any]] = prefetch.items() if isinstance(prefetch, dict) else ()
    for key, value in items:
        collector.value(value, str(key))
    notes = collector.notes
    drafts = _draft_orders(context, notes)
    return PatientData(
        patient_id=patient_id if isinstance(patient_id, str) and patient_id else None,
        hook=hook,
        service_id=service_id,
        resources=collector.resources,
        draft_orders=drafts,
        notes=notes,
    )
