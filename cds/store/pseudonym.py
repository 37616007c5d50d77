"""Patient pseudonyms: a keyed hash (HMAC-SHA256), stable per key, not reversible without it.

Every replica sharing a database must use the same key, so that a card overridden on one
replica suppresses the same patient's card on another: the key comes from settings or,
when unset, is generated once and kept in the database's meta table.
"""

from __future__ import annotations

import hashlib
import hmac


class Pseudonymiser:
    def __init__(self, key: str) -> None:
        if not key:
            raise ValueError("the pseudonym key must not be empty")
        self._key = key.encode("utf-8")

    def __call__(self, patient_id: str | None) -> str | None:
        if not patient_id:
            return None
        return hmac.new(self._key, patient_id.encode("utf-8"), hashlib.sha256).hexdigest()

    def __repr__(self) -> str:  # the key never reaches a log line
        return "Pseudonymiser(key=<redacted>)"
