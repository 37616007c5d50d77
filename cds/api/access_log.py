"""One middleware that observes every HTTP request once: an access-log line (method, route,
status, latency; never headers or bodies) and, for error responses, the error counter."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

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

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            state = scope.get("state", {})
            reason = state.get("error_reason")
            log.info(
                "%s %s %s %.1fms",
                scope["method"], scope["path"], status, (time.perf_counter() - started) * 1000,
                extra={"status": status, "reason": reason,
                       "hook_instance": state.get("hook_instance")},
            )
            if status >= 400 and self.metrics is not None:
                # the reason the error handlers recorded, or the bare status
                self.metrics.observe_error(str(reason or f"http-{status}"))
