"""One middleware that observes every HTTP request once: an access-log line (method, route,
status, latency; never headers or bodies) and, for error responses, the error counter.

It also opens the request's log scope (`cds.logs.call_scope`): the hookInstance and service
a route binds are on every line logged for the request, this access line included.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cds.logs import call_scope

if TYPE_CHECKING:
    from cds.metrics import Metrics

log = logging.getLogger("cds.access")


class RequestObserverMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics | None = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with call_scope():
            try:
                await self.app(scope, receive, send_wrapper)
            finally:
                self._observe(scope, status, started)

    def _observe(self, scope: Scope, status: int, started: float) -> None:
        reason = scope.get("state", {}).get("error_reason")
        log.info(
            "%s %s %s%s %.1fms", scope["method"], scope["path"], status,
            f" ({reason})" if reason else "", (time.perf_counter() - started) * 1000,
            extra={"status": status, "reason": reason},
        )
        if status >= 400 and self.metrics is not None:
            # the reason the error handlers recorded, or the bare status
            self.metrics.observe_error(str(reason or f"http-{status}"))
