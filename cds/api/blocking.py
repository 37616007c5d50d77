"""Running blocking store work (database I/O) from a route: in a thread, with a deadline.

A database that stops answering must not freeze the event loop, nor pile up threads: at
most `limit` calls wait in threads at once, and a caller waits at most `timeout_s` (for a
thread and for the work together). The work itself cannot be interrupted; a thread stuck in
it stays busy until the database answers or its own timeouts end it, and counts against
`limit` until then.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from cds.errors import StoreUnavailable

T = TypeVar("T")


class BlockingGate:
    def __init__(self, limit: int, timeout_s: float, *, queue: bool = True) -> None:
        """`queue`: wait (within the deadline) for a free slot; else fail at once."""
        self.timeout_s = timeout_s
        self.queue = queue
        self._slots = threading.BoundedSemaphore(limit)

    async def run(self, what: str, work: Callable[[], T]) -> T:
        """`work()` in a thread; StoreUnavailable (503) when it cannot finish in time."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        while not self._slots.acquire(blocking=False):
            if not self.queue or loop.time() >= deadline:
                raise StoreUnavailable(f"{what}: the database is busy or unavailable; "
                                       "try again later")
            await asyncio.sleep(0.02)

        def guarded() -> T:
            try:
                return work()
            finally:
                self._slots.release()

        task = asyncio.ensure_future(asyncio.to_thread(guarded))
        try:
            return await asyncio.wait_for(asyncio.shield(task), deadline - loop.time())
        except TimeoutError:
            task.add_done_callback(_consume)  # the thread finishes on its own
            raise StoreUnavailable(f"{what}: the database did not answer in time; "
                                   "try again later") from None


def _consume(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: a late failure is not logged as "never retrieved"
