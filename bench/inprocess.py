"""The service built in-process, as `cds serve` builds it, for stage timings and profiles."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

from bench.asgi import Lifespan, call
from bench.patients import SERVICE_ID


class InProcessService:
    """`create_app(Settings(...))` with auth off and a throwaway SQLite database, in a
    process tuned as a `cds serve` worker is.

    Use inside a running event loop: `async with InProcessService(...) as svc`.
    """

    def __init__(self, workdir: Path, rules_dir: Path | None = None,
                 service_id: str = SERVICE_ID) -> None:
        from cds.app import create_app
        from cds.settings import Settings

        options: dict[str, Any] = {
            "auth": "off",
            "log_level": "WARNING",
            "database_url": f"sqlite:///{workdir / f'inprocess-{id(self)}.sqlite3'}",
        }
        if rules_dir is not None:
            options["rules_dir"] = rules_dir
        self.settings = Settings(**options)
        self.app = create_app(self.settings)
        self.path = f"/cds-services/{service_id}"
        self.service_id = service_id
        self._lifespan = Lifespan(self.app)

    @property
    def runtime(self) -> Any:
        return self.app.state.runtime

    @property
    def pack(self) -> Any:
        """The active pack (services + evaluate)."""
        pack = self.runtime.packs.current()
        if pack is None:
            raise RuntimeError("no rule pack loaded")
        return pack

    @property
    def service(self) -> Any:
        return self.pack.services.get(self.service_id)

    def audit_dropped(self) -> float:
        """Audit records dropped so far because the writer's queue was full."""
        registry = self.app.state.metrics.registry
        return registry.get_sample_value("cds_audit_writes_total", {"result": "dropped"}) or 0.0

    async def call(self, body: bytes) -> tuple[int, bytes]:
        return await call(self.app, self.path, body)

    async def __aenter__(self) -> InProcessService:
        from cds.serving.factory import tune_process_for_serving

        await self._lifespan.__aenter__()
        tune_process_for_serving()  # as `cds serve` sets up each worker
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._lifespan.__aexit__(exc_type, exc, tb)
