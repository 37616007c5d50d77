"""The one failure of token checking: `TokenRejected`, a 401 that names its reason only in logs."""

from __future__ import annotations

from cds.errors import AuthError


class TokenRejected(AuthError):
    """A 401 whose `why` says which check failed (for logs and tests, never for the caller)."""

    def __init__(self, why: str, *, missing: bool = False) -> None:
        # RFC 6750 3.1: a request without credentials gets a challenge without an error code.
        headers = {"WWW-Authenticate": "Bearer"} if missing else None
        super().__init__(headers=headers)
        self.why = why
