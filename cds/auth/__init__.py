"""Authenticating EHRs: CDS Hooks JWTs checked against trusted issuers' key sets."""

from cds.auth.jwt import JWTVerifier, TokenRejected

__all__ = ["JWTVerifier", "TokenRejected"]
