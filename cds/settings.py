"""Service settings: one object, read from `CDS_*` environment variables and `cds serve` flags.

Tests build their own `Settings(...)` and pass it to `create_app`; nothing patches a global.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _bundled_rules_dir() -> Path:
    """The rule pack shipped with the service: `cds/_pack` in an installed wheel (setup.py
    puts rules/ there), else `rules/` beside the package in a source checkout."""
    package = Path(__file__).resolve().parent
    installed = package / "_pack"
    return installed if installed.is_dir() else package.parent / "rules"


BUNDLED_RULES_DIR = _bundled_rules_dir()


class Settings(BaseSettings):
    """Every knob of the service. Field names map to `CDS_<NAME>` environment variables."""

    model_config = SettingsConfigDict(env_prefix="CDS_", extra="ignore")

    # --- HTTP server -------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    public_base_url: str | None = Field(
        default=None,
        description="Base URL EHRs call (e.g. https://cds.example.org). JWT `aud` is checked "
        "against <base>/cds-services/<id>; defaults to the URL the request arrived on.",
    )
    max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    max_header_bytes: int = Field(
        default=16 * 1024, ge=1024, le=1024 * 1024,
        description="The request head (request line and header lines); over it: 431.",
    )
    max_header_line_bytes: int = Field(
        default=8 * 1024, ge=256, le=1024 * 1024,
        description="The request target (414 over it) and each header field (431).",
    )
    header_timeout_ms: int = Field(
        default=10_000, ge=100, le=300_000,
        description="Longest time a request head may take to arrive once it has begun; "
        "over it: 408 and the connection is closed (a client trickling its head never holds "
        "a connection for long).",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["*"])
    log_level: str = "INFO"
    log_json: bool = True

    # --- Rule pack ---------------------------------------------------------------------
    rules_dir: Path = BUNDLED_RULES_DIR
    reload: bool = False
    pack_version: str | None = Field(
        default=None,
        description="The only rule pack version this replica may serve (a rollout pin): a "
        "reload to another version is refused and /readyz is 503 while another one serves.",
    )
    fhir_validation: Literal["fast", "strict"] = Field(
        default="fast",
        description="fast: typed extraction of the fields the rules use, bad resources "
        "skipped with a note; strict: every resource also validated with fhir.resources R4B.",
    )

    # --- Authentication (CDS Hooks 2.0 JWT) --------------------------------------------
    auth: Literal["on", "off"] = "on"
    # JSON object: {"<iss>": {"jwks_url": "...", "jwks_file": "...", "jku_allow": ["..."],
    # "jku_files": {"<jku URL>": "<file>"}, "tenants": [...]}}, checked at start
    # (cds/auth/issuers.py).
    trusted_issuers: dict[str, dict[str, object]] = Field(default_factory=dict)
    jwt_clock_skew_seconds: int = Field(default=60, ge=0, le=600)
    jwt_max_lifetime_seconds: int = Field(
        default=300, ge=1, le=3600,
        description="Longest JWT lifetime accepted: `exp - iat` may exceed it by the clock "
        "skew at most.",
    )
    jwt_algorithms: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["ES384", "RS384", "ES256", "RS256"]
    )
    jwks_cache_seconds: int = Field(default=3600, ge=0)
    jwks_refetch_min_seconds: int = Field(
        default=30, ge=0, le=3600,
        description="Least time between two JWKS refetches forced by an unknown `kid`.",
    )
    jwks_unknown_kid_wait_ms: int = Field(
        default=500, ge=0, le=3000,
        description="Longest a call with an unknown `kid` waits for the key-set refetch in "
        "flight; calls with a cached `kid` never wait.",
    )
    jti_cache_size: int = Field(default=100_000, ge=100, description="Replay cache bound.")
    replay_store: Literal["auto", "memory", "redis", "database"] = Field(
        default="auto",
        description="Where the `jti`s of accepted tokens are remembered, so that a token is "
        "accepted once by every process that shares it: `redis` (CDS_REDIS_URL), `database` "
        "(the store's database), `memory` (this process only). `auto`: redis when "
        "CDS_REDIS_URL is set, else the database when it is PostgreSQL or there are several "
        "workers, else memory.",
    )
    replay_unavailable: Literal["reject", "accept"] = Field(
        default="reject",
        description="When the shared replay store cannot answer: `reject` refuses the call "
        "with 503 (a token is never accepted unchecked), `accept` lets it through unchecked. "
        "Either way each failure is logged.",
    )
    replay_timeout_ms: int = Field(default=500, ge=10, le=10_000)
    redis_url: str | None = Field(
        default=None, description="redis://host:6379/0 for the shared replay store.")

    # --- FHIR server fallback (prefetch) -----------------------------------------------
    fhir_server_allow: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="URL prefixes of FHIR servers the service may contact for missing prefetch.",
    )
    fhir_deadline_ms: int = Field(default=600, ge=50, le=10_000)
    fhir_page_cap: int = Field(default=5, ge=1, le=100)
    fhir_max_response_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1024,
        description="Most bytes of FHIR response body read for one prefetch key, all its "
        "pages together; a larger answer is dropped with a data note.",
    )
    fhir_max_connections: int = Field(
        default=100, ge=1, le=1000,
        description="Open connections to FHIR servers per worker process, shared by all calls.",
    )
    fhir_allow_http: bool = Field(
        default=False, description="Permit plain-http FHIR servers (loopback tests only)."
    )

    # --- Store, audit, suppression -----------------------------------------------------
    database_url: str = "sqlite:///./cds.sqlite3"
    pseudonym_key: str | None = Field(
        default=None,
        description="Key for the keyed hash that pseudonymises patient ids in the audit "
        "trail. Generated per database when unset.",
    )
    audit_raw_patient_id: bool = False
    audit_spool_dir: Path | None = Field(
        default=None,
        description="Directory of the local audit spool: every audit record is written there "
        "before the call answers and stored in the database from there, so a database outage, "
        "a killed worker or a restart loses none. Default: beside the SQLite file, else "
        "./cds-audit-spool/<hash of the database URL>. Workers of one service share it; two "
        "services with different databases must not.",
    )
    database_timeout_ms: int = Field(
        default=3000, ge=100, le=60_000,
        description="Longest wait for the database on behalf of a request (connect, pool, "
        "statement; feedback and readiness give up after it). Hook calls never wait for it.",
    )
    audit_queue_size: int = Field(default=10_000, ge=10)
    audit_batch_size: int = Field(default=200, ge=1)
    audit_flush_ms: int = Field(default=200, ge=1)
    suppression_refresh_ms: int = Field(
        default=1000, ge=0,
        description="How often the patients with overridden cards are re-read from the "
        "database: an override made through another replica applies here within this time.",
    )

    @field_validator("cors_origins", "fhir_server_allow", "jwt_algorithms", mode="before")
    @classmethod
    def _split_csv(cls, value: object) -> object:
        """Accept `a,b,c` in environment variables as well as JSON lists."""
        if isinstance(value, str) and value.lstrip().startswith("["):
            return json.loads(value)
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @property
    def auth_enabled(self) -> bool:
        return self.auth == "on"
