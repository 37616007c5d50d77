"""The HTTP/1.1 protocol `cds serve` runs: uvicorn's httptools protocol with a bounded head.

uvicorn parses HTTP/1.1 with httptools (llhttp) when it is installed, as it is here, and
neither bounds the request head: a client could stream megabytes of header fields before
the app, and authentication with it, ever ran (httptools even joins the pieces of an
unfinished field by concatenation). uvicorn's other parser, h11, has a bound
(`h11_max_incomplete_event_size`), but parses in Python: about 165 µs more CPU time for
each 80 KiB hook call than httptools, and it answers an oversized head with 400.

So this protocol keeps httptools and measures the head as it arrives, before the app runs:

- a request target longer than the line limit is answered 414 URI Too Long;
- a header field (`name: value`) longer than the line limit, or a head (request line and
  header lines, CRLFs included) longer than the total limit, is answered 431 Request
  Header Fields Too Large.

- a head that has begun but is not complete within the head timeout is answered 408
  Request Timeout (uvicorn only times out idle keep-alive connections, so a client
  trickling its head below the limits would otherwise hold a connection for ever).

These answers carry the service's JSON error body and end the connection. A head still
arriving is measured by the bytes received for it (leaving out those that shared a read
with the end of the previous request on the connection); a finished one, by what it parsed
to, which can only be less (by whitespace the parser drops). So a head within the limits is
never refused.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httptools
import orjson
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from cds.errors import HeaderFieldsTooLarge, RequestError, RequestHeadTimeout, URITooLong

log = logging.getLogger("cds.http")

# The request line around method and target (`  HTTP/1.1\r\n`), and the head's last CRLF.
_HEAD_FRAMING = len(b"  HTTP/1.1\r\n") + len(b"\r\n")

# After a refusal, how long what the client still sends is read and dropped before closing.
LINGER_SECONDS = 2.0


@dataclass(frozen=True)
class HeadLimits:
    total: int  # the head: request line and header lines, CRLFs included, in bytes
    line: int  # the request target, and each header field (`name: value`)
    timeout_s: float = 10.0  # from the head's first byte to its end


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a head over the limits."""


class HeadLimitedProtocol(HttpToolsProtocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: HeadLimits,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits
        self._in_head = True  # until the current request's head is complete
        self._head_received = 0  # bytes received while in the head (whole reads only)
        self._refusal: RequestError | None = None
        self._refused = False
        self._head_timer: asyncio.TimerHandle | None = None

    def data_received(self, data: bytes) -> None:
        """uvicorn's own `data_received`, with the head measured and refused over the limits."""
        if self._refused:
            return
        self._unset_keepalive_if_required()
        if self._in_head:
            if self._head_received == 0 and data:
                self._head_timer = self.loop.call_later(self.limits.timeout_s,
                                                        self._head_timed_out)
            self._head_received += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self._refusal is not None:
                self._refuse(self._refusal)
                return
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if self._in_head and self._head_received > self.limits.total:
            self._refuse(self._too_large())

    # --- parser callbacks --------------------------------------------------------------

    def on_url(self, url: bytes) -> None:
        self.url += url  # uvicorn's own on_url, checked as the target streams in
        if len(self.url) > self.limits.line:
            self._stop(URITooLong(f"the request target exceeds {self.limits.line} bytes"))

    def on_headers_complete(self) -> None:
        """The finished head, measured once: cheaper than a check per header field."""
        self._in_head = False
        self._cancel_head_timer()
        line = self.limits.line
        size = len(self.parser.get_method()) + len(self.url) + _HEAD_FRAMING
        for name, value in self.headers:
            field = len(name) + 2 + len(value)  # `name: value`
            if field > line:
                self._stop(HeaderFieldsTooLarge(f"a request header field exceeds {line} bytes"))
            size += field + 2
        if size > self.limits.total:
            self._stop(self._too_large())
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True
        self._head_received = 0

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    # --- refusing ----------------------------------------------------------------------

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._in_head and not self._refused and not self.transport.is_closing():
            self._refuse(RequestHeadTimeout(
                f"the request head did not arrive within {self.limits.timeout_s:g} s"))

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _too_large(self) -> HeaderFieldsTooLarge:
        return HeaderFieldsTooLarge(
            f"the request line and header fields exceed {self.limits.total} bytes")

    def _stop(self, refusal: RequestError) -> None:
        self._refusal = refusal
        raise _Refused(refusal.reason)

    def _refuse(self, refusal: RequestError) -> None:
        """Answer `refusal` and end the connection; the app never sees the request."""
        self._refused = True
        log.info("request refused before it reached the app: %s (%s)", refusal.message,
                 refusal.status, extra={"status": refusal.status, "reason": refusal.reason})
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined head while the previous response is still being written: an answer
            # now would interleave with it, so the connection is closed instead.
            self.transport.close()
            return
        body = orjson.dumps(refusal.body())
        head = [STATUS_LINE[refusal.status]]
        for name, value in self.server_state.default_headers:
            head.extend([name, b": ", value, b"\r\n"])
        head.extend([
            b"content-type: application/json\r\n",
            b"content-length: ", str(len(body)).encode("ascii"), b"\r\n",
            b"connection: close\r\n\r\n",
        ])
        self.transport.write(b"".join(head) + body)
        self._linger()

    def _linger(self) -> None:
        """Stop sending, drop what the client still sends for a moment, then close.

        Closing at once with unread input makes the kernel reset the connection, and a client
        still sending its head might then lose the answer instead of reading it.
        """
        if not self.transport.can_write_eof():  # TLS
            self.transport.close()
            return
        self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)


def head_limited_protocol(total: int, line: int,
                          timeout_s: float = 10.0) -> Callable[..., HeadLimitedProtocol]:
    """The `http` protocol factory for `uvicorn.Config` (picklable, for worker processes)."""
    return functools.partial(HeadLimitedProtocol,
                             limits=HeadLimits(total=total, line=line, timeout_s=timeout_s))
