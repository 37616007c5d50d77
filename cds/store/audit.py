"""Audit records as spool lines, spool lines as rows, and a batch of rows written in one
transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import orjson
from sqlalchemy import Connection, Engine, insert, select

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


def spool_line(record: AuditRecord, pseudonymise: Pseudonymiser,
               keep_raw_patient_id: bool = False) -> bytes:
    """The record as one spool line: a call id of its own (so that a record stored twice is
    recognised), the patient as a pseudonym (the raw id only when configured)."""
    return orjson.dumps({
        "id": uuid.uuid4().hex,
        "time": record.time,
        "service": record.service_id,
        "hook": record.hook,
        "hook_instance": record.hook_instance,
        "patient": pseudonymise(record.patient_id),
        "patient_id": record.patient_id if keep_raw_patient_id else None,
        "pack_version": record.pack_version,
        "status": record.status,
        "latency_ms": float(record.latency_ms),
        "notes": list(record.notes),
        "error": record.error,
        "fired": [{"rule": str(m.get("rule", "")), "facts": [str(f) for f in m.get("facts", [])]}
                  for m in record.fired],
        "cards": [[c.uuid, c.rule_id, c.indicator, c.summary, c.problem]
                  for c in record.cards],
        "unresolved": [list(code) for code in record.unresolved],
        "left_out": list(record.left_out),
    })


def rows_of(line: bytes) -> Rows:
    """The table rows of one spool line (raises ValueError for a line that is not one)."""
    try:
        entry = orjson.loads(line)
        call_id = str(entry["id"])
        time = datetime.fromisoformat(entry["time"])
        rows = Rows()
        rows.calls.append({
            "id": call_id, "time": time, "service": entry["service"], "hook": entry["hook"],
            "hook_instance": entry["hook_instance"], "patient": entry["patient"],
            "patient_id": entry["patient_id"], "pack_version": entry["pack_version"],
            "status": int(entry["status"]), "latency_ms": float(entry["latency_ms"]),
            "notes": list(entry["notes"]), "error": entry["error"],
        })
        rows.fired = [{"call_id": call_id, "rule_id": match["rule"], "facts": match["facts"]}
                      for match in entry["fired"]]
        rows.cards = [{"uuid": uuid_, "call_id": call_id, "issued_at": time,
                       "service": entry["service"], "rule_id": rule_id, "indicator": indicator,
                       "summary": summary, "problem": problem, "patient": entry["patient"]}
                      for uuid_, rule_id, indicator, summary, problem in entry["cards"]]
        rows.unresolved = [{"call_id": call_id, "time": time, "system": system[:256],
                            "code": code[:128], "display": display[:128]}
                           for system, code, display in entry["unresolved"]]
        rows.left_out = [{"call_id": call_id, "time": time, "rule_id": rule_id[:32]}
                         for rule_id in entry["left_out"]]
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not an audit spool line ({type(exc).__name__})") from exc
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


def write_rows(engine: Engine, rows: Rows) -> int:
    """Insert one batch in a single transaction, many rows per INSERT statement.

    Why not a plain executemany: the database driver releases the GIL around every row it
    steps, and while hook calls keep the other thread busy each release costs the writer a
    wait for the GIL (up to the switch interval), which held it to ~60 records/s. With
    RETURNING, SQLAlchemy sends an executemany as multi-row INSERTs ("insertmanyvalues"),
    rendered from one cached statement: the driver steps once per page of rows.
    """
    with engine.begin() as conn:
        conn = conn.execution_options(insertmanyvalues_page_size=PAGE_ROWS)
        rows = _not_stored_yet(conn, rows)
        for table, batch in _batches(rows):
            if batch:
                statement = insert(table).returning(next(iter(table.primary_key.columns)))
                for page in pages(batch):
                    conn.execute(statement, page)
    return len(rows.calls)


def _not_stored_yet(conn: Connection, rows: Rows) -> Rows:
    """The rows of calls not in the database yet. A batch is one transaction, so a call is
    stored with all its rows or not at all; a spool segment re-read after a crash (or a
    batch whose commit was acknowledged too late) then stores each call once."""
    ids = [row["id"] for row in rows.calls]
    stored = set(conn.execute(select(tables.calls.c.id).where(tables.calls.c.id.in_(ids)))
                 .scalars()) if ids else set()
    if not stored:
        return rows
    kept = Rows()
    kept.calls = [row for row in rows.calls if row["id"] not in stored]
    for name in ("fired", "cards", "unresolved", "left_out"):
        setattr(kept, name, [row for row in getattr(rows, name) if row["call_id"] not in stored])
    return kept


def _batches(rows: Rows) -> Sequence[tuple[Any, list[dict[str, Any]]]]:
    return ((tables.calls, rows.calls), (tables.fired, rows.fired), (tables.cards, rows.cards),
            (tables.unresolved, rows.unresolved), (tables.left_out, rows.left_out))
