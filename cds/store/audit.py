"""Turning audit records into rows, and writing a batch of them in one transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Engine, insert

from cds.store import tables
from cds.store.interfaces import AuditRecord
from cds.store.pseudonym import Pseudonymiser

T = TypeVar("T")


@dataclass
class Rows:
    calls: list[dict[str, Any]] = field(default_factory=list)
    fired: list[dict[str, Any]] = field(default_factory=list)
    cards: list[dict[str, Any]] = field(default_factory=list)
    unresolved: list[dict[str, Any]] = field(default_factory=list)
    left_out: list[dict[str, Any]] = field(default_factory=list)

    def add(self, other: Rows) -> None:
        self.calls.extend(other.calls)
        self.fired.extend(other.fired)
        self.cards.extend(other.cards)
        self.unresolved.extend(other.unresolved)
        self.left_out.extend(other.left_out)


class AuditRows:
    """Builds the rows of one hook call: the call, the rules that fired, the cards issued."""

    def __init__(self, pseudonymise: Pseudonymiser, keep_raw_patient_id: bool = False) -> None:
        self.pseudonymise = pseudonymise
        self.keep_raw_patient_id = keep_raw_patient_id

    def build(self, record: AuditRecord) -> Rows:
        call_id = uuid.uuid4().hex
        patient = self.pseudonymise(record.patient_id)
        rows = Rows()
        rows.calls.append({
            "id": call_id,
            "time": record.time,
            "service": record.service_id,
            "hook": record.hook,
            "hook_instance": record.hook_instance,
            "patient": patient,
            "patient_id": record.patient_id if self.keep_raw_patient_id else None,
            "pack_version": record.pack_version,
            "status": record.status,
            "latency_ms": float(record.latency_ms),
            "notes": list(record.notes),
            "error": record.error,
        })
        for match in record.fired:
            rows.fired.append({
                "call_id": call_id,
                "rule_id": str(match.get("rule", "")),
                "facts": [str(fact) for fact in match.get("facts", [])],
            })
        for card in record.cards:
            rows.cards.append({
                "uuid": card.uuid,
                "call_id": call_id,
                "issued_at": record.time,
                "service": record.service_id,
                "rule_id": card.rule_id,
                "indicator": card.indicator,
                "summary": card.summary,
                "problem": card.problem,
                "patient": patient,
            })
        for system, code, display in record.unresolved:
            rows.unresolved.append({"call_id": call_id, "time": record.time,
                                    "system": system[:256], "code": code[:128],
                                    "display": display[:128]})
        for rule_id in record.left_out:
            rows.left_out.append({"call_id": call_id, "time": record.time,
                                  "rule_id": rule_id[:32]})
        return rows


# Rows per INSERT statement: a power of two, and a shorter last page is split into powers
# of two too. The driver keeps every distinct statement text in its cache, so the pages come
# in at most eight sizes per table; pages of any length grew the process by ~4 KB per call.
PAGE_ROWS = 128


def pages(batch: list[T]) -> Iterator[list[T]]:
    """`batch` in slices of PAGE_ROWS, then of 64, 32, ... 1 rows for the rest."""
    start, size = 0, PAGE_ROWS
    while start < len(batch):
        while len(batch) - start < size:
            size //= 2
        yield batch[start:start + size]
        start += size


def write_rows(engine: Engine, rows: Rows) -> None:
    """Insert one batch in a single transaction, many rows per INSERT statement.

    Why not a plain executemany: the database driver releases the GIL around every row it
    steps, and while hook calls keep the other thread busy each release costs the writer a
    wait for the GIL (up to the switch interval), which held it to ~60 records/s. With
    RETURNING, SQLAlchemy sends an executemany as multi-row INSERTs ("insertmanyvalues"),
    rendered from one cached statement: the driver steps once per page of rows.
    """
    with engine.begin() as conn:
        conn = conn.execution_options(insertmanyvalues_page_size=PAGE_ROWS)
        for table, batch in _batches(rows):
            if batch:
                statement = insert(table).returning(next(iter(table.primary_key.columns)))
                for page in pages(batch):
                    conn.execute(statement, page)


def _batches(rows: Rows) -> Sequence[tuple[Any, list[dict[str, Any]]]]:
    return ((tables.calls, rows.calls), (tables.fired, rows.fired), (tables.cards, rows.cards),
            (tables.unresolved, rows.unresolved), (tables.left_out, rows.left_out))
