"""The audit spool: every audit record is on local disk before the hook call's answer leaves.

A database that is down, a worker that is killed and a service that is restarted must not
lose the record of a call that was answered. So `append()` writes the record, as one JSON
line, to a segment file of this process before the call returns; the audit writer reads
the segments back and copies them to the database, and deletes a segment once all of it
is stored.

- One `os.write` per record, to a file opened with O_APPEND: a killed process leaves every
  record it returned from `append()` in the kernel's page cache. `sync()` (the writer calls
  it before each database write) fsyncs, so a crash of the machine loses at most the
  records of one flush interval.
- A segment is held with an exclusive `flock` while its process lives; the kernel drops the
  lock when the process dies, however it dies. Any writer sharing the directory (the other
  workers, the replacement of a killed worker, the next start) adopts segments it can lock
  and drains them.
- A segment is re-read from its start when adopted: records already stored (the process
  died after the commit and before the delete) are recognised by their call id and skipped.
- A last line without its newline (a write torn by a crash of the machine) is skipped and
  counted; it is never half-parsed.

The spool holds what the audit tables hold (the patient as a pseudonym), no more.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("cds.store.audit")

SUFFIX = ".audit.jsonl"
READ_BYTES = 1 << 20  # at most this much of a segment is read at once
REJECTED = "rejected"  # file name prefix of records the database refused (kept for review)


@dataclass
class Segment:
    """One spool file and how far the writer has read and stored it."""

    path: Path
    fd: int
    own: bool  # written by this process (else adopted from a dead one)
    read_offset: int = 0  # bytes parsed into records handed to the writer
    stored_offset: int = 0  # bytes whose records are in the database


@dataclass
class Chunk:
    """Lines read from one segment: the records and the offset after the last one."""

    segment: Segment
    lines: list[bytes] = field(default_factory=list)
    end_offset: int = 0


class Spool:
    """The segment files of one process in a directory shared with its sibling workers."""

    def __init__(self, directory: Path, *, segment_bytes: int = 4 * 1024 * 1024) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._append_lock = threading.Lock()
        self._segments: list[Segment] = []  # oldest first; the last own one takes appends
        self._current: Segment | None = None
        self._serial = 0
        self.torn_lines = 0

    # --- appending (any thread) ---------------------------------------------------------

    def append(self, line: bytes) -> None:
        """Write one record line; raises OSError when the disk refuses it."""
        with self._append_lock:
            if self._current is None:
                self._current = self._open_own()
            os.write(self._current.fd, line + b"\n")

    # --- the writer thread --------------------------------------------------------------

    def sync(self) -> None:
        """fsync the segment that takes appends (what is older was synced before)."""
        current = self._current
        if current is not None:
            os.fsync(current.fd)

    def adopt_orphans(self) -> int:
        """Take over segments whose process is gone (their lock is free). The number taken."""
        known = {segment.path for segment in self._segments}
        adopted = 0
        for path in sorted(self.directory.glob(f"*{SUFFIX}")):
            if path in known:
                continue
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue  # another writer drained it meanwhile
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)  # its process is alive
                continue
            if not path.exists():  # drained and deleted between our glob and our lock
                os.close(fd)
                continue
            self._segments.insert(0, Segment(path, fd, own=False))
            adopted += 1
        if adopted:
            log.info("adopted %d audit spool segment(s) left by a stopped process", adopted)
        return adopted

    def read(self, max_lines: int) -> Chunk | None:
        """Up to `max_lines` complete record lines from the oldest segment not yet read."""
        self._rotate_if_full()
        for segment in list(self._segments):
            chunk = self._read_segment(segment, max_lines)
            if chunk is not None:
                return chunk
        return None

    def stored(self, chunk: Chunk) -> None:
        """The chunk's records are in the database: delete segments fully stored."""
        chunk.segment.stored_offset = chunk.end_offset
        for segment in list(self._segments):
            if self._finished(segment):
                self._delete(segment)

    def reject(self, lines: list[bytes]) -> Path:
        """Keep records the database refused in a file beside the segments, for review."""
        path = self.directory / f"{REJECTED}-{socket.gethostname()}-{os.getpid()}.jsonl"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, b"".join(line + b"\n" for line in lines))
            os.fsync(fd)
        finally:
            os.close(fd)
        return path

    def close(self) -> None:
        """Release every segment; what is not stored stays on disk for the next writer."""
        with self._append_lock:
            for segment in self._segments:
                if self._finished_on_close(segment):
                    self._unlink(segment.path)
                os.close(segment.fd)
            self._segments.clear()
            self._current = None

    # --- internals ----------------------------------------------------------------------

    def _open_own(self) -> Segment:
        self._serial += 1
        name = f"{socket.gethostname()}-{os.getpid()}-{time.time_ns()}-{self._serial}{SUFFIX}"
        path = self.directory / name
        # Locked under a name no other writer adopts, then renamed: never seen unlocked.
        hidden = self.directory / f".{name}.new"
        fd = os.open(hidden, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.rename(hidden, path)
        segment = Segment(path, fd, own=True)
        self._segments.append(segment)
        return segment

    def _rotate_if_full(self) -> None:
        """Start a new segment once the current one is large, so that a drained segment can
        be deleted while the service keeps appending."""
        with self._append_lock:
            current = self._current
            if current is None:
                return
            if os.fstat(current.fd).st_size < self.segment_bytes:
                return
            self._current = self._open_own()

    def _read_segment(self, segment: Segment, max_lines: int) -> Chunk | None:
        """Complete lines after `read_offset`; a line still being written waits."""
        size = os.fstat(segment.fd).st_size
        left = size - segment.read_offset
        if left <= 0:
            return None
        data = os.pread(segment.fd, min(left, READ_BYTES), segment.read_offset)
        if b"\n" not in data and left > READ_BYTES:  # one record longer than READ_BYTES
            data = os.pread(segment.fd, left, segment.read_offset)
        complete = data[: data.rfind(b"\n")]
        lines = complete.split(b"\n")[:max_lines] if b"\n" in data else []
        if not lines:
            return None
        consumed = sum(len(line) + 1 for line in lines)
        segment.read_offset += consumed
        return Chunk(segment, [line for line in lines if line.strip()], segment.read_offset)

    def _finished(self, segment: Segment) -> bool:
        """Nothing more will be appended and everything in it is stored."""
        if segment is self._current:
            return False
        size = os.fstat(segment.fd).st_size
        if segment.stored_offset >= size:
            return True
        # Only an adopted segment can end in a torn line: its process is gone.
        torn = not segment.own and segment.stored_offset == segment.read_offset \
            and b"\n" not in os.pread(segment.fd, READ_BYTES, segment.read_offset)
        if torn:
            self.torn_lines += 1
            log.error("audit spool segment %s ends in a torn record; it is skipped",
                      segment.path.name)
            return True
        return False

    def _finished_on_close(self, segment: Segment) -> bool:
        try:
            return segment.stored_offset >= os.fstat(segment.fd).st_size
        except OSError:
            return False

    def _delete(self, segment: Segment) -> None:
        self._unlink(segment.path)
        os.close(segment.fd)
        self._segments.remove(segment)

    @staticmethod
    def _unlink(path: Path) -> None:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
