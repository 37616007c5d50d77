"""The time claims of a signature-checked token: `exp`, `iat` and `nbf`.

CDS Hooks 2.0 defines `exp` and `iat` as JSON numbers (seconds since the epoch). PyJWT would
read `"exp": "1700000000"` (a string) or `true` as a time, so the types are checked here,
and the times with them, against one clock: `exp` not past, `iat` and `nbf` not in the
future (each within the clock skew), and the token's lifetime (`exp - iat`) at most the
configured maximum plus the skew. `iat` is required (CDS Hooks 2.0), so every accepted token
has a known lifetime, and the replay cache never holds a `jti` for longer than that.
"""

from __future__ import annotations

from typing import Any

from cds.auth.errors import TokenRejected

TIME_CLAIMS = ("exp", "iat", "nbf")


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and value == value and abs(value) != float("inf")


def check_times(claims: dict[str, Any], now: float, skew: float, max_lifetime: float) -> None:
    """Raise TokenRejected unless the time claims are numbers and hold at `now`.

    `exp` and `iat` are present: the decoder's required claims include them."""
    for name in TIME_CLAIMS:
        if name in claims and not _is_number(claims[name]):
            raise TokenRejected(f"{name}-not-a-number")
    exp, iat, nbf = claims["exp"], claims["iat"], claims.get("nbf")
    if exp <= now - skew:
        raise TokenRejected("expired")
    if iat > now + skew or (nbf is not None and nbf > now + skew):
        raise TokenRejected("not-yet-valid")
    if exp - iat > max_lifetime + skew:
        raise TokenRejected("lifetime-too-long")
