"""Authenticating EHRs: CDS Hooks JWTs checked against trusted issuers' key sets."""

from cds.auth.errors import TokenRejected
from cds.auth.jwt import JWTVerifier

__all__ = ["JWTVerifier", "TokenRejected"]
