"""Order hooks: which draft orders the rules read, and which the call asks to check.

CDS Hooks calls `order-select` and `order-sign` while an order is being entered.
`context.draftOrders` holds every unsigned order of the ordering session. `order-select`
names the orders just selected in `context.selections` (references such as
`MedicationRequest/103` into draftOrders); the other drafts are context. `order-sign` signs
every draft. Clients call before the order is complete: the CDS Hooks sandbox sends
order-select with no selection, or with a MedicationRequest whose medication is not chosen
yet, and sends imaging and lab orders from its other screens.

- A draft is *read* (its facts reach the rules) when it names what is ordered and the facts
  layer reads its type: a MedicationRequest with a medication (a coding, a text or a
  reference), a ServiceRequest with a coded `code` (a referral being ordered, context for
  the rules that ask whether one is in hand). Other drafts are left out without a data note:
  an order still being entered is not a fault in the patient's record.
- The orders *to check* are the read MedicationRequests among the selected (order-select) or
  signed (order-sign) drafts: the order services are medication checks (rules/services.yaml).
  A call with none has nothing to check and gets no cards, whatever the patient's record
  holds: pathway advice that needs no order (a CBT-I referral, say) belongs to patient-view,
  not to an imaging order being signed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cds.fhir.codings import codings, display_of
from cds.hookdefs import OrdersChecked, hook_def

CHECKED_TYPE = "MedicationRequest"


def _names_medication(order: dict[str, Any]) -> bool:
    concept = order.get("medicationCodeableConcept")
    if concept is not None:
        return bool(codings(concept)) or bool(display_of(concept).strip())
    ref = order.get("medicationReference")
    return isinstance(ref, dict) and any(
        isinstance(ref.get(key), str) and ref[key].strip() for key in ("reference", "display"))


def _names_service(order: dict[str, Any]) -> bool:
    return bool(codings(order.get("code")))


_READ: dict[str, Callable[[dict[str, Any]], bool]] = {
    "MedicationRequest": _names_medication,
    "ServiceRequest": _names_service,
}


def is_read(order: dict[str, Any]) -> bool:
    """Whether the rules read this draft order: a type the facts layer reads, naming what is
    ordered."""
    rtype = order.get("resourceType")
    names = _READ.get(rtype) if isinstance(rtype, str) else None
    return names is not None and names(order)


def orders_to_check(hook: str, context: dict[str, Any],
                    read: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The read medication orders the call asks about: the selected ones on order-select, all
    on order-sign; none on other hooks."""
    medication_orders = [r for r in read if r.get("resourceType") == CHECKED_TYPE]
    orders = _orders_checked(hook)
    if orders == "all":
        return medication_orders
    if orders == "none":
        return []
    selections = context.get("selections")
    if not isinstance(selections, list):
        return []
    chosen = {s for s in selections if isinstance(s, str)}
    return [r for r in medication_orders if f"{CHECKED_TYPE}/{r.get('id')}" in chosen]


def nothing_to_check(hook: str, to_check: list[dict[str, Any]]) -> bool:
    """An order hook call without a medication order to check: the answer is no cards."""
    return _orders_checked(hook) != "none" and not to_check


def _orders_checked(hook: str) -> OrdersChecked:
    definition = hook_def(hook)
    return definition.orders if definition is not None else "none"
