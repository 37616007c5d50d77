"""The audit writer: hook calls spool their audit record and return; a thread stores them.

- `record()` writes the record to the local spool (cds/store/spool.py) before the call
  answers, never blocks on the database and never raises.
- A background thread reads the spool every `flush_ms` (flush()/close() wake it at once),
  fsyncs it, and stores up to `batch_size` records per transaction.
- A batch the database cannot take (down, refusing, timing out) stays in the spool and is
  retried with backoff until it is stored: no record is given up because the database is
  away, however long. Only records the database refuses as data (an integrity or data
  error, found by retrying the batch record by record) are set aside, in a `rejected` file
  in the spool directory, counted and logged.
- Segments left by a process that died are adopted and stored (at start and every
  `adopt_s`), so a killed worker's records reach the database through its siblings or its
  replacement.
- Cards of records not stored yet are kept in a pending map, so feedback that arrives
  before the database has the card still finds it in this process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from sqlalchemy.exc import DataError, IntegrityError

from cds.store.interfaces import AuditRecord
from cds.store.spool import Chunk, Spool

log = logging.getLogger("cds.store.audit")

Encode = Callable[[AuditRecord], bytes]
StoreLines = Callable[[list[bytes]], int]  # stores spool lines, returns how many were new
Count = Callable[[str, int], None]  # (result: ok|failed|dropped, number of records)

RETRY_FIRST_S = 0.25
RETRY_MAX_S = 5.0
CLOSE_WAIT_WHILE_FAILING_S = 3.0
REFUSED_AS_DATA = (IntegrityError, DataError, ValueError)


@dataclass(frozen=True)
class PendingCard:
    """What feedback needs of a card whose audit record is not stored yet."""

    rule_id: str
    service_id: str
    patient_id: str | None


class AuditWriter:
    def __init__(
        self,
        spool: Spool,
        encode: Encode,
        store_lines: StoreLines,
        *,
        batch_size: int = 200,
        flush_ms: int = 200,
        adopt_s: float = 10.0,
        count: Count | None = None,
    ) -> None:
        self.spool = spool
        self._encode = encode
        self._store_lines = store_lines
        self._batch_size = batch_size
        self._flush_s = flush_ms / 1000.0
        self._adopt_s = adopt_s
        self._count = count or (lambda _result, _n: None)
        self._pending: dict[str, PendingCard] = {}
        self._lock = threading.Lock()
        self._progress = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._appended = 0  # records this process spooled
        self._stored = 0  # of those, stored (or set aside as refused)
        self._failing_since: float | None = None
        self._dropped_logged_at = 0.0

    # --- caller side -------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="cds-audit-writer",
                                            daemon=True)
            self._thread.start()

    def record(self, record: AuditRecord) -> None:
        """Spool a record for storing. Never blocks on the database, never raises."""
        try:
            if self._closed:
                self._drop("the audit writer is closed")
                return
            line = self._encode(record)
            with self._lock:
                for card in record.cards:
                    self._pending[card.uuid] = PendingCard(
                        card.rule_id, record.service_id, record.patient_id)
                self.spool.append(line)
                self._appended += 1
        except OSError as exc:
            self._forget(record)
            self._drop(f"the audit spool cannot be written ({exc.strerror})")
        except Exception:  # the audit trail must never fail a hook call
            log.exception("audit record could not be spooled")

    def pending_card(self, card_uuid: str) -> PendingCard | None:
        with self._lock:
            return self._pending.get(card_uuid)

    @property
    def depth(self) -> int:
        """Records of this process spooled and not stored yet."""
        with self._lock:
            return self._appended - self._stored

    @property
    def failing_since(self) -> float | None:
        """time.monotonic() of the first failed store of the current outage, else None."""
        return self._failing_since

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until every record spooled so far is stored. False on timeout."""
        with self._lock:
            target = self._appended
        if self._thread is None or not self._thread.is_alive():
            return self._stored >= target
        self._wake.set()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._progress:
            while self._stored < target:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._progress.wait(left)
        return True

    def close(self, timeout: float | None = 30.0) -> None:
        """Stop taking records, store what the database takes within `timeout`; what it
        does not take stays in the spool for the next start."""
        self._closed = True
        if self._thread is not None:
            # While the database is away, waiting long for it would only delay the shutdown.
            if self._failing_since is not None and timeout is not None:
                timeout = min(timeout, CLOSE_WAIT_WHILE_FAILING_S)
            self.flush(timeout)
            self._stop.set()
            self._wake.set()
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("the audit writer did not stop within %ss; its records stay in the "
                          "spool for the next start", timeout)
                return
            self._thread = None
        with self._lock:
            left = self._appended - self._stored
        if left:
            log.warning("%d audit record(s) not stored yet stay in the spool at %s and are "
                        "stored at the next start", left, self.spool.directory)
        self.spool.close()

    # --- writer thread -----------------------------------------------------------------

    def _run(self) -> None:
        adopted_at = float("-inf")
        retry_s = RETRY_FIRST_S
        while not self._stop.is_set():
            if time.monotonic() - adopted_at >= self._adopt_s:
                adopted_at = time.monotonic()
                self._adopt()
            chunk = self._read()
            if chunk is None:
                self._wake.wait(self._flush_s)
                self._wake.clear()
                continue
            while not self._store(chunk):
                if self._stop.is_set():
                    return
                self._wake.wait(retry_s)  # flush()/close() try again at once
                self._wake.clear()
                retry_s = min(retry_s * 2, RETRY_MAX_S)
            retry_s = RETRY_FIRST_S

    def _adopt(self) -> None:
        try:
            self.spool.adopt_orphans()
        except OSError as exc:
            log.error("the audit spool directory cannot be read (%s)", exc.strerror)

    def _read(self) -> Chunk | None:
        try:
            chunk = self.spool.read(self._batch_size)
            if chunk is not None:
                self.spool.sync()
            return chunk
        except OSError as exc:
            log.error("the audit spool cannot be read (%s)", exc.strerror)
            return None

    def _store(self, chunk: Chunk) -> bool:
        """Store the chunk's records; False while the database cannot take them."""
        try:
            self._store_lines(chunk.lines)
        except Exception as exc:
            if not self._store_one_by_one(chunk, exc):
                return False
        else:
            self._count("ok", len(chunk.lines))
        if self._failing_since is not None:
            log.warning("audit records are stored again after %.1f s",
                        time.monotonic() - self._failing_since)
            self._failing_since = None
        self._done(chunk)
        return True

    def _store_one_by_one(self, chunk: Chunk, batch_error: Exception) -> bool:
        """After a failed batch: store what the database takes, set aside what it refuses as
        data. False (nothing set aside) when it fails for any other reason."""
        stored, refused = 0, []
        for line in chunk.lines:
            try:
                self._store_lines([line])
                stored += 1
            except REFUSED_AS_DATA:
                refused.append(line)
            except Exception as exc:
                self._failing(exc if stored or refused else batch_error)
                return False
        if stored:
            self._count("ok", stored)
        if refused:
            self._set_aside(refused)
        return True

    def _failing(self, exc: Exception) -> None:
        if self._failing_since is None:
            self._failing_since = time.monotonic()
            log.error("audit records cannot be stored (%s); they stay in the spool and are "
                      "retried until the database takes them", type(exc).__name__)

    def _set_aside(self, lines: list[bytes]) -> None:
        try:
            path = self.spool.reject(lines)
        except OSError as exc:
            log.error("%d audit record(s) refused by the database could not be set aside "
                      "(%s)", len(lines), exc.strerror)
        else:
            log.error("%d audit record(s) refused by the database were set aside in %s",
                      len(lines), path)
        self._count("failed", len(lines))

    def _done(self, chunk: Chunk) -> None:
        self.spool.stored(chunk)
        if not chunk.segment.own:
            return
        uuids = _card_uuids(chunk.lines)
        with self._progress:
            for uuid in uuids:
                self._pending.pop(uuid, None)
            self._stored += len(chunk.lines)
            self._progress.notify_all()

    # --- helpers -----------------------------------------------------------------------

    def _forget(self, record: AuditRecord) -> None:
        with self._lock:
            for card in record.cards:
                self._pending.pop(card.uuid, None)

    def _drop(self, why: str) -> None:
        self._count("dropped", 1)
        now = time.monotonic()
        if now - self._dropped_logged_at > 5.0:  # one line per burst, not one per record
            self._dropped_logged_at = now
            log.error("audit record dropped: %s", why)


def _card_uuids(lines: list[bytes]) -> list[str]:
    """The card uuids of spool lines (cheaply: only lines that name cards are parsed)."""
    uuids: list[str] = []
    for line in lines:
        if b'"cards":[]' in line:
            continue
        try:
            uuids.extend(card[0] for card in orjson.loads(line)["cards"])
        except (orjson.JSONDecodeError, KeyError, TypeError, IndexError):
            continue
    return uuids
