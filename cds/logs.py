"""Structured logs: one JSON object per line, no patient data, no tokens.

Only what an operator needs is logged: route, service, status, latency, counts and the
hookInstance (a random UUID). Request bodies, headers and patient ids are never logged.

- `bind_call` names the call a request handles (`hookInstance`, `service`): every line
  logged while that request runs carries them, whichever module logs it.
- Other fields come from `extra=` and only those named in `LOG_FIELDS` are kept, so a value
  passed that way by mistake (a payload, a token) does not reach the log.
- A line logged with an exception carries its formatted traceback in `exception` (frames
  and message, no local variables).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TextIO

import structlog

LOG_FIELDS = ("status", "reason", "hookInstance", "service")

_call_fields: ContextVar[dict[str, str] | None] = ContextVar("cds_call_fields", default=None)


def bind_call(**fields: str) -> None:
    """Add fields (`hookInstance=`, `service=`) to every line logged for this call."""
    _call_fields.set({**(_call_fields.get() or {}), **fields})


@contextmanager
def call_scope() -> Iterator[None]:
    """One request: what `bind_call` sets inside the block ends with it."""
    token = _call_fields.set(None)
    try:
        yield
    finally:
        _call_fields.reset(token)


def _add_call_fields(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key, value in (_call_fields.get() or {}).items():
        event_dict.setdefault(key, value)
    return event_dict


class _CdsHandler(logging.StreamHandler[TextIO]):
    """The handler `configure_logging` installs; calling it again replaces it."""

    _cds_handler = True


def configure_logging(level: str = "INFO", json: bool = True, stream: TextIO | None = None) -> None:
    """Send every log record to `stream` (stderr), as JSON lines or for a console."""
    # The console renderer draws tracebacks itself; JSON needs them as text.
    finish: list[structlog.typing.Processor] = (
        [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()] if json
        else [structlog.dev.ConsoleRenderer()]
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *finish],
        foreign_pre_chain=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.stdlib.ExtraAdder(allow=LOG_FIELDS),
            _add_call_fields,
        ],
    )
    handler = _CdsHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_cds_handler", False):
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).setLevel(logging.WARNING)
