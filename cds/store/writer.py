"""The audit writer: hook calls queue their audit record and return; a thread writes batches.

- `record()` never blocks on I/O and never raises: a full queue drops the record, counts
  it and logs (without patient data).
- A background thread takes up to `batch_size` records, waiting at most `flush_ms` after
  the first one, and writes them in one transaction. While it waits it sleeps: queueing
  a record does not wake it (a wake-up per hook call cost the calls more CPU than the
  writes); a full batch is taken without waiting, and flush()/close() wake it at once.
  A failed batch is retried once record by record (so one bad record cannot sink the
  others); what still fails is counted.
- `flush()` waits until everything queued before it is written; `close()` drains the
  queue and stops the thread.
- Cards of queued records are kept in a pending map until written, so feedback that
  arrives before the batch reaches the database still finds its card.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cds.store.interfaces import AuditRecord

log = logging.getLogger("cds.store.audit")

WriteBatch = Callable[[list[AuditRecord]], None]
Count = Callable[[str, int], None]  # (result: ok|failed|dropped, number of records)


@dataclass(frozen=True)
class PendingCard:
    """What feedback needs of a card whose audit record is not written yet."""

    rule_id: str
    service_id: str
    patient_id: str | None


@dataclass
class _Marker:
    """Queued behind records: set once everything before it is written."""

    done: threading.Event = field(default_factory=threading.Event)
    stop: bool = False


class AuditWriter:
    def __init__(
        self,
        write_batch: WriteBatch,
        *,
        queue_size: int = 10_000,
        batch_size: int = 200,
        flush_ms: int = 200,
        count: Count | None = None,
    ) -> None:
        self._write_batch = write_batch
        self._queue: queue.Queue[AuditRecord | _Marker] = queue.Queue(maxsize=queue_size)
        self._batch_size = batch_size
        self._flush_s = flush_ms / 1000.0
        self._count = count or (lambda _result, _n: None)
        self._pending: dict[str, PendingCard] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()  # set by flush()/close(): stop waiting for a batch
        self._thread: threading.Thread | None = None
        self._closed = False
        self._dropped_logged_at = 0.0

    # --- caller side -------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="cds-audit-writer",
                                            daemon=True)
            self._thread.start()

    def record(self, record: AuditRecord) -> None:
        """Queue a record for writing. Never blocks, never raises."""
        try:
            if self._closed:
                self._drop("the audit writer is closed")
                return
            with self._lock:
                for card in record.cards:
                    self._pending[card.uuid] = PendingCard(
                        card.rule_id, record.service_id, record.patient_id
                    )
            try:
                self._queue.put_nowait(record)
            except queue.Full:
                self._forget(record)
                self._drop("the audit queue is full")
        except Exception:  # the audit trail must never fail a hook call
            log.exception("audit record could not be queued")

    def pending_card(self, card_uuid: str) -> PendingCard | None:
        with self._lock:
            return self._pending.get(card_uuid)

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until every record queued so far is written (or failed). False on timeout."""
        if self._thread is None or not self._thread.is_alive():
            return self._queue.empty()
        marker = _Marker()
        try:
            self._queue.put(marker, timeout=timeout)
        except queue.Full:
            return False
        self._wake.set()
        return marker.done.wait(timeout)

    def close(self, timeout: float | None = 30.0) -> None:
        """Stop taking records, write everything queued, stop the thread."""
        self._closed = True
        if self._thread is None:
            self._drain_inline()
            return
        marker = _Marker(stop=True)
        try:
            self._queue.put(marker, timeout=timeout)
        except queue.Full:
            log.error("audit writer did not accept the stop signal; records may be lost")
            return
        self._wake.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("audit writer did not finish within %ss; records may be lost", timeout)
            return
        self._thread = None
        self._drain_inline()  # records queued by callers racing with close()

    # --- writer thread -----------------------------------------------------------------

    def _run(self) -> None:
        while True:
            batch, marker = self._collect()
            if batch:
                self._write(batch)
            if marker is not None:
                marker.done.set()
                if marker.stop:
                    return

    def _collect(self) -> tuple[list[AuditRecord], _Marker | None]:
        """Block for a first record, then let more arrive until the batch could be full or
        its flush deadline passes (flush()/close() cut the wait short), and take what is
        queued. A marker ends the batch early."""
        first = self._queue.get()
        if isinstance(first, _Marker):
            return [], first
        batch = [first]
        if self._queue.qsize() + 1 < self._batch_size:
            self._wake.wait(self._flush_s)
        self._wake.clear()
        while len(batch) < self._batch_size:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Marker):
                return batch, item
            batch.append(item)
        return batch, None

    def _write(self, batch: list[AuditRecord]) -> None:
        try:
            self._write_batch(batch)
        except Exception as exc:
            log.warning("audit batch of %d failed (%s); retrying record by record",
                        len(batch), type(exc).__name__)
            self._write_one_by_one(batch)
        else:
            self._count("ok", len(batch))
        for record in batch:
            self._forget(record)

    def _write_one_by_one(self, batch: list[AuditRecord]) -> None:
        failed = 0
        last_error = ""
        for record in batch:
            try:
                self._write_batch([record])
            except Exception as exc:
                failed += 1
                last_error = type(exc).__name__
        if failed:
            log.error("audit write failed for %d of %d records (%s)",
                      failed, len(batch), last_error)
            self._count("failed", failed)
        if failed < len(batch):
            self._count("ok", len(batch) - failed)

    def _drain_inline(self) -> None:
        """close() without a thread: write whatever was queued, in the caller's thread."""
        batch: list[AuditRecord] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, AuditRecord):
                batch.append(item)
        for start in range(0, len(batch), self._batch_size):
            self._write(batch[start:start + self._batch_size])

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
