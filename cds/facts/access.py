"""Small, defensive accessors over raw FHIR R4 JSON, and the per-call extraction context.

The hot path never builds FHIR models (validating one resource with fhir.resources costs
~100-300 us; a call has hundreds). Instead every read checks the JSON type it expects, so a
string where a number belongs, or a date that cannot exist, becomes a DataNote rather than
an exception or a silently wrong fact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any, NamedTuple

from cds.facts.codes import Code
from cds.facts.config import FactConfig
from cds.fhir.codings import codings
from cds.notes import DataNote

EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
MIN_DAY = date(1900, 1, 1).toordinal() - EPOCH_ORDINAL
DAY_SECONDS = 86400.0


class When(NamedTuple):
    """A FHIR date/dateTime: the calendar day as written (days since 1970-01-01), a sortable
    timestamp, and the ISO date for display. (A NamedTuple: built for every dated value, so
    it must be cheap.)"""

    day: int
    ts: float
    date: str


@lru_cache(maxsize=8192)
def parse_when(value: str) -> When | None:
    """Parse a FHIR date or dateTime; None when it is not one (or names no real day).

    Cached: a patient's history comes back with every hook call, so the same dates are parsed
    again and again, and a When is immutable."""
    n = len(value)
    try:
        if n == 4:
            d = date(int(value), 1, 1)
        elif n == 7:
            d = date(int(value[:4]), int(value[5:7]), 1)
        elif n == 10:
            d = date.fromisoformat(value)
        elif n > 10 and value[10] == "T":
            dt = datetime.fromisoformat(value)
            d = date.fromisoformat(value[:10])
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=UTC)
            return When(d.toordinal() - EPOCH_ORDINAL, dt.timestamp(), value[:10])
        else:
            return None
    except ValueError:
        return None
    day = d.toordinal() - EPOCH_ORDINAL
    return When(day, day * DAY_SECONDS, d.isoformat())


_NUMBERS = (int, float)


def number(value: Any) -> float | None:
    """A JSON number as float; None for anything else (bool and numeric strings included)."""
    if type(value) is float:  # the usual cases, answered before the general checks
        return value
    if type(value) is int:
        return float(value)
    if isinstance(value, bool) or not isinstance(value, _NUMBERS):
        return None
    return float(value)


def keys_of(found: list[dict[str, Any]]) -> list[Code]:
    """(system, code) of codings already extracted with `codings`."""
    return [(c.get("system") or "", c["code"]) for c in found]


def code_keys(concept: Any) -> list[Code]:
    return keys_of(codings(concept))


def status_code(concept: Any) -> str | None:
    """The first code of a status CodeableConcept (Condition.clinicalStatus etc.)."""
    found = codings(concept)
    return found[0]["code"] if found else None


@dataclass
class Ctx:
    """Everything one extraction needs: config, the pinned now, the patient, the notes."""

    config: FactConfig
    now: datetime
    patient_id: str | None
    notes: list[DataNote] = field(default_factory=list)
    # (system, code, display) of current or draft medication codes the pack cannot resolve
    unresolved: list[tuple[str, str, str]] = field(default_factory=list)
    now_day: int = 0
    now_ts: float = 0.0
    _anonymous: int = 0
    _latest_ts: float = 0.0  # the newest plausible timestamp: tomorrow at this time
    _own_subject: str | None = None  # "Patient/<id>", when that is the only way to write it

    def __post_init__(self) -> None:
        now = self.now if self.now.tzinfo else self.now.replace(tzinfo=UTC)
        self.now_ts = now.timestamp()
        self.now_day = now.astimezone(UTC).date().toordinal() - EPOCH_ORDINAL
        self._latest_ts = self.now_ts + DAY_SECONDS
        if self.patient_id is not None and "/" not in self.patient_id:
            self._own_subject = f"Patient/{self.patient_id}"

    def note(self, kind: str, message: str, ref: str | None = None) -> None:
        self.notes.append(DataNote(kind, message, ref))

    def ref(self, resource: dict[str, Any]) -> str:
        rid = resource.get("id")
        if isinstance(rid, str) and rid:
            return f"{resource['resourceType']}/{rid}"
        self._anonymous += 1
        return f"{resource['resourceType']}/#{self._anonymous}"

    def when(self, value: Any, ref: str, what: str) -> When | None:
        """A date that must exist and be plausible: not before 1900, not after tomorrow."""
        if value is None:
            return None
        found = parse_when(value) if isinstance(value, str) else None
        if found is None:
            self.note("invalid-resource", f"{what} is not a valid FHIR date; skipped", ref)
            return None
        if found.day < MIN_DAY or found.ts > self._latest_ts:
            self.note("invalid-resource", f"{what} {found.date} is impossible; skipped", ref)
            return None
        return found

    def for_other_patient(self, resource: dict[str, Any], ref: str) -> bool:
        """True (and noted) when the resource's subject is a different Patient."""
        if self.patient_id is None:
            return False
        subject = resource.get("subject") or resource.get("patient")
        target = subject.get("reference") if isinstance(subject, dict) else None
        if target is not None and target == self._own_subject:  # the usual case, quickly
            return False
        if not isinstance(target, str) or "Patient/" not in target:
            return False
        if target.rsplit("Patient/", 1)[1].split("/", 1)[0] == self.patient_id:
            return False
        self.note("other-patient", "the resource is about another patient; skipped", ref)
        return True
