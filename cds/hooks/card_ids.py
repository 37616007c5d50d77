"""Card uuids that carry their issue time (UUIDv7, RFC 9562).

Feedback names a card by its uuid. When the card is not in the audit trail yet, the time
inside the uuid tells a card issued moments ago (its audit record may still be on its way to
the database: "try again") from one this service never issued ("unknown card").
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime

_VERSION = 7


def new_card_uuid(at: datetime | None = None) -> str:
    """A random UUIDv7: 48 bits of Unix time in ms (now, or `at`), version, variant, 74
    random bits."""
    ms = time.time_ns() // 1_000_000 if at is None else int(at.timestamp() * 1000)
    random = int.from_bytes(os.urandom(10), "big")
    value = (ms & (1 << 48) - 1) << 80
    value |= _VERSION << 76
    value |= (random >> 62 & 0xFFF) << 64
    value |= 0b10 << 62
    value |= random & (1 << 62) - 1
    return str(uuid.UUID(int=value))


def issued_at(card_uuid: str) -> datetime | None:
    """The issue time inside a UUIDv7 card uuid; None for any other string."""
    try:
        parsed = uuid.UUID(card_uuid)
    except ValueError:
        return None
    if parsed.version != _VERSION:
        return None
    return datetime.fromtimestamp((parsed.int >> 80) / 1000.0, UTC)
