"""Collect the patient's FHIR resources of one hook call from prefetch and context.

CDS Hooks prefetch semantics (spec 2.0): a key holding `null` means no data exists; a Bundle
is unwrapped to its entries; a single resource is kept as is; an OperationOutcome means the
EHR's query failed (a `prefetch-error` note naming the key). Anything that is not a FHIR
resource is noted and skipped. `context.draftOrders` (order-select / order-sign) is a Bundle
of the orders being written; those the rules read become `draft_orders`, and the selected or
signed medication orders among them `orders_to_check` (cds/fhir/orders.py). Drafts the rules
do not read are left out without a note (a debug line counts them by type).

Resources are de-duplicated by `resourceType/id` (the same Patient often arrives under
several keys); the first copy wins. Nothing here raises on bad input.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cds.fhir.orders import is_read, nothing_to_check, orders_to_check
from cds.notes import DataNote

log = logging.getLogger("cds.fhir.collect")
_MAX_DIAGNOSTICS = 160
_MAX_TYPE = 40


@dataclass
class PatientData:
    patient_id: str | None
    hook: str
    service_id: str
    resources: list[dict[str, Any]] = field(default_factory=list)
    draft_orders: list[dict[str, Any]] = field(default_factory=list)
    notes: list[DataNote] = field(default_factory=list)
    orders_to_check: list[dict[str, Any]] = field(default_factory=list)

    @property
    def nothing_to_check(self) -> bool:
        """An order hook call without a selected or signed medication order: no cards."""
        return nothing_to_check(self.hook, self.orders_to_check)


@dataclass
class DraftOrders:
    """The draft orders of one call: those the rules read, the ones to check among them, and
    notes on a draftOrders value that is not FHIR."""

    hook: str
    read: list[dict[str, Any]] = field(default_factory=list)
    to_check: list[dict[str, Any]] = field(default_factory=list)
    notes: list[DataNote] = field(default_factory=list)

    @property
    def nothing_to_check(self) -> bool:
        return nothing_to_check(self.hook, self.to_check)


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


def draft_orders(hook: str, context: dict[str, Any]) -> DraftOrders:
    """The draft orders of `context` (none when it has no draftOrders). Never raises."""
    context = context if isinstance(context, dict) else {}
    found = DraftOrders(hook)
    drafts = context.get("draftOrders")
    if drafts is None:
        return found
    collector = _Collector()
    if isinstance(drafts, dict) and drafts.get("resourceType") == "Bundle":
        collector.bundle(drafts, "context.draftOrders")
    elif isinstance(drafts, list):  # lenient: a bare list of resources
        for item in drafts:
            collector.add(item, "context.draftOrders")
    else:
        found.notes.append(DataNote("invalid-resource", "context.draftOrders is not a Bundle"))
    found.notes.extend(collector.notes)
    found.read = [r for r in collector.resources if is_read(r)]
    if len(found.read) < len(collector.resources):
        left = Counter(str(r["resourceType"])[:_MAX_TYPE] for r in collector.resources
                       if not is_read(r))
        log.debug("%s: draft orders not read (still being entered or not checked): %s", hook,
                  ", ".join(f"{n} {rtype}" for rtype, n in sorted(left.items())))
    found.to_check = orders_to_check(hook, context, found.read)
    return found


def collect(prefetch: dict[str, Any] | None, context: dict[str, Any], hook: str,
            service_id: str, *, drafts: DraftOrders | None = None) -> PatientData:
    """Gather the resources of one call (`drafts`: the draft orders when already read from
    this context). Never raises on bad prefetch or context content."""
    context = context if isinstance(context, dict) else {}
    patient_id = context.get("patientId")
    collector = _Collector()
    items: Iterable[tuple[str, Any]] = prefetch.items() if isinstance(prefetch, dict) else ()
    for key, value in items:
        collector.value(value, str(key))
    drafts = drafts if drafts is not None else draft_orders(hook, context)
    return PatientData(
        patient_id=patient_id if isinstance(patient_id, str) and patient_id else None,
        hook=hook,
        service_id=service_id,
        resources=collector.resources,
        draft_orders=drafts.read,
        notes=[*collector.notes, *drafts.notes],
        orders_to_check=drafts.to_check,
    )
