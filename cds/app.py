"""The ASGI application: `create_app(settings)` wires the parts (`cds serve` runs it through
`cds.serving.factory`).

No logic lives here: routes are in cds/api, the pipeline in cds/pipeline.py, the rule pack
in cds/rules, the store in cds/store.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from cds.api import discovery, feedback, health, invocation
from cds.api.access_log import RequestObserverMiddleware
from cds.api.blocking import BlockingGate
from cds.api.errors import UnexpectedErrorMiddleware, install_error_handlers
from cds.api.openapi import install_openapi
from cds.api.runtime import Authenticator, PackSource, Runtime
from cds.auth.jwt import JWTVerifier
from cds.auth.replay import RedisReplay, ReplayGuard, ReplayStore
from cds.fhir.connections import FhirConnections
from cds.hooks.models import FeedbackRequest, HookRequest
from cds.metrics import Metrics, metrics_endpoint
from cds.serving.reload import PackHolder
from cds.settings import Settings
from cds.store.replay import DatabaseReplay
from cds.store.wiring import build_store, lifecycle

log = logging.getLogger("cds.app")


def _build_authenticator(settings: Settings, store: Any) -> Authenticator | None:
    if not settings.auth_enabled:
        log.warning(
            "AUTHENTICATION IS OFF (CDS_AUTH=off / --no-auth): any caller can invoke this "
            "service. Use this only for local development."
        )
        return None
    if not settings.trusted_issuers:
        log.warning(
            "authentication is on but CDS_TRUSTED_ISSUERS is empty: every hook call will be "
            "refused with 401 until an EHR issuer is configured"
        )
    return JWTVerifier(settings, replay=_build_replay(settings, store))


def _build_replay(settings: Settings, store: Any) -> ReplayStore | None:
    """The shared `jti` store the settings ask for (None: this process's memory)."""
    kind = settings.replay_store
    database = getattr(store, "database", None)
    if kind == "auto":
        shared_db = settings.database_url.startswith("postgresql") or settings.workers > 1
        kind = ("redis" if settings.redis_url
                else "database" if shared_db and database is not None else "memory")
    timeout_s = settings.replay_timeout_ms / 1000.0
    if kind == "redis":
        if not settings.redis_url:
            raise ValueError("CDS_REPLAY_STORE=redis needs CDS_REDIS_URL")
        replay: ReplayStore = RedisReplay(settings.redis_url, timeout_s)
        name = "redis"
    elif kind == "database":
        if database is None:
            raise ValueError("CDS_REPLAY_STORE=database needs the SQL store")
        replay, name = DatabaseReplay(database), "database"
    else:
        log.info("jti replay protection covers this process only (CDS_REPLAY_STORE=memory)")
        return None
    log.info("jti replay protection shared through the %s", name)
    return ReplayGuard(replay, name, timeout_s, settings.replay_unavailable)


def _build_packs(settings: Settings) -> PackSource:
    return PackHolder.from_directory(
        settings.rules_dir, strict=settings.fhir_validation == "strict",
        required_version=settings.pack_version,
    )


def _hot_reload_hooks(packs: PackSource) -> dict[str, list[Any]]:
    """With `--reload`, watch the rules directory while the app runs."""
    start = getattr(packs, "start_watching", None)
    stop = getattr(packs, "stop_watching", None)
    if start is None or stop is None:
        log.warning("hot reload requested but the pack source cannot watch files")
        return {}
    return {"on_startup": [start], "on_shutdown": [stop]}


def create_app(
    settings: Settings | None = None,
    *,
    packs: PackSource | None = None,
    store: Any = None,
    authenticator: Authenticator | None = None,
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """Build the service. Tests pass their own settings (and may pass parts)."""
    settings = settings or Settings()
    packs = packs if packs is not None else _build_packs(settings)
    metrics = getattr(store, "metrics", None) or Metrics()
    store = store if store is not None else build_store(settings, packs, metrics, clock)
    runtime = Runtime(
        settings=settings,
        packs=packs,
        audit=store,
        feedback=store,
        suppressor=store,
        fhir=FhirConnections(settings),
        authenticator=authenticator if authenticator is not None
        else _build_authenticator(settings, store),
        extras=lifecycle(store),
    )
    if clock is not None:
        runtime.clock = clock
    runtime.store_gate = BlockingGate(8, settings.database_timeout_ms / 1000.0)
    stop_auth = getattr(runtime.authenticator, "aclose", None)  # key-set fetches in flight
    if stop_auth is not None:
        runtime.extras.setdefault("on_shutdown", []).append(stop_auth)
    runtime.extras.setdefault("on_shutdown", []).append(runtime.fhir.aclose)
    required = getattr(packs, "serves_required_version", None)
    if settings.pack_version is not None and required is not None:
        runtime.extras.setdefault("readiness", {})["packVersion"] = required
    if settings.reload:
        for stage, hooks in _hot_reload_hooks(packs).items():
            runtime.extras.setdefault(stage, []).extend(hooks)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        for start in runtime.extras.get("on_startup", []):
            await start()
        try:
            yield
        finally:
            for stop in reversed(runtime.extras.get("on_shutdown", [])):
                await stop()

    app = FastAPI(
        title="Stress-pain CDS Hooks service",
        version="0.1.0",
        docs_url="/docs",
        separate_input_output_schemas=False,  # see cds.api.openapi.install_openapi
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.metrics = metrics
    install_error_handlers(app)
    app.include_router(discovery.router)
    app.include_router(invocation.router)
    app.include_router(feedback.router)
    app.include_router(health.router)
    install_openapi(app, request_models=(HookRequest, FeedbackRequest))
    app.add_route("/metrics", metrics_endpoint(metrics, packs.current), methods=["GET"],
                  include_in_schema=False)
    app.add_middleware(UnexpectedErrorMiddleware)  # innermost: see its docstring
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_credentials=False,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "Accept"],
        max_age=600,
    )
    app.add_middleware(RequestObserverMiddleware, metrics=metrics)
    return app
