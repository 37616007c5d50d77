"""Driving the loopback FHIR server (tests/fhir_server/server.mjs) from the tests."""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx

SERVER_DIR = Path(__file__).resolve().parent.parent / "fhir_server"
START_TIMEOUT_SECONDS = 60


class FhirServerError(RuntimeError):
    pass


class LoopbackFhirServer:
    """A running server.mjs: `fhir` is its FHIR base URL; the rest drives /_control."""

    def __init__(self) -> None:
        node = shutil.which("node")
        if node is None:
            raise FhirServerError("Node.js is required for the loopback FHIR server")
        if not (SERVER_DIR / "node_modules" / "@medplum" / "fhir-router").is_dir():
            raise FhirServerError(
                "tests/fhir_server has no node_modules: run scripts/test (it runs npm ci)"
            )
        self._process = subprocess.Popen(
            [node, "server.mjs"], cwd=SERVER_DIR, env={**os.environ, "PORT": "0"},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        port = self._read_port()
        self.base = f"http://127.0.0.1:{port}"
        self.fhir = f"{self.base}/fhir"
        self._http = httpx.Client(base_url=self.base, timeout=10)

    def _read_port(self) -> int:
        assert self._process.stdout is not None
        ready, _, _ = select.select([self._process.stdout], [], [], START_TIMEOUT_SECONDS)
        line = self._process.stdout.readline() if ready else ""
        if not line:
            self._process.kill()
            _, err = self._process.communicate(timeout=5)
            raise FhirServerError(f"loopback FHIR server did not start: {err[-2000:]}")
        return int(json.loads(line)["listening"])

    def _control(self, action: str, body: Any = None, **params: str) -> Any:
        response = self._http.post(f"/_control/{action}", json=body, params=params)
        response.raise_for_status()
        return response.json()

    def reset(self, data: bool = False) -> None:
        self._control("reset", None, **({"data": "1"} if data else {}))

    def load(self, resources: list[dict[str, Any]]) -> None:
        self._control("load", resources)

    def faults(self, *rules: dict[str, Any]) -> None:
        self._control("faults", {"rules": list(rules)})

    def require_token(self, token: str | None) -> None:
        self._control("token", {"token": token})

    def log(self) -> list[dict[str, Any]]:
        response = self._http.get("/_control/log")
        response.raise_for_status()
        entries: list[dict[str, Any]] = response.json()
        return entries

    def paths(self) -> list[str]:
        return [entry["path"] for entry in self.log()]

    def stop(self) -> None:
        self._http.close()
        self._process.terminate()
        try:
            self._process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.communicate()
