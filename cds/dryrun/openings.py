"""One patient, every service of the pack: the calls an EHR would make, evaluated.

Each call goes through the HTTP route's own path (cds/api/invocation.py) without the web
layer: the draft orders are read from the context, prefetch is filled only when there is
something to check, `collect` gathers the call's resources and the pack's `Evaluator`
extracts facts, runs the rules and applies the card policy. Authentication, suppression of
overridden cards and the audit trail are left out: a dry-run has no EHR, no clinician's
overrides and no calls to audit.

- patient-view: one chart opening per patient.
- order-select / order-sign: each of the patient's active or draft MedicationRequests in
  turn is the order being selected or signed - taken out of the record and sent as the one
  draft order of the call (status `draft`; on order-select also its only selection), as if
  the prescription were written again today.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cds.dryrun.searchset import Query, Searchsets, parse_query
from cds.fhir.collect import collect, draft_orders
from cds.hookdefs import hook_def
from cds.hooks.services import ServiceDefinition
from cds.pipeline import Evaluation, Evaluator

Resource = dict[str, Any]
ORDER_STATUSES = frozenset({"active", "draft"})
USER = "Practitioner/dryrun"


@dataclass(frozen=True)
class Service:
    """A service of the pack with its prefetch templates parsed once."""

    definition: ServiceDefinition
    queries: list[Query]
    templates: tuple[tuple[str, str], ...]  # services with the same templates share answers

    @classmethod
    def of(cls, definition: ServiceDefinition) -> Service:
        return cls(definition, [parse_query(k, t) for k, t in definition.prefetch.items()],
                   tuple(definition.prefetch.items()))

    @property
    def hook(self) -> str:
        return self.definition.hook


def services_for(evaluator: Evaluator, hooks: Sequence[str]) -> list[Service]:
    return [Service.of(s) for s in evaluator.services.services if s.hook in hooks]


def order_candidates(resources: Sequence[Resource]) -> list[Resource]:
    """The patient's MedicationRequests that stand for an order being selected or signed."""
    return [r for r in resources
            if r.get("resourceType") == "MedicationRequest" and r.get("status") in ORDER_STATUSES]


def _call(service: Service, context: dict[str, Any], sets: Searchsets, evaluator: Evaluator,
          now: datetime, leave_out: Resource | None) -> tuple[Evaluation, list[str]]:
    """One hook call, as cds/api/invocation.py makes it once the request is parsed."""
    hook = service.hook
    drafts = draft_orders(hook, context)
    prefetch: dict[str, Any] | None = None
    cut: list[str] = []
    if not drafts.nothing_to_check:
        prefetch, cut = sets.prefetch(leave_out)
    data = collect(prefetch, context, hook, service.definition.id, drafts=drafts)
    return evaluator.evaluate(data, now), cut


Call = tuple[Service, str, dict[str, Any], Searchsets, Resource | None]


def patient_calls(patient_id: str, by_type: dict[str, list[Resource]],
                  services: Sequence[Service]) -> Iterator[Call]:
    """(service, opening, context, searchsets, order left out of the record) per call."""
    candidates = order_candidates(by_type.get("MedicationRequest") or [])
    answered: dict[tuple[tuple[str, str], ...], Searchsets] = {}
    for service in services:
        sets = answered.get(service.templates)
        if sets is None:
            sets = answered[service.templates] = Searchsets.answer(service.queries, by_type)
        base = {"userId": USER, "patientId": patient_id}
        definition = hook_def(service.hook)
        orders = definition.orders if definition is not None else "none"
        if orders == "none":
            yield service, "", base, sets, None
            continue
        for order in candidates:
            draft = {**order, "status": "draft"}
            ref = f"MedicationRequest/{order.get('id')}"
            context = {**base, "draftOrders": {"resourceType": "Bundle", "type": "collection",
                                               "entry": [{"resource": draft}]}}
            if orders == "selected":
                context["selections"] = [ref]
            yield service, ref, context, sets, order


def evaluate_patient(patient_id: str, by_type: dict[str, list[Resource]],
                     services: Sequence[Service], evaluator: Evaluator, now: datetime
                     ) -> list[tuple[Service, str, Evaluation, list[str]]]:
    """Every call of one patient: (service, opening, evaluation, prefetch keys cut short)."""
    out = []
    for service, opening, context, sets, leave_out in patient_calls(patient_id, by_type,
                                                                    services):
        evaluation, cut = _call(service, context, sets, evaluator, now, leave_out)
        out.append((service, opening, evaluation, cut))
    return out


def opening_row(patient: str, service: Service, opening: str, evaluation: Evaluation,
                cut: list[str]) -> dict[str, Any]:
    """What the tables need of one call (no card text, no resource content)."""
    carried = [rule for card in evaluation.cards for rule in card.meta.rules]
    return {
        "patient": patient, "hook": service.hook, "service": service.definition.id,
        "opening": opening, "cards": len(evaluation.cards),
        "fired": sorted({m.rule for m in evaluation.matches}),
        "shown": sorted(set(carried)),
        "held_back": sorted(set(evaluation.left_out)),
        "note_kinds": [n.kind for n in evaluation.notes],
        "unresolved": ["|".join(u) for u in dict.fromkeys(evaluation.unresolved)],
        "cut_keys": cut,
    }


def card_rows(patient: str, service: Service, opening: str, evaluation: Evaluation
              ) -> list[dict[str, Any]]:
    rows = []
    for position, card in enumerate(evaluation.cards):
        rows.append({
            "patient": patient, "hook": service.hook, "opening": opening,
            "position": position, "rule": card.meta.rule,
            "also_from": list(card.meta.also_from),
            "indicator": card.indicator,
            "suggestions": [s.label for s in card.suggestions],
            "data_notes": bool(evaluation.notes),
        })
    return rows
