"""One access-log line per request: method, route, status, latency. Never headers or bodies."""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("cds.access")


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

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
            log.info(
                "%s %s %s %.1fms",
                scope["method"], scope["path"], status, (time.perf_counter() - started) * 1000,
                extra={
                    "status": status,
                    "reason": state.get("error_reason"),
                    "hook_instance": state.get("hook_instance"),
                },
            )
