"""A patient's resources as the EHR would answer the service's prefetch queries.

The dry-run has no EHR: it answers each prefetch template (rules/services.yaml) from the
patient's resources in the export, the way a FHIR server answers the query. Supported are
the parts of the CDS Hooks recommended subset the templates use: a read of the patient
(`Patient/{{context.patientId}}`), a search by `patient`/`subject`, token equality with
comma-separated alternatives (`status`, `intent`, `clinical-status`, `code`, `category`,
optionally `system|code`), `_sort` by one date parameter (newest first with `-`) and
`_count` (the first page). Any other parameter is not applied - every resource of the type
is sent - and `unapplied` names it, so the report can say so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any
from urllib.parse import parse_qsl

Resource = dict[str, Any]
_PATIENT_PARAMS = frozenset({"patient", "subject"})


def _codes(value: Any) -> list[tuple[str | None, str]]:
    """(system, code) of a code, Coding, CodeableConcept or a list of them."""
    if isinstance(value, str):
        return [(None, value)]
    if isinstance(value, list):
        return [pair for item in value for pair in _codes(item)]
    if not isinstance(value, dict):
        return []
    if "coding" in value:
        return _codes(value["coding"])
    code = value.get("code")
    return [(value.get("system"), code)] if isinstance(code, str) else []


def _first(resource: Resource, *paths: str) -> str | None:
    """The first date-like string found along dotted paths."""
    for path in paths:
        value: Any = resource
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str):
            return value
    return None


_TOKENS: dict[str, str] = {
    "status": "status", "intent": "intent", "clinical-status": "clinicalStatus",
    "verification-status": "verificationStatus", "code": "code", "category": "category",
}
_DATES: dict[tuple[str, str], tuple[str, ...]] = {
    ("Observation", "date"): ("effectiveDateTime", "effectiveInstant", "effectivePeriod.start",
                              "issued"),
    ("Procedure", "date"): ("performedDateTime", "performedPeriod.start"),
    ("Encounter", "date"): ("period.start",),
    ("Condition", "onset-date"): ("onsetDateTime", "onsetPeriod.start"),
    ("QuestionnaireResponse", "authored"): ("authored",),
    ("MedicationRequest", "authoredon"): ("authoredOn",),
    ("MedicationDispense", "whenhandedover"): ("whenHandedOver",),
    ("ServiceRequest", "authored"): ("authoredOn",),
}


@dataclass(frozen=True)
class Query:
    """One prefetch template, parsed: a read of the patient or a search of one type."""

    key: str
    resource_type: str
    read: bool
    tests: tuple[Callable[[Resource], bool], ...] = ()
    sort: Callable[[Resource], str] | None = None
    newest_first: bool = False
    count: int | None = None
    unapplied: tuple[str, ...] = ()

    def select(self, resources: Iterable[Resource]) -> list[Resource]:
        """The matching resources in the answer's order, before `_count` is applied."""
        tests = self.tests
        found = [r for r in resources if all(test(r) for test in tests)]
        if self.sort is not None:
            keyed = [(self.sort(r), r) for r in found]
            dated = sorted((k for k in keyed if k[0]), key=itemgetter(0),
                           reverse=self.newest_first)  # stable: equal dates keep export order
            found = [r for _, r in dated] + [r for k, r in keyed if not k]  # undated last
        return found


def _date_key(paths: tuple[str, ...]) -> Callable[[Resource], str]:
    return lambda resource: _first(resource, *paths) or ""


def _token_test(field_name: str, wanted: str) -> Callable[[Resource], bool]:
    alternatives = []
    for item in wanted.split(","):
        system, bar, code = item.rpartition("|")
        alternatives.append((system if bar else None, code))

    def test(resource: Resource) -> bool:
        have = _codes(resource.get(field_name))
        return any(code == c and (system is None or system == s)
                   for s, c in have for system, code in alternatives)
    return test


def parse_query(key: str, template: str) -> Query:
    """Parse a template such as `Observation?patient={{context.patientId}}&_count=500`."""
    path, _, query = template.partition("?")
    parts = [p for p in path.split("/") if p]
    rtype = parts[0] if parts else ""
    if not query:
        return Query(key, rtype, read=len(parts) > 1)
    tests: list[Callable[[Resource], bool]] = []
    unapplied: list[str] = []
    sort: Callable[[Resource], str] | None = None
    newest = False
    count = None
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name in _PATIENT_PARAMS:
            continue  # the export is grouped by patient already
        if name == "_count" and value.isdigit():
            count = int(value)
        elif name == "_sort" and (rtype, value.lstrip("-")) in _DATES:
            paths = _DATES[(rtype, value.lstrip("-"))]
            newest = value.startswith("-")
            sort = _date_key(paths)
        elif name in _TOKENS:
            tests.append(_token_test(_TOKENS[name], value))
        else:
            unapplied.append(name)
    return Query(key, rtype, read=False, tests=tuple(tests), sort=sort, newest_first=newest,
                 count=count, unapplied=tuple(unapplied))


@dataclass
class Searchsets:
    """The patient's answers to one service's queries, computed once per patient and reused
    for each of the patient's openings (an order check leaves its own order out)."""

    queries: list[Query]
    answers: dict[str, list[Resource]] = field(default_factory=dict)
    patient: Resource | None = None

    @classmethod
    def answer(cls, queries: list[Query], by_type: Mapping[str, list[Resource]]
               ) -> Searchsets:
        sets = cls(queries)
        patients = by_type.get("Patient") or []
        sets.patient = patients[0] if patients else None
        for query in queries:
            if not query.read:
                sets.answers[query.key] = query.select(by_type.get(query.resource_type) or [])
        return sets

    def prefetch(self, leave_out: Resource | None = None) -> tuple[dict[str, Any], list[str]]:
        """The prefetch object of one call, and the keys whose answer `_count` cut short."""
        prefetch: dict[str, Any] = {}
        cut: list[str] = []
        for query in self.queries:
            if query.read:
                prefetch[query.key] = self.patient if query.resource_type == "Patient" else None
                continue
            found = self.answers[query.key]
            if leave_out is not None:
                found = [r for r in found if r is not leave_out]
            total = len(found)
            if query.count is not None and total > query.count:
                found = found[:query.count]
                cut.append(query.key)
            prefetch[query.key] = {"resourceType": "Bundle", "type": "searchset",
                                   "total": total, "entry": [{"resource": r} for r in found]}
        return prefetch, cut
