"""The one error tree of the service. Routes raise these; one handler turns them into JSON.

    CDSError                      status  reason
    ├── RequestError              400     bad-request          (the caller's body or headers)
    │   ├── MalformedJSON         400     malformed-json
    │   ├── InvalidRequest        400     invalid-request      (schema errors, with field paths)
    │   ├── HookMismatch          400     hook-mismatch
    │   ├── UnsupportedMediaType  415     unsupported-media-type
    │   ├── PayloadTooLarge       413     payload-too-large
    │   ├── UnknownService        404     unknown-service
    │   ├── UnknownCard           404     unknown-card
    │   ├── PrefetchUnavailable   412     prefetch-unavailable
    │   ├── URITooLong            414     uri-too-long         (these two are answered by
    │   ├── HeaderFieldsTooLarge  431     header-fields-too-large   the HTTP protocol itself,
    │   ├── RequestHeadTimeout    408     request-timeout           as is this one)
    │   └── ClientClosedRequest   499     client-closed-request     (the caller hung up)
    ├── AuthError                 401     unauthorized         (+ WWW-Authenticate)
    ├── TryAgainLater             503     (+ Retry-After)
    │   ├── StoreUnavailable      503     store-unavailable    (feedback only)
    │   └── ReplayCheckUnavailable 503    replay-check-unavailable
    ├── RulePackError             --      (load/compile time: never reaches an EHR)
    ├── TerminologyError          --      (`cds terminology import`: a source it cannot read)
    └── StoreError                --      (logged and counted; never fails a hook call)

Every error carries a machine-readable `reason` and a human `message`; `details` holds
structured extras such as field paths. The body an EHR sees is
`{"error": reason, "message": ..., "details": [...]}`.
"""

from __future__ import annotations

from typing import Any, ClassVar


class CDSError(Exception):
    status: ClassVar[int] = 500
    reason: ClassVar[str] = "internal-error"

    def __init__(
        self,
        message: str,
        details: list[Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []
        self.headers: dict[str, str] = headers or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.reason, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class RequestError(CDSError):
    status = 400
    reason = "bad-request"


class MalformedJSON(RequestError):
    reason = "malformed-json"


class InvalidRequest(RequestError):
    reason = "invalid-request"


class HookMismatch(RequestError):
    reason = "hook-mismatch"


class UnsupportedMediaType(RequestError):
    status = 415
    reason = "unsupported-media-type"


class PayloadTooLarge(RequestError):
    status = 413
    reason = "payload-too-large"


class UnknownService(RequestError):
    status = 404
    reason = "unknown-service"


class UnknownCard(RequestError):
    status = 404
    reason = "unknown-card"


class PrefetchUnavailable(RequestError):
    status = 412
    reason = "prefetch-unavailable"


class URITooLong(RequestError):
    status = 414
    reason = "uri-too-long"


class HeaderFieldsTooLarge(RequestError):
    status = 431
    reason = "header-fields-too-large"


class RequestHeadTimeout(RequestError):
    status = 408
    reason = "request-timeout"


class ClientClosedRequest(RequestError):
    """The client closed the connection before its request was read (nginx's 499).

    Not a failure of the service: logged at INFO and counted under its own reason.
    """

    status = 499
    reason = "client-closed-request"


class AuthError(CDSError):
    """401. The message stays generic: why a token failed is logged, never told the caller."""

    status = 401
    reason = "unauthorized"

    def __init__(
        self,
        message: str = "missing or invalid bearer token",
        details: list[Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        challenge = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        super().__init__(message, details, headers or challenge)


class TryAgainLater(CDSError):
    """503 with Retry-After: the service cannot answer this request now, and the same
    request may be sent again."""

    status = 503
    reason = "unavailable"

    def __init__(self, message: str, retry_after_s: int = 5) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after_s)})


class StoreUnavailable(TryAgainLater):
    """Feedback cannot be stored or checked now (the database is away, or the card's audit
    record is still on its way to it)."""

    reason = "store-unavailable"


class ReplayCheckUnavailable(TryAgainLater):
    """The shared `jti` store cannot answer and the service is set to refuse calls it cannot
    check (CDS_REPLAY_UNAVAILABLE=reject)."""

    reason = "replay-check-unavailable"

    def __init__(self, message: str, retry_after_s: int = 2) -> None:
        super().__init__(message, retry_after_s)


class RulePackError(CDSError):
    """A rule pack that cannot be loaded, checked or compiled."""

    reason = "rule-pack-error"


class TerminologyError(CDSError):
    """A value-set or drug-data source that cannot be read or imported."""

    reason = "terminology-error"


class StoreError(CDSError):
    """The audit/feedback store failed; logged and counted, never shown to an EHR."""

    reason = "store-error"
