"""Authenticating EHRs: CDS Hooks JWTs checked against trusted issuers' key sets."""

from cds.auth.errors import TokenRejected
from cds.auth.issuers import IssuerConfigError
from cds.auth.jwt import JWTVerifier

__all__ = ["IssuerConfigError", "JWTVerifier", "TokenRejected"]
